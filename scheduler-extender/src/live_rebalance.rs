//! The rebalancer in a running server: once per new score snapshot it plans from the nodes'
//! scores and the pods' measured use, keeps the newest plan for `GET /api/v1/rebalance/plan`
//! and publishes its size as Prometheus metrics. Plans are advice (dry run) unless evictions
//! are enabled ([`LiveRebalancer::evicting`]); carrying them out is
//! [`crate::kubernetes::evict`]'s, which takes each new plan once ([`LiveRebalancer::unexecuted`]).

use crate::model::ClusterModel;
use crate::rebalance::{Move, NodeLoad, Plan, PodLoad, RebalanceConfig, Rebalancer};
use ironspider_scores::ScoresSnapshot;
use parking_lot::{Mutex, RwLock};
use prometheus::{IntCounter, IntGauge, Registry};
use std::sync::Arc;

/// The rebalancer's metrics.
#[derive(Debug, Clone)]
struct RebalanceMetrics {
    hot_nodes: IntGauge,
    planned_evictions: IntGauge,
    held_back: IntGauge,
    plans: IntCounter,
}

impl RebalanceMetrics {
    fn new(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            hot_nodes: IntGauge::new(
                "ironspider_rebalance_hot_nodes",
                "Nodes above the pressure threshold for the sustained period",
            )?,
            planned_evictions: IntGauge::new(
                "ironspider_rebalance_planned_evictions",
                "Evictions in the newest rebalance plan",
            )?,
            held_back: IntGauge::new(
                "ironspider_rebalance_held_back_pods",
                "Pods on hot nodes the newest plan keeps, with a reason",
            )?,
            plans: IntCounter::new(
                "ironspider_rebalance_plans_total",
                "Rebalance plans computed (one per scored window)",
            )?,
        };
        registry.register(Box::new(metrics.hot_nodes.clone()))?;
        registry.register(Box::new(metrics.planned_evictions.clone()))?;
        registry.register(Box::new(metrics.held_back.clone()))?;
        registry.register(Box::new(metrics.plans.clone()))?;
        Ok(metrics)
    }
}

/// The live rebalancer.
#[derive(Debug)]
pub struct LiveRebalancer {
    rebalancer: Mutex<(Rebalancer, i64)>,
    latest: RwLock<Arc<Plan>>,
    metrics: RebalanceMetrics,
    /// Whether plans are carried out (they are then not dry runs).
    evicting: bool,
    /// The window of the newest plan handed out to be carried out.
    handed_out: Mutex<i64>,
}

/// The nodes and pods of a snapshot as the rebalancer sees them.
pub fn loads(snapshot: &ScoresSnapshot, min_health: f64) -> (Vec<NodeLoad>, Vec<PodLoad>) {
    let nodes = snapshot
        .nodes
        .iter()
        .map(|(name, score)| NodeLoad { name: name.clone(), score: score.clone(), healthy: score.health >= min_health })
        .collect();
    let pods = snapshot
        .pods
        .iter()
        .filter_map(|pod| {
            Some(PodLoad {
                pod: format!("{}/{}", pod.namespace, pod.pod),
                node: pod.node.clone()?,
                cpu: pod.cpu_usage.unwrap_or(0.0),
                memory: pod.memory_usage.unwrap_or(0.0),
            })
        })
        .collect();
    (nodes, pods)
}

impl LiveRebalancer {
    /// A rebalancer over `model`'s snapshots, registering its metrics in `registry`.
    pub fn new(
        config: RebalanceConfig,
        model: &ClusterModel,
        window_ns: i64,
        registry: &Registry,
    ) -> prometheus::Result<Self> {
        let rebalancer =
            Rebalancer::new(config, model.pressure_config().clone(), model.config().weights.clone(), window_ns);
        Ok(Self {
            rebalancer: Mutex::new((rebalancer, i64::MIN)),
            latest: RwLock::default(),
            metrics: RebalanceMetrics::new(registry)?,
            evicting: false,
            handed_out: Mutex::new(i64::MIN),
        })
    }

    /// The same, with plans carried out (not dry runs) by whoever takes them through
    /// [`LiveRebalancer::unexecuted`].
    pub fn evicting(self) -> Self {
        Self { evicting: true, ..self }
    }

    /// The newest plan if it has not been handed out yet (to carry it out once); `None` when
    /// it has or when plans are dry runs.
    pub fn unexecuted(&self) -> Option<Arc<Plan>> {
        let plan = self.latest();
        let mut handed_out = self.handed_out.lock();
        if !self.evicting || *handed_out >= plan.window_end {
            return None;
        }
        *handed_out = plan.window_end;
        Some(plan)
    }

    /// Records that `moves`, planned in the window ending at `window_end`, were carried out:
    /// their pods' cooldowns start.
    pub fn executed(&self, window_end: i64, moves: &[Move]) {
        self.rebalancer.lock().0.executed(window_end, moves);
    }

    /// Plans on `model`'s newest snapshot unless that window was planned already.
    pub fn refresh(&self, model: &ClusterModel) {
        let view = model.view();
        let snapshot = view.snapshot();
        let mut guard = self.rebalancer.lock();
        let (rebalancer, planned_window) = &mut *guard;
        if *planned_window == snapshot.window_end {
            return;
        }
        let (nodes, pods) = loads(snapshot, model.config().min_health);
        let plan = Plan { dry_run: !self.evicting, ..rebalancer.plan(snapshot.window_end, &nodes, &pods) };
        *planned_window = snapshot.window_end;
        self.metrics.hot_nodes.set(plan.hot.len() as i64);
        self.metrics.planned_evictions.set(plan.moves.len() as i64);
        self.metrics.held_back.set(plan.held_back.len() as i64);
        self.metrics.plans.inc();
        *self.latest.write() = Arc::new(plan);
    }

    /// The newest plan.
    pub fn latest(&self) -> Arc<Plan> {
        Arc::clone(&self.latest.read())
    }
}
