//! The whole configuration: one TOML file, every key defaulted, `IRONSPIDER_*` environment
//! overrides (`IRONSPIDER_ENGINE__WINDOW_SECONDS=5` sets `[engine] window_seconds`), and
//! command-line flags on top.

use crate::listen::{AuthConfig, ConnectionsConfig, TlsConfig};
use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ironspider_engine::EngineConfig;
use ironspider_engine::alerts::AlertsConfig;
use ironspider_ingest::IngestConfig;
use ironspider_scheduler::config::SchedulerConfig;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

/// The HTTP API: `/metrics`, `/healthz`, `/readyz`, `/api/v1/...`, `/scheduler/...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address (default `127.0.0.1:9464`).
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 9464)) }
    }
}

/// Everything `ironspider serve` reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Receivers and request limits.
    pub ingest: IngestConfig,
    /// Windows, retention, series limit, history.
    pub engine: EngineConfig,
    /// The HTTP API.
    pub http: HttpConfig,
    /// The kube-scheduler extender (`/scheduler/...`).
    pub scheduler: SchedulerConfig,
    /// TLS on every listener (off by default).
    pub tls: TlsConfig,
    /// Bearer tokens and client certificates by role (none by default: every route open).
    pub auth: AuthConfig,
    /// Connection cap and timeouts of every listener.
    pub connections: ConnectionsConfig,
    /// Alerting rules and where alerts are pushed (`[alerts]`, `[[alerts.rules]]`).
    pub alerts: AlertsConfig,
}

impl Config {
    /// Defaults, then the TOML file (when given), then `IRONSPIDER_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            anyhow::ensure!(file.is_file(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        // Only table-scoped variables (`IRONSPIDER_<TABLE>__<KEY>`) are configuration; others
        // that share the prefix (a test's `IRONSPIDER_BIN`, say) are not ours to refuse.
        figment = figment.merge(Env::prefixed("IRONSPIDER_").filter(|key| key.as_str().contains("__")).split("__"));
        figment.extract().context("invalid configuration")
    }

    /// Refuses settings no part can run with. Called once the configuration is complete
    /// (defaults, the file, `IRONSPIDER_*` variables and the command line's flags), so that a
    /// value is judged the same whichever layer set it.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.ingest.validate()?;
        self.engine.validate()?;
        self.scheduler.validate()?;
        self.connections.validate()?;
        self.alerts.validate()?;
        Ok(())
    }

    /// The default configuration as TOML.
    pub fn default_toml() -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(&Config::default())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_parses_back_to_the_default() {
        let text = Config::default_toml().unwrap();
        let parsed: Config = toml::from_str(&text).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_file_overrides_defaults_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ironspider.toml");
        std::fs::write(&file, "[engine]\nwindow_seconds = 5\n").unwrap();
        let config = Config::load(Some(&file)).unwrap();
        assert_eq!(config.engine.window_seconds, 5);
        assert_eq!(config.engine.lateness_seconds, 30);
        std::fs::write(&file, "[engine]\nwindow_secs = 5\n").unwrap();
        let error = format!("{:#}", Config::load(Some(&file)).unwrap_err());
        assert!(error.contains("window_secs"), "{error}");
    }

    #[test]
    fn each_part_refuses_what_it_cannot_run_with() {
        let mut config = Config::default();
        assert!(config.validate().is_ok());
        config.ingest.max_inflight_requests = 0;
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(error, "ingest.max_inflight_requests = 0: every request would be refused; the limit is at least 1");
        let mut config = Config::default();
        config.scheduler.weights.headroom = -1.0;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "scheduler.weights.headroom = -1: a weight is 0 or more"
        );
    }
}
