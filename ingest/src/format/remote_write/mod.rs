//! The Prometheus remote-write 1.0 format: a snappy-compressed (block format)
//! `prometheus.WriteRequest` ([`proto`]), its series converted to OTLP ([`convert`]) so
//! that they take the OTLP path from there.

pub mod convert;
pub mod proto;

use crate::error::IngestError;
use prost::Message;

/// Decompresses (snappy block format) and decodes a write request body, never producing
/// more than `limit` bytes.
pub fn decode(body: &[u8], limit: usize) -> Result<proto::WriteRequest, IngestError> {
    let size = snap::raw::decompress_len(body).map_err(|e| IngestError::Decode(format!("invalid snappy body: {e}")))?;
    if size > limit {
        return Err(IngestError::TooLarge { size, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| IngestError::Decode(format!("invalid snappy body: {e}")))?;
    proto::WriteRequest::decode(raw.as_slice())
        .map_err(|e| IngestError::Decode(format!("invalid remote-write protobuf: {e}")))
}
