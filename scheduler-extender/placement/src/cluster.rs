//! The placement view of a cluster: what each node has left ([`NodeState`]) and what a pod
//! asks for ([`PodSpec`]), with the filter every policy shares ([`NodeState::fits`]) and the
//! bookkeeping of a placement ([`NodeState::place`]).
//!
//! The filter is what kube-scheduler's default `NodeResourcesFit` plus a GPU-share filter
//! check (as in the FGD paper's simulator, Weng et al., USENIX ATC '23, artifact
//! `hkust-adsl/kubernetes-scheduler-simulator`, `open_gpu_share.go`): CPU and memory left,
//! an accepted GPU model, and for a share one device with that much free, for N whole GPUs N
//! wholly free devices. Which devices a pod takes is the policy's device choice; the default
//! is [`crate::gpu::plan`]'s best fit.

use crate::demand::{GpuDemand, PodRequest, WHOLE_GPU};
use crate::gpu;

/// The kind of GPU pod a node holds, as GPU clustering counts them: a share of one GPU, or
/// N whole GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GpuTag {
    /// A fractional pod (`share-gpu`).
    Share,
    /// A pod of N whole GPUs (`N-gpu`).
    Whole(u32),
}

impl GpuTag {
    /// The tag of a demand; `None` for a pod without GPU.
    pub fn of(demand: &GpuDemand) -> Option<GpuTag> {
        match demand {
            GpuDemand::None => None,
            GpuDemand::Fraction(_) => Some(GpuTag::Share),
            GpuDemand::Whole(n) => Some(GpuTag::Whole(*n)),
        }
    }
}

/// What a pod asks for, in the units placement works with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodSpec {
    /// CPU in thousandths of a core.
    pub cpu: u64,
    /// Memory in bytes.
    pub memory: u64,
    /// GPUs.
    pub gpu: GpuDemand,
    /// Accepted GPU models; empty for any.
    pub models: Vec<String>,
}

impl PodSpec {
    /// From a Kubernetes pod's requests (cores and bytes rounded up to milli and bytes).
    pub fn from_request(request: &PodRequest) -> Self {
        PodSpec {
            cpu: (request.cpu * 1000.0).ceil().max(0.0) as u64,
            memory: request.memory.ceil().max(0.0) as u64,
            gpu: request.gpu.clone(),
            models: request.gpu_models.clone(),
        }
    }

    /// Milli of each GPU asked for (1000 for whole GPUs, 0 without GPU).
    pub fn gpu_milli_each(&self) -> u32 {
        match self.gpu {
            GpuDemand::None => 0,
            GpuDemand::Fraction(milli) => milli,
            GpuDemand::Whole(_) => WHOLE_GPU,
        }
    }

    /// Number of GPUs asked for (1 for a share).
    pub fn gpu_count(&self) -> u32 {
        match self.gpu {
            GpuDemand::None => 0,
            GpuDemand::Fraction(_) => 1,
            GpuDemand::Whole(n) => n,
        }
    }
}

/// What a node has left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// Node name.
    pub name: String,
    /// Model of its GPUs (one model per node); empty without GPUs.
    pub model: String,
    /// CPU left, in thousandths of a core.
    pub cpu_free: u64,
    /// Memory left, in bytes.
    pub memory_free: u64,
    /// Milli left on each GPU device, by device index.
    pub gpus: Vec<u32>,
    /// GPU pods placed on the node, counted by tag (for GPU clustering).
    pub tags: Vec<(GpuTag, u32)>,
}

impl NodeState {
    /// An empty node with `gpus` wholly free devices of `model`.
    pub fn new(name: &str, model: &str, cpu: u64, memory: u64, gpus: usize) -> Self {
        NodeState {
            name: name.to_string(),
            model: model.to_string(),
            cpu_free: cpu,
            memory_free: memory,
            gpus: vec![WHOLE_GPU; gpus],
            tags: Vec::new(),
        }
    }

    /// Σ milli left over all devices (the FGD paper's unallocated GPU of the node).
    pub fn gpu_free(&self) -> u64 {
        self.gpus.iter().map(|&f| u64::from(f)).sum()
    }

    /// Devices with nothing allocated.
    pub fn wholly_free(&self) -> usize {
        self.gpus.iter().filter(|&&f| f == WHOLE_GPU).count()
    }

    /// Whether the node's GPU model is accepted by `models` (empty accepts any).
    pub fn model_accepted(&self, models: &[String]) -> bool {
        gpu::accepts(models, &self.model)
    }

    /// Whether `pod` fits now: CPU, memory, GPU model and GPU shares (see the module doc).
    pub fn fits(&self, pod: &PodSpec) -> bool {
        if pod.cpu > self.cpu_free || pod.memory > self.memory_free {
            return false;
        }
        match pod.gpu {
            GpuDemand::None => true,
            GpuDemand::Fraction(milli) => {
                self.model_accepted(&pod.models) && self.gpus.iter().any(|&free| free >= milli)
            }
            GpuDemand::Whole(n) => self.model_accepted(&pod.models) && self.wholly_free() >= n as usize,
        }
    }

    /// The devices a fitting `pod` takes by best fit ([`gpu::choose`], the rule `bind` uses):
    /// a share on the device with the least milli that is still enough (lowest index on
    /// ties), whole GPUs on the lowest-indexed wholly free devices. Empty when the pod asks
    /// for no GPU or does not fit.
    pub fn best_fit(&self, pod: &PodSpec) -> Vec<(usize, u32)> {
        let accepted = self.model_accepted(&pod.models);
        gpu::choose(&self.gpus, |_| accepted, &pod.gpu).map(|shares| shares.to_vec()).unwrap_or_default()
    }

    /// The lowest-indexed wholly free devices, `n` of them (fewer if there are not).
    pub fn first_wholly_free(&self, n: u32) -> impl Iterator<Item = usize> + '_ {
        self.gpus.iter().enumerate().filter(|(_, f)| **f == WHOLE_GPU).map(|(i, _)| i).take(n as usize)
    }

    /// Takes `pod`'s CPU and memory and the `shares` (device, milli) chosen for it, and counts
    /// its tag. The caller has checked [`NodeState::fits`] and chosen shares that fit.
    pub fn place(&mut self, pod: &PodSpec, shares: &[(usize, u32)]) {
        self.cpu_free -= pod.cpu;
        self.memory_free -= pod.memory;
        for &(device, milli) in shares {
            self.gpus[device] -= milli;
        }
        if let Some(tag) = GpuTag::of(&pod.gpu) {
            match self.tags.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, count)) => *count += 1,
                None => self.tags.push((tag, 1)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    /// The node of the design brief's filter case: 8 cores, 32 GiB, 2 GPUs free 1000 / 300.
    fn node() -> NodeState {
        let mut node = NodeState::new("n", "V100M16", 8000, 32 * GIB, 2);
        node.gpus[1] = 300;
        node
    }

    fn pod(cpu: u64, memory: u64, gpu: GpuDemand) -> PodSpec {
        PodSpec { cpu, memory, gpu, models: Vec::new() }
    }

    #[test]
    fn the_filter_checks_cpu_memory_model_and_shares_and_best_fit_picks_devices() {
        let node = node();
        let share = |milli| pod(1000, GIB, GpuDemand::Fraction(milli));
        assert_eq!(node.best_fit(&share(400)), [(0, 400)], "only device 0 has 400 free");
        assert_eq!(node.best_fit(&share(300)), [(1, 300)], "device 1 fits tightest");
        assert_eq!(node.best_fit(&pod(1000, GIB, GpuDemand::Whole(1))), [(0, 1000)]);
        assert!(!node.fits(&pod(1000, GIB, GpuDemand::Whole(2))), "one device is partly used");
        assert!(!node.fits(&pod(9000, GIB, GpuDemand::None)), "9 cores");
        assert!(!node.fits(&pod(1000, 33 * GIB, GpuDemand::None)), "33 GiB");
        assert!(node.fits(&pod(8000, 32 * GIB, GpuDemand::None)), "exactly what is left");
        let t4_only = PodSpec { models: vec!["T4".into()], ..share(100) };
        assert!(!node.fits(&t4_only), "a T4-only pod on a V100M16 node");
        assert!(node.fits(&PodSpec { models: vec!["T4".into(), "V100M16".into()], ..share(100) }));
    }

    #[test]
    fn placing_takes_resources_and_counts_tags() {
        let mut node = node();
        let share = pod(2000, GIB, GpuDemand::Fraction(250));
        node.place(&share, &node.best_fit(&share));
        node.place(&share, &node.best_fit(&share));
        assert_eq!((node.cpu_free, node.memory_free, node.gpus.clone()), (4000, 30 * GIB, vec![750, 50]));
        let whole = pod(1000, GIB, GpuDemand::Whole(1));
        assert!(!node.fits(&whole));
        node.place(&pod(1000, 0, GpuDemand::None), &[]);
        assert_eq!(node.tags, [(GpuTag::Share, 2)], "CPU-only pods carry no tag");
        assert_eq!((node.gpu_free(), node.wholly_free()), (800, 0));
    }
}
