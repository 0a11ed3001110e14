//! Node scores from hostmetrics-shaped telemetry through the real server: the frame, the
//! formulas of docs/scoring.md checked against hand-worked values, `/api/v1/nodes`, the
//! score gauges on `/metrics`, and a node that stops reporting losing its health.

use crate::common::{GIB, Server, attr, close, encode, gauge_metric, gauge_point, hostmetrics, nodes, now_ns};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test]
async fn nodes_are_scored_and_a_silent_node_turns_unhealthy_within_three_windows() {
    let server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut scored = Vec::new();
    while scored.len() < 2 {
        assert!(Instant::now() < deadline, "nodes not scored: {scored:?}");
        for node in ["node-a", "node-b"] {
            server.export_grpc(encode(&hostmetrics(node, now_ns(), 0.5, 6.0))).await.expect("accepted");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        scored = nodes(&server).await;
    }
    let a = &scored[0];
    assert_eq!(a["node"], "node-a");
    // CPU 1 − mean(0.6, 0.4) = 0.5; memory 6 / 8 = 0.75
    assert!(close(&a["cpu"], 0.5) && close(&a["memory"], 0.75), "{a}");
    assert_eq!((a["gpu"].clone(), a["gpu_memory"].clone()), (Value::Null, Value::Null), "no GPU: unknown, not 0");
    // memory is the scarcest: 0.5 + 0.5 · (0.75 − 0.7) / 0.3
    assert!(close(&a["pressure"], 0.5 + 0.5 * 0.05 / 0.3), "{a}");
    // 2 vCPU · 0.031611 + 8 GiB · 0.004237; idle 0.063222 · 0.5 + 0.033896 · 0.25
    assert!(close(&a["cost_per_hour"], 0.097118), "{a}");
    assert!(close(&a["idle_cost_per_hour"], 0.040085), "{a}");
    assert_eq!((a["health"].as_f64(), a["factors"].as_array().map(Vec::len)), (Some(100.0), Some(0)));

    let one = reqwest::get(format!("http://{}/api/v1/nodes/node-b", server.http)).await.expect("node-b");
    assert_eq!(one.status(), 200);
    let missing = reqwest::get(format!("http://{}/api/v1/nodes/nope", server.http)).await.expect("nope");
    assert_eq!(missing.status(), 404);
    assert_eq!(server.metric("ironspider_node_health{node=\"node-a\"}").await, 100.0);
    assert!(
        (server.metric("ironspider_node_cost_per_hour{node=\"node-a\",resource=\"cpu\"}").await - 0.063222).abs()
            < 1e-9
    );

    // node-b goes silent; node-a keeps reporting.
    let silent_since = Instant::now();
    let b = loop {
        server.export_grpc(encode(&hostmetrics("node-a", now_ns(), 0.5, 6.0))).await.expect("accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let b = nodes(&server).await.into_iter().find(|n| n["node"] == "node-b").expect("node-b still listed");
        if b["health"].as_f64().is_some_and(|h| h < 50.0) {
            break b;
        }
        assert!(
            silent_since.elapsed() < Duration::from_secs(4),
            "node-b still healthy after 3 windows and a margin: {b}"
        );
    };
    assert_eq!(b["factors"][0]["factor"], "stale", "{b}");
    let a = nodes(&server).await.into_iter().find(|n| n["node"] == "node-a").expect("node-a");
    assert_eq!(a["health"].as_f64(), Some(100.0), "the reporting node stays healthy: {a}");

    // The same scores, window by window, in SQL.
    let latest = "SELECT node, cpu, memory, pressure, health, cost_per_hour, idle_cost_per_hour FROM node_scores \
                  WHERE window_end = (SELECT max(window_end) FROM node_scores) ORDER BY node";
    let rows = server.sql(latest).await.expect("node_scores");
    let [a, b] = &rows[..] else { panic!("one row per node expected: {rows:?}") };
    assert!(close(&a["cpu"], 0.5) && close(&a["pressure"], 0.5 + 0.5 * 0.05 / 0.3), "{a}");
    assert!(close(&a["cost_per_hour"], 0.097118) && close(&a["health"], 100.0), "{a}");
    assert_eq!((b["node"].as_str(), &b["cpu"], &b["pressure"]), (Some("node-b"), &Value::Null, &Value::Null), "{b}");
    assert!(b["health"].as_f64().is_some_and(|h| h < 50.0) && close(&b["cost_per_hour"], 0.097118), "{b}");
}

/// kubeletstats- and k8s_cluster-shaped pod metrics: a pod using 0.5 cores and 2 GiB with two
/// containers requesting 0.75 + 0.25 cores and 1 GiB in all.
fn pod_metrics(ts: u64) -> ExportMetricsServiceRequest {
    let resource = |container: Option<&str>| {
        let mut attributes =
            vec![attr("k8s.node.name", "node-p"), attr("k8s.namespace.name", "shop"), attr("k8s.pod.name", "web-1")];
        attributes.extend(container.map(|c| attr("k8s.container.name", c)));
        Some(Resource { attributes, ..Default::default() })
    };
    let one = |name: &str, value| gauge_metric(name, vec![gauge_point(ts, value, vec![])]);
    let resource_metrics = |container, metrics| ResourceMetrics {
        resource: resource(container),
        scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![
            resource_metrics(None, vec![one("k8s.pod.cpu.usage", 0.5), one("k8s.pod.memory.working_set", 2.0 * GIB)]),
            resource_metrics(
                Some("app"),
                vec![one("k8s.container.cpu_request", 0.75), one("k8s.container.memory_request", 0.5 * GIB)],
            ),
            resource_metrics(
                Some("sidecar"),
                vec![one("k8s.container.cpu_request", 0.25), one("k8s.container.memory_request", 0.5 * GIB)],
            ),
        ],
    }
}

#[tokio::test]
async fn pods_are_costed_at_the_larger_of_request_and_usage() {
    let server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let pod = loop {
        assert!(Instant::now() < deadline, "pod never costed");
        server.export_grpc(encode(&pod_metrics(now_ns()))).await.expect("accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let body = reqwest::get(format!("http://{}/api/v1/pods", server.http)).await.unwrap().text().await.unwrap();
        let pods: Vec<Value> = serde_json::from_str(&body).expect("a JSON array");
        if let Some(pod) = pods.into_iter().next() {
            break pod;
        }
    };
    assert_eq!(
        (pod["namespace"].as_str(), pod["pod"].as_str(), pod["node"].as_str()),
        (Some("shop"), Some("web-1"), Some("node-p"))
    );
    // CPU: max(0.75 + 0.25, 0.5) = 1 core · 0.031611; memory: max(1, 2) = 2 GiB · 0.004237
    assert!(close(&pod["cpu_request"], 1.0) && close(&pod["memory_usage"], 2.0 * GIB), "{pod}");
    assert!(close(&pod["cost"]["cpu"], 0.031611) && close(&pod["cost"]["memory"], 0.008474), "{pod}");
    assert!(close(&pod["cost_per_hour"], 0.040085), "{pod}");
    let exposed =
        server.metric("ironspider_pod_cost_per_hour{namespace=\"shop\",pod=\"web-1\",resource=\"memory\"}").await;
    assert!((exposed - 0.008474).abs() < 1e-12, "{exposed}");
}

/// Nodes that come and go do not pile up: silent past `engine.scores.health.forget_after_seconds`
/// (3 s here), a node leaves `/api/v1/nodes` and `/metrics`; one that keeps reporting stays.
#[tokio::test]
async fn a_node_silent_past_forget_after_seconds_is_forgotten_everywhere() {
    let env = [("IRONSPIDER_ENGINE__SCORES__HEALTH__FORGET_AFTER_SECONDS", "3")];
    let server = Server::start(&["--window", "1", "--lateness", "0"], &env);
    let deadline = Instant::now() + Duration::from_secs(20);
    while nodes(&server).await.len() < 2 {
        assert!(Instant::now() < deadline, "nodes not scored");
        for node in ["spot-1", "steady"] {
            server.export_grpc(encode(&hostmetrics(node, now_ns(), 0.5, 6.0))).await.expect("accepted");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let silent_since = Instant::now();
    let health = "ironspider_node_health{node=\"spot-1\"}";
    loop {
        server.export_grpc(encode(&hostmetrics("steady", now_ns(), 0.5, 6.0))).await.expect("accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
        let listed: Vec<Value> = nodes(&server).await;
        if listed.iter().all(|n| n["node"] != "spot-1") {
            assert!(listed.iter().any(|n| n["node"] == "steady"), "the reporting node stays: {listed:?}");
            break;
        }
        assert!(silent_since.elapsed() < Duration::from_secs(20), "spot-1 never forgotten");
    }
    assert!(silent_since.elapsed() >= Duration::from_secs(2), "forgotten before its time");
    assert!(!server.metrics_text().await.contains(health), "spot-1 still on /metrics");
    let gone = reqwest::get(format!("http://{}/api/v1/nodes/spot-1", server.http)).await.expect("answered");
    assert_eq!(gone.status(), 404);
}

/// A restart serves the scores of before at once: the score book is rebuilt from the newest
/// windows of the history (here flushed by SIGTERM), with the same utilisation and pressure;
/// and the live `windows` table holds the history's aggregates again.
#[tokio::test]
async fn a_restarted_server_scores_from_the_history_before_any_new_point() {
    let data = tempfile::tempdir().unwrap();
    let flags = ["--window", "1", "--lateness", "0"];
    let mut server = Server::start_in(data.path(), &flags, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let before = loop {
        server.export_grpc(encode(&hostmetrics("node-r", now_ns(), 0.5, 6.0))).await.expect("accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(node) = nodes(&server).await.into_iter().find(|n| n["node"] == "node-r") {
            break node;
        }
        assert!(Instant::now() < deadline, "node-r never scored");
    };
    assert!(server.terminate(Duration::from_secs(10)).is_some_and(|s| s.success()));
    let server = Server::start_in(data.path(), &flags, &[]);
    let after = nodes(&server).await.into_iter().find(|n| n["node"] == "node-r").expect("node-r restored");
    for quantity in ["cpu", "memory", "pressure", "cost_per_hour"] {
        assert!(close(&after[quantity], before[quantity].as_f64().unwrap()), "{quantity}: {after} against {before}");
    }
    let count = |query: &'static str| {
        let server = &server;
        async move { server.sql(query).await.expect("answered")[0]["n"].as_i64().expect("a count") }
    };
    let written = count("SELECT count(*) AS n FROM history WHERE node = 'node-r'").await;
    let live =
        count("SELECT count(*) AS n FROM windows w JOIN series s ON w.series_id = s.series_id WHERE s.node = 'node-r'")
            .await;
    assert!(written > 0);
    assert_eq!(live, written, "every window of the live retention is back, each row once");
}
