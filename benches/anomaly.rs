//! The anomaly detectors alone over the whole NAB corpus (58 series, 365,558 values), read
//! into memory first: each series through a fresh detector, value by value with its time,
//! as `evaluate anomalies` runs them. Throughput in values per second; the Gaussian
//! baseline (`gaussian`, a windowed mean and deviation) in the same run for the ratio.
//! Run: `cargo bench --bench anomaly`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ironspider::evaluate::anomalies::time_ns;
use ironspider_datasets::{nab, shared};
use ironspider_models::anomaly;
use std::hint::black_box;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every series of the corpus: each row's time (ns, UTC; NAB's `YYYY-MM-DD HH:MM:SS`) and
/// value.
fn corpus() -> Vec<(Vec<i64>, Vec<f64>)> {
    let root = shared::dataset("nab");
    let files = nab::data_files(&root).expect("NAB's data files");
    files
        .iter()
        .map(|name| {
            let rows = nab::read_rows(&root.join("data").join(name), nab::VALUE).expect("a NAB file");
            let times = rows.timestamps.iter().map(|t| time_ns(t).expect("a NAB timestamp")).collect();
            (times, rows.values)
        })
        .collect()
}

fn detectors(c: &mut Criterion) {
    let series = corpus();
    let values: usize = series.iter().map(|(_, v)| v.len()).sum();
    let mut group = c.benchmark_group("nab_corpus");
    group.sample_size(20);
    group.throughput(Throughput::Elements(values as u64));
    for name in ["novelty", "gaussian"] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut total = 0.0;
                for (times, values) in &series {
                    let mut detector = anomaly::named(name).expect("in the catalogue");
                    for (&at, &y) in times.iter().zip(values) {
                        total += detector.observe(black_box(at), black_box(y));
                    }
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
