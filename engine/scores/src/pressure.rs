//! Node pressure in [0, 1]: how close a node is to running out of its scarcest resource.
//!
//! For each resource `r` the node reports (CPU, memory, and where the node has GPUs the
//! busiest GPU's utilisation and GPU memory), with `u_r` its utilisation in the window and
//! `σ_r` the standard deviation of `u_r` over the recent windows:
//!
//! ```text
//! risk_r     = min(1, u_r + ν·σ_r)                          (ν = variability_margin)
//! pressure_r = 0.5 · risk_r / t                              if risk_r ≤ t
//!            = 0.5 + 0.5 · (risk_r − t) / (1 − t)            otherwise   (t = target)
//! base       = max_r pressure_r
//! stall      = max(psi_cpu, psi_memory, psi_io)              (the "some" shares, 0 if absent)
//! pressure   = base + w_psi · stall · (1 − base)
//! ```
//!
//! So a node exactly at the target utilisation scores 0.5, a saturated one 1. The mean plus
//! a margin of standard deviations is the risk of Trimaran's LoadVariationRiskBalancing
//! plugin (a node whose load swings is riskier than its mean says); the target is the idea of
//! Trimaran's TargetLoadPacking and of Koordinator's load-aware thresholds. Going beyond
//! them, pressure stall information (Linux PSI) raises the score toward 1 in proportion to the
//! share of time tasks were stalled, because a node can be stalled below 100 % utilisation.

use serde::{Deserialize, Serialize};

/// Settings of the pressure formula.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PressureConfig {
    /// Utilisation at which a resource's pressure is 0.5 (default 0.7).
    pub target: f64,
    /// Standard deviations of recent utilisation added to the mean, `ν` (default 1).
    pub variability_margin: f64,
    /// Weight of pressure stall information, `w_psi` in [0, 1] (default 1).
    pub stall_weight: f64,
    /// Windows of history behind `σ_r` (default 6: one minute of 10 s windows).
    pub variability_windows: usize,
}

impl Default for PressureConfig {
    fn default() -> Self {
        Self { target: 0.7, variability_margin: 1.0, stall_weight: 1.0, variability_windows: 6 }
    }
}

/// One resource's utilisation now and its spread over recent windows.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResourceLoad {
    /// Utilisation in the window, in [0, 1].
    pub utilisation: f64,
    /// Standard deviation of the utilisation over recent windows.
    pub spread: f64,
}

/// Pressure stall "some" shares, each in [0, 1], when the node reports them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stall {
    /// CPU.
    pub cpu: Option<f64>,
    /// Memory.
    pub memory: Option<f64>,
    /// I/O.
    pub io: Option<f64>,
}

impl Stall {
    /// The largest reported share, 0 when none is reported.
    pub fn worst(&self) -> f64 {
        [self.cpu, self.memory, self.io].into_iter().flatten().map(|s| s.clamp(0.0, 1.0)).fold(0.0, f64::max)
    }
}

/// `pressure_r` of one resource (see the module doc).
///
/// ```
/// use ironspider_scores::pressure::{PressureConfig, ResourceLoad, resource_pressure};
/// let config = PressureConfig::default(); // t = 0.7, ν = 1
/// // u = 0.35, σ = 0.07: risk 0.42 ≤ t, so 0.5 · 0.42 / 0.7 = 0.3
/// let calm = resource_pressure(ResourceLoad { utilisation: 0.35, spread: 0.07 }, &config);
/// assert!((calm - 0.3).abs() < 1e-12);
/// // u = 0.85, σ = 0: risk 0.85 > t, so 0.5 + 0.5 · 0.15 / 0.3 = 0.75
/// let hot = resource_pressure(ResourceLoad { utilisation: 0.85, spread: 0.0 }, &config);
/// assert!((hot - 0.75).abs() < 1e-12);
/// ```
pub fn resource_pressure(load: ResourceLoad, config: &PressureConfig) -> f64 {
    let target = config.target.clamp(1e-6, 1.0 - 1e-6);
    let risk = (load.utilisation.max(0.0) + config.variability_margin * load.spread.max(0.0)).min(1.0);
    if risk <= target { 0.5 * risk / target } else { 0.5 + 0.5 * (risk - target) / (1.0 - target) }
}

/// The node's pressure from the loads of the resources it reports, or `None` when it
/// reports none.
pub fn node_pressure(loads: &[ResourceLoad], stall: Stall, config: &PressureConfig) -> Option<f64> {
    let base = loads.iter().map(|load| resource_pressure(*load, config)).reduce(f64::max)?;
    let weight = config.stall_weight.clamp(0.0, 1.0);
    Some((base + weight * stall.worst() * (1.0 - base)).clamp(0.0, 1.0))
}

/// Population standard deviation of `values` (0 for fewer than two).
pub fn spread(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn below_and_above_the_target() {
        let config = PressureConfig::default();
        // 0.35 of a 0.7 target: 0.5 · 0.35 / 0.7 = 0.25
        assert!(close(resource_pressure(ResourceLoad { utilisation: 0.35, spread: 0.0 }, &config), 0.25));
        // 0.85: 0.5 + 0.5 · 0.15 / 0.3 = 0.75
        assert!(close(resource_pressure(ResourceLoad { utilisation: 0.85, spread: 0.0 }, &config), 0.75));
        // 0.6 with spread 0.1: risk 0.7, exactly the target
        assert!(close(resource_pressure(ResourceLoad { utilisation: 0.6, spread: 0.1 }, &config), 0.5));
        // risk is capped at 1
        assert!(close(resource_pressure(ResourceLoad { utilisation: 0.95, spread: 0.3 }, &config), 1.0));
    }

    #[test]
    fn the_worst_resource_counts_and_stall_raises_it() {
        let config = PressureConfig::default();
        let loads = [ResourceLoad { utilisation: 0.35, spread: 0.0 }, ResourceLoad { utilisation: 0.85, spread: 0.0 }];
        assert!(close(node_pressure(&loads, Stall::default(), &config).unwrap(), 0.75));
        // stall 0.2 (memory; cpu 0.1 is smaller): 0.75 + 0.2 · 0.25 = 0.8
        let stall = Stall { cpu: Some(0.1), memory: Some(0.2), io: None };
        assert!(close(node_pressure(&loads, stall, &config).unwrap(), 0.8));
        assert_eq!(node_pressure(&[], stall, &config), None, "nothing reported, nothing known");
    }

    #[test]
    fn spread_is_the_population_standard_deviation() {
        // mean 0.5; deviations ±0.1 → σ = 0.1
        assert!(close(spread(&[0.4, 0.6, 0.4, 0.6]), 0.1));
        assert_eq!(spread(&[0.4]), 0.0);
    }
}
