//! JSON for Go structs without JSON tags, as kube-scheduler's `encoding/json` writes and reads
//! them: fields travel under their Go names (`NodeNames`, `NumPDBViolations`), and on input a
//! key names a field when it equals the Go name, or else equals it ignoring ASCII case (an
//! exact match is tried first, as in Go's decoder). Unknown keys are skipped, a `null` leaves
//! the field at its zero value, and when a key repeats the last value wins — all as in Go.
//!
//! [`go_json!`](crate::go_json!) derives both directions for a struct from one list of its
//! fields and Go names. Reading goes straight from the bytes, with no intermediate JSON tree:
//! `filter` and `prioritize` are decoded on every scheduling cycle, with up to thousands of
//! node names.

use serde::de::{DeserializeSeed, Deserializer, Error, Visitor};
use std::fmt;

/// The index in `names` of the Go field that `key` names: the exact name first, else the
/// first that equals it ignoring ASCII case; `None` when it names none.
pub fn field_index(names: &[&str], key: &str) -> Option<usize> {
    names.iter().position(|name| *name == key).or_else(|| names.iter().position(|name| name.eq_ignore_ascii_case(key)))
}

/// Reads an object key as the index of the Go field it names ([`field_index`]).
#[derive(Debug, Clone, Copy)]
pub struct FieldKey(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldKey {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldKey {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(field_index(self.0, key))
    }
}

/// Derives `Serialize` (Go names, in the order listed) and `Deserialize` (Go's matching, see
/// the module doc) for a struct that implements `Default`:
///
/// ```ignore
/// go_json!(ExtenderBindingResult { error: "Error" });
/// ```
#[macro_export]
macro_rules! go_json {
    ($type:ident { $($field:ident: $go:literal),+ $(,)? }) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeStruct;
                const NAMES: &[&str] = &[$($go),+];
                let mut object = serializer.serialize_struct(stringify!($type), NAMES.len())?;
                $(object.serialize_field($go, &self.$field)?;)+
                object.end()
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Fields;
                impl<'de> serde::de::Visitor<'de> for Fields {
                    type Value = $type;

                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str(concat!("a JSON object (", stringify!($type), ")"))
                    }

                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$type, A::Error> {
                        const NAMES: &[&str] = &[$($go),+];
                        let mut value = <$type>::default();
                        while let Some(field) = map.next_key_seed($crate::go_json::FieldKey(NAMES))? {
                            match field.map(|index| NAMES[index]) {
                                $(Some($go) => {
                                    if let Some(read) = map.next_value::<Option<_>>()? {
                                        value.$field = read;
                                    }
                                })+
                                _ => {
                                    map.next_value::<serde::de::IgnoredAny>()?;
                                }
                            }
                        }
                        Ok(value)
                    }
                }
                deserializer.deserialize_map(Fields)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::field_index;

    #[test]
    fn an_exact_name_wins_over_one_that_matches_ignoring_case() {
        let names = ["NodeNames", "Nodes", "nodes"];
        assert_eq!(field_index(&names, "nodes"), Some(2));
        assert_eq!(field_index(&names, "NODES"), Some(1), "the first case-insensitive match");
        assert_eq!(field_index(&names, "nodenames"), Some(0));
        assert_eq!(field_index(&names, "Pod"), None);
    }
}
