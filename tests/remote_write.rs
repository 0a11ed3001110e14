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

/// The issue's bomb: one 0.5 MB snappy body, one series of 102 labels and 100,000 samples,
/// took resident memory from 50 MB to 925 MB when every sample got its own copy of the
/// labels. Its converted form (1.1 GB) is now past what a request may convert to, so it is
/// refused (413) before any copying; a fifth of it (230 MB converted) is taken, in chunks of
/// 16 MiB, and the peak stays near the idle server's either way.
#[tokio::test]
async fn a_label_bomb_does_not_blow_up_memory_and_a_series_past_the_label_limit_is_refused_whole() {
    let server = Server::start(&[], &[]);
    let idle = server.peak_resident_bytes();
    let start = now_ns() / 1_000_000 - 20_000;
    let bomb = |labels: usize, samples: i64| {
        let extra: Vec<(String, String)> =
            (0..labels).map(|i| (format!("label_{i:03}"), format!("value-{i:03}"))).collect();
        let extra: Vec<(&str, &str)> = extra.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        // Samples a tenth of a millisecond apart in milliseconds.
        let samples = (0..samples).map(|i| Sample { value: i as f64, timestamp: start as i64 + i / 10 }).collect();
        WriteRequest { timeseries: vec![series("bomb_gauge", &extra, samples)] }
    };
    let body = snappy(&bomb(99, 100_000));
    assert!(body.len() < 2 << 20, "a body of {} bytes", body.len());
    let (status, text) = post_remote_write(&server, "snappy", body).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("over the limit of 268435456 bytes"), "{text}");

    let (status, text) = post_remote_write(&server, "snappy", snappy(&bomb(99, 20_000))).await;
    let peak = server.peak_resident_bytes();
    eprintln!("idle peak {} MB, after the bombs {} MB ({status})", idle >> 20, peak >> 20);
    // Ten samples share each millisecond: the first of each is stored, nine are duplicates.
    assert_eq!(
        (status, text.trim()),
        (400, "rejected data points: 18000 duplicate_timestamp (same series and time as the previous point)")
    );
    assert_eq!(server.metric("ironspider_points_accepted_total").await, 2_000.0, "every chunk applied");
    assert!(peak < idle + (200 << 20), "peak resident {} MB against {} MB idle", peak >> 20, idle >> 20);

    // 200 point attributes, past the limit of 128: refused whole before any per-sample work.
    let (status, text) = post_remote_write(&server, "snappy", snappy(&bomb(200, 100_000))).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("too_many_attributes"), "{text}");
    let refused = server.metric(r#"ironspider_points_rejected_total{reason="too_many_attributes"}"#).await;
    assert_eq!(refused, 100_000.0);
}

/// Long labels: a 1 MB label value on 100,000 samples (a 0.1 MB snappy body) would be 100 GB
/// of copies. Past `ingest.max_attribute_bytes` (4096) the series is refused whole before
/// any per-sample work; with the limit raised, the request's converted size (257 MB here)
/// is past what a request may convert to and it gets 413. Memory stays near idle either way.
#[tokio::test]
async fn a_long_label_is_refused_before_it_is_copied_onto_every_sample() {
    let start = now_ns() / 1_000_000 - 20_000;
    let bomb = |value_bytes: usize, samples: i64| {
        let value = "x".repeat(value_bytes);
        let samples = (0..samples).map(|i| Sample { value: 1.0, timestamp: start as i64 + i / 10 }).collect();
        WriteRequest { timeseries: vec![series("long_label_gauge", &[("path", value.as_str())], samples)] }
    };
    let server = Server::start(&[], &[]);
    let idle = server.peak_resident_bytes();
    let body = snappy(&bomb(1 << 20, 100_000));
    assert!(body.len() < 1 << 20, "a body of {} bytes", body.len());
    let (status, text) = post_remote_write(&server, "snappy", body).await;
    assert_eq!(
        (status, text.trim()),
        (400, "rejected data points: 100000 attribute_too_long (an attribute key or value over the length limit)")
    );
    let refused = server.metric(r#"ironspider_points_rejected_total{reason="attribute_too_long"}"#).await;
    assert_eq!(refused, 100_000.0);
    assert!(server.peak_resident_bytes() < idle + (100 << 20), "the label was copied");
    drop(server);

    let server = Server::start(&[], &[("IRONSPIDER_INGEST__MAX_ATTRIBUTE_BYTES", "2000000")]);
    let idle = server.peak_resident_bytes();
    // 256 samples of one 1 MB label: 256 · (96 + 96 + 4 + 2^20) bytes, just past 256 MiB.
    let (status, text) = post_remote_write(&server, "snappy", snappy(&bomb(1 << 20, 256))).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("would convert to 268485632 bytes"), "{text}");
    assert!(server.peak_resident_bytes() < idle + (100 << 20), "the label was copied");
    // Fewer samples convert within the bound and are taken, in chunks of 16 MiB.
    let (status, text) = post_remote_write(&server, "snappy", snappy(&bomb(1 << 20, 40))).await;
    assert_eq!(status, 400, "{text}"); // ten samples share each millisecond: 36 duplicates
    assert_eq!(server.metric("ironspider_points_accepted_total").await, 4.0);
}
