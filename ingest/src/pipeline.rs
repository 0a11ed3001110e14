//! One encoded batch from its bytes to the engine's answer, shared by every source:
//! admission (back-pressure, see [`crate::admission`]), then [`Ingestor::submit`]: decoding
//! by format, batch building, applying, counting. The pipeline knows formats, not sources.

use crate::admission::{Admission, Gate};
use crate::builder::BatchBuilder;
use crate::canonical::CanonicalMap;
use crate::config::{DecoderKind, IngestConfig};
use crate::error::IngestError;
use crate::format::{self, Encoded, Format};
use crate::metrics::{IngestMetrics, Outcome, Transport};
use crate::{fast, reference};

use ironspider_engine::{Engine, RejectCounts};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use prost::Message;
use std::sync::Arc;
use std::time::Instant;

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
    gate: Gate,
}

impl Ingestor {
    /// An ingestor feeding `engine`, registering its metrics in `registry`.
    pub fn new(
        engine: Arc<Engine>,
        config: IngestConfig,
        registry: &prometheus::Registry,
    ) -> Result<Self, prometheus::Error> {
        let metrics = IngestMetrics::new(registry)?;
        let live_points = engine.metrics().live_samples.clone();
        Ok(Self {
            mapping: Arc::new(CanonicalMap::new(&config.metric_mappings)),
            gate: Gate::new(&config, live_points, metrics.queue_depth.clone()),
            metrics,
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

    /// For a push source: takes a place for one batch now, or says to retry later
    /// ([`IngestError::Overloaded`]) when too many are being processed or the engine holds as
    /// many points as it may. See [`Admission`].
    pub fn try_admit(&self) -> Result<Admission, IngestError> {
        Ok(self.gate.try_admit()?)
    }

    /// For a pull source: waits until there is room for one batch (the source pauses
    /// meanwhile). See [`Admission`].
    pub async fn admit(&self) -> Admission {
        self.gate.admit().await
    }

    /// Fails when `size` is over the request limit.
    pub fn check_size(&self, size: usize) -> Result<(), IngestError> {
        let limit = self.config.max_request_bytes;
        if size > limit { Err(IngestError::TooLarge { size, limit }) } else { Ok(()) }
    }

    /// Ingests one encoded batch: checks its size, decodes it by its format, builds the
    /// engine batch, applies it and counts what happened. The one entry point of every source,
    /// which holds an [`Admission`] meanwhile. OTLP protobuf goes through the configured
    /// decoder (the fast one unless `ingest.decoder = "prost"`), the other formats through
    /// [`format::decode`]. A decoding error applies nothing.
    pub fn submit(&self, transport: Transport, encoded: &Encoded) -> Result<ExportOutcome, IngestError> {
        self.check_size(encoded.bytes.len())?;
        let started = Instant::now();
        if encoded.format == Format::OtlpProtobuf && self.config.decoder == DecoderKind::Fast {
            let mut builder = self.builder();
            fast::decode(&encoded.bytes, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
            return Ok(self.apply(builder, transport, started));
        }
        let decoded = format::decode(encoded, self.config.max_request_bytes)?;
        let mut builder = self.builder();
        reference::walk(&decoded.request, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
        let mut outcome = self.apply(builder, transport, started);
        self.count_refused_in_decoding(&decoded.rejected, &mut outcome);
        Ok(outcome)
    }

    /// Counts the points a format's conversion refused with those the builder and the engine
    /// refused.
    fn count_refused_in_decoding(&self, rejected: &RejectCounts, outcome: &mut ExportOutcome) {
        self.engine.metrics().record_rejections(rejected);
        self.metrics.points_received.inc_by(rejected.total());
        outcome.received += rejected.total();
        outcome.rejected.merge(rejected);
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
