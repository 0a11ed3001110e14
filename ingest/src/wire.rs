//! A minimal protobuf wire-format reader over borrowed bytes: varints, fixed-width values,
//! length-delimited slices. No allocation; every read is bounds-checked.

use thiserror::Error;

/// Why bytes are not a valid protobuf message of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The buffer ended inside a field.
    #[error("truncated message")]
    Truncated,
    /// A varint longer than ten bytes.
    #[error("malformed varint")]
    Varint,
    /// Wire type 6 or 7, or an end-group tag (4) where no group is open.
    #[error("unsupported wire type {0}")]
    WireType(u8),
    /// An end-group tag whose field number is not the open group's.
    #[error("end-group tag of field {found} closes the group of field {open}")]
    GroupEnd {
        /// The open group's field number.
        open: u32,
        /// The end tag's.
        found: u32,
    },
    /// Groups nested deeper than [`MAX_GROUP_DEPTH`].
    #[error("groups nested deeper than {MAX_GROUP_DEPTH}")]
    GroupDepth,
    /// A known field arrived with the wrong wire type.
    #[error("field {field} has wire type {found}, expected {expected}")]
    FieldType {
        /// Field number.
        field: u32,
        /// Wire type found.
        found: u8,
        /// Wire type expected.
        expected: u8,
    },
    /// A string field that is not UTF-8.
    #[error("string field is not valid UTF-8")]
    Utf8,
    /// Field number zero.
    #[error("field number 0 is invalid")]
    FieldZero,
}

/// Protobuf wire types.
pub mod wire_type {
    /// Varint.
    pub const VARINT: u8 = 0;
    /// 64-bit fixed width.
    pub const FIXED64: u8 = 1;
    /// Length-delimited.
    pub const LEN: u8 = 2;
    /// Start of a group (deprecated proto2 encoding; skipped when unknown).
    pub const START_GROUP: u8 = 3;
    /// End of a group.
    pub const END_GROUP: u8 = 4;
    /// 32-bit fixed width.
    pub const FIXED32: u8 = 5;
}

/// Deepest nesting of groups skipped (prost's recursion limit, which counts messages too).
pub const MAX_GROUP_DEPTH: usize = 100;

/// A cursor over one message's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads a base-128 varint.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        // Field keys, lengths and small numbers are one byte: the common case first.
        if let Some((&byte, rest)) = self.buf.split_first()
            && byte < 0x80
        {
            self.buf = rest;
            return Ok(u64::from(byte));
        }
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(if self.buf.len() < 10 { WireError::Truncated } else { WireError::Varint })
    }

    /// Reads a field key: `(field number, wire type)`.
    #[inline]
    pub fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| WireError::Varint)?;
        if field == 0 {
            return Err(WireError::FieldZero);
        }
        Ok((field, (key & 7) as u8))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads eight little-endian bytes.
    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }

    /// Reads a length-delimited slice.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
        self.take(len)
    }

    /// Reads a length-delimited UTF-8 string.
    #[inline]
    pub fn str(&mut self) -> Result<&'a str, WireError> {
        utf8(self.bytes()?)
    }

    /// Skips the value of field `field`, of wire type `wire_type`. A group (an unknown field
    /// of a proto2 sender) is skipped up to its end tag, as prost skips it: every field inside
    /// skipped in turn, the end tag's field number the group's own.
    pub fn skip(&mut self, field: u32, wire_type: u8) -> Result<(), WireError> {
        self.skip_within(field, wire_type, 0)
    }

    fn skip_within(&mut self, field: u32, wire_type: u8, depth: usize) -> Result<(), WireError> {
        match wire_type {
            wire_type::VARINT => self.varint().map(drop),
            wire_type::FIXED64 => self.take(8).map(drop),
            wire_type::LEN => self.bytes().map(drop),
            wire_type::FIXED32 => self.take(4).map(drop),
            wire_type::START_GROUP if depth >= MAX_GROUP_DEPTH => Err(WireError::GroupDepth),
            wire_type::START_GROUP => loop {
                match self.key()? {
                    (inner, wire_type::END_GROUP) if inner == field => return Ok(()),
                    (inner, wire_type::END_GROUP) => return Err(WireError::GroupEnd { open: field, found: inner }),
                    (inner, wire) => self.skip_within(inner, wire, depth + 1)?,
                }
            },
            other => Err(WireError::WireType(other)),
        }
    }
}

/// The bytes as UTF-8. Attribute keys and values are nearly always ASCII, which a word-wide
/// scan confirms faster than the general validator.
#[inline]
// Allowed here alone: on the decoding hot path, ASCII needs no second validation.
#[allow(unsafe_code)]
pub fn utf8(bytes: &[u8]) -> Result<&str, WireError> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).map_err(|_| WireError::Utf8)
    }
}

/// Fails unless a known field has the wire type its declaration implies.
#[inline]
pub fn expect(field: u32, found: u8, expected: u8) -> Result<(), WireError> {
    if found == expected { Ok(()) } else { Err(WireError::FieldType { field, found, expected }) }
}

/// Appends a repeated `fixed64`/`double` field, packed (one slice) or not (one value).
pub fn repeated_fixed64(reader: &mut Reader<'_>, field: u32, found: u8, out: &mut Vec<u64>) -> Result<(), WireError> {
    match found {
        wire_type::FIXED64 => out.push(reader.fixed64()?),
        wire_type::LEN => {
            let mut packed = Reader::new(reader.bytes()?);
            if !packed.buf.len().is_multiple_of(8) {
                return Err(WireError::Truncated);
            }
            while !packed.is_empty() {
                out.push(packed.fixed64()?);
            }
        }
        other => return Err(WireError::FieldType { field, found: other, expected: wire_type::LEN }),
    }
    Ok(())
}

/// Appends a repeated varint field (`uint64`), packed or not.
pub fn repeated_varint(reader: &mut Reader<'_>, field: u32, found: u8, out: &mut Vec<u64>) -> Result<(), WireError> {
    match found {
        wire_type::VARINT => out.push(reader.varint()?),
        wire_type::LEN => {
            let mut packed = Reader::new(reader.bytes()?);
            while !packed.is_empty() {
                out.push(packed.varint()?);
            }
        }
        other => return Err(WireError::FieldType { field, found: other, expected: wire_type::LEN }),
    }
    Ok(())
}

/// Zig-zag decoding of `sint32`.
#[inline]
pub fn zigzag32(value: u64) -> i32 {
    let v = value as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_truncation() {
        assert_eq!(Reader::new(&[0x96, 0x01]).varint(), Ok(150));
        assert_eq!(Reader::new(&[0x96]).varint(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(WireError::Varint));
        assert_eq!(Reader::new(&[0x02, b'a']).bytes(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0x05, 0x01]).varint(), Ok(5));
        assert_eq!(utf8("héllo".as_bytes()), Ok("héllo"));
        assert_eq!(utf8(&[0xff]), Err(WireError::Utf8));
        assert_eq!(zigzag32(3), -2);
        assert_eq!(zigzag32(4), 2);
    }
}
