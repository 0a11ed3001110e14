//! Connection limits of every listener (issue 15): a cap on open connections (past it a new
//! one is closed at once, and counted), an HTTP/1 header timeout against slowloris, and an
//! idle timeout that closes connections on which nothing moves.

use crate::common::Server;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes the connection; the bytes read. Fails past 30 s.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return all,
            Ok(Ok(n)) => all.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("connection still open after 30 s"),
        }
    }
}

async fn get_readyz(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("GET /readyz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_a_connection_is_closed_at_once_and_slots_come_back() {
    let server = Server::start(&[], &[("IRONSPIDER_CONNECTIONS__MAX_PER_LISTENER", "4")]);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(server.http).await.unwrap());
    }
    // Once the four have been accepted, a fifth gets no answer: it is closed at once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_readyz(server.http).await.is_ok_and(|line| line.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "the fifth connection was never refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_readyz(server.http).await.ok().as_deref() != Some("HTTP/1.1 200 OK") {
        assert!(Instant::now() < deadline, "no slot came back after the held connections closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.metric("ironspider_connections_refused_total{listener=\"http\",reason=\"limit\"}").await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_that_never_ends_and_an_idle_connection_are_closed() {
    let env = [
        ("IRONSPIDER_CONNECTIONS__HEADER_TIMEOUT_SECONDS", "2"),
        ("IRONSPIDER_CONNECTIONS__IDLE_TIMEOUT_SECONDS", "3"),
    ];
    let server = Server::start(&[], &env);
    // Slowloris: half a request head, then nothing.
    let mut slow = TcpStream::connect(server.otlp_http).await.unwrap();
    slow.write_all(b"POST /v1/metrics HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let started = Instant::now();
    until_closed(&mut slow).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "closed before the header timeout");

    // An HTTP/2 connection (no header timeout there) that opens and then sends nothing.
    let mut idle = TcpStream::connect(server.http).await.unwrap();
    idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0").await.unwrap();
    let started = Instant::now();
    let answer = until_closed(&mut idle).await;
    assert_eq!(answer.get(3), Some(&4), "the server's first frame is its SETTINGS");
    assert!(started.elapsed() >= Duration::from_secs(2), "closed before the idle timeout");

    // The server keeps serving.
    assert_eq!(get_readyz(server.http).await.unwrap(), "HTTP/1.1 200 OK");
}
