//! A fixed amount of decode work for `valgrind --tool=callgrind`, whose instruction counts
//! are repeatable where wall time is not. `scripts/callgrind-decode` runs it with 1 and 11
//! decodes per path and divides the difference by 10 × 1,000 points: instructions per point
//! of bytes → Arrow rows, set-up excluded.
//!
//! Usage: `decode_instructions PATH REPEATS` with PATH `fast` or `prost`.

use ironspider::payload::PayloadShape;
use std::hint::black_box;

mod support;

/// The allocator `serve` uses, so that allocation costs match.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).map_or("fast", String::as_str);
    let repeats: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1);
    let payload = support::payload(PayloadShape::Gauge5);
    let decoder = support::Decoder::warmed(&payload);
    let mut rows = 0;
    for _ in 0..repeats {
        rows += match path {
            "prost" => decoder.prost(black_box(&payload)),
            _ => decoder.fast(black_box(&payload)),
        };
    }
    println!("{path}: {repeats} decodes, {rows} rows");
}
