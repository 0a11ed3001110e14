//! The rebalancer on a replayed Bitbrains cluster: the 100 VMs of `bitbrains-rnd/2013-7`
//! run as pods on six nodes, window by window (5 minutes each, 30 days). The VMs start on
//! four of them (two nodes join empty); the cluster's mean use fills it to `REBALANCE_FILL`
//! (default 0.45) of its CPU and memory. Node utilisation is the VMs' measured use over the
//! node's capacity and node pressure comes from the engine's own formula. Carrying out the plans must lower the node-hours above the threshold, every
//! plan must respect the limits, every move must score strictly better, and no pod may move
//! again (least of all back) within its cooldown.

use ironspider_datasets::bitbrains;
use ironspider_scheduler::config::Weights;
use ironspider_scheduler::rebalance::{NodeLoad, PodLoad, RebalanceConfig, Rebalancer};
use ironspider_scores::Hardware;
use ironspider_scores::NodeScore;
use ironspider_scores::pressure::{PressureConfig, ResourceLoad, node_pressure, spread};
use std::collections::{HashMap, VecDeque};

const NODES: usize = 6;
/// Nodes that join empty (the VMs start on the others).
const EMPTY: usize = 2;
const WINDOW_NS: i64 = 300_000_000_000;

/// Per window: each VM's (CPU cores, memory bytes) in use, VMs by trace index.
fn vm_usage() -> Vec<Vec<(f64, f64)>> {
    let dir = ironspider_datasets::shared::dataset("bitbrains-rnd/2013-7");
    let (trace, _) = bitbrains::load(&dir).expect("the Bitbrains trace beside the repository");
    let column = |metric: &str, state: Option<&str>| {
        trace.columns.iter().position(|c| c.metric == metric && c.attribute.map(|a| a.1) == state).expect("column")
    };
    let (cores, idle, used) = (
        column("system.cpu.logical.count", None),
        column("system.cpu.utilization", Some("idle")),
        column("system.memory.usage", Some("used")),
    );
    let mut windows = Vec::new();
    for rows in trace.keys.iter().enumerate().collect::<Vec<_>>().chunk_by(|a, b| a.1.0 == b.1.0) {
        let mut usage = vec![(0.0, 0.0); trace.nodes.len()];
        for (row, (_, vm)) in rows {
            let values = trace.row(*row);
            let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
            usage[*vm as usize] = (finite(values[cores]) * (1.0 - finite(values[idle])), finite(values[used]));
        }
        windows.push(usage);
    }
    windows
}

struct Outcome {
    hot_node_hours: f64,
    moves: usize,
}

/// Runs the cluster; with `rebalance`, carries out every plan and checks it.
fn run(windows: &[Vec<(f64, f64)>], rebalance: bool, fill: f64) -> Outcome {
    let vms = windows[0].len();
    let mean = |f: fn(&(f64, f64)) -> f64| windows.iter().flatten().map(f).sum::<f64>() / windows.len() as f64;
    let (vcpus, memory) = (mean(|u| u.0) / fill / NODES as f64, mean(|u| u.1) / fill / NODES as f64);
    let config = RebalanceConfig::default();
    let pressure = PressureConfig::default();
    let mut rebalancer = Rebalancer::new(config.clone(), pressure.clone(), Weights::default(), WINDOW_NS);
    let mut placement: Vec<usize> = (0..vms).map(|vm| vm % (NODES - EMPTY)).collect();
    let mut history: Vec<VecDeque<(f64, f64)>> = vec![VecDeque::new(); NODES];
    let mut last_move: HashMap<String, (i64, String)> = HashMap::new();
    let (mut hot_windows, mut moves) = (0usize, 0usize);
    for (w, usage) in windows.iter().enumerate() {
        let window_end = (w as i64 + 1) * WINDOW_NS;
        let mut load = [(0.0, 0.0); NODES];
        for (vm, (cpu, mem)) in usage.iter().enumerate() {
            load[placement[vm]].0 += cpu;
            load[placement[vm]].1 += mem;
        }
        let nodes: Vec<NodeLoad> = (0..NODES)
            .map(|n| {
                let utilisation = ((load[n].0 / vcpus).min(1.0), (load[n].1 / memory).min(1.0));
                history[n].push_back(utilisation);
                if history[n].len() > pressure.variability_windows {
                    history[n].pop_front();
                }
                let spread_of = |f: fn(&(f64, f64)) -> f64| spread(&history[n].iter().map(f).collect::<Vec<_>>());
                let loads = [
                    ResourceLoad { utilisation: utilisation.0, spread: spread_of(|u| u.0) },
                    ResourceLoad { utilisation: utilisation.1, spread: spread_of(|u| u.1) },
                ];
                let score = NodeScore {
                    cpu: Some(utilisation.0),
                    memory: Some(utilisation.1),
                    pressure: node_pressure(&loads, Default::default(), &pressure),
                    cost_per_hour: vcpus * 0.03,
                    hardware: Hardware { vcpus: Some(vcpus), memory_bytes: Some(memory), ..Hardware::default() },
                    ..NodeScore::default()
                };
                NodeLoad { name: format!("node-{n}"), score, healthy: true }
            })
            .collect();
        hot_windows += nodes.iter().filter(|n| n.score.pressure.unwrap_or(0.0) > config.threshold).count();

        if !rebalance {
            continue;
        }
        let pods: Vec<PodLoad> = usage
            .iter()
            .enumerate()
            .map(|(vm, (cpu, mem))| PodLoad {
                pod: format!("vms/vm-{vm}"),
                node: format!("node-{}", placement[vm]),
                cpu: *cpu,
                memory: *mem,
            })
            .collect();
        let plan = rebalancer.plan(window_end, &nodes, &pods);
        assert!(plan.moves.len() <= config.max_evictions_per_cycle);
        for node in &nodes {
            let leaving = plan.moves.iter().filter(|m| m.from == node.name).count();
            assert!(leaving <= config.max_evictions_per_node, "{} evictions from {}", leaving, node.name);
        }
        for planned in &plan.moves {
            assert!(planned.to_score > planned.from_score, "not strictly better: {planned:?}");
            if let Some((at, from)) = last_move.get(&planned.pod) {
                let windows_since = (window_end - at) / WINDOW_NS;
                assert!(
                    windows_since >= i64::from(config.cooldown_windows),
                    "{} moved again after {windows_since} windows",
                    planned.pod
                );
                assert!(windows_since >= i64::from(config.cooldown_windows) || planned.to != *from, "bounced back");
            }
            last_move.insert(planned.pod.clone(), (window_end, planned.from.clone()));
            let vm: usize = planned.pod.trim_start_matches("vms/vm-").parse().unwrap();
            placement[vm] = planned.to.trim_start_matches("node-").parse().unwrap();
        }
        moves += plan.moves.len();
        rebalancer.executed(window_end, &plan.moves);
    }
    Outcome { hot_node_hours: hot_windows as f64 * WINDOW_NS as f64 / 3.6e12, moves }
}

#[test]
fn carrying_out_the_plans_lowers_the_node_hours_above_the_threshold() {
    let windows = vm_usage();
    assert!(windows.len() > 8000, "30 days of 5-minute windows: {}", windows.len());
    let fill = std::env::var("REBALANCE_FILL").ok().and_then(|f| f.parse().ok()).unwrap_or(0.45);
    let before = run(&windows, false, fill);
    let after = run(&windows, true, fill);
    eprintln!(
        "node-hours above 0.8 pressure: {:.1} without the rebalancer, {:.1} with it ({} moves)",
        before.hot_node_hours, after.hot_node_hours, after.moves
    );
    assert!(before.hot_node_hours > 10.0, "the packing must have hot spots to remove: {:.1} h", before.hot_node_hours);
    assert!(
        after.hot_node_hours < before.hot_node_hours * 0.95,
        "{:.1} h vs {:.1} h",
        after.hot_node_hours,
        before.hot_node_hours
    );
    assert!(after.moves > 0);
}
