//! GPU fragmentation as the FGD paper defines it (Weng et al., "Beware of Fragmentation:
//! Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent", USENIX ATC '23;
//! artifact `hkust-adsl/kubernetes-scheduler-simulator`, `pkg/utils/frag.go`).
//!
//! **Typical pod mix** M ([`TypicalMix::from_pods`]): pods grouped by type (CPU milli, milli
//! per GPU, GPU count, accepted models), types sorted by count, most first (ties: larger CPU,
//! then larger milli, larger count, models), the first types kept until they cover at least
//! `threshold` of all pods (the artifact's default: 95 %), their counts renormalised to
//! probabilities pₘ.
//!
//! **Fragmentation of node n for type m**, in milli (`frag(n, m)`):
//! - m asks for no GPU: every free milli of the node (gL), since m can use none of it;
//! - the node can host m (CPU left ≥ m's CPU, at least m's count of devices with ≥ m's milli
//!   free, model accepted): the free milli of the devices with less than m's milli free;
//! - otherwise all of gL.
//!
//! **Node fragmentation** Fₙ(M) = Σₘ pₘ · frag(n, m) ([`TypicalMix::node_frag`]). Memory
//! does not enter. These functions depend on a node's state alone, so the simulator and the
//! extender's `prioritize` share them.

use crate::cluster::{NodeState, PodSpec};
use crate::gpu::accepts;
use std::collections::HashMap;

/// One pod type of the mix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodType {
    /// CPU in thousandths of a core.
    pub cpu: u64,
    /// Milli of each GPU (0 without GPU).
    pub milli: u32,
    /// GPUs asked for.
    pub count: u32,
    /// Accepted models; empty for any.
    pub models: Vec<String>,
}

impl PodType {
    /// The type of a pod.
    pub fn of(pod: &PodSpec) -> Self {
        PodType { cpu: pod.cpu, milli: pod.gpu_milli_each(), count: pod.gpu_count(), models: pod.models.clone() }
    }

    /// Of devices with `gpus` milli free: how many have enough for one of this type's GPUs,
    /// the milli free on the others (stranded for this type), and the milli free on all.
    fn tally(&self, gpus: &[u32]) -> (u32, u64, u64) {
        let (mut fitting, mut stranded, mut free) = (0, 0, 0);
        for &left in gpus {
            free += u64::from(left);
            if left >= self.milli {
                fitting += 1;
            } else {
                stranded += u64::from(left);
            }
        }
        (fitting, stranded, free)
    }
}

/// The typical pod mix M: types with their probabilities pₘ.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TypicalMix {
    /// Kept types and their probabilities (summing to 1), most frequent first.
    pub types: Vec<(PodType, f64)>,
}

impl TypicalMix {
    /// The mix of `pods` keeping the most frequent types until they cover `threshold`
    /// (0..=1) of the pods; see the module doc.
    pub fn from_pods(pods: &[PodSpec], threshold: f64) -> Self {
        let mut counts: HashMap<PodType, u64> = HashMap::new();
        for pod in pods {
            *counts.entry(PodType::of(pod)).or_default() += 1;
        }
        Self::from_counts(counts, threshold)
    }

    /// The mix of pods counted by type; see the module doc.
    pub fn from_counts(counts: impl IntoIterator<Item = (PodType, u64)>, threshold: f64) -> Self {
        let mut sorted: Vec<(PodType, u64)> = counts.into_iter().collect();
        sorted.sort_by(|(a, na), (b, nb)| {
            (nb, b.cpu, b.milli, b.count, &b.models).cmp(&(na, a.cpu, a.milli, a.count, &a.models))
        });
        let total = sorted.iter().map(|(_, n)| *n).sum::<u64>() as f64;
        let (mut kept, mut covered) = (Vec::new(), 0u64);
        for (kind, n) in sorted {
            if covered as f64 >= threshold * total {
                break;
            }
            covered += n;
            kept.push((kind, n));
        }
        let types = kept.into_iter().map(|(kind, n)| (kind, n as f64 / covered as f64)).collect();
        TypicalMix { types }
    }

    /// frag(n, m) of one type for a node with `cpu_free` CPU and `gpus` milli free per
    /// device of `model`, in milli.
    pub fn type_frag(kind: &PodType, cpu_free: u64, gpus: &[u32], model: &str) -> f64 {
        let free: u64 = gpus.iter().map(|&f| u64::from(f)).sum();
        Self::type_frag_of(kind, cpu_free, gpus, model, free)
    }

    /// [`TypicalMix::type_frag`] given the node's total free milli `free`, in one pass over
    /// the devices.
    fn type_frag_of(kind: &PodType, cpu_free: u64, gpus: &[u32], model: &str, free: u64) -> f64 {
        if kind.count == 0 || cpu_free < kind.cpu || !accepts(&kind.models, model) {
            return free as f64;
        }
        let (fitting, stranded, _) = kind.tally(gpus);
        if fitting < kind.count { free as f64 } else { stranded as f64 }
    }

    /// Fₙ(M) = Σₘ pₘ · frag(n, m) for a node in the given state, in milli.
    pub fn frag(&self, cpu_free: u64, gpus: &[u32], model: &str) -> f64 {
        let free: u64 = gpus.iter().map(|&f| u64::from(f)).sum();
        if free == 0 {
            return 0.0;
        }
        self.types.iter().map(|(kind, p)| p * Self::type_frag_of(kind, cpu_free, gpus, model, free)).sum()
    }

    /// Δ = Fₙ(M) − Fₙ'(M) in milli, for a node of `model` with `cpu_free` CPU milli and
    /// `gpus` milli free per device, and n' the node once a placement took `cpu` CPU milli and
    /// `shares` (device, milli). One pass over the devices per type that can use them: the
    /// counts of frag(n, m) for n are moved by the devices the placement changes to give those
    /// for n'. For a type that can use none, frag is all the free milli, before and after, so
    /// it falls by the milli taken.
    pub fn frag_change(&self, cpu_free: u64, gpus: &[u32], model: &str, cpu: u64, shares: &[(usize, u32)]) -> f64 {
        let taken: u64 = shares.iter().map(|&(_, milli)| u64::from(milli)).sum();
        let cpu_after = cpu_free.saturating_sub(cpu);
        let change = |kind: &PodType| {
            if kind.count == 0 || !accepts(&kind.models, model) {
                return taken as f64;
            }
            let (mut fitting, mut stranded, free_before) = kind.tally(gpus);
            let free_after = free_before - taken;
            let before = if cpu_free >= kind.cpu && fitting >= kind.count { stranded } else { free_before };
            for &(device, milli) in shares {
                let (was, now) = (gpus[device], gpus[device] - milli);
                if was >= kind.milli {
                    fitting -= 1
                } else {
                    stranded -= u64::from(was)
                }
                if now >= kind.milli { fitting += 1 } else { stranded += u64::from(now) }
            }
            let after = if cpu_after >= kind.cpu && fitting >= kind.count { stranded } else { free_after };
            before as f64 - after as f64
        };
        self.types.iter().map(|(kind, p)| p * change(kind)).sum()
    }

    /// Fₙ(M) of a node as it is.
    pub fn node_frag(&self, node: &NodeState) -> f64 {
        self.frag(node.cpu_free, &node.gpus, &node.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::GpuDemand;

    fn pod(cpu: u64, gpu: GpuDemand) -> PodSpec {
        PodSpec { cpu, gpu, ..PodSpec::default() }
    }

    #[test]
    fn the_mix_keeps_the_most_frequent_types_up_to_the_threshold_and_renormalises() {
        // 20 pods: 8 × share 500, 5 × whole 1, 4 × CPU-only (4 cores), 2 × whole 2, 1 × share 100.
        let mut pods = Vec::new();
        pods.extend(std::iter::repeat_n(pod(1000, GpuDemand::Fraction(500)), 8));
        pods.extend(std::iter::repeat_n(pod(2000, GpuDemand::Whole(1)), 5));
        pods.extend(std::iter::repeat_n(pod(4000, GpuDemand::None), 4));
        pods.extend(std::iter::repeat_n(pod(8000, GpuDemand::Whole(2)), 2));
        pods.push(pod(1000, GpuDemand::Fraction(100)));
        // Cumulative counts 8, 13, 17, 19 (95 % of 20 = 19 reached): the share-100 type is cut.
        let mix = TypicalMix::from_pods(&pods, 0.95);
        let got: Vec<(u64, u32, u32, f64)> = mix.types.iter().map(|(t, p)| (t.cpu, t.milli, t.count, *p)).collect();
        assert_eq!(
            got,
            [
                (1000, 500, 1, 8.0 / 19.0),
                (2000, 1000, 1, 5.0 / 19.0),
                (4000, 0, 0, 4.0 / 19.0),
                (8000, 1000, 2, 2.0 / 19.0)
            ]
        );
        // Equal counts: the larger CPU first.
        let tie = TypicalMix::from_pods(&[pod(1000, GpuDemand::None), pod(3000, GpuDemand::None)], 1.0);
        assert_eq!(tie.types.iter().map(|(t, _)| t.cpu).collect::<Vec<_>>(), [3000, 1000]);
    }

    proptest::proptest! {
        #[test]
        fn the_change_in_one_pass_is_the_difference_of_the_fragmentations(
            gpus in proptest::collection::vec(0u32..=1000, 0..8),
            kinds in proptest::collection::vec((0u64..4000, 0u32..=1000, 0u32..3, proptest::bool::ANY), 1..5),
            cpu_free in 0u64..8000,
            cpu in 0u64..4000,
            taken in proptest::collection::vec(0u32..=1000, 8),
        ) {
            let types = kinds.iter().enumerate().map(|(i, &(cpu, milli, count, wants_v100))| {
                let models = if wants_v100 { vec!["V100".to_string()] } else { vec![] };
                (PodType { cpu, milli, count, models }, (i + 1) as f64 / 10.0)
            });
            let mix = TypicalMix { types: types.collect() };
            // Take part of every other device's free milli.
            let shares: Vec<(usize, u32)> =
                gpus.iter().enumerate().step_by(2).map(|(d, &free)| (d, taken[d].min(free))).collect();
            let mut after = gpus.clone();
            for &(device, milli) in &shares {
                after[device] -= milli;
            }
            for model in ["T4", "V100"] {
                let expected = mix.frag(cpu_free, &gpus, model) - mix.frag(cpu_free.saturating_sub(cpu), &after, model);
                let change = mix.frag_change(cpu_free, &gpus, model, cpu, &shares);
                proptest::prop_assert!((change - expected).abs() < 1e-9, "{} vs {}", change, expected);
            }
        }
    }

    #[test]
    fn node_fragmentation_follows_the_three_cases() {
        let share = PodType { cpu: 4000, milli: 500, count: 1, models: vec![] };
        // Devices 1000, 300, 0: the 300 left on device 1 is too small for a 500 share.
        let gpus = [1000, 300, 0];
        assert_eq!(TypicalMix::type_frag(&share, 8000, &gpus, "T4"), 300.0);
        assert_eq!(TypicalMix::type_frag(&share, 2000, &gpus, "T4"), 1300.0, "too little CPU: all free GPU");
        let cpu_only = PodType { cpu: 1000, milli: 0, count: 0, models: vec![] };
        assert_eq!(TypicalMix::type_frag(&cpu_only, 8000, &gpus, "T4"), 1300.0);
        let v100 = PodType { models: vec!["V100M16".into()], ..share.clone() };
        assert_eq!(TypicalMix::type_frag(&v100, 8000, &gpus, "T4"), 1300.0, "model not accepted");
        let two = PodType { cpu: 0, milli: 1000, count: 2, models: vec![] };
        assert_eq!(TypicalMix::type_frag(&two, 8000, &gpus, "T4"), 1300.0, "one whole device only");
        let mix = TypicalMix { types: vec![(share, 0.5), (cpu_only, 0.5)] };
        assert_eq!(mix.frag(8000, &gpus, "T4"), 0.5 * 300.0 + 0.5 * 1300.0);
        assert_eq!(mix.frag(8000, &[0, 0], "T4"), 0.0);
        // A 500 share on device 0 (1000 → 500): the share type strands 300 still, the
        // CPU-only type loses 500 less; F goes from 800 to 0.5·300 + 0.5·800 = 550.
        let change = mix.frag_change(8000, &gpus, "T4", 1000, &[(0, 500)]);
        assert_eq!(change, 800.0 - 550.0);
        assert_eq!(change, mix.frag(8000, &gpus, "T4") - mix.frag(7000, &[500, 300, 0], "T4"));
    }
}
