//! Accepting connections: the cap, the TLS handshake, the idle timeout, and serving HTTP.
//!
//! A [`Front`] owns one bound TCP listener. Its accept loop refuses a connection past
//! `[connections] max_per_listener` open ones (closed at once, so the client fails fast and
//! retries rather than waiting in the kernel's backlog), runs each TLS handshake on its own
//! task within `[tls] handshake_timeout_seconds` (a client that stalls its handshake holds
//! neither the loop nor any other client), and hands over [`Conn`]s. A `Conn` ends with
//! `TimedOut` once no byte has moved either way for `[connections] idle_timeout_seconds`,
//! which also ends a client that stops reading its answer. [`serve_http`] serves an axum
//! router on them with hyper (HTTP/1 with a header timeout, HTTP/2 with keepalive);
//! tonic serves gRPC on them through [`Connected`].
//!
//! Metrics: `ironspider_connections_open{listener}`,
//! `ironspider_connections_refused_total{listener, reason}` (reason `limit` or `tls`).

use super::auth::Peer;
use super::config::ConnectionsConfig;
use super::stop_requested;
use super::tls::Tls;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::Connected;
use tower::ServiceExt;

/// How long open connections may take to finish their requests once the server stops.
pub const DRAIN: Duration = Duration::from_secs(5);

/// The connection metrics, registered once and shared by every front.
#[derive(Clone)]
pub struct ConnectionMetrics {
    open: IntGaugeVec,
    refused: IntCounterVec,
}

impl ConnectionMetrics {
    /// Registers the metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let open = IntGaugeVec::new(
            Opts::new("ironspider_connections_open", "Open connections, by listener."),
            &["listener"],
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "ironspider_connections_refused_total",
                "Connections closed before serving, by listener and reason (limit: past \
                 connections.max_per_listener; tls: a failed or timed-out handshake).",
            ),
            &["listener", "reason"],
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(refused.clone()))?;
        Ok(ConnectionMetrics { open, refused })
    }
}

/// One listener with its TLS and limits.
pub struct Front {
    name: &'static str,
    listener: TcpListener,
    tls: Option<Arc<Tls>>,
    handshake_timeout: Duration,
    limits: ConnectionsConfig,
    slots: Arc<Semaphore>,
    metrics: ConnectionMetrics,
}

impl Front {
    /// A front named `name` (the `listener` label) on a bound listener.
    pub fn new(
        name: &'static str,
        listener: TcpListener,
        tls: Option<Arc<Tls>>,
        handshake_timeout: Duration,
        limits: &ConnectionsConfig,
        metrics: &ConnectionMetrics,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(limits.max_per_listener));
        Front { name, listener, tls, handshake_timeout, limits: limits.clone(), slots, metrics: metrics.clone() }
    }

    /// The listener's address.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `stopped` turns true; the receiver yields the connections that got a
    /// slot and passed their handshake, and ends once the loop and every pending handshake
    /// have ended.
    pub fn accept(self, stopped: watch::Receiver<bool>) -> mpsc::Receiver<Conn> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(self.accept_loop(tx, stopped));
        rx
    }

    async fn accept_loop(self, tx: mpsc::Sender<Conn>, mut stopped: watch::Receiver<bool>) {
        let refused = |reason: &str| self.metrics.refused.with_label_values(&[self.name, reason]).inc();
        loop {
            let stream = tokio::select! {
                () = stop_requested(&mut stopped) => return,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(listener = self.name, %error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
                refused("limit");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let slot = Slot::new(permit, self.metrics.open.with_label_values(&[self.name]));
            let idle = Duration::from_secs(self.limits.idle_timeout_seconds);
            let Some(tls) = &self.tls else {
                let _ = tx.send(Conn::new(Io::Plain(stream), Peer::default(), slot, idle)).await;
                continue;
            };
            let (acceptor, tx, timeout) = (tls.acceptor(), tx.clone(), self.handshake_timeout);
            let (metrics, name) = (self.metrics.refused.clone(), self.name);
            tokio::spawn(async move {
                match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let peer = Peer { client_cert: stream.get_ref().1.peer_certificates().is_some() };
                        let _ = tx.send(Conn::new(Io::Tls(Box::new(stream)), peer, slot, idle)).await;
                    }
                    Ok(Err(error)) => {
                        tracing::debug!(listener = name, %error, "TLS handshake failed");
                        metrics.with_label_values(&[name, "tls"]).inc();
                    }
                    Err(_) => metrics.with_label_values(&[name, "tls"]).inc(),
                }
            });
        }
    }
}

/// A connection's place under the cap: the permit and the open-connections gauge.
struct Slot {
    _permit: OwnedSemaphorePermit,
    open: prometheus::IntGauge,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, open: prometheus::IntGauge) -> Self {
        open.inc();
        Slot { _permit: permit, open }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.dec();
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// An accepted connection: plain or TLS, with what its handshake proved, its slot under the
/// cap and its idle deadline.
pub struct Conn {
    io: Io,
    peer: Peer,
    _slot: Slot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Conn {
    fn new(io: Io, peer: Peer, slot: Slot, idle: Duration) -> Self {
        Conn { io, peer, _slot: slot, idle, deadline: Box::pin(tokio::time::sleep(idle)) }
    }

    /// What the handshake proved.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    /// Called when the socket is not ready: an error once the idle deadline has passed.
    fn idle_or_pending<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.touch();
                Poll::Ready(Ok(()))
            }
            Poll::Pending => this.idle_or_pending(cx),
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = match &mut this.io {
            Io::Plain(stream) => Pin::new(stream).poll_write(cx, data),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, data),
        };
        match polled {
            Poll::Ready(Ok(n)) if n > 0 => {
                this.touch();
                Poll::Ready(Ok(n))
            }
            Poll::Pending => this.idle_or_pending(cx),
            other => other,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Io::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer
    }
}

/// Serves `router` on every connection of `front` until `stopped`; then stops accepting,
/// lets open connections finish their requests for up to [`DRAIN`], and drops the rest.
pub async fn serve_http(front: Front, router: Router, stopped: watch::Receiver<bool>) {
    let header_timeout = Duration::from_secs(front.limits.header_timeout_seconds);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(100);
    let builder = Arc::new(builder);
    let mut conns = front.accept(stopped.clone());
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(conn) = conns.recv().await {
        tasks.spawn(serve_connection(Arc::clone(&builder), conn, router.clone(), stopped.clone()));
        while tasks.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} }).await;
}

async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    conn: Conn,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    let peer = conn.peer();
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        request.extensions_mut().insert(peer);
        router.clone().oneshot(request)
    });
    let connection = builder.serve_connection(TokioIo::new(conn), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = stop_requested(&mut stopped) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
}
