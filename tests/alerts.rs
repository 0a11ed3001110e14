//! Live anomaly scores and alerts through the real server, on a 1-second grid: a node's CPU
//! pushed over OTLP with a level shift is scored anomalous (`/api/v1/nodes`, `/metrics`),
//! and an anomaly rule's alert goes pending, then firing, then away (resolved) in
//! `GET /api/v1/alerts` and `ironspider_alerts`; rules the server cannot run are refused at
//! start, naming the rule.

use crate::common::{Server, encode, hostmetrics, now_ns};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// 1 s windows and steps; the Gaussian detector (it scores from the third value; the
/// default waits a day of steps); one anomaly rule on CPU at 0.99, held for 1 s.
const CONFIG: &str = "[engine]\nwindow_seconds = 1\nlateness_seconds = 0\n\n\
    [engine.forecast]\nmodel = \"naive\"\nstep_seconds = 1\nhorizons_seconds = [1, 2]\nseason_seconds = 4\n\
    band_window = 16\nband_min_errors = 8\n\n\
    [engine.anomaly]\ndetector = \"gaussian\"\n\n\
    [alerts]\ndefault_rules = false\n\n\
    [[alerts.rules]]\nname = \"CpuUnlikeItself\"\nkind = \"anomaly\"\nresource = \"cpu\"\nthreshold = 0.99\n\
    for_seconds = 1\nseverity = \"page\"\nannotations = { runbook = \"look at {node}\" }\n";

fn start(dir: &Path) -> Server {
    let config = dir.join("ironspider.toml");
    std::fs::write(&config, CONFIG).expect("config written");
    Server::start_in(dir, &["--config", config.to_str().expect("UTF-8 path")], &[])
}

async fn get_json(server: &Server, path: &str) -> Value {
    let response = reqwest::get(format!("http://{}{path}", server.http)).await.expect("GET");
    assert_eq!(response.status().as_u16(), 200, "{path}");
    serde_json::from_str(&response.text().await.expect("body")).expect("JSON")
}

/// The state of `CpuUnlikeItself` on `node` in `/api/v1/alerts`, `None` when not listed.
async fn alert_state(server: &Server, node: &str) -> Option<String> {
    let body = get_json(server, "/api/v1/alerts").await;
    assert_eq!(body["status"], "success");
    let alerts = body["data"]["alerts"].as_array().expect("alerts").clone();
    let mine =
        alerts.into_iter().find(|a| a["labels"]["node"] == node && a["labels"]["alertname"] == "CpuUnlikeItself")?;
    assert_eq!(mine["labels"]["severity"], "page");
    assert_eq!(mine["annotations"]["runbook"], format!("look at {node}"));
    Some(mine["state"].as_str().expect("state").to_string())
}

/// CPU of second `k` before the shift: 0.19, 0.20, 0.21, 0.20 over and over.
fn steady(k: u64) -> f64 {
    [0.19, 0.20, 0.21, 0.20][(k % 4) as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_shift_is_scored_anomalous_and_its_alert_goes_pending_firing_and_resolves() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path());
    let node = "shifty";
    // Twenty seconds of steady CPU, then 0.8 from then on.
    let started = Instant::now();
    let mut seen = Vec::<String>::new();
    let mut highest: f64 = 0.0;
    let mut shifted_at = None;
    let deadline = started + Duration::from_secs(60);
    loop {
        let ts = now_ns();
        let second = ts / 1_000_000_000;
        let shifted = started.elapsed() >= Duration::from_secs(20);
        if shifted && shifted_at.is_none() {
            shifted_at = Some(Instant::now());
        }
        let cpu = if shifted { 0.8 } else { steady(second) };
        server.export_grpc(encode(&hostmetrics(node, ts, cpu, 4.0))).await.expect("accepted");
        let nodes = get_json(&server, "/api/v1/nodes").await;
        if let Some(score) = nodes.as_array().and_then(|n| n.iter().find(|s| s["node"] == node)) {
            highest = highest.max(score["anomaly"].as_f64().unwrap_or(0.0));
        }
        if let Some(state) = alert_state(&server, node).await {
            if seen.last() != Some(&state) {
                seen.push(state);
            }
        } else if seen.last().is_some_and(|s| s == "firing") {
            seen.push("resolved".into());
            break;
        }
        assert!(Instant::now() < deadline, "no pending → firing → resolved within a minute: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shifted_at.is_some());
    assert_eq!(seen, ["pending", "firing", "resolved"], "no alert before the shift, then each state once");
    assert!(highest >= 0.99, "the shift's anomaly score reached the threshold: {highest}");
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains(&format!("ironspider_node_anomaly_score{{node=\"{node}\",resource=\"cpu\"}}")),
        "{metrics}"
    );
    assert!(!metrics.contains("ironspider_alerts{"), "no alert is active any more");
}

#[test]
fn rules_the_server_cannot_run_are_refused_at_start_naming_the_rule() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cases = [
        ("resource = \"disk\"\nthreshold = 0.9\nwithin_seconds = 600", "unknown resource \"disk\""),
        ("resource = \"memory\"\nthreshold = 95.0\nwithin_seconds = 600", "threshold 95 is not in (0, 1]"),
        ("resource = \"memory\"\nthreshold = 0.95", "within_seconds is required"),
    ];
    for (body, expected) in cases {
        let config = dir.path().join("bad.toml");
        let text = format!("[[alerts.rules]]\nname = \"Bad\"\nkind = \"predictive\"\n{body}\n");
        std::fs::write(&config, text).expect("config written");
        let output = Command::new(env!("CARGO_BIN_EXE_ironspider"))
            .args(["serve", "--config", config.to_str().expect("UTF-8"), "--data-dir"])
            .arg(dir.path())
            .output()
            .expect("run serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(&format!("alerts.rules[0] (\"Bad\"): {expected}")), "{stderr}");
    }
    let config = dir.path().join("kind.toml");
    std::fs::write(&config, "[[alerts.rules]]\nname = \"Bad\"\nkind = \"psychic\"\n").expect("config written");
    let output = Command::new(env!("CARGO_BIN_EXE_ironspider"))
        .args(["serve", "--config", config.to_str().expect("UTF-8")])
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("psychic"), "{stderr}");
}

/// 1 s windows; one rule: CPU unlike the peers' (modified z-score 3.5 or more), at once.
const PEERS: &str = "[engine]\nwindow_seconds = 1\nlateness_seconds = 0\n\n[alerts]\ndefault_rules = false\n\n\
    [[alerts.rules]]\nname = \"UnlikeItsPeers\"\nkind = \"peer_outlier\"\nresource = \"cpu\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_unlike_its_peers_gets_a_high_peer_deviation_and_a_peer_outlier_alert() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("ironspider.toml");
    std::fs::write(&config, PEERS).expect("config written");
    let server = Server::start_in(dir.path(), &["--config", config.to_str().expect("UTF-8 path")], &[]);
    // Six nodes of one shape: five near 0.2 (median 0.2, MAD 0.01), one at 0.9: its
    // modified z-score is 0.6745 · 0.7 / 0.01 = 47.2; the others' at most 0.6745 · 2 = 1.35.
    let cpus = [("p1", 0.19), ("p2", 0.2), ("p3", 0.21), ("p4", 0.2), ("p5", 0.22), ("odd", 0.9)];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ts = now_ns();
        for (node, cpu) in cpus {
            server.export_grpc(encode(&hostmetrics(node, ts, cpu, 4.0))).await.expect("accepted");
        }
        let body = get_json(&server, "/api/v1/alerts").await;
        let firing: Vec<String> = body["data"]["alerts"]
            .as_array()
            .expect("alerts")
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["labels"]["node"].as_str().expect("node").to_string())
            .collect();
        if !firing.is_empty() {
            assert_eq!(firing, ["odd"]);
            break;
        }
        assert!(Instant::now() < deadline, "no peer-outlier alert within 30 s: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let nodes = get_json(&server, "/api/v1/nodes").await;
    let deviation = |name: &str| {
        let node = nodes.as_array().expect("nodes").iter().find(|n| n["node"] == name).expect("listed");
        node["peer_deviation"].as_f64().expect("a peer deviation")
    };
    assert!((deviation("odd") - 0.6745 * 0.7 / 0.01).abs() < 0.5, "{nodes}");
    assert!(deviation("p2") < 1.5, "{nodes}");
    let metrics = server.metrics_text().await;
    assert!(metrics.contains("ironspider_node_peer_deviation{node=\"odd\",resource=\"cpu\"}"), "{metrics}");
}
