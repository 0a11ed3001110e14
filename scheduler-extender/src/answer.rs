//! Extender answers as JSON bytes ([`Answer`]).
//!
//! serde_json spends a few hundred instructions on every short string it writes (the escape
//! scan in fragments, one buffer write per piece), which for `filter` and `prioritize`
//! answers naming hundreds or thousands of nodes costs more than judging or scoring them
//! (callgrind, `cargo bench --bench extender`). Their node names and reasons are written
//! here directly: a string with nothing to escape is copied whole, any other goes through
//! serde_json. The bytes are exactly those serde_json writes for the same answer (the tests
//! compare them on arbitrary answers); the other answers are serde_json's.

use crate::protocol::{
    ExtenderBindingResult, ExtenderFilterResult, ExtenderPreemptionResult, HostPriorityList, encode,
};
use std::collections::BTreeMap;

/// An extender answer that can be written as JSON.
pub trait Answer {
    /// The answer as JSON, into a buffer of `size_hint` bytes to start with (the request's
    /// size is a good guess: an answer names at most the nodes the request named).
    fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error>;
}

/// Appends `text` as a JSON string.
fn string(out: &mut Vec<u8>, text: &str) -> Result<(), serde_json::Error> {
    if text.bytes().all(|byte| byte >= 0x20 && byte != b'"' && byte != b'\\') {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(out, text)
    }
}

/// Appends `texts` as a JSON array of strings (`null` for `None`).
fn strings(out: &mut Vec<u8>, texts: Option<&[String]>) -> Result<(), serde_json::Error> {
    let Some(texts) = texts else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    out.push(b'[');
    for (i, text) in texts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, text)?;
    }
    out.push(b']');
    Ok(())
}

/// Appends a node → reason map as a JSON object.
fn reasons(out: &mut Vec<u8>, reasons: &BTreeMap<String, String>) -> Result<(), serde_json::Error> {
    out.push(b'{');
    for (i, (node, reason)) in reasons.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, node)?;
        out.push(b':');
        string(out, reason)?;
    }
    out.push(b'}');
    Ok(())
}

/// Bytes of one `{"Host":"…","Score":…},` besides the name, with a score of up to 10 (longer
/// scores only make the buffer grow once more).
const HOST_PRIORITY_FRAME: usize = r#"{"Host":"","Score":10},"#.len();

impl Answer for HostPriorityList {
    fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
        // Each entry is longer than the name the request sent, so the request's size is too
        // small a start: the buffer would grow (and copy) a few times per answer.
        let needed = 2 + self.iter().map(|priority| priority.host.len() + HOST_PRIORITY_FRAME).sum::<usize>();
        let mut out = Vec::with_capacity(size_hint.max(needed));
        let mut score = itoa::Buffer::new();
        out.push(b'[');
        for (i, priority) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"Host":"#);
            string(&mut out, &priority.host)?;
            out.extend_from_slice(br#","Score":"#);
            out.extend_from_slice(score.format(priority.score).as_bytes());
            out.push(b'}');
        }
        out.push(b']');
        Ok(out)
    }
}

impl Answer for ExtenderFilterResult {
    fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(size_hint.max(128));
        out.extend_from_slice(br#"{"Nodes":"#);
        serde_json::to_writer(&mut out, &self.nodes)?;
        out.extend_from_slice(br#","NodeNames":"#);
        strings(&mut out, self.node_names.as_deref())?;
        out.extend_from_slice(br#","FailedNodes":"#);
        reasons(&mut out, &self.failed_nodes)?;
        out.extend_from_slice(br#","FailedAndUnresolvableNodes":"#);
        reasons(&mut out, &self.failed_and_unresolvable_nodes)?;
        out.extend_from_slice(br#","Error":"#);
        string(&mut out, &self.error)?;
        out.push(b'}');
        Ok(out)
    }
}

impl Answer for ExtenderPreemptionResult {
    fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
        encode(self, size_hint)
    }
}

impl Answer for ExtenderBindingResult {
    fn to_json(&self, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
        encode(self, size_hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{HostPriority, NodeList};
    use proptest::prelude::*;

    /// Node names and reasons, with the characters JSON escapes among ordinary ones.
    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z0-9.\\-\"\\\\\u{0}-\u{1f}é✓]{0,12}").expect("a valid pattern")
    }

    proptest! {
        #[test]
        fn priorities_are_written_as_serde_json_writes_them(
            list in proptest::collection::vec((text(), -20i64..20), 0..6),
        ) {
            let list: HostPriorityList = list.into_iter().map(|(host, score)| HostPriority { host, score }).collect();
            prop_assert_eq!(list.to_json(0).unwrap(), encode(&list, 0).unwrap());
        }

        #[test]
        fn filter_results_are_written_as_serde_json_writes_them(
            names in proptest::option::of(proptest::collection::vec(text(), 0..5)),
            failed in proptest::collection::btree_map(text(), text(), 0..3),
            unresolvable in proptest::collection::btree_map(text(), text(), 0..3),
            error in text(),
            full in proptest::bool::ANY,
        ) {
            let nodes = full.then(NodeList::default);
            let result = ExtenderFilterResult {
                nodes,
                node_names: names,
                failed_nodes: failed,
                failed_and_unresolvable_nodes: unresolvable,
                error,
            };
            prop_assert_eq!(result.to_json(0).unwrap(), encode(&result, 0).unwrap());
        }
    }
}
