//! The engine's score book: after every closed window, each node's scores from its frame and
//! its recent history, kept as an immutable snapshot that readers (HTTP API, metrics, the
//! scheduler) take without touching ingest's locks.
//!
//! History kept per node: the utilisation of each resource and the pressure over the last
//! `pressure.variability_windows` windows (for `σ_r` and the sustained-pressure factor), and
//! the end of the newest window it reported in. Staleness is counted in window lengths from
//! that end to the engine's watermark, so it grows even when no window closes because
//! nobody reports.

use crate::config::ScoreConfig;
use crate::cost::{Capacity, Usage, node_cost};
use crate::frame::NodeFrame;
use crate::health::{HealthInputs, cluster_health, node_health};
use crate::pressure::{ResourceLoad, node_pressure, spread};
use crate::snapshot::{Hardware, Io, NodeScore, PodCost, PublishedScores, ScoresSnapshot};
use parking_lot::RwLock;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
struct NodeHistory {
    frame: NodeFrame,
    last_seen_end: i64,
    utilisation: VecDeque<[Option<f64>; 4]>,
    /// Pressure of the newest window recorded (`None` when it reported no resource).
    latest_pressure: Option<f64>,
    pressure: VecDeque<f64>,
    /// Each resource's anomaly score in the node's newest forecasting step.
    anomalies: Vec<(&'static str, f64)>,
}

/// Per-node history and the current snapshot.
#[derive(Debug)]
pub struct ScoreBook {
    config: ScoreConfig,
    window_ns: i64,
    nodes: RwLock<BTreeMap<String, NodeHistory>>,
    pods: RwLock<Vec<PodCost>>,
    /// Set by [`ScoreBook::record`], cleared by [`ScoreBook::publish`].
    recorded: AtomicBool,
    snapshot: Arc<PublishedScores>,
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, bound: usize) {
    queue.push_back(value);
    while queue.len() > bound.max(1) {
        queue.pop_front();
    }
}

impl ScoreBook {
    /// An empty book for windows of `window_ns`, publishing into `published`.
    pub fn new(config: ScoreConfig, window_ns: i64, published: Arc<PublishedScores>) -> Self {
        Self {
            config,
            window_ns: window_ns.max(1),
            nodes: RwLock::default(),
            pods: RwLock::default(),
            recorded: AtomicBool::new(false),
            snapshot: published,
        }
    }

    /// The current scores; cheap (an `Arc` clone), never waits for ingest.
    pub fn snapshot(&self) -> Arc<ScoresSnapshot> {
        self.snapshot.get()
    }

    /// Records the frames of the window ending at `window_end`.
    pub fn record(&self, window_end: i64, frames: impl IntoIterator<Item = NodeFrame>) {
        let bound = self.config.pressure.variability_windows;
        self.recorded.store(true, Ordering::Release);
        let mut nodes = self.nodes.write();
        for mut frame in frames {
            if let Some(inventory) = self.config.inventory.get(&frame.node) {
                inventory.apply(&mut frame);
            }
            let history = match nodes.get_mut(&frame.node) {
                Some(history) => history,
                None => nodes.entry(frame.node.clone()).or_default(),
            };
            let gpu_max = NodeFrame::max(&frame.gpu);
            let gpu_memory_max = NodeFrame::max(&frame.gpu_memory);
            push_bounded(&mut history.utilisation, [frame.cpu, frame.memory, gpu_max, gpu_memory_max], bound);
            history.frame = frame;
            history.last_seen_end = history.last_seen_end.max(window_end);
            history.latest_pressure = node_pressure(&self.loads(history), history.frame.stall, &self.config.pressure);
            if let Some(pressure) = history.latest_pressure {
                push_bounded(&mut history.pressure, pressure, bound);
            }
        }
    }

    /// Records the pod costs of a window; a window without pod metrics keeps the previous
    /// ones.
    pub fn record_pods(&self, pods: Vec<PodCost>) {
        if !pods.is_empty() {
            self.recorded.store(true, Ordering::Release);
            *self.pods.write() = pods;
        }
    }

    /// Records nodes' anomaly scores of their newest forecasting step (node, then each
    /// resource and its score), seen from the next window's publication on: each node's
    /// health `anomaly` factor and its `anomaly` quantity. A node the book does not hold is
    /// passed over. It does not call for a publication of its own: the window the step
    /// ended with is published already, and publishing it again would repeat its rows.
    pub fn record_anomalies<'a>(&self, scored: impl IntoIterator<Item = (&'a str, Vec<(&'static str, f64)>)>) {
        let mut nodes = self.nodes.write();
        for (node, anomalies) in scored {
            if let Some(history) = nodes.get_mut(node) {
                history.anomalies = anomalies;
            }
        }
    }

    /// Each reported resource's newest utilisation with its spread over the history.
    fn loads(&self, history: &NodeHistory) -> Vec<ResourceLoad> {
        let Some(newest) = history.utilisation.back() else { return Vec::new() };
        let mut loads = Vec::with_capacity(newest.len());
        let mut past = Vec::with_capacity(history.utilisation.len());
        for (r, utilisation) in newest.iter().enumerate() {
            let Some(utilisation) = *utilisation else { continue };
            past.clear();
            past.extend(history.utilisation.iter().filter_map(|u| u[r]));
            loads.push(ResourceLoad { utilisation, spread: spread(&past) });
        }
        loads
    }

    /// Recomputes every node's scores as of `watermark` (the end of the newest closed
    /// window) and publishes the snapshot. Returns false, doing nothing, when neither the
    /// watermark moved nor a window was recorded since the last publication.
    pub fn publish(&self, watermark: i64) -> bool {
        let recorded = self.recorded.swap(false, Ordering::AcqRel);
        if !recorded && self.snapshot.get().window_end == watermark {
            return false;
        }
        self.forget_silent(watermark);
        let nodes = self.nodes.read();
        let mut scores: BTreeMap<String, NodeScore> =
            nodes.iter().map(|(name, history)| (name.clone(), self.score(name, history, watermark))).collect();
        crate::peers::assign(&mut scores);
        // Both maps are keyed and ordered by node name.
        let cluster = cluster_health(scores.values().zip(nodes.values()).map(|(s, h)| (s.health, h.frame.vcpus)));
        let pods = self.pods.read().clone();
        self.snapshot.set(ScoresSnapshot { window_end: watermark, nodes: scores, cluster_health: cluster, pods });
        true
    }

    /// Forgets the nodes silent past `health.forget_after_seconds` (module doc of
    /// [`crate::health`]).
    fn forget_silent(&self, watermark: i64) {
        let Some(before) = self.config.health.forgotten_before(watermark) else { return };
        self.nodes.write().retain(|_, history| history.last_seen_end >= before);
    }

    fn score(&self, name: &str, history: &NodeHistory, watermark: i64) -> NodeScore {
        let frame = &history.frame;
        let missed = ((watermark - history.last_seen_end).max(0) / self.window_ns).min(i64::from(u32::MAX)) as u32;
        let pressure = history.latest_pressure;
        let recent = (!history.pressure.is_empty())
            .then(|| history.pressure.iter().sum::<f64>() / history.pressure.len() as f64);
        let health = node_health(
            &HealthInputs {
                missed_windows: missed,
                recent_pressure: recent,
                gpu_xid_errors: frame.gpu_xid_errors,
                gpu_ecc_errors: frame.gpu_ecc_errors,
                gpu_max_temperature: frame.gpu_max_temperature,
                anomaly: history.anomalies.iter().map(|(_, score)| *score).reduce(f64::max),
            },
            &self.config.health,
        );
        let capacity = Capacity {
            vcpus: frame.vcpus.unwrap_or(0.0),
            memory_bytes: frame.memory_bytes.unwrap_or(0.0),
            gpus: frame.gpus as f64,
        };
        let usage = Usage { cpu: frame.cpu, memory: frame.memory, gpu: NodeFrame::mean(&frame.gpu) };
        let cost = node_cost(capacity, frame.instance_type.as_deref(), usage, &self.config.cost);
        NodeScore {
            node: name.to_string(),
            cpu: frame.cpu,
            memory: frame.memory,
            gpu: NodeFrame::mean(&frame.gpu),
            gpu_memory: NodeFrame::mean(&frame.gpu_memory),
            pressure,
            health: health.health,
            cost_per_hour: cost.cost.total(),
            idle_cost_per_hour: cost.idle.total(),
            updated_at: history.last_seen_end,
            factors: health.factors,
            anomalies: history.anomalies.clone(),
            // Set across nodes once every node is scored (`crate::peers::assign`).
            peer_deviation: Vec::new(),
            reported: history.last_seen_end == watermark,
            io: Io { network: frame.network_bytes_per_second, disk: frame.disk_bytes_per_second },
            cost,
            hardware: Hardware::of(frame),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::CostConfig;
    use crate::inventory::NodeInventory;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn frame(node: &str, instance_type: &str) -> NodeFrame {
        NodeFrame {
            node: node.into(),
            cpu: Some(0.5),
            memory: Some(0.25),
            vcpus: Some(2.0),
            memory_bytes: Some(8.0 * GIB),
            instance_type: Some(instance_type.into()),
            ..NodeFrame::default()
        }
    }

    #[test]
    fn a_configured_instance_type_price_is_split_in_unit_price_proportions() {
        let cost = CostConfig { instance_types: [("m5.large".to_string(), 0.096)].into(), ..CostConfig::default() };
        let config = ScoreConfig { cost, ..ScoreConfig::default() };
        let book = ScoreBook::new(config, 10, Arc::new(PublishedScores::default()));
        book.record(10, [frame("priced", "m5.large"), frame("unlisted", "x1.odd")]);
        assert!(book.publish(10));
        let snapshot = book.snapshot();
        let (priced, unlisted) = (&snapshot.nodes["priced"], &snapshot.nodes["unlisted"]);
        // Unit prices: CPU 2 · 0.031611 = 0.063222, memory 8 · 0.004237 = 0.033896 (0.097118).
        // m5.large at 0.096: CPU part 0.096 · 0.063222 / 0.097118 = 0.0624943, memory part
        // 0.096 · 0.033896 / 0.097118 = 0.0335057; idle 0.0624943 · 0.5 + 0.0335057 · 0.75.
        assert!((priced.cost_per_hour - 0.096).abs() < 1e-12);
        assert!((priced.cost.cost.cpu - 0.0624943).abs() < 1e-7, "{:?}", priced.cost);
        assert!((priced.idle_cost_per_hour - (0.0624943 * 0.5 + 0.0335057 * 0.75)).abs() < 1e-7);
        assert!((unlisted.cost_per_hour - 0.097118).abs() < 1e-12, "a type without a price: unit prices");
        assert!(priced.reported && unlisted.reported);
    }

    #[test]
    fn the_inventory_overrides_the_capacity_telemetry_reported() {
        let inventory = NodeInventory { vcpus: Some(4.0), memory_gib: Some(16.0), ..NodeInventory::default() };
        let config = ScoreConfig { inventory: [("n1".to_string(), inventory)].into(), ..ScoreConfig::default() };
        let book = ScoreBook::new(config, 10, Arc::new(PublishedScores::default()));
        book.record(10, [frame("n1", "none")]);
        book.publish(10);
        // 4 · 0.031611 + 16 · 0.004237 instead of the frame's 2 vCPUs and 8 GiB
        assert!((book.snapshot().nodes["n1"].cost_per_hour - (0.126444 + 0.067792)).abs() < 1e-12);
    }

    #[test]
    fn a_node_silent_past_forget_after_seconds_is_forgotten() {
        const S: i64 = 1_000_000_000;
        let mut config = ScoreConfig::default();
        config.health.forget_after_seconds = 60;
        let book = ScoreBook::new(config, 10 * S, Arc::new(PublishedScores::default()));
        book.record(10 * S, [frame("gone", "none"), frame("stays", "none")]);
        book.record(20 * S, [frame("stays", "none")]);
        // Silent for exactly 60 s (seen up to 10 s, watermark 70 s): kept, at health 0.
        assert!(book.publish(70 * S));
        assert_eq!(book.snapshot().nodes["gone"].health, 0.0);
        // 61 s: forgotten; the other, silent for 51 s, stays.
        assert!(book.publish(71 * S));
        let names: Vec<String> = book.snapshot().nodes.keys().cloned().collect();
        assert_eq!(names, ["stays"]);
        // Reporting again brings it back.
        book.record(80 * S, [frame("gone", "none")]);
        assert!(book.publish(80 * S));
        assert_eq!(book.snapshot().nodes.len(), 2);
    }

    #[test]
    fn forget_after_seconds_zero_never_forgets() {
        let mut config = ScoreConfig::default();
        config.health.forget_after_seconds = 0;
        assert_eq!(config.health.forgotten_before(i64::MAX), None);
        config.health.forget_after_seconds = u64::MAX;
        assert_eq!(config.health.forgotten_before(0), Some(-i64::MAX), "saturates, never wraps");
    }
}
