//! Live forecasts through the real server, on a 1-second grid so that a test takes seconds,
//! not days: a node's CPU pushed over OTLP as a known periodic signal is forecast near its
//! true future with a band that holds it, the same in `/api/v1/forecasts`, the `forecasts`
//! table, the `ironspider_node_forecast` gauges and gRPC `GetForecasts`; a restart on the
//! same data directory forecasts at once from the warm state; bad input (NaN, infinities,
//! gaps, a long silence, one sample, a constant) gives finite forecasts or none, with the
//! reason counted, never a panic.

use crate::common::{GIB, Server, encode, gauge_metric, gauge_point, hostmetrics, node_request, now_ns};
use ironspider_proto::v1::GetForecastsRequest;
use ironspider_proto::v1::scores_client::ScoresClient;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const SECOND: u64 = 1_000_000_000;

/// The periodic CPU of the node under test: 0.5 + 0.3 sin(2πk/4) at second `k`, that is
/// 0.5, 0.8, 0.5, 0.2 over and over.
fn signal(k: u64) -> f64 {
    [0.5, 0.8, 0.5, 0.2][(k % 4) as usize]
}

/// `[engine]` and `[engine.forecast]` on a 1 s grid: windows and steps of 1 s, horizons of
/// 1, 2 and 4 steps, a season of 4, bands of 16 errors given from 8, gaps of up to
/// `max_gap` steps filled. The model is named: `snaive`, exact on a pure season once it has
/// seen one (the default bank takes the median of its three best candidates, which on a
/// clean four-step cycle leaves two smoothers outvoting the exact seasonal one).
fn config_file(dir: &Path, max_gap: u64) -> std::path::PathBuf {
    let path = dir.join("ironspider.toml");
    let text = format!(
        "[engine]\nwindow_seconds = 1\nlateness_seconds = 0\n\n[engine.forecast]\nmodel = \"snaive\"\n\
         step_seconds = 1\nhorizons_seconds = [1, 2, 4]\nseason_seconds = 4\nband_window = 16\n\
         band_min_errors = 8\nmax_gap_steps = {max_gap}\n"
    );
    std::fs::write(&path, text).expect("config written");
    path
}

fn start(config: &Path, data_dir: &Path) -> Server {
    Server::start_in(data_dir, &["--config", config.to_str().expect("UTF-8 path")], &[])
}

/// Pushes `node`'s hostmetrics for the current second (CPU from `cpu(second)`, 4 of 8 GiB of
/// memory used: a constant 0.5).
async fn push(server: &Server, node: &str, cpu: impl Fn(u64) -> f64) {
    let ts = now_ns();
    server.export_grpc(encode(&hostmetrics(node, ts, cpu(ts / SECOND), 4.0))).await.expect("accepted");
}

/// `GET path` as JSON, with its status.
async fn get_json(server: &Server, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("http://{}{path}", server.http)).await.expect("GET");
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.expect("body")).unwrap_or(Value::Null))
}

/// The node's forecasts, none while the engine does not know it yet (404).
async fn forecasts_if_known(server: &Server, node: &str) -> Vec<Value> {
    let (status, json) = get_json(server, &format!("/api/v1/forecasts/{node}")).await;
    if status == 404 {
        return Vec::new();
    }
    assert_eq!(status, 200, "{json}");
    json.as_array().expect("a JSON array").clone()
}

/// The node's forecasts from `GET /api/v1/forecasts/{node}`.
async fn forecasts(server: &Server, node: &str) -> Vec<Value> {
    let (status, json) = get_json(server, &format!("/api/v1/forecasts/{node}")).await;
    assert_eq!(status, 200, "{json}");
    json.as_array().expect("a JSON array").clone()
}

/// Seconds since the epoch of an RFC 3339 time.
fn seconds(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).timestamp()
}

fn number(row: &Value, key: &str) -> f64 {
    row[key].as_f64().unwrap_or_else(|| panic!("{key} in {row}"))
}

/// The truth a CPU row forecasts: issued at the end of step k (second k + 1), `h` steps
/// ahead is step k + h.
fn truth(row: &Value) -> f64 {
    let issued = seconds(&row["issued_at"]) as u64;
    signal(issued - 1 + row["horizon_seconds"].as_u64().expect("horizon"))
}

/// Whether every CPU horizon is forecast with p50 within 0.02 of the truth and a band
/// holding it (to rounding).
fn near_truth(rows: &[Value]) -> bool {
    let cpu: Vec<&Value> = rows.iter().filter(|r| r["resource"] == "cpu").collect();
    cpu.len() == 3
        && cpu.iter().all(|row| {
            let y = truth(row);
            (number(row, "p50") - y).abs() < 0.02 && number(row, "p10") <= y + 1e-9 && y - 1e-9 <= number(row, "p90")
        })
}

/// Whether two JSON numbers agree (serde_json's default parser may be an ulp off).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(1.0)
}

/// Pushes the periodic signal for `node` until its forecasts are near the truth.
async fn push_until_near_truth(server: &Server, node: &str, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        push(server, node, signal).await;
        let rows = forecasts_if_known(server, node).await;
        if near_truth(&rows) {
            return rows;
        }
        assert!(Instant::now() < deadline, "forecasts not near the truth within {within:?}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (without pushing) until the node's forecasts stop changing: its last step is
/// complete, so every output shows the same forecasts until the node is dropped.
async fn settled(server: &Server, node: &str) -> Vec<Value> {
    let mut last = forecasts(server, node).await;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = forecasts(server, node).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// The value of one sample of `/metrics` with its labels, `None` when absent.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
        .map(|value| value.trim().parse().expect("numeric sample"))
}

/// Every row agrees with the gauges, the `forecasts` table and gRPC.
async fn assert_served_alike(server: &Server, node: &str, rows: &[Value]) {
    let metrics = server.metrics_text().await;
    let issued = rows[0]["issued_at"].as_str().expect("issued_at");
    let table = server
        .sql(&format!(
            "SELECT resource, horizon_seconds, p10, p50, p90, model, issued_at FROM forecasts \
             WHERE node = '{node}' ORDER BY issued_at DESC, resource, horizon_seconds"
        ))
        .await
        .expect("forecasts table");
    let table: Vec<&Value> =
        table.iter().filter(|t| seconds(&t["issued_at"]) == seconds(&rows[0]["issued_at"])).collect();
    assert_eq!(table.len(), rows.len(), "the rows issued then, in the table ({issued})");
    let mut client = ScoresClient::connect(format!("http://{}", server.grpc)).await.expect("gRPC");
    let grpc = client
        .get_forecasts(GetForecastsRequest { nodes: vec![node.to_string()] })
        .await
        .expect("GetForecasts")
        .into_inner();
    assert_eq!((grpc.model.as_str(), grpc.forecasts.len()), ("snaive", rows.len()));
    for row in rows {
        let (resource, horizon) = (row["resource"].as_str().unwrap(), row["horizon_seconds"].as_u64().unwrap());
        assert_eq!((row["node"].as_str(), row["model"].as_str()), (Some(node), Some("snaive")), "{row}");
        for (quantile, key) in [("0.1", "p10"), ("0.5", "p50"), ("0.9", "p90")] {
            let labels = format!(
                "ironspider_node_forecast{{node=\"{node}\",resource=\"{resource}\",horizon=\"{horizon}\",quantile=\"{quantile}\"}}"
            );
            let gauge = sample(&metrics, &labels).unwrap_or_else(|| panic!("{labels} missing:\n{metrics}"));
            assert!(same(gauge, number(row, key)), "{labels} = {gauge}, API {row}");
        }
        let in_table = table
            .iter()
            .find(|t| t["resource"] == resource && t["horizon_seconds"].as_u64() == Some(horizon))
            .unwrap_or_else(|| panic!("no forecasts row for {resource} {horizon}: {table:?}"));
        assert_eq!(seconds(&in_table["issued_at"]), seconds(&row["issued_at"]));
        assert!(["p10", "p50", "p90"].iter().all(|k| same(number(in_table, k), number(row, k))), "{in_table} {row}");
        let in_grpc = grpc
            .forecasts
            .iter()
            .find(|f| f.resource == resource && f.horizon_seconds as u64 == horizon)
            .expect("the same row over gRPC");
        assert_eq!(in_grpc.issued_at_unix_nano / SECOND as i64, seconds(&row["issued_at"]));
        assert!(same(in_grpc.p10, number(row, "p10")) && same(in_grpc.p90, number(row, "p90")));
    }
}

#[tokio::test]
async fn a_periodic_cpu_is_forecast_near_its_future_everywhere_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = (config_file(dir.path(), 30), dir.path().join("data"));
    let mut server = start(&config, &data);

    // A season is 4 s and a band needs 8 errors: near the truth after some 20 s. Then on to
    // 30 s, more than the 2 · 4 + 16 + 4 = 28 steps a warm start feeds.
    let started = Instant::now();
    push_until_near_truth(&server, "node-f", Duration::from_secs(90)).await;
    while started.elapsed() < Duration::from_secs(30) {
        push(&server, "node-f", signal).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = push_until_near_truth(&server, "node-f", Duration::from_secs(30)).await;
    // Every resource the node reports (cpu, memory, pressure) at every horizon.
    let keys: Vec<(&str, u64)> =
        rows.iter().map(|r| (r["resource"].as_str().unwrap(), r["horizon_seconds"].as_u64().unwrap())).collect();
    assert_eq!(
        keys,
        [("cpu", 1), ("cpu", 2), ("cpu", 4), ("memory", 1), ("memory", 2), ("memory", 4)]
            .into_iter()
            .chain([("pressure", 1), ("pressure", 2), ("pressure", 4)])
            .collect::<Vec<_>>()
    );
    // Memory is 4 of 8 GiB throughout: a constant, forecast exactly, with no width.
    for row in rows.iter().filter(|r| r["resource"] == "memory") {
        assert!(["p10", "p50", "p90"].iter().all(|k| (number(row, k) - 0.5).abs() < 1e-12), "{row}");
    }

    // Silent now: the last step completes and every output shows the same forecasts.
    let rows = settled(&server, "node-f").await;
    assert!(near_truth(&rows), "{rows:?}");
    assert_served_alike(&server, "node-f", &rows).await;
    let (status, all) = get_json(&server, "/api/v1/forecasts").await;
    assert_eq!((status, all.as_array().map(Vec::len)), (200, Some(rows.len())));
    assert_eq!(get_json(&server, "/api/v1/forecasts/nobody").await.0, 404);
    let history = server.sql("SELECT count(*) AS n FROM node_steps_history WHERE node = 'node-f'").await;
    assert!(history.expect("node_steps_history")[0]["n"].as_u64() > Some(20), "steps written to the history");

    // A restart on the same data directory: the forecasts are there before any new data,
    // from the warm state: the same step, resources and horizons, and near the truth. Fed
    // the last 28 steps again, not the whole run, the trackers match the ones before only
    // where the model fits exactly (the periodic CPU, the constant memory: to rounding);
    // pressure, which also moves with its spread over recent windows, is forecast afresh.
    assert!(server.terminate(Duration::from_secs(20)).is_some_and(|s| s.success()), "clean shutdown");
    let server = start(&config, &data);
    let warm = forecasts(&server, "node-f").await;
    assert_eq!(warm.len(), rows.len(), "{warm:?}");
    for (warm, before) in warm.iter().zip(&rows) {
        for key in ["node", "resource", "horizon_seconds", "issued_at", "model"] {
            assert_eq!(warm[key], before[key], "{warm} / {before}");
        }
        let exact = warm["resource"] != "pressure";
        let close = |k: &&str| (number(warm, k) - number(before, k)).abs() < 1e-6;
        assert!(!exact || ["p10", "p50", "p90"].iter().all(close), "{warm} / {before}");
    }
    assert!(near_truth(&warm), "{warm:?}");
    // And it goes on from there: new steps are forecast at once, where a cold start would
    // need a season and 8 errors (some 12 steps) first.
    let restarted = Instant::now();
    let newer = loop {
        push(&server, "node-f", signal).await;
        let now = forecasts(&server, "node-f").await;
        if now.iter().any(|r| r["resource"] == "cpu" && seconds(&r["issued_at"]) > seconds(&rows[0]["issued_at"])) {
            break now;
        }
        assert!(restarted.elapsed() < Duration::from_secs(20), "no new forecast after the restart: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cpu = newer.iter().filter(|r| r["resource"] == "cpu").count();
    assert_eq!(cpu, 3, "every CPU horizon forecast within a step or two of the restart: {newer:?}");
    assert!(restarted.elapsed() < Duration::from_secs(8), "{:?}", restarted.elapsed());
}

/// A request with the node's memory only (4 of 8 GiB used).
fn memory_only(node: &str, ts: u64) -> Vec<u8> {
    let point = |state: &str, value| gauge_point(ts, value, vec![crate::common::attr("state", state)]);
    let usage = gauge_metric("system.memory.usage", vec![point("used", 4.0 * GIB), point("free", 4.0 * GIB)]);
    encode(&node_request(node, vec![usage]))
}

#[tokio::test]
async fn bad_input_gives_finite_forecasts_or_none_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (config, data) = (config_file(dir.path(), 2), dir.path().join("data"));
    let server = start(&config, &data);

    // One sample, then nothing: known, no forecast (its band needs 8 errors).
    push(&server, "node-one", signal).await;
    // NaN and infinities are refused at ingest (reason non_finite_value) and never reach a
    // forecaster; the node's good points go on. The pushes go on until every counter below has
    // been seen (or a deadline): how many seconds a loaded machine takes for one pass varies,
    // so the schedule is by the pushed second `k`, never by elapsed time, and the transient
    // "calibrating" state is looked for at every pass rather than at one chosen moment.
    let started = Instant::now();
    let first = now_ns() / SECOND;
    let (mut second, mut saw_calibrating) = (0, false);
    let mut metrics;
    let deadline = Duration::from_secs(60);
    loop {
        let ts = now_ns();
        let k = ts / SECOND;
        for (i, bad) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY].into_iter().enumerate() {
            let request = hostmetrics("node-bad", ts + i as u64, bad, 4.0);
            server.export_grpc(encode(&request)).await.expect("answered, partly refused");
        }
        // node-gap: the periodic CPU with gaps of 2 s (filled) every 5 s, and for the seconds
        // 8 to 11 after the first its CPU silent (> max_gap 2: that tracker starts fresh when
        // it is back, at a second with k mod 5 < 3) while its memory goes on. From then on
        // its CPU tracker warms up again and then calibrates its band.
        if (first + 8..first + 12).contains(&k) {
            server.export_grpc(memory_only("node-gap", ts)).await.expect("accepted");
        } else if k % 5 < 3 {
            push(&server, "node-gap", signal).await;
        }
        // node-const: a constant CPU and memory.
        push(&server, "node-const", |_| 0.3).await;
        second += 1;
        metrics = server.metrics_text().await;
        saw_calibrating |=
            sample(&metrics, "ironspider_forecasts_unavailable{reason=\"calibrating\"}").is_some_and(|n| n > 0.0);
        let reset = sample(&metrics, "ironspider_forecast_resets_total{reason=\"long_gap\"}").is_some_and(|n| n >= 1.0);
        let past_gap = k > first + 18;
        if (past_gap && reset && saw_calibrating) || started.elapsed() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(second > 20);

    let refused = sample(&metrics, "ironspider_points_rejected_total{reason=\"non_finite_value\"}");
    assert!(refused.is_some_and(|n| n > 0.0), "non-finite points refused at ingest:\n{metrics}");
    assert!(sample(&metrics, "ironspider_forecast_filled_steps_total").is_some_and(|n| n > 0.0), "{metrics}");
    let resets = sample(&metrics, "ironspider_forecast_resets_total{reason=\"long_gap\"}");
    assert!(resets.is_some_and(|n| n >= 1.0), "node-gap's CPU started fresh:\n{metrics}");
    assert!(saw_calibrating, "a band calibrating was counted as unavailable at some pass:\n{metrics}");

    // Whatever is forecast is finite and ordered.
    let (_, all) = get_json(&server, "/api/v1/forecasts").await;
    for row in all.as_array().expect("rows") {
        let (p10, p50, p90) = (number(row, "p10"), number(row, "p50"), number(row, "p90"));
        assert!(p10.is_finite() && p90.is_finite() && p10 <= p50 && p50 <= p90, "{row}");
    }
    // node-one: known to the engine, nothing to forecast from one sample — or dropped after
    // its silence; never an error.
    assert_eq!(forecasts(&server, "node-one").await, Vec::<Value>::new());
    // node-bad: its good memory readings are forecast (a constant), its CPU never had a
    // finite value, so nothing is forecast for it.
    let bad = forecasts(&server, "node-bad").await;
    assert!(bad.iter().all(|r| r["resource"] != "cpu"), "{bad:?}");
    // node-const: CPU 0.3 and memory 0.5 exactly, with no width.
    let constant = forecasts(&server, "node-const").await;
    assert!(constant.iter().any(|r| r["resource"] == "cpu"), "{constant:?}");
    for row in constant.iter().filter(|r| r["resource"] != "pressure") {
        let expected = if row["resource"] == "cpu" { 0.3 } else { 0.5 };
        assert!(["p10", "p50", "p90"].iter().all(|k| (number(row, k) - expected).abs() < 1e-9), "{row}");
    }
    assert_eq!(reqwest::get(format!("http://{}/healthz", server.http)).await.unwrap().status(), 200);
}
