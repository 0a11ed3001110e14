//! The windowed Gaussian detector: how far a value lies from the recent mean, in recent
//! standard deviations, as a Gaussian probability. The baseline of its kind — NAB's
//! `windowedGaussian` entry scores a value against a window's mean and deviation too (with
//! its own window and updating) — and not expected to rank high: it models no season, trend
//! or change.
//!
//! **Formula.** With `μ` and `s` the mean and sample standard deviation of the last `n ≤ W`
//! values before `y` (`W` the window), `z = |y − μ| / s` and the score is
//! `erf(z / √2) = P(|Z| ≤ z)` for a standard normal Z: 0 at the mean, 0.6827 one deviation
//! off, 0.9973 three off. With fewer than 2 values before it a value scores 0; with `s = 0`
//! (a flat window) it scores 0 at the mean and 1 anywhere else.
//!
//! The sums are kept of deviations from a shift `c` (`Σ(y − c)`, `Σ(y − c)²`), recomputed
//! from the window once every `W` values, so rounding cannot accumulate past one window
//! (the windowed mean's `WindowSums`).

use super::Detector;
use crate::forecast::baseline::WindowSums;

/// The default window: 288 values, a day of the engine's 5-minute steps.
pub const DEFAULT_WINDOW: usize = 288;

/// The alert threshold for the default window: NAB's standard-profile optimal threshold over
/// the whole corpus, exactly the score value the optimiser picks ([`crate::nab::score_corpus`]
/// over a run of every NAB v1.1 data file; 26.02 standard at it). Its scores saturate near 1,
/// so this is a value about 7 deviations off (erf(z/√2) = 1 − 2.5e-12) rather than a
/// useful tail probability.
pub const ALERT_THRESHOLD: f64 = 0.9999999999975121;

/// Scores each value by its Gaussian tail against the last `W` values.
#[derive(Debug, Clone)]
pub struct WindowedGaussian {
    /// The last `W` values and their shifted sums.
    sums: WindowSums,
}

impl WindowedGaussian {
    /// A detector over windows of `window` (≥ 2) values; `None` below 2.
    pub fn new(window: usize) -> Option<Self> {
        (window >= 2).then(|| Self { sums: WindowSums::new(window) })
    }

    /// The score of `y` against the window as it stands.
    fn score(&self, y: f64) -> f64 {
        let n = self.sums.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (sum, squares) = (self.sums.sum(), self.sums.squares());
        let mean = sum / n;
        let variance = ((squares - sum * mean) / (n - 1.0)).max(0.0);
        let distance = (y - self.sums.shift() - mean).abs();
        if variance == 0.0 {
            return if distance == 0.0 { 0.0 } else { 1.0 };
        }
        libm::erf(distance / variance.sqrt() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
    }
}

impl Detector for WindowedGaussian {
    fn name(&self) -> &'static str {
        "gaussian"
    }

    /// The time `at` is not used: the window is the last `W` values, however spaced.
    fn observe(&mut self, _at: i64, y: f64) -> f64 {
        if !y.is_finite() {
            return 0.0;
        }
        let score = self.score(y);
        self.sums.push(y);
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scores_by_hand() {
        // Window 4. Before 1, 3: one value (1) → 0. Then 1, 3 → μ = 2, s² = ((1−2)² + (3−2)²)/1
        // = 2, s = √2; y = 2 + √2 is one deviation off: erf(1/√2) = 0.682689492…
        let mut d = WindowedGaussian::new(4).unwrap();
        assert_eq!((d.observe(0, 1.0), d.observe(0, 3.0)), (0.0, 0.0));
        let one_off = d.observe(0, 2.0 + 2f64.sqrt());
        assert!((one_off - 0.682_689_492_137_085_9).abs() < 1e-12, "{one_off}");
        // A flat window: its value scores 0, anything else 1.
        let mut flat = WindowedGaussian::new(3).unwrap();
        for _ in 0..5 {
            flat.observe(0, 7.0);
        }
        assert_eq!((flat.score(7.0), flat.score(7.5)), (0.0, 1.0));
        assert_eq!(flat.observe(0, f64::NAN), 0.0, "not finite: scored 0, not taken");
        assert_eq!(flat.score(7.0), 0.0);
        assert!(WindowedGaussian::new(1).is_none());
    }

    #[test]
    fn the_window_forgets() {
        // Window 3 over 0, 0, 0, then 10, 10, 10: the 10s fill it, and 10 scores 0 again.
        let mut d = WindowedGaussian::new(3).unwrap();
        for y in [0.0, 0.0, 0.0] {
            d.observe(0, y);
        }
        assert_eq!(d.observe(0, 10.0), 1.0);
        for _ in 0..2 {
            d.observe(0, 10.0);
        }
        assert_eq!(d.score(10.0), 0.0);
    }

    proptest! {
        /// Differential: the score is the Gaussian tail against the mean and deviation of
        /// the last W values computed afresh, and always in [0, 1].
        #[test]
        fn matches_a_direct_computation(
            ys in prop::collection::vec(-1e3..1e3f64, 3..300),
            window in 2usize..40,
        ) {
            let mut d = WindowedGaussian::new(window).unwrap();
            for (i, &y) in ys.iter().enumerate() {
                let got = d.observe(0, y);
                prop_assert!((0.0..=1.0).contains(&got));
                let before = &ys[i.saturating_sub(window)..i];
                let n = before.len() as f64;
                if before.len() < 2 {
                    prop_assert_eq!(got, 0.0);
                    continue;
                }
                let mean = before.iter().sum::<f64>() / n;
                let sd = (before.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                if sd < 1e-6 {
                    continue;
                }
                let expected = libm::erf((y - mean).abs() / sd / std::f64::consts::SQRT_2);
                prop_assert!((got - expected).abs() < 1e-6, "i = {}: {} vs {}", i, got, expected);
            }
        }
    }
}
