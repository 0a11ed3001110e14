//! The OTLP/HTTP receiver: `POST /v1/metrics` with `application/x-protobuf` or
//! `application/json` bodies, optionally gzip- or zstd-compressed.
//!
//! Answers follow the OTLP/HTTP spec: 200 with an `ExportMetricsServiceResponse` in the
//! request's encoding (its `partial_success` set when points were rejected); 400 with a
//! `google.rpc.Status` body for undecodable requests; 413 for bodies over the limit (checked
//! on `Content-Length`, while reading, and after decompression); 415 for other content
//! types or encodings; 429 with `Retry-After` when the engine cannot keep up.

use crate::admission::Overloaded;
use crate::error::IngestError;
use crate::format::Encoded;
use crate::metrics::Transport;
use crate::pipeline::{ExportOutcome, Ingestor};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use std::io::Read;

/// The two OTLP/HTTP encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl Format {
    fn format(self) -> crate::format::Format {
        match self {
            Format::Protobuf => crate::format::Format::OtlpProtobuf,
            Format::Json => crate::format::Format::OtlpJson,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }

    fn of(headers: &HeaderMap) -> Option<Self> {
        let essence = content_type_essence(headers);
        if essence.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// The media type of `Content-Type` without its parameters (empty when absent).
pub(crate) fn content_type_essence(headers: &HeaderMap) -> &str {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim()
}

/// Adds `Retry-After` (whole seconds, at least 1) to the answer of an overloaded request.
pub(crate) fn set_retry_after(response: &mut Response, error: &IngestError) {
    if let IngestError::Overloaded(Overloaded { retry_after, .. }) = error
        && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// A `google.rpc.Code`.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The error text.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The OTLP/HTTP routes, to be served on the OTLP/HTTP address.
pub fn router(ingestor: Ingestor) -> Router {
    Router::new().route("/v1/metrics", post(export)).with_state(ingestor)
}

async fn export(State(ingestor): State<Ingestor>, headers: HeaderMap, body: Body) -> Response {
    let Some(format) = Format::of(&headers) else {
        let error = IngestError::Unsupported(
            "unsupported Content-Type: OTLP/HTTP takes application/x-protobuf or application/json".into(),
        );
        return error_response(&ingestor, Format::Json, &error);
    };
    let result = match ingestor.try_admit() {
        Ok(_admission) => receive(&ingestor, &headers, body, format).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(outcome) => success_response(&ingestor, format, &outcome),
        Err(error) => error_response(&ingestor, format, &error),
    }
}

async fn receive(
    ingestor: &Ingestor,
    headers: &HeaderMap,
    body: Body,
    format: Format,
) -> Result<ExportOutcome, IngestError> {
    let raw = read_body(ingestor, headers, body, Transport::Http).await?;
    let body = decompress(headers, raw, ingestor.config().max_request_bytes)?;
    ingestor.submit(Transport::Http, &Encoded::new(format.format(), body))
}

/// Reads a request body of at most `ingest.max_request_bytes` (checked on `Content-Length`
/// first, then while reading) and counts its bytes.
pub(crate) async fn read_body(
    ingestor: &Ingestor,
    headers: &HeaderMap,
    body: Body,
    transport: Transport,
) -> Result<Bytes, IngestError> {
    let limit = ingestor.config().max_request_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if let Some(size) = declared {
        ingestor.check_size(size)?;
    }
    let raw = Limited::new(body, limit).collect().await.map_err(|error| {
        if error.is::<http_body_util::LengthLimitError>() {
            IngestError::TooLarge { size: limit + 1, limit }
        } else {
            IngestError::Decode(format!("cannot read the request body: {error}"))
        }
    })?;
    let raw = raw.to_bytes();
    ingestor.metrics().bytes(transport, raw.len());
    Ok(raw)
}

/// Undoes `Content-Encoding` (gzip, zstd, identity), never producing more than `limit` bytes.
fn decompress(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, IngestError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity").trim();
    let reader: Box<dyn Read> = match encoding.to_ascii_lowercase().as_str() {
        "" | "identity" => return Ok(raw),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&raw[..])),
        "zstd" => Box::new(
            zstd::stream::read::Decoder::new(&raw[..])
                .map_err(|e| IngestError::Decode(format!("invalid zstd body: {e}")))?,
        ),
        other => {
            return Err(IngestError::Unsupported(format!(
                "unsupported Content-Encoding {other:?}: use gzip, zstd or none"
            )));
        }
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IngestError::Decode(format!("cannot decompress the {encoding} body: {e}")))?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { size: out.len(), limit });
    }
    Ok(Bytes::from(out))
}

/// The response in the request's encoding. In JSON (the proto3 mapping) a full success is
/// `{}` and `rejectedDataPoints`, an int64, is a string.
fn encoded(format: Format, response: &ExportMetricsServiceResponse) -> Vec<u8> {
    match (format, &response.partial_success) {
        (Format::Protobuf, _) => response.encode_to_vec(),
        (Format::Json, None) => b"{}".to_vec(),
        (Format::Json, Some(partial)) => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": partial.rejected_data_points.to_string(),
                "errorMessage": partial.error_message,
            }
        })
        .to_string()
        .into_bytes(),
    }
}

fn success_response(ingestor: &Ingestor, format: Format, outcome: &ExportOutcome) -> Response {
    ingestor.metrics().request(Transport::Http, outcome.outcome());
    let body = encoded(format, &outcome.response());
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

fn error_response(ingestor: &Ingestor, format: Format, error: &IngestError) -> Response {
    ingestor.metrics().request(Transport::Http, error.outcome());
    let (status, code) = match error {
        IngestError::Decode(_) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
        IngestError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::ResourceExhausted),
        IngestError::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, tonic::Code::InvalidArgument),
        IngestError::Overloaded(_) => (StatusCode::TOO_MANY_REQUESTS, tonic::Code::ResourceExhausted),
    };
    let rpc_status = RpcStatus { code: code as i32, message: error.to_string() };
    let body = match format {
        Format::Protobuf => rpc_status.encode_to_vec(),
        Format::Json => {
            serde_json::json!({"code": rpc_status.code, "message": rpc_status.message}).to_string().into_bytes()
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, format.content_type())], body).into_response();
    set_retry_after(&mut response, error);
    response
}

/// Serves the receiver on `listener` until `shutdown` resolves.
pub async fn serve(
    ingestor: Ingestor,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ingestor)).with_graceful_shutdown(shutdown).await
}
