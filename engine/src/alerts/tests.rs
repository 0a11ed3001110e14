//! Alerts through their evaluation: rules on snapshots, states over time, the wire shapes.

use super::*;
use crate::forecasts::{Forecast, NodeForecasts};
use ironspider_scores::NodeScore;

const S: i64 = 1_000_000_000;

fn scores(memory: f64, anomaly: f64) -> ScoresSnapshot {
    let node = NodeScore {
        node: "gpu-17".into(),
        memory: Some(memory),
        reported: true,
        anomalies: vec![("memory", anomaly)],
        ..NodeScore::default()
    };
    ScoresSnapshot { nodes: [("gpu-17".to_string(), node)].into(), ..ScoresSnapshot::default() }
}

fn forecasts(p90_at_900: f64) -> ForecastsSnapshot {
    let forecast =
        Forecast { resource: "memory", horizon_seconds: 900, p10: 0.5, p50: 0.8, p90: p90_at_900, issued_at: 0 };
    let node =
        NodeForecasts { node: "gpu-17".into(), forecasts: vec![forecast], anomalies: vec![], unavailable: [0; 4] };
    ForecastsSnapshot::new(0, "bank", vec![node])
}

fn config(rules: Vec<RuleConfig>) -> AlertsConfig {
    AlertsConfig { default_rules: false, rules, ..AlertsConfig::default() }
}

fn memory_full(for_seconds: u64) -> RuleConfig {
    RuleConfig {
        for_seconds,
        labels: [("team".to_string(), "infra".to_string())].into(),
        annotations: [("description".to_string(), "{resource} of {node} at {value}".to_string())].into(),
        ..RuleConfig::defaults().remove(0)
    }
}

#[test]
fn a_predictive_alert_goes_pending_firing_resolved_with_its_labels_and_annotations() {
    let alerts = Alerts::new(&config(vec![memory_full(60)]), 0.9).unwrap();
    let first = alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.97), 10 * S);
    let alert = &first.alerts[0];
    assert_eq!(alert.state, State::Pending);
    let labels: Vec<(&str, &str)> = alert.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        labels,
        [
            ("alertname", "NodeMemoryPredictedFull"),
            ("node", "gpu-17"),
            ("resource", "memory"),
            ("severity", "warning"),
            ("team", "infra")
        ]
    );
    assert_eq!(alert.annotations["description"], "memory of gpu-17 at 0.9700");
    assert_eq!(alert.annotations["expected_crossing"], "1970-01-01T00:15:00Z");
    assert_eq!(
        alert.annotations["summary"],
        "memory on gpu-17 is forecast (p90) to reach 0.95 within 1800 s (forecast 0.970)"
    );
    let generation = first.generation;
    assert_eq!(alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.97), 69 * S).generation, generation);
    let firing = alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.96), 70 * S);
    assert_eq!(
        (firing.alerts[0].state, firing.alerts[0].fired_at, firing.alerts[0].value),
        (State::Firing, Some(70 * S), 0.96)
    );
    assert!(firing.generation > generation);
    let resolved = alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.90), 80 * S);
    let alert = &resolved.alerts[0];
    assert_eq!((alert.state, alert.resolved_at, alert.value), (State::Resolved, Some(80 * S), 0.96));
}

#[test]
fn the_prometheus_api_lists_active_alerts_and_alertmanager_gets_firing_and_resolved() {
    let rules = vec![memory_full(0), RuleConfig { for_seconds: 600, ..RuleConfig::defaults().remove(2) }];
    let alerts = Alerts::new(&config(rules), 0.9).unwrap();
    let snapshot = alerts.evaluate(&scores(0.7, 0.95), &forecasts(0.97), 100 * S);
    let api = wire::prometheus_alerts(&snapshot);
    let states: Vec<(&str, &str, &str)> = api["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (a["labels"]["alertname"].as_str().unwrap(), a["state"].as_str().unwrap(), a["value"].as_str().unwrap())
        })
        .collect();
    assert_eq!(states, [("NodeMemoryPredictedFull", "firing", "0.97"), ("NodeAnomalous", "pending", "0.95")]);
    assert_eq!(api["status"], "success");
    assert_eq!(api["data"]["alerts"][0]["activeAt"], "1970-01-01T00:01:40Z");
    // Evaluated at 100 s with resends every 60 s: valid until 100 + 240 s = 340 s (00:05:40),
    // however late it is pushed.
    let pushed = wire::alertmanager_alerts(&snapshot, 60 * S, "http://h/api/v1/alerts");
    assert_eq!(pushed.as_array().unwrap().len(), 1, "the pending alert is not sent");
    assert_eq!(pushed[0]["startsAt"], "1970-01-01T00:01:40Z");
    assert_eq!(pushed[0]["endsAt"], "1970-01-01T00:05:40Z");
    assert_eq!(pushed[0]["generatorURL"], "http://h/api/v1/alerts");
    let resolved = alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.5), 200 * S);
    let pushed = wire::alertmanager_alerts(&resolved, 60 * S, "g");
    assert_eq!(pushed.as_array().unwrap().len(), 1);
    assert_eq!(pushed[0]["endsAt"], "1970-01-01T00:03:20Z", "ends when it resolved");
    assert_eq!(wire::prometheus_alerts(&resolved)["data"]["alerts"], serde_json::json!([]));
}

#[test]
fn the_collector_shows_each_active_alert_once_with_its_state() {
    let alerts = Alerts::new(&config(vec![memory_full(60)]), 0.9).unwrap();
    let collector = AlertsCollector::new(alerts.published()).unwrap();
    use prometheus::core::Collector;
    assert!(collector.collect().is_empty());
    alerts.evaluate(&scores(0.7, 0.0), &forecasts(0.97), 0);
    let families = collector.collect();
    let metric = &families[0].get_metric()[0];
    let labels: Vec<(&str, &str)> = metric.get_label().iter().map(|l| (l.name(), l.value())).collect();
    assert_eq!(
        labels,
        [
            ("alertname", "NodeMemoryPredictedFull"),
            ("node", "gpu-17"),
            ("resource", "memory"),
            ("severity", "warning"),
            ("alertstate", "pending")
        ]
    );
}

#[test]
fn a_configuration_with_a_bad_rule_is_refused_with_its_place() {
    let bad = RuleConfig { resource: Some("disk".into()), ..memory_full(0) };
    let error = Alerts::new(&config(vec![memory_full(0), bad]), 0.9).unwrap_err();
    assert!(matches!(error, AlertsConfigError::Rule(RuleError { index: 1, .. })), "{error}");
    let twice = Alerts::new(&AlertsConfig { rules: vec![memory_full(0)], ..AlertsConfig::default() }, 0.9);
    assert_eq!(
        twice.unwrap_err().to_string(),
        "alerts.rules: two rules named \"NodeMemoryPredictedFull\" watch the same resource; their alerts could not be told apart"
    );
    let with_defaults =
        AlertsConfig { rules: vec![RuleConfig { threshold: Some(0.0), ..memory_full(0) }], ..AlertsConfig::default() };
    let error = Alerts::new(&with_defaults, 0.9).unwrap_err().to_string();
    assert_eq!(error, "alerts.rules[0] (\"NodeMemoryPredictedFull\"): threshold 0 is not in (0, 1]");
    let url = AlertsConfig { alertmanager: Some("localhost:9093".into()), ..AlertsConfig::default() };
    assert_eq!(
        Alerts::new(&url, 0.9).unwrap_err().to_string(),
        "alerts.alertmanager = \"localhost:9093\": an http:// or https:// URL"
    );
}
