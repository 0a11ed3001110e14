//! One export request from body bytes to the engine's answer, shared by both receivers:
//! admission (back-pressure), decoding, batch building, applying, counting.

use crate::builder::BatchBuilder;
use crate::canonical::CanonicalMap;
use crate::config::{DecoderKind, IngestConfig};
use crate::metrics::{IngestMetrics, Outcome, Transport};
use crate::remote_write::proto::WriteRequest;
use crate::{fast, json, reference, remote_write};

use ironspider_engine::{Engine, RejectCounts};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request was refused as a whole.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The body is not a valid export request (protobuf or JSON). Not retryable.
    #[error("cannot decode the export request: {0}")]
    Decode(String),
    /// The body is over the size limit. Not retryable.
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes (ingest.max_request_bytes)")]
    TooLarge {
        /// Size seen (at least; reading stops past the limit).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The engine cannot keep up; retry after the delay.
    #[error("server overloaded: {reason}; retry after {retry_after:?}")]
    Overloaded {
        /// What is full.
        reason: &'static str,
        /// Suggested delay.
        retry_after: Duration,
    },
    /// A content type or encoding the receiver does not speak.
    #[error("{0}")]
    Unsupported(String),
}

/// What happened to the points of an accepted request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    /// Data points in the request.
    pub received: u64,
    /// Points stored.
    pub accepted: u64,
    /// Points skipped as "no recorded value".
    pub skipped: u64,
    /// Points refused, by reason.
    pub rejected: RejectCounts,
}

impl ExportOutcome {
    /// The OTLP answer: `partial_success` set only when points were rejected.
    pub fn response(&self) -> ExportMetricsServiceResponse {
        let partial_success = self.rejected.message().map(|error_message| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(self.rejected.total()).unwrap_or(i64::MAX),
            error_message,
        });
        ExportMetricsServiceResponse { partial_success }
    }

    /// The request's outcome label.
    pub fn outcome(&self) -> Outcome {
        if self.rejected.total() == 0 { Outcome::Success } else { Outcome::PartialSuccess }
    }
}

/// Shared by the receivers: the engine, the name mapping, limits and metrics.
#[derive(Debug, Clone)]
pub struct Ingestor {
    engine: Arc<Engine>,
    mapping: Arc<CanonicalMap>,
    config: IngestConfig,
    metrics: IngestMetrics,
    inflight: Arc<Semaphore>,
}

/// Holds a request's place among those processed at once; released on drop.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    queue_depth: prometheus::IntGauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.queue_depth.dec();
    }
}

impl Ingestor {
    /// An ingestor feeding `engine`, registering its metrics in `registry`.
    pub fn new(
        engine: Arc<Engine>,
        config: IngestConfig,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        Ok(Self {
            mapping: Arc::new(CanonicalMap::new(&config.metric_mappings)),
            metrics: IngestMetrics::new(registry)?,
            inflight: Arc::new(Semaphore::new(config.max_inflight_requests)),
            engine,
            config,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &IngestConfig {
        &self.config
    }

    /// The receivers' metrics.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    /// Takes a place for one request, or says to retry later when too many are being
    /// processed or the engine holds as many points as it may.
    pub fn admit(&self) -> Result<Admission, IngestError> {
        let retry_after = Duration::from_secs(self.config.retry_after_seconds);
        let live = usize::try_from(self.engine.metrics().live_samples.get()).unwrap_or(0);
        if live >= self.config.max_live_points {
            return Err(IngestError::Overloaded {
                reason: "the engine holds ingest.max_live_points points",
                retry_after,
            });
        }
        let permit = Arc::clone(&self.inflight)
            .try_acquire_owned()
            .map_err(|_| IngestError::Overloaded { reason: "too many export requests in flight", retry_after })?;
        self.metrics.queue_depth.inc();
        Ok(Admission { _permit: permit, queue_depth: self.metrics.queue_depth.clone() })
    }

    /// Fails when `size` is over the request limit.
    pub fn check_size(&self, size: usize) -> Result<(), IngestError> {
        let limit = self.config.max_request_bytes;
        if size > limit { Err(IngestError::TooLarge { size, limit }) } else { Ok(()) }
    }

    /// Ingests a protobuf-encoded request through the configured decoder (the fast one unless
    /// `ingest.decoder = "prost"`). A decoding error applies nothing.
    pub fn export_protobuf(&self, body: &[u8], transport: Transport) -> Result<ExportOutcome, IngestError> {
        self.check_size(body.len())?;
        let started = Instant::now();
        if self.config.decoder == DecoderKind::Prost {
            let request = ExportMetricsServiceRequest::decode(body).map_err(|e| IngestError::Decode(e.to_string()))?;
            return self.walk_and_apply(&request, transport, started);
        }
        let mut builder = self.builder();
        fast::decode(body, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
        Ok(self.apply(builder, transport, started))
    }

    /// Ingests a request decoded by prost (the reference path).
    pub fn export_request(
        &self,
        request: &ExportMetricsServiceRequest,
        transport: Transport,
    ) -> Result<ExportOutcome, IngestError> {
        self.walk_and_apply(request, transport, Instant::now())
    }

    fn walk_and_apply(
        &self,
        request: &ExportMetricsServiceRequest,
        transport: Transport,
        started: Instant,
    ) -> Result<ExportOutcome, IngestError> {
        let mut builder = self.builder();
        reference::walk(request, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
        Ok(self.apply(builder, transport, started))
    }

    /// Ingests a decoded Prometheus remote-write request, converted to OTLP (see
    /// [`crate::remote_write::convert`]); samples the conversion refuses are counted with the
    /// points the builder and the engine refuse.
    pub fn export_remote_write(&self, request: &WriteRequest) -> Result<ExportOutcome, IngestError> {
        let started = Instant::now();
        let converted = remote_write::convert::to_otlp(request);
        let mut outcome = self.walk_and_apply(&converted.request, Transport::RemoteWrite, started)?;
        let refused = converted.rejected.total();
        self.engine.metrics().record_rejections(&converted.rejected);
        self.metrics.points_received.inc_by(refused);
        outcome.received += refused;
        outcome.rejected.merge(&converted.rejected);
        Ok(outcome)
    }

    /// Ingests an OTLP/JSON request.
    pub fn export_json(&self, body: &[u8], transport: Transport) -> Result<ExportOutcome, IngestError> {
        self.check_size(body.len())?;
        let started = Instant::now();
        let request = json::decode(body).map_err(IngestError::Decode)?;
        self.walk_and_apply(&request, transport, started)
    }

    fn builder<'e, 'b: 'e>(&'e self) -> BatchBuilder<'e, 'b> {
        BatchBuilder::new(self.engine.series(), &self.mapping, self.config.max_attributes_per_point)
    }

    /// Applies a built batch and counts what happened.
    fn apply(&self, builder: BatchBuilder<'_, '_>, transport: Transport, started: Instant) -> ExportOutcome {
        let (batch, counts) = builder.finish();
        let report = self.engine.apply(batch);
        self.engine.metrics().record_rejections(&counts.rejected);
        self.metrics.points_received.inc_by(counts.received);
        self.metrics.points_skipped.inc_by(counts.skipped);
        let mut rejected = counts.rejected;
        rejected.merge(&report.rejected);
        self.metrics.latency(transport).observe(started.elapsed().as_secs_f64());
        ExportOutcome { received: counts.received, accepted: report.accepted, skipped: counts.skipped, rejected }
    }
}

/// Encodes a response message as protobuf.
pub fn encode_response(response: &ExportMetricsServiceResponse) -> Vec<u8> {
    response.encode_to_vec()
}
