//! Slow uploads (issue 15): the HTTP receivers read a body before the request takes a
//! processing place, within `ingest.body_timeout_seconds`, so uploads that trickle in hold
//! reading slots only: exporters keep being served meanwhile, and the slow ones get 408.

use crate::common::{Server, encode, gauge_point, gauge_request, now_ns};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection to `addr` and sends a request of `path` whose declared body of 1,000
/// bytes never arrives past its first 10.
async fn trickle(addr: std::net::SocketAddr, path: &str, content_type: &str, extra: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n{extra}content-length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0u8; 10]).await.unwrap();
    stream
}

/// The status line of the answer on `stream`.
async fn status_line(stream: &mut TcpStream) -> String {
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(20), stream.read(&mut answer)).await.expect("an answer").unwrap();
    String::from_utf8_lossy(&answer[..n]).lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_uploads_hold_no_processing_place_and_time_out_with_408() {
    let env = [("IRONSPIDER_INGEST__MAX_INFLIGHT_REQUESTS", "2"), ("IRONSPIDER_INGEST__BODY_TIMEOUT_SECONDS", "3")];
    let server = Server::start(&[], &env);
    // Eight slow uploads, four times the processing places, on both HTTP receivers.
    let mut slow = Vec::new();
    for _ in 0..4 {
        slow.push(trickle(server.otlp_http, "/v1/metrics", "application/x-protobuf", "").await);
        let remote_write = "content-encoding: snappy\r\nx-prometheus-remote-write-version: 0.1.0\r\n";
        slow.push(trickle(server.http, "/api/v1/write", "application/x-protobuf", remote_write).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A well-behaved exporter is served meanwhile (before, it got 429 until the uploads ended).
    let body = encode(&gauge_request("node-slow", "slow.ok", vec![gauge_point(now_ns(), 1.0, vec![])]));
    let (status, _, _) = server.post_otlp("application/x-protobuf", &[], body).await;
    assert_eq!(status, 200);
    assert!(server.export_grpc(encode(&gauge_request("node-slow", "slow.grpc", vec![]))).await.is_ok());

    for stream in &mut slow {
        let line = status_line(stream).await;
        assert!(line.starts_with("HTTP/1.1 408"), "{line}");
    }
    let timed_out =
        |transport: &str| format!("ironspider_requests_total{{outcome=\"timed_out\",transport=\"{transport}\"}}");
    assert_eq!(server.metric(&timed_out("http")).await, 4.0);
    assert_eq!(server.metric(&timed_out("remote_write")).await, 4.0);
}
