//! Hostile load, each kind for a full minute (issue 15): a remote-write bomb, more slow
//! uploads than there are reading slots, and `loadgen --churn` (a new series per point) far
//! past what the server sustains. Throughout, the server's peak resident memory stays under
//! the budget of docs/operations.md ("Memory budget") for the limits set here; a
//! well-behaved exporter is served or told to retry (gRPC `RESOURCE_EXHAUSTED` or
//! `UNAVAILABLE`), never refused otherwise; `/readyz` and the extender's `filter` answer
//! within kube-scheduler's 2 s `httpTimeout`; and within two windows of the load stopping a
//! new series is accepted whole.
//!
//! They run one at a time, after the other integration tests (scripts/test), since each
//! keeps both cores busy for a minute: `cargo test --test integration -- hostile:: --test-threads 1`.

use crate::common::{Server, encode, gauge_point, gauge_request, now_ns};
use ironspider_ingest::format::remote_write::proto::{Label, Sample, TimeSeries, WriteRequest};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// How long each kind of load lasts.
const LOAD: Duration = Duration::from_secs(60);
/// The test server's window, in seconds.
const WINDOW_SECONDS: u64 = 15;
/// The test server's series TTL, in seconds: within two windows of a churn's end, its
/// series have expired and made room.
const SERIES_TTL_SECONDS: u64 = 12;
/// The test server's `engine.max_series`.
const MAX_SERIES: u64 = 20_000;

const MIB: u64 = 1 << 20;
/// The limits the test server runs with, and its memory budget from them.
const MAX_LIVE_BYTES: u64 = 128 * MIB;
const MAX_REQUEST_BYTES: u64 = 8 * MIB;
const MAX_INFLIGHT: u64 = 8;
const MAX_READING: u64 = 32;

/// docs/operations.md, "Memory budget": the process itself, the live budget, the bodies
/// being read, and each request in flight with its decoded form and one converted chunk.
fn memory_budget() -> u64 {
    192 * MIB + MAX_LIVE_BYTES + MAX_READING * MAX_REQUEST_BYTES + MAX_INFLIGHT * (2 * MAX_REQUEST_BYTES + 16 * MIB)
}

fn start_server() -> Server {
    let window = WINDOW_SECONDS.to_string();
    let env = [
        ("IRONSPIDER_ENGINE__MAX_LIVE_BYTES", MAX_LIVE_BYTES.to_string()),
        ("IRONSPIDER_ENGINE__RETENTION_SECONDS", "30".to_string()),
        ("IRONSPIDER_ENGINE__SERIES_TTL_SECONDS", SERIES_TTL_SECONDS.to_string()),
        ("IRONSPIDER_ENGINE__MAX_SERIES", MAX_SERIES.to_string()),
        ("IRONSPIDER_INGEST__MAX_REQUEST_BYTES", MAX_REQUEST_BYTES.to_string()),
        ("IRONSPIDER_INGEST__MAX_INFLIGHT_REQUESTS", MAX_INFLIGHT.to_string()),
        ("IRONSPIDER_INGEST__MAX_READING_REQUESTS", MAX_READING.to_string()),
        ("IRONSPIDER_INGEST__BODY_TIMEOUT_SECONDS", "5".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&["--window", &window, "--lateness", "5"], &env)
}

/// What the well-behaved exporter and the probes saw.
#[derive(Debug, Default)]
struct Seen {
    served: u64,
    retry: u64,
    failures: Vec<String>,
    probe_seconds: Vec<f64>,
}

/// A well-behaved exporter: one point of its own series every 250 ms over OTLP/gRPC,
/// until `stop`.
fn steady_exporter(server: &Server, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    let grpc = server.grpc;
    tokio::spawn(async move {
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            let request = gauge_request("steady-node", "steady.metric", vec![gauge_point(now_ns(), 1.0, vec![])]);
            match export(grpc, encode(&request)).await {
                Ok((0, _)) => seen.served += 1,
                Ok((rejected, why)) => seen.failures.push(format!("{rejected} points refused: {why}")),
                Err(tonic::Code::ResourceExhausted | tonic::Code::Unavailable) => seen.retry += 1,
                Err(code) => seen.failures.push(format!("export failed: {code:?}")),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        seen
    })
}

/// The number of points an OTLP/gRPC export refused and why, or the call's status code.
async fn export(grpc: std::net::SocketAddr, body: Vec<u8>) -> Result<(i64, String), tonic::Code> {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
    use prost::Message;
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc}"))
        .expect("endpoint")
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|_| tonic::Code::Unavailable)?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|_| tonic::Code::Unavailable)?;
    let path = http::uri::PathAndQuery::from_static(ironspider_ingest::source::grpc::EXPORT_PATH);
    let response = client
        .unary(tonic::Request::new(bytes::Bytes::from(body)), path, ironspider_ingest::source::grpc::RawBytesCodec)
        .await
        .map_err(|status| status.code())?;
    let decoded = ExportMetricsServiceResponse::decode(response.into_inner()).expect("an export response");
    Ok(decoded.partial_success.map_or((0, String::new()), |p| (p.rejected_data_points, p.error_message)))
}

/// `/readyz` and the extender's `filter`, every 100 ms until `stop`, each within 2 s.
fn probes(server: &Server, stop: Arc<AtomicBool>) -> JoinHandle<Seen> {
    let http = server.http;
    tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let filter =
            json!({"Pod": {"metadata": {"name": "p", "namespace": "default", "uid": "p"}}, "NodeNames": ["n1"]});
        let mut seen = Seen::default();
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            match client.get(format!("http://{http}/readyz")).send().await {
                Ok(response) if response.status() == 200 => seen.probe_seconds.push(started.elapsed().as_secs_f64()),
                other => seen.failures.push(format!("/readyz: {other:?}")),
            }
            let started = Instant::now();
            let filtered = client
                .post(format!("http://{http}/scheduler/filter"))
                .header("content-type", "application/json")
                .body(filter.to_string())
                .send()
                .await;
            match filtered {
                Ok(response) if response.status() == 200 => seen.probe_seconds.push(started.elapsed().as_secs_f64()),
                other => seen.failures.push(format!("filter: {other:?}")),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    })
}

/// Samples the server's peak resident memory while the load runs, failing on the budget.
struct Watch {
    stop: Arc<AtomicBool>,
    exporter: JoinHandle<Seen>,
    probes: JoinHandle<Seen>,
}

impl Watch {
    fn start(server: &Server) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        Watch { exporter: steady_exporter(server, stop.clone()), probes: probes(server, stop.clone()), stop }
    }

    /// Stops the watchers and checks what they saw; returns a line for the log.
    async fn finish(self, server: &Server, what: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let (exporter, probes) = (self.exporter.await.unwrap(), self.probes.await.unwrap());
        let peak = server.peak_resident_bytes();
        let mut seconds = probes.probe_seconds.clone();
        seconds.sort_by(f64::total_cmp);
        let p99 = seconds.get(seconds.len() * 99 / 100).copied().unwrap_or(0.0);
        eprintln!(
            "{what}: peak RSS {} MiB (budget {} MiB); steady exporter served {} times, told to retry {}; \
             /readyz and filter answered {} times, p99 {:.3} s, slowest {:.3} s",
            peak / MIB,
            memory_budget() / MIB,
            exporter.served,
            exporter.retry,
            seconds.len(),
            p99,
            seconds.last().copied().unwrap_or(0.0)
        );
        assert!(exporter.failures.is_empty(), "{what}: the steady exporter was refused: {:?}", exporter.failures);
        assert!(
            probes.failures.is_empty(),
            "{what}: probes failed: {:?}",
            &probes.failures[..probes.failures.len().min(5)]
        );
        assert!(exporter.served > 0, "{what}: the steady exporter was never served");
        assert!(peak < memory_budget(), "{what}: peak RSS {} MiB over the budget", peak / MIB);
    }
}

/// After the load: a series never seen before is accepted whole within two windows.
async fn recovers_within_two_windows(server: &Server, what: &str) {
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(2 * WINDOW_SECONDS);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request =
            gauge_request(&format!("after-{attempt}"), "after.metric", vec![gauge_point(now_ns(), 1.0, vec![])]);
        if export(server.grpc, encode(&request)).await.is_ok_and(|(rejected, _)| rejected == 0) {
            eprintln!("{what}: a new series accepted {:.1} s after the load stopped", stopped.elapsed().as_secs_f64());
            return;
        }
        assert!(Instant::now() < deadline, "{what}: no new series accepted within two windows of the load ending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The bomb, built ahead: one series of 99 labels and `samples` samples a
/// millisecond apart, ending now. Sent again and again, its samples are late or duplicates
/// after the first time; what it costs is its decoding and the conversion's copies of the
/// labels, which is what the bomb is about.
fn bomb(generation: u64, samples: i64) -> bytes::Bytes {
    use prost::Message;
    let mut labels = vec![Label { name: "__name__".into(), value: "bomb_gauge".into() }];
    labels.extend((0..98).map(|i| Label { name: format!("label_{i:03}"), value: format!("value-{generation}-{i}") }));
    let end_ms = (now_ns() / 1_000_000) as i64;
    let samples = (0..samples).map(|i| Sample { value: i as f64, timestamp: end_ms - samples + i }).collect();
    let request = WriteRequest { timeseries: vec![TimeSeries { labels, samples, ..Default::default() }] };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("snappy").into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_write_bomb_for_a_minute() {
    let server = start_server();
    // The body (100,000 samples: refused whole, 413, its conversion too large) and a
    // fifth of it (20,000: converted and stored in chunks), eight of each.
    let bodies: Arc<Vec<bytes::Bytes>> =
        Arc::new((0..16).map(|g| bomb(g, if g % 2 == 0 { 100_000 } else { 20_000 })).collect());
    let watch = Watch::start(&server);
    let started = Instant::now();
    let bombers: Vec<_> = (0..16usize)
        .map(|worker| {
            let (http, bodies) = (server.http, Arc::clone(&bodies));
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
                while started.elapsed() < LOAD {
                    let response = client
                        .post(format!("http://{http}/api/v1/write"))
                        .header("content-encoding", "snappy")
                        .header("content-type", "application/x-protobuf")
                        .header("x-prometheus-remote-write-version", "0.1.0")
                        .body(bodies[worker].clone())
                        .send()
                        .await;
                    *statuses.entry(response.map_or(0, |r| r.status().as_u16())).or_default() += 1;
                }
                statuses
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    for bomber in bombers {
        for (status, n) in bomber.await.unwrap() {
            *statuses.entry(status).or_default() += n;
        }
    }
    eprintln!("remote-write bomb: answers by status {statuses:?}");
    assert!(statuses.get(&413).is_some_and(|n| *n > 0), "the full bomb is refused whole");
    recovers_within_two_windows(&server, "remote-write bomb").await;
    watch.finish(&server, "remote-write bomb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_for_a_minute() {
    let server = start_server();
    let watch = Watch::start(&server);
    let started = Instant::now();
    // 96 uploads, three times the reading slots, each declaring 1 MB and sending a byte a
    // second; each starts again when the server ends it (408, or 429 past the slots).
    let uploaders: Vec<_> = (0..96)
        .map(|i| {
            let addr = if i % 2 == 0 { server.otlp_http } else { server.http };
            let path = if i % 2 == 0 { "/v1/metrics" } else { "/api/v1/write" };
            tokio::spawn(async move {
                let mut ended = 0u64;
                while started.elapsed() < LOAD {
                    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { continue };
                    let head = format!(
                        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-protobuf\r\n\
                         content-encoding: snappy\r\ncontent-length: 1000000\r\n\r\n"
                    );
                    if stream.write_all(head.as_bytes()).await.is_err() {
                        continue;
                    }
                    while started.elapsed() < LOAD && stream.write_all(&[0]).await.is_ok() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    ended += 1;
                }
                ended
            })
        })
        .collect();
    let mut ended = 0;
    for uploader in uploaders {
        ended += uploader.await.unwrap();
    }
    eprintln!("slow uploads: {ended} uploads ended by the server or the test");
    recovers_within_two_windows(&server, "slow uploads").await;
    watch.finish(&server, "slow uploads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_series_per_point_far_past_the_sustainable_rate_for_a_minute() {
    let server = start_server();
    let loadgen = |extra: &[&str], seconds: u64| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ironspider"))
            .args(["loadgen", "--target", &format!("http://{}", server.grpc), "--duration", &seconds.to_string()])
            .args(["--shape", "gauge2", "--points-per-request", "1000"])
            .args(extra)
            .env("RUST_LOG", "error")
            .output()
            .expect("run loadgen");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // For comparison, the rate this server sustains with known series (four connections).
    let known = rate(&loadgen(&["--nodes", "10", "--metrics", "100", "--concurrency", "4"], 10), "acknowledged");
    let watch = Watch::start(&server);
    let report = loadgen(&["--churn", "--concurrency", "64"], LOAD.as_secs());
    eprintln!("loadgen --churn:\n{report}");
    // Of new series, the server sustains `max_series` per TTL: past that rate they are
    // refused by design, whatever the cores could do. Beside it, what it got through of this
    // load (requests processed) and the rate it sustains with known series; loadgen offers
    // every request it sends, those told to retry included.
    let (offered, through) = (offered_rate(&report), rate(&report, "sent"));
    let sustainable = (MAX_SERIES / SERIES_TTL_SECONDS) as f64;
    eprintln!(
        "churn: offered {offered:.0} points/s of new series: {:.0}x the {sustainable:.0} new series/s the series \
         table sustains, {:.1}x the {through:.0} points/s the server got through, {:.1}x the {known:.0} it \
         sustains with known series; series expired {}",
        offered / sustainable,
        offered / through,
        offered / known,
        server.metric("ironspider_series_expired_total").await
    );
    recovers_within_two_windows(&server, "churn").await;
    watch.finish(&server, "churn").await;
    assert!(offered >= 10.0 * sustainable, "offered {offered:.0} points/s, not ten times {sustainable:.0}");
    assert!(server.metric("ironspider_series_expired_total").await > 20_000.0, "churned series expire");
}

/// A figure of loadgen's `points sent: X/s, acknowledged: Y/s` line (`what`: `sent` or
/// `acknowledged`).
fn rate(report: &str, what: &str) -> f64 {
    let line = report.lines().find(|l| l.starts_with("points sent")).expect("a points line");
    let after = line.split(&format!("{what}: ")).nth(1).expect("the rate");
    after.split("/s").next().unwrap().trim().parse().expect("a rate")
}

/// Points offered per second: every request sent, whether acknowledged or refused.
fn offered_rate(report: &str) -> f64 {
    let line = report.lines().find(|l| l.starts_with("requests ok")).expect("a requests line");
    let numbers: Vec<f64> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| !s.is_empty() && s != &".")
        .map(|s| s.parse().unwrap())
        .collect();
    let [ok, failed, elapsed] = numbers[..] else { panic!("unexpected line {line}") };
    (ok + failed) * 1000.0 / elapsed
}
