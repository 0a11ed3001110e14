//! Live forecasts on `/metrics`.
//!
//! Rendered from the published snapshot at scrape time ([`ForecastsCollector`], like the
//! node scores' collector):
//!
//! - `ironspider_node_forecast{node,resource,horizon,quantile}`: the forecast
//!   `horizon` seconds (`"300"`) after its `issued_at`, at `quantile` `"0.1"`, `"0.5"` or
//!   `"0.9"`; three samples per node, resource and horizon with a forecast;
//! - `ironspider_forecasts_unavailable{reason}`: how many (node, resource, horizon) have no
//!   forecast, by reason (`warming_up`, `calibrating`, `not_finite`, `no_data`).
//!
//! Counted as steps complete ([`ForecastMetrics`]): values refused
//! (`ironspider_forecast_values_refused_total{reason}`: `not_finite`, `repeated_step`),
//! resets (`ironspider_forecast_resets_total{reason}`: `long_gap`, `backwards`), steps
//! forward-filled (`ironspider_forecast_filled_steps_total`), values fed
//! (`ironspider_forecast_values_total`), trackers held (`ironspider_forecast_trackers`) and
//! the seconds the last step's update took (`ironspider_forecast_update_seconds`).

use super::StepCounts;
use super::snapshot::{PublishedForecasts, UNAVAILABLE_REASONS};
use crate::score_metrics::{desc, family, gauge, label};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::sync::Arc;

/// The quantiles' labels, in the order p10, p50, p90.
const QUANTILES: [&str; 3] = ["0.1", "0.5", "0.9"];

/// Renders the published forecasts at scrape time.
pub struct ForecastsCollector {
    published: Arc<PublishedForecasts>,
    forecast: Desc,
    unavailable: Desc,
}

impl std::fmt::Debug for ForecastsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForecastsCollector").finish_non_exhaustive()
    }
}

impl ForecastsCollector {
    /// A collector of the snapshots published into `published`.
    pub fn new(published: Arc<PublishedForecasts>) -> Result<Self, prometheus::Error> {
        let forecast = desc(
            "ironspider_node_forecast",
            "Forecast of a node's utilisation or pressure `horizon` seconds after the step it was made from.",
            &["node", "resource", "horizon", "quantile"],
        )?;
        let unavailable = desc(
            "ironspider_forecasts_unavailable",
            "Node, resource and horizon combinations without a forecast, by reason.",
            &["reason"],
        )?;
        Ok(Self { published, forecast, unavailable })
    }
}

impl Collector for ForecastsCollector {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.forecast, &self.unavailable]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.published.get();
        let mut samples = Vec::with_capacity(3 * snapshot.len());
        for row in snapshot.rows() {
            let horizon = row.horizon_seconds.to_string();
            for (quantile, value) in QUANTILES.iter().zip([row.p10, row.p50, row.p90]) {
                let labels = vec![
                    label("node", row.node),
                    label("resource", row.resource),
                    label("horizon", &horizon),
                    label("quantile", quantile),
                ];
                samples.push(gauge(labels, value));
            }
        }
        let unavailable = UNAVAILABLE_REASONS
            .iter()
            .zip(snapshot.unavailable)
            .map(|(reason, n)| gauge(vec![label("reason", reason)], n as f64))
            .collect();
        let mut families = vec![family(&self.unavailable, unavailable)];
        if !samples.is_empty() {
            families.insert(0, family(&self.forecast, samples));
        }
        families
    }
}

/// Counters and gauges of what the trackers took, refused and hold.
#[derive(Debug, Clone)]
pub struct ForecastMetrics {
    fed: IntCounter,
    filled: IntCounter,
    refused: [IntCounter; 2],
    resets: [IntCounter; 2],
    trackers: IntGauge,
    update_seconds: Gauge,
    /// Global model fits: `fitted`, `too_little_history`.
    global_fits: [IntCounter; 2],
    global_series: IntGauge,
}

impl ForecastMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let refused = IntCounterVec::new(
            Opts::new("ironspider_forecast_values_refused_total", "Step values a forecaster refused, by reason."),
            &["reason"],
        )?;
        let resets = IntCounterVec::new(
            Opts::new("ironspider_forecast_resets_total", "Forecasters started fresh, by reason."),
            &["reason"],
        )?;
        let fits = IntCounterVec::new(
            Opts::new(
                "ironspider_forecast_global_fits_total",
                "Fits of the global model from the node_steps history, by outcome.",
            ),
            &["outcome"],
        )?;
        let metrics = Self {
            fed: IntCounter::new("ironspider_forecast_values_total", "Step values fed to forecasters.")?,
            filled: IntCounter::new(
                "ironspider_forecast_filled_steps_total",
                "Missing steps forward-filled with a series' last value.",
            )?,
            refused: [refused.with_label_values(&["not_finite"]), refused.with_label_values(&["repeated_step"])],
            resets: [resets.with_label_values(&["long_gap"]), resets.with_label_values(&["backwards"])],
            trackers: IntGauge::new("ironspider_forecast_trackers", "Forecasters held (node and resource).")?,
            update_seconds: Gauge::new(
                "ironspider_forecast_update_seconds",
                "Seconds the newest completed step's forecaster update took.",
            )?,
            global_fits: [fits.with_label_values(&["fitted"]), fits.with_label_values(&["too_little_history"])],
            global_series: IntGauge::new(
                "ironspider_forecast_global_series",
                "Node-resource series the global model in use was fitted on (0: none fitted).",
            )?,
        };
        registry.register(Box::new(fits))?;
        registry.register(Box::new(metrics.global_series.clone()))?;
        registry.register(Box::new(refused))?;
        registry.register(Box::new(resets))?;
        registry.register(Box::new(metrics.fed.clone()))?;
        registry.register(Box::new(metrics.filled.clone()))?;
        registry.register(Box::new(metrics.trackers.clone()))?;
        registry.register(Box::new(metrics.update_seconds.clone()))?;
        Ok(metrics)
    }

    /// Counts one fit of the global model: on `series` series when it was fitted.
    pub(super) fn record_fit(&self, fitted_on: Option<usize>) {
        match fitted_on {
            Some(series) => {
                self.global_fits[0].inc();
                self.global_series.set(series as i64);
            }
            None => self.global_fits[1].inc(),
        }
    }

    /// Counts one completed step.
    pub(super) fn record_step(&self, counts: &StepCounts, trackers: usize, seconds: f64) {
        self.fed.inc_by(counts.fed);
        self.filled.inc_by(counts.filled);
        for (counter, n) in self.refused.iter().zip(counts.refused).chain(self.resets.iter().zip(counts.resets)) {
            counter.inc_by(n);
        }
        self.trackers.set(trackers as i64);
        self.update_seconds.set(seconds);
    }
}
