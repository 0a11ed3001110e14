//! The cluster model the extender keeps: which nodes exist and what they hold, from the
//! engine's score snapshot (telemetry, with the inventory applied), the configured inventory
//! (nodes that report nothing yet), and the extender's own bind calls.
//!
//! Pods go through three states here:
//! - *pending*: seen by `filter`, remembered (bounded, oldest forgotten) so that `bind`,
//!   which names only the pod, knows what it asks for;
//! - *assumed*: bound by this extender and not yet reported by telemetry; its requests are
//!   held on the node, and during the first `burst_windows` windows it also counts as load
//!   (burst damping);
//! - *running*: reported by telemetry (a pod metric with its namespace and name). When a
//!   running pod stops being reported, it has left: its GPU shares and requests are freed.
//!
//! Telemetry is folded in once per new snapshot, not per request.
//!
//! With a cluster configured, the Kubernetes watch adds nodes (allocatable capacity, GPUs)
//! and every pod bound to a node, whoever bound it (the methods are in `model/api.rs`).

use crate::config::SchedulerConfig;
use crate::gpu::{Allocation, Gpu, GpuLedger, Refusal};
use crate::request::PodRequest;
use crate::source::ScoreSource;
use ironspider_engine::score::inventory::NodeInventory;
use ironspider_engine::score::pressure::PressureConfig;
use ironspider_engine::scores::ScoresSnapshot;
use ironspider_engine::{EngineConfig, NodeScore};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

mod api;
pub use self::api::{BoundPod, KubeNode};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What the extender knows of one node.
#[derive(Debug, Clone, Copy)]
pub struct NodeFacts<'a> {
    /// Logical CPUs, when known.
    pub vcpus: Option<f64>,
    /// Memory bytes, when known.
    pub memory_bytes: Option<f64>,
    /// GPU model, when known.
    pub gpu_model: Option<&'a str>,
    /// The node's scores; `None` for a node known only from the inventory.
    pub score: Option<&'a NodeScore>,
}

impl<'a> NodeFacts<'a> {
    /// The facts telemetry gives of a scored node (inventory overrides already applied).
    pub fn of(score: &'a NodeScore) -> Self {
        let hardware = &score.hardware;
        NodeFacts {
            vcpus: hardware.vcpus,
            memory_bytes: hardware.memory_bytes,
            gpu_model: hardware.gpu_model.as_deref(),
            score: Some(score),
        }
    }
}

/// A pod this extender bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Node it was bound to.
    pub node: String,
    /// What it asks for.
    pub request: PodRequest,
    /// End of the newest scored window when it was bound (ns since the epoch).
    pub bound_at: i64,
    /// Whether telemetry has reported it since.
    pub running: bool,
    /// Whether the Kubernetes watch reports it bound (then only the watch releases it).
    pub watched: bool,
}

/// Requests held on one node by the pods bound here.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Held {
    /// CPU cores.
    pub cpu: f64,
    /// Memory bytes.
    pub memory: f64,
    /// CPU cores of pods still within their burst windows.
    pub burst_cpu: f64,
    /// Memory bytes of pods still within their burst windows.
    pub burst_memory: f64,
}

/// A pod seen by `filter`, waiting for its `bind`.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// What it asks for.
    pub request: PodRequest,
}

#[derive(Debug, Default)]
struct Pending {
    pods: HashMap<String, PendingPod>,
    order: VecDeque<String>,
}

/// Why a bind was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BindError {
    /// No filter call announced the pod (the extender restarted, say): the scheduler retries.
    #[error("pod {0} is unknown to the extender (no filter call seen); it will be retried")]
    UnknownPod(String),
    /// The pod is bound to another node already (kube-scheduler never moves a bound pod).
    #[error("pod {pod} is already bound to node {node}")]
    AlreadyBound {
        /// Pod UID.
        pod: String,
        /// The node it is bound to.
        node: String,
    },
    /// The node is not known.
    #[error("node {0} is unknown (no telemetry and no inventory entry)")]
    UnknownNode(String),
    /// The pod no longer fits (another bind took the room since filter).
    #[error("pod {pod} no longer fits node {node}: {reason}")]
    NoLongerFits {
        /// Pod UID.
        pod: String,
        /// Node.
        node: String,
        /// What is short.
        reason: String,
    },
}

/// The cluster model.
pub struct ClusterModel {
    config: SchedulerConfig,
    pressure: PressureConfig,
    window_ns: i64,
    inventory: BTreeMap<String, NodeInventory>,
    source: Arc<dyn ScoreSource>,
    gpus: GpuLedger,
    placements: RwLock<HashMap<String, Placement>>,
    pending: Mutex<Pending>,
    /// The snapshot whose telemetry was last folded in.
    synced: Mutex<Option<Arc<ScoresSnapshot>>>,
    /// Nodes as the Kubernetes watch reports them (empty without a cluster).
    kube_nodes: RwLock<HashMap<String, KubeNode>>,
}

impl std::fmt::Debug for ClusterModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterModel").field("inventory", &self.inventory.len()).finish_non_exhaustive()
    }
}

fn devices(ids: &[String], model: Option<&str>) -> Vec<Gpu> {
    let model = model.unwrap_or_default();
    ids.iter().map(|id| Gpu { id: id.clone(), model: model.to_string(), free: crate::request::WHOLE_GPU }).collect()
}

fn inventory_devices(inventory: &NodeInventory) -> Vec<Gpu> {
    let ids: Vec<String> = (0..inventory.gpus.unwrap_or(0)).map(|i| format!("gpu{i}")).collect();
    devices(&ids, inventory.gpu_model.as_deref())
}

impl ClusterModel {
    /// A model over `source`'s snapshots, with the engine's window length, pressure
    /// settings and node inventory.
    pub fn new(config: SchedulerConfig, engine: &EngineConfig, source: Arc<dyn ScoreSource>) -> Self {
        let inventory = engine.scores.inventory.clone();
        let gpus = GpuLedger::default();
        for (name, node) in &inventory {
            gpus.sync_node(name, &inventory_devices(node));
        }
        Self {
            config,
            pressure: engine.scores.pressure.clone(),
            window_ns: engine.window_ns().max(1),
            inventory,
            source,
            gpus,
            placements: RwLock::default(),
            pending: Mutex::default(),
            synced: Mutex::default(),
            kube_nodes: RwLock::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// The engine's pressure settings (to predict pressure under added load).
    pub fn pressure_config(&self) -> &PressureConfig {
        &self.pressure
    }

    /// The GPU ledger.
    pub fn gpus(&self) -> &GpuLedger {
        &self.gpus
    }

    /// The newest snapshot, with its telemetry folded into the model first when it is new.
    pub fn snapshot(&self) -> Arc<ScoresSnapshot> {
        let snapshot = self.source.snapshot();
        let mut synced = self.synced.lock();
        if synced.as_ref().is_none_or(|done| !Arc::ptr_eq(done, &snapshot)) {
            self.fold_in(&snapshot);
            *synced = Some(Arc::clone(&snapshot));
        }
        snapshot
    }

    /// Adds the snapshot's nodes and devices to the ledger, and moves pods along: assumed →
    /// running when reported, running → gone when no longer reported.
    fn fold_in(&self, snapshot: &ScoresSnapshot) {
        for (name, score) in &snapshot.nodes {
            let hardware = &score.hardware;
            self.gpus.sync_node(name, &devices(&hardware.gpu_ids, hardware.gpu_model.as_deref()));
        }
        if snapshot.pods.is_empty() {
            return;
        }
        let reported: HashSet<(&str, &str)> =
            snapshot.pods.iter().map(|p| (p.namespace.as_str(), p.pod.as_str())).collect();
        let mut placements = self.placements.write();
        let mut gone = Vec::new();
        for (uid, placement) in placements.iter_mut() {
            let is_reported = reported.contains(&(placement.namespace.as_str(), placement.name.as_str()));
            match (placement.running, is_reported) {
                (false, true) => placement.running = true,
                // The watch, when it knows the pod, says when it has left.
                (true, false) if !placement.watched => gone.push(uid.clone()),
                _ => {}
            }
        }
        for uid in gone {
            placements.remove(&uid);
            self.gpus.release(&uid);
        }
    }

    /// What is known of `node` in `snapshot`: telemetry (inventory applied) or, failing
    /// that, the inventory alone, with the Kubernetes API's capacity where those lack it;
    /// `None` when none knows it.
    pub fn facts<'a>(&'a self, snapshot: &'a ScoresSnapshot, node: &str) -> Option<NodeFacts<'a>> {
        let known = snapshot.nodes.get(node).map(NodeFacts::of).or_else(|| {
            self.inventory.get(node).map(|inventory| NodeFacts {
                vcpus: inventory.vcpus,
                memory_bytes: inventory.memory_gib.map(|gib| gib * GIB),
                gpu_model: inventory.gpu_model.as_deref(),
                score: None,
            })
        });
        match known {
            Some(facts) if facts.vcpus.is_some() && facts.memory_bytes.is_some() => Some(facts),
            known => self.with_kube_capacity(known, node),
        }
    }

    /// Requests held on each node by pods bound here, as of `snapshot`.
    pub fn held(&self, snapshot: &ScoresSnapshot) -> HashMap<String, Held> {
        let burst_since = snapshot.window_end - i64::from(self.config.burst_windows) * self.window_ns;
        let mut held: HashMap<String, Held> = HashMap::new();
        for placement in self.placements.read().values() {
            let node = held.entry(placement.node.clone()).or_default();
            node.cpu += placement.request.cpu;
            node.memory += placement.request.memory;
            if !placement.running && placement.bound_at > burst_since {
                node.burst_cpu += placement.request.cpu;
                node.burst_memory += placement.request.memory;
            }
        }
        held
    }

    /// Remembers a pod seen by `filter` until its `bind`.
    pub fn remember(&self, uid: &str, pod: PendingPod) {
        if uid.is_empty() {
            return;
        }
        let mut pending = self.pending.lock();
        if pending.pods.insert(uid.to_string(), pod).is_none() {
            pending.order.push_back(uid.to_string());
        }
        while pending.order.len() > self.config.remembered_pods.max(1) {
            if let Some(oldest) = pending.order.pop_front() {
                pending.pods.remove(&oldest);
            }
        }
    }

    /// Binds pod `uid` to `node`: takes its GPU shares and holds its requests. Binding a pod
    /// again to the node it is bound to succeeds without taking anything more; binding it to
    /// another node is refused.
    pub fn bind(&self, uid: &str, node: &str) -> Result<Allocation, BindError> {
        let snapshot = self.snapshot();
        let facts = self.facts(&snapshot, node).ok_or_else(|| BindError::UnknownNode(node.to_string()))?;
        let mut placements = self.placements.write();
        if let Some(existing) = placements.get(uid) {
            if existing.node != node {
                return Err(BindError::AlreadyBound { pod: uid.to_string(), node: existing.node.clone() });
            }
            let shares = self.gpus.allocation(uid).map(|a| a.shares).unwrap_or_default();
            return Ok(Allocation { node: existing.node.clone(), shares });
        }
        let pod = self.pending.lock().pods.get(uid).cloned().ok_or_else(|| BindError::UnknownPod(uid.to_string()))?;
        let no_longer_fits =
            |reason: String| BindError::NoLongerFits { pod: uid.to_string(), node: node.to_string(), reason };
        let held_here = requested(placements.values().filter(|p| p.node == node));
        if let Some(reason) = short_of(&facts, held_here, &pod.request) {
            return Err(no_longer_fits(reason));
        }
        let allocation = self
            .gpus
            .assign(uid, node, &pod.request.gpu, &pod.request.gpu_models)
            .map_err(|refusal: Refusal| no_longer_fits(refusal.to_string()))?;
        placements.insert(
            uid.to_string(),
            Placement {
                namespace: pod.namespace,
                name: pod.name,
                node: node.to_string(),
                request: pod.request,
                bound_at: snapshot.window_end,
                running: false,
                watched: false,
            },
        );
        self.pending.lock().pods.remove(uid);
        Ok(allocation)
    }

    /// CPU cores and memory bytes requested by those of `pods` (UIDs) bound to `node`.
    pub fn requested_by(&self, node: &str, pods: &[&str]) -> (f64, f64) {
        let placements = self.placements.read();
        requested(pods.iter().filter_map(|uid| placements.get(*uid)).filter(|p| p.node == node))
    }
}

/// CPU cores and memory bytes requested by `placements`, summed.
fn requested<'p>(placements: impl Iterator<Item = &'p Placement>) -> (f64, f64) {
    placements.fold((0.0, 0.0), |(cpu, memory), p| (cpu + p.request.cpu, memory + p.request.memory))
}

/// What the node lacks for `request` beside the `(cpu, memory)` already held there, in
/// words; `None` when it fits or the capacity is unknown.
pub fn short_of(facts: &NodeFacts, (held_cpu, held_memory): (f64, f64), request: &PodRequest) -> Option<String> {
    if let Some(vcpus) = facts.vcpus
        && request.cpu > 0.0
        && held_cpu + request.cpu > vcpus
    {
        return Some(format!("needs {} CPU, {} of {vcpus} free", request.cpu, (vcpus - held_cpu).max(0.0)));
    }
    if let Some(bytes) = facts.memory_bytes
        && request.memory > 0.0
        && held_memory + request.memory > bytes
    {
        let free = (bytes - held_memory).max(0.0);
        return Some(format!(
            "needs {:.2} GiB memory, {:.2} of {:.2} GiB free",
            request.memory / GIB,
            free / GIB,
            bytes / GIB
        ));
    }
    None
}
