//! The rebalancer: finds hot spots and plans evictions that move load to where the extender
//! would place it instead.
//!
//! Once per window:
//! 1. A node is *hot* when its pressure has been above `threshold` for `sustained_windows`
//!    windows in a row (a single spike is not a hot spot).
//! 2. Hot nodes are taken hottest first. On each, pods are taken by their measured use of
//!    the node's most utilised resource (CPU or memory), largest first, while the node's
//!    predicted pressure stays above the threshold and the limits allow
//!    (`max_evictions_per_node`, `max_evictions_per_cycle`).
//! 3. A pod moved within the last `cooldown_windows` windows is held back (so it can never
//!    be sent back to the node it left within its cooldown, nor bounce anywhere else).
//! 4. Each candidate target is scored as the extender's `prioritize` would score it with the
//!    pod's load added ([`crate::prioritize::combine`] of headroom and cost, the pressure
//!    predicted by [`crate::prioritize::shifted_pressure`]); the source is scored the same
//!    way with the pod still on it. The best target is chosen only when it stays at or below
//!    the threshold and scores **strictly better** than the source; otherwise the pod stays.
//! 5. Planned moves shift the predicted load of both nodes before the next pod is considered.
//!
//! The plan is advice (dry run): executing it, through the Eviction API, is for a caller
//! with a cluster; [`Rebalancer::executed`] records moves that were carried out so their
//! cooldown starts.

use crate::config::Weights;
use crate::model::NodeFacts;
use crate::prioritize::{Terms, combine, cost_terms, shifted_pressure};
use ironspider_scores::NodeScore;
use ironspider_scores::pressure::PressureConfig;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Why a hot node's pod is held back when no node can take it.
pub const NO_TARGET: &str = "no node would take it below the threshold and score strictly better";

/// `[scheduler.rebalance]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RebalanceConfig {
    /// Pressure above which a node is hot (default 0.8, the health index's "hot" level).
    pub threshold: f64,
    /// Windows in a row above the threshold before a node counts as a hot spot (default 3).
    pub sustained_windows: u32,
    /// Evictions planned per hot node and cycle (default 1).
    pub max_evictions_per_node: usize,
    /// Evictions planned per cycle in the whole cluster (default 5).
    pub max_evictions_per_cycle: usize,
    /// Windows after a move during which the pod is not moved again (default 12).
    pub cooldown_windows: u32,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        Self {
            threshold: 0.8,
            sustained_windows: 3,
            max_evictions_per_node: 1,
            max_evictions_per_cycle: 5,
            cooldown_windows: 12,
        }
    }
}

/// A node as the rebalancer sees it: its scores (utilisation, pressure, price) and capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLoad {
    /// Node name.
    pub name: String,
    /// The node's scores.
    pub score: NodeScore,
    /// Whether it may receive pods (health at or above the extender's minimum).
    pub healthy: bool,
}

/// A pod's measured load.
#[derive(Debug, Clone, PartialEq)]
pub struct PodLoad {
    /// `namespace/name`.
    pub pod: String,
    /// Node it runs on.
    pub node: String,
    /// CPU cores in use.
    pub cpu: f64,
    /// Memory bytes in use.
    pub memory: f64,
}

/// A hot spot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotNode {
    /// Node name.
    pub node: String,
    /// Its pressure now.
    pub pressure: f64,
    /// Windows in a row above the threshold.
    pub windows: u32,
}

/// One planned eviction.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Move {
    /// `namespace/name`.
    pub pod: String,
    /// Hot node it leaves.
    pub from: String,
    /// Where the extender would place it.
    pub to: String,
    /// Its CPU cores.
    pub cpu: f64,
    /// Its memory bytes.
    pub memory: f64,
    /// Extender score of the source with the pod on it.
    pub from_score: i64,
    /// Extender score of the target with the pod added.
    pub to_score: i64,
    /// Predicted pressure of the source once the pod is gone.
    pub from_pressure_after: f64,
    /// Predicted pressure of the target with the pod.
    pub to_pressure_after: f64,
}

/// A pod on a hot node that stays, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBack {
    /// `namespace/name`.
    pub pod: String,
    /// Its node.
    pub node: String,
    /// Why it stays.
    pub reason: String,
}

/// One cycle's plan.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Plan {
    /// End of the window it was planned on (ns since the epoch).
    pub window_end: i64,
    /// Whether it is advice only.
    pub dry_run: bool,
    /// The hot spots, hottest first.
    pub hot: Vec<HotNode>,
    /// The planned evictions.
    pub moves: Vec<Move>,
    /// Pods considered and kept.
    pub held_back: Vec<HeldBack>,
}

/// Streaks and cooldowns across cycles.
#[derive(Debug, Clone)]
pub struct Rebalancer {
    config: RebalanceConfig,
    pressure: PressureConfig,
    weights: Weights,
    window_ns: i64,
    /// Node → (windows in a row above the threshold, last window counted).
    streaks: HashMap<String, (u32, i64)>,
    /// Pod → (window it was moved in, node it left).
    moved: HashMap<String, (i64, String)>,
}

/// Load added to (or, negative, taken from) a node by moves planned this cycle.
type Shift = HashMap<String, (f64, f64)>;

impl Rebalancer {
    /// A rebalancer for windows of `window_ns`, scoring with the extender's weights and the
    /// engine's pressure settings.
    pub fn new(config: RebalanceConfig, pressure: PressureConfig, weights: Weights, window_ns: i64) -> Self {
        Self { config, pressure, weights, window_ns: window_ns.max(1), streaks: HashMap::new(), moved: HashMap::new() }
    }

    /// The settings in force.
    pub fn config(&self) -> &RebalanceConfig {
        &self.config
    }

    /// Counts the window ending at `window_end` into each node's streak (once per window).
    fn observe(&mut self, window_end: i64, nodes: &[NodeLoad]) {
        for node in nodes {
            let streak = self.streaks.entry(node.name.clone()).or_insert((0, i64::MIN));
            if streak.1 >= window_end {
                continue;
            }
            let hot = node.score.pressure.is_some_and(|p| p > self.config.threshold);
            *streak = (if hot { streak.0 + 1 } else { 0 }, window_end);
        }
    }

    fn in_cooldown(&self, pod: &str, window_end: i64) -> Option<&str> {
        let (at, from) = self.moved.get(pod)?;
        let cooldown = i64::from(self.config.cooldown_windows) * self.window_ns;
        (window_end - at < cooldown).then_some(from.as_str())
    }

    /// Predicted pressure of `node` with `cpu`/`memory` more load than telemetry shows plus
    /// what this cycle's moves shifted.
    fn pressure_with(&self, node: &NodeLoad, shift: &Shift, cpu: f64, memory: f64) -> f64 {
        let (shift_cpu, shift_memory) = shift.get(&node.name).copied().unwrap_or_default();
        shifted_pressure(&NodeFacts::of(&node.score), cpu + shift_cpu, memory + shift_memory, &self.pressure)
            .unwrap_or(0.0)
    }

    /// Extender scores of the source (pod on it) and the target (pod added).
    fn scores(&self, from: &NodeLoad, to: &NodeLoad, shift: &Shift, pod: &PodLoad) -> (i64, i64, f64) {
        let from_pressure = self.pressure_with(from, shift, 0.0, 0.0);
        let to_pressure = self.pressure_with(to, shift, pod.cpu, pod.memory);
        let price = |n: &NodeLoad| crate::prioritize::price_per_vcpu(&NodeFacts::of(&n.score));
        let cost = cost_terms(&[price(from), price(to)]);
        let from_score =
            combine(&Terms { headroom: 1.0 - from_pressure, cost: cost[0], fragmentation: None }, &self.weights);
        let to_score =
            combine(&Terms { headroom: 1.0 - to_pressure, cost: cost[1], fragmentation: None }, &self.weights);
        (from_score, to_score, to_pressure)
    }

    /// Whether memory, rather than CPU, is the node's most utilised resource.
    fn memory_is_scarcer(node: &NodeLoad) -> bool {
        node.score.memory.unwrap_or(0.0) > node.score.cpu.unwrap_or(0.0)
    }

    /// The plan for the window ending at `window_end` (see the module doc).
    pub fn plan(&mut self, window_end: i64, nodes: &[NodeLoad], pods: &[PodLoad]) -> Plan {
        self.observe(window_end, nodes);
        let streak = |name: &str| self.streaks.get(name).map_or(0, |s| s.0);
        let mut hot: Vec<&NodeLoad> =
            nodes.iter().filter(|n| streak(&n.name) >= self.config.sustained_windows).collect();
        hot.sort_by(|a, b| b.score.pressure.unwrap_or(0.0).total_cmp(&a.score.pressure.unwrap_or(0.0)));
        let mut plan = Plan {
            window_end,
            dry_run: true,
            hot: hot
                .iter()
                .map(|n| HotNode {
                    node: n.name.clone(),
                    pressure: n.score.pressure.unwrap_or(0.0),
                    windows: streak(&n.name),
                })
                .collect(),
            ..Plan::default()
        };
        let mut shift = Shift::new();
        for source in hot {
            let mut on_node: Vec<&PodLoad> = pods.iter().filter(|p| p.node == source.name).collect();
            let by_memory = Self::memory_is_scarcer(source);
            let size = |p: &PodLoad| if by_memory { p.memory } else { p.cpu };
            on_node.sort_by(|a, b| size(b).total_cmp(&size(a)).then_with(|| a.pod.cmp(&b.pod)));
            let mut evicted_here = 0;
            for pod in on_node {
                let full = plan.moves.len() >= self.config.max_evictions_per_cycle
                    || evicted_here >= self.config.max_evictions_per_node;
                if full || self.pressure_with(source, &shift, 0.0, 0.0) <= self.config.threshold {
                    break;
                }
                let held = |reason: String| HeldBack { pod: pod.pod.clone(), node: source.name.clone(), reason };
                if let Some(left) = self.in_cooldown(&pod.pod, window_end) {
                    plan.held_back.push(held(format!(
                        "moved from {left} within the last {} windows",
                        self.config.cooldown_windows
                    )));
                    continue;
                }
                match self.best_target(source, pod, nodes, &shift, &streak) {
                    Some(chosen) => {
                        for (node, sign) in [(&chosen.from, -1.0), (&chosen.to, 1.0)] {
                            let entry = shift.entry(node.clone()).or_default();
                            entry.0 += sign * pod.cpu;
                            entry.1 += sign * pod.memory;
                        }
                        let after = self.pressure_with(source, &shift, 0.0, 0.0);
                        plan.moves.push(Move { from_pressure_after: after, ..chosen });
                        evicted_here += 1;
                    }
                    None => plan.held_back.push(held(NO_TARGET.to_string())),
                }
            }
        }
        plan
    }

    /// The node that scores best for `pod`, if it is cool enough and strictly better than
    /// the source; `None` holds the pod back ([`NO_TARGET`]).
    fn best_target(
        &self,
        source: &NodeLoad,
        pod: &PodLoad,
        nodes: &[NodeLoad],
        shift: &Shift,
        streak: &dyn Fn(&str) -> u32,
    ) -> Option<Move> {
        let mut best: Option<Move> = None;
        for target in nodes.iter().filter(|n| n.name != source.name && n.healthy && streak(&n.name) == 0) {
            let (from_score, to_score, to_pressure) = self.scores(source, target, shift, pod);
            if to_pressure > self.config.threshold || to_score <= from_score {
                continue;
            }
            if best.as_ref().is_none_or(|b| to_score > b.to_score) {
                best = Some(Move {
                    pod: pod.pod.clone(),
                    from: source.name.clone(),
                    to: target.name.clone(),
                    cpu: pod.cpu,
                    memory: pod.memory,
                    from_score,
                    to_score,
                    from_pressure_after: 0.0,
                    to_pressure_after: to_pressure,
                });
            }
        }
        best
    }

    /// Records that `moves` were carried out in the window ending at `window_end`: their
    /// pods' cooldowns start.
    pub fn executed(&mut self, window_end: i64, moves: &[Move]) {
        for moved in moves {
            self.moved.insert(moved.pod.clone(), (window_end, moved.from.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironspider_scores::Hardware;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn node(name: &str, cpu: f64, pressure: f64) -> NodeLoad {
        let hardware = Hardware { vcpus: Some(8.0), memory_bytes: Some(32.0 * GIB), ..Hardware::default() };
        let score =
            NodeScore { cpu: Some(cpu), memory: Some(0.1), pressure: Some(pressure), hardware, ..NodeScore::default() };
        NodeLoad { name: name.into(), score, healthy: true }
    }

    fn pod(name: &str, node: &str, cpu: f64) -> PodLoad {
        PodLoad { pod: name.into(), node: node.into(), cpu, memory: GIB }
    }

    fn rebalancer() -> Rebalancer {
        let config = RebalanceConfig { sustained_windows: 2, ..RebalanceConfig::default() };
        Rebalancer::new(config, PressureConfig::default(), Weights::default(), 10)
    }

    #[test]
    fn a_sustained_hot_spot_sheds_its_largest_pod_to_a_strictly_better_node() {
        let mut rebalancer = rebalancer();
        let nodes = [node("hot", 0.95, 0.9), node("cool", 0.2, 0.15)];
        let pods = [pod("ns/a", "hot", 3.0), pod("ns/b", "hot", 2.0), pod("ns/c", "cool", 1.0)];
        let first = rebalancer.plan(10, &nodes, &pods);
        assert!(first.hot.is_empty() && first.moves.is_empty(), "one window above is a spike: {first:?}");
        assert_eq!(rebalancer.plan(10, &nodes, &pods).hot, vec![], "the same window counts once");
        let plan = rebalancer.plan(20, &nodes, &pods);
        assert_eq!(plan.hot, vec![HotNode { node: "hot".into(), pressure: 0.9, windows: 2 }]);
        assert_eq!(plan.moves.len(), 1, "one eviction per node and cycle");
        let moved = &plan.moves[0];
        assert_eq!((moved.pod.as_str(), moved.from.as_str(), moved.to.as_str()), ("ns/a", "hot", "cool"));
        // P(u) = 0.5 · u / 0.7 up to 0.7, then 0.5 + 0.5 · (u − 0.7) / 0.3.
        // cool with a: CPU 0.2 + 3/8 = 0.575; its pressure 0.15 moves by P(0.575) − P(0.2):
        // 0.15 + 0.410714 − 0.142857 = 0.417857; equal prices give each a cost term of 1:
        // (2 · 0.582143 + 0.5) / 2.5 = 0.666 → 7. hot keeps its 0.9: (2 · 0.1 + 0.5) / 2.5 → 3.
        assert_eq!((moved.from_score, moved.to_score), (3, 7));
        let p = |u: f64| if u <= 0.7 { 0.5 * u / 0.7 } else { 0.5 + 0.5 * (u - 0.7) / 0.3 };
        assert!((moved.to_pressure_after - (0.15 + p(0.575) - p(0.2))).abs() < 1e-12);
        assert!((moved.from_pressure_after - (0.9 + p(0.575) - p(0.95))).abs() < 1e-12, "hot drops to CPU 0.575");

        rebalancer.executed(20, &plan.moves);
        // Telemetry now shows `a` on cool, and cool hot: `a` may not go back within 12 windows.
        let swapped = [node("hot", 0.2, 0.15), node("cool", 0.95, 0.9)];
        let pods = [pod("ns/a", "cool", 3.0), pod("ns/b", "hot", 2.0), pod("ns/c", "cool", 1.0)];
        rebalancer.plan(30, &swapped, &pods);
        let plan = rebalancer.plan(40, &swapped, &pods);
        assert_eq!(plan.held_back[0].reason, "moved from hot within the last 12 windows");
        assert_eq!(
            plan.moves.iter().map(|m| m.pod.as_str()).collect::<Vec<_>>(),
            ["ns/c"],
            "the next pod goes instead"
        );
        let later = rebalancer.plan(20 + 12 * 10, &swapped, &pods);
        assert_eq!(later.moves[0].pod, "ns/a", "after the cooldown it may move again");
    }

    #[test]
    fn no_move_without_a_strictly_better_node_below_the_threshold() {
        let mut rebalancer = rebalancer();
        let nodes = [node("hot", 0.95, 0.9), node("warm", 0.7, 0.5)];
        let pods = [pod("ns/a", "hot", 3.0)];
        rebalancer.plan(10, &nodes, &pods);
        let plan = rebalancer.plan(20, &nodes, &pods);
        // warm with a: CPU 0.7 + 0.375 → 1.0: 0.5 + P(1) − P(0.7) = 1, above the threshold
        assert!(plan.moves.is_empty());
        assert_eq!(plan.held_back[0].reason, "no node would take it below the threshold and score strictly better");
    }
}
