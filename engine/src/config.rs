//! Engine configuration: the `[engine]` table of the TOML file.
//!
//! Every key has a default, so an empty file (or none) is a working configuration.

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
    /// Most series the engine will hold at once (default 1,000,000). Points of new series past
    /// this limit are rejected with reason `series_limit`.
    pub max_series: usize,
    /// Directory of the Parquet history (default `data`). Closed windows are written below
    /// `<data_dir>/history/windows/`.
    pub data_dir: PathBuf,
    /// Write closed windows to Parquet (default true).
    pub history: bool,
    /// Scoring: pressure, health and cost settings (`[engine.scores]`).
    pub scores: ironspider_scores::ScoreConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            window_seconds: 10,
            lateness_seconds: 30,
            retention_seconds: 3600,
            max_future_seconds: 300,
            max_series: 1_000_000,
            data_dir: PathBuf::from("data"),
            history: true,
            scores: ironspider_scores::ScoreConfig::default(),
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
    /// A score setting.
    #[error(transparent)]
    Scores(#[from] ironspider_scores::ScoreConfigError),
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

    /// Tolerated clock skew into the future, in nanoseconds.
    pub fn max_future_ns(&self) -> i64 {
        seconds_to_ns(self.max_future_seconds)
    }
}

fn seconds_to_ns(seconds: u64) -> i64 {
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
    }
}
