//! Every published per-node quantity ([`NODE_QUANTITIES`]) reaches all four outputs with the
//! same value: the `node_scores` Arrow rows (SQL and Parquet), the JSON of `/api/v1/nodes`,
//! the `/metrics` gauges and the gRPC `NodeScore` message.

use ironspider::scores_grpc::node_score;
use ironspider_engine::score_metrics::ScoresCollector;
use ironspider_engine::tables::node_scores_batch;
use ironspider_scores::cost::{NodeCost, PerResource};
use ironspider_scores::quantity::Gauge;
use ironspider_scores::{NODE_QUANTITIES, NodeScore, PublishedScores, Quantity, ScoresSnapshot};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use std::sync::Arc;

/// A node whose every quantity is known and distinct from the others.
fn score() -> NodeScore {
    NodeScore {
        node: "n1".into(),
        cpu: Some(0.11),
        memory: Some(0.22),
        gpu: Some(0.33),
        gpu_memory: Some(0.44),
        pressure: Some(0.55),
        health: 66.0,
        cost_per_hour: 6.0,
        idle_cost_per_hour: 0.875,
        cost: NodeCost {
            cost: PerResource { cpu: 1.0, memory: 2.0, gpu: 3.0 },
            idle: PerResource { cpu: 0.5, memory: 0.25, gpu: 0.125 },
        },
        updated_at: 1_700_000_000_000_000_000,
        reported: true,
        anomalies: vec![("cpu", 0.125), ("memory", 0.77)],
        peer_deviation: vec![("cpu", 1.5), ("memory", 2.25)],
        ..NodeScore::default()
    }
}

fn expected(quantity: &Quantity, score: &NodeScore) -> f64 {
    (quantity.value)(score).unwrap_or_else(|| panic!("the fixture gives `{}` no value: give it one", quantity.name))
}

/// The node's value of `quantity` on `/metrics`: its one sample, the sum of its parts, or the
/// highest of its resources' samples.
fn gauge_value(families: &[MetricFamily], quantity: &Quantity) -> f64 {
    let family = quantity.gauge.family();
    let found = families.iter().find(|f| f.name() == family.name);
    let metrics = found.unwrap_or_else(|| panic!("no family {} for `{}`", family.name, quantity.name)).get_metric();
    let resource = |m: &prometheus::proto::Metric| {
        m.get_label().iter().find(|l| l.name() == "resource").map(|l| l.value().to_string())
    };
    let node_metrics = metrics.iter().filter(|m| m.get_label().iter().any(|l| l.name() == "node" && l.value() == "n1"));
    match quantity.gauge {
        Gauge::Single { resource: wanted, .. } => {
            let mut matching = node_metrics.filter(|m| resource(m).as_deref() == wanted);
            let metric = matching.next().unwrap_or_else(|| panic!("no sample of `{}`", quantity.name));
            assert!(matching.next().is_none(), "one sample of `{}`", quantity.name);
            metric.get_gauge().get_value()
        }
        Gauge::Parts { .. } => node_metrics.map(|m| m.get_gauge().get_value()).sum(),
        // Each resource a sample of its own; the quantity is their highest (of the absolute
        // values, for the peer deviation: the fixture's are positive).
        Gauge::Each { .. } => node_metrics.map(|m| m.get_gauge().get_value()).fold(f64::NEG_INFINITY, f64::max),
    }
}

#[test]
fn every_quantity_reaches_sql_json_metrics_and_grpc_with_the_same_value() {
    let score = score();
    let snapshot = ScoresSnapshot {
        window_end: score.updated_at,
        nodes: [(score.node.clone(), score.clone())].into(),
        ..ScoresSnapshot::default()
    };
    let rows = node_scores_batch(&snapshot);
    let json = serde_json::to_value(&score).expect("JSON");
    let published = Arc::new(PublishedScores::default());
    published.set(snapshot.clone());
    let families = ScoresCollector::new(published).expect("collector").collect();
    let message = node_score(&score);
    for quantity in &NODE_QUANTITIES {
        let want = expected(quantity, &score);
        let column = rows.column_by_name(quantity.name).unwrap_or_else(|| panic!("no column `{}`", quantity.name));
        let column = column.as_any().downcast_ref::<arrow::array::Float64Array>().expect("a Float64 column");
        assert_eq!(column.value(0), want, "node_scores.{}", quantity.name);
        assert_eq!(json[quantity.name].as_f64(), Some(want), "JSON key `{}`", quantity.name);
        assert_eq!(message.values.get(quantity.name), Some(&want), "gRPC values[{}]", quantity.name);
        assert_eq!(gauge_value(&families, quantity), want, "/metrics of `{}`", quantity.name);
    }
    assert_eq!(json["updated_at"], "2023-11-14T22:13:20Z", "times are formatted at the JSON edge");
    assert_eq!(message.updated_at_unix_nano, 1_700_000_000_000_000_000);
}
