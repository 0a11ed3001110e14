//! Decode → Arrow rows, fast path against the prost reference path, on the load generator's
//! payloads (1,000 points a request). Run: `cargo bench --bench decode`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ironspider::payload::PayloadShape;
use std::hint::black_box;

mod support;

/// The allocator `serve` uses, so that allocation costs match.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn decode_to_arrow(c: &mut Criterion) {
    for (name, shape) in
        [("gauge5", PayloadShape::Gauge5), ("gauge2", PayloadShape::Gauge2), ("histogram16", PayloadShape::Histogram16)]
    {
        let payload = support::payload(shape);
        let decoder = support::Decoder::warmed(&payload);
        let mut group = c.benchmark_group(format!("decode_to_arrow/{name}"));
        group.throughput(Throughput::Elements(support::POINTS as u64));
        group.bench_function("fast", |b| b.iter(|| decoder.fast(black_box(&payload))));
        group.bench_function("prost", |b| b.iter(|| decoder.prost(black_box(&payload))));
        group.finish();
    }
}

criterion_group!(benches, decode_to_arrow);
criterion_main!(benches);
