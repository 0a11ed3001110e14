//! The engine facade: takes batches, closes windows, answers snapshots and SQL.
//!
//! Locks are taken in one order, the series table before the window store, and never the
//! other way round: ingest builds a batch under the table's shared lock and then stores it,
//! and series expiry ([`Engine::close_due_windows`]) holds the table exclusively while it
//! reads and resets per-series state in the store.

use crate::aggregate::{NumberColumns, aggregate_histograms, aggregate_numbers};
use crate::batch::{ApplyReport, IngestBatch};
use crate::clock::Clock;
use crate::config::EngineConfig;
use crate::error::EngineError;
use crate::forecasts::{CompletedStep, ForecastsSnapshot, LiveForecasts};
use crate::frame::node_frames;
use crate::history::{HistoryTable, HistoryWriter};
use crate::pods::pod_costs;
use crate::restore::{restore_live_windows, restore_scores};
use crate::score_log::BatchLog;
use crate::score_metrics::ScoresCollector;
use crate::series::{SeriesInterner, SeriesKind};
use crate::sql::{self, LiveTables, TablesSnapshot};
use crate::store::{ClosedWindow, WindowStore};
use crate::tables::{self, forecasts_batch, node_scores_batch, node_steps_batch};
use crate::telemetry::EngineMetrics;
use arrow::array::{Array, RecordBatch};
use arrow::array::{Float64Array, TimestampNanosecondArray, UInt32Array};
use ironspider_scores::{PublishedScores, ScoreBook, ScoreSource, ScoresSnapshot};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// One engine: the series table, the window store, the history writer and the metrics.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    series: SeriesInterner,
    store: Mutex<WindowStore>,
    history: Mutex<Option<HistoryWriter>>,
    metrics: EngineMetrics,
    scores: ScoreBook,
    score_log: BatchLog,
    /// Live forecasts, unless `engine.forecast.enabled` is off.
    forecasts: Option<LiveForecasts>,
    forecast_log: BatchLog,
    /// When series expiry last ran (clock time).
    series_expired_at: AtomicI64,
}

impl Engine {
    /// An engine reading time from `clock`, registering its metrics in `registry`, and
    /// writing history under `config.data_dir` when `config.history` is set. With both the
    /// history and forecasts on, the forecasters are warm-started from the history first
    /// ([`LiveForecasts::warm_start`]).
    pub fn new(
        config: EngineConfig,
        clock: Arc<dyn Clock>,
        registry: &prometheus::Registry,
    ) -> Result<Self, EngineError> {
        let metrics = EngineMetrics::new(registry)?;
        let published = Arc::new(PublishedScores::default());
        registry.register(Box::new(ScoresCollector::new(Arc::clone(&published))?))?;
        let forecasts = if config.forecast.enabled {
            let forecasts = LiveForecasts::new(&config.forecast, config.window_seconds, registry)?;
            Some(if config.anomaly.enabled { forecasts.watching(&config.anomaly.detector)? } else { forecasts })
        } else {
            None
        };
        if let Some(forecasts) = forecasts.as_ref().filter(|_| config.history) {
            if config.forecast.global_refit_seconds > 0 {
                log_fit(&forecasts.refit_global(&config.data_dir, clock.now_ns(), global_fit_span(forecasts)));
            }
            let warm = forecasts.warm_start(&config.data_dir, clock.now_ns());
            tracing::info!(
                steps = warm.steps,
                values = warm.values,
                skipped = warm.skipped,
                stale = warm.stale,
                seconds = warm.seconds,
                "forecasters warm-started from the history"
            );
        }
        let history = if config.history {
            Some(HistoryWriter::start(&config.data_dir, config.history_retention_days, metrics.clone())?)
        } else {
            None
        };
        let mut score_config = config.scores.clone();
        if config.anomaly.enabled {
            score_config.health.anomaly_threshold = config.anomaly.threshold;
        }
        let scores = ScoreBook::new(score_config, config.window_ns(), published);
        if config.history {
            let restored = restore_scores(&scores, &config.scores, &config.data_dir, clock.now_ns());
            tracing::info!(
                windows = restored.windows,
                skipped = restored.skipped,
                newest_end = restored.newest_end,
                "scores restored from the history"
            );
        }
        let series = SeriesInterner::new(config.max_series);
        let mut store = WindowStore::new(&config, clock.now_ns());
        if config.history {
            let restored = restore_live_windows(&mut store, &series, &config, clock.now_ns());
            tracing::info!(
                windows = restored.windows,
                skipped = restored.skipped,
                series = series.len(),
                "live windows restored from the history"
            );
        }
        Ok(Self {
            store: Mutex::new(store),
            series,
            history: Mutex::new(history),
            scores,
            score_log: BatchLog::default(),
            forecasts,
            forecast_log: BatchLog::default(),
            series_expired_at: AtomicI64::new(clock.now_ns()),
            config,
            clock,
            metrics,
        })
    }

    /// Fits the global model again from the history (`engine.forecast.global_refit_seconds`;
    /// [`LiveForecasts::refit_global`]) when forecasts and the history are on; blocks for
    /// the fit, so callers on an async runtime run it on a blocking thread.
    pub fn refit_global(&self) -> Option<crate::forecasts::GlobalFit> {
        let forecasts = self.forecasts.as_ref().filter(|_| self.config.history)?;
        let fit = forecasts.refit_global(&self.config.data_dir, self.clock.now_ns(), global_fit_span(forecasts));
        log_fit(&fit);
        Some(fit)
    }

    /// The configuration in force.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The series table, for ingest's lookups and registrations.
    pub fn series(&self) -> &SeriesInterner {
        &self.series
    }

    /// The engine's own metrics.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// The engine's clock.
    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    /// Stores a batch of interned rows; every input path ends here.
    pub fn apply(&self, batch: IngestBatch) -> ApplyReport {
        let now = self.clock.now_ns();
        let (report, live, open, store_bytes) = {
            let mut store = self.store.lock();
            let report = store.apply(batch, now);
            (report, store.live_samples(), store.open_windows(), store.bytes())
        };
        self.metrics.record(&report);
        self.metrics.live_samples.set(live as i64);
        self.metrics.open_windows.set(open as i64);
        let (series, series_bytes) = {
            let table = self.series.read();
            (table.active(), table.bytes())
        };
        self.metrics.active_series.set(series as i64);
        self.metrics.live_bytes.set((store_bytes + series_bytes) as i64);
        report
    }

    /// Estimated bytes of the live store and the series table, which `engine.max_live_bytes`
    /// bounds (the `store` module doc says what is counted).
    pub fn live_bytes(&self) -> usize {
        let series_bytes = self.series.read().bytes();
        self.store.lock().bytes() + series_bytes
    }

    /// Closes the windows the clock has passed (plus the lateness), aggregates them, hands
    /// them to the history, and drops windows past the retention. Returns how many closed.
    pub fn close_due_windows(&self) -> usize {
        let now = self.clock.now_ns();
        let (closed, watermark) = {
            let mut store = self.store.lock();
            let closed = store.close_due(now);
            self.metrics.windows_shed.inc_by(store.expire(now) as u64);
            self.score_log.expire(now - self.config.retention_ns());
            self.forecast_log.expire(now - self.config.retention_ns());
            self.metrics.live_samples.set(store.live_samples() as i64);
            self.metrics.open_windows.set(store.open_windows() as i64);
            (closed, store.closed_before())
        };
        if now.saturating_sub(self.series_expired_at.load(Ordering::Relaxed)) >= self.config.window_ns() {
            self.series_expired_at.store(now, Ordering::Relaxed);
            self.expire_series(now);
        }
        self.metrics.live_bytes.set(self.live_bytes() as i64);
        self.finish_closed(&closed);
        self.publish_scores(watermark);
        self.advance_forecasts(watermark);
        closed.len()
    }

    /// Retires the series unseen for `engine.series_ttl_seconds` and frees the ids retired
    /// long enough ago (`series` module doc), resetting the store's state for them. Runs at
    /// most once per window length: it scans every id under the table's exclusive lock.
    fn expire_series(&self, now: i64) {
        let mut table = self.series.write();
        let mut store = self.store.lock();
        let freed = table.release(now, self.config.series_hold_ns());
        store.forget_series(&freed);
        let idle = store.idle_series(&table, now.saturating_sub(self.config.series_ttl_ns()), now);
        self.metrics.series_expired.inc_by(idle.len() as u64);
        table.retire(idle);
        self.metrics.active_series.set(table.active() as i64);
    }

    /// Scores every node as of `watermark` (which `/metrics` then renders) and appends them
    /// to the `node_scores` table.
    fn publish_scores(&self, watermark: i64) {
        if self.scores.publish(watermark) {
            let snapshot = self.scores.snapshot();
            self.score_log.append(snapshot.window_end, node_scores_batch(&snapshot));
        }
    }

    /// Completes the forecasting steps the watermark has passed.
    fn advance_forecasts(&self, watermark: i64) {
        for step in self.forecasts.as_ref().map(|f| f.advance(watermark)).unwrap_or_default() {
            self.keep_step(&step);
        }
    }

    /// Hands a completed step's anomaly scores to the score book, appends its forecasts to
    /// the `forecasts` table and writes them, with the values they were made from, to the
    /// history.
    fn keep_step(&self, step: &CompletedStep) {
        self.scores.record_anomalies(step.anomalies());
        let forecasts = forecasts_batch(step.forecasts(), step.end);
        if let Some(history) = self.history.lock().as_ref().filter(|_| !step.inputs.is_empty()) {
            history.write_to(HistoryTable::NodeSteps, step.start, node_steps_batch(step));
            if forecasts.num_rows() > 0 {
                history.write_to(HistoryTable::Forecasts, step.end, forecasts.clone());
            }
        }
        self.forecast_log.append(step.end, forecasts);
    }

    /// The `node_scores` rows of windows that ended after `window_end`, oldest first, with
    /// their window ends (for readers that follow the table, such as `replay`).
    pub fn node_scores_since(&self, window_end: i64) -> Vec<(i64, RecordBatch)> {
        self.score_log.since(window_end)
    }

    /// The latest node scores, without waiting for ingest.
    pub fn scores(&self) -> Arc<ScoresSnapshot> {
        self.scores.snapshot()
    }

    /// The latest forecasts, without waiting for ingest (empty when forecasting is off).
    pub fn forecasts(&self) -> Arc<ForecastsSnapshot> {
        self.forecasts.as_ref().map_or_else(Default::default, LiveForecasts::snapshot)
    }

    /// The `forecasts` rows of steps that ended after `step_end`, oldest first, with their
    /// step ends (for readers that follow the table, such as `replay`).
    pub fn forecasts_since(&self, step_end: i64) -> Vec<(i64, RecordBatch)> {
        self.forecast_log.since(step_end)
    }

    /// Closes every open window and writes what is queued to the history (at shutdown).
    pub fn shutdown(&self) {
        let (closed, watermark) = {
            let mut store = self.store.lock();
            let closed = store.close_all();
            (closed, store.closed_before())
        };
        self.finish_closed(&closed);
        self.publish_scores(watermark);
        self.advance_forecasts(watermark);
        if let Some(mut history) = self.history.lock().take() {
            history.finish();
        }
    }

    fn finish_closed(&self, closed: &[Arc<ClosedWindow>]) {
        let window_seconds = self.config.window_ns() as f64 / 1e9;
        for window in closed {
            let series = window.samples.column(0).as_any().downcast_ref::<UInt32Array>();
            let ts = window.samples.column(1).as_any().downcast_ref::<TimestampNanosecondArray>();
            let value = window.samples.column(2).as_any().downcast_ref::<Float64Array>();
            let (Some(series), Some(ts), Some(value)) = (series, ts, value) else { continue };
            let columns = NumberColumns { series: series.values(), ts: ts.values(), value: value.values() };
            let table = self.series.read();
            let kind_of = |id: u32| table.info(id).map_or(SeriesKind::Gauge, |info| info.kind());
            let mut aggregates = aggregate_numbers(columns, window_seconds, kind_of);
            aggregates.extend(aggregate_histograms(&window.histogram_rows));
            self.scores.record(window.end, node_frames(&aggregates, &table));
            self.scores.record_pods(pod_costs(&aggregates, &table, &self.config.scores.cost));
            self.publish_scores(window.end);
            if let Some(forecasts) = &self.forecasts {
                for step in forecasts.record(window.start, window.end, &self.scores.snapshot()) {
                    self.keep_step(&step);
                }
            }
            let history_rows = self
                .history
                .lock()
                .is_some()
                .then(|| tables::history_batch(window.start, window.end, &aggregates, &table));
            drop(table);
            // Each window is closed exactly once, so the cell is always empty here.
            let _ = window.aggregates.set(tables::windows_batch(window.start, window.end, &aggregates));
            if let (Some(rows), Some(history)) = (history_rows, self.history.lock().as_ref()) {
                history.write(window.start, rows);
            }
            self.metrics.windows_closed.inc();
        }
    }

    /// The live tables `needed`, captured for a query (the others left empty).
    pub fn snapshot(&self, needed: LiveTables) -> TablesSnapshot {
        TablesSnapshot {
            series: needed.series.then(|| tables::series_batch(&self.series.read())),
            store: if needed.store { self.store.lock().snapshot() } else { Default::default() },
            node_scores: if needed.node_scores { self.score_log.batches() } else { Vec::new() },
            forecasts: if needed.forecasts { self.forecast_log.batches() } else { Vec::new() },
        }
    }

    /// Runs a SQL statement over the live tables and the history, within `[engine.sql]`'s
    /// limits (`sql` module doc).
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let data_dir = self.config.history.then_some(self.config.data_dir.as_path());
        sql::run(|needed| self.snapshot(needed), data_dir, query, &self.config.sql).await
    }
}

impl ScoreSource for Engine {
    fn snapshot(&self) -> Arc<ScoresSnapshot> {
        self.scores()
    }
}

/// Steps of history a fit of the global model reads: a week of seasons, or the warm
/// start's reach if longer (2,016 steps at the defaults: seven days of 5-minute steps).
fn global_fit_span(forecasts: &LiveForecasts) -> usize {
    (7 * forecasts.settings().season()).max(forecasts.warm_steps())
}

fn log_fit(fit: &crate::forecasts::GlobalFit) {
    match &fit.outcome {
        Ok(()) => tracing::info!(
            series = fit.series,
            steps = fit.steps,
            skipped = fit.skipped,
            seconds = fit.seconds,
            "global model fitted"
        ),
        Err(why) => {
            tracing::info!(series = fit.series, steps = fit.steps, skipped = fit.skipped, %why, "global model not fitted")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::series::SeriesInfo;

    const S: i64 = 1_000_000_000;

    fn engine(clock: &Arc<ManualClock>) -> Engine {
        let mut config = EngineConfig {
            window_seconds: 10,
            lateness_seconds: 0,
            retention_seconds: 60,
            series_ttl_seconds: 100,
            history: false,
            ..EngineConfig::default()
        };
        config.forecast.enabled = false;
        Engine::new(config, clock.clone(), &prometheus::Registry::new()).expect("engine")
    }

    /// Interns the series `hash` and stores one point of it at the clock's time.
    fn point(engine: &Engine, hash: u64) -> u32 {
        let id = engine.series().register(hash, SeriesInfo { metric: format!("m{hash}"), ..Default::default() });
        let id = id.expect("room");
        let mut batch = IngestBatch { epoch: Some(engine.series().read().epoch()), ..IngestBatch::default() };
        batch.numbers.push(id, engine.now_ns(), 1.0);
        assert_eq!(engine.apply(batch).accepted, 1);
        id
    }

    /// Moves the clock on by `seconds` in window steps, sending a point of series 2 each step.
    fn run(engine: &Engine, clock: &ManualClock, seconds: i64) {
        for _ in 0..seconds / 10 {
            clock.advance_to(clock.now_ns() + 10 * S);
            point(engine, 2);
            engine.close_due_windows();
        }
    }

    #[test]
    fn an_unseen_series_expires_and_its_id_names_a_new_series_only_after_the_hold() {
        let clock = Arc::new(ManualClock::new(1_000 * S));
        let engine = engine(&clock);
        let a = point(&engine, 1);
        run(&engine, &clock, 100);
        assert!(engine.series().read().get(1).is_some(), "seen 100 s ago: not yet past the TTL");
        run(&engine, &clock, 10);
        assert_eq!(engine.series().read().get(1), None, "unseen for more than 100 s: expired");
        assert_eq!(engine.metrics().series_expired.get(), 1);
        let c = point(&engine, 3);
        assert_ne!(c, a, "within the hold (retention 60 + lateness 0 + window 10 s) the id stays unused");
        let again = point(&engine, 1);
        assert_ne!(again, a, "a series that comes back is a new series");
        // Retired at 1110 s; the next pass (1120 s) finds its epoch released; freed 70 s later.
        run(&engine, &clock, 60);
        assert!(engine.series().read().info(a).is_some(), "still within the hold at 1170 s");
        run(&engine, &clock, 20);
        assert!(engine.series().read().info(a).is_none(), "freed once the hold has passed");
        assert_eq!(point(&engine, 4), a, "the next new series takes the freed id");
        assert_eq!(engine.series().read().info(a).expect("held").metric, "m4");
    }

    #[test]
    fn a_batch_in_flight_keeps_the_ids_it_names_from_being_freed() {
        let clock = Arc::new(ManualClock::new(1_000 * S));
        let engine = engine(&clock);
        let a = point(&engine, 1);
        let in_flight = engine.series().read().epoch();
        run(&engine, &clock, 300);
        assert_eq!(engine.series().read().get(1), None, "expired");
        assert!(engine.series().read().info(a).is_some(), "not freed while a batch built before holds its epoch");
        drop(in_flight);
        run(&engine, &clock, 80);
        assert!(engine.series().read().info(a).is_none());
    }

    #[test]
    fn live_bytes_are_published_and_fall_as_windows_leave() {
        let clock = Arc::new(ManualClock::new(1_000 * S));
        let engine = engine(&clock);
        run(&engine, &clock, 50);
        let held = engine.metrics().live_bytes.get();
        assert_eq!(held as usize, engine.live_bytes());
        assert!(held > 0);
        run(&engine, &clock, 200);
        let later = engine.metrics().live_bytes.get();
        assert!(later > 0 && later < 2 * held, "one series, retention 60 s: bounded ({held} then {later})");
    }
}
