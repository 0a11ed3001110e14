//! The cluster model the extender keeps: which nodes exist and what they hold, from the
//! engine's score snapshot (telemetry, with the inventory applied), the configured inventory
//! (nodes that report nothing yet), and the extender's own bind calls.
//!
//! Pods go through three states here:
//! - *pending*: seen by `filter`, remembered (bounded, oldest forgotten) so that `bind`,
//!   which names only the pod, knows what it asks for;
//! - *assumed*: bound by this extender and not yet reported by telemetry; its requests are
//!   held on the node, and during the first `burst_windows` windows it also counts as load
//!   (burst damping). One that neither telemetry nor the Kubernetes watch has reported
//!   within `assumed_windows` windows of its bind is taken as never started and released;
//! - *running*: reported by telemetry (a pod metric with its namespace and name). When a
//!   running pod stops being reported, it has left: its GPU shares and requests are freed.
//!
//! Telemetry is folded in once per new snapshot, not per request: the snapshot's nodes are
//! indexed by name then ([`View`]), and the requests held on each node are kept as running
//! sums updated by bind and release ([`Loads`]), so a `filter` or `prioritize` over thousands
//! of nodes does one hash lookup per node and takes each lock once.
//!
//! With a cluster configured, the Kubernetes watch adds nodes (allocatable capacity, GPUs)
//! and every pod bound to a node, whoever bound it (the methods are in `model/api.rs`).

use crate::config::SchedulerConfig;
use hashbrown::{HashMap, HashSet};
use ironspider_placement::cluster::PodSpec;
use ironspider_placement::demand::PodRequest;
use ironspider_placement::gpu::{Allocation, Gpu, GpuLedger, LedgerRead, NodeSlot, Refusal};
use ironspider_placement::mix::PodMix;
use ironspider_scores::ScoreSource;
use ironspider_scores::ScoresSnapshot;
use ironspider_scores::inventory::NodeInventory;
use ironspider_scores::pressure::PressureConfig;
use ironspider_scores::{NodeScore, ScoreConfig};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::collections::VecDeque;
use std::sync::Arc;

mod api;
pub use self::api::{BoundPod, KubeNode};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What the extender knows of one node.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeFacts<'a> {
    /// Logical CPUs, when known.
    pub vcpus: Option<f64>,
    /// Memory bytes, when known.
    pub memory_bytes: Option<f64>,
    /// GPU model, when known.
    pub gpu_model: Option<&'a str>,
    /// The node's scores; `None` for a node known only from the inventory.
    pub score: Option<&'a NodeScore>,
    /// Where the GPU ledger keeps the node's devices, when the view indexed it (else the
    /// ledger finds the node by name).
    pub slot: Option<NodeSlot>,
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
            slot: None,
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

/// Each scored node's facts (with the ledger slot of its devices), by name.
type NodeIndex<'a> = HashMap<&'a str, NodeFacts<'a>>;

self_cell::self_cell!(
    struct IndexedSnapshot {
        owner: Arc<ScoresSnapshot>,
        #[covariant]
        dependent: NodeIndex,
    }
);

/// A score snapshot with its nodes' facts indexed by name, with the ledger slots of their
/// devices, built once per snapshot: one lookup per node then serves the facts, the scores
/// and the devices, and the capacity is read from the index entry rather than from the far
/// end of the node's scores.
pub struct View(IndexedSnapshot);

impl View {
    fn new(snapshot: Arc<ScoresSnapshot>, ledger: &LedgerRead) -> Self {
        View(IndexedSnapshot::new(snapshot, |snapshot| {
            let facts = |name, score| NodeFacts { slot: ledger.slot(name), ..NodeFacts::of(score) };
            snapshot.nodes.iter().map(|(name, score)| (name.as_str(), facts(name, score))).collect()
        }))
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Arc<ScoresSnapshot> {
        self.0.borrow_owner()
    }

    /// End of the newest window scored (ns since the epoch).
    pub fn window_end(&self) -> i64 {
        self.snapshot().window_end
    }

    /// What telemetry says of `node` (with the ledger slot of its devices), when it knows it.
    pub fn facts(&self, node: &str) -> Option<NodeFacts<'_>> {
        self.0.borrow_dependent().get(node).copied()
    }
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View").field("window_end", &self.window_end()).finish_non_exhaustive()
    }
}

/// What the pods bound here hold on one node: running sums, and the pods still within their
/// burst windows.
#[derive(Debug, Default)]
struct NodeLoad {
    pods: usize,
    cpu: f64,
    memory: f64,
    /// `(bound_at, cpu, memory)` of pods not yet reported by telemetry, pruned once per
    /// snapshot when they leave the burst windows.
    fresh: Vec<(i64, f64, f64)>,
}

/// Every placement, by pod UID and, summed, by node.
#[derive(Debug, Default)]
struct Placements {
    by_pod: HashMap<String, Placement>,
    by_node: HashMap<String, NodeLoad>,
}

impl Placements {
    fn insert(&mut self, uid: String, placement: Placement) {
        let load = self.by_node.entry_ref(placement.node.as_str()).or_default();
        load.pods += 1;
        load.cpu += placement.request.cpu;
        load.memory += placement.request.memory;
        load.fresh.push((placement.bound_at, placement.request.cpu, placement.request.memory));
        self.by_pod.insert(uid, placement);
    }

    fn remove(&mut self, uid: &str) -> Option<Placement> {
        let placement = self.by_pod.remove(uid)?;
        if let Some(load) = self.by_node.get_mut(placement.node.as_str()) {
            load.pods -= 1;
            if load.pods == 0 {
                self.by_node.remove(placement.node.as_str());
            } else {
                load.cpu -= placement.request.cpu;
                load.memory -= placement.request.memory;
                forget_fresh(load, &placement);
            }
        }
        Some(placement)
    }

    /// Marks a placement as reported by telemetry: it no longer counts as a burst.
    fn mark_running(&mut self, uid: &str) {
        let Some(placement) = self.by_pod.get_mut(uid) else { return };
        placement.running = true;
        if let Some(load) = self.by_node.get_mut(placement.node.as_str()) {
            forget_fresh(load, placement);
        }
    }
}

/// Drops one fresh entry of `placement` from `load`.
fn forget_fresh(load: &mut NodeLoad, placement: &Placement) {
    let entry = (placement.bound_at, placement.request.cpu, placement.request.memory);
    if let Some(at) = load.fresh.iter().position(|fresh| *fresh == entry) {
        load.fresh.swap_remove(at);
    }
}

/// The requests held on nodes as of one view, under one read lock of the placements.
pub struct Loads<'a> {
    placements: RwLockReadGuard<'a, Placements>,
    burst_since: i64,
}

impl Loads<'_> {
    /// What pods bound here hold on `node`; `None` when they hold nothing.
    pub fn of(&self, node: &str) -> Option<Held> {
        let load = self.placements.by_node.get(node)?;
        let mut held = Held { cpu: load.cpu.max(0.0), memory: load.memory.max(0.0), ..Held::default() };
        for (_, cpu, memory) in load.fresh.iter().filter(|(bound_at, _, _)| *bound_at > self.burst_since) {
            held.burst_cpu += cpu;
            held.burst_memory += memory;
        }
        Some(held)
    }

    /// CPU cores and memory bytes requested by those of `pods` (UIDs) bound to `node`.
    pub fn requested_by(&self, node: &str, pods: &[&str]) -> (f64, f64) {
        let bound_there = pods.iter().filter_map(|uid| self.placements.by_pod.get(*uid)).filter(|p| p.node == node);
        bound_there.fold((0.0, 0.0), |(cpu, memory), p| (cpu + p.request.cpu, memory + p.request.memory))
    }
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
    inventory: HashMap<String, NodeInventory>,
    source: Arc<dyn ScoreSource>,
    gpus: GpuLedger,
    placements: RwLock<Placements>,
    pending: Mutex<Pending>,
    /// The view of the snapshot whose telemetry was last folded in.
    view: RwLock<Option<Arc<View>>>,
    /// Nodes as the Kubernetes watch reports them (empty without a cluster).
    kube_nodes: RwLock<HashMap<String, KubeNode>>,
    mix: PodMix,
}

impl std::fmt::Debug for ClusterModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterModel").field("inventory", &self.inventory.len()).finish_non_exhaustive()
    }
}

fn devices(ids: &[String], model: Option<&str>) -> Vec<Gpu> {
    let model = model.unwrap_or_default();
    ids.iter()
        .map(|id| Gpu { id: id.clone(), model: model.to_string(), free: ironspider_placement::demand::WHOLE_GPU })
        .collect()
}

fn inventory_devices(inventory: &NodeInventory) -> Vec<Gpu> {
    let ids: Vec<String> = (0..inventory.gpus.unwrap_or(0)).map(ironspider_placement::gpu::placeholder_id).collect();
    devices(&ids, inventory.gpu_model.as_deref())
}

impl ClusterModel {
    /// A model over `source`'s snapshots, with the engine's score settings (pressure and
    /// node inventory) and window length in ns.
    pub fn new(config: SchedulerConfig, scores: &ScoreConfig, window_ns: i64, source: Arc<dyn ScoreSource>) -> Self {
        let inventory: HashMap<String, NodeInventory> = scores.inventory.clone().into_iter().collect();
        let gpus = GpuLedger::default();
        for (name, node) in &inventory {
            gpus.sync_node(name, &inventory_devices(node));
        }
        let mix = PodMix::new(config.mix_pods);
        Self {
            config,
            pressure: scores.pressure.clone(),
            window_ns: window_ns.max(1),
            inventory,
            source,
            gpus,
            placements: RwLock::default(),
            pending: Mutex::default(),
            view: RwLock::default(),
            kube_nodes: RwLock::default(),
            mix,
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

    /// The view of the newest snapshot, with its telemetry folded into the model first when
    /// it is new.
    pub fn view(&self) -> Arc<View> {
        let snapshot = self.source.snapshot();
        let is_current =
            |view: &Option<Arc<View>>| view.as_ref().filter(|v| Arc::ptr_eq(v.snapshot(), &snapshot)).cloned();
        if let Some(view) = is_current(&self.view.read()) {
            return view;
        }
        let mut current = self.view.write();
        if let Some(view) = is_current(&current) {
            return view;
        }
        self.fold_in(&snapshot);
        let view = Arc::new(View::new(snapshot, &self.gpus.read()));
        *current = Some(Arc::clone(&view));
        view
    }

    /// Adds the snapshot's nodes and devices to the ledger (and forgets the nodes none
    /// knows any more), and moves pods along: assumed →
    /// running when reported, running → gone when no longer reported, assumed → gone after
    /// `assumed_windows`. Forgets the burst entries that have left the burst windows.
    fn fold_in(&self, snapshot: &ScoresSnapshot) {
        for (name, score) in &snapshot.nodes {
            let hardware = &score.hardware;
            self.gpus.sync_node(name, &devices(&hardware.gpu_ids, hardware.gpu_model.as_deref()));
        }
        // Nodes the score book has forgotten (`health.forget_after_seconds`) that neither the
        // inventory nor the Kubernetes API names, and on which no pod holds shares, leave the
        // ledger too.
        let kube_nodes = self.kube_nodes.read();
        self.gpus.forget(|node| {
            snapshot.nodes.contains_key(node) || self.inventory.contains_key(node) || kube_nodes.contains_key(node)
        });
        drop(kube_nodes);
        let mut placements = self.placements.write();
        let burst_since = self.burst_since(snapshot.window_end);
        for load in placements.by_node.values_mut() {
            load.fresh.retain(|(bound_at, _, _)| *bound_at > burst_since);
        }
        let assumed_since = snapshot.window_end - i64::from(self.config.assumed_windows) * self.window_ns;
        // Without any pod metrics in the window, telemetry says nothing of running pods.
        let pod_metrics = !snapshot.pods.is_empty();
        let reported: HashSet<(&str, &str)> =
            snapshot.pods.iter().map(|p| (p.namespace.as_str(), p.pod.as_str())).collect();
        let (mut started, mut gone) = (Vec::new(), Vec::new());
        for (uid, placement) in &placements.by_pod {
            let is_reported = reported.contains(&(placement.namespace.as_str(), placement.name.as_str()));
            match (placement.running, is_reported) {
                // Assumed for `assumed_windows`, never reported by telemetry before this window
                // nor by the watch: taken as never started.
                (false, _) if !placement.watched && placement.bound_at < assumed_since => {
                    tracing::info!(pod = %uid, "assumed pod never reported; its requests and GPU shares released");
                    gone.push(uid.clone());
                }
                (false, true) => started.push(uid.clone()),
                // The watch, when it knows the pod, says when it has left.
                (true, false) if pod_metrics && !placement.watched => gone.push(uid.clone()),
                _ => {}
            }
        }
        for uid in started {
            placements.mark_running(&uid);
        }
        for uid in gone {
            placements.remove(&uid);
            self.gpus.release(&uid);
        }
    }

    /// The window end before which a bind no longer counts as a burst.
    fn burst_since(&self, window_end: i64) -> i64 {
        window_end - i64::from(self.config.burst_windows) * self.window_ns
    }

    /// What is known of `node` in `view`: telemetry (inventory applied) or, failing that, the
    /// inventory alone, with the Kubernetes API's capacity where those lack it; `None` when
    /// none knows it.
    pub fn facts<'a>(&'a self, view: &'a View, node: &str) -> Option<NodeFacts<'a>> {
        let known = view.facts(node).or_else(|| {
            self.inventory.get(node).map(|inventory| NodeFacts {
                vcpus: inventory.vcpus,
                memory_bytes: inventory.memory_gib.map(|gib| gib * GIB),
                gpu_model: inventory.gpu_model.as_deref(),
                score: None,
                slot: None,
            })
        });
        match known {
            Some(facts) if facts.vcpus.is_some() && facts.memory_bytes.is_some() => Some(facts),
            known => self.with_kube_capacity(known, node),
        }
    }

    /// The requests held on nodes by pods bound here, as of `view`; holds the placements'
    /// read lock until dropped (binds wait), so keep it for one request.
    pub fn loads(&self, view: &View) -> Loads<'_> {
        Loads { placements: self.placements.read(), burst_since: self.burst_since(view.window_end()) }
    }

    /// The typical mix of the pods seen by `filter`.
    pub fn mix(&self) -> &PodMix {
        &self.mix
    }

    /// Remembers a pod seen by `filter` until its `bind`; a pod seen for the first time
    /// joins the typical mix.
    pub fn remember(&self, uid: &str, pod: PendingPod) {
        if uid.is_empty() {
            return;
        }
        let spec = PodSpec::from_request(&pod.request);
        let mut pending = self.pending.lock();
        if pending.pods.insert(uid.to_string(), pod).is_none() {
            pending.order.push_back(uid.to_string());
            self.mix.observe(&spec);
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
        let view = self.view();
        let facts = self.facts(&view, node).ok_or_else(|| BindError::UnknownNode(node.to_string()))?;
        let mut placements = self.placements.write();
        if let Some(existing) = placements.by_pod.get(uid) {
            if existing.node != node {
                return Err(BindError::AlreadyBound { pod: uid.to_string(), node: existing.node.clone() });
            }
            let shares = self.gpus.allocation(uid).map(|a| a.shares).unwrap_or_default();
            return Ok(Allocation { node: existing.node.clone(), shares });
        }
        let pod = self.pending.lock().pods.get(uid).cloned().ok_or_else(|| BindError::UnknownPod(uid.to_string()))?;
        let no_longer_fits =
            |reason: String| BindError::NoLongerFits { pod: uid.to_string(), node: node.to_string(), reason };
        let held_here = placements.by_node.get(node).map_or((0.0, 0.0), |load| (load.cpu, load.memory));
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
                bound_at: view.window_end(),
                running: false,
                watched: false,
            },
        );
        self.pending.lock().pods.remove(uid);
        Ok(allocation)
    }
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
