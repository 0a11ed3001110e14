//! Alerting rules: the `[alerts]` table's rules, checked at start, and what each says of a
//! node in one evaluation.
//!
//! ## Kinds and their conditions (per node, at one evaluation)
//!
//! | kind | active when | value |
//! |---|---|---|
//! | `predictive` | the forecast `quantile` of `resource` at some horizon `h ≤ within_seconds` is ≥ `threshold`; the first such horizon gives the expected crossing, `issued_at + h` | that quantile |
//! | `threshold` | `resource`'s utilisation (pressure) in the node's newest window is ≥ `threshold` (the reactive rule, for comparison) | the utilisation |
//! | `anomaly` | the node reported in the newest window, and the anomaly score of `resource` (of any resource when none is named) in its newest forecasting step is ≥ `threshold` (default `[engine.anomaly] threshold`) | the score |
//! | `peer_outlier` | the modified z-score of `resource` (of any, when none is named) among the node's peers (`ironspider_scores::peers`) is ≥ `threshold` in absolute value (default 3.5, Iglewicz & Hoaglin's cut-off) | the z-score |
//! | `stale` | the node's health has its full `stale` penalty: no data for `[engine.scores.health] stale_windows` windows | the penalty (100) |
//! | `gpu_errors` | the node's health lists XID or uncorrectable ECC errors in its newest window | 1 |
//!
//! An active condition becomes an alert by the state machine of [`super::state`]: pending,
//! then firing once active for `for_seconds`, then resolved.

use crate::forecasts::{ForecastsSnapshot, RESOURCES};
use ironspider_scores::{NODE_QUANTITIES, NodeScore, rfc3339};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A forecast quantile crossing a threshold within a horizon.
    Predictive,
    /// The newest window's value over a threshold.
    Threshold,
    /// An anomaly score over a threshold.
    Anomaly,
    /// A node unlike the nodes of its shape.
    PeerOutlier,
    /// Telemetry stopped.
    Stale,
    /// GPU XID or uncorrectable ECC errors.
    GpuErrors,
}

/// Which forecast quantile a predictive rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantile {
    /// 10th percentile.
    P10,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
}

/// One rule of `[[alerts.rules]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The alert's name (label `alertname`).
    pub name: String,
    /// What it watches.
    pub kind: Kind,
    /// One of `cpu`, `memory`, `gpu`, `gpu_memory`, `pressure` (required by `predictive` and
    /// `threshold`; optional for `anomaly`, where none means any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The forecast quantile of a `predictive` rule (default p90).
    #[serde(default = "default_quantile")]
    pub quantile: Quantile,
    /// The level: a utilisation in (0, 1] for `predictive` and `threshold`, a score in (0, 1]
    /// for `anomaly` (default `[engine.anomaly] threshold`), a positive z-score for
    /// `peer_outlier` (default 3.5); unused by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// How far ahead a `predictive` rule looks, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_seconds: Option<u64>,
    /// How long the condition must hold before the alert fires (default 0: at once).
    #[serde(default)]
    pub for_seconds: u64,
    /// Label `severity` (default `warning`).
    #[serde(default = "default_severity")]
    pub severity: String,
    /// More labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// More annotations; `{node}`, `{resource}` and `{value}` are replaced.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Quantile {
    /// Its name in the configuration (`p90`).
    pub fn as_str(self) -> &'static str {
        match self {
            Quantile::P10 => "p10",
            Quantile::P50 => "p50",
            Quantile::P90 => "p90",
        }
    }
}

/// Whether `name` is a Prometheus label name, `[a-zA-Z_][a-zA-Z0-9_]*` (Alertmanager refuses
/// a push with any other).
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn default_quantile() -> Quantile {
    Quantile::P90
}

fn default_severity() -> String {
    "warning".to_string()
}

/// A rule the configuration cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("alerts.rules[{index}] ({name:?}): {problem}")]
pub struct RuleError {
    /// Its position in the file's `[[alerts.rules]]`.
    pub index: usize,
    /// Its name.
    pub name: String,
    /// What is wrong.
    pub problem: String,
}

impl RuleConfig {
    fn new(name: &str, kind: Kind, severity: &str) -> Self {
        Self {
            name: name.to_string(),
            kind,
            resource: None,
            quantile: Quantile::P90,
            threshold: None,
            within_seconds: None,
            for_seconds: 0,
            severity: severity.to_string(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// The rules on by default (`alerts.default_rules`): memory or CPU forecast (p90) at
    /// 0.95 or more within 30 minutes, a node anomalous in its newest step, stale telemetry,
    /// GPU errors.
    pub fn defaults() -> Vec<RuleConfig> {
        let predictive = |name: &str, resource: &str| RuleConfig {
            resource: Some(resource.to_string()),
            threshold: Some(0.95),
            within_seconds: Some(1800),
            ..RuleConfig::new(name, Kind::Predictive, "warning")
        };
        vec![
            predictive("NodeMemoryPredictedFull", "memory"),
            predictive("NodeCpuPredictedSaturated", "cpu"),
            // No `for`: a score holds for one forecasting step (5 minutes), and the default
            // detector scores a new behaviour once, so a `for` of a step would rarely be met.
            RuleConfig::new("NodeAnomalous", Kind::Anomaly, "info"),
            RuleConfig::new("NodeTelemetryStale", Kind::Stale, "warning"),
            RuleConfig::new("NodeGpuErrors", Kind::GpuErrors, "critical"),
        ]
    }

    /// Refuses a rule with an unknown resource, a missing or out-of-range threshold or
    /// horizon, or an empty name or severity; `index` names it.
    pub fn validate(&self, index: usize) -> Result<(), RuleError> {
        let fail = |problem: String| Err(RuleError { index, name: self.name.clone(), problem });
        if self.name.trim().is_empty() || self.severity.trim().is_empty() {
            return fail("name and severity may not be empty".to_string());
        }
        if let Some(resource) = &self.resource
            && !RESOURCES.contains(&resource.as_str())
        {
            return fail(format!("unknown resource {resource:?}; one of {}", RESOURCES.join(", ")));
        }
        let needs_resource = matches!(self.kind, Kind::Predictive | Kind::Threshold);
        if needs_resource && self.resource.is_none() {
            return fail("a resource is required (one of cpu, memory, gpu, gpu_memory, pressure)".to_string());
        }
        let needs_threshold = needs_resource;
        match self.threshold {
            None if needs_threshold => return fail("a threshold is required".to_string()),
            Some(t) if self.kind == Kind::PeerOutlier && !(t > 0.0 && t.is_finite()) => {
                return fail(format!("threshold {t} is not a positive z-score"));
            }
            Some(t) if self.kind != Kind::PeerOutlier && !(t > 0.0 && t <= 1.0) => {
                return fail(format!("threshold {t} is not in (0, 1]"));
            }
            _ => {}
        }
        if self.kind == Kind::Predictive && self.within_seconds.is_none_or(|w| w == 0) {
            return fail("within_seconds is required and positive for a predictive rule".to_string());
        }
        let names = self.labels.keys().chain(self.annotations.keys());
        if let Some(bad) = names.into_iter().find(|name| !is_label_name(name)) {
            return fail(format!("{bad:?} is not a label or annotation name ([a-zA-Z_][a-zA-Z0-9_]*)"));
        }
        Ok(())
    }
}

/// What a rule found active on a node at one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The value the rule compared (`value` in the API).
    pub value: f64,
    /// Annotations this evaluation adds (the expected crossing of a predictive rule).
    pub annotations: BTreeMap<String, String>,
}

/// What one evaluation reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// A node's scores.
    pub score: &'a NodeScore,
    /// Every node's forecasts.
    pub forecasts: &'a ForecastsSnapshot,
    /// The anomaly threshold of `[engine.anomaly]`, for rules without one.
    pub anomaly_threshold: f64,
}

/// The rule's condition on one node, when active.
pub fn condition(rule: &RuleConfig, inputs: Inputs<'_>) -> Option<Condition> {
    let plain = |value: f64| Some(Condition { value, annotations: BTreeMap::new() });
    let score = inputs.score;
    match rule.kind {
        Kind::Predictive => predictive(rule, inputs),
        Kind::Threshold => {
            // The resource's quantity as the newest window's row shows it (none for a node
            // that did not report in it).
            let resource = rule.resource.as_deref()?;
            let value = NODE_QUANTITIES.iter().find(|q| q.name == resource)?.in_window(score)?;
            (value >= rule.threshold?).then(|| plain(value))?
        }
        Kind::Anomaly if !score.reported => None,
        Kind::Anomaly => {
            let threshold = rule.threshold.unwrap_or(inputs.anomaly_threshold);
            let wanted = rule.resource.as_deref();
            let scores = score.anomalies.iter().filter(|(r, _)| wanted.is_none_or(|w| w == *r));
            let highest = scores.map(|(_, s)| *s).reduce(f64::max)?;
            (highest >= threshold).then(|| plain(highest))?
        }
        Kind::PeerOutlier => {
            let threshold = rule.threshold.unwrap_or(ironspider_scores::peers::OUTLIER);
            let wanted = rule.resource.as_deref();
            let deviations = score.peer_deviation.iter().filter(|(r, _)| wanted.is_none_or(|w| w == *r));
            let finite = deviations.map(|(_, m)| *m).filter(|m| m.is_finite());
            let farthest = finite.max_by(|a, b| a.abs().total_cmp(&b.abs()))?;
            (farthest.abs() >= threshold).then(|| plain(farthest))?
        }
        Kind::Stale => {
            let stale = score.factors.iter().find(|f| f.factor == "stale")?;
            (stale.penalty >= 100.0).then(|| plain(stale.penalty))?
        }
        Kind::GpuErrors => {
            let errors = score.factors.iter().any(|f| matches!(f.factor, "gpu_xid_errors" | "gpu_ecc_errors"));
            errors.then(|| plain(1.0))?
        }
    }
}

/// The predictive condition: the first horizon within reach whose quantile crosses.
fn predictive(rule: &RuleConfig, inputs: Inputs<'_>) -> Option<Condition> {
    let (resource, threshold, within) = (rule.resource.as_deref()?, rule.threshold?, rule.within_seconds?);
    let node = inputs.forecasts.node(&inputs.score.node)?;
    let mut reach: Vec<_> =
        node.forecasts.iter().filter(|f| f.resource == resource && f.horizon_seconds <= within).collect();
    reach.sort_by_key(|f| f.horizon_seconds);
    let quantile = |f: &crate::forecasts::Forecast| match rule.quantile {
        Quantile::P10 => f.p10,
        Quantile::P50 => f.p50,
        Quantile::P90 => f.p90,
    };
    let crossing = reach.into_iter().find(|f| quantile(f) >= threshold)?;
    let at = crossing.issued_at.saturating_add((crossing.horizon_seconds as i64).saturating_mul(1_000_000_000));
    let annotations = BTreeMap::from([
        ("expected_crossing".to_string(), rfc3339(at)),
        ("horizon_seconds".to_string(), crossing.horizon_seconds.to_string()),
    ]);
    Some(Condition { value: quantile(crossing), annotations })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecasts::{Forecast, NodeForecasts};
    use ironspider_scores::health::Factor;

    fn rule(kind: Kind) -> RuleConfig {
        RuleConfig::new("R", kind, "warning")
    }

    fn forecast(horizon_seconds: u64, p90: f64) -> Forecast {
        Forecast {
            resource: "memory",
            horizon_seconds,
            p10: p90 - 0.2,
            p50: p90 - 0.1,
            p90,
            issued_at: 1_000_000_000_000,
        }
    }

    #[test]
    fn a_predictive_rule_fires_on_the_first_horizon_within_reach_that_crosses() {
        let node = NodeScore { node: "n".into(), ..NodeScore::default() };
        let forecasts = ForecastsSnapshot::new(
            0,
            "bank",
            vec![NodeForecasts {
                node: "n".into(),
                forecasts: vec![forecast(300, 0.90), forecast(900, 0.96), forecast(3600, 0.99)],
                anomalies: vec![],
                unavailable: [0; 4],
            }],
        );
        let inputs = Inputs { score: &node, forecasts: &forecasts, anomaly_threshold: 0.9 };
        let mut memory = RuleConfig {
            resource: Some("memory".into()),
            threshold: Some(0.95),
            within_seconds: Some(1800),
            ..rule(Kind::Predictive)
        };
        let found = condition(&memory, inputs).expect("900 s crosses");
        assert_eq!(found.value, 0.96);
        // Issued at 1,000 s, crossing at 1,000 + 900 s = 1970-01-01T00:31:40Z.
        assert_eq!(found.annotations["expected_crossing"], "1970-01-01T00:31:40Z");
        memory.within_seconds = Some(600);
        assert_eq!(condition(&memory, inputs), None, "the 900 s horizon is out of reach");
        memory.within_seconds = Some(1800);
        memory.quantile = Quantile::P50;
        assert_eq!(condition(&memory, inputs), None, "the median (0.86) does not cross");
    }

    #[test]
    fn anomaly_threshold_stale_and_gpu_rules_read_the_scores() {
        let forecasts = ForecastsSnapshot::default();
        let node = NodeScore {
            node: "n".into(),
            cpu: Some(0.92),
            reported: true,
            anomalies: vec![("cpu", 0.5), ("memory", 0.97)],
            factors: vec![Factor { factor: "gpu_xid_errors", penalty: 40.0, detail: String::new() }],
            ..NodeScore::default()
        };
        let inputs = Inputs { score: &node, forecasts: &forecasts, anomaly_threshold: 0.95 };
        assert_eq!(condition(&rule(Kind::Anomaly), inputs).map(|c| c.value), Some(0.97));
        let cpu_only = RuleConfig { resource: Some("cpu".into()), ..rule(Kind::Anomaly) };
        assert_eq!(condition(&cpu_only, inputs), None);
        let hot = RuleConfig { resource: Some("cpu".into()), threshold: Some(0.9), ..rule(Kind::Threshold) };
        assert_eq!(condition(&hot, inputs).map(|c| c.value), Some(0.92));
        assert_eq!(condition(&rule(Kind::GpuErrors), inputs).map(|c| c.value), Some(1.0));
        assert_eq!(condition(&rule(Kind::Stale), inputs), None);
        let odd = NodeScore { peer_deviation: vec![("cpu", 1.0), ("memory", -4.0)], ..node.clone() };
        let peers = Inputs { score: &odd, ..inputs };
        assert_eq!(condition(&rule(Kind::PeerOutlier), peers).map(|c| c.value), Some(-4.0), "3.5 by default");
        let strict = RuleConfig { threshold: Some(5.0), ..rule(Kind::PeerOutlier) };
        assert_eq!(condition(&strict, peers), None);
        assert!(RuleConfig { threshold: Some(0.0), ..strict }.validate(0).is_err());
        let silent = NodeScore {
            factors: vec![Factor { factor: "stale", penalty: 100.0, detail: String::new() }],
            ..node.clone()
        };
        let inputs = Inputs { score: &silent, ..inputs };
        assert_eq!(condition(&rule(Kind::Stale), inputs).map(|c| c.value), Some(100.0));
    }

    #[test]
    fn bad_rules_are_refused_with_their_name_and_place() {
        let unknown = RuleConfig { resource: Some("disk".into()), ..rule(Kind::Anomaly) };
        assert_eq!(
            unknown.validate(2).unwrap_err().to_string(),
            "alerts.rules[2] (\"R\"): unknown resource \"disk\"; one of cpu, memory, gpu, gpu_memory, pressure"
        );
        let over = RuleConfig {
            resource: Some("memory".into()),
            threshold: Some(1.5),
            within_seconds: Some(60),
            ..rule(Kind::Predictive)
        };
        assert_eq!(over.validate(0).unwrap_err().problem, "threshold 1.5 is not in (0, 1]");
        let nan = RuleConfig { threshold: Some(f64::NAN), ..over.clone() };
        assert!(nan.validate(0).is_err());
        let no_reach = RuleConfig { threshold: Some(0.9), within_seconds: None, ..over.clone() };
        assert!(no_reach.validate(0).unwrap_err().problem.contains("within_seconds"));
        let label = RuleConfig { threshold: Some(0.9), labels: [("team-a".into(), "x".into())].into(), ..over };
        assert!(label.validate(0).unwrap_err().problem.contains("\"team-a\" is not a label"));
        for (i, default) in RuleConfig::defaults().iter().enumerate() {
            assert_eq!(default.validate(i), Ok(()));
        }
    }
}
