//! The engine's own metrics, exposed on `/metrics` by the binary.

use crate::batch::{ApplyReport, RejectCounts, RejectReason};
use crate::scores::ScoresSnapshot;
use prometheus::{Gauge, GaugeVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

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
    /// `ironspider_history_files_written_total`.
    pub history_files_written: IntCounter,
    /// `ironspider_history_write_errors_total`.
    pub history_write_errors: IntCounter,
    node_pressure: GaugeVec,
    node_health: GaugeVec,
    node_cost: GaugeVec,
    node_idle_cost: GaugeVec,
    node_utilisation: GaugeVec,
    cluster_health: Gauge,
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
            active_series: IntGauge::new("ironspider_active_series", "Series in the series table.")?,
            windows_closed: IntCounter::new(
                "ironspider_windows_closed_total",
                "Tumbling windows closed and aggregated.",
            )?,
            open_windows: IntGauge::new("ironspider_open_windows", "Windows still accepting points.")?,
            live_samples: IntGauge::new(
                "ironspider_live_samples",
                "Data points held in memory (open and retained windows).",
            )?,
            history_files_written: IntCounter::new(
                "ironspider_history_files_written_total",
                "Parquet files of closed windows written to the history.",
            )?,
            history_write_errors: IntCounter::new(
                "ironspider_history_write_errors_total",
                "Closed windows that could not be written to the history.",
            )?,
            node_pressure: GaugeVec::new(Opts::new("ironspider_node_pressure", "Node pressure, 0 to 1."), &["node"])?,
            node_health: GaugeVec::new(Opts::new("ironspider_node_health", "Node health index, 0 to 100."), &["node"])?,
            node_cost: GaugeVec::new(
                Opts::new("ironspider_node_cost_per_hour", "Hourly price of the node, by resource."),
                &["node", "resource"],
            )?,
            node_idle_cost: GaugeVec::new(
                Opts::new("ironspider_node_idle_cost_per_hour", "Idle part of the node's hourly price, by resource."),
                &["node", "resource"],
            )?,
            node_utilisation: GaugeVec::new(
                Opts::new(
                    "ironspider_node_utilization_ratio",
                    "Node resource utilisation in the newest window, 0 to 1.",
                ),
                &["node", "resource"],
            )?,
            cluster_health: Gauge::new("ironspider_cluster_health", "vCPU-weighted mean of node health, 0 to 100.")?,
        };
        registry.register(Box::new(metrics.points_accepted.clone()))?;
        registry.register(Box::new(metrics.late_points.clone()))?;
        registry.register(Box::new(metrics.active_series.clone()))?;
        registry.register(Box::new(metrics.windows_closed.clone()))?;
        registry.register(Box::new(metrics.open_windows.clone()))?;
        registry.register(Box::new(metrics.live_samples.clone()))?;
        registry.register(Box::new(metrics.history_files_written.clone()))?;
        registry.register(Box::new(metrics.history_write_errors.clone()))?;
        for vec in [
            &metrics.node_pressure,
            &metrics.node_health,
            &metrics.node_cost,
            &metrics.node_idle_cost,
            &metrics.node_utilisation,
        ] {
            registry.register(Box::new(vec.clone()))?;
        }
        registry.register(Box::new(metrics.cluster_health.clone()))?;
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

    /// Replaces the score gauges with `snapshot` (nodes gone from it disappear).
    pub fn record_scores(&self, snapshot: &ScoresSnapshot) {
        for vec in
            [&self.node_pressure, &self.node_health, &self.node_cost, &self.node_idle_cost, &self.node_utilisation]
        {
            vec.reset();
        }
        for (node, score) in &snapshot.nodes {
            if let Some(pressure) = score.pressure {
                self.node_pressure.with_label_values(&[node]).set(pressure);
            }
            self.node_health.with_label_values(&[node]).set(score.health);
            let parts = [
                ("cpu", score.cost.cost.cpu, score.cost.idle.cpu),
                ("memory", score.cost.cost.memory, score.cost.idle.memory),
                ("gpu", score.cost.cost.gpu, score.cost.idle.gpu),
            ];
            for (resource, cost, idle) in parts {
                self.node_cost.with_label_values(&[node, resource]).set(cost);
                self.node_idle_cost.with_label_values(&[node, resource]).set(idle);
            }
            let utilisation =
                [("cpu", score.cpu), ("memory", score.memory), ("gpu", score.gpu), ("gpu_memory", score.gpu_memory)];
            for (resource, value) in utilisation {
                if let Some(value) = value {
                    self.node_utilisation.with_label_values(&[node, resource]).set(value);
                }
            }
        }
        match snapshot.cluster_health {
            Some(health) => self.cluster_health.set(health),
            None => self.cluster_health.set(100.0),
        }
    }

    /// Counts what one apply did.
    pub fn record(&self, report: &ApplyReport) {
        self.points_accepted.inc_by(report.accepted);
        self.record_rejections(&report.rejected);
    }
}
