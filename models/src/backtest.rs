//! The backtest protocol: rolling origins over the end of a series, as statsforecast's
//! `cross_validation(h, step_size, n_windows)` lays them, scored by MAE, MASE and the
//! coverage of the p10–p90 band.
//!
//! For a series `y_0 … y_{n−1}` and a [`Protocol`] `(H, step, W, m)` the origins are
//!
//! ```text
//! o_i = n − H − (W − 1 − i) · step − 1        i = 0 … W − 1
//! ```
//!
//! (the last observation before each window; the last window ends at `y_{n−1}`). At each
//! origin the model, having seen `y_0 … y_{o_i}` and nothing after, forecasts `y_{o_i + h}`
//! for `h = 1 … H`. A streaming model sees each observation once, in order, so no later value
//! can leak into a forecast; the conformal band is fed the same way (its errors are of
//! forecasts whose targets are already seen).
//!
//! Scores of one series, over its `W · H` forecasts `ŷ` of targets `y`:
//!
//! ```text
//! MAE      = mean |y − ŷ|
//! scale    = mean over t = m … o_0 of |y_t − y_{t−m}|     (seasonal naive, in-sample up to
//!                                                          and including the first origin)
//! MASE     = MAE / scale                                   (Hyndman & Koehler 2006)
//! coverage = share of targets with p10 ≤ y ≤ p90           (forecasts with a band only)
//! ```

use crate::Forecaster;
use crate::accuracy;
use crate::conformal::{Conformal, Quantiles};

/// Where the origins are and what is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// Steps forecast from each origin, `H`.
    pub horizon: usize,
    /// Steps between origins.
    pub step: usize,
    /// Number of origins, `W`.
    pub windows: usize,
    /// Season of the MASE scale, `m`.
    pub season: usize,
}

impl Protocol {
    /// Bitbrains VMs on the 300 s grid: 48 origins an hour apart over the last two days, each
    /// forecasting the next hour; MASE scaled by the daily seasonal naive.
    pub const BITBRAINS: Protocol = Protocol { horizon: 12, step: 12, windows: 48, season: 288 };

    /// Alibaba GenAI pods on the 57 s grid, the Bitbrains shape kept in steps: 30 origins 12
    /// steps (11.4 min) apart over the last 360 steps (5.7 h, a quarter of the trace's day),
    /// each forecasting the next 12 steps; MASE scaled by the in-sample naive (`m = 1`), as
    /// the trace is shorter than a day and has no daily season to scale by.
    pub const GENAI: Protocol = Protocol { horizon: 12, step: 12, windows: 30, season: 1 };

    /// The steps the evaluation covers after the first origin: H + (W − 1) · step (576 for
    /// Bitbrains: two days).
    pub const fn span(&self) -> usize {
        self.horizon + self.windows.saturating_sub(1) * self.step
    }

    /// The origins of a series of `n` points, oldest first; `None` when the series is too
    /// short for the windows and one season of in-sample scale before them.
    pub fn origins(&self, n: usize) -> Option<Vec<usize>> {
        let span = self.horizon + (self.windows.checked_sub(1)?) * self.step;
        let first = n.checked_sub(span + 1)?;
        (first >= self.season).then(|| (0..self.windows).map(|i| first + i * self.step).collect())
    }
}

/// One forecast of the backtest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// Index of the origin (the newest observation the model had seen).
    pub origin: usize,
    /// Steps ahead, 1 … H; the target is `origin + h`.
    pub h: usize,
    /// The model's point forecast.
    pub point: f64,
    /// The conformal band around it, when the calibrator had errors enough.
    pub band: Option<Quantiles>,
}

/// Scores of one series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// Mean absolute error of the point forecasts.
    pub mae: f64,
    /// MAE over the in-sample seasonal naive scale; `None` when that scale is 0.
    pub mase: Option<f64>,
    /// Share of targets inside p10–p90; `None` when no forecast had a band.
    pub coverage_80: Option<f64>,
}

/// Why a series cannot be backtested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BacktestError {
    /// Fewer points than the protocol needs.
    #[error("{points} points are too few for {windows} windows of {horizon} steps after a season of {season}")]
    TooShort {
        /// Points in the series.
        points: usize,
        /// The protocol's windows.
        windows: usize,
        /// The protocol's horizon.
        horizon: usize,
        /// The protocol's season.
        season: usize,
    },
    /// The model had no forecast at an origin (it needs more history than the series gives).
    #[error("the model gave no forecast {h} steps after origin {origin}")]
    NoForecast {
        /// The origin.
        origin: usize,
        /// Steps ahead.
        h: usize,
    },
}

impl Protocol {
    /// Runs `model` (fresh) and `calibrator` (fresh, for this protocol's horizon) through
    /// `series` and returns every forecast at every origin, oldest first.
    pub fn run(
        &self,
        series: &[f64],
        model: &mut dyn Forecaster,
        calibrator: &mut Conformal,
    ) -> Result<Vec<Forecast>, BacktestError> {
        let origins = self.origins(series.len()).ok_or(self.too_short(series.len()))?;
        let mut forecasts = Vec::with_capacity(origins.len() * self.horizon);
        let mut next_origin = origins.iter().copied().peekable();
        let mut points = vec![None; self.horizon];
        for (t, &y) in series.iter().enumerate() {
            model.observe(y);
            calibrator.observe(y);
            for (h, point) in points.iter_mut().enumerate() {
                *point = model.forecast(h + 1);
            }
            calibrator.issue(&points);
            if next_origin.next_if_eq(&t).is_some() {
                forecasts.extend(self.at_origin(t, &points, calibrator)?);
            }
        }
        Ok(forecasts)
    }

    /// The forecasts issued at origin `t`.
    fn at_origin(
        &self,
        t: usize,
        points: &[Option<f64>],
        calibrator: &mut Conformal,
    ) -> Result<Vec<Forecast>, BacktestError> {
        (1..=self.horizon)
            .map(|h| {
                let point = points[h - 1].ok_or(BacktestError::NoForecast { origin: t, h })?;
                Ok(Forecast { origin: t, h, point, band: calibrator.quantiles(h, point) })
            })
            .collect()
    }

    fn too_short(&self, points: usize) -> BacktestError {
        BacktestError::TooShort { points, windows: self.windows, horizon: self.horizon, season: self.season }
    }

    /// Scores `forecasts` (from [`Protocol::run`] on `series`) with the measures of
    /// [`crate::accuracy`].
    pub fn score(&self, series: &[f64], forecasts: &[Forecast]) -> Scores {
        let actual: Vec<f64> =
            forecasts.iter().map(|f| series.get(f.origin + f.h).copied().unwrap_or(f64::NAN)).collect();
        let points: Vec<f64> = forecasts.iter().map(|f| f.point).collect();
        let mae = accuracy::mae(&actual, &points).unwrap_or(f64::NAN);
        let first = forecasts.first().map_or(0, |f| f.origin);
        let insample = &series[..(first + 1).min(series.len())];
        let mase = accuracy::seasonal_naive_scale(insample, self.season)
            .and_then(|scale| accuracy::mase(&actual, &points, scale));
        let (mut inside, mut lo, mut hi) = (Vec::new(), Vec::new(), Vec::new());
        for (f, y) in forecasts.iter().zip(&actual) {
            if let Some(band) = f.band {
                inside.push(*y);
                lo.push(band.p10);
                hi.push(band.p90);
            }
        }
        Scores { mae, mase, coverage_80: accuracy::coverage(&inside, &lo, &hi) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Naive;

    /// H = 2, two origins 2 apart, season 1.
    const SMALL: Protocol = Protocol { horizon: 2, step: 2, windows: 2, season: 1 };

    #[test]
    fn origins_are_laid_as_cross_validation_lays_them() {
        // n = 6: span 2 + 1 · 2 = 4, first origin 6 − 4 − 1 = 1; the last window ends at y_5.
        assert_eq!(SMALL.origins(6), Some(vec![1, 3]));
        assert_eq!(SMALL.origins(5), None, "the first origin 0 leaves no season of scale");
        // Bitbrains: 2,016 points, first origin 2,016 − 12 − 47 · 12 − 1 = 1,439.
        let origins = Protocol::BITBRAINS.origins(2016).expect("long enough");
        assert_eq!((origins[0], origins[47], origins.len()), (1439, 2003, 48));
        // GenAI: a full day of 1,441 points, first origin 1,441 − 12 − 29 · 12 − 1 = 1,080; the
        // shortest kept pod, 720 points, has its first at 359.
        let origins = Protocol::GENAI.origins(1441).expect("long enough");
        assert_eq!((origins[0], origins[29], origins.len()), (1080, 1428, 30));
        assert_eq!(Protocol::GENAI.origins(720).map(|o| o[0]), Some(359));
    }

    #[test]
    fn a_naive_backtest_scores_as_worked_by_hand() {
        // y = 1, 2, 4, 7, 11, 16; origins 1 and 3. Naive forecasts 2 for y_2 = 4 and y_3 = 7,
        // then 7 for y_4 = 11 and y_5 = 16: errors 2, 5, 4, 9, MAE 20 / 4 = 5. Scale over
        // y_0 … y_1 (up to the first origin), m = 1: |2 − 1| = 1, so MASE = 5.
        let series = [1.0, 2.0, 4.0, 7.0, 11.0, 16.0];
        let mut band = Conformal::new(2, 10, 1).expect("band");
        let forecasts = SMALL.run(&series, &mut Naive::new(), &mut band).expect("a backtest");
        let targets: Vec<(usize, f64)> = forecasts.iter().map(|f| (f.origin + f.h, f.point)).collect();
        assert_eq!(targets, [(2, 2.0), (3, 2.0), (4, 7.0), (5, 7.0)]);
        let scores = SMALL.score(&series, &forecasts);
        assert_eq!((scores.mae, scores.mase), (5.0, Some(5.0)));
        // Bands (the conformal ranks of crate::conformal): at origin 1 the one-step errors
        // are {2 − 1} = {1}, so the band is 2 + 1 = 3 throughout; there is no two-step error
        // yet. At origin 3 the one-step errors are {1, 2, 3}: p10 = 7 + 1, p90 = 7 + 3; the
        // two-step ones {4 − 1, 7 − 2} = {3, 5}: p10 = 7 + 3, p90 = 7 + 5. Targets 4, 11 and
        // 16 are all above their bands: coverage 0 of the 3 forecasts with a band.
        let bands: Vec<Option<(f64, f64)>> = forecasts.iter().map(|f| f.band.map(|b| (b.p10, b.p90))).collect();
        assert_eq!(bands, [Some((3.0, 3.0)), None, Some((8.0, 10.0)), Some((10.0, 12.0))]);
        assert_eq!(scores.coverage_80, Some(0.0));
    }

    #[test]
    fn a_series_too_short_is_an_error_not_a_panic() {
        let mut band = Conformal::new(2, 10, 1).expect("band");
        let error = SMALL.run(&[1.0, 2.0], &mut Naive::new(), &mut band).unwrap_err();
        assert_eq!(error.to_string(), "2 points are too few for 2 windows of 2 steps after a season of 1");
    }
}
