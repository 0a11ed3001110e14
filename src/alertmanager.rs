//! Pushes the engine's alerts to Alertmanager's v2 API (`POST {url}/api/v2/alerts`), as
//! Prometheus's notifier does, on a task of its own that never blocks the engine.
//!
//! **When.** At every tick (the window closer's period) it looks at the published alerts:
//! it pushes when their `generation` changed since the last successful push (an alert fired
//! or resolved) or when `resend_seconds` passed since it. A push carries every firing alert
//! and every alert resolved within the retention (`ironspider_engine::alerts::wire`: a
//! firing one valid for four resend periods, a resolved one ending at its resolution), so a
//! lost push is repaired by the next, and Alertmanager deduplicates.
//!
//! **Failures.** A push that fails (no connection, a timeout of 10 s, any status other than
//! 2xx) is counted and retried after a delay that doubles from one tick up to the resend
//! period; meanwhile the engine goes on. Counted in
//! `ironspider_alertmanager_pushes_total{outcome}` (`sent`, `failed`) and
//! `ironspider_alertmanager_alerts_sent_total`.

use ironspider_engine::alerts::{PublishedAlerts, wire};
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The notifier's counters.
#[derive(Debug, Clone)]
struct PushMetrics {
    sent: IntCounter,
    failed: IntCounter,
    alerts: IntCounter,
}

impl PushMetrics {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let pushes = IntCounterVec::new(
            Opts::new("ironspider_alertmanager_pushes_total", "Pushes to Alertmanager, by outcome."),
            &["outcome"],
        )?;
        let alerts =
            IntCounter::new("ironspider_alertmanager_alerts_sent_total", "Alerts in pushes Alertmanager took.")?;
        registry.register(Box::new(pushes.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        Ok(Self { sent: pushes.with_label_values(&["sent"]), failed: pushes.with_label_values(&["failed"]), alerts })
    }
}

/// Pushes `published` to the Alertmanager at `url`.
pub struct Notifier {
    endpoint: String,
    generator: String,
    resend: Duration,
    client: reqwest::Client,
    published: Arc<PublishedAlerts>,
    metrics: PushMetrics,
}

impl Notifier {
    /// A notifier for the Alertmanager at `url` (its base, `http://host:9093`), every
    /// `resend` at most; alerts link back to `generator`.
    pub fn new(
        url: &str,
        generator: String,
        resend: Duration,
        published: Arc<PublishedAlerts>,
        registry: &Registry,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let endpoint = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
        Ok(Self { endpoint, generator, resend, client, published, metrics: PushMetrics::new(registry)? })
    }

    /// Runs until `stopped`, looking every `tick` (module doc).
    pub async fn run(self, tick: Duration, stopped: impl std::future::Future<Output = ()>) {
        tokio::pin!(stopped);
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pushed: Option<(u64, Instant)> = None;
        let mut backoff = tick;
        let mut retry_at = Instant::now();
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                _ = ticks.tick() => {}
            }
            let snapshot = self.published.get();
            let due = match pushed {
                None => !snapshot.alerts.is_empty(),
                Some((generation, at)) => generation != snapshot.generation || at.elapsed() >= self.resend,
            };
            if !due || Instant::now() < retry_at {
                continue;
            }
            let resend_ns = i64::try_from(self.resend.as_nanos()).unwrap_or(i64::MAX);
            let body = wire::alertmanager_alerts(&snapshot, resend_ns, &self.generator);
            let count = body.as_array().map_or(0, Vec::len) as u64;
            // A push in flight at shutdown is abandoned rather than waited for (up to 10 s).
            let outcome = tokio::select! {
                _ = &mut stopped => return,
                outcome = self.push(&body) => outcome,
            };
            match outcome {
                Ok(()) => {
                    self.metrics.sent.inc();
                    self.metrics.alerts.inc_by(count);
                    pushed = Some((snapshot.generation, Instant::now()));
                    backoff = tick;
                }
                Err(error) => {
                    self.metrics.failed.inc();
                    tracing::warn!(%error, endpoint = %self.endpoint, retry_in = ?backoff, "alertmanager push failed");
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(self.resend.max(tick));
                }
            }
        }
    }

    async fn push(&self, body: &serde_json::Value) -> anyhow::Result<()> {
        let response = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body)?)
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "{status}: {}", response.text().await.unwrap_or_default());
        Ok(())
    }
}
