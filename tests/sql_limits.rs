//! `POST /api/v1/sql` cannot stall the server (issue 15's runaway query): queries run on a
//! pool of their own within a time limit and a concurrency limit; one whose client leaves
//! is cancelled; deep and long queries are refused before they are planned; and SIGTERM
//! during queries ends `serve` promptly with its open windows flushed. While runaway queries
//! run, `/readyz` and the extender's `filter` keep answering (each within kube-scheduler's
//! 2 s `httpTimeout` here; their latency is a benchmark's business, not this test's).

use crate::common::{Server, gauge_point, gauge_request, now_ns};
use serde_json::json;
use std::time::{Duration, Instant};

/// A query that runs until something stops it: a count over 10^18 generated rows.
const RUNAWAY: &str = "SELECT count(*) AS n FROM generate_series(1, 1000000000000000000)";

async fn post_sql(server: &Server, query: &str, client: &reqwest::Client) -> (u16, Option<String>, String) {
    let response =
        client.post(format!("http://{}/api/v1/sql", server.http)).body(query.to_string()).send().await.unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (response.status().as_u16(), retry_after, response.text().await.unwrap())
}

/// Waits (up to 10 s) until `n` queries hold the pool's permits.
async fn running_queries(server: &Server, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = server.metric("ironspider_sql_queries_running").await;
        if now == n {
            return;
        }
        assert!(Instant::now() < deadline, "{now} queries running, not {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Seconds each of `/readyz` and `filter` took, `rounds` times over.
async fn probe(server: &Server, rounds: usize) -> Vec<f64> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let filter = json!({"Pod": {"metadata": {"name": "p", "namespace": "default", "uid": "p"}}, "NodeNames": ["n1"]});
    let mut took = Vec::new();
    for _ in 0..rounds {
        let started = Instant::now();
        let ready = client.get(format!("http://{}/readyz", server.http)).send().await.expect("/readyz answers");
        assert_eq!(ready.status(), 200);
        took.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let url = format!("http://{}/scheduler/filter", server.http);
        let body = filter.to_string();
        let filtered = client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("filter answers");
        assert_eq!(filtered.status(), 200);
        took.push(started.elapsed().as_secs_f64());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runaway_queries_end_by_their_limits_and_the_rest_keeps_answering() {
    let env = [("IRONSPIDER_ENGINE__SQL__TIMEOUT_SECONDS", "3"), ("IRONSPIDER_ENGINE__SQL__MAX_CONCURRENT", "2")];
    let server = Server::start(&[], &env);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let runaways: Vec<_> = (0..2)
        .map(|_| {
            let (client, http) = (client.clone(), server.http);
            tokio::spawn(async move {
                let response = client.post(format!("http://{http}/api/v1/sql")).body(RUNAWAY).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            })
        })
        .collect();
    // Both hold the pool: a third query is refused at once, with a time to retry.
    running_queries(&server, 2.0).await;
    let busy = post_sql(&server, "SELECT 1 AS one", &client).await;
    assert_eq!((busy.0, busy.1.as_deref()), (429, Some("1")), "{}", busy.2);
    assert!(busy.2.contains("engine.sql.max_concurrent"), "{}", busy.2);

    let took = probe(&server, 25).await;
    let worst = took.iter().copied().fold(0.0, f64::max);
    eprintln!("during two runaway queries: /readyz and filter answered {} times, slowest {worst:.3} s", took.len());

    for runaway in runaways {
        let (status, text) = runaway.await.unwrap();
        assert_eq!(status, 503, "{text}");
        assert!(text.contains("time limit of 3s"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "the limit ended them: {:?}", started.elapsed());
    assert_eq!(server.metric(r#"ironspider_sql_queries_total{outcome="timeout"}"#).await, 2.0);
    assert!(server.metric(r#"ironspider_sql_queries_total{outcome="busy"}"#).await >= 1.0);

    // The cancelled queries' tasks end at their next yield and give their permits back.
    running_queries(&server, 0.0).await;
    // Refused before planning: too deep, too long.
    let deep = format!("SELECT 1{} AS n", "+1".repeat(1_000));
    let (status, _, text) = post_sql(&server, &deep, &client).await;
    assert_eq!((status, text.trim()), (400, "the query nests expressions deeper than 500 (engine.sql): simplify it"));
    let long = format!("SELECT 1{} AS n", "+1".repeat(60_000));
    assert_eq!(post_sql(&server, &long, &client).await.0, 413);
    // A join without keys that could not be cancelled midway is refused before it runs.
    let cross = "SELECT count(*) AS n FROM generate_series(1, 200000) a, generate_series(1, 200000) b \
                 WHERE a.value < b.value";
    let (status, _, text) = post_sql(&server, cross, &client).await;
    assert_eq!((status, text.contains("engine.sql.max_join_pairs")), (400, true), "{text}");
    let (status, _, text) = post_sql(&server, "SELECT 1 AS one", &client).await;
    assert_eq!((status, text.as_str()), (200, r#"[{"one":1}]"#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_whose_client_leaves_is_cancelled_and_sigterm_during_one_flushes_and_exits() {
    let data_dir = tempfile::tempdir().unwrap();
    let env = [("IRONSPIDER_ENGINE__SQL__MAX_CONCURRENT", "1")];
    let mut server = Server::start_in(data_dir.path(), &[], &env);

    // The issue's client gave up after 20 s and the query ran on for minutes.
    let impatient = reqwest::Client::builder().timeout(Duration::from_secs(1)).build().unwrap();
    let gave_up = impatient.post(format!("http://{}/api/v1/sql", server.http)).body(RUNAWAY).send().await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.metric(r#"ironspider_sql_queries_total{outcome="cancelled"}"#).await < 1.0 {
        assert!(Instant::now() < deadline, "the query was not cancelled when its client left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its permit (the only one) is given back: the query really ended.
    running_queries(&server, 0.0).await;
    let client = reqwest::Client::new();
    let answer = post_sql(&server, "SELECT 1 AS one", &client).await;
    assert_eq!(answer.0, 200, "{}", answer.2);

    // A point in an open window, a runaway query, then SIGTERM.
    let ts = now_ns();
    let request = gauge_request("node-sql", "sql.flushed", vec![gauge_point(ts, 42.0, vec![])]);
    server.export_grpc(crate::common::encode(&request)).await.expect("exported");
    let http = server.http;
    let running = tokio::spawn(async move {
        let response = reqwest::Client::new().post(format!("http://{http}/api/v1/sql")).body(RUNAWAY).send().await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    });
    running_queries(&server, 1.0).await;
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(10));
        (status, server)
    })
    .await
    .unwrap();
    assert!(exited.0.is_some_and(|s| s.success()), "serve exits cleanly within 10 s: {:?}", exited.0);
    assert!(matches!(running.await.unwrap(), 503 | 0), "the query was ended by the shutdown");
    drop(exited.1);

    let restarted = Server::start_in(data_dir.path(), &[], &[]);
    let rows = restarted.sql("SELECT last FROM history WHERE metric = 'sql.flushed'").await.expect("history");
    assert_eq!(rows, [json!({"last": 42.0})], "the open window was flushed at shutdown");
}
