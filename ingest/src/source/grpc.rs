//! The OTLP/gRPC receiver: `opentelemetry.proto.collector.metrics.v1.MetricsService/Export`.
//!
//! tonic handles HTTP/2, framing and gzip/zstd decompression; a raw-bytes codec hands the
//! request message to the fast decoder untouched, so no prost struct is built on the hot
//! path. Errors follow the OTLP spec: an undecodable message is INVALID_ARGUMENT (not
//! retryable); an oversized one RESOURCE_EXHAUSTED (tonic says OUT_OF_RANGE for that, as
//! its own convention; we answer as grpc-go and the OTLP spec expect); throttling is
//! RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` detail, which OTLP exporters honour.
//! When no processing place is free as a call arrives, it is refused before its message is
//! read, so that overload costs the server a request's headers, not its body; a message read
//! is decoded and stored on a blocking thread ([`crate::Ingestor::process`]).
//!
//! [`MetricsService`] is a tower service for a tonic server: the binary mounts it, next to
//! its own gRPC services, on the server it runs. Ingest serves nothing itself.

use crate::admission::Overloaded;
use crate::error::IngestError;
use crate::format::{Encoded, Format};
use crate::metrics::{IngestMetrics, Outcome, Transport};
use crate::pipeline::{Ingestor, encode_response};
use bytes::{Buf, BufMut, Bytes};
use http_body::Body as HttpBody;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The gRPC method path of OTLP metrics export.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// A codec that passes message bytes through: requests are decoded by [`crate::fast`],
/// responses arrive already encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawBytesCodec;

/// Writes pre-encoded response bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawEncoder;

/// Takes the request message's bytes without copying.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawDecoder;

impl Codec for RawBytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The metrics service as a tower service for tonic's router.
#[derive(Debug, Clone)]
pub struct MetricsService {
    ingestor: Ingestor,
}

impl MetricsService {
    /// A service feeding `ingestor`.
    pub fn new(ingestor: Ingestor) -> Self {
        Self { ingestor }
    }
}

impl NamedService for MetricsService {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

impl<B> tower::Service<http::Request<B>> for MetricsService
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let ingestor = self.ingestor.clone();
        Box::pin(async move {
            if request.uri().path() != EXPORT_PATH {
                let status = Status::unimplemented(format!("unknown method {}", request.uri().path()));
                return Ok(status.into_http());
            }
            // Refused for the cost of its headers when nothing would take it now.
            if let Err(error) = ingestor.check_room() {
                ingestor.metrics().request(Transport::Grpc, error.outcome());
                return Ok(status_of(&error).into_http());
            }
            let mut grpc = Grpc::new(RawBytesCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(ingestor.config().max_request_bytes);
            let metrics = ingestor.metrics().clone();
            let export = tower::service_fn(move |request: tonic::Request<Bytes>| {
                let ingestor = ingestor.clone();
                async move { export(&ingestor, request.into_inner()).await.map(tonic::Response::new) }
            });
            Ok(oversize_as_resource_exhausted(grpc.unary(export, request).await, &metrics))
        })
    }
}

async fn export(ingestor: &Ingestor, body: Bytes) -> Result<Bytes, Status> {
    let metrics = ingestor.metrics();
    metrics.bytes(Transport::Grpc, body.len());
    let batch = Encoded::new(Format::OtlpProtobuf, body);
    let result = ingestor.process(move |ingestor| ingestor.submit(Transport::Grpc, &batch)).await;
    match result {
        Ok(outcome) => {
            metrics.request(Transport::Grpc, outcome.outcome());
            Ok(Bytes::from(encode_response(&outcome.response())))
        }
        Err(error) => {
            metrics.request(Transport::Grpc, error.outcome());
            Err(status_of(&error))
        }
    }
}

/// The gRPC status of a refused request.
pub fn status_of(error: &IngestError) -> Status {
    let message = error.to_string();
    match error {
        IngestError::Decode(_) | IngestError::Unsupported(_) => Status::invalid_argument(message),
        IngestError::TooLarge { .. } | IngestError::ConvertsTooLarge { .. } => Status::resource_exhausted(message),
        IngestError::SlowBody(_) => Status::deadline_exceeded(message),
        IngestError::Overloaded(Overloaded { retry_after, .. }) => Status::with_error_details(
            Code::ResourceExhausted,
            message,
            ErrorDetails::with_retry_info(Some(*retry_after)),
        ),
    }
}

/// tonic refuses a message over the size limit (compressed or not) with OUT_OF_RANGE before
/// our handler runs; OTLP exporters expect RESOURCE_EXHAUSTED (not retryable without a
/// RetryInfo), so the status is rewritten, and the refusal counted here.
fn oversize_as_resource_exhausted(
    response: http::Response<tonic::body::Body>,
    metrics: &IngestMetrics,
) -> http::Response<tonic::body::Body> {
    match Status::from_header_map(response.headers()) {
        Some(status) if status.code() == Code::OutOfRange => {
            metrics.request(Transport::Grpc, Outcome::TooLarge);
            let message = format!("request too large: {}", status.message());
            Status::resource_exhausted(message).into_http()
        }
        _ => response,
    }
}
