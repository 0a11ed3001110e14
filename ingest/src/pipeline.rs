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
    /// Adds `other`'s counts (one request applied in parts).
    pub fn add(&mut self, other: &ExportOutcome) {
        self.received += other.received;
        self.accepted += other.accepted;
        self.skipped += other.skipped;
        self.rejected.merge(&other.rejected);
    }

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
        let live_bytes = engine.metrics().live_bytes.clone();
        let max_live_bytes = engine.config().max_live_bytes;
        Ok(Self {
            mapping: Arc::new(CanonicalMap::new(&config.metric_mappings)),
            gate: Gate::new(&config, live_bytes, max_live_bytes, metrics.queue_depth.clone()),
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
    /// many bytes as it may. See [`Admission`].
    pub fn try_admit(&self) -> Result<Admission, IngestError> {
        Ok(self.gate.try_admit()?)
    }

    /// For a push source, before it reads a request's body: says to retry later when no place
    /// is free now, so that under overload a request is refused for the cost of its headers
    /// rather than of its body. Takes nothing: [`Ingestor::try_admit`] still decides once
    /// the body is read.
    pub fn check_room(&self) -> Result<(), IngestError> {
        Ok(self.gate.check_room()?)
    }

    /// For a push source: takes a place ([`Ingestor::try_admit`]) and runs `work` (the
    /// request's decompression, decoding and storing) on a blocking thread while holding it.
    /// The runtime's workers thus only move bytes, so that `/readyz`, the extender and every
    /// other connection are answered while ingest keeps the cores busy; at most
    /// `ingest.max_inflight_requests` such threads work at once. A panic in `work` is raised
    /// again here, as it would have been had `work` run inline.
    pub async fn process<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Ingestor) -> Result<T, IngestError> + Send + 'static,
    ) -> Result<T, IngestError> {
        let admission = self.try_admit()?;
        let ingestor = self.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _admission = admission;
            work(&ingestor)
        });
        match done.await {
            Ok(result) => result,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// For a pull source: waits until there is room for one batch (the source pauses
    /// meanwhile). See [`Admission`].
    pub async fn admit(&self) -> Admission {
        self.gate.admit().await
    }

    /// A slot to read one HTTP body in (`ingest.max_reading_requests`), or "retry later".
    pub fn try_read_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, IngestError> {
        Ok(self.gate.try_read_slot()?)
    }

    /// Fails when `size` is over the request limit.
    pub fn check_size(&self, size: usize) -> Result<(), IngestError> {
        let limit = self.config.max_request_bytes;
        if size > limit { Err(IngestError::TooLarge { size, limit }) } else { Ok(()) }
    }

    /// Ingests one encoded batch: checks its size, decodes it by its format, builds the
    /// engine batch, applies it and counts what happened. The one entry point of every source,
    /// which holds an [`Admission`] meanwhile. OTLP protobuf goes through the configured
    /// decoder (the fast one unless `ingest.decoder = "prost"`), remote write through its
    /// conversion chunk by chunk (each chunk applied before the next is built, so the
    /// converted form never holds more than one; `format::remote_write::convert`), the
    /// other formats through [`format::decode`]. A decoding error applies nothing.
    pub fn submit(&self, transport: Transport, encoded: &Encoded) -> Result<ExportOutcome, IngestError> {
        self.check_size(encoded.bytes.len())?;
        let started = Instant::now();
        let outcome = match encoded.format {
            Format::OtlpProtobuf if self.config.decoder == DecoderKind::Fast => {
                let mut builder = self.builder();
                fast::decode(&encoded.bytes, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
                self.apply(builder)
            }
            Format::RemoteWrite => self.submit_remote_write(&encoded.bytes)?,
            _ => {
                let decoded = format::decode(encoded, self.config.max_request_bytes)?;
                let mut builder = self.builder();
                reference::walk(&decoded.request, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
                let mut outcome = self.apply(builder);
                self.count_refused_in_decoding(&decoded.rejected, &mut outcome);
                outcome
            }
        };
        self.metrics.latency(transport).observe(started.elapsed().as_secs_f64());
        Ok(outcome)
    }

    /// Remote write: the request decoded whole (within the size limit), converted and
    /// applied chunk by chunk.
    fn submit_remote_write(&self, bytes: &[u8]) -> Result<ExportOutcome, IngestError> {
        use crate::format::remote_write::{self, convert};
        let request = remote_write::decode(bytes, self.config.max_request_bytes)?;
        let mut total = ExportOutcome::default();
        let limits = convert::Limits {
            max_attributes: self.config.max_attributes_per_point,
            max_attribute_bytes: self.config.max_attribute_bytes,
        };
        let size = convert::converted_bytes(&request, limits);
        if size > convert::MAX_CONVERTED_BYTES {
            return Err(IngestError::ConvertsTooLarge { size, limit: convert::MAX_CONVERTED_BYTES });
        }
        convert::for_each_chunk(&request, limits, convert::CHUNK_BYTES, |chunk| {
            let mut builder = self.builder();
            reference::walk(&chunk.request, &mut builder).map_err(|e| IngestError::Decode(e.to_string()))?;
            let mut outcome = self.apply(builder);
            self.count_refused_in_decoding(&chunk.rejected, &mut outcome);
            total.add(&outcome);
            Ok::<(), IngestError>(())
        })?;
        Ok(total)
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
            .limit_attribute_bytes(self.config.max_attribute_bytes)
    }

    /// Applies a built batch and counts what happened.
    fn apply(&self, builder: BatchBuilder<'_, '_>) -> ExportOutcome {
        let (batch, counts) = builder.finish();
        let report = self.engine.apply(batch);
        self.engine.metrics().record_rejections(&counts.rejected);
        self.metrics.points_received.inc_by(counts.received);
        self.metrics.points_skipped.inc_by(counts.skipped);
        let mut rejected = counts.rejected;
        rejected.merge(&report.rejected);
        ExportOutcome { received: counts.received, accepted: report.accepted, skipped: counts.skipped, rejected }
    }
}

/// Encodes a response message as protobuf.
pub fn encode_response(response: &ExportMetricsServiceResponse) -> Vec<u8> {
    response.encode_to_vec()
}
