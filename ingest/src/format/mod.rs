//! The encodings ingest reads, as one batch type every source hands the pipeline.
//!
//! An [`Encoded`] batch is its [`Format`] and its bytes, with whatever the transport added
//! already undone (HTTP `Content-Encoding`, gRPC message compression). Remote write's snappy
//! compression is part of its format (remote write 1.0 has no other), so
//! [`Format::RemoteWrite`] bytes are still snappy-compressed.
//!
//! OTLP protobuf is read in place by [`crate::fast`] on the hot path. [`decode`] turns any
//! format into a prost-decoded OTLP export request for [`crate::reference::walk`]: OTLP
//! protobuf with prost, OTLP/JSON through [`json`], remote write through
//! [`remote_write`]'s conversion, which may refuse samples on the way. The pipeline
//! converts remote write in bounded chunks instead ([`remote_write::convert::for_each_chunk`]);
//! [`decode`] converts it whole, for tools and tests.

pub mod json;
pub mod remote_write;

use crate::error::IngestError;
use bytes::Bytes;
use ironspider_engine::RejectCounts;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;

/// What an encoded batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An OTLP `ExportMetricsServiceRequest` in protobuf.
    OtlpProtobuf,
    /// An OTLP `ExportMetricsServiceRequest` in the OTLP/JSON mapping.
    OtlpJson,
    /// A Prometheus remote-write 1.0 `WriteRequest`, snappy-compressed (block format).
    RemoteWrite,
}

/// One batch as a source received it, for [`crate::Ingestor::submit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How `bytes` are encoded.
    pub format: Format,
    /// The batch, transport compression removed.
    pub bytes: Bytes,
}

impl Encoded {
    /// A batch of `format` holding `bytes`.
    pub fn new(format: Format, bytes: impl Into<Bytes>) -> Self {
        Self { format, bytes: bytes.into() }
    }
}

/// A batch decoded into an OTLP export request.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The request, for [`crate::reference::walk`].
    pub request: ExportMetricsServiceRequest,
    /// Points the format's conversion could not express in OTLP, by reason.
    pub rejected: RejectCounts,
}

/// Decodes a batch into an OTLP export request; decompression (remote write's snappy)
/// never produces more than `limit` bytes.
pub fn decode(encoded: &Encoded, limit: usize) -> Result<Decoded, IngestError> {
    let bytes = &encoded.bytes[..];
    let request = match encoded.format {
        Format::OtlpProtobuf => {
            ExportMetricsServiceRequest::decode(bytes).map_err(|e| IngestError::Decode(e.to_string()))?
        }
        Format::OtlpJson => json::decode(bytes).map_err(|e| IngestError::Decode(e.to_string()))?,
        Format::RemoteWrite => {
            let converted = remote_write::convert::to_otlp(&remote_write::decode(bytes, limit)?);
            return Ok(Decoded { request: converted.request, rejected: converted.rejected });
        }
    };
    Ok(Decoded { request, rejected: RejectCounts::default() })
}
