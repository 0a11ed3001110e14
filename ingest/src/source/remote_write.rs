//! The Prometheus remote-write receiver: `POST /api/v1/write` with a snappy-compressed
//! (block format) `prometheus.WriteRequest`, as remote-write 1.0 specifies, served on the
//! HTTP API address.
//!
//! Series are converted to OTLP ([`crate::format::remote_write`]) and take the OTLP path
//! from there. Answers,
//! as the spec and Prometheus' retry logic expect:
//! - `204 No Content` when every sample was stored (staleness markers are skipped, not
//!   refused);
//! - `400 Bad Request` for an undecodable body, or when samples were refused (the others
//!   are stored; the text names the reasons). Prometheus does not retry a 4xx, so a refused
//!   sample is never sent again;
//! - `413` over `ingest.max_request_bytes` (compressed or not), `415` for another
//!   `Content-Type` or `Content-Encoding`;
//! - `503 Service Unavailable` with `Retry-After` when the engine cannot keep up: Prometheus
//!   retries 5xx answers with back-off (a 429 is only retried with `retry_on_http_429`).

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

/// The path Prometheus' `remote_write.url` points at.
pub const PATH: &str = "/api/v1/write";

/// The remote-write route, merged into the HTTP API's router.
pub fn router(ingestor: Ingestor) -> Router {
    Router::new().route(PATH, post(write)).with_state(ingestor)
}

fn check_headers(headers: &HeaderMap) -> Result<(), IngestError> {
    let content_type = content_type_essence(headers);
    if !content_type.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(IngestError::Unsupported(format!(
            "unsupported Content-Type {content_type:?}: remote write takes application/x-protobuf"
        )));
    }
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    if !encoding.eq_ignore_ascii_case("snappy") {
        return Err(IngestError::Unsupported("remote write bodies must have Content-Encoding: snappy".into()));
    }
    Ok(())
}

async fn write(State(ingestor): State<Ingestor>, headers: HeaderMap, body: Body) -> Response {
    let result = match check_headers(&headers) {
        Ok(()) => match read_body(&ingestor, &headers, body, Transport::RemoteWrite).await {
            Ok(raw) => {
                ingestor
                    .process(move |ingestor| {
                        ingestor.submit(Transport::RemoteWrite, &Encoded::new(Format::RemoteWrite, raw))
                    })
                    .await
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    let outcome = result.as_ref().map_or_else(IngestError::outcome, ExportOutcome::outcome);
    ingestor.metrics().request(Transport::RemoteWrite, outcome);
    match result {
        Ok(outcome) => match outcome.rejected.message() {
            None => StatusCode::NO_CONTENT.into_response(),
            Some(message) => (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
        },
        Err(error) => error_response(&error),
    }
}

fn error_response(error: &IngestError) -> Response {
    let status = match error {
        IngestError::Decode(_) => StatusCode::BAD_REQUEST,
        IngestError::TooLarge { .. } | IngestError::ConvertsTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        IngestError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        IngestError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
    };
    let mut response = (status, format!("{error}\n")).into_response();
    set_retry_after(&mut response, error);
    response
}
