//! Best fit (the artifact's `best_fit_score.go`): the node left with the least normalised
//! CPU and GPU after the pod.
//!
//! With `cpuL`, `gL` the node's free CPU and GPU milli and `cpuR`, `gR` the pod's:
//! `s = 0.5·(cpuL − cpuR)/128000 + 0.5·(gL − gR)/8000`, score `trunc(100·(1 − s))`, then
//! min–max normalised over the passing nodes with integer arithmetic
//! ([`super::min_max_normalise`]). Devices: best fit.

use super::{MAX_SPEC_CPU, MAX_SPEC_GPU, Policy, PolicyKind, Score, min_max_normalise, truncate};
use crate::cluster::{NodeState, PodSpec};

/// The BestFit policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct BestFit;

impl Policy for BestFit {
    fn kind(&self) -> PolicyKind {
        PolicyKind::BestFit
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let cpu_left = node.cpu_free as f64 - pod.cpu as f64;
        let gpu_left = node.gpu_free() as f64 - f64::from(pod.gpu.milli());
        let s = 0.5 * cpu_left / MAX_SPEC_CPU + 0.5 * gpu_left / MAX_SPEC_GPU;
        Score::of(truncate(100.0 * (1.0 - s)))
    }

    fn normalise(&self, scores: &mut [i64]) {
        min_max_normalise(scores);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;
    use crate::policy::testing::{node, pod};

    #[test]
    fn scores_and_normalisation_match_the_hand_worked_case() {
        // A (cpuL 64 000, gL 2000), B (cpuL 16 000, gL 1000), pod (8000 m, 500 milli):
        // A = trunc(100·(1 − (0.5·56000/128000 + 0.5·1500/8000))) = trunc(68.75) = 68,
        // B = trunc(100·(1 − 0.03125 − 0.03125)) = 93; normalised A 0, B 100.
        let (a, b) = (node(64_000, &[1000, 1000]), node(16_000, &[1000]));
        let pod = pod(8000, GpuDemand::Fraction(500));
        let mut scores = [BestFit.score(&a, &pod).value, BestFit.score(&b, &pod).value];
        assert_eq!(scores, [68, 93]);
        BestFit.normalise(&mut scores);
        assert_eq!(scores, [0, 100]);
    }
}
