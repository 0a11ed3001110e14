//! The front door of every listener (OTLP/gRPC, OTLP/HTTP, the HTTP API): a connection cap,
//! TLS with reloaded certificates and optional client certificates, HTTP header and idle
//! timeouts, and authorisation by role with bearer tokens or client certificates.
//!
//! [`FrontDoor`] is built once from `[tls]`, `[auth]` and `[connections]`; it makes a
//! [`Front`] of each bound listener and a [`Guarded`] layer for its routes. The loopback
//! defaults (no TLS, no token) keep every route open; a listener on another address without
//! TLS, or without any credential, logs a warning at start. docs/operations.md has the
//! set-up.

mod auth;
mod config;
mod conn;
mod layers;
mod reload;
mod tls;

pub use auth::{AuthError, Credentials, Guard, Peer, Refusal, Role};
pub use config::{AuthConfig, ConnectionsConfig, TlsConfig};
pub use conn::{Conn, ConnectionMetrics, DRAIN, Front, serve_http};
pub use layers::{Guarded, GuardedGrpc, Listener};
pub use tls::{Tls, TlsError};

use reload::Reloadable;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Resolves once `stopped` turns true (or its sender is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// What every listener shares.
pub struct FrontDoor {
    tls: Option<Arc<Tls>>,
    guard: Arc<Guard>,
    metrics: ConnectionMetrics,
    connections: ConnectionsConfig,
    tls_config: TlsConfig,
}

impl FrontDoor {
    /// Loads the certificate and the tokens and registers the metrics.
    pub fn new(
        tls: &TlsConfig,
        auth: &AuthConfig,
        connections: &ConnectionsConfig,
        registry: &prometheus::Registry,
    ) -> anyhow::Result<Self> {
        let loaded = Tls::load(tls)?;
        let guard = Arc::new(Guard::new(auth, tls.mutual(), registry)?);
        let metrics = ConnectionMetrics::new(registry)?;
        Ok(FrontDoor { tls: loaded, guard, metrics, connections: connections.clone(), tls_config: tls.clone() })
    }

    /// `tcp` as the front of `listener`, warning when it is reachable from other hosts
    /// without TLS or without credentials.
    pub fn front(&self, listener: Listener, tcp: TcpListener) -> std::io::Result<Front> {
        let addr = tcp.local_addr()?;
        if !addr.ip().is_loopback() {
            if self.tls.is_none() {
                tracing::warn!(listener = listener.name(), %addr, "listening beyond loopback without TLS: [tls] cert_file is not set");
            }
            if !self.guard.enabled() {
                tracing::warn!(listener = listener.name(), %addr, "listening beyond loopback without credentials: anyone who reaches it may send, read, bind and preempt ([auth])");
            }
        }
        let handshake = Duration::from_secs(self.tls_config.handshake_timeout_seconds);
        Ok(Front::new(listener.name(), tcp, self.tls.clone(), handshake, &self.connections, &self.metrics))
    }

    /// The guard layer of `listener`'s routes.
    pub fn guarded(&self, listener: Listener) -> Guarded {
        Guarded::new(Arc::clone(&self.guard), listener)
    }

    /// Reloads the certificate and the token files when they change, until `stopped`.
    pub fn watch_files(&self, stopped: watch::Receiver<bool>, registry: &prometheus::Registry) -> anyhow::Result<()> {
        let mut items = Vec::new();
        if let Some(tls) = &self.tls {
            let reloaded = Arc::clone(tls);
            let reload = Box::new(move || reloaded.reload().map_err(|error| error.to_string()));
            items.push(Reloadable { what: "tls", files: tls.files(), reload });
        }
        let guard = Arc::clone(&self.guard);
        let reload = Box::new(move || guard.reload().map_err(|error| error.to_string()));
        items.push(Reloadable { what: "tokens", files: self.guard.files(), reload });
        let period = Duration::from_secs(self.tls_config.reload_seconds.max(1));
        reload::watch_files(items, period, stopped, registry)?;
        Ok(())
    }
}
