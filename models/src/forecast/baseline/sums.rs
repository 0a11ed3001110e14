//! The last `window` values with their sums kept for a running mean and variance.
//!
//! **Contract:** the sums are of the deviations from a shift `c` — `Σ(y − c)` and
//! `Σ(y − c)²` over the values held — so that a mean `c + Σ(y − c)/n` and a variance keep
//! their precision when the values are large and close together. The shift is the first
//! value taken, then, once every `window` values (when the ring completes a turn), the
//! newest value, and the sums are recomputed from the ring then: rounding cannot accumulate
//! past one window.

use super::Ring;

/// The last `window` values and their shifted sums.
#[derive(Debug, Clone)]
pub(crate) struct WindowSums {
    ring: Ring<f64>,
    /// The shift `c`.
    shift: f64,
    /// `Σ (y − c)` over the ring.
    sum: f64,
    /// `Σ (y − c)²` over the ring.
    squares: f64,
}

impl WindowSums {
    /// Empty, for a window of `window` values (raised to 1 if 0, as [`Ring::new`] does).
    pub(crate) fn new(window: usize) -> Self {
        Self { ring: Ring::new(window), shift: 0.0, sum: 0.0, squares: 0.0 }
    }

    /// Takes `y`, the oldest value leaving once the window is full.
    pub(crate) fn push(&mut self, y: f64) {
        if self.ring.len() == 0 {
            self.shift = y;
        }
        let d = y - self.shift;
        (self.sum, self.squares) = (self.sum + d, self.squares + d * d);
        if let Some(old) = self.ring.push(y) {
            let d = old - self.shift;
            (self.sum, self.squares) = (self.sum - d, self.squares - d * d);
        }
        if self.ring.wrapped() {
            self.resum();
        }
    }

    /// Sets the shift to the newest value and sums the deviations from it afresh.
    fn resum(&mut self) {
        self.shift = self.ring.ago(0).copied().unwrap_or(0.0);
        let c = self.shift;
        self.sum = self.ring.values().iter().map(|y| y - c).sum();
        self.squares = self.ring.values().iter().map(|y| (y - c) * (y - c)).sum();
    }

    /// How many values it holds.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// The shift `c`.
    pub(crate) fn shift(&self) -> f64 {
        self.shift
    }

    /// `Σ (y − c)`.
    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    /// `Σ (y − c)²`.
    pub(crate) fn squares(&self) -> f64 {
        self.squares
    }

    /// The memory held, in values.
    pub(crate) fn allocated(&self) -> usize {
        self.ring.allocated()
    }
}
