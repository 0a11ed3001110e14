//! The gRPC scores API (`ironspider.v1.Scores`) on the OTLP/gRPC port of the real server:
//! `Get` agrees with `GET /api/v1/nodes` and the hand-worked values of tests/scores.rs,
//! unknown nodes are NOT_FOUND, `Watch` streams each new window while data flows, and an open
//! watch does not hold up a clean shutdown.

use crate::common::{Server, attr, encode, gauge_point, gauge_request, nodes, now_ns};
use ironspider_proto::v1::scores_client::ScoresClient;
use ironspider_proto::v1::{ClusterScores, GetScoresRequest, NodeScore, WatchScoresRequest};
use serde_json::Value;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Hostmetrics-shaped telemetry for `node` now, as two requests: two CPUs idle 60 % and 40 %
/// of the time (CPU 0.5), 6 GiB of 8 GiB memory used (memory 0.75).
async fn report(server: &Server, node: &str) {
    let ts = now_ns();
    let cpu = |cpu: &str, state: &str, value| gauge_point(ts, value, vec![attr("cpu", cpu), attr("state", state)]);
    let cpus = vec![cpu("0", "idle", 0.6), cpu("0", "user", 0.4), cpu("1", "idle", 0.4), cpu("1", "user", 0.6)];
    let memory = |state: &str, value| gauge_point(ts, value, vec![attr("state", state)]);
    let memory = vec![memory("used", 6.0 * GIB), memory("free", 2.0 * GIB)];
    for request in
        [gauge_request(node, "system.cpu.utilization", cpus), gauge_request(node, "system.memory.usage", memory)]
    {
        server.export_grpc(encode(&request)).await.expect("accepted");
    }
}

async fn client(server: &Server) -> ScoresClient<Channel> {
    ScoresClient::connect(format!("http://{}", server.grpc)).await.expect("gRPC connection")
}

async fn get(client: &mut ScoresClient<Channel>, nodes: &[&str]) -> Result<ClusterScores, tonic::Status> {
    let request = GetScoresRequest { nodes: nodes.iter().map(|n| n.to_string()).collect() };
    client.get(request).await.map(tonic::Response::into_inner)
}

fn close(value: f64, expected: f64) -> bool {
    (value - expected).abs() < 1e-9
}

/// Whether a gRPC value and a JSON one (`null` for `None`) agree; serde_json's default float
/// parser may be one ulp off, hence the tolerance.
fn same(grpc: Option<f64>, json: &Value) -> bool {
    match (grpc, json.as_f64()) {
        (Some(grpc), Some(json)) => (grpc - json).abs() <= 1e-12 * grpc.abs().max(1.0),
        (None, None) => json.is_null(),
        _ => false,
    }
}

/// Asserts that the gRPC scores of a node are the ones `/api/v1/nodes` lists.
fn assert_same(grpc: &NodeScore, json: &Value) {
    assert_eq!(json["node"], grpc.node.as_str());
    let values = [
        ("cpu", grpc.cpu),
        ("memory", grpc.memory),
        ("gpu", grpc.gpu),
        ("gpu_memory", grpc.gpu_memory),
        ("pressure", grpc.pressure),
        ("health", Some(grpc.health)),
        ("cost_per_hour", Some(grpc.cost_per_hour)),
        ("idle_cost_per_hour", Some(grpc.idle_cost_per_hour)),
    ];
    for (field, value) in values {
        assert!(same(value, &json[field]), "{field}: {value:?} over gRPC, {json}");
    }
    let updated_at = chrono::DateTime::parse_from_rfc3339(json["updated_at"].as_str().expect("updated_at"))
        .expect("RFC 3339")
        .timestamp_nanos_opt();
    assert_eq!(Some(grpc.updated_at_unix_nano), updated_at, "{json}");
    let json_factors = json["factors"].as_array().expect("factors");
    assert_eq!(grpc.factors.len(), json_factors.len(), "{json}");
    for (factor, json) in grpc.factors.iter().zip(json_factors) {
        assert_eq!((json["factor"].as_str(), json["detail"].as_str()), (Some(&*factor.factor), Some(&*factor.detail)));
        assert!(same(Some(factor.penalty), &json["penalty"]), "{factor:?} {json}");
    }
}

/// A gRPC snapshot of both nodes and the HTTP listing taken while that snapshot was current
/// (a `Get` before and after the listing saw the same window).
async fn consistent_scores(server: &Server, client: &mut ScoresClient<Channel>) -> (ClusterScores, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "nodes not scored over gRPC within 20 s");
        for node in ["node-a", "node-b"] {
            report(server, node).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        let before = get(client, &[]).await.expect("Get");
        let listed = nodes(server).await;
        let after = get(client, &[]).await.expect("Get");
        if before.nodes.len() == 2 && before.window_end_unix_nano == after.window_end_unix_nano {
            return (after, listed);
        }
    }
}

#[tokio::test]
async fn get_agrees_with_the_http_api_and_refuses_unknown_nodes() {
    let server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let mut client = client(&server).await;
    assert_eq!(get(&mut client, &[]).await.expect("Get before any data").nodes, Vec::new());

    let (scores, listed) = consistent_scores(&server, &mut client).await;
    assert!(scores.window_end_unix_nano > 0);
    assert_eq!(scores.nodes.len(), listed.len(), "{listed:?}");
    for (grpc, json) in scores.nodes.iter().zip(&listed) {
        assert_same(grpc, json);
    }
    let a = &scores.nodes[0];
    assert_eq!(a.node, "node-a");
    assert!(close(a.cpu.expect("cpu"), 0.5) && close(a.memory.expect("memory"), 0.75), "{a:?}");
    assert_eq!((a.gpu, a.gpu_memory), (None, None), "no GPU: unknown, not 0");
    assert!(close(a.cost_per_hour, 0.097118) && close(a.idle_cost_per_hour, 0.040085), "{a:?}");
    let cost = a.cost.expect("cost by resource");
    assert!(close(cost.cpu, 0.063222) && close(cost.memory, 0.033896) && cost.gpu == 0.0, "{cost:?}");
    let idle = a.idle_cost.expect("idle cost by resource");
    assert!(close(idle.cpu + idle.memory + idle.gpu, a.idle_cost_per_hour), "{idle:?}");
    assert_eq!((a.health, a.factors.len()), (100.0, 0));

    let only_b = get(&mut client, &["node-b"]).await.expect("Get node-b");
    assert_eq!(only_b.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["node-b"]);
    assert!(only_b.cluster_health.is_some(), "the cluster's health, whatever the selection");

    let missing = get(&mut client, &["node-a", "nope", "gone"]).await.expect_err("unknown nodes refused");
    assert_eq!(missing.code(), tonic::Code::NotFound, "{missing:?}");
    assert!(missing.message().contains("nope") && missing.message().contains("gone"), "{missing:?}");
    assert!(!missing.message().contains("node-a"), "known nodes are not named: {missing:?}");
}

#[tokio::test]
async fn watch_streams_each_new_window_and_ends_with_the_server() {
    let mut server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let mut client = client(&server).await;
    let mut stream =
        client.watch(WatchScoresRequest { nodes: vec!["node-a".into()] }).await.expect("Watch").into_inner();

    let mut windows = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while windows.len() < 3 {
        assert!(Instant::now() < deadline, "fewer than 3 windows streamed within 20 s: {windows:?}");
        report(&server, "node-a").await;
        report(&server, "node-b").await;
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(250), stream.message()).await {
            let scores = message.expect("stream healthy").expect("stream open");
            let names: Vec<&str> = scores.nodes.iter().map(|n| n.node.as_str()).collect();
            assert_eq!(names, ["node-a"], "only the watched node");
            windows.push(scores.window_end_unix_nano);
        }
    }
    assert!(windows.windows(2).all(|pair| pair[0] < pair[1]), "window ends increase: {windows:?}");
    // Windows last one second: consecutive snapshots are whole seconds apart.
    assert!(windows.windows(2).all(|pair| (pair[1] - pair[0]) % 1_000_000_000 == 0), "{windows:?}");

    // Off the runtime: the client's connection must keep running to answer the server's
    // graceful HTTP/2 shutdown (GOAWAY and PING).
    let status = tokio::task::spawn_blocking(move || server.terminate(Duration::from_secs(10)))
        .await
        .expect("terminate")
        .expect("server exits with a watch open");
    assert!(status.success(), "{status:?}");
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the watch ends when the server goes away");
}

/// `ingest.max_grpc_streams` caps the calls open at once on one connection: with two watch
/// streams open and a cap of two, a third call on the same connection waits until one ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_the_stream_limit_wait_for_a_free_stream() {
    let server = Server::start(&[], &[("IRONSPIDER_INGEST__MAX_GRPC_STREAMS", "2")]);
    let shared = client(&server).await;
    let watch = |mut client: ScoresClient<Channel>| async move {
        client.watch(WatchScoresRequest { nodes: vec![] }).await.expect("Watch").into_inner()
    };
    let first = watch(shared.clone()).await;
    let _second = watch(shared.clone()).await;
    let third = tokio::spawn({
        let mut client = shared.clone();
        async move { get(&mut client, &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "a third stream on the connection was opened past the limit");
    drop(first);
    let answered = tokio::time::timeout(Duration::from_secs(10), third).await.expect("answered once a stream ended");
    assert!(answered.unwrap().is_ok(), "Get of every node answers");
}
