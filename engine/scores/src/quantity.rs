//! One definition per published per-node quantity.
//!
//! Every number the engine publishes per node and window is one [`Quantity`] of
//! [`NODE_QUANTITIES`]: its name, whether a window's row shows it only when the node reported
//! in that window, how it is read off a [`NodeScore`], and the Prometheus gauge it becomes.
//! Every output is produced from this list, so a quantity in it reaches all of them and one
//! left out reaches none:
//!
//! | output | what the list gives it |
//! |---|---|
//! | `node_scores` (SQL, `replay`'s Parquet) | a nullable `Float64` column per quantity, after `window_end` and `node` |
//! | `/api/v1/nodes` (JSON) | a key per quantity, null when unknown ([`NodeScore`]'s `Serialize`) |
//! | `/metrics` | a sample in the quantity's [`Gauge`] family |
//! | gRPC `ironspider.v1.Scores` | an entry of `NodeScore.values`, keyed by name |
//!
//! ```
//! use ironspider_scores::{NODE_QUANTITIES, NodeScore};
//! let score = NodeScore { cpu: Some(0.5), health: 80.0, reported: true, ..NodeScore::default() };
//! let known: Vec<(&str, f64)> =
//!     NODE_QUANTITIES.iter().filter_map(|q| (q.value)(&score).map(|v| (q.name, v))).collect();
//! assert_eq!(&known[..2], [("cpu", 0.5), ("health", 80.0)]);
//! ```
//!
//! Adding a quantity: compute it in its formula's module, keep it in a [`NodeScore`] field
//! set by the score book, and append one entry here (docs/architecture.md, "Add a node
//! quantity").

use crate::cost::PerResource;
use crate::snapshot::NodeScore;

/// When a window's row of `node_scores` shows a quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Only when the node reported in that window (utilisation and pressure are measured;
    /// a silent node's row has them null). Null also when unknown.
    Reported,
    /// In every row: the value is always known (health and cost go on while a node is
    /// silent). The column is not nullable.
    Always,
}

/// A Prometheus gauge family: samples are labelled `node`, and `resource` when
/// [`Family::by_resource`].
#[derive(Debug, PartialEq, Eq)]
pub struct Family {
    /// Metric name.
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Whether samples carry a `resource` label.
    pub by_resource: bool,
}

/// How a quantity appears on `/metrics`.
#[derive(Debug, Clone, Copy)]
pub enum Gauge {
    /// One sample in `family` (labelled `resource` when given), absent while unknown.
    Single {
        /// The family.
        family: &'static Family,
        /// The `resource` label, for families that have one.
        resource: Option<&'static str>,
    },
    /// The value broken down by resource: one sample per part (`cpu`, `memory`, `gpu`),
    /// the parts summing to the value, so that `sum by (node)` gives it back.
    Parts {
        /// The family (labelled by resource).
        family: &'static Family,
        /// The parts.
        parts: fn(&NodeScore) -> PerResource,
    },
    /// One sample per resource the score lists, each a value of its own (the quantity is a
    /// summary of them, such as their highest).
    Each {
        /// The family (labelled by resource).
        family: &'static Family,
        /// The `(resource, value)` pairs.
        values: fn(&NodeScore) -> &[(&'static str, f64)],
    },
}

impl Gauge {
    /// The family the gauge writes to.
    pub fn family(&self) -> &'static Family {
        match self {
            Gauge::Single { family, .. } | Gauge::Parts { family, .. } | Gauge::Each { family, .. } => family,
        }
    }

    /// The `(resource label, value)` samples of `score`, where `value` is what
    /// [`Quantity::value`] read.
    pub fn samples(&self, score: &NodeScore, value: Option<f64>) -> Vec<(Option<&'static str>, f64)> {
        match self {
            Gauge::Single { resource, .. } => value.map(|v| (*resource, v)).into_iter().collect(),
            Gauge::Parts { parts, .. } => {
                let parts = parts(score);
                vec![(Some("cpu"), parts.cpu), (Some("memory"), parts.memory), (Some("gpu"), parts.gpu)]
            }
            Gauge::Each { values, .. } => values(score).iter().map(|(resource, v)| (Some(*resource), *v)).collect(),
        }
    }
}

/// One published per-node quantity.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    /// Column, JSON key and gRPC key.
    pub name: &'static str,
    /// When a window's row shows it.
    pub presence: Presence,
    /// The value in a node's score, `None` when unknown.
    pub value: fn(&NodeScore) -> Option<f64>,
    /// Its `/metrics` gauge.
    pub gauge: Gauge,
}

impl Quantity {
    /// The value in the row of the snapshot's window: hidden for [`Presence::Reported`]
    /// quantities of a node that did not report in it.
    pub fn in_window(&self, score: &NodeScore) -> Option<f64> {
        match self.presence {
            Presence::Reported if !score.reported => None,
            _ => (self.value)(score),
        }
    }
}

/// `ironspider_node_pressure{node}`.
pub static PRESSURE: Family =
    Family { name: "ironspider_node_pressure", help: "Node pressure, 0 to 1.", by_resource: false };
/// `ironspider_node_health{node}`.
pub static HEALTH: Family =
    Family { name: "ironspider_node_health", help: "Node health index, 0 to 100.", by_resource: false };
/// `ironspider_node_cost_per_hour{node,resource}`.
pub static COST: Family =
    Family { name: "ironspider_node_cost_per_hour", help: "Hourly price of the node, by resource.", by_resource: true };
/// `ironspider_node_idle_cost_per_hour{node,resource}`.
pub static IDLE_COST: Family = Family {
    name: "ironspider_node_idle_cost_per_hour",
    help: "Idle part of the node's hourly price, by resource.",
    by_resource: true,
};
/// `ironspider_node_utilization_ratio{node,resource}`.
pub static UTILISATION: Family = Family {
    name: "ironspider_node_utilization_ratio",
    help: "Node resource utilisation in the newest window, 0 to 1.",
    by_resource: true,
};

/// `ironspider_node_anomaly_score{node,resource}`.
pub static ANOMALY: Family = Family {
    name: "ironspider_node_anomaly_score",
    help: "Anomaly score of the node's resource in its newest forecasting step, 0 to 1.",
    by_resource: true,
};

/// `ironspider_node_peer_deviation{node,resource}`.
pub static PEER_DEVIATION: Family = Family {
    name: "ironspider_node_peer_deviation",
    help: "Modified z-score of the node's resource among the nodes of its shape in the newest window.",
    by_resource: true,
};

const fn utilisation(name: &'static str, value: fn(&NodeScore) -> Option<f64>) -> Quantity {
    Quantity {
        name,
        presence: Presence::Reported,
        value,
        gauge: Gauge::Single { family: &UTILISATION, resource: Some(name) },
    }
}

/// Every published per-node quantity, in column order.
pub static NODE_QUANTITIES: [Quantity; 10] = [
    utilisation("cpu", |s| s.cpu),
    utilisation("memory", |s| s.memory),
    utilisation("gpu", |s| s.gpu),
    utilisation("gpu_memory", |s| s.gpu_memory),
    Quantity {
        name: "pressure",
        presence: Presence::Reported,
        value: |s| s.pressure,
        gauge: Gauge::Single { family: &PRESSURE, resource: None },
    },
    Quantity {
        name: "health",
        presence: Presence::Always,
        value: |s| Some(s.health),
        gauge: Gauge::Single { family: &HEALTH, resource: None },
    },
    Quantity {
        name: "cost_per_hour",
        presence: Presence::Always,
        value: |s| Some(s.cost_per_hour),
        gauge: Gauge::Parts { family: &COST, parts: |s| s.cost.cost },
    },
    Quantity {
        name: "idle_cost_per_hour",
        presence: Presence::Always,
        value: |s| Some(s.idle_cost_per_hour),
        gauge: Gauge::Parts { family: &IDLE_COST, parts: |s| s.cost.idle },
    },
    Quantity {
        name: "anomaly",
        presence: Presence::Reported,
        value: |s| s.anomalies.iter().map(|(_, score)| *score).reduce(f64::max),
        gauge: Gauge::Each { family: &ANOMALY, values: |s| &s.anomalies },
    },
    Quantity {
        name: "peer_deviation",
        presence: Presence::Reported,
        value: |s| s.peer_deviation.iter().map(|(_, m)| m.abs()).reduce(f64::max),
        gauge: Gauge::Each { family: &PEER_DEVIATION, values: |s| &s.peer_deviation },
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_a_silent_node_hides_only_measured_quantities() {
        let mut names: Vec<&str> = NODE_QUANTITIES.iter().map(|q| q.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NODE_QUANTITIES.len());
        let silent = NodeScore { cpu: Some(0.5), health: 40.0, reported: false, ..NodeScore::default() };
        let shown: Vec<Option<f64>> = NODE_QUANTITIES.iter().map(|q| q.in_window(&silent)).collect();
        assert_eq!(shown, [None, None, None, None, None, Some(40.0), Some(0.0), Some(0.0), None, None]);
    }

    #[test]
    fn the_anomaly_quantity_is_the_highest_resource_score_and_each_is_a_sample() {
        let score =
            NodeScore { anomalies: vec![("cpu", 0.2), ("memory", 0.9)], reported: true, ..NodeScore::default() };
        let quantity = NODE_QUANTITIES.iter().find(|q| q.name == "anomaly").expect("listed");
        assert_eq!((quantity.value)(&score), Some(0.9));
        assert_eq!(quantity.gauge.samples(&score, Some(0.9)), [(Some("cpu"), 0.2), (Some("memory"), 0.9)]);
        assert_eq!((quantity.value)(&NodeScore::default()), None, "no detector has scored it");
    }

    #[test]
    fn cost_parts_sum_to_the_published_total() {
        let score = NodeScore {
            cost_per_hour: 0.6,
            cost: crate::cost::NodeCost { cost: PerResource { cpu: 0.1, memory: 0.2, gpu: 0.3 }, ..Default::default() },
            ..NodeScore::default()
        };
        let quantity = &NODE_QUANTITIES[6];
        let samples = quantity.gauge.samples(&score, (quantity.value)(&score));
        assert_eq!(samples, [(Some("cpu"), 0.1), (Some("memory"), 0.2), (Some("gpu"), 0.3)]);
        let total: f64 = samples.iter().map(|(_, v)| v).sum();
        assert!((total - 0.6).abs() < 1e-12);
    }
}
