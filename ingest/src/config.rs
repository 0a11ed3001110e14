//! Ingest configuration: the `[ingest]` table of the TOML file.

use crate::canonical::MetricMapping;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Receiver addresses, request limits and back-pressure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// OTLP/gRPC listen address (default `127.0.0.1:4317`).
    pub otlp_grpc: SocketAddr,
    /// OTLP/HTTP listen address (default `127.0.0.1:4318`).
    pub otlp_http: SocketAddr,
    /// Largest request body accepted, after decompression, in bytes (default 16 MiB).
    /// Larger requests get RESOURCE_EXHAUSTED (gRPC) or 413 (HTTP).
    pub max_request_bytes: usize,
    /// Most attributes a data point may carry (default 128); points with more are rejected
    /// with reason `too_many_attributes`.
    pub max_attributes_per_point: usize,
    /// Longest attribute key or string value, in bytes, of a new series (default 4096; a
    /// remote-write label name or value likewise). Points of a series with a longer one are
    /// rejected with reason `attribute_too_long`; in remote write, before any per-sample work.
    pub max_attribute_bytes: usize,
    /// Export requests processed at once (default 64). Past this, receivers answer
    /// RESOURCE_EXHAUSTED / HTTP 429 with a retry delay instead of queueing without bound.
    pub max_inflight_requests: usize,
    /// Delay suggested to throttled exporters, in seconds (default 1).
    pub retry_after_seconds: u64,
    /// Seconds an HTTP request body may take to arrive (default 10); a slower one is
    /// answered 408 and dropped. Bodies are read before a request takes its place among
    /// those processed (`max_inflight_requests`), so slow uploads hold only a reading slot.
    pub body_timeout_seconds: u64,
    /// Concurrent gRPC streams (calls) on one HTTP/2 connection (default 100, gRPC's usual
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); a client waits for a free stream past it. Idle
    /// connections are also pinged every 30 s and dropped when a ping goes 10 s unanswered.
    pub max_grpc_streams: u32,
    /// HTTP request bodies read at once (default 256); past this, requests are answered
    /// "retry later" (429 / 503 with `Retry-After`) before their body is read. Bounds the
    /// memory of bodies in flight to this × `max_request_bytes`.
    pub max_reading_requests: usize,
    /// Which protobuf decoder reads OTLP requests (default `fast`). `prost` is the reference
    /// path, kept for comparison: benchmarks run the server with it as their baseline.
    pub decoder: DecoderKind,
    /// Extra or overriding metric name mappings (see `canonical`).
    pub metric_mappings: Vec<MetricMapping>,
}

/// An `[ingest]` limit that would refuse everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ingest.{0} = 0: every request would be refused; the limit is at least 1")]
pub struct IngestConfigError(pub &'static str);

impl IngestConfig {
    /// Refuses limits of 0, under which no request could ever be accepted.
    pub fn validate(&self) -> Result<(), IngestConfigError> {
        let limits = [
            ("max_request_bytes", self.max_request_bytes),
            ("max_attribute_bytes", self.max_attribute_bytes),
            ("max_inflight_requests", self.max_inflight_requests),
            ("body_timeout_seconds", self.body_timeout_seconds as usize),
            ("max_reading_requests", self.max_reading_requests),
            ("max_grpc_streams", self.max_grpc_streams as usize),
        ];
        match limits.into_iter().find(|(_, limit)| *limit == 0) {
            Some((key, _)) => Err(IngestConfigError(key)),
            None => Ok(()),
        }
    }
}

/// The two protobuf decoders of OTLP requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// Reads the request bytes in place ([`crate::fast`]).
    #[default]
    Fast,
    /// Decodes into prost structs first ([`crate::reference`]).
    Prost,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            otlp_grpc: SocketAddr::from(([127, 0, 0, 1], 4317)),
            otlp_http: SocketAddr::from(([127, 0, 0, 1], 4318)),
            max_request_bytes: 16 * 1024 * 1024,
            max_attributes_per_point: 128,
            max_attribute_bytes: 4096,
            max_inflight_requests: 64,
            retry_after_seconds: 1,
            body_timeout_seconds: 10,
            max_grpc_streams: 100,
            max_reading_requests: 256,
            decoder: DecoderKind::Fast,
            metric_mappings: Vec::new(),
        }
    }
}
