//! The OTLP/HTTP receiver: `POST /v1/metrics` with `application/x-protobuf` or
//! `application/json` bodies, optionally gzip- or zstd-compressed.
//!
//! Answers follow the OTLP/HTTP spec: 200 with an `ExportMetricsServiceResponse` in the
//! request's encoding (its `partial_success` set when points were rejected); 400 with a
//! `google.rpc.Status` body for undecodable requests; 413 for bodies over the limit (checked
//! on `Content-Length`, while reading, and after decompression); 415 for other content
//! types or encodings; 408 for a body that does not arrive within
//! `ingest.body_timeout_seconds`; 429 with `Retry-After` when the engine cannot keep up or
//! too many bodies are being read. The body is read before the request is admitted among
//! those processed, so slow uploads never hold a processing place.

use super::http_body::{content_type_essence, read_body, set_retry_after};
use crate::error::IngestError;
use crate::format::{Encoded, Format};
use crate::metrics::Transport;
use crate::pipeline::{ExportOutcome, Ingestor};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use std::io::Read;

/// The two OTLP/HTTP media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl MediaType {
    /// The format of a body of this media type.
    fn format(self) -> Format {
        match self {
            MediaType::Protobuf => Format::OtlpProtobuf,
            MediaType::Json => Format::OtlpJson,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            MediaType::Protobuf => "application/x-protobuf",
            MediaType::Json => "application/json",
        }
    }

    fn of(headers: &HeaderMap) -> Option<Self> {
        let essence = content_type_essence(headers);
        if essence.eq_ignore_ascii_case("application/x-protobuf") {
            Some(MediaType::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(MediaType::Json)
        } else {
            None
        }
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
    let Some(media_type) = MediaType::of(&headers) else {
        let error = IngestError::Unsupported(
            "unsupported Content-Type: OTLP/HTTP takes application/x-protobuf or application/json".into(),
        );
        return error_response(&ingestor, MediaType::Json, &error);
    };
    let result = receive(&ingestor, &headers, body, media_type).await;
    match result {
        Ok(outcome) => success_response(&ingestor, media_type, &outcome),
        Err(error) => error_response(&ingestor, media_type, &error),
    }
}

async fn receive(
    ingestor: &Ingestor,
    headers: &HeaderMap,
    body: Body,
    media_type: MediaType,
) -> Result<ExportOutcome, IngestError> {
    let raw = read_body(ingestor, headers, body, Transport::Http).await?;
    let headers = headers.clone();
    ingestor
        .process(move |ingestor| {
            let body = decompress(&headers, raw, ingestor.config().max_request_bytes)?;
            ingestor.submit(Transport::Http, &Encoded::new(media_type.format(), body))
        })
        .await
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
fn encoded(media_type: MediaType, response: &ExportMetricsServiceResponse) -> Vec<u8> {
    match (media_type, &response.partial_success) {
        (MediaType::Protobuf, _) => response.encode_to_vec(),
        (MediaType::Json, None) => b"{}".to_vec(),
        (MediaType::Json, Some(partial)) => serde_json::json!({
            "partialSuccess": {
                "rejectedDataPoints": partial.rejected_data_points.to_string(),
                "errorMessage": partial.error_message,
            }
        })
        .to_string()
        .into_bytes(),
    }
}

fn success_response(ingestor: &Ingestor, media_type: MediaType, outcome: &ExportOutcome) -> Response {
    ingestor.metrics().request(Transport::Http, outcome.outcome());
    let body = encoded(media_type, &outcome.response());
    ([(header::CONTENT_TYPE, media_type.content_type())], body).into_response()
}

fn error_response(ingestor: &Ingestor, media_type: MediaType, error: &IngestError) -> Response {
    ingestor.metrics().request(Transport::Http, error.outcome());
    let (status, code) = match error {
        IngestError::Decode(_) => (StatusCode::BAD_REQUEST, tonic::Code::InvalidArgument),
        IngestError::TooLarge { .. } | IngestError::ConvertsTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, tonic::Code::ResourceExhausted)
        }
        IngestError::Unsupported(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, tonic::Code::InvalidArgument),
        IngestError::Overloaded(_) => (StatusCode::TOO_MANY_REQUESTS, tonic::Code::ResourceExhausted),
        IngestError::SlowBody(_) => (StatusCode::REQUEST_TIMEOUT, tonic::Code::DeadlineExceeded),
    };
    let rpc_status = RpcStatus { code: code as i32, message: error.to_string() };
    let body = match media_type {
        MediaType::Protobuf => rpc_status.encode_to_vec(),
        MediaType::Json => {
            serde_json::json!({"code": rpc_status.code, "message": rpc_status.message}).to_string().into_bytes()
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, media_type.content_type())], body).into_response();
    set_retry_after(&mut response, error);
    response
}
