//! GPU clustering (the artifact's `gpu_clustering_score.go`): pods of the same kind
//! together. Each GPU pod has a tag ([`GpuTag`]: a share, or N whole GPUs) and a node counts
//! the tags of its pods.
//!
//! A CPU-only pod scores 0 everywhere. Otherwise `base = 25·(8000 − gL)/8000` (integer, gL the
//! node's free GPU milli) plus 75 when the node holds only this pod's tag, 50 when it holds
//! this tag among others, 25 when it holds no GPU pod, 0 when it holds only other tags.
//! Devices: best fit.

use super::{Policy, PolicyKind, Score};
use crate::cluster::{GpuTag, NodeState, PodSpec};

/// The Clustering policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clustering;

impl Policy for Clustering {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Clustering
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let Some(tag) = GpuTag::of(&pod.gpu) else { return Score::of(0) };
        let base = 25 * (8000 - node.gpu_free() as i64) / 8000;
        let held = |t: GpuTag| node.tags.iter().any(|&(held, n)| held == t && n > 0);
        let others = node.tags.iter().any(|&(held, n)| held != tag && n > 0);
        let bonus = match (held(tag), others) {
            (true, false) => 75,
            (true, true) => 50,
            (false, false) => 25,
            (false, true) => 0,
        };
        Score::of(base + bonus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;
    use crate::policy::testing::{pod, tagged};

    #[test]
    fn pods_go_where_their_kind_already_is() {
        let share = pod(1000, GpuDemand::Fraction(300));
        let half_used = [500, 500, 500, 500, 500, 500, 500, 500];
        // 25·(8000 − 4000)/8000 = 12 (integer), + 75 for a node holding only shares.
        assert_eq!(Clustering.score(&tagged(&half_used, &[(GpuTag::Share, 3)]), &share).value, 87);
        assert_eq!(Clustering.score(&tagged(&[1000; 8], &[]), &share).value, 25, "0 + 25 for no GPU pod");
        assert_eq!(Clustering.score(&tagged(&half_used, &[(GpuTag::Whole(1), 2)]), &share).value, 12);
        let mixed = tagged(&half_used, &[(GpuTag::Whole(1), 2), (GpuTag::Share, 1)]);
        assert_eq!(Clustering.score(&mixed, &share).value, 62, "12 + 50: this tag among others");
        assert_eq!(Clustering.score(&mixed, &pod(1000, GpuDemand::None)).value, 0, "CPU-only pods: 0");
    }
}
