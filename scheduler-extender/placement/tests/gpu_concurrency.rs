//! 1,000 pods asking for GPU shares race through filter (fits) and bind (assign) on 16
//! threads against a small cluster: afterwards every device's free milli plus the shares the
//! ledger says pods hold on it is exactly one GPU: no share was given twice and none was lost.
//! Releasing everything, again concurrently, frees every device.

use ironspider_placement::demand::{GpuDemand, WHOLE_GPU};
use ironspider_placement::gpu::{Gpu, GpuLedger};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};

const NODES: usize = 4;
const GPUS_PER_NODE: usize = 4;
const PODS: usize = 1000;
const THREADS: usize = 16;

/// A deterministic spread of demands and target nodes per pod (xorshift on the pod index).
fn pod(index: usize) -> (String, GpuDemand) {
    let mut x = (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    let demand = match x % 6 {
        0 => GpuDemand::Fraction(250),
        1 => GpuDemand::Fraction(500),
        2 => GpuDemand::Fraction(750),
        3 => GpuDemand::Fraction(100),
        4 => GpuDemand::Whole(1),
        _ => GpuDemand::Whole(2),
    };
    (format!("node-{}", (x >> 8) as usize % NODES), demand)
}

/// Free milli plus held shares, per (node, device): must be one whole GPU everywhere.
fn assert_conserved(ledger: &GpuLedger) {
    let allocations = ledger.allocations();
    for n in 0..NODES {
        let node = format!("node-{n}");
        let gpus = ledger.gpus(&node).expect("known node");
        for (device, gpu) in gpus.iter().enumerate() {
            let held: u32 = allocations
                .values()
                .filter(|a| a.node == node)
                .flat_map(|a| &a.shares)
                .filter(|(d, _)| *d == device)
                .map(|(_, milli)| milli)
                .sum();
            assert_eq!(gpu.free + held, WHOLE_GPU, "{node} device {device}: {} free + {held} held", gpu.free);
        }
    }
}

#[test]
fn concurrent_filter_and_bind_never_double_allocate_or_lose_a_share() {
    let ledger = GpuLedger::default();
    for n in 0..NODES {
        let gpus =
            (0..GPUS_PER_NODE).map(|d| Gpu { id: format!("gpu{d}"), model: "A100".into(), free: WHOLE_GPU }).collect();
        ledger.add_node(&format!("node-{n}"), gpus);
    }
    let (bound, refused_at_bind) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let (ledger, bound, refused_at_bind, start) = (&ledger, &bound, &refused_at_bind, &start);
            scope.spawn(move || {
                start.wait();
                for index in (t..PODS).step_by(THREADS) {
                    let (node, demand) = pod(index);
                    if ledger.fits(&node, &demand, &[]).is_err() {
                        continue;
                    }
                    // Another thread may have taken the room between filter and bind.
                    match ledger.assign(&format!("pod-{index}"), &node, &demand, &[]) {
                        Ok(_) => bound.fetch_add(1, Ordering::Relaxed),
                        Err(_) => refused_at_bind.fetch_add(1, Ordering::Relaxed),
                    };
                }
            });
        }
    });
    let allocations = ledger.allocations();
    assert_eq!(allocations.len(), bound.load(Ordering::Relaxed), "one allocation per successful bind");
    let held: u32 = allocations.values().flat_map(|a| &a.shares).map(|(_, milli)| milli).sum();
    assert!(held > (NODES * GPUS_PER_NODE) as u32 * WHOLE_GPU / 2, "the cluster filled up: {held} milli held");
    assert_conserved(&ledger);

    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let ledger = &ledger;
            scope.spawn(move || {
                for index in (t..PODS).step_by(THREADS) {
                    ledger.release(&format!("pod-{index}"));
                }
            });
        }
    });
    assert!(ledger.allocations().is_empty());
    assert_conserved(&ledger);
    println!(
        "{} bound, {} refused at bind after passing filter",
        bound.load(Ordering::Relaxed),
        refused_at_bind.load(Ordering::Relaxed)
    );
}
