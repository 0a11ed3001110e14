//! What the engine publishes after every closed window: one immutable [`ScoresSnapshot`]
//! (each node's [`NodeScore`], the cluster's health, the pods' costs), replaced whole in a
//! [`PublishedScores`] so that readers (the HTTP API, `/metrics`, gRPC, the scheduler) take it
//! with an `Arc` clone and never wait for ingest. [`ScoreSource`] is how a reader is handed
//! whatever publishes them.
//!
//! Times are `i64` nanoseconds since the Unix epoch (UTC) throughout; they are formatted as
//! RFC 3339 only where JSON is written.

use crate::cost::{NodeCost, PerResource};
use crate::frame::NodeFrame;
use crate::health::Factor;
use crate::quantity::NODE_QUANTITIES;
use parking_lot::RwLock;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One node's scores as of a snapshot. Every per-node number published (`/api/v1/nodes`,
/// the `node_scores` table, `/metrics`, gRPC) is read from here through
/// [`crate::quantity::NODE_QUANTITIES`]; the JSON of `/api/v1/nodes` is `node`, each
/// quantity by name, `updated_at` (RFC 3339) and `factors`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeScore {
    /// Node name.
    pub node: String,
    /// CPU utilisation in the newest window it reported.
    pub cpu: Option<f64>,
    /// Memory utilisation.
    pub memory: Option<f64>,
    /// Mean GPU utilisation.
    pub gpu: Option<f64>,
    /// Mean GPU memory utilisation.
    pub gpu_memory: Option<f64>,
    /// Pressure in [0, 1].
    pub pressure: Option<f64>,
    /// Health in [0, 100].
    pub health: f64,
    /// Hourly price.
    pub cost_per_hour: f64,
    /// Idle part of the hourly price.
    pub idle_cost_per_hour: f64,
    /// End of the newest window with data, ns since the Unix epoch (RFC 3339 in JSON).
    pub updated_at: i64,
    /// What lowered the health.
    pub factors: Vec<Factor>,
    /// Each resource's anomaly score in the node's newest forecasting step (as the engine's
    /// detectors gave it, in its resource order); empty until one scores.
    pub anomalies: Vec<(&'static str, f64)>,
    /// Each resource's modified z-score among the node's peers in the window
    /// ([`crate::peers`]); empty when it has too few peers or did not report.
    pub peer_deviation: Vec<(&'static str, f64)>,
    /// Whether the node reported in the snapshot's window (its utilisation is from that
    /// window rather than an older one).
    pub reported: bool,
    /// Hourly price by resource.
    pub cost: NodeCost,
    /// Network and disk traffic in bytes per second, when reported.
    pub io: Io,
    /// Capacity and GPU devices (inventory overrides applied), for the scheduler.
    pub hardware: Hardware,
}

/// A node's capacity as telemetry and the inventory give it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hardware {
    /// Logical CPUs.
    pub vcpus: Option<f64>,
    /// Memory bytes.
    pub memory_bytes: Option<f64>,
    /// GPU device ids with a utilisation or memory reading, sorted; devices the inventory
    /// adds beyond those reported are named `gpu<i>`.
    pub gpu_ids: Vec<String>,
    /// GPU model, when known.
    pub gpu_model: Option<String>,
}

impl Hardware {
    /// The capacity of `frame`: its reported devices, padded with named placeholders up to
    /// the device count (which the inventory may have raised).
    pub fn of(frame: &NodeFrame) -> Self {
        let mut gpu_ids: Vec<String> = frame.gpu.keys().chain(frame.gpu_memory.keys()).cloned().collect();
        gpu_ids.sort_unstable();
        gpu_ids.dedup();
        let mut index = 0;
        while gpu_ids.len() < frame.gpus {
            let id = format!("gpu{index}");
            if !gpu_ids.contains(&id) {
                gpu_ids.push(id);
            }
            index += 1;
        }
        Self { vcpus: frame.vcpus, memory_bytes: frame.memory_bytes, gpu_ids, gpu_model: frame.gpu_model.clone() }
    }
}

/// A node's traffic in its newest window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Io {
    /// Network bytes per second, both directions.
    pub network: Option<f64>,
    /// Disk bytes per second, read and written.
    pub disk: Option<f64>,
}

/// Everything readers see, replaced whole after each window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScoresSnapshot {
    /// End of the newest window scored (ns since the epoch).
    pub window_end: i64,
    /// Scores by node name.
    pub nodes: BTreeMap<String, NodeScore>,
    /// vCPU-weighted mean of node health.
    pub cluster_health: Option<f64>,
    /// Pod costs of the newest window with pod metrics, by namespace and pod.
    pub pods: Vec<PodCost>,
}

/// The newest published snapshot of a `T`, shared by the one who replaces it whole and its
/// readers, who take it with an `Arc` clone: the lock is held for a pointer copy only, so a
/// reader never waits for the work that built the next snapshot.
#[derive(Debug, Default)]
pub struct Published<T>(RwLock<Arc<T>>);

impl<T> Published<T> {
    /// The current snapshot (an `Arc` clone).
    pub fn get(&self) -> Arc<T> {
        Arc::clone(&self.0.read())
    }

    /// Replaces the snapshot whole: the score book does after every window, and so may any
    /// other publisher (a replica reading scores another process computed).
    pub fn set(&self, snapshot: T) {
        *self.0.write() = Arc::new(snapshot);
    }
}

/// The newest published scores, shared by the score book (which replaces them) and their
/// readers (the `/metrics` collector, the API).
pub type PublishedScores = Published<ScoresSnapshot>;

/// One pod's resources and hourly cost in a window.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PodCost {
    /// Namespace (empty when unknown).
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Node the pod's series name, when any does.
    pub node: Option<String>,
    /// CPU cores requested.
    pub cpu_request: Option<f64>,
    /// CPU cores used.
    pub cpu_usage: Option<f64>,
    /// Memory bytes requested.
    pub memory_request: Option<f64>,
    /// Memory bytes used.
    pub memory_usage: Option<f64>,
    /// Hourly cost by resource (no GPU part yet).
    pub cost: PerResource,
    /// Total hourly cost.
    pub cost_per_hour: f64,
}

/// A source of published node scores: the engine, or its [`PublishedScores`] alone.
pub trait ScoreSource: Send + Sync {
    /// The newest snapshot; cheap (an `Arc` clone) and never blocked by ingest.
    fn snapshot(&self) -> Arc<ScoresSnapshot>;
}

impl ScoreSource for PublishedScores {
    fn snapshot(&self) -> Arc<ScoresSnapshot> {
        self.get()
    }
}

/// RFC 3339 text of a time in ns since the epoch, to the second (window ends are whole
/// seconds).
pub fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The JSON of `/api/v1/nodes`: `node`, every quantity of [`NODE_QUANTITIES`] by name (null
/// when unknown), `updated_at` and `factors`.
impl Serialize for NodeScore {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(NODE_QUANTITIES.len() + 3))?;
        map.serialize_entry("node", &self.node)?;
        for quantity in &NODE_QUANTITIES {
            map.serialize_entry(quantity.name, &(quantity.value)(self))?;
        }
        map.serialize_entry("updated_at", &rfc3339(self.updated_at))?;
        map.serialize_entry("factors", &self.factors)?;
        map.end()
    }
}
