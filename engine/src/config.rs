//! Engine configuration: the `[engine]` table of the TOML file, with its `[engine.forecast]`
//! table (live forecasts, [`ForecastConfig`]), its `[engine.anomaly]` table (live anomaly
//! detection, [`AnomalyConfig`]) and its `[engine.sql]` table (the limits every
//! SQL query runs within, [`SqlConfig`]).
//!
//! Every key has a default, so an empty file (or none) is a working configuration.

use ironspider_models::conformal::{BAND_MIN_ERRORS, BAND_WINDOW};
use ironspider_models::tracker::{SettingsError, TrackerSettings};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of the window store, the series table and the Parquet history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Length of a tumbling window, in seconds (default 10).
    pub window_seconds: u64,
    /// How long after a window's end points may still arrive for it, in seconds (default 30).
    /// Points older than this are counted as late and rejected, never merged.
    pub lateness_seconds: u64,
    /// How long closed windows (raw samples and aggregates) stay in memory, in seconds
    /// (default 3600). Older windows live on only in the Parquet history.
    pub retention_seconds: u64,
    /// How far ahead of the wall clock a point's timestamp may be, in seconds (default 300).
    /// Later points are rejected so that one bad clock cannot close everyone's windows.
    pub max_future_seconds: u64,
    /// Most active series the engine will hold at once (default 1,000,000). Points of new
    /// series past this limit are rejected with reason `series_limit`. Expired series waiting
    /// for their id to be freed are not counted (their bytes count in `max_live_bytes`).
    pub max_series: usize,
    /// Seconds a series may go unseen before it expires (default 3600): its id stops being
    /// found, and is given to a new series once no live window or batch in flight names it
    /// (retention + lateness + one window later). A series that comes back is a new series.
    pub series_ttl_seconds: u64,
    /// Estimated bytes the live store and series table may hold (default 4 GiB). Past three
    /// quarters of it, closed windows leave memory before their retention ends (they are in
    /// the history); at it, receivers answer "retry later" until open windows close. What
    /// is counted, and the resident memory around it, is in docs/operations.md.
    pub max_live_bytes: usize,
    /// Directory of the Parquet history (default `data`). Closed windows are written below
    /// `<data_dir>/history/windows/`.
    pub data_dir: PathBuf,
    /// Write closed windows to Parquet (default true).
    pub history: bool,
    /// Days of Parquet history kept (default 30; 0: all). Older date partitions of every
    /// history table are deleted when the writer starts and when it begins a new day.
    pub history_retention_days: u32,
    /// Scoring: pressure, health and cost settings (`[engine.scores]`).
    pub scores: ironspider_scores::ScoreConfig,
    /// Live forecasts of every node's utilisation and pressure (`[engine.forecast]`).
    pub forecast: ForecastConfig,
    /// What a SQL query may use (`[engine.sql]`).
    pub sql: SqlConfig,
    /// Live anomaly detection on the forecasting grid (`[engine.anomaly]`).
    pub anomaly: AnomalyConfig,
}

/// Live anomaly detection: the `[engine.anomaly]` table. Each node and resource on the
/// forecasting grid (`[engine.forecast]`, which must be on) gets a detector of
/// `ironspider_models::anomaly`, fed every step's value its forecaster is fed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Detect at all (default true; nothing happens while `engine.forecast.enabled` is off).
    pub enabled: bool,
    /// The detector, by its catalogue name (default the catalogue's default,
    /// `ironspider_models::anomaly::DEFAULT`).
    pub detector: String,
    /// The score at and above which a step counts as anomalous (default the detector's
    /// `ironspider_models::anomaly::alert_threshold`, NAB's optimised threshold for it): the
    /// health index's `anomaly` factor starts there, and the default anomaly alert fires
    /// there. In (0, 1].
    pub threshold: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        let detector = ironspider_models::anomaly::DEFAULT;
        Self {
            enabled: true,
            detector: detector.to_string(),
            threshold: ironspider_models::anomaly::alert_threshold(detector).unwrap_or(1.0),
        }
    }
}

impl AnomalyConfig {
    /// Refuses an unknown detector or a threshold outside (0, 1].
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        if ironspider_models::anomaly::canonical(&self.detector).is_none() {
            return Err(EngineConfigError::Anomaly {
                key: "detector",
                value: format!("{:?}", self.detector),
                rule: format!("one of {}", ironspider_models::anomaly::NAMES.join(", ")),
            });
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(EngineConfigError::Anomaly {
                key: "threshold",
                value: self.threshold.to_string(),
                rule: "a score in (0, 1]".to_string(),
            });
        }
        Ok(())
    }
}

/// The limits of SQL queries: the `[engine.sql]` table. Queries run on threads of their own,
/// never on those that serve ingest, `/readyz`, scores and the extender; one that reaches a
/// limit ends with an error saying which, and nothing else is disturbed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqlConfig {
    /// Threads that run queries (default 1).
    pub threads: usize,
    /// Queries running at once (default 2); more are refused at once (HTTP 429 with
    /// `Retry-After`).
    pub max_concurrent: usize,
    /// Seconds a query may run, from its start to its last row (default 30).
    pub timeout_seconds: u64,
    /// Bytes of memory a query's joins, sorts and aggregations may take (default 256 MiB);
    /// past it the query fails with "resources exhausted".
    pub memory_limit_bytes: usize,
    /// Rows a result may have (default 100,000); a larger one is refused: add a `LIMIT`.
    pub max_result_rows: usize,
    /// Bytes of Arrow memory a result may take (default 64 MiB).
    pub max_result_bytes: usize,
    /// Bytes of SQL text (default 65,536).
    pub max_query_bytes: usize,
    /// Row pairs a join without keys (nested-loop or cross) may compare, by its inputs'
    /// estimated rows (default 10⁹, about a second of comparisons); such a join cannot be
    /// cancelled midway, so a larger one is refused before it runs.
    pub max_join_pairs: u64,
}

impl Default for SqlConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            max_concurrent: 2,
            timeout_seconds: 30,
            memory_limit_bytes: 256 << 20,
            max_result_rows: 100_000,
            max_result_bytes: 64 << 20,
            max_query_bytes: 65_536,
            max_join_pairs: 1_000_000_000,
        }
    }
}

impl SqlConfig {
    /// Refuses a limit of zero, which would refuse every query.
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        let limits = [
            ("threads", self.threads as u64),
            ("max_concurrent", self.max_concurrent as u64),
            ("timeout_seconds", self.timeout_seconds),
            ("memory_limit_bytes", self.memory_limit_bytes as u64),
            ("max_result_rows", self.max_result_rows as u64),
            ("max_result_bytes", self.max_result_bytes as u64),
            ("max_query_bytes", self.max_query_bytes as u64),
            ("max_join_pairs", self.max_join_pairs),
        ];
        match limits.into_iter().find(|(_, value)| *value == 0) {
            Some((key, _)) => Err(EngineConfigError::ZeroSqlLimit(key)),
            None => Ok(()),
        }
    }

    /// The time limit.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds)
    }
}

/// Live forecasts: the `[engine.forecast]` table. Forecasts run on a grid of
/// `step_seconds` (each step's value is the mean of the windows in it), one tracker per node
/// and resource (`ironspider_models::tracker`), and are given `horizons_seconds` ahead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastConfig {
    /// Forecast at all (default true).
    pub enabled: bool,
    /// The model, by its catalogue name (default the catalogue's default,
    /// `ironspider_models::forecast::DEFAULT`).
    pub model: String,
    /// The forecasting grid, in seconds (default 300: the 5-minute grid of the Bitbrains
    /// backtest, so the live model is the one evaluated); at least `window_seconds`. A
    /// window belongs to the step of its start, so with a step that is not a multiple of the
    /// window (7 s windows on a 300 s grid), the window that straddles a step's end counts
    /// wholly in that step.
    pub step_seconds: u64,
    /// How far ahead, in seconds (default 300, 900, 3600); each a multiple of `step_seconds`.
    pub horizons_seconds: Vec<u64>,
    /// The season of the seasonal models, in seconds (default 86,400: a day); a multiple of
    /// `step_seconds`.
    pub season_seconds: u64,
    /// Errors kept per horizon for the p10–p90 band (default 576, two days of steps, as in
    /// the backtest).
    pub band_window: usize,
    /// Errors a horizon needs before its band is given (default 50, as in the backtest).
    pub band_min_errors: usize,
    /// Missing steps forward-filled with the last value (default 12, as in the backtest's
    /// panel); a longer silence starts the series fresh.
    pub max_gap_steps: u64,
    /// How often, in seconds, the global model is fitted again from the `node_steps`
    /// history (default 86,400: daily; 0: never fit one). The first fit is at start, before
    /// the warm start, when the history is kept (`engine.history`) and holds enough; only a
    /// model that reads one (the bank) uses it.
    pub global_refit_seconds: u64,
    /// Spread the nodes' steps over the windows of a step, each node at an offset fixed by
    /// a hash of its name (default true; `forecasts` module doc): each window close then
    /// feeds about `window/step` of the trackers instead of one close in `step/window`
    /// feeding them all. Only when the step is a multiple of the window.
    pub stagger: bool,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model: ironspider_models::forecast::DEFAULT.to_string(),
            step_seconds: 300,
            horizons_seconds: vec![300, 900, 3600],
            season_seconds: 86_400,
            band_window: BAND_WINDOW,
            band_min_errors: BAND_MIN_ERRORS,
            max_gap_steps: 12,
            global_refit_seconds: 86_400,
            stagger: true,
        }
    }
}

impl ForecastConfig {
    /// The step in nanoseconds.
    pub fn step_ns(&self) -> i64 {
        seconds_to_ns(self.step_seconds)
    }

    /// The trackers' settings (horizons and season in steps), or what is wrong, for windows
    /// of `window_seconds`.
    pub fn tracker_settings(&self, window_seconds: u64) -> Result<TrackerSettings, EngineConfigError> {
        let step = self.step_seconds;
        let invalid = |key: &'static str, value: String, rule: &'static str| {
            Err(EngineConfigError::Forecast { key, value, rule: rule.to_string() })
        };
        if step == 0 || step < window_seconds {
            return invalid(
                "step_seconds",
                step.to_string(),
                "at least engine.window_seconds, and positive (or engine.forecast.enabled = false)",
            );
        }
        if self.horizons_seconds.is_empty() || self.horizons_seconds.iter().any(|h| *h == 0 || !h.is_multiple_of(step))
        {
            let value = format!("{:?}", self.horizons_seconds);
            return invalid("horizons_seconds", value, "one or more, each a positive multiple of step_seconds");
        }
        if self.season_seconds == 0 || !self.season_seconds.is_multiple_of(step) {
            return invalid("season_seconds", self.season_seconds.to_string(), "a positive multiple of step_seconds");
        }
        let horizons: Vec<usize> = self.horizons_seconds.iter().map(|h| (h / step) as usize).collect();
        let season = (self.season_seconds / step) as usize;
        TrackerSettings::new(&self.model, season, &horizons, self.band_window, self.band_min_errors, self.max_gap_steps)
            .map_err(|error| EngineConfigError::Forecast {
                key: match error {
                    SettingsError::Model { .. } => "model",
                    SettingsError::Horizons(_) => "horizons_seconds",
                    SettingsError::Gap(_) => "max_gap_steps",
                    SettingsError::Band { .. } => "band_window",
                },
                value: String::new(),
                rule: error.to_string(),
            })
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            window_seconds: 10,
            lateness_seconds: 30,
            retention_seconds: 3600,
            max_future_seconds: 300,
            max_series: 1_000_000,
            series_ttl_seconds: 3600,
            max_live_bytes: 4 << 30,
            data_dir: PathBuf::from("data"),
            history: true,
            history_retention_days: 30,
            scores: ironspider_scores::ScoreConfig::default(),
            forecast: ForecastConfig::default(),
            sql: SqlConfig::default(),
            anomaly: AnomalyConfig::default(),
        }
    }
}

/// An engine setting out of range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineConfigError {
    /// `window_seconds = 0`.
    #[error("engine.window_seconds = 0: a window lasts at least 1 second")]
    ZeroWindow,
    /// `max_series = 0`.
    #[error("engine.max_series = 0: the engine must hold at least one series")]
    NoSeries,
    /// `max_live_bytes = 0` or `series_ttl_seconds = 0` (named).
    #[error("engine.{0} = 0: the limit is at least 1")]
    ZeroLimit(&'static str),
    /// An `[engine.sql]` limit of zero (named).
    #[error("engine.sql.{0} = 0: every query would be refused; the limit is at least 1")]
    ZeroSqlLimit(&'static str),
    /// A score setting.
    #[error(transparent)]
    Scores(#[from] ironspider_scores::ScoreConfigError),
    /// An anomaly-detection setting.
    #[error("engine.anomaly.{key} = {value}: {rule}")]
    Anomaly {
        /// The key below `engine.anomaly`.
        key: &'static str,
        /// The value given.
        value: String,
        /// What it must be.
        rule: String,
    },
    /// A live-forecast setting.
    #[error("engine.forecast.{key}{}{value}: {rule}", if value.is_empty() { "" } else { " = " })]
    Forecast {
        /// The key below `engine.forecast`.
        key: &'static str,
        /// The value given (empty when the rule names it).
        value: String,
        /// What it must be.
        rule: String,
    },
}

impl EngineConfig {
    /// Refuses settings the engine cannot run with. Call it once the configuration is
    /// complete (defaults, file, environment and flags), so that a value is judged the same
    /// whichever layer set it.
    pub fn validate(&self) -> Result<(), EngineConfigError> {
        if self.window_seconds == 0 {
            return Err(EngineConfigError::ZeroWindow);
        }
        if self.max_series == 0 {
            return Err(EngineConfigError::NoSeries);
        }
        if self.max_live_bytes == 0 {
            return Err(EngineConfigError::ZeroLimit("max_live_bytes"));
        }
        if self.series_ttl_seconds == 0 {
            return Err(EngineConfigError::ZeroLimit("series_ttl_seconds"));
        }
        if self.forecast.enabled {
            self.forecast.tracker_settings(self.window_seconds)?;
        }
        self.sql.validate()?;
        self.anomaly.validate()?;
        Ok(self.scores.validate()?)
    }

    /// Window length in nanoseconds (at least one nanosecond).
    pub fn window_ns(&self) -> i64 {
        seconds_to_ns(self.window_seconds).max(1)
    }

    /// Allowed lateness in nanoseconds.
    pub fn lateness_ns(&self) -> i64 {
        seconds_to_ns(self.lateness_seconds)
    }

    /// Live retention in nanoseconds.
    pub fn retention_ns(&self) -> i64 {
        seconds_to_ns(self.retention_seconds)
    }

    /// Series time to live in nanoseconds.
    pub fn series_ttl_ns(&self) -> i64 {
        seconds_to_ns(self.series_ttl_seconds)
    }

    /// How long an expired series' id stays unused once no batch in flight names it:
    /// retention + lateness + one window, after which no live window holds it.
    pub fn series_hold_ns(&self) -> i64 {
        self.retention_ns().saturating_add(self.lateness_ns()).saturating_add(self.window_ns())
    }

    /// Tolerated clock skew into the future, in nanoseconds.
    pub fn max_future_ns(&self) -> i64 {
        seconds_to_ns(self.max_future_seconds)
    }
}

pub(crate) fn seconds_to_ns(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX).saturating_mul(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_window_is_refused_and_score_settings_are_checked_too() {
        assert_eq!(EngineConfig::default().validate(), Ok(()));
        let zero = EngineConfig { window_seconds: 0, ..EngineConfig::default() };
        assert_eq!(
            zero.validate().unwrap_err().to_string(),
            "engine.window_seconds = 0: a window lasts at least 1 second"
        );
        let mut cold = EngineConfig::default();
        cold.scores.health.stale_windows = 0;
        assert!(matches!(cold.validate(), Err(EngineConfigError::Scores(_))));
        let mut closed = EngineConfig::default();
        closed.sql.max_concurrent = 0;
        assert_eq!(
            closed.validate().unwrap_err().to_string(),
            "engine.sql.max_concurrent = 0: every query would be refused; the limit is at least 1"
        );
    }

    #[test]
    fn forecast_settings_are_checked_against_the_window_and_the_step() {
        let with = |edit: fn(&mut EngineConfig)| {
            let mut config = EngineConfig::default();
            edit(&mut config);
            config.validate().err().map(|e| e.to_string())
        };
        assert_eq!(with(|_| {}), None);
        // The defaults in steps: horizons 1, 3, 12; a season of 288.
        let settings = EngineConfig::default().forecast.tracker_settings(10).unwrap();
        assert_eq!((settings.horizons(), settings.max_gap()), (&[1, 3, 12][..], 12));
        assert_eq!(with(|c| c.window_seconds = 7), None, "7 s windows on a 300 s grid");
        assert_eq!(
            with(|c| c.window_seconds = 600).as_deref(),
            Some(
                "engine.forecast.step_seconds = 300: at least engine.window_seconds, and positive \
                 (or engine.forecast.enabled = false)"
            )
        );
        assert_eq!(
            with(|c| c.forecast.horizons_seconds = vec![300, 450]).as_deref(),
            Some(
                "engine.forecast.horizons_seconds = [300, 450]: one or more, each a positive multiple of step_seconds"
            )
        );
        assert_eq!(
            with(|c| c.forecast.season_seconds = 1000).as_deref(),
            Some("engine.forecast.season_seconds = 1000: a positive multiple of step_seconds")
        );
        assert_eq!(
            with(|c| c.forecast.model = "prophet".into()).as_deref(),
            Some("engine.forecast.model: model \"prophet\" with a season of 288 steps and horizons up to 12: unknown")
        );
        assert!(
            with(|c| c.forecast.band_min_errors = 600).is_some_and(|e| e.starts_with("engine.forecast.band_window"))
        );
        assert_eq!(
            with(|c| c.forecast = ForecastConfig { enabled: false, step_seconds: 7, ..ForecastConfig::default() }),
            None,
            "off: not checked"
        );
    }
}
