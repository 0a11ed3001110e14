//! The extender's settings: `[scheduler]` in the configuration file.
//!
//! ```toml
//! [scheduler]
//! min_health = 50
//! burst_windows = 3
//! [scheduler.weights]
//! headroom = 2.0
//! fragmentation = 1.0
//! cost = 0.5
//! [scheduler.rebalance]
//! threshold = 0.8
//! sustained_windows = 3
//! [scheduler.kubernetes]
//! kubeconfig = "/path/to/kubeconfig"
//! bind = true
//! ```

use crate::kubernetes::KubernetesConfig;
use crate::rebalance::RebalanceConfig;
use serde::{Deserialize, Serialize};

/// Everything the extender reads from the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Health below which a node is refused as unresolvable (default 50: a node that missed
    /// half its stale windows, or one with GPU XID errors and some sustained pressure).
    pub min_health: f64,
    /// Windows during which a pod bound here counts as load on its node before telemetry
    /// shows it (burst damping; default 3).
    pub burst_windows: u32,
    /// Windows an *assumed* pod (bound here, seen neither by telemetry nor by the Kubernetes
    /// watch) keeps its requests and GPU shares before it is taken as never started and
    /// released (default 90: 15 minutes of 10 s windows, kube-scheduler's old assumed-pod
    /// expiry). Without it a bind whose pod never shows up would hold its GPU for ever.
    pub assumed_windows: u32,
    /// Pods seen by `filter` remembered for the `bind` that follows (oldest forgotten first).
    pub remembered_pods: usize,
    /// Pods whose types make the typical pod mix of the fragmentation term (the most
    /// recent pods seen by `filter`; default 1,000).
    pub mix_pods: usize,
    /// Largest request body accepted, bytes (default 16 MiB; larger ones get `413`). With
    /// `nodeCacheCapable: true` (as deploy/ ships it) requests carry node names only, a few
    /// hundred kilobytes for thousands of nodes; without it they carry full `Node` objects,
    /// about 5 to 15 KB each, so 16 MiB holds one to three thousand: raise it for larger
    /// clusters that cannot use the node cache.
    pub max_body_bytes: usize,
    /// How `prioritize` weighs its terms.
    pub weights: Weights,
    /// Hot spots and eviction plans.
    pub rebalance: RebalanceConfig,
    /// The cluster to watch, bind in and evict from (none by default).
    pub kubernetes: KubernetesConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            min_health: 50.0,
            burst_windows: 3,
            assumed_windows: 90,
            remembered_pods: 100_000,
            mix_pods: 1_000,
            max_body_bytes: 16 << 20,
            weights: Weights::default(),
            rebalance: RebalanceConfig::default(),
            kubernetes: KubernetesConfig::default(),
        }
    }
}

/// A `[scheduler]` setting out of range, or contradictory Kubernetes settings.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchedulerConfigError {
    /// A number outside its range.
    #[error("scheduler.{key} = {value}: {rule}")]
    OutOfRange {
        /// The setting, below `scheduler`.
        key: &'static str,
        /// The value given.
        value: f64,
        /// The range it must be in.
        rule: &'static str,
    },
    /// `[scheduler.kubernetes]`.
    #[error(transparent)]
    Kubernetes(#[from] crate::kubernetes::KubernetesConfigError),
}

impl SchedulerConfig {
    /// Refuses what the verbs are not defined for: a health floor outside 0..=100, a
    /// negative weight or all weights zero, a rebalance threshold outside (0, 1], and
    /// contradictory Kubernetes settings.
    pub fn validate(&self) -> Result<(), SchedulerConfigError> {
        let w = &self.weights;
        let checks = [
            ("min_health", self.min_health, (0.0..=100.0).contains(&self.min_health), "must be in [0, 100]"),
            ("weights.headroom", w.headroom, w.headroom >= 0.0, "a weight is 0 or more"),
            ("weights.fragmentation", w.fragmentation, w.fragmentation >= 0.0, "a weight is 0 or more"),
            ("weights.cost", w.cost, w.cost >= 0.0, "a weight is 0 or more"),
            (
                "weights",
                w.headroom + w.fragmentation + w.cost,
                w.headroom + w.fragmentation + w.cost > 0.0,
                "at least one weight above 0",
            ),
            (
                "rebalance.threshold",
                self.rebalance.threshold,
                self.rebalance.threshold > 0.0 && self.rebalance.threshold <= 1.0,
                "must be in (0, 1]",
            ),
        ];
        if let Some((key, value, _, rule)) = checks.into_iter().find(|(_, _, ok, _)| !ok) {
            return Err(SchedulerConfigError::OutOfRange { key, value, rule });
        }
        Ok(self.kubernetes.validate()?)
    }
}

/// Relative weights of the terms of `prioritize` (see [`crate::prioritize`]); only their
/// ratios matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Predicted headroom (1 − predicted pressure, with burst damping).
    pub headroom: f64,
    /// GPU fragmentation growth avoided (FGD).
    pub fragmentation: f64,
    /// Cheaper capacity.
    pub cost: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Self { headroom: 2.0, fragmentation: 1.0, cost: 0.5 }
    }
}
