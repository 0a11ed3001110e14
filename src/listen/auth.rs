//! Who may call what. Four roles: `ingest` (OTLP export, remote write), `read` (`/metrics`,
//! `/api/v1/...`, the gRPC scores API), `scheduler` (`/scheduler/...`, which binds and
//! preempts) and `admin`, which holds the other three.
//!
//! A request proves a role with `Authorization: Bearer <token>`, a token of that role (or of
//! `admin`), or by a client certificate verified at the TLS handshake, whose roles are
//! `[auth] client_cert_roles`. Tokens are kept only as SHA-256 digests; the presented
//! token's digest is compared with every stored digest in constant time (`subtle`), and the
//! comparisons are all made, so neither the length of a stored token nor which one matched
//! shows in the time an answer takes.
//!
//! Authorisation is off (everything allowed) while there is no credential at all: no token
//! and no client CA, the loopback default. Refusals: no credential, or a token that matches
//! none, is 401 (gRPC `UNAUTHENTICATED`); a known credential without the role is 403
//! (`PERMISSION_DENIED`). Each is counted in `ironspider_auth_refusals_total{listener,
//! reason}` and the request goes no further.

use super::config::AuthConfig;
use http::HeaderMap;
use parking_lot::RwLock;
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::{Choice, ConstantTimeEq};

/// A set of rights a credential may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sends telemetry: OTLP over gRPC and HTTP, Prometheus remote write.
    Ingest,
    /// Reads scores, forecasts, SQL and `/metrics`.
    Read,
    /// kube-scheduler: filter, prioritize, bind, preempt.
    Scheduler,
    /// Every role.
    Admin,
}

impl Role {
    /// Every role, in the order the documentation lists them.
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Read, Role::Scheduler, Role::Admin];

    /// The role's name in configuration and messages.
    pub fn name(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Read => "read",
            Role::Scheduler => "scheduler",
            Role::Admin => "admin",
        }
    }

    /// The environment variable that may hold one token of this role
    /// (`IRONSPIDER_INGEST_TOKEN`, ...).
    pub fn env_var(self) -> String {
        format!("IRONSPIDER_{}_TOKEN", self.name().to_ascii_uppercase())
    }

    /// Whether a credential of this role may do what `needed` may.
    fn grants(self, needed: Role) -> bool {
        self == Role::Admin || self == needed
    }
}

/// What a connection proved at its TLS handshake; every request on it carries this in its
/// extensions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peer {
    /// The client presented a certificate that chains to `[tls] client_ca_file`.
    pub client_cert: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token and no client certificate (401).
    Missing,
    /// A bearer token that matches no stored token, or a malformed `Authorization` (401).
    Unknown,
    /// A valid credential that does not carry the role the route needs (403).
    Forbidden,
}

impl Refusal {
    /// The `reason` label of `ironspider_auth_refusals_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Unknown => "unknown",
            Refusal::Forbidden => "forbidden",
        }
    }

    /// The answer's text.
    pub fn message(self, needed: Role) -> String {
        match self {
            Refusal::Missing => {
                format!("this route needs a bearer token or client certificate of role {}", needed.name())
            }
            Refusal::Unknown => "the bearer token matches no token of this server".to_string(),
            Refusal::Forbidden => format!("the credential does not carry role {}", needed.name()),
        }
    }
}

/// A token source that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A token file is missing or unreadable.
    #[error("cannot read the {role} token file {path}: {source}")]
    Read {
        /// The role of the file.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A token file holds no token (an empty file would lock its role out silently).
    #[error("the {role} token file {path} holds no token")]
    Empty {
        /// The role of the file.
        role: &'static str,
        /// The file.
        path: PathBuf,
    },
}

type Digest = [u8; 32];

fn sha256(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The credentials in force: token digests with their roles, and client certificates'.
#[derive(Debug, Default)]
pub struct Credentials {
    tokens: Vec<(Digest, Role)>,
    cert_roles: Vec<Role>,
    enabled: bool,
}

impl Credentials {
    /// Reads every token source of `config` (`env` looks up an environment variable);
    /// `mutual` tells whether client certificates are verified.
    pub fn load(config: &AuthConfig, mutual: bool, env: impl Fn(&str) -> Option<String>) -> Result<Self, AuthError> {
        let mut tokens = Vec::new();
        for (&role, path) in &config.token_files {
            tokens.extend(read_token_file(role, path)?.iter().map(|token| (sha256(token.as_bytes()), role)));
        }
        for role in Role::ALL {
            if let Some(token) = env(&role.env_var()).map(|value| value.trim().to_string()).filter(|t| !t.is_empty()) {
                tokens.push((sha256(token.as_bytes()), role));
            }
        }
        let enabled = !tokens.is_empty() || mutual;
        let cert_roles = if mutual { config.client_cert_roles.clone() } else { Vec::new() };
        Ok(Credentials { tokens, cert_roles, enabled })
    }

    /// Whether any credential exists (otherwise every request is allowed).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Allows or refuses a request needing `needed`, given its headers and its connection.
    pub fn check(&self, headers: &HeaderMap, peer: Peer, needed: Role) -> Result<(), Refusal> {
        if !self.enabled || (peer.client_cert && self.cert_roles.iter().any(|role| role.grants(needed))) {
            return Ok(());
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(if peer.client_cert { Refusal::Forbidden } else { Refusal::Missing });
        };
        let Some(token) = bearer(value.as_bytes()) else { return Err(Refusal::Unknown) };
        let presented = sha256(token);
        let (mut known, mut granted) = (Choice::from(0), Choice::from(0));
        for (stored, role) in &self.tokens {
            let matches = stored.ct_eq(&presented);
            known |= matches;
            granted |= matches & Choice::from(u8::from(role.grants(needed)));
        }
        match (bool::from(granted), bool::from(known)) {
            (true, _) => Ok(()),
            (false, true) => Err(Refusal::Forbidden),
            (false, false) => Err(Refusal::Unknown),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (the scheme is case-insensitive,
/// RFC 6750 §2.1).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    let token = token.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

/// The tokens of a token file: one per line, blank lines and `#` comments skipped.
fn read_token_file(role: Role, path: &Path) -> Result<Vec<String>, AuthError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
        role: role.name(),
        path: path.to_path_buf(),
        source,
    })?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return Err(AuthError::Empty { role: role.name(), path: path.to_path_buf() });
    }
    Ok(tokens)
}

/// The credentials every listener checks, swapped whole when a token file changes.
pub struct Guard {
    config: AuthConfig,
    mutual: bool,
    current: RwLock<Arc<Credentials>>,
    refusals: prometheus::IntCounterVec,
}

impl Guard {
    /// Loads the credentials of `config` and the process environment, and registers
    /// `ironspider_auth_refusals_total`.
    pub fn new(config: &AuthConfig, mutual: bool, registry: &prometheus::Registry) -> anyhow::Result<Self> {
        let credentials = Credentials::load(config, mutual, |key| std::env::var(key).ok())?;
        let refusals = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "ironspider_auth_refusals_total",
                "Requests refused for their credentials, by listener and reason (missing, unknown, forbidden).",
            ),
            &["listener", "reason"],
        )?;
        registry.register(Box::new(refusals.clone()))?;
        Ok(Guard { config: config.clone(), mutual, current: RwLock::new(Arc::new(credentials)), refusals })
    }

    /// Whether any credential exists.
    pub fn enabled(&self) -> bool {
        self.current.read().enabled()
    }

    /// The token files, for the reloader to watch.
    pub fn files(&self) -> Vec<PathBuf> {
        self.config.token_files.values().cloned().collect()
    }

    /// Reads the token sources again; on failure the credentials in force stay.
    pub fn reload(&self) -> Result<(), AuthError> {
        let credentials = Credentials::load(&self.config, self.mutual, |key| std::env::var(key).ok())?;
        *self.current.write() = Arc::new(credentials);
        Ok(())
    }

    /// [`Credentials::check`] with the credentials in force; a refusal is counted under
    /// `listener`.
    pub fn check(&self, listener: &str, headers: &HeaderMap, peer: Peer, needed: Role) -> Result<(), Refusal> {
        let credentials = Arc::clone(&self.current.read());
        credentials.check(headers, peer, needed).inspect_err(|refusal| {
            self.refusals.with_label_values(&[listener, refusal.reason()]).inc();
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn credentials(tokens: &[(&str, Role)], mutual: bool) -> Credentials {
        let dir = tempfile::tempdir().unwrap();
        let mut token_files = BTreeMap::new();
        for (i, (token, role)) in tokens.iter().enumerate() {
            let path = dir.path().join(format!("token{i}"));
            std::fs::write(&path, format!("# {}\n\n{token}\n", role.name())).unwrap();
            token_files.insert(*role, path);
        }
        let config = AuthConfig { token_files, ..AuthConfig::default() };
        Credentials::load(&config, mutual, |_| None).unwrap()
    }

    fn with_token(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    const PLAIN: Peer = Peer { client_cert: false };

    #[test]
    fn no_credentials_allow_everything() {
        let open = credentials(&[], false);
        assert!(!open.enabled());
        assert_eq!(open.check(&HeaderMap::new(), PLAIN, Role::Scheduler), Ok(()));
    }

    #[test]
    fn a_token_grants_its_role_and_admin_grants_all() {
        let creds = credentials(&[("in-1", Role::Ingest), ("ad-1", Role::Admin)], false);
        assert_eq!(creds.check(&with_token("in-1"), PLAIN, Role::Ingest), Ok(()));
        assert_eq!(creds.check(&with_token("in-1"), PLAIN, Role::Scheduler), Err(Refusal::Forbidden));
        for role in Role::ALL {
            assert_eq!(creds.check(&with_token("ad-1"), PLAIN, role), Ok(()));
        }
        assert_eq!(creds.check(&with_token("in-2"), PLAIN, Role::Ingest), Err(Refusal::Unknown));
        assert_eq!(creds.check(&with_token("in-"), PLAIN, Role::Ingest), Err(Refusal::Unknown));
        assert_eq!(creds.check(&HeaderMap::new(), PLAIN, Role::Read), Err(Refusal::Missing));
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_other_schemes_are_unknown() {
        let creds = credentials(&[("t0k", Role::Read)], false);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, "bEaReR t0k".parse().unwrap());
        assert_eq!(creds.check(&headers, PLAIN, Role::Read), Ok(()));
        headers.insert(http::header::AUTHORIZATION, "Basic dDBrOg==".parse().unwrap());
        assert_eq!(creds.check(&headers, PLAIN, Role::Read), Err(Refusal::Unknown));
        headers.insert(http::header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(creds.check(&headers, PLAIN, Role::Read), Err(Refusal::Unknown));
    }

    #[test]
    fn a_verified_client_certificate_carries_the_configured_roles() {
        let creds = credentials(&[], true);
        assert!(creds.enabled(), "a client CA alone turns authorisation on");
        let cert = Peer { client_cert: true };
        assert_eq!(creds.check(&HeaderMap::new(), cert, Role::Scheduler), Ok(()));
        assert_eq!(creds.check(&HeaderMap::new(), cert, Role::Ingest), Err(Refusal::Forbidden));
        assert_eq!(creds.check(&HeaderMap::new(), PLAIN, Role::Scheduler), Err(Refusal::Missing));
    }

    #[test]
    fn environment_tokens_count_and_empty_files_are_refused() {
        let config = AuthConfig::default();
        let creds = Credentials::load(&config, false, |key| (key == "IRONSPIDER_READ_TOKEN").then(|| " r3ad\n".into()))
            .unwrap();
        assert_eq!(creds.check(&with_token("r3ad"), PLAIN, Role::Read), Ok(()));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, "# nothing yet\n").unwrap();
        let config = AuthConfig { token_files: BTreeMap::from([(Role::Ingest, path)]), ..AuthConfig::default() };
        let error = Credentials::load(&config, false, |_| None).unwrap_err().to_string();
        assert!(error.contains("ingest token file") && error.ends_with("holds no token"), "{error}");
    }
}
