//! The four verbs over a cluster model fed by the engine's real score book: which nodes
//! pass and why the others do not, scores worked out from the documented formula, binds
//! that take GPU shares once, burst damping, staleness and preemption.

use ironspider_scheduler::config::SchedulerConfig;
use ironspider_scheduler::extender::Extender;
use ironspider_scheduler::model::ClusterModel;
use ironspider_scheduler::prioritize::NoForecast;
use ironspider_scheduler::protocol::{ExtenderArgs, ExtenderBindingArgs, ExtenderPreemptionArgs, MetaPod, MetaVictims};
use ironspider_scores::NodeFrame;
use ironspider_scores::PodCost;
use ironspider_scores::ScoreConfig;
use ironspider_scores::inventory::NodeInventory;
use ironspider_scores::{PublishedScores, ScoreBook};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const WINDOW: i64 = 10_000_000_000;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn frame(node: &str, cpu: f64) -> NodeFrame {
    NodeFrame {
        node: node.into(),
        cpu: Some(cpu),
        memory: Some(0.2),
        vcpus: Some(8.0),
        memory_bytes: Some(32.0 * GIB),
        gpu: [("GPU-0".to_string(), 0.0), ("GPU-1".to_string(), 0.0)].into(),
        gpus: 2,
        gpu_model: Some("A100".into()),
        ..NodeFrame::default()
    }
}

struct Cluster {
    book: ScoreBook,
    extender: Extender,
}

/// Nodes `busy` (CPU 0.9) and `idle` (CPU 0.1) report, each with 8 CPUs, 32 GiB and two
/// A100s; `spare` (4 CPUs, 16 GiB, one T4) is only in the inventory.
fn cluster() -> Cluster {
    let published = Arc::new(PublishedScores::default());
    let book = ScoreBook::new(ScoreConfig::default(), WINDOW, Arc::clone(&published));
    book.record(WINDOW, [frame("busy", 0.9), frame("idle", 0.1)]);
    book.publish(WINDOW);
    let spare = NodeInventory {
        vcpus: Some(4.0),
        memory_gib: Some(16.0),
        gpus: Some(1),
        gpu_model: Some("T4".into()),
        ..NodeInventory::default()
    };
    let scores = ScoreConfig { inventory: BTreeMap::from([("spare".to_string(), spare)]), ..ScoreConfig::default() };
    let model = ClusterModel::new(SchedulerConfig::default(), &scores, WINDOW, published);
    Cluster { book, extender: Extender::new(model, Arc::new(NoForecast)) }
}

fn pod(uid: &str, resources: serde_json::Value, annotations: serde_json::Value) -> serde_json::Value {
    json!({
        "metadata": {"name": uid, "namespace": "ml", "uid": uid, "annotations": annotations},
        "spec": {"containers": [{"name": "main", "resources": {"requests": resources}}]}
    })
}

fn by_names(pod: serde_json::Value, names: &[&str]) -> ExtenderArgs {
    serde_json::from_value(json!({"Pod": pod, "NodeNames": names})).expect("extender args")
}

fn bind(uid: &str, node: &str) -> ExtenderBindingArgs {
    ExtenderBindingArgs { pod_name: uid.into(), pod_namespace: "ml".into(), pod_uid: uid.into(), node: node.into() }
}

#[test]
fn filter_passes_what_fits_and_says_why_the_rest_does_not() {
    let Cluster { extender, .. } = cluster();
    let share = pod("p1", json!({"cpu": "2", "example.com/gpu-milli": "300"}), json!({}));
    let result = extender.filter(by_names(share, &["busy", "idle", "spare", "ghost"]));
    assert_eq!(result.node_names.as_deref(), Some(&["busy".to_string(), "idle".into(), "spare".into()][..]));
    assert_eq!(
        result.failed_and_unresolvable_nodes["ghost"],
        "node ghost is unknown: no telemetry and no inventory entry"
    );
    assert!(result.nodes.is_none(), "node-cache mode answers names only");

    let a100 = pod("p2", json!({"example.com/gpu-milli": "300"}), json!({"ironspider.io/gpu-models": "A100"}));
    let result = extender.filter(by_names(a100, &["idle", "spare"]));
    assert_eq!(result.failed_and_unresolvable_nodes["spare"], "GPU: no GPU of model A100 (node has T4)");

    let huge = pod("p3", json!({"cpu": "16", "nvidia.com/gpu": "1"}), json!({}));
    let result = extender.filter(by_names(huge, &["busy", "idle", "spare"]));
    assert_eq!(result.node_names, Some(vec![]));
    assert_eq!(result.failed_and_unresolvable_nodes.len(), 3);
    assert_eq!(result.failed_and_unresolvable_nodes["idle"], "needs 16 CPU, 8 of 8 free even when empty");

    let impossible = pod("p4", json!({"nvidia.com/gpu": "1", "example.com/gpu-milli": "300"}), json!({}));
    let result = extender.filter(by_names(impossible, &["idle"]));
    assert!(result.error.starts_with("both nvidia.com/gpu and example.com/gpu-milli"), "{}", result.error);
}

#[test]
fn full_node_mode_returns_the_node_objects_that_passed() {
    let Cluster { extender, .. } = cluster();
    let args: ExtenderArgs = serde_json::from_value(json!({
        "Pod": pod("p1", json!({"nvidia.com/gpu": "2"}), json!({})),
        "Nodes": {"items": [{"metadata": {"name": "idle"}}, {"metadata": {"name": "spare"}}]}
    }))
    .unwrap();
    let result = extender.filter(args);
    let passed: Vec<_> = result.nodes.expect("full mode").items.into_iter().filter_map(|n| n.metadata.name).collect();
    assert_eq!(passed, ["idle"]);
    assert_eq!(result.failed_and_unresolvable_nodes["spare"], "GPU: needs 2 GPU(s), node has 1");
    assert!(result.node_names.is_none());
}

#[test]
fn binds_take_shares_once_and_a_full_device_fails_resolvably() {
    let Cluster { extender, .. } = cluster();
    for (uid, milli) in [("a", "600"), ("b", "600"), ("c", "600")] {
        let args = by_names(pod(uid, json!({"example.com/gpu-milli": milli}), json!({})), &["spare"]);
        let result = extender.filter(args);
        if uid == "a" {
            assert_eq!(result.node_names, Some(vec!["spare".to_string()]));
            assert_eq!(extender.bind(&bind(uid, "spare")).error, "");
            assert_eq!(extender.bind(&bind(uid, "spare")).error, "", "binding twice is idempotent");
        } else {
            assert_eq!(
                result.failed_nodes["spare"],
                "GPU: needs 600 milli of one GPU, node has 0 whole GPU(s), largest share 400 milli free"
            );
        }
    }
    let elsewhere = extender.bind(&bind("a", "idle")).error;
    assert_eq!(elsewhere, "pod a is already bound to node spare", "a bound pod is never bound twice");
    let (nodes, allocations) = extender.model().gpus().view();
    assert_eq!(nodes["spare"][0].free, 400);
    assert_eq!(allocations.len(), 1);
    let unknown = extender.bind(&bind("never-filtered", "spare")).error;
    assert_eq!(unknown, "pod never-filtered is unknown to the extender (no filter call seen); it will be retried");
}

#[test]
fn prioritize_scores_headroom_and_damps_bursts_of_fresh_binds() {
    let Cluster { book, extender } = cluster();
    let snapshot = book.snapshot();
    let with_mix = |pressure: f64, fragmentation: Option<f64>| {
        // weights headroom 2, cost 0.5, fragmentation 1; equal prices give every node the
        // cost term 1; no fragmentation term before any pod was filtered (no typical mix)
        let (term, weight) = fragmentation.map_or((0.0, 0.0), |phi| (phi, 1.0));
        (10.0 * (2.0 * (1.0 - pressure) + 0.5 + term) / (2.5 + weight)).round() as i64
    };
    let expected = |pressure: f64| with_mix(pressure, None);
    let args = by_names(pod("p1", json!({"cpu": "4"}), json!({})), &["busy", "idle", "spare", "ghost"]);
    let scores: BTreeMap<String, i64> =
        extender.prioritize(args.clone()).into_iter().map(|h| (h.host, h.score)).collect();
    let (busy, idle) = (snapshot.nodes["busy"].pressure.unwrap(), snapshot.nodes["idle"].pressure.unwrap());
    assert_eq!(scores["busy"], expected(busy));
    assert_eq!(scores["idle"], expected(idle));
    assert_eq!(scores["spare"], 9, "no telemetry: pressure 0 and an unknown price (0.5): (2 + 0.25) / 2.5 · 10");
    assert_eq!(scores["ghost"], 0);
    assert!(scores["idle"] > scores["busy"]);

    extender.filter(args.clone());
    assert_eq!(extender.bind(&bind("p1", "idle")).error, "");
    // The mix is now p1's type, CPU only: it can use no GPU, so the fragmentation is every
    // free GPU milli before and after placing p1: Δ = 0, φ = 0.5.
    let expected = |pressure: f64| with_mix(pressure, Some(0.5));
    let after: BTreeMap<String, i64> =
        extender.prioritize(args.clone()).into_iter().map(|h| (h.host, h.score)).collect();
    // 4 fresh cores on 8: CPU 0.1 + 0.5 = 0.6 becomes the scarcest resource (memory 0.2 was):
    // the pressure moves from 0.5 · 0.2 / 0.7 by 0.5 · 0.6 / 0.7 − 0.5 · 0.2 / 0.7, until
    // telemetry shows the pod
    assert_eq!(after["idle"], expected(idle + 0.5 * 0.6 / 0.7 - 0.5 * 0.2 / 0.7));
    book.publish(WINDOW * 5);
    let later: BTreeMap<String, i64> =
        extender.prioritize(args.clone()).into_iter().map(|h| (h.host, h.score)).collect();
    assert_eq!(later["idle"], expected(idle), "the burst is over after burst_windows windows");
}

#[test]
fn prioritize_prefers_the_node_where_the_typical_gpu_pods_lose_least() {
    let Cluster { book, extender } = cluster();
    let snapshot = book.snapshot();
    let share = |uid: &str, milli: &str| pod(uid, json!({"example.com/gpu-milli": milli}), json!({}));
    extender.filter(by_names(share("a", "600"), &["idle"]));
    assert_eq!(extender.bind(&bind("a", "idle")).error, "", "a takes 600 of idle's GPU 0: [400, 1000] left");
    let args = by_names(share("b", "400"), &["busy", "idle"]);
    extender.filter(args.clone());
    // Mix: a's type (600 milli) and b's (400 milli), ½ each; no CPU asked.
    // busy [1000, 1000] → b on GPU 0 → [600, 1000]: both types still fit both devices, F = 0
    //   before and after, φ = 0.5.
    // idle [400, 1000]: F = ½ · 400 (a 600 share cannot use GPU 0's 400) + ½ · 0 = 200; b
    //   fills GPU 0 exactly → [0, 1000], F = 0; Δ = 200, φ = 1 / (1 + e^−0.2).
    let phi_idle = 1.0 / (1.0 + (-0.2f64).exp());
    let expected = |pressure: f64, phi: f64| (10.0 * (2.0 * (1.0 - pressure) + 0.5 + phi) / 3.5).round() as i64;
    let scores: BTreeMap<String, i64> =
        extender.prioritize(args.clone()).into_iter().map(|h| (h.host, h.score)).collect();
    let (busy, idle) = (snapshot.nodes["busy"].pressure.unwrap(), snapshot.nodes["idle"].pressure.unwrap());
    assert_eq!(scores["busy"], expected(busy, 0.5));
    assert_eq!(scores["idle"], expected(idle, phi_idle));
}

#[test]
fn stale_nodes_are_unresolvable_with_the_reason() {
    let Cluster { book, extender } = cluster();
    book.publish(WINDOW * 4);
    let result = extender.filter(by_names(pod("p1", json!({"cpu": "1"}), json!({})), &["idle", "spare"]));
    let reason = &result.failed_and_unresolvable_nodes["idle"];
    assert!(reason.starts_with("node unhealthy: health 0 below 50 (stale: no data for 3 window(s)"), "{reason}");
    assert_eq!(result.node_names, Some(vec!["spare".to_string()]), "inventory nodes have no telemetry to go stale");
}

#[test]
fn preempt_keeps_nodes_where_the_victims_make_room() {
    let Cluster { extender, .. } = cluster();
    let whole = |uid: &str| pod(uid, json!({"nvidia.com/gpu": "1"}), json!({}));
    extender.filter(by_names(whole("victim"), &["spare"]));
    assert_eq!(extender.bind(&bind("victim", "spare")).error, "");
    let proposal = |victims: &[&str]| MetaVictims {
        pods: victims.iter().map(|uid| MetaPod { uid: uid.to_string() }).collect(),
        num_pdb_violations: 0,
    };
    let args = ExtenderPreemptionArgs {
        pod: serde_json::from_value(whole("preemptor")).unwrap(),
        node_name_to_victims: BTreeMap::new(),
        node_name_to_meta_victims: BTreeMap::from([
            ("spare".to_string(), proposal(&["victim"])),
            ("ghost".to_string(), proposal(&[])),
        ]),
    };
    let result = extender.preempt(args.clone());
    assert_eq!(result.node_name_to_meta_victims, BTreeMap::from([("spare".to_string(), proposal(&["victim"]))]));
    let without_victims = ExtenderPreemptionArgs {
        node_name_to_meta_victims: BTreeMap::from([("spare".to_string(), proposal(&["someone-else"]))]),
        ..args
    };
    assert!(extender.preempt(without_victims).node_name_to_meta_victims.is_empty());
}

#[test]
fn held_requests_follow_binds_and_are_freed_when_a_running_pod_leaves() {
    let Cluster { book, extender } = cluster();
    let model = extender.model();
    for (uid, cpu) in [("a", "1.5"), ("b", "2")] {
        extender.filter(by_names(pod(uid, json!({"cpu": cpu, "memory": "1Gi"}), json!({})), &["idle"]));
        assert_eq!(extender.bind(&bind(uid, "idle")).error, "");
    }
    let held = |model: &ClusterModel| model.loads(&model.view()).of("idle");
    let both = held(model).expect("two pods held");
    assert_eq!((both.cpu, both.memory), (3.5, 2.0 * GIB));
    assert_eq!((both.burst_cpu, both.burst_memory), (3.5, 2.0 * GIB), "both are fresh");

    let reported = |name: &str| PodCost { namespace: "ml".into(), pod: name.into(), ..PodCost::default() };
    book.record_pods(vec![reported("a"), reported("b")]);
    book.publish(WINDOW * 2);
    let running = held(model).expect("still held");
    assert_eq!((running.cpu, running.burst_cpu), (3.5, 0.0), "telemetry sees them: no longer a burst");

    book.record_pods(vec![reported("b")]);
    book.publish(WINDOW * 3);
    let one = held(model).expect("b still held");
    assert_eq!((one.cpu, one.memory), (2.0, GIB), "a left: its requests are freed");
    book.record_pods(vec![reported("other")]);
    book.publish(WINDOW * 4);
    assert_eq!(held(model), None, "nothing left on the node");
}

#[test]
fn a_bind_whose_pod_never_shows_up_is_released_after_assumed_windows() {
    let Cluster { book, extender } = cluster();
    let model = extender.model();
    let gpu = || pod("ghost", json!({"nvidia.com/gpu": "2"}), json!({}));
    extender.filter(by_names(gpu(), &["idle"]));
    assert_eq!(extender.bind(&bind("ghost", "idle")).error, "");
    let assumed = i64::from(SchedulerConfig::default().assumed_windows);
    // The nodes go on reporting (no pod metrics): windows 2 … `last`.
    let report_until = |first: i64, last: i64| {
        for window in first..=last {
            book.record(WINDOW * window, [frame("busy", 0.9), frame("idle", 0.1)]);
            book.publish(WINDOW * window);
        }
    };
    // Bound at the end of window 1; still held 90 windows later (window end 91; a filter
    // folds the new snapshot in) ...
    let next = || by_names(pod("next", json!({"nvidia.com/gpu": "1"}), json!({})), &["idle"]);
    report_until(2, 1 + assumed);
    let taken = extender.filter(next());
    assert!(taken.failed_nodes["idle"].starts_with("GPU:"), "both GPUs taken: {taken:?}");
    assert!(model.placement("ghost").is_some(), "held for {assumed} windows");
    // ... and released in the next: neither telemetry nor a watch ever reported it.
    report_until(2 + assumed, 2 + assumed);
    let free = extender.filter(next());
    assert_eq!(free.node_names, Some(vec!["idle".to_string()]), "{free:?}");
    assert!(model.placement("ghost").is_none());
}
