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
