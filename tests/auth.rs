//! Bearer tokens by role on every listener (issue 15), over plain loopback TCP: the TLS side
//! runs with real clients in tests/e2e/test_tls_auth.py. A request without a token, with an
//! unknown one or with one of another role is refused (401 / gRPC `UNAUTHENTICATED`, or 403
//! / `PERMISSION_DENIED`) and changes nothing; the probes stay open.

use crate::common::{Server, encode, gauge_point, gauge_request, now_ns};
use bytes::Bytes;
use ironspider_ingest::source::grpc::{EXPORT_PATH, RawBytesCodec};
use std::time::{Duration, Instant};

const TOKENS: [(&str, &str); 4] = [
    ("IRONSPIDER_INGEST_TOKEN", "ingest-secret"),
    ("IRONSPIDER_READ_TOKEN", "read-secret"),
    ("IRONSPIDER_SCHEDULER_TOKEN", "scheduler-secret"),
    ("IRONSPIDER_ADMIN_TOKEN", "admin-secret"),
];

/// `GET path` on the HTTP API with `token` (none when empty): the status, the
/// `WWW-Authenticate` header and the body.
async fn get(server: &Server, path: &str, token: &str) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", server.http));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
    (status, challenge, response.text().await.unwrap())
}

async fn post(url: String, token: &str, body: Vec<u8>, content_type: &str) -> u16 {
    let mut request = reqwest::Client::new().post(url).header("content-type", content_type).body(body);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request sent").status().as_u16()
}

/// An OTLP/gRPC export of `body` with `token` in the metadata (none when empty).
async fn export_grpc(server: &Server, token: &str, body: Vec<u8>) -> Result<Bytes, tonic::Status> {
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", server.grpc)).unwrap().connect().await.unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(Bytes::from(body));
    if !token.is_empty() {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
    client.unary(request, path, RawBytesCodec).await.map(|r| r.into_inner())
}

/// The points of metric `name` the server holds, asked with the read token.
async fn points_of(server: &Server, name: &str) -> u64 {
    let query = format!("SELECT count(*) AS n FROM samples JOIN series USING (series_id) WHERE metric = '{name}'");
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/sql", server.http))
        .bearer_auth("read-secret")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    rows[0]["n"].as_u64().unwrap()
}

/// One sample of `/metrics`, asked with `token`; 0 when absent.
async fn metric(server: &Server, token: &str, sample: &str) -> f64 {
    let (_, _, text) = get(server, "/metrics", token).await;
    crate::common::sample_value(&text, sample)
}

async fn refusals(server: &Server, listener: &str, reason: &str) -> f64 {
    let sample = format!("ironspider_auth_refusals_total{{listener=\"{listener}\",reason=\"{reason}\"}}");
    metric(server, "admin-secret", &sample).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_refuses_requests_without_a_token_of_their_role() {
    let server = Server::start(&[], &TOKENS);

    // Probes stay open (kubelet sends no token); everything else needs its role.
    assert_eq!(get(&server, "/readyz", "").await.0, 200);
    assert_eq!(get(&server, "/healthz", "").await.0, 200);
    let (status, challenge, text) = get(&server, "/metrics", "").await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
    assert!(text.contains("role read"), "{text}");
    assert_eq!(get(&server, "/metrics", "not-a-token").await.0, 401);
    assert_eq!(get(&server, "/metrics", "ingest-secret").await.0, 403);
    assert_eq!(get(&server, "/metrics", "read-secret").await.0, 200);
    assert_eq!(get(&server, "/api/v1/nodes", "admin-secret").await.0, 200);

    // OTLP/HTTP: refused exports change nothing; the ingest token is let in.
    let body = || encode(&gauge_request("node-auth", "auth.http", vec![gauge_point(now_ns(), 1.0, vec![])]));
    let url = format!("http://{}/v1/metrics", server.otlp_http);
    assert_eq!(post(url.clone(), "", body(), "application/x-protobuf").await, 401);
    assert_eq!(post(url.clone(), "read-secret", body(), "application/x-protobuf").await, 403);
    assert_eq!(points_of(&server, "auth.http").await, 0);
    assert_eq!(post(url, "ingest-secret", body(), "application/x-protobuf").await, 200);
    assert_eq!(points_of(&server, "auth.http").await, 1);

    // OTLP/gRPC: UNAUTHENTICATED without a valid token, PERMISSION_DENIED with another role's.
    let body = || encode(&gauge_request("node-auth", "auth.grpc", vec![gauge_point(now_ns(), 2.0, vec![])]));
    assert_eq!(export_grpc(&server, "", body()).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(export_grpc(&server, "wrong", body()).await.unwrap_err().code(), tonic::Code::Unauthenticated);
    assert_eq!(
        export_grpc(&server, "scheduler-secret", body()).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(points_of(&server, "auth.grpc").await, 0);
    assert!(export_grpc(&server, "ingest-secret", body()).await.is_ok());
    assert_eq!(points_of(&server, "auth.grpc").await, 1);

    // Remote write needs ingest; bind needs scheduler (a read token may not bind).
    let write = format!("http://{}/api/v1/write", server.http);
    assert_eq!(post(write, "", vec![0; 8], "application/x-protobuf").await, 401);
    let bind = format!("http://{}/scheduler/bind", server.http);
    let binding = br#"{"PodName":"p","PodNamespace":"default","PodUID":"u","Node":"n"}"#.to_vec();
    assert_eq!(post(bind.clone(), "", binding.clone(), "application/json").await, 401);
    assert_eq!(post(bind.clone(), "read-secret", binding.clone(), "application/json").await, 403);
    assert_eq!(post(bind, "scheduler-secret", binding, "application/json").await, 200);

    assert_eq!(refusals(&server, "http", "missing").await, 3.0);
    assert_eq!(refusals(&server, "http", "unknown").await, 1.0);
    assert_eq!(refusals(&server, "http", "forbidden").await, 2.0);
    assert_eq!(refusals(&server, "otlp_http", "missing").await, 1.0);
    assert_eq!(refusals(&server, "otlp_http", "forbidden").await, 1.0);
    assert_eq!(refusals(&server, "otlp_grpc", "missing").await, 1.0);
    assert_eq!(refusals(&server, "otlp_grpc", "unknown").await, 1.0);
    assert_eq!(refusals(&server, "otlp_grpc", "forbidden").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_is_reread_when_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("read-tokens");
    std::fs::write(&file, "# read role\nold-token\n").unwrap();
    let env = [("IRONSPIDER_AUTH__TOKEN_FILES__READ", file.to_str().unwrap()), ("IRONSPIDER_TLS__RELOAD_SECONDS", "1")];
    let server = Server::start(&[], &env);
    assert_eq!(get(&server, "/api/v1/nodes", "old-token").await.0, 200);
    assert_eq!(get(&server, "/api/v1/nodes", "new-token").await.0, 401);
    std::fs::write(&file, "new-token\n").unwrap();
    let reloads = |outcome: &'static str| format!("ironspider_reloads_total{{outcome=\"{outcome}\",what=\"tokens\"}}");
    wait_for(|| async { metric(&server, "new-token", &reloads("ok")).await == 1.0 }).await;
    assert_eq!(get(&server, "/api/v1/nodes", "old-token").await.0, 401);
    // A change that does not load (no token left) keeps the tokens in force.
    std::fs::write(&file, "# emptied\n").unwrap();
    wait_for(|| async { metric(&server, "new-token", &reloads("failed")).await == 1.0 }).await;
    assert_eq!(get(&server, "/api/v1/nodes", "new-token").await.0, 200);
}

/// Polls `condition` every 100 ms for up to 20 s.
async fn wait_for<F: std::future::Future<Output = bool>>(condition: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(Instant::now() < deadline, "condition not met within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
