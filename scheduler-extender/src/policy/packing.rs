//! GPU packing (the artifact's `gpu_packing_score.go`): partly used devices first, then
//! wholly free devices of a used node, then an untouched node.
//!
//! A CPU-only pod scores 0 everywhere. Otherwise, with `ff` the node's wholly free devices:
//! - every device wholly free: `max(33 − ff, ff)`;
//! - else walk the devices by ascending free milli, taking those with at least the pod's milli
//!   per GPU until its GPU count is taken; if a taken device was wholly free:
//!   `max(50 − taken wholly free, 33)`;
//! - else `max(100 − (Σ_taken ⌊free·100/1000⌋)/10, 50)` in integer arithmetic.
//!
//! Devices: best fit.

use super::{Policy, PolicyKind, Score};
use crate::cluster::{NodeState, PodSpec};
use crate::request::WHOLE_GPU;

/// The Packing policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Packing;

impl Policy for Packing {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Packing
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let (count, milli) = (pod.gpu_count() as usize, pod.gpu_milli_each());
        if count == 0 {
            return Score::of(0);
        }
        let wholly_free = node.wholly_free() as i64;
        if wholly_free as usize == node.gpus.len() {
            return Score::of((33 - wholly_free).max(wholly_free));
        }
        let mut ascending: Vec<u32> = node.gpus.iter().copied().filter(|&f| f >= milli).collect();
        ascending.sort_unstable();
        let taken = &ascending[..count.min(ascending.len())];
        let taken_whole = taken.iter().filter(|&&f| f == WHOLE_GPU).count() as i64;
        if taken_whole > 0 {
            return Score::of((50 - taken_whole).max(33));
        }
        let used: i64 = taken.iter().map(|&f| i64::from(f) * 100 / i64::from(WHOLE_GPU)).sum();
        Score::of((100 - used / 10).max(50))
    }
}
