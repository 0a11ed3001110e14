//! Streaming anomaly detectors: one value in, an anomaly score in [0, 1] out.
//!
//! **Contract:** a [`Detector`] takes a series' values one at a time, in order, each with its
//! time (nanoseconds since the Unix epoch, UTC), and scores each as it arrives, from what came
//! before it only: it never knows the series' length, minimum or maximum ahead
//! (streaming-clean, as live alerting is), its memory is fixed at construction, and an update
//! costs O(1) or O(window). A non-finite value scores 0 and is not taken. Times may be
//! irregular or repeated; one earlier than the previous is taken as the previous (see
//! [`Detector::observe`]). NAB's scorer ([`crate::nab`]) judges them.
//!
//! | name | detector |
//! |---|---|
//! | `novelty` (default) | how far the value, or its mean over the last 12, lies outside the range it has had so far (slowly forgotten), or outside the range of the values that followed values like the previous one, in widths of the range; or how far its last hour's mean differs from the same hour a day and a week before, beyond how far hours have differed so far; repeats within 6 hours of a higher score are held at 0 ([`novelty::RangeNovelty`]) |
//! | `gaussian` | the Gaussian tail of the value against the mean and standard deviation of the 288 values before it ([`gaussian::WindowedGaussian`]) |
//!
//! An alert threshold ([`alert_threshold`]) goes with each: the score above which a value is
//! an anomaly.

pub mod gaussian;
pub mod novelty;

/// A streaming anomaly detector of one series.
pub trait Detector: Send {
    /// A short stable name (`gaussian`, …), used in outputs and configuration.
    fn name(&self) -> &'static str;

    /// Scores `y`, the series' value at time `at`, against the values before it, in [0, 1]
    /// (higher: more unusual), then takes it. A non-finite `y` scores 0 and is not taken.
    ///
    /// `at` is the value's time in nanoseconds since the Unix epoch, UTC (the engine's
    /// timestamps). A detector may use it for calendar context (the hour a value falls in, the
    /// same hour a day or a week before) or ignore it. Detectors must tolerate any times:
    /// irregular gaps, several values at the same time, and times that go backwards. Times are
    /// meant to go forward; a time earlier than the previous one is treated as the previous
    /// one (a detector clamps it to the latest time it has taken, so a late or reordered row
    /// joins the current time rather than reopening the past). No time ever panics.
    fn observe(&mut self, at: i64, y: f64) -> f64;
}

/// Every detector's name, in the order reports list them.
pub const NAMES: [&str; 2] = ["novelty", "gaussian"];

/// The detector `ironspider evaluate anomalies` runs unless told otherwise.
pub const DEFAULT: &str = "novelty";

/// The catalogue's spelling of `name` (`'static`, for holders that keep it), `None` for an
/// unknown name.
pub fn canonical(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|known| *known == name)
}

/// A fresh detector called `name`; `None` for an unknown name.
pub fn named(name: &str) -> Option<Box<dyn Detector>> {
    match name {
        "novelty" => Some(Box::new(novelty::RangeNovelty::new(novelty::DEFAULT_SETTINGS)?)),
        "gaussian" => Some(Box::new(gaussian::WindowedGaussian::new(gaussian::DEFAULT_WINDOW)?)),
        _ => None,
    }
}

/// The score at or above which the detector `name` (with its defaults) calls a value an
/// anomaly: its NAB standard-profile optimal threshold over the whole corpus; `None` for an
/// unknown name.
pub fn alert_threshold(name: &str) -> Option<f64> {
    match name {
        "novelty" => Some(novelty::ALERT_THRESHOLD),
        "gaussian" => Some(gaussian::ALERT_THRESHOLD),
        _ => None,
    }
}
