//! What live forecasting publishes after every completed step: one immutable
//! [`ForecastsSnapshot`], replaced whole in a [`PublishedForecasts`], so that readers (the
//! HTTP API, `/metrics`, gRPC) take it with an `Arc` clone and never wait for ingest.
//!
//! A node's forecasts are those of its trackers as of the newest step each was fed: a node
//! silent in the newest step keeps the forecasts it had, with their older `issued_at`, until
//! its state is dropped (`max_gap_steps` steps after its last value). A forecast is issued
//! at the end of the step it was made from (`issued_at`, ns since the epoch) for
//! `horizon_seconds` after it.

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

/// A node's forecasts, by resource (in [`RESOURCES`] order) then horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeForecasts {
    /// Node name.
    pub node: Arc<str>,
    /// Its forecasts; empty while every tracker of the node is warming up.
    pub forecasts: Vec<Forecast>,
}

/// Everything readers see of the forecasts, replaced whole after each completed step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ForecastsSnapshot {
    /// End of the newest step completed (ns since the epoch), 0 before any.
    pub step_end: i64,
    /// The model's catalogue name.
    pub model: &'static str,
    /// Every node with forecasting state, ascending by name.
    pub nodes: Vec<NodeForecasts>,
    /// How many (node, resource, horizon) have no forecast, by the reasons of
    /// [`UNAVAILABLE_REASONS`] (same order).
    pub unavailable: [u64; UNAVAILABLE_REASONS.len()],
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
    /// A node's forecasts, when it has forecasting state.
    pub fn node(&self, name: &str) -> Option<&NodeForecasts> {
        let at = self.nodes.binary_search_by(|n| n.node.as_ref().cmp(name)).ok()?;
        self.nodes.get(at)
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
        self.nodes.iter().flat_map(|node| self.node_rows(node))
    }

    /// Number of forecasts held.
    pub fn len(&self) -> usize {
        self.nodes.iter().map(|n| n.forecasts.len()).sum()
    }

    /// Whether it holds no forecast.
    pub fn is_empty(&self) -> bool {
        self.nodes.iter().all(|n| n.forecasts.is_empty())
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
        let snapshot = ForecastsSnapshot {
            step_end: 1_700_000_100_000_000_000,
            model: "naive",
            nodes: vec![
                NodeForecasts { node: "a".into(), forecasts: vec![forecast("cpu", 300, 0.5)] },
                NodeForecasts { node: "b".into(), forecasts: vec![] },
            ],
            unavailable: [0, 3, 0, 0],
        };
        assert_eq!((snapshot.len(), snapshot.is_empty()), (1, false));
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
}
