//! Whether a pod may go to a node, and why not: the extender's `filter` for one node.
//!
//! A node is refused as *unresolvable* (kube-scheduler's `FailedAndUnresolvableNodes`: no
//! preemption can help) when the extender does not know it (no telemetry and no inventory
//! entry), when its health is below `min_health` (stale, erroring or overheated GPUs,
//! sustained pressure), when the pod asks for more CPU, memory or GPUs than the node has in
//! total, or for a GPU model the node lacks. It is refused as *failed* (`FailedNodes`:
//! preempting pods might help) when the room is there but taken.

use crate::model::{ClusterModel, Loads, NodeFacts, View, short_of};
use ironspider_placement::demand::PodRequest;
use ironspider_placement::gpu::LedgerRead;

/// The outcome for one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The pod fits.
    Fits,
    /// It does not fit now; preemption might help.
    Failed(String),
    /// It cannot fit, whatever is preempted.
    Unresolvable(String),
}

/// Whether the node is healthy enough to take pods; the reason when not.
pub fn health_refusal(facts: &NodeFacts, min_health: f64) -> Option<String> {
    let score = facts.score?;
    if score.health >= min_health {
        return None;
    }
    let why: Vec<&str> = score.factors.iter().map(|f| f.detail.as_str()).collect();
    let factors: Vec<&str> = score.factors.iter().map(|f| f.factor).collect();
    Some(format!(
        "node unhealthy: health {:.0} below {:.0} ({}: {})",
        score.health,
        min_health,
        factors.join(", "),
        why.join("; ")
    ))
}

/// What the pod asks beyond the node's whole capacity, in words.
fn beyond_capacity(facts: &NodeFacts, request: &PodRequest) -> Option<String> {
    short_of(facts, (0.0, 0.0), request).map(|reason| format!("{reason} even when empty"))
}

/// Judges one pod's fit, node by node, against one view of the cluster: the snapshot, the
/// requests held by pods bound here, and the GPU ledger, each read once for all the nodes.
pub struct Judge<'a> {
    model: &'a ClusterModel,
    view: &'a View,
    loads: Loads<'a>,
    gpus: LedgerRead<'a>,
    request: &'a PodRequest,
}

impl<'a> Judge<'a> {
    /// A judge of `request` on `model` as of `view`. It holds read locks on the placements
    /// and the GPU ledger until dropped: keep it for one request.
    pub fn new(model: &'a ClusterModel, view: &'a View, request: &'a PodRequest) -> Self {
        Judge { model, view, loads: model.loads(view), gpus: model.gpus().read(), request }
    }

    /// The verdict for `node`.
    pub fn verdict(&self, node: &str) -> Verdict {
        let Some(facts) = self.model.facts(self.view, node) else {
            return Verdict::Unresolvable(format!("node {node} is unknown: no telemetry and no inventory entry"));
        };
        if let Some(reason) = health_refusal(&facts, self.model.config().min_health) {
            return Verdict::Unresolvable(reason);
        }
        if let Some(reason) = beyond_capacity(&facts, self.request) {
            return Verdict::Unresolvable(reason);
        }
        let held = self.loads.of(node).map_or((0.0, 0.0), |h| (h.cpu, h.memory));
        if let Some(reason) = short_of(&facts, held, self.request) {
            return Verdict::Failed(reason);
        }
        match self.gpus.fits(node, facts.slot, &self.request.gpu, &self.request.gpu_models) {
            Ok(()) => Verdict::Fits,
            Err(refusal) if refusal.resolvable() => Verdict::Failed(format!("GPU: {refusal}")),
            Err(refusal) => Verdict::Unresolvable(format!("GPU: {refusal}")),
        }
    }
}
