//! The extender's `filter` and `prioritize` at 5,000 nodes, node-cache mode (names only).
//!
//! Criterion measures one call as kube-scheduler makes it, JSON body in, JSON answer out,
//! for requests naming all 5,000 nodes and naming 500 (kube-scheduler's default sample at
//! this size: `percentageOfNodesToScore` adapts to 50 − 5000/125 = 10 %). Baseline in the
//! same run: decoding the same request body into the extender's types, the least any
//! extender must do.
//!
//! Then a load test over real HTTP: the extender's routes served by axum on loopback, driven
//! by keep-alive clients for `EXTENDER_SECONDS` (default 5) per verb, size and client count;
//! prints requests per second and p50/p99 latency. `EXTENDER_CLIENTS` lists the client
//! counts (default `1,4`; empty for none), `EXTENDER_NAMES` the request sizes (default
//! `5000,500`): one client is kube-scheduler as it runs (it schedules one pod at
//! a time and calls the extender in turn), four measure capacity — on the same two vCPUs as
//! the server, so they also take CPU from it.
//! `EXTENDER_HTTP_CLIENT` is `lean` (default: hyper's bare HTTP/1 connection) or `reqwest`.
//! Run: `cargo bench --bench extender`.

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http_body_util::{BodyExt, Full};
use ironspider_engine::EngineConfig;
use ironspider_scheduler::answer::Answer;
use ironspider_scheduler::config::SchedulerConfig;
use ironspider_scheduler::extender::Extender;
use ironspider_scheduler::http::{Scheduler, router};
use ironspider_scheduler::live_rebalance::LiveRebalancer;
use ironspider_scheduler::model::ClusterModel;
use ironspider_scheduler::prioritize::NoForecast;
use ironspider_scheduler::protocol::{ExtenderArgs, decode};
use ironspider_scores::NodeFrame;
use ironspider_scores::ScoreConfig;
use ironspider_scores::{PublishedScores, ScoreBook};
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NODES: usize = 5_000;

fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

/// An extender whose telemetry knows 5,000 nodes of 64 CPUs, 512 GiB and 8 GPUs, with
/// varied utilisation.
fn extender() -> Arc<Extender> {
    let published = Arc::new(PublishedScores::default());
    let engine = EngineConfig::default();
    let book = ScoreBook::new(ScoreConfig::default(), engine.window_ns(), Arc::clone(&published));
    let frames = (0..NODES).map(|i| NodeFrame {
        node: node_name(i),
        cpu: Some((i % 97) as f64 / 100.0),
        memory: Some((i % 89) as f64 / 100.0),
        vcpus: Some(64.0),
        memory_bytes: Some(512.0 * 1024.0 * 1024.0 * 1024.0),
        gpu: (0..8).map(|g| (format!("GPU-{g}"), 0.5)).collect(),
        gpus: 8,
        gpu_model: Some("A100".into()),
        ..NodeFrame::default()
    });
    book.record(engine.window_ns(), frames);
    book.publish(engine.window_ns());
    let model = ClusterModel::new(SchedulerConfig::default(), &engine.scores, engine.window_ns(), published);
    Arc::new(Extender::new(model, Arc::new(NoForecast)))
}

/// A request for a pod asking 2 CPUs, 8 GiB and a quarter GPU, naming `nodes` nodes.
fn request(nodes: usize) -> Vec<u8> {
    let names: Vec<String> = (0..nodes).map(|i| node_name(i * (NODES / nodes))).collect();
    let pod = serde_json::json!({
        "metadata": {"name": "trainer-0", "namespace": "ml", "uid": "3f1c9a2e-0000-4000-8000-000000000000"},
        "spec": {"containers": [{"name": "main", "resources": {"requests": {
            "cpu": "2", "memory": "8Gi", "ironspider.io/gpu-milli": "250"}}}]}
    });
    serde_json::to_vec(&serde_json::json!({"Pod": pod, "NodeNames": names})).unwrap()
}

fn bench(c: &mut Criterion) {
    let extender = extender();
    for nodes in [NODES, 500] {
        let body = request(nodes);
        // As in a scheduling cycle, filter sees the pod before prioritize: the typical pod
        // mix exists, so prioritize computes its fragmentation term even when run alone.
        extender.filter(decode::<ExtenderArgs>(&body).unwrap());
        let mut group = c.benchmark_group(format!("extender_{nodes}_names"));
        group.bench_function("decode_only_baseline", |b| b.iter(|| black_box(decode::<ExtenderArgs>(&body).unwrap())));
        for verb in ["filter", "prioritize"] {
            group.bench_function(verb, |b| b.iter(|| call(&extender, verb, &body)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

/// The HTTP client of the load test (`EXTENDER_HTTP_CLIENT`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum HttpClient {
    /// hyper's HTTP/1 connection, one per client: the request built and sent, nothing more
    /// (no pool, no URL parsing per request), so that the clients take little of the CPU the
    /// server shares with them. The default.
    Lean,
    /// reqwest, as earlier runs measured.
    Reqwest,
}

/// One client's requests until `deadline`: their latencies.
async fn drive(client: HttpClient, addr: SocketAddr, path: String, body: Bytes, deadline: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    match client {
        HttpClient::Lean => {
            let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
            tokio::spawn(connection);
            while Instant::now() < deadline {
                let request = hyper::Request::post(path.as_str())
                    .header(hyper::header::HOST, addr.to_string())
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))
                    .expect("a request");
                let start = Instant::now();
                let response = sender.send_request(request).await.expect("request");
                assert_eq!(response.status(), 200);
                response.into_body().collect().await.expect("answer");
                latencies.push(start.elapsed());
            }
        }
        HttpClient::Reqwest => {
            let (client, url) = (reqwest::Client::new(), format!("http://{addr}{path}"));
            while Instant::now() < deadline {
                let start = Instant::now();
                let response = client.post(&url).body(body.clone()).send().await.expect("request");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("answer");
                latencies.push(start.elapsed());
            }
        }
    }
    latencies
}

/// Drives `path` with `body` from `clients` keep-alive clients for `seconds`; returns
/// (requests per second, p50, p99).
async fn load(
    client: HttpClient,
    addr: SocketAddr,
    path: String,
    body: Vec<u8>,
    clients: usize,
    seconds: f64,
) -> (f64, Duration, Duration) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let body = Bytes::from(body);
    let tasks: Vec<_> =
        (0..clients).map(|_| tokio::spawn(drive(client, addr, path.clone(), body.clone(), deadline))).collect();
    let started = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    (latencies.len() as f64 / elapsed, at(0.5), at(0.99))
}

/// The comma list of numbers in environment variable `name`, or `default`.
fn counts(name: &str, default: &str) -> Vec<usize> {
    let list = std::env::var(name).unwrap_or_else(|_| default.into());
    let items = list.split(',').map(str::trim).filter(|item| !item.is_empty());
    items.map(|item| item.parse().unwrap_or_else(|_| panic!("{name}: a comma list of numbers"))).collect()
}

fn load_test() {
    let client_counts = counts("EXTENDER_CLIENTS", "1,4");
    let name_counts = counts("EXTENDER_NAMES", &format!("{NODES},500"));
    let seconds = std::env::var("EXTENDER_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5.0);
    let client = match std::env::var("EXTENDER_HTTP_CLIENT").as_deref() {
        Ok("reqwest") => HttpClient::Reqwest,
        Ok("lean") | Err(_) => HttpClient::Lean,
        Ok(other) => panic!("EXTENDER_HTTP_CLIENT: lean or reqwest, not {other}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let extender = extender();
        let registry = prometheus::Registry::new();
        let rebalancer = LiveRebalancer::new(Default::default(), extender.model(), 10_000_000_000, &registry).unwrap();
        let app = router(Scheduler { extender, rebalancer: Arc::new(rebalancer), binder: None });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        println!("load test: {seconds} s per case, {client:?} clients and server on this machine");
        for clients in client_counts {
            for &nodes in &name_counts {
                for verb in ["filter", "prioritize"] {
                    let path = format!("/scheduler/{verb}");
                    let (rps, p50, p99) = load(client, addr, path, request(nodes), clients, seconds).await;
                    println!(
                        "{clients} client(s) {verb:>10} {nodes:>5} names: {rps:>8.0} req/s  p50 {p50:>9.1?}  p99 {p99:>9.1?}"
                    );
                }
            }
        }
    });
}

/// One call as kube-scheduler makes it: JSON in, `verb`, JSON out.
fn call(extender: &Extender, verb: &str, body: &[u8]) -> Vec<u8> {
    let args = decode::<ExtenderArgs>(body).unwrap();
    match verb {
        "filter" => extender.filter(args).to_json(body.len()),
        "prioritize" => extender.prioritize(args).to_json(body.len()),
        other => panic!("EXTENDER_INSTRUCTIONS: filter or prioritize, not {other}"),
    }
    .unwrap()
}

/// Exactly `calls` calls, and nothing else, for callgrind to count (see [`instructions`]).
#[inline(never)]
fn measured_calls(extender: &Extender, verb: &str, body: &[u8], calls: usize) {
    for _ in 0..calls {
        black_box(call(extender, verb, body));
    }
}

/// `EXTENDER_INSTRUCTIONS=verb,names,calls` replaces the benchmarks by `calls` calls of
/// `verb` naming `names` nodes in [`measured_calls`] (after one unmeasured call, so the
/// snapshot index and the pod mix exist), for
/// `valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_calls*'`:
/// the instructions counted over `calls` are repeatable where times are not.
fn instructions(spec: &str) {
    let parts: Vec<&str> = spec.split(',').collect();
    let [verb, names, calls] = parts[..] else { panic!("EXTENDER_INSTRUCTIONS: verb,names,calls") };
    let (names, calls) = (names.parse().expect("names"), calls.parse().expect("calls"));
    let (extender, body) = (extender(), request(names));
    extender.filter(decode::<ExtenderArgs>(&body).unwrap());
    call(&extender, verb, &body);
    measured_calls(&extender, verb, &body, calls);
}

fn main() {
    if let Ok(spec) = std::env::var("EXTENDER_INSTRUCTIONS") {
        return instructions(&spec);
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    load_test();
}
