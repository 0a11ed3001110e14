//! Ingest's own metrics: requests, bytes, points received, latency, queue depth.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The transports requests arrive on (the `transport` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP.
    Http,
    /// Prometheus remote write.
    RemoteWrite,
    /// `ironspider replay`.
    Replay,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
            Transport::RemoteWrite => "remote_write",
            Transport::Replay => "replay",
        }
    }
}

/// How a request ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every point accepted.
    Success,
    /// Some points rejected.
    PartialSuccess,
    /// Undecodable or otherwise invalid request.
    Invalid,
    /// Body over the size limit.
    TooLarge,
    /// Throttled: the engine could not keep up.
    Throttled,
    /// The body did not arrive in time.
    TimedOut,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::PartialSuccess => "partial_success",
            Outcome::Invalid => "invalid",
            Outcome::TooLarge => "too_large",
            Outcome::Throttled => "throttled",
            Outcome::TimedOut => "timed_out",
        }
    }
}

/// The receivers' metrics.
#[derive(Debug, Clone)]
pub struct IngestMetrics {
    requests: IntCounterVec,
    bytes: IntCounterVec,
    latency: HistogramVec,
    /// `ironspider_points_received_total`: data points in decoded requests.
    pub points_received: IntCounter,
    /// `ironspider_points_skipped_total`: points flagged "no recorded value".
    pub points_skipped: IntCounter,
    /// `ironspider_ingest_queue_depth`: export requests being processed.
    pub queue_depth: IntGauge,
}

impl IngestMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            requests: IntCounterVec::new(
                Opts::new(
                    "ironspider_requests_total",
                    "Export requests (OTLP and Prometheus remote write), by transport and outcome.",
                ),
                &["transport", "outcome"],
            )?,
            bytes: IntCounterVec::new(
                Opts::new("ironspider_request_bytes_total", "Bytes of export request bodies as received."),
                &["transport"],
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "ironspider_ingest_latency_seconds",
                    "Time to decode an export request body and apply it to the engine.",
                )
                .buckets(vec![0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
                &["transport"],
            )?,
            points_received: IntCounter::new(
                "ironspider_points_received_total",
                "Data points in decoded export requests.",
            )?,
            points_skipped: IntCounter::new(
                "ironspider_points_skipped_total",
                "Data points flagged as carrying no recorded value, skipped without error.",
            )?,
            queue_depth: IntGauge::new("ironspider_ingest_queue_depth", "Export requests being processed now.")?,
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.bytes.clone()))?;
        registry.register(Box::new(metrics.latency.clone()))?;
        registry.register(Box::new(metrics.points_received.clone()))?;
        registry.register(Box::new(metrics.points_skipped.clone()))?;
        registry.register(Box::new(metrics.queue_depth.clone()))?;
        Ok(metrics)
    }

    /// Counts a finished request.
    pub fn request(&self, transport: Transport, outcome: Outcome) {
        self.requests.with_label_values(&[transport.label(), outcome.label()]).inc();
    }

    /// Counts received body bytes.
    pub fn bytes(&self, transport: Transport, n: usize) {
        self.bytes.with_label_values(&[transport.label()]).inc_by(n as u64);
    }

    /// The latency histogram of a transport.
    pub fn latency(&self, transport: Transport) -> Histogram {
        self.latency.with_label_values(&[transport.label()])
    }
}
