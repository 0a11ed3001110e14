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
use crate::demand::WHOLE_GPU;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;
    use crate::policy::testing::{node, pod};

    #[test]
    fn shared_devices_beat_fresh_devices_of_used_nodes_which_beat_untouched_nodes() {
        let whole = pod(1000, GpuDemand::Whole(1));
        let share = pod(1000, GpuDemand::Fraction(500));
        assert_eq!(Packing.score(&node(64_000, &[1000; 8]), &whole).value, 25, "max(33 − 8, 8)");
        assert_eq!(Packing.score(&node(64_000, &[1000; 2]), &whole).value, 31, "max(33 − 2, 2)");
        assert_eq!(Packing.score(&node(64_000, &[400, 1000]), &whole).value, 49, "max(50 − 1, 33)");
        // The 600-free device is taken: 100 − ⌊600·100/1000⌋/10 = 94; best fit puts it there.
        let used = node(64_000, &[600, 1000]);
        assert_eq!(Packing.score(&used, &share).value, 94);
        assert_eq!(used.best_fit(&share), [(0, 500)]);
        assert_eq!(Packing.score(&used, &pod(1000, GpuDemand::None)).value, 0, "CPU-only pods: 0");
    }
}
