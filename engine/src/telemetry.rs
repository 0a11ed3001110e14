//! The engine's own metrics, exposed on `/metrics` by the binary (node scores are rendered
//! at scrape time by [`crate::score_metrics::ScoresCollector`]).

use crate::batch::{ApplyReport, RejectCounts, RejectReason};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Counters and gauges of what the engine stored, refused and holds.
#[derive(Debug, Clone)]
pub struct EngineMetrics {
    /// `ironspider_points_accepted_total`.
    pub points_accepted: IntCounter,
    rejected: Vec<IntCounter>,
    /// `ironspider_late_points_total`: points older than the allowed lateness.
    pub late_points: IntCounter,
    /// `ironspider_active_series`.
    pub active_series: IntGauge,
    /// `ironspider_windows_closed_total`.
    pub windows_closed: IntCounter,
    /// `ironspider_open_windows`.
    pub open_windows: IntGauge,
    /// `ironspider_live_samples`: points held in memory.
    pub live_samples: IntGauge,
    /// `ironspider_live_bytes`: estimated bytes of the live store and series table, which
    /// `engine.max_live_bytes` bounds.
    pub live_bytes: IntGauge,
    /// `ironspider_windows_shed_total`: closed windows dropped before their retention ended
    /// because the store was near `engine.max_live_bytes`.
    pub windows_shed: IntCounter,
    /// `ironspider_series_expired_total`: series retired after `engine.series_ttl_seconds`
    /// unseen.
    pub series_expired: IntCounter,
    /// `ironspider_history_files_written_total`.
    pub history_files_written: IntCounter,
    /// `ironspider_history_write_errors_total`.
    pub history_write_errors: IntCounter,
}

impl EngineMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let rejected_vec = IntCounterVec::new(
            Opts::new("ironspider_points_rejected_total", "Data points refused, by reason."),
            &["reason"],
        )?;
        registry.register(Box::new(rejected_vec.clone()))?;
        let rejected = RejectReason::ALL.iter().map(|r| rejected_vec.with_label_values(&[r.as_str()])).collect();
        let metrics = Self {
            points_accepted: IntCounter::new("ironspider_points_accepted_total", "Data points stored by the engine.")?,
            rejected,
            late_points: IntCounter::new(
                "ironspider_late_points_total",
                "Data points that arrived after their window closed (also counted as rejected, reason late).",
            )?,
            active_series: IntGauge::new(
                "ironspider_active_series",
                "Series in the series table, expired ones excluded.",
            )?,
            windows_closed: IntCounter::new(
                "ironspider_windows_closed_total",
                "Tumbling windows closed and aggregated.",
            )?,
            open_windows: IntGauge::new("ironspider_open_windows", "Windows still accepting points.")?,
            live_samples: IntGauge::new(
                "ironspider_live_samples",
                "Data points held in memory (open and retained windows).",
            )?,
            live_bytes: IntGauge::new(
                "ironspider_live_bytes",
                "Estimated bytes of the live store and series table (bounded by engine.max_live_bytes).",
            )?,
            windows_shed: IntCounter::new(
                "ironspider_windows_shed_total",
                "Closed windows dropped from memory before their retention ended, to stay within engine.max_live_bytes.",
            )?,
            series_expired: IntCounter::new(
                "ironspider_series_expired_total",
                "Series expired after engine.series_ttl_seconds without a point.",
            )?,
            history_files_written: IntCounter::new(
                "ironspider_history_files_written_total",
                "Parquet files written to the history (closed windows, forecast steps, forecasts).",
            )?,
            history_write_errors: IntCounter::new(
                "ironspider_history_write_errors_total",
                "Files (closed windows, forecast steps, forecasts) that could not be written to the history.",
            )?,
        };
        registry.register(Box::new(metrics.points_accepted.clone()))?;
        registry.register(Box::new(metrics.late_points.clone()))?;
        registry.register(Box::new(metrics.active_series.clone()))?;
        registry.register(Box::new(metrics.windows_closed.clone()))?;
        registry.register(Box::new(metrics.open_windows.clone()))?;
        registry.register(Box::new(metrics.live_samples.clone()))?;
        registry.register(Box::new(metrics.live_bytes.clone()))?;
        registry.register(Box::new(metrics.windows_shed.clone()))?;
        registry.register(Box::new(metrics.series_expired.clone()))?;
        registry.register(Box::new(metrics.history_files_written.clone()))?;
        registry.register(Box::new(metrics.history_write_errors.clone()))?;
        Ok(metrics)
    }

    /// Counts rejected points by reason.
    pub fn record_rejections(&self, counts: &RejectCounts) {
        for (reason, n) in counts.nonzero() {
            if let Some(counter) = self.rejected.get(reason.index()) {
                counter.inc_by(n);
            }
            if reason == RejectReason::Late {
                self.late_points.inc_by(n);
            }
        }
    }

    /// Counts what one apply did.
    pub fn record(&self, report: &ApplyReport) {
        self.points_accepted.inc_by(report.accepted);
        self.record_rejections(&report.rejected);
    }
}
