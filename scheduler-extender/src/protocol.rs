//! The wire types of the kube-scheduler extender protocol (`k8s.io/kube-scheduler/extender/v1`)
//! and their JSON as kube-scheduler speaks it.
//!
//! The Go types carry no JSON tags, so their field names travel as the Go names
//! (`NodeNames`, `FailedAndUnresolvableNodes`, `NumPDBViolations`): answers are written in
//! that exact case. Go's decoder matches field names without regard to case, so requests are
//! read the same way ([`decode`]): keys of the extender's own objects are matched to their Go
//! names case-insensitively, while the Kubernetes objects inside (`Pod`, `Nodes`) and the
//! keys of maps (node names) are left untouched. `Pod`, `Node` and `NodeList` are the
//! Kubernetes types of `k8s-openapi`.

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtenderArgs {
    /// The pod being scheduled.
    #[serde(rename = "Pod")]
    pub pod: Pod,
    /// Candidate nodes, when the extender is not node-cache capable.
    #[serde(rename = "Nodes", default)]
    pub nodes: Option<NodeList>,
    /// Candidate node names, when it is.
    #[serde(rename = "NodeNames", default)]
    pub node_names: Option<Vec<String>>,
}

/// `ExtenderFilterResult`: the nodes that passed, and why the others did not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtenderFilterResult {
    /// Nodes that passed (full mode).
    #[serde(rename = "Nodes", default)]
    pub nodes: Option<NodeList>,
    /// Names of the nodes that passed (node-cache mode).
    #[serde(rename = "NodeNames", default)]
    pub node_names: Option<Vec<String>>,
    /// Node → reason, for nodes that failed but where preemption might help.
    #[serde(rename = "FailedNodes", default)]
    pub failed_nodes: BTreeMap<String, String>,
    /// Node → reason, for nodes no preemption can make fit.
    #[serde(rename = "FailedAndUnresolvableNodes", default)]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// A non-empty error fails the pod's scheduling attempt.
    #[serde(rename = "Error", default)]
    pub error: String,
}

/// `HostPriority`: one node's score, 0..=[`MAX_EXTENDER_PRIORITY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPriority {
    /// Node name.
    #[serde(rename = "Host")]
    pub host: String,
    /// Score.
    #[serde(rename = "Score")]
    pub score: i64,
}

/// `HostPriorityList`: a bare JSON array of [`HostPriority`].
pub type HostPriorityList = Vec<HostPriority>;

/// `ExtenderBindingArgs`: bind this pod to this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderBindingArgs {
    /// Pod name.
    #[serde(rename = "PodName")]
    pub pod_name: String,
    /// Pod namespace.
    #[serde(rename = "PodNamespace")]
    pub pod_namespace: String,
    /// Pod UID.
    #[serde(rename = "PodUID")]
    pub pod_uid: String,
    /// Node name.
    #[serde(rename = "Node")]
    pub node: String,
}

/// `ExtenderBindingResult`: empty `Error` on success.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderBindingResult {
    /// Why the binding failed, empty when it succeeded.
    #[serde(rename = "Error", default)]
    pub error: String,
}

/// `Victims`: pods to preempt on a node, in full.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Victims {
    /// The pods.
    #[serde(rename = "Pods", default)]
    pub pods: Vec<Pod>,
    /// PodDisruptionBudget violations the preemption causes.
    #[serde(rename = "NumPDBViolations", default)]
    pub num_pdb_violations: i64,
}

/// `MetaPod`: a pod by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaPod {
    /// Pod UID.
    #[serde(rename = "UID")]
    pub uid: String,
}

/// `MetaVictims`: pods to preempt on a node, by UID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaVictims {
    /// The pods.
    #[serde(rename = "Pods", default)]
    pub pods: Vec<MetaPod>,
    /// PodDisruptionBudget violations the preemption causes.
    #[serde(rename = "NumPDBViolations", default)]
    pub num_pdb_violations: i64,
}

/// `ExtenderPreemptionArgs`: the preemptor and the victims kube-scheduler proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtenderPreemptionArgs {
    /// The pod that needs room.
    #[serde(rename = "Pod")]
    pub pod: Pod,
    /// Victims in full (when the extender is not node-cache capable).
    #[serde(rename = "NodeNameToVictims", default)]
    pub node_name_to_victims: BTreeMap<String, Victims>,
    /// Victims by UID (when it is).
    #[serde(rename = "NodeNameToMetaVictims", default)]
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

/// `ExtenderPreemptionResult`: the nodes (and victims) the extender accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtenderPreemptionResult {
    /// Victims by UID, per node still eligible.
    #[serde(rename = "NodeNameToMetaVictims", default)]
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

/// How a JSON value of an extender type is laid out, for case-insensitive key matching.
#[derive(Debug)]
pub enum Shape {
    /// A value whose keys are not the extender's (Kubernetes objects, strings, numbers).
    Opaque,
    /// An extender object: its Go field names and the shape of each field.
    Object(&'static [(&'static str, Shape)]),
    /// A map whose keys are data (node names) and whose values have the inner shape.
    MapOf(&'static Shape),
    /// A list of values of the inner shape.
    ListOf(&'static Shape),
}

const META_VICTIMS: Shape = Shape::Object(&[
    ("Pods", Shape::ListOf(&Shape::Object(&[("UID", Shape::Opaque)]))),
    ("NumPDBViolations", Shape::Opaque),
]);
const VICTIMS: Shape = Shape::Object(&[("Pods", Shape::Opaque), ("NumPDBViolations", Shape::Opaque)]);

/// The shape of each extender type that can arrive in a request or an answer.
pub trait WireShape {
    /// Its layout.
    fn shape() -> &'static Shape;
}

macro_rules! wire_shape {
    ($type:ty, $shape:expr) => {
        impl WireShape for $type {
            fn shape() -> &'static Shape {
                const SHAPE: Shape = $shape;
                &SHAPE
            }
        }
    };
}

wire_shape!(
    ExtenderArgs,
    Shape::Object(&[("Pod", Shape::Opaque), ("Nodes", Shape::Opaque), ("NodeNames", Shape::Opaque)])
);
wire_shape!(
    ExtenderFilterResult,
    Shape::Object(&[
        ("Nodes", Shape::Opaque),
        ("NodeNames", Shape::Opaque),
        ("FailedNodes", Shape::Opaque),
        ("FailedAndUnresolvableNodes", Shape::Opaque),
        ("Error", Shape::Opaque),
    ])
);
wire_shape!(HostPriorityList, Shape::ListOf(&Shape::Object(&[("Host", Shape::Opaque), ("Score", Shape::Opaque)])));
wire_shape!(
    ExtenderBindingArgs,
    Shape::Object(&[
        ("PodName", Shape::Opaque),
        ("PodNamespace", Shape::Opaque),
        ("PodUID", Shape::Opaque),
        ("Node", Shape::Opaque),
    ])
);
wire_shape!(ExtenderBindingResult, Shape::Object(&[("Error", Shape::Opaque)]));
wire_shape!(
    ExtenderPreemptionArgs,
    Shape::Object(&[
        ("Pod", Shape::Opaque),
        ("NodeNameToVictims", Shape::MapOf(&VICTIMS)),
        ("NodeNameToMetaVictims", Shape::MapOf(&META_VICTIMS)),
    ])
);
wire_shape!(ExtenderPreemptionResult, Shape::Object(&[("NodeNameToMetaVictims", Shape::MapOf(&META_VICTIMS))]));

/// Renames the keys of extender objects in `value` to their Go names when they match
/// ignoring case (an exact match wins, as in Go's decoder), following `shape`.
fn normalise(value: &mut serde_json::Value, shape: &Shape) {
    match (shape, value) {
        (Shape::Object(fields), serde_json::Value::Object(map)) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some((name, inner)) = fields
                    .iter()
                    .find(|(name, _)| *name == key)
                    .or_else(|| fields.iter().find(|(name, _)| name.eq_ignore_ascii_case(&key)))
                else {
                    continue;
                };
                let Some(mut child) = map.remove(&key) else { continue };
                normalise(&mut child, inner);
                if key == *name || !map.contains_key(*name) {
                    map.insert((*name).to_string(), child);
                }
            }
        }
        (Shape::MapOf(inner), serde_json::Value::Object(map)) => map.values_mut().for_each(|v| normalise(v, inner)),
        (Shape::ListOf(inner), serde_json::Value::Array(items)) => items.iter_mut().for_each(|v| normalise(v, inner)),
        _ => {}
    }
}

/// Decodes an extender request or answer as Go's `encoding/json` would: field names of the
/// extender's objects in any letter case.
pub fn decode<T: DeserializeOwned + WireShape>(body: &[u8]) -> Result<T, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(body)?;
    normalise(&mut value, T::shape());
    serde_json::from_value(value)
}
