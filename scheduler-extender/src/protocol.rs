//! The wire types of the kube-scheduler extender protocol (`k8s.io/kube-scheduler/extender/v1`)
//! and their JSON as kube-scheduler speaks it.
//!
//! The Go types carry no JSON tags, so their fields travel under the Go names (`NodeNames`,
//! `FailedAndUnresolvableNodes`, `NumPDBViolations`), written in that exact case and read in
//! any case, as Go's decoder does ([`mod@crate::go_json`]). Inside them, the Kubernetes objects
//! (`Pod`, `Nodes`) and the keys of maps (node names) are read as they are. `Pod`, `Node` and
//! `NodeList` are the Kubernetes types of `k8s-openapi`.

use crate::go_json;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The largest score an extender gives (`MaxExtenderPriority`); kube-scheduler multiplies
/// it by the extender's weight and by 10 (`MaxNodeScore / MaxExtenderPriority`).
pub const MAX_EXTENDER_PRIORITY: i64 = 10;

/// `v1.NodeList` as kube-scheduler sends it: the nodes under `items` (list metadata and the
/// type fields, usually absent, are ignored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeList {
    /// The nodes.
    #[serde(default)]
    pub items: Vec<Node>,
}

/// `ExtenderArgs`: the pod to place and the candidate nodes, in full (`Nodes`) or by name
/// (`NodeNames`, when the extender is `nodeCacheCapable`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtenderArgs {
    /// The pod being scheduled.
    pub pod: Pod,
    /// Candidate nodes, when the extender is not node-cache capable.
    pub nodes: Option<NodeList>,
    /// Candidate node names, when it is.
    pub node_names: Option<Vec<String>>,
}

/// `ExtenderFilterResult`: the nodes that passed, and why the others did not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtenderFilterResult {
    /// Nodes that passed (full mode).
    pub nodes: Option<NodeList>,
    /// Names of the nodes that passed (node-cache mode).
    pub node_names: Option<Vec<String>>,
    /// Node → reason, for nodes that failed but where preemption might help.
    pub failed_nodes: BTreeMap<String, String>,
    /// Node → reason, for nodes no preemption can make fit.
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// A non-empty error fails the pod's scheduling attempt.
    pub error: String,
}

/// `HostPriority`: one node's score, 0..=[`MAX_EXTENDER_PRIORITY`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPriority {
    /// Node name.
    pub host: String,
    /// Score.
    pub score: i64,
}

/// `HostPriorityList`: a bare JSON array of [`HostPriority`].
pub type HostPriorityList = Vec<HostPriority>;

/// `ExtenderBindingArgs`: bind this pod to this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtenderBindingArgs {
    /// Pod name.
    pub pod_name: String,
    /// Pod namespace.
    pub pod_namespace: String,
    /// Pod UID.
    pub pod_uid: String,
    /// Node name.
    pub node: String,
}

/// `ExtenderBindingResult`: empty `Error` on success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtenderBindingResult {
    /// Why the binding failed, empty when it succeeded.
    pub error: String,
}

/// `Victims`: pods to preempt on a node, in full.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Victims {
    /// The pods.
    pub pods: Vec<Pod>,
    /// PodDisruptionBudget violations the preemption causes.
    pub num_pdb_violations: i64,
}

/// `MetaPod`: a pod by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaPod {
    /// Pod UID.
    pub uid: String,
}

/// `MetaVictims`: pods to preempt on a node, by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaVictims {
    /// The pods.
    pub pods: Vec<MetaPod>,
    /// PodDisruptionBudget violations the preemption causes.
    pub num_pdb_violations: i64,
}

/// `ExtenderPreemptionArgs`: the preemptor and the victims kube-scheduler proposes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExtenderPreemptionArgs {
    /// The pod that needs room.
    pub pod: Pod,
    /// Victims in full (when the extender is not node-cache capable).
    pub node_name_to_victims: BTreeMap<String, Victims>,
    /// Victims by UID (when it is).
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

/// `ExtenderPreemptionResult`: the nodes (and victims) the extender accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtenderPreemptionResult {
    /// Victims by UID, per node still eligible.
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

go_json!(ExtenderArgs { pod: "Pod", nodes: "Nodes", node_names: "NodeNames" });
go_json!(ExtenderFilterResult {
    nodes: "Nodes",
    node_names: "NodeNames",
    failed_nodes: "FailedNodes",
    failed_and_unresolvable_nodes: "FailedAndUnresolvableNodes",
    error: "Error",
});
go_json!(HostPriority { host: "Host", score: "Score" });
go_json!(ExtenderBindingArgs { pod_name: "PodName", pod_namespace: "PodNamespace", pod_uid: "PodUID", node: "Node" });
go_json!(ExtenderBindingResult { error: "Error" });
go_json!(Victims { pods: "Pods", num_pdb_violations: "NumPDBViolations" });
go_json!(MetaPod { uid: "UID" });
go_json!(MetaVictims { pods: "Pods", num_pdb_violations: "NumPDBViolations" });
go_json!(ExtenderPreemptionArgs {
    pod: "Pod",
    node_name_to_victims: "NodeNameToVictims",
    node_name_to_meta_victims: "NodeNameToMetaVictims",
});
go_json!(ExtenderPreemptionResult { node_name_to_meta_victims: "NodeNameToMetaVictims" });

/// Encodes an extender answer, into a buffer of `size_hint` bytes to start with (the request's
/// size is a good guess: an answer names at most the nodes the request named), so that large
/// answers are not copied as the buffer grows.
pub fn encode<T: Serialize>(answer: &T, size_hint: usize) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = Vec::with_capacity(size_hint.max(128));
    serde_json::to_writer(&mut body, answer)?;
    Ok(body)
}

/// Decodes an extender request or answer as Go's `encoding/json` would (see [`mod@crate::go_json`]).
///
/// JSON is UTF-8 (RFC 8259 §8.1), so the whole body is checked as UTF-8 once, in one fast
/// pass over long runs of ASCII; serde_json then reads the strings inside without checking
/// each again, which on a request naming hundreds of nodes was a tenth of the decoding.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(body).map_err(|error| {
        <serde_json::Error as serde::de::Error>::custom(format_args!("the body is not UTF-8: {error}"))
    })?;
    serde_json::from_str(text)
}
