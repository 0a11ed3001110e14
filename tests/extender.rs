//! The kube-scheduler extender through the real server's HTTP API (`/scheduler/...`):
//! the scenarios of kube-scheduler's own extender tests, replayed through a model of the
//! scheduler's combining rule against live servers; bad input answered as the scheduler
//! expects; and 1,000 concurrent filter + bind calls for fractional-GPU pods that never
//! allocate a GPU share twice nor lose one.

use crate::common::{Server, encode, hostmetrics, now_ns};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Starts a server with `config` (TOML) and 1 s windows.
fn start(config: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("config directory");
    let file = dir.path().join("ironspider.toml");
    std::fs::write(&file, config).expect("config written");
    let server = Server::start(&["--window", "1", "--lateness", "0", "--config", file.to_str().unwrap()], &[]);
    (server, dir)
}

async fn post(server: &Server, verb: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/scheduler/{verb}", server.http))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("extender request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn pod(uid: &str, requests: Value) -> Value {
    json!({
        "metadata": {"name": uid, "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "main", "resources": {"requests": requests}}]}
    })
}

/// A server whose telemetry knows `nodes`, each CPU-busy as given; telemetry keeps flowing
/// (every 250 ms) while the returned task lives, so no node goes stale.
async fn telemetry_server(nodes: &[(&str, f64)]) -> (Arc<Server>, tokio::task::JoinHandle<()>) {
    let (server, dir) = start("");
    let server = Arc::new(server);
    let feeder = {
        let server = Arc::clone(&server);
        let nodes: Vec<(String, f64)> = nodes.iter().map(|(n, busy)| (n.to_string(), *busy)).collect();
        tokio::spawn(async move {
            let _config = dir;
            loop {
                for (node, busy) in &nodes {
                    let _ = server.export_grpc(encode(&hostmetrics(node, now_ns(), *busy, 2.0))).await;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::common::nodes(&server).await.iter().filter(|n| n["pressure"].is_number()).count() < nodes.len() {
        assert!(Instant::now() < deadline, "nodes not scored in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (server, feeder)
}

/// One extender as kube-scheduler is configured with it.
struct Configured<'s> {
    server: &'s Server,
    weight: i64,
    node_cache_capable: bool,
}

/// A score plugin of the scheduler: its weight and its 0..100 score for a node.
type Plugin = (i64, fn(&str) -> i64);

/// kube-scheduler's combining rule for extenders (`findNodesThatPassExtenders`,
/// `prioritizeNodes`): each extender filters what the previous ones left, and an error or
/// an empty result fails the pod; a node's score is the sum of its plugins' scores times
/// their weights plus, per extender, its score × weight × 10 (`MaxNodeScore /
/// MaxExtenderPriority`); the highest total wins (ties are an ambiguity the tests avoid).
async fn schedule(
    pod: &Value,
    nodes: &[&str],
    extenders: &[Configured<'_>],
    plugins: &[Plugin],
) -> Result<String, String> {
    let mut feasible: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
    for extender in extenders {
        let args = if extender.node_cache_capable {
            json!({"Pod": pod, "NodeNames": feasible})
        } else {
            json!({"Pod": pod, "Nodes": {"items": feasible.iter().map(|n| json!({"metadata": {"name": n}})).collect::<Vec<_>>()}})
        };
        let (status, result) = post(extender.server, "filter", &args).await;
        if status != 200 {
            return Err(format!("extender filter failed with HTTP {status}"));
        }
        if let Some(error) = result["Error"].as_str().filter(|e| !e.is_empty()) {
            return Err(error.to_string());
        }
        let passed: Vec<String> = if extender.node_cache_capable {
            serde_json::from_value(result["NodeNames"].clone()).unwrap_or_default()
        } else {
            let items = result["Nodes"]["items"].as_array().cloned().unwrap_or_default();
            items.iter().map(|n| n["metadata"]["name"].as_str().unwrap().to_string()).collect()
        };
        assert!(passed.iter().all(|n| feasible.contains(n)), "answered {passed:?}, was sent {feasible:?}");
        feasible = passed;
        if feasible.is_empty() {
            return Err(format!("0/{} nodes are available", nodes.len()));
        }
    }
    let mut totals: BTreeMap<String, i64> =
        feasible.iter().map(|n| (n.clone(), plugins.iter().map(|(w, score)| w * score(n)).sum())).collect();
    for extender in extenders {
        let (status, scores) = post(extender.server, "prioritize", &json!({"Pod": pod, "NodeNames": feasible})).await;
        assert_eq!(status, 200, "a prioritize error is ignored by the scheduler, but ours should not fail");
        for host in scores.as_array().expect("HostPriorityList") {
            let node = host["Host"].as_str().unwrap();
            *totals.get_mut(node).expect("scored node was sent") +=
                host["Score"].as_i64().unwrap() * extender.weight * 10;
        }
    }
    let best = totals.values().max().copied().expect("feasible nodes");
    let winners: Vec<&String> = totals.iter().filter(|(_, t)| **t == best).map(|(n, _)| n).collect();
    assert_eq!(winners.len(), 1, "ambiguous: {totals:?}");
    Ok(winners[0].clone())
}

/// Node-cache-capable extenders on `servers`, with their weights.
fn uses<'s>(servers: &[(&'s Arc<Server>, i64)]) -> Vec<Configured<'s>> {
    servers.iter().map(|(server, weight)| Configured { server, weight: *weight, node_cache_capable: true }).collect()
}

const IDLE: f64 = 0.15;
const BUSY: f64 = 0.85;

#[tokio::test]
async fn kube_scheduler_extender_scenarios() {
    let machines = ["machine1", "machine2", "machine3", "machine4", "machine5"];
    let cpu_pod = pod("p", json!({"cpu": "100m"}));
    // Extenders whose filters pass {1,2,3} and {2,3,5} (what their telemetry knows), and
    // whose favourite (the idle node) is machine2, machine3 and machine1.
    let (a, _fa) = telemetry_server(&[("machine1", BUSY), ("machine2", IDLE), ("machine3", BUSY)]).await;
    let (b, _fb) = telemetry_server(&[("machine2", BUSY), ("machine3", IDLE), ("machine5", BUSY)]).await;
    let (c, _fc) = telemetry_server(&[("machine1", IDLE), ("machine2", BUSY), ("machine3", BUSY)]).await;
    let (d, _fd) = telemetry_server(&[("machine4", IDLE)]).await;

    // A filter error fails the pod: an impossible GPU request.
    let impossible = pod("bad", json!({"nvidia.com/gpu": "1", "example.com/gpu-milli": "500"}));
    let failed = schedule(&impossible, &machines, &uses(&[(&a, 1)]), &[]).await.unwrap_err();
    assert!(failed.starts_with("both nvidia.com/gpu and example.com/gpu-milli"), "{failed}");

    // A filter that rejects all nodes fails the pod.
    let none = schedule(&cpu_pod, &["machine4", "machine5"], &uses(&[(&a, 1)]), &[]).await.unwrap_err();
    assert_eq!(none, "0/2 nodes are available");

    // Two filters with no overlap fail it.
    let disjoint = schedule(&cpu_pod, &machines, &uses(&[(&a, 1), (&d, 1)]), &[]).await.unwrap_err();
    assert_eq!(disjoint, "0/5 nodes are available");

    // Competing prioritizers: weight 1 favours machine1 (c), weight 5 machine2 (a).
    let chosen = schedule(&cpu_pod, &["machine1", "machine2", "machine3"], &uses(&[(&c, 1), (&a, 5)]), &[]).await;
    assert_eq!(chosen.unwrap(), "machine2");

    // A plugin with weight 20 (machine2: 100, others 0) beats an extender with weight 1
    // that favours machine1.
    let machine2_plugin: Plugin = (20, |n| if n == "machine2" { 100 } else { 0 });
    let chosen = schedule(&cpu_pod, &["machine1", "machine2", "machine3"], &uses(&[(&c, 1)]), &[machine2_plugin]).await;
    assert_eq!(chosen.unwrap(), "machine2");

    // Three extenders: filters {1,2,3}, {2,3,5}, {1,2,3}; favourites machine2 (weight 3),
    // machine3 (weight 4) and machine2 (weight 10, from a server where machine2 is only
    // moderately loaded and so scores about half).
    let (e, _fe) = telemetry_server(&[("machine1", 0.95), ("machine2", 0.6), ("machine3", 0.95)]).await;
    let three = uses(&[(&a, 3), (&b, 4), (&e, 10)]);
    let (_, e_scores) = post(&e, "prioritize", &json!({"Pod": cpu_pod, "NodeNames": ["machine2", "machine3"]})).await;
    let e_machine2 = e_scores[0]["Score"].as_i64().unwrap();
    assert!((3..=7).contains(&e_machine2), "machine2 scores about half on the third extender: {e_scores}");
    assert_eq!(schedule(&cpu_pod, &machines, &three, &[]).await.unwrap(), "machine2");

    // Full Nodes mode and node-cache mode answer only what they were sent.
    let full = [Configured { server: &a, weight: 1, node_cache_capable: false }];
    assert_eq!(schedule(&cpu_pod, &["machine2", "machine5"], &full, &[]).await.unwrap(), "machine2");
    let (_, result) = post(&a, "filter", &json!({"Pod": cpu_pod, "NodeNames": ["machine3", "machine1"]})).await;
    assert_eq!(result["NodeNames"], json!(["machine3", "machine1"]));
    assert!(result.get("Nodes").is_none_or(Value::is_null), "{result}");
}

#[tokio::test]
async fn bad_input_is_answered_as_kube_scheduler_expects() {
    let (server, _dir) = start("[engine.scores.inventory.gpu-1]\nvcpus = 8\nmemory_gib = 32\ngpus = 2\n");
    for verb in ["filter", "prioritize", "bind", "preempt"] {
        let response = reqwest::Client::new()
            .post(format!("http://{}/scheduler/{verb}", server.http))
            .body("{\"Pod\": [not json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{verb}");
        assert!(response.text().await.unwrap().starts_with("malformed extender request:"));
    }
    let (status, result) =
        post(&server, "filter", &json!({"Pod": pod("p", json!({})), "NodeNames": ["ghost", "gpu-1"]})).await;
    assert_eq!(status, 200);
    assert_eq!(result["NodeNames"], json!(["gpu-1"]));
    assert_eq!(
        result["FailedAndUnresolvableNodes"]["ghost"],
        "node ghost is unknown: no telemetry and no inventory entry"
    );

    let too_big = pod("big", json!({"nvidia.com/gpu": "4"}));
    let (_, result) = post(&server, "filter", &json!({"Pod": too_big, "NodeNames": ["gpu-1"]})).await;
    assert_eq!(result["NodeNames"], json!([]));
    assert_eq!(result["FailedAndUnresolvableNodes"]["gpu-1"], "GPU: needs 4 GPU(s), node has 2");

    let (_, result) = post(&server, "filter", &json!({"Pod": pod("p", json!({})), "NodeNames": []})).await;
    assert_eq!(result["NodeNames"], json!([]));
    let (_, result) = post(&server, "prioritize", &json!({"Pod": pod("p", json!({})), "NodeNames": []})).await;
    assert_eq!(result, json!([]));
    let (_, result) = post(&server, "filter", &json!({"pod": pod("p", json!({})), "nodenames": ["gpu-1"]})).await;
    assert_eq!(result["NodeNames"], json!(["gpu-1"]), "lower-case keys are read as Go reads them");
}

#[tokio::test]
async fn a_body_past_the_limit_is_refused_with_413_and_the_next_is_answered() {
    let (server, _dir) = start(
        "[scheduler]\nmax_body_bytes = 4096\n[engine.scores.inventory.gpu-1]\nvcpus = 8\nmemory_gib = 32\ngpus = 2\n",
    );
    let names: Vec<String> = (0..500).map(|i| format!("node-{i:04}")).collect();
    let (status, _) = post(&server, "filter", &json!({"Pod": pod("p", json!({})), "NodeNames": names})).await;
    assert_eq!(status, 413, "5.5 KB of node names past a 4 KB limit");
    let (status, result) = post(&server, "filter", &json!({"Pod": pod("p", json!({})), "NodeNames": ["gpu-1"]})).await;
    assert_eq!((status, &result["NodeNames"]), (200, &json!(["gpu-1"])));
}

#[tokio::test]
async fn concurrent_filter_and_bind_over_http_never_double_allocate_a_gpu_share() {
    let mut config = String::new();
    for node in ["gpu-a", "gpu-b", "gpu-c", "gpu-d"] {
        config += &format!("[engine.scores.inventory.{node}]\nvcpus = 64\nmemory_gib = 256\ngpus = 4\n");
    }
    let (server, _dir) = start(&config);
    let server = Arc::new(server);
    let nodes = ["gpu-a", "gpu-b", "gpu-c", "gpu-d"];
    // 1,000 pods of 100..900 milli (≈ 500 on average) against 16 GPUs: the cluster fills
    // up and most pods find no room, so binds race for the last shares.
    let demand = |i: usize| ((i * 37) % 9 + 1) as u32 * 100;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let uid = format!("pod-{i}");
                let pod = pod(&uid, json!({"example.com/gpu-milli": demand(i).to_string()}));
                for attempt in 0..5 {
                    let (_, filtered) = post(&server, "filter", &json!({"Pod": pod, "NodeNames": nodes})).await;
                    let passed: Vec<String> = serde_json::from_value(filtered["NodeNames"].clone()).unwrap();
                    let node = passed.get((i + attempt) % passed.len().max(1))?;
                    let binding = json!({"PodName": uid, "PodNamespace": "default", "PodUID": uid, "Node": node});
                    let (status, bound) = post(&server, "bind", &binding).await;
                    assert_eq!(status, 200);
                    if bound["Error"] == "" {
                        return Some((uid, demand(i)));
                    }
                }
                None
            })
        })
        .collect();
    let mut bound = BTreeMap::new();
    for task in tasks {
        if let Some((uid, milli)) = task.await.expect("client task") {
            bound.insert(uid, milli);
        }
    }
    let state: Value =
        reqwest::get(format!("http://{}/api/v1/scheduler/gpus", server.http)).await.unwrap().json_value().await;
    let mut held: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut holders = BTreeSet::new();
    for share in state["shares"].as_array().unwrap() {
        let pod = share["pod"].as_str().unwrap().to_string();
        assert_eq!(share["milli"].as_u64().unwrap() as u32, bound[&pod], "{pod} holds exactly what it asked");
        assert!(holders.insert(pod), "one share per fractional pod");
        let key = (share["node"].as_str().unwrap().to_string(), share["device"].as_str().unwrap().to_string());
        *held.entry(key).or_default() += share["milli"].as_u64().unwrap() as u32;
    }
    assert_eq!(holders.len(), bound.len(), "every successful bind holds a share, and nothing else does");
    let mut free_total = 0;
    for (node, devices) in state["nodes"].as_object().unwrap() {
        for device in devices.as_array().unwrap() {
            let id = device["id"].as_str().unwrap().to_string();
            let free = device["free_milli"].as_u64().unwrap() as u32;
            assert_eq!(free + held.get(&(node.clone(), id)).copied().unwrap_or(0), 1000, "{node} conserves milli");
            free_total += free;
        }
    }
    assert!(
        bound.len() > 16 && free_total < 16 * 1000 / 10,
        "the cluster filled up: {} bound, {free_total} free",
        bound.len()
    );
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_str(&self.text().await.expect("body")).expect("JSON")
    }
}

/// kubeletstats-shaped metrics of one pod on `node` using `cpu` cores.
fn pod_usage(
    node: &str,
    pod: &str,
    cpu: f64,
) -> opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
    let mut request = crate::common::node_request(
        node,
        vec![crate::common::gauge_metric("k8s.pod.cpu.usage", vec![crate::common::gauge_point(now_ns(), cpu, vec![])])],
    );
    let resource = request.resource_metrics[0].resource.as_mut().unwrap();
    resource
        .attributes
        .extend([crate::common::attr("k8s.namespace.name", "shop"), crate::common::attr("k8s.pod.name", pod)]);
    request
}

#[tokio::test]
async fn a_sustained_hot_spot_gets_an_eviction_plan_and_metrics() {
    let (server, _dir) = start("[scheduler.rebalance]\nsustained_windows = 2\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    let plan = loop {
        assert!(Instant::now() < deadline, "no plan in time");
        for (node, busy) in [("hot", 0.9), ("cool", 0.15)] {
            server.export_grpc(encode(&hostmetrics(node, now_ns(), busy, 2.0))).await.expect("accepted");
        }
        for (pod, cpu) in [("web-1", 0.5), ("web-2", 0.25)] {
            server.export_grpc(encode(&pod_usage("hot", pod, cpu))).await.expect("accepted");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let plan =
            reqwest::get(format!("http://{}/api/v1/rebalance/plan", server.http)).await.unwrap().json_value().await;
        if !plan["moves"].as_array().unwrap().is_empty() {
            break plan;
        }
    };
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["hot"][0]["node"], "hot");
    let moved = &plan["moves"][0];
    assert_eq!(
        (moved["pod"].as_str(), moved["from"].as_str(), moved["to"].as_str()),
        (Some("shop/web-1"), Some("hot"), Some("cool"))
    );
    assert!(moved["to_score"].as_i64() > moved["from_score"].as_i64(), "{moved}");
    assert_eq!(plan["moves"].as_array().unwrap().len(), 1, "one eviction per node and cycle");
    assert_eq!(server.metric("ironspider_rebalance_planned_evictions").await, 1.0);
    assert_eq!(server.metric("ironspider_rebalance_hot_nodes").await, 1.0);
}
