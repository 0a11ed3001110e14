//! The forecaster contract: a model of one series observed at a fixed step, updated once per
//! observation and asked for the point forecast `h` steps past the newest observation.
//!
//! Callers feed finite values only (the engine drops NaN and infinities before a model sees
//! them, and splits a series at long gaps); a model may assume so.

pub mod bank;
pub mod baseline;
mod catalogue;
pub mod ets;
pub mod global;

pub use bank::{Bank, Candidate};
pub use catalogue::{DEFAULT, NAMES, named, named_for, named_with, needs_fit, reads_global};
pub use ets::{DampedHolt, HoltWinters, InvalidParameter, Ses};
pub use global::{FitError, FitSettings, Global, GlobalModel};

/// A streaming point forecaster of one series.
pub trait Forecaster: Send {
    /// A short stable name (`naive`, `ses`, …), used in outputs and configuration.
    fn name(&self) -> &'static str;

    /// Takes the next observation, one step after the previous one.
    fn observe(&mut self, y: f64);

    /// The point forecast `h ≥ 1` steps after the newest observation; `None` until the
    /// model has seen enough to forecast (and for `h = 0`).
    fn forecast(&self, h: usize) -> Option<f64>;

    /// A newly fitted global model, handed to a model that is already running: the models
    /// that read one take it ([`Global`] swaps its coefficients and keeps its recent values;
    /// the [`Bank`] passes it to its global candidate, or adds one); the others ignore it.
    fn adopt_global(&mut self, _model: &std::sync::Arc<GlobalModel>) {}

    /// Reads a value from each cache line its next [`Forecaster::observe`] and forecasts up
    /// to `ahead` steps will use, all independent of each other, and returns them folded
    /// (for the caller's [`std::hint::black_box`], so that the reads are kept). Called
    /// before an update whose state is cold, it has the core fetch those lines together
    /// rather than one at a time as the update reaches each (the engine steps thousands of
    /// models in turn, every one out of cache). Reads nothing by default: a model without
    /// it is fetched as its update goes.
    fn touch(&self, _ahead: usize) -> u64 {
        0
    }
}

/// `f64`s per 64-byte cache line.
pub(crate) const PER_LINE: usize = 8;

/// Reads one value per cache line of `values` (every [`PER_LINE`]-th), folded: the reads
/// of a [`Forecaster::touch`] over a contiguous state.
pub(crate) fn touch_lines(values: &[f64]) -> u64 {
    values.iter().step_by(PER_LINE).fold(0, |folded, v| folded ^ v.to_bits())
}
