//! TLS for every listener: rustls (with ring's primitives) from PEM files, reloaded when
//! they change.
//!
//! One `ServerConfig` is built from `[tls] cert_file`, `key_file` and, for mutual TLS,
//! `client_ca_file`; each new connection takes the config in force when it arrives, so a
//! reload (cert-manager rewriting the secret) reaches new connections at once and leaves
//! open ones alone. A set of files that fails to load (a half-written rotation) is logged
//! and the previous config kept. ALPN offers `h2` and `http/1.1`: gRPC clients need `h2`.

use super::config::TlsConfig;
use parking_lot::RwLock;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the TLS files could not be turned into a server config.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing or unreadable.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM object of the kind needed, or a malformed one.
    #[error("{path} holds no valid {what}: {detail}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// A certificate, a private key.
        what: &'static str,
        /// What the PEM parser said.
        detail: String,
    },
    /// `cert_file` without `key_file`, or the reverse.
    #[error("[tls] needs both cert_file and key_file")]
    Incomplete,
    /// rustls refused the set (a key that does not match the certificate, say).
    #[error("rustls refused the TLS files: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA bundle could not make a verifier.
    #[error("the client CA in {path} cannot verify clients: {detail}")]
    ClientCa {
        /// The bundle.
        path: PathBuf,
        /// Why.
        detail: String,
    },
}

/// The TLS config in force, swapped whole on reload.
pub struct Tls {
    config: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    /// Builds the server config of `config`; `None` when TLS is off.
    pub fn load(config: &TlsConfig) -> Result<Option<Arc<Tls>>, TlsError> {
        if !config.enabled() {
            return if config.key_file.as_os_str().is_empty() { Ok(None) } else { Err(TlsError::Incomplete) };
        }
        let server = server_config(config)?;
        Ok(Some(Arc::new(Tls { config: config.clone(), current: RwLock::new(Arc::new(server)) })))
    }

    /// An acceptor with the config in force.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.current.read()))
    }

    /// The files, for the reloader to watch.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.config.cert_file.clone(), self.config.key_file.clone()];
        if self.config.mutual() {
            files.push(self.config.client_ca_file.clone());
        }
        files
    }

    /// Reads the files again; on failure the config in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let server = server_config(&self.config)?;
        *self.current.write() = Arc::new(server);
        Ok(())
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |detail: String| TlsError::Pem { path: path.to_path_buf(), what: "certificate", detail };
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(error.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE block".to_string()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|error| TlsError::Pem {
        path: path.to_path_buf(),
        what: "private key",
        detail: error.to_string(),
    })
}

/// The rustls server config of `config` (TLS 1.2 and 1.3, ring's cipher suites).
fn server_config(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    if config.key_file.as_os_str().is_empty() {
        return Err(TlsError::Incomplete);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let builder = if config.mutual() {
        let path = &config.client_ca_file;
        let mut roots = rustls::RootCertStore::empty();
        for ca in certificates(path)? {
            roots.add(ca)?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if config.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
        let verifier =
            verifier.build().map_err(|error| TlsError::ClientCa { path: path.clone(), detail: error.to_string() })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut server = builder.with_single_cert(certificates(&config.cert_file)?, private_key(&config.key_file)?)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}
