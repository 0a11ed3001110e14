//! The settings of the front door every listener shares: `[tls]`, `[auth]` and
//! `[connections]`. Every key has a default that keeps the README's first command working
//! on loopback: no TLS, no tokens, generous timeouts.

use super::auth::Role;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[tls]`: one certificate for all three listeners (OTLP/gRPC, OTLP/HTTP, the HTTP API).
/// TLS is on when `cert_file` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first (empty: plain TCP).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the leaf certificate.
    pub key_file: PathBuf,
    /// PEM bundle of the CAs whose client certificates are accepted (mutual TLS); empty: no
    /// client certificates are asked for. A client certificate that does not chain to one of
    /// them ends the handshake.
    pub client_ca_file: PathBuf,
    /// With a client CA: refuse clients that present no certificate at all (default false:
    /// such clients may still authenticate with a bearer token).
    pub require_client_cert: bool,
    /// How often the files are checked for change (cert-manager rotates them in place); a
    /// changed set that fails to load is logged and the previous one kept.
    pub reload_seconds: u64,
    /// A TLS handshake that has not finished by then is dropped.
    pub handshake_timeout_seconds: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client_ca_file: PathBuf::new(),
            require_client_cert: false,
            reload_seconds: 10,
            handshake_timeout_seconds: 10,
        }
    }
}

impl TlsConfig {
    /// Whether the listeners speak TLS.
    pub fn enabled(&self) -> bool {
        !self.cert_file.as_os_str().is_empty()
    }

    /// Whether client certificates are asked for.
    pub fn mutual(&self) -> bool {
        !self.client_ca_file.as_os_str().is_empty()
    }
}

/// `[auth]`: bearer tokens by role, and the roles a verified client certificate carries.
/// Authorisation is on as soon as one token source exists (a file here, or an
/// `IRONSPIDER_<ROLE>_TOKEN` variable) or `[tls] client_ca_file` is set; from then on every
/// route but `/healthz` and `/readyz` needs a credential of its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A file of tokens per role, one token per line (blank lines and `#` comments are
    /// skipped; several lines let a token be rotated without a gap). Re-read on change at
    /// `[tls] reload_seconds`.
    pub token_files: BTreeMap<Role, PathBuf>,
    /// The roles of a client that presents a certificate verified against
    /// `[tls] client_ca_file` (kube-scheduler's extender client cannot send tokens).
    pub client_cert_roles: Vec<Role>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { token_files: BTreeMap::new(), client_cert_roles: vec![Role::Scheduler] }
    }
}

/// `[connections]`: what every listener allows one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// Open connections per listener; past it a new connection is closed at once (counted
    /// in `ironspider_connections_refused_total`). Each node's exporter holds one (gRPC keeps
    /// its channel open), so the default leaves room for 10,000 nodes; the process's
    /// file-descriptor limit must allow three times this.
    pub max_per_listener: usize,
    /// HTTP/1: a request's head must arrive within this time of the connection being ready
    /// for it (slowloris).
    pub header_timeout_seconds: u64,
    /// A connection on which no byte moved for this long is closed (in-flight requests are
    /// answered first).
    pub idle_timeout_seconds: u64,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self { max_per_listener: 10_000, header_timeout_seconds: 10, idle_timeout_seconds: 120 }
    }
}

impl ConnectionsConfig {
    /// Refuses settings that would refuse every connection or never time out.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.max_per_listener > 0,
            "connections.max_per_listener = 0: every connection would be refused"
        );
        anyhow::ensure!(
            self.header_timeout_seconds > 0,
            "connections.header_timeout_seconds = 0: no request could arrive"
        );
        anyhow::ensure!(
            self.idle_timeout_seconds > 0,
            "connections.idle_timeout_seconds = 0: every connection would close at once"
        );
        Ok(())
    }
}
