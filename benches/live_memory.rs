//! Memory of the live store: bytes per active series and per retained sample, counted by a
//! global allocator that tracks live heap bytes (exact, unlike RSS).
//!
//! `cargo bench --bench live_memory` interns 100,000 series (the load generator's 5-attribute
//! gauges: 1,000 nodes × 100 metrics) and feeds each one sample every 10 s for an hour of
//! event time, 360 samples a series, through the real ingest path (fast decoder, batch
//! builder, engine) with a virtual clock, so that windows close and age as in `serve`.
//! Without `--bench` (under `cargo test`) it runs a small version as a smoke test. It also
//! prints the engine's own estimate of those bytes ([`Engine::live_bytes`], which
//! `engine.max_live_bytes` bounds) beside the counted heap.

use ironspider::payload::{PayloadShape, PayloadSpec, templates};
use ironspider_engine::{Engine, EngineConfig, ManualClock};
use ironspider_ingest::builder::BatchBuilder;
use ironspider_ingest::canonical::CanonicalMap;
use ironspider_ingest::fast;
use std::sync::Arc;

mod counting;

// The system allocator, as the results in BENCHMARKS.md were measured (the binary's is
// mimalloc: moving this bench to it is for the ingest-efficiency work, which restates them).
#[global_allocator]
static ALLOCATOR: counting::Counting<std::alloc::System> = counting::Counting(std::alloc::System);

fn live_bytes() -> f64 {
    counting::live_bytes() as f64
}

const SECOND: i64 = 1_000_000_000;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (nodes, samples_per_series) = if full { (1000, 360) } else { (10, 12) };
    let spec = PayloadSpec { shape: PayloadShape::Gauge5, nodes, metrics: 100, points_per_request: 1000, churn: false };
    let requests = templates(&spec, usize::MAX);
    let series = nodes * spec.metrics;

    let start = 1_700_000_000 * SECOND;
    let clock = Arc::new(ManualClock::new(start));
    // A live budget above what an hour of 100,000 series takes (about 3.8 GiB, past three
    // quarters of the default 4 GiB): every window is kept, none shed, to be measured.
    let config =
        EngineConfig { history: false, retention_seconds: 3600, max_live_bytes: 16 << 30, ..EngineConfig::default() };
    let engine = Engine::new(config, clock.clone(), &prometheus::Registry::new()).expect("engine");
    let mapping = CanonicalMap::new(&[]);
    let ingest = |ts: i64| {
        for request in &requests {
            let bytes = request.stamped(ts as u64);
            let mut builder = BatchBuilder::new(engine.series(), &mapping, 128);
            fast::decode(&bytes, &mut builder).expect("decodes");
            let (batch, _) = builder.finish();
            engine.apply(batch);
        }
    };

    let empty = live_bytes();
    // Interning alone: decode every request once without keeping its rows.
    for request in &requests {
        let bytes = request.stamped(start as u64);
        let mut builder = BatchBuilder::new(engine.series(), &mapping, 128);
        fast::decode(&bytes, &mut builder).expect("decodes");
    }
    let interned = live_bytes();
    assert_eq!(engine.series().len(), series);

    for step in 0..samples_per_series as i64 {
        let ts = start + step * 10 * SECOND;
        clock.advance_to(ts);
        ingest(ts);
        engine.close_due_windows();
    }
    let filled = live_bytes();
    let samples = engine.metrics().live_samples.get() as f64;
    assert_eq!(samples as usize, series * samples_per_series, "every sample is still retained");

    let per_series = (interned - empty) / series as f64;
    let per_sample = (filled - interned) / samples;
    println!(
        "{series} series x {samples_per_series} samples ({samples} retained, {} windows closed)",
        engine.metrics().windows_closed.get()
    );
    println!("series table: {:.1} MiB, {per_series:.0} bytes per series", (interned - empty) / 1048576.0);
    println!(
        "samples, windows and aggregates: {:.1} MiB, {per_sample:.1} bytes per sample",
        (filled - interned) / 1048576.0
    );
    println!("total live heap: {:.1} MiB", (filled - empty) / 1048576.0);
    // The engine's own estimate, which engine.max_live_bytes bounds, against the counted heap
    // (which also holds the score book and the forecasters, not in the estimate).
    let estimate = engine.live_bytes() as f64;
    println!(
        "engine estimate (ironspider_live_bytes): {:.1} MiB, {:.3} of the counted live heap",
        estimate / 1048576.0,
        estimate / (filled - empty)
    );
}
