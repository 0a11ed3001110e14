//! What the Kubernetes watch tells the cluster model (see [`crate::kubernetes`]):
//!
//! - nodes: allocatable CPU and memory, the `nvidia.com/gpu` count and the GPU model label.
//!   A node known only from the API is known (as an inventory node is), its GPUs join the
//!   ledger, and telemetry and the inventory still win where they give a number;
//! - pods bound to a node and not finished, whoever bound them: they hold their requests on
//!   the node and their GPU shares in the ledger (by pod UID, so a pod this extender bound is
//!   counted once). A deleted or finished pod releases them, and so does a relist that no
//!   longer contains it.

use super::{ClusterModel, NodeFacts, PendingPod, Placement};
use ironspider_placement::demand::{GpuDemand, PodRequest};
use ironspider_placement::gpu::Gpu;
use std::collections::HashSet;

/// A node as the Kubernetes API describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubeNode {
    /// Allocatable CPU cores (capacity when no allocatable is given).
    pub vcpus: Option<f64>,
    /// Allocatable memory bytes (capacity when no allocatable is given).
    pub memory_bytes: Option<f64>,
    /// Allocatable `nvidia.com/gpu` devices.
    pub gpus: u32,
    /// The `nvidia.com/gpu.product` label.
    pub gpu_model: Option<String>,
}

/// A pod the Kubernetes API reports bound to a node.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.nodeName`.
    pub node: String,
    /// What it asks for.
    pub request: PodRequest,
}

impl ClusterModel {
    /// `known` with the API's capacity of `node` where it lacks one; the API's facts alone
    /// when `known` is `None` (the GPU model of such a node is on its ledger devices, where
    /// filter checks it).
    pub(super) fn with_kube_capacity<'a>(&'a self, known: Option<NodeFacts<'a>>, node: &str) -> Option<NodeFacts<'a>> {
        let nodes = self.kube_nodes.read();
        let Some(api) = nodes.get(node) else { return known };
        let mut facts = known.unwrap_or_default();
        facts.vcpus = facts.vcpus.or(api.vcpus);
        facts.memory_bytes = facts.memory_bytes.or(api.memory_bytes);
        Some(facts)
    }

    /// Records node `name` as the API describes it: it becomes known, and the ledger gets
    /// placeholder devices (`gpu<i>`, all free) up to its GPU count. Watched pods on it that
    /// hold no shares yet take them now.
    pub fn observe_node(&self, name: &str, node: KubeNode) {
        let known = self.gpus.gpus(name).unwrap_or_default();
        let model = node.gpu_model.clone().unwrap_or_default();
        let missing = (node.gpus as usize).saturating_sub(known.len());
        let added: Vec<Gpu> = (0..)
            .map(ironspider_placement::gpu::placeholder_id)
            .filter(|id| !known.iter().any(|gpu| &gpu.id == id))
            .take(missing)
            .map(|id| Gpu { id, model: model.clone(), free: ironspider_placement::demand::WHOLE_GPU })
            .collect();
        self.gpus.sync_node(name, &added);
        self.kube_nodes.write().insert(name.to_string(), node);
        self.settle(name);
    }

    /// Forgets what the API said of node `name` (deleted). Its ledger devices stay, as they
    /// do when telemetry stops: pods may still hold shares there.
    pub fn forget_node(&self, name: &str) {
        self.kube_nodes.write().remove(name);
    }

    /// Forgets the API nodes not in `names` (after a relist).
    pub fn retain_nodes(&self, names: &HashSet<String>) {
        self.kube_nodes.write().retain(|name, _| names.contains(name));
    }

    /// What the API said of node `name`, if anything.
    pub fn kube_node(&self, name: &str) -> Option<KubeNode> {
        self.kube_nodes.read().get(name).cloned()
    }

    /// Records pod `uid` as bound to `pod.node` in the cluster: its requests are held there
    /// and its GPU shares taken (once: a pod this extender bound keeps its shares). From now
    /// on only the watch releases it ([`ClusterModel::forget_pod`]).
    pub fn observe_pod(&self, uid: &str, pod: BoundPod) {
        let mut placements = self.placements.write();
        match placements.by_pod.get_mut(uid) {
            Some(existing) if existing.node == pod.node => existing.watched = true,
            existing => {
                if existing.is_some() {
                    // Bound elsewhere than this extender reserved: the API is right.
                    placements.remove(uid);
                    self.gpus.release(uid);
                }
                let placement = Placement {
                    namespace: pod.namespace,
                    name: pod.name,
                    node: pod.node,
                    request: pod.request,
                    // Known from the API, not a fresh bind here: no burst damping.
                    bound_at: i64::MIN,
                    running: false,
                    watched: true,
                };
                placements.insert(uid.to_string(), placement);
            }
        }
        if let Some(placement) = placements.by_pod.get(uid) {
            self.take_shares(uid, placement);
        }
        drop(placements);
        self.pending.lock().pods.remove(uid);
    }

    /// Releases pod `uid` (deleted, finished): its requests and GPU shares are freed.
    /// Returns whether the model held it.
    pub fn forget_pod(&self, uid: &str) -> bool {
        let removed = self.placements.write().remove(uid);
        self.gpus.release(uid);
        self.pending.lock().pods.remove(uid);
        if let Some(placement) = &removed {
            self.settle(&placement.node);
        }
        removed.is_some()
    }

    /// Releases the watched pods not in `uids` (after a relist: they left while the watch
    /// was down). Pods bound here and not yet seen by the watch stay.
    pub fn retain_pods(&self, uids: &HashSet<String>) {
        let mut placements = self.placements.write();
        let gone: Vec<String> = placements
            .by_pod
            .iter()
            .filter(|(uid, p)| p.watched && !uids.contains(*uid))
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &gone {
            placements.remove(uid);
            self.gpus.release(uid);
        }
    }

    /// Undoes this extender's bind of pod `uid` to `node` (the API refused the Binding): its
    /// shares and requests are freed and it is pending again, so a retried bind finds it.
    /// Does nothing when the watch reports the pod bound (the cluster says it is there).
    pub fn unbind(&self, uid: &str, node: &str) {
        let mut placements = self.placements.write();
        if !placements.by_pod.get(uid).is_some_and(|p| p.node == node && !p.watched) {
            return;
        }
        let Some(placement) = placements.remove(uid) else { return };
        self.gpus.release(uid);
        drop(placements);
        let Placement { namespace, name, request, .. } = placement;
        self.remember(uid, PendingPod { namespace, name, request });
    }

    /// A copy of pod `uid`'s placement, if the model holds one.
    pub fn placement(&self, uid: &str) -> Option<Placement> {
        self.placements.read().by_pod.get(uid).cloned()
    }

    /// Gives the watched pods on `node` that hold no GPU shares yet theirs (their node was
    /// not in the ledger when they were seen, or its GPUs looked taken).
    fn settle(&self, node: &str) {
        let placements = self.placements.read();
        for (uid, placement) in placements.by_pod.iter().filter(|(_, p)| p.watched && p.node == node) {
            self.take_shares(uid, placement);
        }
    }

    /// Takes the GPU shares of a pod the cluster has bound, unless it holds them already.
    /// Its accepted models are not checked: it is on the node already.
    fn take_shares(&self, uid: &str, placement: &Placement) {
        if placement.request.gpu == GpuDemand::None || self.gpus.allocation(uid).is_some() {
            return;
        }
        if let Err(refusal) = self.gpus.assign(uid, &placement.node, &placement.request.gpu, &[]) {
            tracing::warn!(
                pod = %format!("{}/{}", placement.namespace, placement.name),
                node = %placement.node,
                %refusal,
                "a pod bound in the cluster does not fit the GPU ledger; its shares are taken when room appears"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SchedulerConfig;
    use ironspider_scores::{PublishedScores, ScoreConfig};
    use std::sync::Arc;

    fn model() -> ClusterModel {
        ClusterModel::new(SchedulerConfig::default(), &ScoreConfig::default(), 1, Arc::new(PublishedScores::default()))
    }

    fn request(cpu: f64, gpu: GpuDemand) -> PodRequest {
        PodRequest { cpu, memory: 0.0, gpu, gpu_models: Vec::new() }
    }

    fn bound(name: &str, node: &str, request: PodRequest) -> BoundPod {
        BoundPod { namespace: "ns".into(), name: name.into(), node: node.into(), request }
    }

    fn free(model: &ClusterModel, node: &str) -> Vec<u32> {
        model.gpus().gpus(node).unwrap_or_default().iter().map(|g| g.free).collect()
    }

    #[test]
    fn api_nodes_are_known_and_their_pods_hold_room_until_forgotten() {
        let model = model();
        let view = model.view();
        assert!(model.facts(&view, "n1").is_none());
        let node = KubeNode { vcpus: Some(8.0), memory_bytes: Some(1e9), gpus: 2, gpu_model: Some("A100".into()) };
        model.observe_node("n1", node.clone());
        model.observe_node("n1", node);
        let facts = model.facts(&view, "n1").expect("known from the API");
        assert_eq!((facts.vcpus, facts.memory_bytes), (Some(8.0), Some(1e9)));
        assert_eq!(free(&model, "n1"), [1000, 1000], "observing again adds no device");

        // A pod seen before its node takes its shares when the node appears.
        model.observe_pod("early", bound("early", "n2", request(1.0, GpuDemand::Fraction(300))));
        assert_eq!(model.gpus().allocation("early"), None);
        model.observe_node("n2", KubeNode { gpus: 1, ..KubeNode::default() });
        assert_eq!(free(&model, "n2"), [700]);

        model.observe_pod("a", bound("a", "n1", request(3.0, GpuDemand::Whole(1))));
        model.observe_pod("a", bound("a", "n1", request(3.0, GpuDemand::Whole(1))));
        assert_eq!(free(&model, "n1"), [0, 1000], "one pod, one GPU, however often it is seen");
        assert_eq!(model.loads(&view).of("n1").map(|held| held.cpu), Some(3.0));
        assert!(model.forget_pod("a"));
        assert_eq!(free(&model, "n1"), [1000, 1000]);
        assert_eq!(model.loads(&view).of("n1"), None);

        model.observe_pod("b", bound("b", "n1", request(1.0, GpuDemand::None)));
        model.retain_pods(&HashSet::from(["early".to_string()]));
        assert_eq!(model.placement("b"), None, "a relist without b releases it");
        assert!(model.placement("early").is_some());
        model.retain_nodes(&HashSet::new());
        assert!(model.kube_node("n1").is_none() && model.facts(&view, "n1").is_none());
    }

    #[test]
    fn unbind_rolls_back_a_bind_here_but_not_a_pod_the_cluster_reports() {
        let model = model();
        model.observe_node("n1", KubeNode { vcpus: Some(8.0), gpus: 1, ..KubeNode::default() });
        let pending = |name: &str| PendingPod {
            namespace: "ns".into(),
            name: name.into(),
            request: request(1.0, GpuDemand::Whole(1)),
        };
        model.remember("p", pending("p"));
        model.bind("p", "n1").expect("room for p");
        model.unbind("p", "n1");
        assert_eq!((model.placement("p"), free(&model, "n1")), (None, vec![1000]));
        model.bind("p", "n1").expect("p is pending again");
        model.observe_pod("p", bound("p", "n1", request(1.0, GpuDemand::Whole(1))));
        model.unbind("p", "n1");
        assert!(model.placement("p").is_some_and(|p| p.watched), "the cluster says p is bound");
        assert_eq!(free(&model, "n1"), [0]);
    }
}
