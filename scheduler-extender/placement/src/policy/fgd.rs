//! Fragmentation gradient descent (Weng et al., USENIX ATC '23, §4; the artifact's
//! `fgd_score.go`): place the pod where the expected unusable GPU capacity for the typical
//! pod mix grows least.
//!
//! For node n and pod p, with Fₙ(M) the node fragmentation of [`super::frag`] and n' the node
//! after placing p there: `Δ = Fₙ(M) − Fₙ'(M)` (milli), score `trunc(100·sigmoid(Δ/1000))`
//! (50 when Δ = 0, below 50 when fragmentation grows), no normalisation. n' takes p's CPU
//! and, for whole GPUs, the lowest-indexed wholly free devices; for a share, every device
//! with enough free is tried in index order and the first with the best (integer) score is
//! both the node's score and where p goes ([`DeviceChoice::Own`]).

use super::frag::TypicalMix;
use super::{DeviceChoice, Policy, PolicyKind, Score, truncate};
use crate::cluster::{NodeState, PodSpec};
use crate::demand::{GpuDemand, WHOLE_GPU};
use crate::gpu::Shares;

/// Calls `visit(device, Δ)` for each way `pod` can go on `node`: one call with `None` for a
/// pod without GPU or with whole GPUs, one per fitting device (in index order) for a share,
/// skipping a device whose free milli equals an earlier device's (same Δ).
/// Δ = Fₙ(M) − Fₙ'(M) in milli: positive when the placement lowers fragmentation.
pub fn for_each_delta(mix: &TypicalMix, node: &NodeState, pod: &PodSpec, mut visit: impl FnMut(Option<usize>, f64)) {
    let delta = |shares: &[(usize, u32)]| mix.frag_change(node.cpu_free, &node.gpus, &node.model, pod.cpu, shares);
    match pod.gpu {
        GpuDemand::None => visit(None, delta(&[])),
        GpuDemand::Whole(n) => {
            let shares: Shares = node.first_wholly_free(n).map(|device| (device, WHOLE_GPU)).collect();
            visit(None, delta(&shares));
        }
        GpuDemand::Fraction(milli) => {
            for (device, &free) in node.gpus.iter().enumerate() {
                // Fragmentation ignores device order, so a device with as much free as an
                // earlier one gives the same Δ; the earlier one wins ties anyway.
                if free >= milli && !node.gpus[..device].contains(&free) {
                    visit(Some(device), delta(&[(device, milli)]));
                }
            }
        }
    }
}

/// FGD's squashing of a fragmentation change Δ (milli) into (0, 1): `sigmoid(Δ/1000)`,
/// 0.5 when nothing changes.
pub fn sigmoid(delta: f64) -> f64 {
    1.0 / (1.0 + (-delta / 1000.0).exp())
}

/// FGD's integer score of a fragmentation change Δ (milli): `trunc(100·sigmoid(Δ/1000))`.
pub fn sigmoid_score(delta: f64) -> i64 {
    truncate(100.0 * sigmoid(delta))
}

/// The FGD policy.
#[derive(Debug, Clone)]
pub struct Fgd {
    mix: TypicalMix,
}

impl Fgd {
    /// FGD against the typical mix `mix`.
    pub fn new(mix: TypicalMix) -> Self {
        Fgd { mix }
    }
}

impl Policy for Fgd {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Fgd
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let mut best: Option<Score> = None;
        for_each_delta(&self.mix, node, pod, |device, delta| {
            let value = sigmoid_score(delta);
            if best.is_none_or(|b| value > b.value) {
                best = Some(Score { value, device });
            }
        });
        best.unwrap_or(Score::of(0))
    }

    fn device_choice(&self) -> DeviceChoice {
        DeviceChoice::Own
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::frag::PodType;
    use crate::policy::testing::{node, pod};

    /// M = {(0 CPU, 500 milli, 1 GPU): 0.5, (0 CPU, 1000 milli, 1 GPU): 0.5}.
    fn fgd() -> Fgd {
        let kind = |milli| PodType { cpu: 0, milli, count: 1, models: vec![] };
        Fgd::new(TypicalMix { types: vec![(kind(500), 0.5), (kind(1000), 0.5)] })
    }

    #[test]
    fn scores_and_device_choice_match_the_hand_worked_cases() {
        let share = pod(0, GpuDemand::Fraction(300));
        // (1000, 1000), F = 0 → (700, 1000): 0.5·0 + 0.5·700 = 350, Δ = −350,
        // trunc(100·sigmoid(−0.35)) = trunc(41.3) = 41, on device 0 (device 1 is the same).
        assert_eq!(fgd().score(&node(8000, &[1000, 1000]), &share), Score { value: 41, device: Some(0) });
        // (700, 1000), F = 350: device 0 → (400, 1000), F = 0.5·400 + 0.5·400 = 400, Δ = −50 → 48;
        // device 1 → (700, 700), F = 0.5·0 + 0.5·1400 = 700, Δ = −350 → 41. Device 0 wins.
        assert_eq!(fgd().score(&node(8000, &[700, 1000]), &share), Score { value: 48, device: Some(0) });
        assert_eq!(sigmoid_score(0.0), 50);
    }

    #[test]
    fn whole_gpus_take_the_first_free_devices_and_cpu_pods_only_cpu() {
        // (1000, 1000) → (0, 1000) by a whole GPU: F = 0.5·0 + 0.5·0 = 0, Δ = 0 → 50.
        assert_eq!(fgd().score(&node(8000, &[1000, 1000]), &pod(0, GpuDemand::Whole(1))).value, 50);
        // (400, 1000): F = 0.5·400 + 0.5·400 = 400 → (400, 0): 0.5·400 + 0.5·400 = 400 → 50.
        assert_eq!(fgd().score(&node(8000, &[400, 1000]), &pod(0, GpuDemand::Whole(1))).value, 50);
        // The types need no CPU, so a CPU-only pod changes nothing: 50.
        assert_eq!(fgd().score(&node(8000, &[400, 1000]), &pod(8000, GpuDemand::None)).value, 50);
        // With M = {(4000 CPU, 500 milli, 1 GPU): 1}, a CPU-only pod leaving 2000 CPU strands the
        // free GPU: F 0 → 1000, Δ = −1000, trunc(100·sigmoid(−1)) = trunc(26.9) = 26.
        let cpu_hungry = PodType { cpu: 4000, milli: 500, count: 1, models: vec![] };
        let fgd = Fgd::new(TypicalMix { types: vec![(cpu_hungry, 1.0)] });
        assert_eq!(fgd.score(&node(8000, &[1000]), &pod(6000, GpuDemand::None)).value, 26);
    }
}
