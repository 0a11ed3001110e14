//! Dot product (the artifact's `dot_product_score.go`, configured "merge" + "max"): node
//! vector `(cpuL/128000, gL/8000)` of free CPU and GPU milli, pod vector
//! `(cpuR/128000, gR/8000)`, `d = (node · pod)/2`, score `trunc(100·(1 − d))`, no
//! normalisation. The **smaller** dot product wins, as in the artifact (the opposite of
//! Tetris' alignment rule). Devices: best fit.

use super::{MAX_SPEC_CPU, MAX_SPEC_GPU, Policy, PolicyKind, Score, truncate};
use crate::cluster::{NodeState, PodSpec};

/// The DotProd policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct DotProd;

impl Policy for DotProd {
    fn kind(&self) -> PolicyKind {
        PolicyKind::DotProd
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let cpu = (node.cpu_free as f64 / MAX_SPEC_CPU) * (pod.cpu as f64 / MAX_SPEC_CPU);
        let gpu = (node.gpu_free() as f64 / MAX_SPEC_GPU) * (f64::from(pod.gpu.milli()) / MAX_SPEC_GPU);
        Score::of(truncate(100.0 * (1.0 - (cpu + gpu) / 2.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;
    use crate::policy::testing::{node, pod};

    #[test]
    fn the_smaller_dot_product_wins_as_worked_by_hand() {
        // A: d = (0.5·0.0625 + 0.25·0.0625)/2 = 0.0234375 → trunc(97.66) = 97;
        // B: d = (0.125·0.0625 + 0.125·0.0625)/2 = 0.0078125 → trunc(99.22) = 99.
        let pod = pod(8000, GpuDemand::Fraction(500));
        assert_eq!(DotProd.score(&node(64_000, &[1000, 1000]), &pod).value, 97);
        assert_eq!(DotProd.score(&node(16_000, &[1000]), &pod).value, 99);
    }
}
