//! Placement policies: each scores a node that passed the filter ([`NodeState::fits`]) for
//! one pod, higher is better, and says how devices are chosen on the node it wins.
//!
//! The six baselines reproduce the scoring plugins of the FGD paper's simulator (Weng et
//! al., USENIX ATC '23; artifact `hkust-adsl/kubernetes-scheduler-simulator`,
//! `pkg/simulator/plugin/`), integer truncation included, because the truncation creates the
//! ties that decide their results (docs/design/simulate.md §4). Fixed normalisers, as there:
//! [`MAX_SPEC_CPU`] and [`MAX_SPEC_GPU`]. Every formula is in its module:
//! [`random`], [`bestfit`], [`packing`], [`dotprod`], [`clustering`], [`fgd`], and
//! IronSpider's own, [`ironspider`]. [`frag`] holds the fragmentation measure FGD and
//! IronSpider share.
//!
//! Scores depend on the node's state and the pod alone (no cluster, no clock), so the
//! simulator and the extender's `prioritize` use the same functions.

pub mod bestfit;
pub mod clustering;
pub mod dotprod;
pub mod fgd;
pub mod frag;
pub mod ironspider;
pub mod packing;
pub mod random;

use crate::cluster::{NodeState, PodSpec};
use crate::demand::GpuDemand;
use crate::rng::Rng;
use frag::TypicalMix;
use std::str::FromStr;

/// CPU normaliser of the baselines' scores: the largest node's CPU, 128 cores, in milli.
pub const MAX_SPEC_CPU: f64 = 128_000.0;
/// GPU normaliser of the baselines' scores: 8 GPUs in milli.
pub const MAX_SPEC_GPU: f64 = 8_000.0;

/// The policies by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKind {
    /// [`random`].
    Random,
    /// [`bestfit`].
    BestFit,
    /// [`packing`].
    Packing,
    /// [`dotprod`].
    DotProd,
    /// [`clustering`].
    Clustering,
    /// [`fgd`].
    Fgd,
    /// [`ironspider`].
    IronSpider,
}

impl PolicyKind {
    /// Every policy, in the order of the issue.
    pub const ALL: [PolicyKind; 7] = [
        PolicyKind::Random,
        PolicyKind::BestFit,
        PolicyKind::Packing,
        PolicyKind::DotProd,
        PolicyKind::Clustering,
        PolicyKind::Fgd,
        PolicyKind::IronSpider,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Random => "random",
            PolicyKind::BestFit => "bestfit",
            PolicyKind::Packing => "packing",
            PolicyKind::DotProd => "dotprod",
            PolicyKind::Clustering => "clustering",
            PolicyKind::Fgd => "fgd",
            PolicyKind::IronSpider => "ironspider",
        }
    }

    /// The policy, with the typical pod mix for those that need one.
    pub fn build(self, mix: &TypicalMix) -> Box<dyn Policy> {
        match self {
            PolicyKind::Random => Box::new(random::Random),
            PolicyKind::BestFit => Box::new(bestfit::BestFit),
            PolicyKind::Packing => Box::new(packing::Packing),
            PolicyKind::DotProd => Box::new(dotprod::DotProd),
            PolicyKind::Clustering => Box::new(clustering::Clustering),
            PolicyKind::Fgd => Box::new(fgd::Fgd::new(mix.clone())),
            PolicyKind::IronSpider => Box::new(ironspider::IronSpider::new(mix.clone())),
        }
    }
}

/// An unknown policy name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy `{0}` (known: random, bestfit, packing, dotprod, clustering, fgd, ironspider)")]
pub struct UnknownPolicy(pub String);

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        PolicyKind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| UnknownPolicy(name.to_string()))
    }
}

/// A node's score for a pod, and the device the policy would put a GPU share on (for
/// policies that choose their own, [`DeviceChoice::Own`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    /// Higher is better.
    pub value: i64,
    /// Device for a fractional pod, when the policy chose one.
    pub device: Option<usize>,
}

impl Score {
    /// A score without a device choice.
    pub fn of(value: i64) -> Self {
        Score { value, device: None }
    }
}

/// How the winning node is picked among the passing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChoice {
    /// The highest score; ties go to the first node in the caller's order.
    Best,
    /// Uniformly at random (scores are ignored).
    Uniform,
}

/// How a fractional pod's device is chosen on the winning node (whole GPUs always take the
/// lowest-indexed wholly free devices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The tightest device that fits ([`NodeState::best_fit`]).
    BestFit,
    /// Uniformly among the devices that fit.
    Random,
    /// The device of the policy's [`Score`].
    Own,
}

/// A placement policy.
pub trait Policy: Send + Sync {
    /// Which policy this is.
    fn kind(&self) -> PolicyKind;

    /// The score of a node that passed the filter, for `pod`.
    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score;

    /// Rescales the scores of all passing nodes for one pod, in place (most policies: no-op).
    fn normalise(&self, _scores: &mut [i64]) {}

    /// How the winning node is picked.
    fn node_choice(&self) -> NodeChoice {
        NodeChoice::Best
    }

    /// How a fractional pod's device is chosen.
    fn device_choice(&self) -> DeviceChoice {
        DeviceChoice::BestFit
    }
}

/// The shares (device, milli) `pod` takes on `node`, the node it won with `score`, by the
/// policy's device choice. `rng` serves [`DeviceChoice::Random`].
pub fn shares(choice: DeviceChoice, node: &NodeState, pod: &PodSpec, score: Score, rng: &mut Rng) -> Vec<(usize, u32)> {
    let GpuDemand::Fraction(milli) = pod.gpu else { return node.best_fit(pod) };
    match (choice, score.device) {
        (DeviceChoice::Own, Some(device)) => vec![(device, milli)],
        (DeviceChoice::Random, _) => {
            let fitting: Vec<usize> = (0..node.gpus.len()).filter(|&i| node.gpus[i] >= milli).collect();
            if fitting.is_empty() { Vec::new() } else { vec![(fitting[rng.below(fitting.len())], milli)] }
        }
        _ => node.best_fit(pod),
    }
}

/// Min–max normalisation to 0..=100 with integer arithmetic, `(x − lo) · 100 / (hi − lo)`,
/// all 0 when every score is equal (the artifact's `NormalizeScore`, `plugin_utils.go`).
pub fn min_max_normalise(scores: &mut [i64]) {
    let (Some(&lo), Some(&hi)) = (scores.iter().min(), scores.iter().max()) else { return };
    for score in scores.iter_mut() {
        *score = if hi == lo { 0 } else { (*score - lo) * 100 / (hi - lo) };
    }
}

/// Go's `int64(x)`: truncation toward zero, as the artifact turns float scores into integers.
pub fn truncate(x: f64) -> i64 {
    x.trunc() as i64
}

/// Builders shared by the policies' tests.
#[cfg(test)]
pub(crate) mod testing {
    use crate::cluster::{GpuTag, NodeState, PodSpec};
    use crate::demand::GpuDemand;

    /// A T4 node with `cpu` milli free, 1 TiB of memory and devices with `gpus` milli free.
    pub fn node(cpu: u64, gpus: &[u32]) -> NodeState {
        NodeState { gpus: gpus.to_vec(), ..NodeState::new("n", "T4", cpu, 1 << 40, 0) }
    }

    /// [`node`] holding GPU pods of the given tags.
    pub fn tagged(gpus: &[u32], tags: &[(GpuTag, u32)]) -> NodeState {
        NodeState { tags: tags.to_vec(), ..node(64_000, gpus) }
    }

    /// A pod of `cpu` milli, no memory and `gpu`.
    pub fn pod(cpu: u64, gpu: GpuDemand) -> PodSpec {
        PodSpec { cpu, gpu, ..PodSpec::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for kind in PolicyKind::ALL {
            assert_eq!(kind.name().parse::<PolicyKind>(), Ok(kind));
        }
        let unknown = "tetris".parse::<PolicyKind>().unwrap_err();
        assert!(unknown.to_string().starts_with("unknown policy `tetris`"), "{unknown}");
    }

    #[test]
    fn min_max_normalisation_is_integer_and_flat_scores_become_zero() {
        let mut scores = [68, 93, 80];
        min_max_normalise(&mut scores);
        assert_eq!(scores, [0, 100, 48], "(80 − 68) · 100 / 25 = 48");
        let mut flat = [7, 7];
        min_max_normalise(&mut flat);
        assert_eq!(flat, [0, 0]);
    }

    #[test]
    fn random_device_choice_is_uniform_among_fitting_devices() {
        let mut node = NodeState::new("n", "T4", 8000, 1 << 30, 4);
        node.gpus = vec![1000, 200, 600, 500];
        let pod = PodSpec { gpu: GpuDemand::Fraction(500), ..PodSpec::default() };
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 4];
        for _ in 0..30_000 {
            let taken = shares(DeviceChoice::Random, &node, &pod, Score::of(0), &mut rng);
            counts[taken[0].0] += 1;
        }
        assert_eq!(counts[1], 0, "device 1 has only 200 free");
        assert!([0, 2, 3].iter().all(|&i| (9_700..=10_300).contains(&counts[i])), "{counts:?}");
        assert_eq!(shares(DeviceChoice::BestFit, &node, &pod, Score::of(0), &mut rng), [(3, 500)]);
        let own = Score { value: 1, device: Some(2) };
        assert_eq!(shares(DeviceChoice::Own, &node, &pod, own, &mut rng), [(2, 500)]);
    }
}
