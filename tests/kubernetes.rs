//! `ironspider serve --kubeconfig … --kube-bind` against the protocol fake of the Kubernetes API
//! server the scheduler crate's tests use (no real kube-apiserver runs here): the watch feeds
//! the extender behind the HTTP API, and `POST /scheduler/bind` posts the pod's Binding.

use crate::common::Server;
use ironspider_kube_fake::{FakeApi, eventually, node, pod};
use serde_json::{Value, json};

async fn post(server: &Server, verb: &str, body: &Value) -> Value {
    let url = format!("http://{}/scheduler/{verb}", server.http);
    let response = reqwest::Client::new().post(url).body(body.to_string()).send().await.expect("request sent");
    assert_eq!(response.status().as_u16(), 200);
    serde_json::from_str(&response.text().await.expect("body")).expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_kubeconfig_watches_the_cluster_and_binds_through_it() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 1, "A100"));
    let gpu_pod = |name: &str| pod(name, json!({"nvidia.com/gpu": "1"}), None, "Pending");
    let mut ours = gpu_pod("p");
    ours["spec"]["schedulerName"] = json!("ironspider");
    api.put_pod(ours);
    let kubeconfig = api.kubeconfig.to_str().unwrap().to_string();
    let server = tokio::task::spawn_blocking(move || Server::start(&["--kubeconfig", &kubeconfig, "--kube-bind"], &[]))
        .await
        .unwrap();

    // gpu-1 is known from the API alone (no telemetry, no inventory).
    let filter = json!({"Pod": gpu_pod("p"), "NodeNames": ["gpu-1"]});
    let mut answer = Value::Null;
    for _ in 0..100 {
        answer = post(&server, "filter", &filter).await;
        if answer["NodeNames"] == json!(["gpu-1"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answer["NodeNames"], json!(["gpu-1"]), "{answer}");

    let bind = json!({"PodName": "p", "PodNamespace": "default", "PodUID": "p", "Node": "gpu-1"});
    assert_eq!(post(&server, "bind", &bind).await, json!({"Error": ""}));
    assert_eq!(api.bindings()[0]["target"], json!({"kind": "Node", "name": "gpu-1"}));
    eventually("the fake binds p", || api.pod("default/p").is_some_and(|p| p["spec"]["nodeName"] == "gpu-1")).await;

    // The GPU is taken: a second GPU pod is refused there.
    let other = post(&server, "filter", &json!({"Pod": gpu_pod("q"), "NodeNames": ["gpu-1"]})).await;
    assert!(other["FailedNodes"]["gpu-1"].as_str().is_some_and(|r| r.starts_with("GPU:")), "{other}");
}

/// Until the watches' first lists are in the model, binds would be checked against a model
/// without the cluster's pods: `serve` stays unready meanwhile (here for ever: the API
/// server cannot be reached) while it is alive.
#[test]
fn serve_is_not_ready_before_the_clusters_first_lists() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    ironspider_kube_fake::unreachable_kubeconfig(&kubeconfig);
    let server = Server::launch(dir.path(), &["--kubeconfig", kubeconfig.to_str().unwrap()], &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.status_of("/healthz") != Some(200) {
        assert!(std::time::Instant::now() < deadline, "serve never answered");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for _ in 0..20 {
        assert_eq!(server.status_of("/readyz"), Some(503));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
