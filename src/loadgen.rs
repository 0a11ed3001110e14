//! `ironspider loadgen`: an OTLP/gRPC load generator replaying pre-encoded, deterministic
//! requests (see [`crate::payload`]) with fresh timestamps, over `concurrency` connections,
//! for a fixed duration. Prints points per second sent and acknowledged and, given the
//! server's pid, the server's points per CPU-second (from `/proc/PID/stat` utime + stime).
//! With `--ack-log FILE` it writes one line per acknowledged request, `first points ts
//! rejected` (the request's first series, its points, their timestamp in ns, how many the
//! server refused), from which every acknowledged point can be named: the crash test
//! (tests/crash.rs) counts them against the history.

use crate::payload::{PayloadShape, PayloadSpec, Template, templates};
use anyhow::Context;
use bytes::Bytes;
use ironspider_ingest::source::grpc::{EXPORT_PATH, RawBytesCodec};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

/// Flags of `ironspider loadgen`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    /// OTLP/gRPC endpoint.
    #[arg(long, default_value = "http://127.0.0.1:4317")]
    pub target: String,
    /// Point shape.
    #[arg(long, value_enum, default_value = "gauge5")]
    pub shape: PayloadShape,
    /// Distinct nodes (resources).
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Metrics per node.
    #[arg(long, default_value_t = 100)]
    pub metrics: usize,
    /// Points per export request.
    #[arg(long, default_value_t = 1000)]
    pub points_per_request: usize,
    /// Requests in flight at once, each on its own connection.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Compress requests with gzip.
    #[arg(long)]
    pub gzip: bool,
    /// The server's pid, to report its points per CPU-second.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Write a line per acknowledged request to this file (module doc).
    #[arg(long)]
    pub ack_log: Option<std::path::PathBuf>,
    /// Make every point of every request a new series (a cardinality explosion): each
    /// request's points carry a `loadgen.churn` attribute with a value of their own.
    #[arg(long)]
    pub churn: bool,
}

/// Where acknowledged requests are logged.
type AckLog = Option<Arc<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>>;

/// Totals of a run.
#[derive(Debug, Default)]
struct Totals {
    requests: AtomicU64,
    points_sent: AtomicU64,
    points_rejected: AtomicU64,
    request_errors: AtomicU64,
    bytes: AtomicU64,
}

/// Server CPU seconds (user + system) from `/proc/PID/stat`, in USER_HZ ticks of 1/100 s.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("no process {pid}"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("unexpected /proc stat format")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).context("unexpected /proc stat format");
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// What every worker of a run shares.
struct Run {
    gzip: bool,
    templates: Vec<Template>,
    deadline: Instant,
    /// Requests sent so far, for distinct timestamps.
    sequence: AtomicU64,
    totals: Totals,
    ack_log: AckLog,
}

async fn worker(channel: Channel, run: Arc<Run>, first: usize) {
    let Run { gzip, templates, deadline, sequence, totals, ack_log } = &*run;
    let (gzip, deadline) = (*gzip, *deadline);
    let mut client = tonic::client::Grpc::new(channel);
    if gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
    let mut next = first;
    while Instant::now() < deadline {
        let template = &templates[next % templates.len()];
        next += 1;
        // A distinct nanosecond per request keeps every point's timestamp unique per series.
        let request = sequence.fetch_add(1, Ordering::Relaxed);
        let ts = now_ns() + request % 1_000;
        let body = Bytes::from(template.stamped_churn(ts, request));
        totals.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        let sent = async {
            client.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            client.unary(tonic::Request::new(body), path.clone(), RawBytesCodec).await
        };
        match sent.await {
            Ok(response) => {
                let rejected = ExportMetricsServiceResponse::decode(response.into_inner())
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map_or(0, |p| p.rejected_data_points.max(0) as u64);
                totals.requests.fetch_add(1, Ordering::Relaxed);
                totals.points_sent.fetch_add(template.points as u64, Ordering::Relaxed);
                totals.points_rejected.fetch_add(rejected, Ordering::Relaxed);
                if let Some(log) = &ack_log {
                    use std::io::Write;
                    let line = format!("{} {} {ts} {rejected}\n", template.first, template.points);
                    if let Err(error) = log
                        .lock()
                        .map_err(|_| std::io::Error::other("poisoned"))
                        .and_then(|mut f| f.write_all(line.as_bytes()))
                    {
                        tracing::warn!(%error, "cannot write the ack log");
                    }
                }
            }
            Err(status) => {
                if totals.request_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(%status, "export failed");
                }
            }
        }
    }
}

/// Runs the load and prints the report.
pub async fn run(args: LoadgenArgs) -> anyhow::Result<()> {
    let spec = PayloadSpec {
        shape: args.shape,
        nodes: args.nodes,
        metrics: args.metrics,
        points_per_request: args.points_per_request,
        churn: args.churn,
    };
    let templates = templates(&spec, 4096);
    let bytes_per_point = templates[0].bytes.len() as f64 / templates[0].points.max(1) as f64;
    let ack_log: AckLog = match &args.ack_log {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(Arc::new(std::sync::Mutex::new(std::io::BufWriter::new(file))))
        }
        None => None,
    };
    let mut channels = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let endpoint = Channel::from_shared(args.target.clone()).context("invalid --target")?;
        channels.push(endpoint.connect().await.with_context(|| format!("cannot connect to {}", args.target))?);
    }
    let cpu_before = args.server_pid.map(cpu_seconds).transpose()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let run = Arc::new(Run {
        gzip: args.gzip,
        templates,
        deadline,
        sequence: AtomicU64::new(0),
        totals: Totals::default(),
        ack_log,
    });
    let workers: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(i, channel)| {
            let first = i * run.templates.len() / args.concurrency.max(1);
            tokio::spawn(worker(channel, Arc::clone(&run), first))
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let totals = &run.totals;
    if let Some(log) = &run.ack_log {
        use std::io::Write;
        log.lock().map_err(|_| anyhow::anyhow!("the ack log's lock is poisoned"))?.flush().context("the ack log")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_used = match (args.server_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(cpu_seconds(pid)? - before),
        _ => None,
    };
    let sent = totals.points_sent.load(Ordering::Relaxed) as f64;
    let acknowledged = sent - totals.points_rejected.load(Ordering::Relaxed) as f64;
    println!(
        "shape {:?}, {} nodes x {} metrics, {} points/request, {:.0} bytes/point, concurrency {}, gzip {}",
        args.shape, args.nodes, args.metrics, args.points_per_request, bytes_per_point, args.concurrency, args.gzip
    );
    println!(
        "requests ok: {}, failed: {}, elapsed {:.2} s",
        totals.requests.load(Ordering::Relaxed),
        totals.request_errors.load(Ordering::Relaxed),
        elapsed
    );
    println!(
        "points sent: {:.0}/s, acknowledged: {:.0}/s ({} rejected)",
        sent / elapsed,
        acknowledged / elapsed,
        totals.points_rejected.load(Ordering::Relaxed)
    );
    println!("request bytes: {:.1} MB/s", totals.bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6);
    if let Some(cpu) = cpu_used {
        println!(
            "server CPU: {cpu:.2} s ({:.0}% of one core), {:.0} points per CPU-second",
            100.0 * cpu / elapsed,
            acknowledged / cpu.max(1e-9)
        );
    }
    Ok(())
}
