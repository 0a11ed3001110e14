//! Borrowed attribute views shared by both decoders, and the series identity hash.
//!
//! The identity of a series is a 64-bit hash that is independent of attribute order:
//! each attribute hashes on its own (`xxh3(value, seed = xxh3(key) ⊕ type tag)`) and the
//! attribute hashes are added (wrapping). Adding, not xor-ing, keeps two equal attributes
//! from cancelling out.

use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList, any_value};
use prost::Message;
use std::fmt::Write as _;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// A nested attribute value (array or key-value list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nested<'a> {
    /// The encoded `AnyValue` message as it arrived on the wire.
    Wire(&'a [u8]),
    /// A decoded array (reference path).
    Array(&'a ArrayValue),
    /// A decoded key-value list (reference path).
    KvList(&'a KeyValueList),
}

/// One attribute value, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue<'a> {
    /// No value set.
    Empty,
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An index into a string dictionary (profiles signal; kept as a number).
    StrIndex(i32),
    /// An array or key-value list.
    Nested(Nested<'a>),
}

/// One attribute, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attr<'a> {
    /// The key.
    pub key: &'a str,
    /// The value.
    pub value: AttrValue<'a>,
}

impl<'a> AttrValue<'a> {
    /// The value as a string slice, when it is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    fn tag(&self) -> u64 {
        match self {
            AttrValue::Empty => 0,
            AttrValue::Str(_) => 1,
            AttrValue::Bool(_) => 2,
            AttrValue::Int(_) => 3,
            AttrValue::Double(_) => 4,
            AttrValue::Bytes(_) => 5,
            AttrValue::StrIndex(_) => 6,
            AttrValue::Nested(_) => 7,
        }
    }

    /// Hash of the value, seeded by the key's hash and the value's type.
    fn hash(&self, seed: u64) -> u64 {
        let seed = seed ^ self.tag().wrapping_mul(0x9E37_79B9_7F4A_7C15);
        match self {
            AttrValue::Empty => seed,
            AttrValue::Str(s) => xxh3_64_with_seed(s.as_bytes(), seed),
            AttrValue::Bool(b) => xxh3_64_with_seed(&[u8::from(*b)], seed),
            AttrValue::Int(i) => xxh3_64_with_seed(&i.to_le_bytes(), seed),
            AttrValue::Double(d) => xxh3_64_with_seed(&d.to_bits().to_le_bytes(), seed),
            AttrValue::Bytes(b) => xxh3_64_with_seed(b, seed),
            AttrValue::StrIndex(i) => xxh3_64_with_seed(&i.to_le_bytes(), seed),
            AttrValue::Nested(nested) => xxh3_64_with_seed(&nested.canonical_bytes(), seed),
        }
    }
}

impl Nested<'_> {
    /// The encoded `AnyValue` holding this nested value (as sent for the wire form;
    /// prost's canonical encoding for decoded ones).
    fn canonical_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Nested::Wire(bytes) => std::borrow::Cow::Borrowed(bytes),
            Nested::Array(array) => {
                let value = AnyValue { value: Some(any_value::Value::ArrayValue((*array).clone())) };
                std::borrow::Cow::Owned(value.encode_to_vec())
            }
            Nested::KvList(list) => {
                let value = AnyValue { value: Some(any_value::Value::KvlistValue((*list).clone())) };
                std::borrow::Cow::Owned(value.encode_to_vec())
            }
        }
    }

    fn decoded(&self) -> Option<AnyValue> {
        match self {
            Nested::Wire(bytes) => AnyValue::decode(*bytes).ok(),
            Nested::Array(array) => Some(AnyValue { value: Some(any_value::Value::ArrayValue((*array).clone())) }),
            Nested::KvList(list) => Some(AnyValue { value: Some(any_value::Value::KvlistValue((*list).clone())) }),
        }
    }
}

impl Attr<'_> {
    /// Order-independent contribution of this attribute to a series hash.
    #[inline]
    pub fn hash(&self) -> u64 {
        self.value.hash(xxh3_64(self.key.as_bytes()))
    }
}

/// Sum of attribute hashes (order-independent).
#[inline]
pub fn hash_attrs(attrs: &[Attr<'_>]) -> u64 {
    attrs.iter().fold(0u64, |acc, a| acc.wrapping_add(a.hash()))
}

/// Mixes component hashes (resource, scope, metric, points) into one series hash.
#[inline]
pub fn mix(parts: &[u64]) -> u64 {
    let mut bytes = [0u8; 32];
    let mut acc = 0x2545_F491_4F6C_DD1D_u64;
    for chunk in parts.chunks(4) {
        for (slot, part) in bytes.chunks_mut(8).zip(chunk) {
            slot.copy_from_slice(&part.to_le_bytes());
        }
        acc = xxh3_64_with_seed(&bytes[..chunk.len() * 8], acc);
    }
    acc
}

/// Renders a value for the `series` table: strings as they are, others in their natural
/// text form, nested values as JSON-like text.
pub fn render(value: &AttrValue<'_>, out: &mut String) {
    match value {
        AttrValue::Empty => {}
        AttrValue::Str(s) => out.push_str(s),
        AttrValue::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        AttrValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        AttrValue::Double(d) => {
            let _ = write!(out, "{d}");
        }
        AttrValue::StrIndex(i) => {
            let _ = write!(out, "strindex:{i}");
        }
        AttrValue::Bytes(b) => {
            for byte in *b {
                let _ = write!(out, "{byte:02x}");
            }
        }
        AttrValue::Nested(nested) => match nested.decoded() {
            Some(any) => render_any(&any, out),
            None => out.push_str("<undecodable>"),
        },
    }
}

fn render_any(value: &AnyValue, out: &mut String) {
    match &value.value {
        None => {}
        Some(any_value::Value::StringValue(s)) => out.push_str(s),
        Some(any_value::Value::BoolValue(b)) => render(&AttrValue::Bool(*b), out),
        Some(any_value::Value::IntValue(i)) => render(&AttrValue::Int(*i), out),
        Some(any_value::Value::DoubleValue(d)) => render(&AttrValue::Double(*d), out),
        Some(any_value::Value::BytesValue(b)) => render(&AttrValue::Bytes(b), out),
        Some(any_value::Value::StringValueStrindex(i)) => render(&AttrValue::StrIndex(*i), out),
        Some(any_value::Value::ArrayValue(array)) => {
            out.push('[');
            for (i, item) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_any(item, out);
            }
            out.push(']');
        }
        Some(any_value::Value::KvlistValue(list)) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&kv.key);
                out.push('=');
                if let Some(v) = &kv.value {
                    render_any(v, out);
                }
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_order_does_not_change_the_hash_but_values_and_types_do() {
        let a = Attr { key: "host", value: AttrValue::Str("n1") };
        let b = Attr { key: "gpu", value: AttrValue::Int(1) };
        assert_eq!(hash_attrs(&[a, b]), hash_attrs(&[b, a]));
        let b_as_string = Attr { key: "gpu", value: AttrValue::Str("1") };
        assert_ne!(hash_attrs(&[a, b]), hash_attrs(&[a, b_as_string]));
        assert_ne!(hash_attrs(&[a, a]), hash_attrs(&[]), "equal attributes do not cancel");
    }

    #[test]
    fn nested_values_hash_alike_on_both_paths() {
        let array = ArrayValue { values: vec![AnyValue { value: Some(any_value::Value::IntValue(3)) }] };
        let wire = AnyValue { value: Some(any_value::Value::ArrayValue(array.clone())) }.encode_to_vec();
        let decoded = AttrValue::Nested(Nested::Array(&array));
        let raw = AttrValue::Nested(Nested::Wire(&wire));
        assert_eq!(decoded.hash(1), raw.hash(1));
        let mut text = String::new();
        render(&raw, &mut text);
        assert_eq!(text, "[3]");
    }
}
