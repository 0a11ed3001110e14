//! Health index in [0, 100] per node, with the factors that lowered it.
//!
//! ```text
//! health = clamp(100 − Σ penalties, 0, 100)
//!
//! stale      = 100 · min(1, missed / stale_windows)            missed = closed windows since
//!                                                              the node's newest point
//! pressure   = 50 · max(0, p̄ − hot) / (1 − hot)                p̄ = mean pressure over the
//!                                                              recent windows, hot = 0.8
//! gpu_xid    = 40 if any XID error was reported in the window
//! gpu_ecc    = 20 if any uncorrectable ECC error was reported
//! gpu_heat   = 10 · min(1, (T − T_throttle) / 10) if a GPU is hotter than T_throttle (85 °C)
//! anomaly    = 30 · (a − t) / (1 − t) if a ≥ t                 a = the node's highest anomaly
//!                                                              score (in [0, 1]), t = the
//!                                                              threshold of [engine.anomaly]
//! ```
//!
//! With the default `stale_windows = 3`, a node that stops reporting loses a third of its
//! health per window: 67 after one window, 33 after two, 0 after three — unhealthy (below
//! 50) from the second window on. The sustained-pressure penalty starts at the hot threshold
//! of the descheduler's LowNodeUtilization-style high watermark (0.8 here), so a node that
//! runs hot for a while, not one that spikes once, loses health. GPU error signals follow
//! NVIDIA's guidance that XID errors and uncorrectable ECC errors call for draining a GPU.
//! The cluster's health is the mean of its nodes' health weighted by their vCPUs (each node
//! weighs 1 when no capacity is known).
//!
//! A node silent for longer than `forget_after_seconds` (default one hour) is forgotten by
//! the score book: it leaves `/api/v1/nodes`, `/metrics` and the scheduler's model (unless
//! the inventory or the Kubernetes API still names it), so nodes that come and go (spot
//! instances, autoscaled pools) do not pile up. Until then it stays, at health 0, for
//! alerts to see.

use serde::{Deserialize, Serialize};

/// Settings of the health index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Windows without data after which a node's health is 0 (default 3).
    pub stale_windows: u32,
    /// Pressure above which sustained load costs health (default 0.8).
    pub hot_pressure: f64,
    /// GPU temperature in °C from which a GPU counts as throttling (default 85).
    pub gpu_throttle_celsius: f64,
    /// Seconds without data after which a node is forgotten (default 3600; 0: never).
    pub forget_after_seconds: u64,
    /// The anomaly score from which the `anomaly` factor counts: not a key of this table,
    /// the engine sets it from `[engine.anomaly] threshold` (1 otherwise: only a score of 1
    /// counts, and costs nothing).
    #[serde(skip)]
    pub anomaly_threshold: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            stale_windows: 3,
            hot_pressure: 0.8,
            gpu_throttle_celsius: 85.0,
            forget_after_seconds: 3600,
            anomaly_threshold: 1.0,
        }
    }
}

impl HealthConfig {
    /// The newest `last_seen_end` (ns) of a node forgotten at `watermark`, `None` when nodes
    /// are never forgotten.
    pub fn forgotten_before(&self, watermark: i64) -> Option<i64> {
        let after = i64::try_from(self.forget_after_seconds).unwrap_or(i64::MAX);
        (after > 0).then(|| watermark.saturating_sub(after.saturating_mul(1_000_000_000)))
    }
}

/// What the health index reads for one node.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HealthInputs {
    /// Closed windows since the node's newest point (0: it reported in the latest window).
    pub missed_windows: u32,
    /// Mean pressure over the recent windows, when known.
    pub recent_pressure: Option<f64>,
    /// XID errors reported in the window.
    pub gpu_xid_errors: f64,
    /// Uncorrectable ECC errors reported in the window.
    pub gpu_ecc_errors: f64,
    /// Hottest GPU in °C, when reported.
    pub gpu_max_temperature: Option<f64>,
    /// The node's highest anomaly score in [0, 1] from anomaly detection, when there is one.
    pub anomaly: Option<f64>,
}

/// One reason the health is below 100.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// Stable name: `stale`, `sustained_pressure`, `gpu_xid_errors`, `gpu_ecc_errors`,
    /// `gpu_temperature`, `anomaly`.
    pub factor: &'static str,
    /// Health points taken off.
    pub penalty: f64,
    /// What was seen, for people.
    pub detail: String,
}

/// A node's health and its factors, largest penalty first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Health {
    /// The index, 0 to 100.
    pub health: f64,
    /// What lowered it.
    pub factors: Vec<Factor>,
}

/// The health index of one node (see the module doc).
pub fn node_health(inputs: &HealthInputs, config: &HealthConfig) -> Health {
    let mut factors = Vec::new();
    let mut add = |factor, penalty: f64, detail: String| {
        if penalty > 0.0 {
            factors.push(Factor { factor, penalty, detail });
        }
    };
    let stale_windows = f64::from(config.stale_windows.max(1));
    let missed = f64::from(inputs.missed_windows);
    add("stale", 100.0 * (missed / stale_windows).min(1.0), format!("no data for {} window(s)", inputs.missed_windows));
    if let Some(pressure) = inputs.recent_pressure {
        let hot = config.hot_pressure.clamp(0.0, 1.0 - 1e-6);
        let penalty = 50.0 * ((pressure - hot).max(0.0) / (1.0 - hot)).min(1.0);
        add(
            "sustained_pressure",
            penalty,
            format!("mean pressure {pressure:.2} over recent windows (hot above {hot:.2})"),
        );
    }
    if inputs.gpu_xid_errors > 0.0 {
        add("gpu_xid_errors", 40.0, format!("{} XID error(s)", inputs.gpu_xid_errors));
    }
    if inputs.gpu_ecc_errors > 0.0 {
        add("gpu_ecc_errors", 20.0, format!("{} uncorrectable ECC error(s)", inputs.gpu_ecc_errors));
    }
    if let Some(temperature) = inputs.gpu_max_temperature {
        let over = temperature - config.gpu_throttle_celsius;
        add("gpu_temperature", 10.0 * (over / 10.0).clamp(0.0, 1.0), format!("hottest GPU at {temperature:.0} °C"));
    }
    if let Some(score) = inputs.anomaly {
        let threshold = config.anomaly_threshold.clamp(0.0, 1.0);
        let excess = if threshold >= 1.0 { 0.0 } else { (score.min(1.0) - threshold).max(0.0) / (1.0 - threshold) };
        add("anomaly", 30.0 * excess, format!("anomaly score {score:.3} (anomalous from {threshold})"));
    }
    factors.sort_by(|a, b| b.penalty.total_cmp(&a.penalty));
    let health = (100.0 - factors.iter().map(|f| f.penalty).sum::<f64>()).clamp(0.0, 100.0);
    Health { health, factors }
}

/// The cluster's health: nodes' health weighted by vCPUs (1 each when unknown); `None` for
/// an empty cluster.
pub fn cluster_health(nodes: impl IntoIterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let (weighted, weights) = nodes.into_iter().fold((0.0, 0.0), |(sum, total), (health, vcpus)| {
        let weight = vcpus.filter(|v| *v > 0.0).unwrap_or(1.0);
        (sum + health * weight, total + weight)
    });
    (weights > 0.0).then(|| weighted / weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_node_loses_a_third_per_window_and_is_unhealthy_within_three() {
        let config = HealthConfig::default();
        let after = |missed| node_health(&HealthInputs { missed_windows: missed, ..Default::default() }, &config);
        assert_eq!(after(0), Health { health: 100.0, factors: vec![] });
        assert!((after(1).health - 200.0 / 3.0).abs() < 1e-9);
        assert!(after(2).health < 50.0);
        assert_eq!(after(3).health, 0.0);
        assert_eq!(after(3).factors[0].factor, "stale");
        assert_eq!(after(9).health, 0.0);
    }

    #[test]
    fn penalties_add_up_and_are_listed_largest_first() {
        // pressure 0.9: 50 · 0.1 / 0.2 = 25; XID 40; 90 °C: 10 · 5 / 10 = 5 → 100 − 70 = 30
        let inputs = HealthInputs {
            recent_pressure: Some(0.9),
            gpu_xid_errors: 2.0,
            gpu_max_temperature: Some(90.0),
            ..Default::default()
        };
        let health = node_health(&inputs, &HealthConfig::default());
        assert!((health.health - 30.0).abs() < 1e-9, "{health:?}");
        let names: Vec<&str> = health.factors.iter().map(|f| f.factor).collect();
        assert_eq!(names, vec!["gpu_xid_errors", "sustained_pressure", "gpu_temperature"]);
        let cool = HealthInputs { recent_pressure: Some(0.5), gpu_max_temperature: Some(60.0), ..Default::default() };
        assert_eq!(node_health(&cool, &HealthConfig::default()).health, 100.0, "below the thresholds nothing counts");
    }

    #[test]
    fn the_anomaly_factor_counts_only_from_the_threshold() {
        let config = HealthConfig { anomaly_threshold: 0.9, ..HealthConfig::default() };
        let with = |score| node_health(&HealthInputs { anomaly: Some(score), ..Default::default() }, &config);
        // 0.95 is half-way from 0.9 to 1: 30 · 0.05 / 0.1 = 15
        assert!((with(0.95).health - 85.0).abs() < 1e-9, "{:?}", with(0.95));
        assert_eq!(with(1.0).health, 70.0);
        assert_eq!(with(0.89).health, 100.0, "below the threshold nothing counts");
        let unset = node_health(&HealthInputs { anomaly: Some(1.0), ..Default::default() }, &HealthConfig::default());
        assert_eq!(unset.health, 100.0, "without a threshold set, anomaly costs nothing");
    }

    #[test]
    fn cluster_health_weighs_nodes_by_vcpus() {
        // (100·4 + 40·1) / 5 = 88
        assert_eq!(cluster_health([(100.0, Some(4.0)), (40.0, None)]), Some(88.0));
        assert_eq!(cluster_health([]), None);
    }
}
