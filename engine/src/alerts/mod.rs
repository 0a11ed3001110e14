//! Alerts: rules with state over the engine's scores, forecasts and anomaly scores, as
//! Prometheus's alerting rules are — evaluated at every tick of the caller (`serve` runs
//! one at each window close check), each rule on every node.
//!
//! **In:** the `[alerts]` table ([`AlertsConfig`]: the default rules of
//! [`RuleConfig::defaults`] unless `default_rules = false`, then the file's
//! `[[alerts.rules]]`), checked at start ([`Alerts::new`] refuses a rule it cannot run).
//! **Inside:** per rule and node, the condition of [`rules`] and the state machine of
//! [`state`] (pending → firing after `for_seconds` → resolved). **Out:** an immutable
//! [`AlertsSnapshot`] replaced whole after each evaluation; [`wire`] renders it as the
//! Prometheus HTTP API's `GET /api/v1/alerts` and as Alertmanager's `POST /api/v2/alerts`
//! body, and [`AlertsCollector`] as
//! `ironspider_alerts{alertname,node,resource,severity,alertstate}`.
//!
//! Labels of an alert: `alertname` (the rule's name), `node`, `severity`, `resource` (when
//! the rule names one), then the rule's `labels`. Annotations: `summary` (what the rule saw,
//! in words), the rule's `annotations` with `{node}`, `{resource}` and `{value}` replaced,
//! and what the condition adds (a predictive rule's `expected_crossing`, RFC 3339, and
//! `horizon_seconds`).

mod metrics;
pub mod rules;
pub mod state;
pub mod wire;

pub use metrics::AlertsCollector;
pub use rules::{Kind, Quantile, RuleConfig, RuleError};
pub use state::{RESOLVED_RETENTION_NS, State};

use crate::forecasts::ForecastsSnapshot;
use ironspider_scores::{Published, ScoresSnapshot};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `[alerts]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate the default rules ([`RuleConfig::defaults`]) besides `rules` (default true).
    pub default_rules: bool,
    /// The file's rules (`[[alerts.rules]]`).
    pub rules: Vec<RuleConfig>,
    /// Alertmanager's base URL (`http://host:9093`); alerts are pushed to its
    /// `/api/v2/alerts` when set (default none; `serve --alertmanager URL` sets it too).
    pub alertmanager: Option<String>,
    /// Seconds between pushes of unchanged alerts (default 60, Prometheus's
    /// `--rules.alert.resend-delay`); a change is pushed at once.
    pub resend_seconds: u64,
    /// The URL people reach this server's API at, for the alerts' `generatorURL` (default
    /// none: the HTTP API's listen address, `https://` with TLS on), as Prometheus's
    /// `--web.external-url`.
    pub external_url: Option<String>,
}

/// An `[alerts]` setting the server cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertsConfigError {
    /// A rule (named, with its place).
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// Two rules would make alerts of the same labels (named).
    #[error("alerts.rules: two rules named {0:?} watch the same resource; their alerts could not be told apart")]
    Duplicate(String),
    /// A setting of the table (named, with what it must be).
    #[error("alerts.{0}")]
    Setting(String),
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self { default_rules: true, rules: Vec::new(), alertmanager: None, resend_seconds: 60, external_url: None }
    }
}

impl AlertsConfig {
    /// Every rule evaluated: the defaults (when on), then the file's.
    pub fn all_rules(&self) -> Vec<RuleConfig> {
        let defaults = if self.default_rules { RuleConfig::defaults() } else { Vec::new() };
        defaults.into_iter().chain(self.rules.iter().cloned()).collect()
    }

    /// Refuses a rule it cannot run (naming it), two rules of one name on one resource, a
    /// resend period of 0, or an Alertmanager or external URL that is not `http://` or
    /// `https://`.
    pub fn validate(&self) -> Result<(), AlertsConfigError> {
        for (index, rule) in self.rules.iter().enumerate() {
            rule.validate(index)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for rule in self.all_rules() {
            if !seen.insert((rule.name.clone(), rule.resource.clone())) {
                return Err(AlertsConfigError::Duplicate(rule.name));
            }
        }
        if self.resend_seconds == 0 {
            return Err(AlertsConfigError::Setting("resend_seconds = 0: pushes would never pause".to_string()));
        }
        let urls = [("alertmanager", &self.alertmanager), ("external_url", &self.external_url)];
        for (key, url) in urls.into_iter().filter_map(|(key, url)| Some((key, url.as_ref()?))) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(AlertsConfigError::Setting(format!("{key} = {url:?}: an http:// or https:// URL")));
            }
        }
        Ok(())
    }
}

/// One alert as published.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its labels (module doc), sorted by name.
    pub labels: BTreeMap<String, String>,
    /// Its annotations (module doc).
    pub annotations: BTreeMap<String, String>,
    /// Where it is.
    pub state: State,
    /// When its condition was first seen (ns since the epoch).
    pub active_at: i64,
    /// When it fired.
    pub fired_at: Option<i64>,
    /// When it resolved.
    pub resolved_at: Option<i64>,
    /// The value its condition compared, at the newest evaluation it held.
    pub value: f64,
}

impl Alert {
    /// Its `alertname`.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }
}

/// Every alert after an evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertsSnapshot {
    /// When it was evaluated (ns since the epoch).
    pub evaluated_at: i64,
    /// Bumped at every evaluation that changed an alert's state, so that a notifier knows
    /// to push at once.
    pub generation: u64,
    /// Pending and firing alerts by rule and node, then resolved ones kept for notifiers.
    pub alerts: Vec<Alert>,
}

/// The newest alerts, shared by the evaluator and its readers.
pub type PublishedAlerts = Published<AlertsSnapshot>;

/// The rules, their alerts' state and the published snapshot.
#[derive(Debug)]
pub struct Alerts {
    rules: Vec<RuleConfig>,
    anomaly_threshold: f64,
    state: Mutex<Evaluated>,
    published: Arc<PublishedAlerts>,
}

#[derive(Debug, Default)]
struct Evaluated {
    lives: state::Lives,
    /// The newest condition of each active alert.
    conditions: BTreeMap<(usize, String), rules::Condition>,
    generation: u64,
}

impl Alerts {
    /// The rules of `config` (refused when one cannot run), anomaly rules without a
    /// threshold using `anomaly_threshold`.
    pub fn new(config: &AlertsConfig, anomaly_threshold: f64) -> Result<Self, AlertsConfigError> {
        config.validate()?;
        Ok(Self { rules: config.all_rules(), anomaly_threshold, state: Mutex::default(), published: Arc::default() })
    }

    /// The rules evaluated, defaults first.
    pub fn rules(&self) -> &[RuleConfig] {
        &self.rules
    }

    /// The published snapshot, for readers.
    pub fn published(&self) -> Arc<PublishedAlerts> {
        Arc::clone(&self.published)
    }

    /// The newest alerts; never waits for an evaluation.
    pub fn snapshot(&self) -> Arc<AlertsSnapshot> {
        self.published.get()
    }

    /// Evaluates every rule on every node of `scores` at `now` (ns) and publishes the
    /// alerts; returns the snapshot.
    pub fn evaluate(&self, scores: &ScoresSnapshot, forecasts: &ForecastsSnapshot, now: i64) -> Arc<AlertsSnapshot> {
        let mut state = self.state.lock();
        let mut found = BTreeMap::new();
        for score in scores.nodes.values() {
            let inputs = rules::Inputs { score, forecasts, anomaly_threshold: self.anomaly_threshold };
            for (index, rule) in self.rules.iter().enumerate() {
                if let Some(condition) = rules::condition(rule, inputs) {
                    found.insert((index, score.node.clone()), condition);
                }
            }
        }
        let holding: Vec<(usize, String)> = found.keys().cloned().collect();
        let for_ns = |index: usize| {
            let seconds = self.rules.get(index).map_or(0, |rule| rule.for_seconds);
            i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1_000_000_000)
        };
        if state.lives.evaluate(now, &holding, for_ns) {
            state.generation += 1;
        }
        // A resolved alert keeps the condition it had when it last held.
        let mut conditions = std::mem::take(&mut state.conditions);
        let alive: std::collections::BTreeSet<&(usize, String)> = state.lives.all().map(|(key, _)| key).collect();
        conditions.retain(|key, _| alive.contains(key));
        conditions.extend(found);
        state.conditions = conditions;
        let alerts = state.lives.all().filter_map(|(key, life)| self.alert(key, life, state.conditions.get(key)));
        let snapshot = AlertsSnapshot { evaluated_at: now, generation: state.generation, alerts: alerts.collect() };
        self.published.set(snapshot);
        self.published.get()
    }

    /// The published form of one alert.
    fn alert(
        &self,
        (index, node): &(usize, String),
        life: &state::Life,
        condition: Option<&rules::Condition>,
    ) -> Option<Alert> {
        let rule = self.rules.get(*index)?;
        let value = condition.map_or(f64::NAN, |c| c.value);
        let mut labels = BTreeMap::from([
            ("alertname".to_string(), rule.name.clone()),
            ("node".to_string(), node.clone()),
            ("severity".to_string(), rule.severity.clone()),
        ]);
        if let Some(resource) = &rule.resource {
            labels.insert("resource".to_string(), resource.clone());
        }
        for (name, text) in &rule.labels {
            labels.entry(name.clone()).or_insert_with(|| text.clone());
        }
        let resource = rule.resource.as_deref().unwrap_or("any resource");
        let fill = |text: &str| {
            text.replace("{node}", node).replace("{resource}", resource).replace("{value}", &format!("{value:.4}"))
        };
        let mut annotations = BTreeMap::from([("summary".to_string(), summary(rule, node, resource, value))]);
        annotations.extend(rule.annotations.iter().map(|(name, text)| (name.clone(), fill(text))));
        annotations.extend(condition.into_iter().flat_map(|c| c.annotations.clone()));
        Some(Alert {
            labels,
            annotations,
            state: life.state,
            active_at: life.active_at,
            fired_at: life.fired_at,
            resolved_at: life.resolved_at,
            value,
        })
    }
}

/// What the rule saw, in words.
fn summary(rule: &RuleConfig, node: &str, resource: &str, value: f64) -> String {
    let threshold = rule.threshold.map_or(String::new(), |t| format!("{t}"));
    match rule.kind {
        Kind::Predictive => format!(
            "{resource} on {node} is forecast ({}) to reach {threshold} within {} s (forecast {value:.3})",
            rule.quantile.as_str(),
            rule.within_seconds.unwrap_or(0)
        ),
        Kind::Threshold => format!("{resource} on {node} is at {value:.3} (threshold {threshold})"),
        Kind::Anomaly => format!("{resource} on {node} behaves unlike itself (anomaly score {value:.3})"),
        Kind::PeerOutlier => format!("{resource} on {node} is unlike its peers' (modified z-score {value:.2})"),
        Kind::Stale => format!("{node} has sent no telemetry for its stale windows"),
        Kind::GpuErrors => format!("{node} reports GPU XID or uncorrectable ECC errors"),
    }
}

#[cfg(test)]
mod tests;
