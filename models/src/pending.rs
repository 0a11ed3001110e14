//! The point forecasts still waiting for their targets: those of the last `H` origins, for
//! horizons 1 … H, held until the observation each one forecast arrives. The bank scores them
//! into its candidates' scores. (The conformal calibrator keeps its own per-horizon slots,
//! contiguous per horizon and only for the horizons it calibrates: `models::conformal`.)
//!
//! **Contract:** row `o mod H` holds origin `o`'s forecasts, `cells[(o mod H)·H + h − 1]` the
//! one `h` steps ahead. When observation `o + 1` arrives, [`Pending::arrive`] hands over, for
//! each `h`, the forecast made at origin `o + 1 − h` (taking it), then opens an empty row for
//! origin `o + 1`, where [`Pending::issue`] puts the forecasts made after it. Memory is
//! `H²` values, allocated once.

/// Forecasts of the last `H` origins awaiting their targets.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// `H`, the longest horizon.
    horizons: usize,
    /// Row-major, one row of `H` per origin; `None` where nothing is waiting.
    cells: Vec<Option<f64>>,
    /// The row of the newest origin.
    row: usize,
}

impl Pending {
    /// Nothing waiting, for horizons 1 … `horizons` (at least 1).
    pub(crate) fn new(horizons: usize) -> Self {
        let horizons = horizons.max(1);
        Self { horizons, cells: vec![None; horizons * horizons], row: 0 }
    }

    /// Hands `score(h, forecast)` every forecast whose target is the observation arriving
    /// now, then opens the new origin's empty row.
    pub(crate) fn arrive(&mut self, mut score: impl FnMut(usize, f64)) {
        let big_h = self.horizons;
        for h in 1..=big_h {
            // Made h origins before the one this observation opens: row + 1 − h (mod H).
            let origin = (self.row + big_h + 1 - h) % big_h;
            if let Some(forecast) = self.cells[origin * big_h + h - 1].take() {
                score(h, forecast);
            }
        }
        self.row = (self.row + 1) % big_h;
        self.newest().fill(None);
    }

    /// Stores the forecasts made at the newest origin (`forecasts[h − 1]` for `h` steps
    /// ahead), replacing any stored there before; entries past `H` are ignored.
    pub(crate) fn issue(&mut self, forecasts: impl IntoIterator<Item = Option<f64>>) {
        let row = self.newest();
        row.fill(None);
        for (cell, forecast) in row.iter_mut().zip(forecasts) {
            *cell = forecast;
        }
    }

    /// Cells held (`H²`).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    /// Cells allocated (`H²`, fixed at construction).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.cells.capacity()
    }

    fn newest(&mut self) -> &mut [Option<f64>] {
        let start = self.row * self.horizons;
        &mut self.cells[start..start + self.horizons]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forecast_is_handed_over_once_when_its_target_arrives() {
        // H = 2. Origin 1 forecasts 10 (h = 1) and 20 (h = 2); origin 2 forecasts 30 and 40.
        let mut pending = Pending::new(2);
        let mut seen = Vec::new();
        pending.arrive(|h, f| seen.push((1, h, f)));
        pending.issue([Some(10.0), Some(20.0)]);
        pending.arrive(|h, f| seen.push((2, h, f)));
        pending.issue([Some(30.0), Some(40.0)]);
        pending.arrive(|h, f| seen.push((3, h, f)));
        pending.arrive(|h, f| seen.push((4, h, f)));
        // Observation 2 is origin 1's h = 1 target; observation 3 is origin 2's h = 1 and
        // origin 1's h = 2; observation 4 is origin 2's h = 2 (origin 3 issued nothing).
        assert_eq!(seen, [(2, 1, 10.0), (3, 1, 30.0), (3, 2, 20.0), (4, 2, 40.0)]);
        assert_eq!((pending.len(), pending.capacity()), (4, 4));
    }
}
