//! Live forecasting at a window close for 10,000 nodes × 5 resources (cpu, memory, gpu,
//! gpu_memory, pressure), on one core, with the engine's defaults (10 s windows, 5-minute
//! steps, horizons 1, 3 and 12 steps, bands of 576 errors) and the catalogue's default
//! model, alone and with the default anomaly detector beside every tracker (fed the same
//! step values, as `serve` runs them); in the same run the naive model's trackers as the
//! baseline. The nodes' steps are
//! staggered (the default, `engine.forecast.stagger`): each window close completes the steps
//! of one phase of 30, about a thirtieth of the trackers, so the time that matters is the
//! slowest of a step's 30 closes (each sample runs a whole step and counts its slowest
//! window). Beside them, the same trackers not staggered, every one fed at one close in 30
//! (the case before staggering), and an ordinary window of a grid whose steps never end
//! (the sums only). Trackers are warmed up first with 600 steps, so that every band window
//! is full, as in a serve that has run two days.
//!
//! The heap is the binary's (mimalloc, `src/main.rs`): where the allocator puts the trackers'
//! state decides how many cache and TLB misses a close takes (under glibc's allocator the
//! closes were about a third slower, BENCHMARKS.md). A wrapper counts its live bytes
//! (`benches/counting`): the forecasting state (trackers, sums, the published snapshot) per
//! node and resource, printed before the timings.
//!
//! Run: `cargo bench --bench forecasting` (BENCHMARKS.md, "Live forecasts"). Without
//! `--bench` (under `cargo test`) it runs a small version as a smoke test: 200 nodes, 70
//! steps of warm-up (enough for every horizon's band).

use criterion::{Criterion, criterion_group, criterion_main};
use ironspider_engine::ForecastConfig;
use ironspider_engine::forecasts::LiveForecasts;
use ironspider_models::{anomaly, forecast};
use ironspider_scores::{NodeScore, ScoresSnapshot};
use std::collections::BTreeMap;
use std::hint::black_box;

mod counting;

// The binary's allocator (`src/main.rs`), counted: the trackers' heap is laid out as in `serve`.
#[global_allocator]
static ALLOCATOR: counting::Counting<mimalloc::MiMalloc> = counting::Counting(mimalloc::MiMalloc);

const RESOURCES: usize = 5;
const STEP_NS: i64 = 300_000_000_000;
const WINDOW_NS: i64 = 10_000_000_000;
/// Nodes and steps fed before timing: 10,000 and more than a band window (576) and the
/// longest horizon (12); 200 and 70 under `cargo test`.
fn scale() -> (usize, i64) {
    if std::env::args().any(|a| a == "--bench") { (10_000, 600) } else { (200, 70) }
}
/// Distinct windows of values, cycled.
const PATTERNS: usize = 48;

/// Each node's five values in window `w`: a daily wave with a phase per node, and
/// deterministic noise (xorshift), clamped to [0, 1].
fn scores(pattern: usize, nodes: usize) -> ScoresSnapshot {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ pattern as u64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let nodes = (0..nodes)
        .map(|n| {
            let phase = std::f64::consts::TAU * (pattern as f64 / PATTERNS as f64 + n as f64 / nodes as f64);
            let mut value = |level: f64| (level + 0.2 * phase.sin() + 0.1 * noise()).clamp(0.0, 1.0);
            let score = NodeScore {
                node: format!("node-{n:05}"),
                cpu: Some(value(0.5)),
                memory: Some(value(0.6)),
                gpu: Some(value(0.4)),
                gpu_memory: Some(value(0.5)),
                pressure: Some(value(0.5)),
                reported: true,
                ..NodeScore::default()
            };
            (score.node.clone(), score)
        })
        .collect::<BTreeMap<_, _>>();
    ScoresSnapshot { nodes, ..ScoresSnapshot::default() }
}

/// Windows of a step.
const WINDOWS_PER_STEP: i64 = STEP_NS / WINDOW_NS;

/// Live forecasts of `model` with the engine's defaults, staggered or not, with an anomaly
/// detector of the catalogue's `detector` on every node and resource when named.
fn forecaster(model: &str, stagger: bool, detector: Option<&str>) -> LiveForecasts {
    let config = ForecastConfig { model: model.to_string(), stagger, ..ForecastConfig::default() };
    let live = LiveForecasts::new(&config, (WINDOW_NS / 1_000_000_000) as u64, &prometheus::Registry::new())
        .expect("valid settings");
    match detector {
        Some(name) => live.watching(name).expect("a detector of the catalogue"),
        None => live,
    }
}

/// Records window `w` (10 s) with the values of its step's pattern; returns the steps it
/// completed.
fn window(live: &LiveForecasts, patterns: &[ScoresSnapshot], w: i64) -> usize {
    let scores = &patterns[(w / WINDOWS_PER_STEP) as usize % patterns.len()];
    live.record(w * WINDOW_NS, (w + 1) * WINDOW_NS, scores).len()
}

/// Warms `model`'s trackers (and `detector`'s detectors) up, staggered or not, and prints
/// their memory per node and resource; returns them with the next window.
fn warmed(model: &str, stagger: bool, detector: Option<&str>, patterns: &[ScoresSnapshot]) -> (LiveForecasts, i64) {
    let before = counting::live_bytes();
    let live = forecaster(model, stagger, detector);
    let started = std::time::Instant::now();
    let (nodes, warm_up) = scale();
    let windows = warm_up * WINDOWS_PER_STEP;
    for w in 0..windows {
        window(&live, patterns, w);
    }
    let bytes = (counting::live_bytes() - before) as f64;
    let trackers = (nodes * RESOURCES) as f64;
    let snapshot = live.snapshot();
    let phases = (0..live.phases()).map(|p| snapshot.phase_nodes(p).len());
    let largest = phases.max().unwrap_or(0);
    println!(
        "{model} (stagger {stagger}, detector {detector:?}): {} forecasts published; {:.1} MiB of forecasting state, {:.0} bytes per node \
         and resource (the tracker's own part {} bytes); {} phases, the largest of {largest} nodes \
         (mean {:.0}); warm-up {warm_up} steps of {nodes} nodes in {:.1} s",
        snapshot.len(),
        bytes / 1048576.0,
        bytes / trackers,
        tracker_bytes(model),
        live.phases(),
        nodes as f64 / live.phases() as f64,
        started.elapsed().as_secs_f64()
    );
    (live, windows)
}

/// `Tracker::state_bytes` with the engine's defaults: the band and the tracker, without the
/// model's own state.
fn tracker_bytes(model: &str) -> usize {
    let settings = ForecastConfig { model: model.to_string(), ..ForecastConfig::default() }
        .tracker_settings(300)
        .expect("valid settings");
    ironspider_models::Tracker::new(std::sync::Arc::new(settings)).state_bytes()
}

fn forecasting(c: &mut Criterion) {
    let patterns: Vec<ScoresSnapshot> = (0..PATTERNS).map(|p| scores(p, scale().0)).collect();
    let mut group = c.benchmark_group(format!("window_close_{}_nodes_5_resources", scale().0));
    group.sample_size(10);
    // The default model alone, with the default detector beside each tracker (as `serve`
    // runs them), and the naive baseline.
    for (model, detector) in [(forecast::DEFAULT, None), (forecast::DEFAULT, Some(anomaly::DEFAULT)), ("naive", None)] {
        let (live, mut w) = warmed(model, true, detector, &patterns);
        let label = match (model, detector) {
            ("naive", _) => "naive (baseline)".to_string(),
            (_, Some(detector)) => format!("{model} (default) with {detector} detectors"),
            _ => format!("{model} (default)"),
        };
        // Each iteration: one step's 30 window closes, counted as its slowest.
        group.bench_function(format!("slowest window of a step, staggered, {label}"), |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    let mut slowest = std::time::Duration::ZERO;
                    for _ in 0..WINDOWS_PER_STEP {
                        let started = std::time::Instant::now();
                        black_box(window(&live, &patterns, w));
                        slowest = slowest.max(started.elapsed());
                        w += 1;
                    }
                    total += slowest;
                }
                total
            })
        });
        drop(live);
    }
    // Not staggered: every tracker fed at the close that ends the step.
    let (live, mut w) = warmed(forecast::DEFAULT, false, None, &patterns);
    group.bench_function(format!("step-completing window, not staggered, {} (default)", forecast::DEFAULT), |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                for _ in 0..WINDOWS_PER_STEP - 1 {
                    window(&live, &patterns, w);
                    w += 1;
                }
                let started = std::time::Instant::now();
                black_box(window(&live, &patterns, w));
                total += started.elapsed();
                w += 1;
            }
            total
        })
    });
    drop(live);
    // An ordinary window: its sums only. A step so long that none completes during the run.
    let ordinary = {
        let long = 10_000_000;
        let config = ForecastConfig {
            step_seconds: long,
            season_seconds: long,
            horizons_seconds: vec![long],
            ..ForecastConfig::default()
        };
        LiveForecasts::new(&config, 10, &prometheus::Registry::new()).expect("valid settings")
    };
    let mut w = 0;
    group.bench_function("ordinary window (sums only)", |b| {
        b.iter(|| {
            w += 1;
            let done = ordinary.record(w * WINDOW_NS, (w + 1) * WINDOW_NS, &patterns[w as usize % PATTERNS]);
            black_box(done.len())
        })
    });
    group.finish();
}

criterion_group!(benches, forecasting);
criterion_main!(benches);
