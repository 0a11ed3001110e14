//! Scoring one closed window of 10,000 nodes × 20 series: node frames from the window's
//! aggregates, the score book's record and publish (pressure, health, cost for every node),
//! and the `node_scores` rows. Baseline in the same run: aggregating that window's raw
//! samples (one per series), the work the engine already does for every window.
//! Run: `cargo bench --bench scoring`.

use criterion::{Criterion, criterion_group, criterion_main};
use ironspider_engine::aggregate::{NumberColumns, SeriesAggregate, aggregate_numbers};
use ironspider_engine::frame::node_frames;
use ironspider_engine::tables::node_scores_batch;
use ironspider_engine::{SeriesInfo, SeriesInterner, SeriesKind};
use ironspider_scores::ScoreConfig;
use ironspider_scores::{PublishedScores, ScoreBook};
use std::hint::black_box;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODES: usize = 10_000;
const WINDOW_NS: i64 = 10_000_000_000;

/// The 20 series of a node with 8 CPUs and 4 GPUs: (metric, device, attributes).
fn node_series() -> Vec<(&'static str, String, String)> {
    let mut series: Vec<(&str, String, String)> =
        (0..8).map(|cpu| ("system.cpu.utilization", cpu.to_string(), format!("cpu={cpu},state=idle"))).collect();
    series.push(("system.memory.usage", String::new(), "state=used".into()));
    series.push(("system.memory.usage", String::new(), "state=free".into()));
    for gpu in 0..4 {
        series.push(("hw.gpu.utilization", format!("gpu{gpu}"), format!("hw.id=gpu{gpu}")));
        series.push(("hw.gpu.memory.usage", format!("gpu{gpu}"), format!("hw.id=gpu{gpu}")));
    }
    series.push(("system.cpu.logical.count", String::new(), String::new()));
    series.push(("system.pressure.cpu.some", String::new(), String::new()));
    series
}

/// A series table of every node's series, and one value per series (deterministic, varied).
fn window() -> (SeriesInterner, Vec<f64>) {
    let interner = SeriesInterner::new(NODES * 32);
    let mut values = Vec::new();
    for node in 0..NODES {
        for (i, (metric, device, attributes)) in node_series().into_iter().enumerate() {
            let info = SeriesInfo {
                node: Some(format!("node-{node:05}")),
                metric: metric.into(),
                device: (!device.is_empty()).then_some(device),
                attributes,
                kind: Some(SeriesKind::Gauge),
                ..SeriesInfo::default()
            };
            interner.register((node * 32 + i) as u64, info).expect("room for every series");
            let value = match metric {
                "system.memory.usage" => 1e9 * (1.0 + (node % 7) as f64),
                "system.cpu.logical.count" => 8.0,
                _ => ((node * 31 + i * 17) % 100) as f64 / 100.0,
            };
            values.push(value);
        }
    }
    (interner, values)
}

fn aggregates_of(values: &[f64]) -> Vec<SeriesAggregate> {
    let series: Vec<u32> = (0..values.len() as u32).collect();
    let ts = vec![WINDOW_NS / 2; values.len()];
    aggregate_numbers(NumberColumns { series: &series, ts: &ts, value: values }, 10.0, |_| SeriesKind::Gauge)
}

fn scoring(c: &mut Criterion) {
    let (interner, values) = window();
    let aggregates = aggregates_of(&values);
    let book = ScoreBook::new(ScoreConfig::default(), WINDOW_NS, Arc::new(PublishedScores::default()));
    let mut window_end = 0;
    let mut group = c.benchmark_group("window_10k_nodes_20_series");
    group.sample_size(20);
    group.bench_function("score", |b| {
        b.iter(|| {
            window_end += WINDOW_NS;
            let frames = node_frames(black_box(&aggregates), &interner.read());
            book.record(window_end, frames);
            book.publish(window_end);
            node_scores_batch(&book.snapshot()).num_rows()
        })
    });
    group.bench_function("aggregate (baseline)", |b| b.iter(|| aggregates_of(black_box(&values)).len()));
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
