//! `ironspider_alerts{alertname,node,resource,severity,alertstate}` on `/metrics`: 1 for
//! every pending or firing alert (`alertstate` `pending` or `firing`; `resource` empty for a
//! rule that names none), rendered from the published snapshot at scrape time, as
//! Prometheus's own `ALERTS` series is. Two rules of one name on one resource are refused
//! (`AlertsConfig::validate`), so no two samples share labels.

use super::{PublishedAlerts, State};
use crate::score_metrics::{desc, family, gauge, label};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use std::sync::Arc;

/// Renders the published alerts at scrape time.
pub struct AlertsCollector {
    published: Arc<PublishedAlerts>,
    alerts: Desc,
}

impl std::fmt::Debug for AlertsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertsCollector").finish_non_exhaustive()
    }
}

impl AlertsCollector {
    /// A collector of the snapshots published into `published`.
    pub fn new(published: Arc<PublishedAlerts>) -> Result<Self, prometheus::Error> {
        let alerts = desc(
            "ironspider_alerts",
            "1 for each pending or firing alert, by name, node, resource, severity and state.",
            &["alertname", "node", "resource", "severity", "alertstate"],
        )?;
        Ok(Self { published, alerts })
    }
}

impl Collector for AlertsCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.alerts]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.published.get();
        let samples: Vec<_> = snapshot
            .alerts
            .iter()
            .filter(|alert| alert.state != State::Resolved)
            .map(|alert| {
                let value = |name: &str| alert.labels.get(name).map_or("", String::as_str);
                let labels = vec![
                    label("alertname", alert.name()),
                    label("node", value("node")),
                    label("resource", value("resource")),
                    label("severity", value("severity")),
                    label("alertstate", alert.state.as_str()),
                ];
                gauge(labels, 1.0)
            })
            .collect();
        if samples.is_empty() { Vec::new() } else { vec![family(&self.alerts, samples)] }
    }
}
