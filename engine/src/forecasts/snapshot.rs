//! What live forecasting publishes after every completed step: one immutable
//! [`ForecastsSnapshot`], replaced whole in a [`PublishedForecasts`], so that readers (the
//! HTTP API, `/metrics`, gRPC) take it with an `Arc` clone and never wait for ingest.
//!
//! A node's forecasts are those of its trackers as of the newest step each was fed: a node
//! silent in the newest step keeps the forecasts it had, with their older `issued_at`, until
//! its state is dropped (`max_gap_steps` steps after its last value). A forecast is issued
//! at the end of the step it was made from (`issued_at`, ns since the epoch) for
//! `horizon_seconds` after it.
//!
//! **Shards.** The nodes are held in one shard per phase (the `super` module doc: nodes
//! whose steps end at the same window close), each shared by `Arc`: a window close that
//! completes one phase's steps rebuilds that shard alone, and the snapshot it publishes
//! shares the others with the one before, so publishing costs the nodes that changed, not
//! all of them. Readers see the nodes in name order ([`ForecastsSnapshot::nodes`] merges the
//! shards).

use ironspider_scores::{Published, rfc3339};
use serde::Serialize;
use serde::ser::Serializer;
use std::sync::Arc;

/// The resources forecast per node: the node quantities of these names
/// (`ironspider_scores::NODE_QUANTITIES`), read as `node_scores` shows them.
pub const RESOURCES: [&str; 5] = ["cpu", "memory", "gpu", "gpu_memory", "pressure"];

/// Why forecasts are missing, with how many (node, resource, horizon) lack one in a snapshot.
pub const UNAVAILABLE_REASONS: [&str; 4] = ["warming_up", "calibrating", "not_finite", "no_data"];

/// One forecast of a node's resource at one horizon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// One of [`RESOURCES`].
    pub resource: &'static str,
    /// How far after `issued_at` it forecasts.
    pub horizon_seconds: u64,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// End of the step it was made from, ns since the epoch.
    pub issued_at: i64,
}

/// The anomaly score a resource's detector gave the newest step it was fed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnomalyScore {
    /// One of [`RESOURCES`].
    pub resource: &'static str,
    /// In [0, 1]: how unusual the step's value was against the values before it.
    pub score: f64,
    /// The step's value.
    pub value: f64,
    /// End of the step, ns since the epoch (RFC 3339 in JSON).
    #[serde(serialize_with = "as_rfc3339")]
    pub at: i64,
}

/// A node's forecasts, by resource (in [`RESOURCES`] order) then horizon, and its anomaly
/// scores.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeForecasts {
    /// Node name.
    pub node: Arc<str>,
    /// Its forecasts; empty while every tracker of the node is warming up.
    pub forecasts: Vec<Forecast>,
    /// Each resource's newest anomaly score, in [`RESOURCES`] order; empty when anomaly
    /// detection is off.
    pub anomalies: Vec<AnomalyScore>,
    /// How many of its trackers' (resource, horizon) have no forecast, by the reasons of
    /// [`UNAVAILABLE_REASONS`] (same order).
    pub unavailable: [u64; UNAVAILABLE_REASONS.len()],
}

/// Everything readers see of the forecasts, replaced whole after each completed step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForecastsSnapshot {
    /// End of the newest step completed (ns since the epoch), 0 before any.
    pub step_end: i64,
    /// The model's catalogue name.
    pub model: &'static str,
    /// The nodes with forecasting state, by phase (module doc).
    shards: Vec<Arc<Shard>>,
    /// How many (node, resource, horizon) have no forecast, by the reasons of
    /// [`UNAVAILABLE_REASONS`] (same order).
    pub unavailable: [u64; UNAVAILABLE_REASONS.len()],
}

/// One phase's nodes, ascending by name, and their forecasts missing by reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shard {
    /// The phase's nodes with forecasting state, ascending by name.
    pub nodes: Vec<NodeForecasts>,
    /// As [`ForecastsSnapshot::unavailable`], for these nodes: the sum of theirs.
    pub unavailable: [u64; UNAVAILABLE_REASONS.len()],
}

impl Shard {
    /// A shard of `nodes` (ascending by name), its `unavailable` the sum of theirs.
    pub fn of_nodes(nodes: Vec<NodeForecasts>) -> Self {
        let mut unavailable = [0; UNAVAILABLE_REASONS.len()];
        for node in &nodes {
            for (total, n) in unavailable.iter_mut().zip(node.unavailable) {
                *total += n;
            }
        }
        Self { nodes, unavailable }
    }
}

/// The newest forecasts, shared by the engine (which replaces them) and their readers.
pub type PublishedForecasts = Published<ForecastsSnapshot>;

/// One published forecast row: the JSON of `GET /api/v1/forecasts` (`issued_at` in RFC 3339
/// like `/api/v1/nodes`' `updated_at`) and the columns of the `forecasts` table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastRow<'a> {
    /// Node name.
    pub node: &'a str,
    /// One of [`RESOURCES`].
    pub resource: &'static str,
    /// How far after `issued_at`.
    pub horizon_seconds: u64,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// The model's catalogue name.
    pub model: &'static str,
    /// End of the step it was made from, ns since the epoch.
    #[serde(serialize_with = "as_rfc3339")]
    pub issued_at: i64,
}

fn as_rfc3339<S: Serializer>(ns: &i64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&rfc3339(*ns))
}

impl ForecastsSnapshot {
    /// A snapshot of `nodes` (ascending by name) in one shard.
    pub fn new(step_end: i64, model: &'static str, nodes: Vec<NodeForecasts>) -> Self {
        Self::of_shards(step_end, model, vec![Arc::new(Shard::of_nodes(nodes))])
    }

    /// A snapshot of `shards` (one per phase), its `unavailable` their sum.
    pub fn of_shards(step_end: i64, model: &'static str, shards: Vec<Arc<Shard>>) -> Self {
        let mut unavailable = [0; UNAVAILABLE_REASONS.len()];
        for shard in &shards {
            for (total, n) in unavailable.iter_mut().zip(shard.unavailable) {
                *total += n;
            }
        }
        Self { step_end, model, shards, unavailable }
    }

    /// A node's forecasts, when it has forecasting state.
    pub fn node(&self, name: &str) -> Option<&NodeForecasts> {
        self.shards.iter().find_map(|shard| {
            let at = shard.nodes.binary_search_by(|n| n.node.as_ref().cmp(name)).ok()?;
            shard.nodes.get(at)
        })
    }

    /// Every node with forecasting state, ascending by name.
    pub fn nodes(&self) -> Vec<&NodeForecasts> {
        let mut nodes: Vec<&NodeForecasts> = self.shards.iter().flat_map(|shard| &shard.nodes).collect();
        if self.shards.len() > 1 {
            nodes.sort_unstable_by(|a, b| a.node.cmp(&b.node));
        }
        nodes
    }

    /// Phase `phase`'s nodes (none for a phase it does not hold), ascending by name.
    pub fn phase_nodes(&self, phase: usize) -> &[NodeForecasts] {
        self.shards.get(phase).map_or(&[], |shard| &shard.nodes)
    }

    /// `node`'s rows, in the snapshot's order.
    pub fn node_rows<'s>(&'s self, node: &'s NodeForecasts) -> impl Iterator<Item = ForecastRow<'s>> + 's {
        node.forecasts.iter().map(move |f| ForecastRow {
            node: &node.node,
            resource: f.resource,
            horizon_seconds: f.horizon_seconds,
            p10: f.p10,
            p50: f.p50,
            p90: f.p90,
            model: self.model,
            issued_at: f.issued_at,
        })
    }

    /// Every row: nodes by name, then resource, then horizon.
    pub fn rows(&self) -> impl Iterator<Item = ForecastRow<'_>> {
        self.nodes().into_iter().flat_map(|node| self.node_rows(node))
    }

    /// Number of forecasts held.
    pub fn len(&self) -> usize {
        self.shards.iter().flat_map(|shard| &shard.nodes).map(|n| n.forecasts.len()).sum()
    }

    /// Whether it holds no forecast.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().flat_map(|shard| &shard.nodes).all(|n| n.forecasts.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_the_model_and_serialize_with_the_documented_keys() {
        let forecast = |resource, horizon_seconds, p50| Forecast {
            resource,
            horizon_seconds,
            p10: p50 - 0.25,
            p50,
            p90: p50 + 0.25,
            issued_at: 1_700_000_100_000_000_000,
        };
        let snapshot = ForecastsSnapshot::new(
            1_700_000_100_000_000_000,
            "naive",
            vec![
                NodeForecasts {
                    node: "a".into(),
                    forecasts: vec![forecast("cpu", 300, 0.5)],
                    anomalies: vec![],
                    unavailable: [0; 4],
                },
                NodeForecasts { node: "b".into(), forecasts: vec![], anomalies: vec![], unavailable: [0, 3, 0, 0] },
            ],
        );
        assert_eq!((snapshot.len(), snapshot.is_empty(), snapshot.unavailable), (1, false, [0, 3, 0, 0]));
        assert!(snapshot.node("b").is_some_and(|b| b.forecasts.is_empty()));
        assert!(snapshot.node("c").is_none());
        let json = serde_json::to_value(snapshot.rows().collect::<Vec<_>>()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "node": "a", "resource": "cpu", "horizon_seconds": 300, "p10": 0.25, "p50": 0.5,
                "p90": 0.75, "model": "naive", "issued_at": "2023-11-14T22:15:00Z"
            }])
        );
    }

    #[test]
    fn shards_are_read_as_one_list_in_name_order_and_their_counts_add_up() {
        let node = |name: &str, unavailable| NodeForecasts {
            node: name.into(),
            forecasts: vec![],
            anomalies: vec![],
            unavailable,
        };
        let shards = vec![
            Arc::new(Shard::of_nodes(vec![node("b", [1, 0, 0, 0]), node("d", [0, 0, 0, 2])])),
            Arc::new(Shard::of_nodes(vec![node("a", [0; 4]), node("c", [0, 3, 0, 0]), node("e", [0; 4])])),
        ];
        assert_eq!((shards[0].unavailable, shards[1].unavailable), ([1, 0, 0, 2], [0, 3, 0, 0]));
        let snapshot = ForecastsSnapshot::of_shards(7, "bank", shards);
        let names: Vec<&str> = snapshot.nodes().iter().map(|n| n.node.as_ref()).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e"]);
        assert_eq!(snapshot.unavailable, [1, 3, 0, 2]);
        assert!(snapshot.node("d").is_some() && snapshot.node("c").is_some() && snapshot.node("f").is_none());
        assert_eq!(snapshot.phase_nodes(1).len(), 3);
        assert!(snapshot.phase_nodes(2).is_empty());
    }
}
