//! Prometheus remote write through the real server: node_exporter-shaped series become a
//! scored node (values checked against hand-worked ones), staleness markers are skipped,
//! and bad requests get the status Prometheus' retry logic expects.

use crate::common::{Server, close, nodes, now_ns, post_remote_write};
use ironspider_ingest::format::remote_write::proto::{Label, STALE_NAN_BITS, Sample, TimeSeries, WriteRequest};
use prost::Message;
use std::time::{Duration, Instant};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const INSTANCE: &str = "10.1.2.3:9100";

fn series(name: &str, extra: &[(&str, &str)], samples: Vec<Sample>) -> TimeSeries {
    let mut labels: Vec<Label> = [("__name__", name), ("instance", INSTANCE), ("job", "node")]
        .iter()
        .chain(extra)
        .map(|(n, v)| Label { name: (*n).into(), value: (*v).into() })
        .collect();
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries { labels, samples, histograms: Vec::new() }
}

fn sample(value: f64, ts_ns: u64) -> Sample {
    Sample { value, timestamp: (ts_ns / 1_000_000) as i64 }
}

fn snappy(request: &WriteRequest) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy")
}

/// A scrape of node_exporter after `step` scrapes: two CPUs, each 0.6 s idle and 0.4 s user
/// per scrape, 2 GiB of 8 GiB available.
fn scrape(step: u32, ts: u64) -> WriteRequest {
    let cpu = |cpu, mode, per_step: f64| {
        series("node_cpu_seconds_total", &[("cpu", cpu), ("mode", mode)], vec![sample(per_step * f64::from(step), ts)])
    };
    WriteRequest {
        timeseries: vec![
            cpu("0", "idle", 0.6),
            cpu("0", "user", 0.4),
            cpu("1", "idle", 0.6),
            cpu("1", "user", 0.4),
            series("node_memory_MemTotal_bytes", &[], vec![sample(8.0 * GIB, ts)]),
            series("node_memory_MemAvailable_bytes", &[], vec![sample(2.0 * GIB, ts)]),
        ],
    }
}

#[tokio::test]
async fn node_exporter_series_become_a_scored_node() {
    let server = Server::start(&["--window", "1", "--lateness", "0"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut step = 0;
    let node = loop {
        assert!(Instant::now() < deadline, "node never scored");
        let (status, text) = post_remote_write(&server, "snappy", snappy(&scrape(step, now_ns()))).await;
        assert_eq!(status, 204, "{text}");
        step += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let found = nodes(&server).await.into_iter().find(|n| n["node"] == "10.1.2.3");
        if let Some(node) = found.filter(|n| n["cpu"].is_number()) {
            break node;
        }
    };
    // CPU: 1 − idle / all = 1 − 1.2 / 2.0 = 0.4; memory: 1 − 2 / 8 = 0.75
    assert!(close(&node["cpu"], 0.4) && close(&node["memory"], 0.75), "{node}");
    // 2 vCPUs (distinct `cpu` labels) · 0.031611 + 8 GiB · 0.004237 = 0.097118;
    // idle 0.063222 · 0.6 + 0.033896 · 0.25 = 0.0464072
    assert!(close(&node["cost_per_hour"], 0.097118) && close(&node["idle_cost_per_hour"], 0.0464072), "{node}");
    assert_eq!(
        server.metric("ironspider_requests_total{outcome=\"success\",transport=\"remote_write\"}").await,
        step as f64
    );
}

#[tokio::test]
async fn staleness_markers_are_skipped_and_bad_samples_refused_without_losing_the_rest() {
    let server = Server::start(&[], &[]);
    let ts = now_ns();
    let stale = series(
        "node_load1",
        &[],
        vec![
            sample(0.5, ts),
            Sample { value: f64::from_bits(STALE_NAN_BITS), timestamp: (ts / 1_000_000) as i64 + 1000 },
        ],
    );
    let (status, text) = post_remote_write(&server, "snappy", snappy(&WriteRequest { timeseries: vec![stale] })).await;
    assert_eq!((status, text.as_str()), (204, ""));
    assert_eq!(server.metric("ironspider_points_skipped_total").await, 1.0);

    let mixed =
        vec![series("node_load5", &[], vec![sample(f64::NAN, ts)]), series("node_load15", &[], vec![sample(0.25, ts)])];
    let (status, text) = post_remote_write(&server, "snappy", snappy(&WriteRequest { timeseries: mixed })).await;
    assert_eq!(status, 400, "a refused sample is a 400 that Prometheus will not retry");
    assert!(text.contains("non_finite_value"), "{text}");
    let stored =
        server.sql("SELECT s.metric, s.node FROM samples JOIN series s USING (series_id) ORDER BY s.metric").await;
    let metrics: Vec<String> = stored
        .expect("SQL")
        .iter()
        .map(|row| format!("{}@{}", row["metric"].as_str().unwrap(), row["node"].as_str().unwrap()))
        .collect();
    assert_eq!(
        metrics,
        ["node_load1@10.1.2.3", "node_load15@10.1.2.3"],
        "the valid sample of the refused request is kept"
    );
}

#[tokio::test]
async fn undecodable_and_unsupported_bodies_are_refused_with_the_right_status() {
    let server = Server::start(&[], &[]);
    let request = WriteRequest { timeseries: vec![series("up", &[], vec![sample(1.0, now_ns())])] };
    let (status, text) = post_remote_write(&server, "snappy", b"not snappy at all".to_vec()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("snappy"), "{text}");
    let (status, _) =
        post_remote_write(&server, "snappy", snap::raw::Encoder::new().compress_vec(b"\xff\xff\xff").unwrap()).await;
    assert_eq!(status, 400, "snappy framing fine, protobuf broken");
    let (status, text) = post_remote_write(&server, "gzip", request.encode_to_vec()).await;
    assert_eq!(status, 415, "{text}");
    let (status, _) = post_remote_write(&server, "snappy", snappy(&request)).await;
    assert_eq!(status, 204, "the server still takes good requests");
}
