//! The alerts on the wire.
//!
//! - [`prometheus_alerts`]: the Prometheus HTTP API's `GET /api/v1/alerts` body,
//!   `{"status":"success","data":{"alerts":[{"labels","annotations","state","activeAt","value"}]}}`
//!   with the pending and firing alerts (`state` `pending` or `firing`, `activeAt` RFC 3339,
//!   `value` a string, as Prometheus writes them), so that Grafana's Prometheus data source
//!   lists them.
//! - [`alertmanager_alerts`]: Alertmanager's `POST /api/v2/alerts` body, an array of
//!   `{"labels","annotations","startsAt","endsAt","generatorURL"}` as Prometheus sends it:
//!   a firing alert with `startsAt` its firing time and `endsAt = evaluated + 4 · resend`
//!   (so that Alertmanager resolves it by itself if the evaluations stop, as Prometheus's
//!   `ValidUntil` does — a notifier resending a stale snapshot does not keep it alive), a
//!   resolved one with `endsAt` its resolution time. Pending alerts are not sent.

use super::{AlertsSnapshot, State};
use ironspider_scores::rfc3339;
use serde_json::{Value, json};

/// `GET /api/v1/alerts` (module doc).
pub fn prometheus_alerts(snapshot: &AlertsSnapshot) -> Value {
    let alerts: Vec<Value> = snapshot
        .alerts
        .iter()
        .filter(|alert| alert.state != State::Resolved)
        .map(|alert| {
            json!({
                "labels": alert.labels,
                "annotations": alert.annotations,
                "state": alert.state.as_str(),
                "activeAt": rfc3339(alert.active_at),
                "value": prometheus_value(alert.value),
            })
        })
        .collect();
    json!({ "status": "success", "data": { "alerts": alerts } })
}

/// A value as a decimal string, `NaN`, `+Inf` or `-Inf` (Prometheus writes Go's `%e` form,
/// `9.7e-01`; a client parses either).
fn prometheus_value(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".to_string(),
        v if v == f64::INFINITY => "+Inf".to_string(),
        v if v == f64::NEG_INFINITY => "-Inf".to_string(),
        v => format!("{v}"),
    }
}

/// `POST /api/v2/alerts` (module doc): the firing and resolved alerts of `snapshot`, pushed
/// every `resend_ns`; `generator` is the URL each alert links back to.
pub fn alertmanager_alerts(snapshot: &AlertsSnapshot, resend_ns: i64, generator: &str) -> Value {
    let valid_until = snapshot.evaluated_at.saturating_add(resend_ns.saturating_mul(4));
    let alerts: Vec<Value> = snapshot
        .alerts
        .iter()
        .filter_map(|alert| {
            let (starts, ends) = match alert.state {
                State::Pending => return None,
                State::Firing => (alert.fired_at.unwrap_or(alert.active_at), valid_until),
                State::Resolved => {
                    (alert.fired_at.unwrap_or(alert.active_at), alert.resolved_at.unwrap_or(snapshot.evaluated_at))
                }
            };
            Some(json!({
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(starts),
                "endsAt": rfc3339(ends),
                "generatorURL": generator,
            }))
        })
        .collect();
    Value::Array(alerts)
}
