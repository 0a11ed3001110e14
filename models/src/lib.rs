//! # ironspider-models
//!
//! Pure numerics, with no I/O and no async: forecasters with quantiles, anomaly detectors,
//! and accuracy measures (MASE, the NAB score). The engine calls into this crate with
//! per-node series taken from closed windows; the scheduler extender reads the results
//! through the engine's snapshots.
//!
//! Nothing lives here yet: the forecasting and anomaly work fills it.
