//! Starts the real `ironspider serve` binary on free loopback ports for integration tests,
//! and speaks to it over OTLP/gRPC, OTLP/HTTP and the HTTP API.

#![allow(dead_code)] // each test binary uses its own part of these helpers

use bytes::Bytes;
use ironspider_ingest::source::grpc::{EXPORT_PATH, RawBytesCodec};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// OTLP/gRPC address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address.
    pub otlp_http: SocketAddr,
    /// HTTP API address.
    pub http: SocketAddr,
    /// The data directory, removed with the server unless the test gave its own.
    _data_dir: Option<tempfile::TempDir>,
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

impl Server {
    /// Starts `ironspider serve` with extra flags and `IRONSPIDER_*` environment settings.
    pub fn start(flags: &[&str], env: &[(&str, &str)]) -> Server {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let mut server = Server::start_in(data_dir.path(), flags, env);
        server._data_dir = Some(data_dir);
        server
    }

    /// Starts `ironspider serve` on the data directory `data_dir`, which outlives it (for a
    /// restart on the same history).
    pub fn start_in(data_dir: &std::path::Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let server = Server::launch(data_dir, flags, env);
        server.wait_ready();
        server
    }

    /// Starts `ironspider serve` on `data_dir` without waiting for it to turn ready.
    pub fn launch(data_dir: &std::path::Path, flags: &[&str], env: &[(&str, &str)]) -> Server {
        let (grpc, otlp_http, http) = (free_port(), free_port(), free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_ironspider"));
        command
            .arg("serve")
            .args(["--otlp-grpc", &grpc.to_string(), "--otlp-http", &otlp_http.to_string()])
            .args(["--http", &http.to_string()])
            .arg("--data-dir")
            .arg(data_dir)
            .args(flags)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start ironspider serve");
        Server { child, grpc, otlp_http, http, _data_dir: None }
    }

    /// The status of `GET path` on the HTTP API (`None`: no answer).
    pub fn status_of(&self, path: &str) -> Option<u16> {
        http_status(self.http, path)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_status(self.http, "/readyz") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server on {} not ready within 30 s", self.http);
    }

    /// Runs SQL through `POST /api/v1/sql`; returns the rows or the error status and text.
    pub async fn sql(&self, query: &str) -> Result<Vec<serde_json::Value>, (u16, String)> {
        let response = reqwest::Client::new()
            .post(format!("http://{}/api/v1/sql", self.http))
            .body(query.to_string())
            .send()
            .await
            .expect("SQL request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("SQL answer body");
        if status != 200 {
            return Err((status, text));
        }
        Ok(serde_json::from_str(&text).expect("SQL answer is JSON"))
    }

    /// The `/metrics` exposition.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.http))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body")
    }

    /// The value of one sample of `/metrics`, named with its labels as exposed
    /// (`ironspider_points_rejected_total{reason="late"}`), 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        sample_value(&self.metrics_text().await, sample)
    }

    /// Sends an OTLP/HTTP request; returns the status, headers and body.
    pub async fn post_otlp(
        &self,
        content_type: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, Bytes) {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}/v1/metrics", self.otlp_http))
            .header("content-type", content_type)
            .body(body);
        for (key, value) in headers {
            request = request.header(*key, *value);
        }
        let response = request.send().await.expect("OTLP/HTTP request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.bytes().await.expect("OTLP/HTTP answer body"))
    }

    /// Sends raw bytes as the message of an OTLP/gRPC export call.
    pub async fn export_grpc(&self, body: Vec<u8>) -> Result<Bytes, tonic::Status> {
        self.export_grpc_compressed(body, None).await
    }

    /// Sends raw bytes as an OTLP/gRPC export, compressed with `compression` when given.
    pub async fn export_grpc_compressed(
        &self,
        body: Vec<u8>,
        compression: Option<tonic::codec::CompressionEncoding>,
    ) -> Result<Bytes, tonic::Status> {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", self.grpc))
            .expect("endpoint")
            .connect()
            .await
            .expect("gRPC connection");
        let mut client = tonic::client::Grpc::new(channel);
        if let Some(encoding) = compression {
            client = client.send_compressed(encoding);
        }
        client.ready().await.expect("gRPC client ready");
        let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
        client.unary(tonic::Request::new(Bytes::from(body)), path, RawBytesCodec).await.map(|r| r.into_inner())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of a plain blocking `GET path` (used while waiting for readiness, before any
/// async runtime is needed); `None` when the server does not answer.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The value of one sample of a `/metrics` exposition `text`, named with its labels as
/// exposed, 0 when absent.
pub fn sample_value(text: &str, sample: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().expect("numeric sample"))
}

/// Whether a JSON number equals `expected` to 1e-9 (a value missing or not a number never
/// does).
pub fn close(value: &serde_json::Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

/// A string attribute.
pub fn attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
        ..Default::default()
    }
}

/// A gauge point of `value` at `ts` with attributes.
pub fn gauge_point(ts: u64, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: ts,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

/// A request with one resource for `node` holding `metrics`.
pub fn node_request(node: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![attr("k8s.node.name", node)], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// A request with one resource for `node` and one gauge `metric` holding `points`.
pub fn gauge_request(node: &str, metric: &str, points: Vec<NumberDataPoint>) -> ExportMetricsServiceRequest {
    node_request(node, vec![gauge_metric(metric, points)])
}

/// Bytes in a GiB.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A gauge metric of `points`.
pub fn gauge_metric(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric { name: name.into(), data: Some(Data::Gauge(Gauge { data_points: points })), ..Default::default() }
}

/// hostmetrics-shaped telemetry of `node` at `ts`: two CPUs, each busy `cpu_busy` of the time
/// (one 0.1 more, one 0.1 less), and `memory_used_gib` of 8 GiB used.
pub fn hostmetrics(node: &str, ts: u64, cpu_busy: f64, memory_used_gib: f64) -> ExportMetricsServiceRequest {
    let cpu = |cpu: &str, state: &str, value| gauge_point(ts, value, vec![attr("cpu", cpu), attr("state", state)]);
    let memory = |state: &str, value| gauge_point(ts, value, vec![attr("state", state)]);
    let (busy0, busy1) = (cpu_busy - 0.1, cpu_busy + 0.1);
    let metrics = vec![
        gauge_metric(
            "system.cpu.utilization",
            vec![
                cpu("0", "idle", 1.0 - busy0),
                cpu("0", "user", busy0),
                cpu("1", "idle", 1.0 - busy1),
                cpu("1", "user", busy1),
            ],
        ),
        gauge_metric(
            "system.memory.usage",
            vec![memory("used", memory_used_gib * GIB), memory("free", (8.0 - memory_used_gib) * GIB)],
        ),
    ];
    node_request(node, metrics)
}

/// Encodes a request as protobuf.
pub fn encode(request: &ExportMetricsServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// Posts a Prometheus remote-write request (snappy-compressed protobuf) to `/api/v1/write`
/// with the given `Content-Encoding`; returns the status and body text.
pub async fn post_remote_write(server: &Server, encoding: &str, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/write", server.http))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", encoding)
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body)
        .send()
        .await
        .expect("remote-write request sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("remote-write answer"))
}

/// The latest scores of every node from `GET /api/v1/nodes`.
pub async fn nodes(server: &Server) -> Vec<serde_json::Value> {
    let body =
        reqwest::get(format!("http://{}/api/v1/nodes", server.http)).await.expect("nodes").text().await.expect("body");
    serde_json::from_str(&body).expect("a JSON array")
}

impl Server {
    /// The server's peak resident memory so far (`VmHWM` of `/proc/PID/status`), in bytes.
    pub fn peak_resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("process status");
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
        let kib: u64 = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number of kB");
        kib * 1024
    }

    /// Kills the server with SIGKILL (`kill -9`: no flush, no cleanup) and reaps it.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }

    /// Sends SIGTERM (through `kill`, as an operator would) and waits up to `within` for a
    /// clean exit; the exit status, or `None` when the server is still running then.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("server status") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
