//! What the two HTTP receivers (OTLP/HTTP and remote write) share: reading a request body
//! within `ingest.max_request_bytes`, its media type, and `Retry-After` on the answer to a
//! push source's back-pressure.

use crate::admission::Overloaded;
use crate::error::IngestError;
use crate::metrics::Transport;
use crate::pipeline::Ingestor;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use std::time::Duration;

/// The media type of `Content-Type` without its parameters (empty when absent).
pub(super) fn content_type_essence(headers: &HeaderMap) -> &str {
    let value = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim()
}

/// Adds `Retry-After` (whole seconds, at least 1) to the answer of an overloaded request.
pub(super) fn set_retry_after(response: &mut Response, error: &IngestError) {
    if let IngestError::Overloaded(Overloaded { retry_after, .. }) = error
        && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
}

/// Reads a request body of at most `ingest.max_request_bytes` (checked on `Content-Length`
/// first, then while reading) within `ingest.body_timeout_seconds`, holding one of the
/// `ingest.max_reading_requests` reading slots meanwhile, and counts its bytes. Called
/// before the request takes its place among those processed, so a slow upload holds a
/// reading slot, never a processing one.
pub(super) async fn read_body(
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
    let _slot = ingestor.try_read_slot()?;
    let seconds = ingestor.config().body_timeout_seconds;
    let collected = tokio::time::timeout(Duration::from_secs(seconds), Limited::new(body, limit).collect()).await;
    let raw = collected.map_err(|_| IngestError::SlowBody(seconds))?.map_err(|error| {
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
