//! # ironspider-models
//!
//! Pure numerics, with no I/O, no async and no Arrow: streaming forecasters with calibrated
//! quantiles, and accuracy measures. **In:** one series at a fixed step, one observation at
//! a time. **Out:** point forecasts and p10/p50/p90 quantiles for horizons 1..H, and the
//! measures that judge them (MAE, MASE, interval coverage, pinball loss).
//!
//! - [`forecast`]: the [`Forecaster`] contract and the models — baselines
//!   ([`forecast::baseline`]: naive, seasonal naive, windowed mean) and exponential smoothing
//!   ([`forecast::ets`]: simple, damped-trend Holt, additive Holt-Winters);
//! - [`conformal`]: quantiles from each horizon's recent errors (split-conformal style), so
//!   that the p10–p90 band covers what it claims without assuming Gaussian errors;
//! - [`accuracy`]: the measures, each formula in its doc;
//! - [`backtest`]: the rolling-origin protocol of `ironspider evaluate forecasts` and its
//!   scores;
//! - [`anomaly`]: streaming anomaly detectors, a score in [0, 1] per value;
//! - [`nab`]: the Numenta Anomaly Benchmark's scoring (v1.1), by which anomaly detectors are
//!   judged;
//! - [`tracker`]: one live series on a fixed step — a catalogue model and its band, with
//!   gaps filled or reset and bad values refused — as the engine runs one per node and
//!   resource.
//!
//! Every model's state is bounded: updating it costs O(1) or O(season) and its memory does
//! not grow with the number of observations. The engine keeps one [`Tracker`] per node and
//! resource; nothing here knows about nodes.

pub mod accuracy;
pub mod anomaly;
pub mod backtest;
pub mod conformal;
pub mod forecast;
pub mod nab;
pub mod tracker;

pub use conformal::{Conformal, Quantiles};
pub use forecast::Forecaster;
pub use forecast::baseline::{Naive, SeasonalNaive, WindowMean, WindowMedian};
pub use tracker::{Tracker, TrackerSettings};
