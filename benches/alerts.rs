//! Evaluating the default alerting rules on 10,000 nodes, as `serve` does at every tick of
//! its closer: each node's scores (five resources, an anomaly score each) and its forecasts
//! (five resources × three horizons), through the rules' conditions and the state machine,
//! into a published snapshot. A tenth of the nodes hold a firing predictive alert (their
//! memory's p90 forecast above 0.95), so the state and the snapshot carry a thousand alerts.
//! Baseline in the same run: building the `node_scores` rows of the same snapshot, which
//! the engine does for every window.
//! Run: `cargo bench --bench alerts` (without `--bench`, under `cargo test`, 200 nodes).

use criterion::{Criterion, criterion_group, criterion_main};
use ironspider_engine::alerts::{Alerts, AlertsConfig};
use ironspider_engine::forecasts::{Forecast, ForecastsSnapshot, NodeForecasts, RESOURCES};
use ironspider_engine::tables::node_scores_batch;
use ironspider_scores::{NodeScore, ScoresSnapshot};
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECOND: i64 = 1_000_000_000;

fn nodes() -> usize {
    if std::env::args().any(|a| a == "--bench") { 10_000 } else { 200 }
}

/// Node `n`'s utilisation of resource `r`: spread over [0.2, 0.8).
fn level(n: usize, r: usize) -> f64 {
    0.2 + 0.6 * ((n * 7 + r * 13) % 100) as f64 / 100.0
}

fn scores(nodes: usize) -> ScoresSnapshot {
    let nodes = (0..nodes)
        .map(|n| {
            let score = NodeScore {
                node: format!("node-{n:05}"),
                cpu: Some(level(n, 0)),
                memory: Some(level(n, 1)),
                gpu: Some(level(n, 2)),
                gpu_memory: Some(level(n, 3)),
                pressure: Some(level(n, 4)),
                health: 100.0,
                reported: true,
                anomalies: RESOURCES.iter().enumerate().map(|(r, name)| (*name, level(n, r) / 10.0)).collect(),
                ..NodeScore::default()
            };
            (score.node.clone(), score)
        })
        .collect();
    ScoresSnapshot { nodes, ..ScoresSnapshot::default() }
}

/// Every node's forecasts; memory's p90 at 0.97 for one node in ten.
fn forecasts(nodes: usize) -> ForecastsSnapshot {
    let node = |n: usize| {
        let forecasts = RESOURCES.iter().enumerate().flat_map(|(r, resource)| {
            [300, 900, 3600].map(|horizon_seconds| {
                let hot = *resource == "memory" && n.is_multiple_of(10);
                let p50 = level(n, r);
                let p90 = if hot { 0.97 } else { p50 + 0.05 };
                Forecast { resource, horizon_seconds, p10: p50 - 0.05, p50, p90, issued_at: 0 }
            })
        });
        NodeForecasts {
            node: format!("node-{n:05}").into(),
            forecasts: forecasts.collect(),
            anomalies: Vec::new(),
            unavailable: [0; 4],
        }
    };
    ForecastsSnapshot::new(0, "bank", (0..nodes).map(node).collect())
}

fn evaluate(c: &mut Criterion) {
    let (scores, forecasts) = (scores(nodes()), forecasts(nodes()));
    let alerts = Alerts::new(&AlertsConfig::default(), 0.1138).expect("the default rules");
    let mut now = 0;
    let mut group = c.benchmark_group(format!("alerts_{}_nodes", nodes()));
    group.sample_size(20);
    group.bench_function("evaluate the default rules", |b| {
        b.iter(|| {
            now += SECOND;
            alerts.evaluate(black_box(&scores), black_box(&forecasts), now).alerts.len()
        })
    });
    assert_eq!(alerts.snapshot().alerts.len(), nodes() / 10, "one firing memory alert per ten nodes");
    group
        .bench_function("node_scores rows (baseline)", |b| b.iter(|| node_scores_batch(black_box(&scores)).num_rows()));
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
