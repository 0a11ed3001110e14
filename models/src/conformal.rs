//! Conformal quantiles: p10/p50/p90 for horizons `1..=H` from each horizon's recent errors.
//!
//! **Contract:** [`Conformal`] is told each observation ([`Conformal::observe`]) and, after
//! it, the point forecasts issued from that origin ([`Conformal::issue`], index `h − 1` =
//! `h` steps ahead). When an observation `y_t` arrives it scores every remembered forecast
//! whose target is `t`: the forecast issued `h` steps earlier for horizon `h` gives the error
//! `e_h = y_t − ŷ_{t|t−h}`. Each horizon keeps its last `window` errors. For a new point
//! forecast `ŷ` at horizon `h` with `n ≥ min_errors` errors `e_(1) ≤ … ≤ e_(n)`,
//! [`Conformal::quantiles`] gives `p_q = ŷ + e_(k_q)` with
//!
//! - `k_q = ⌈q(n+1)⌉` for `q ≥ ½` (p50, p90) and `k_q = ⌊q(n+1)⌋` for `q < ½` (p10),
//! - each clamped to `[1, n]`.
//!
//! This is split-conformal prediction with the signed error as the score (Vovk, Gammerman
//! & Shafer, *Algorithmic Learning in a Random World*, 2005; Lei, G'Sell, Rinaldo, Tibshirani
//! & Wasserman, "Distribution-free predictive inference for regression", JASA 2018, which
//! take the `⌈(1−α)(n+1)⌉`-th smallest score), applied per horizon over a moving window of
//! past forecasts as in Stankeviciute, Alaa & van der Schaar, "Conformal time-series
//! forecasting", NeurIPS 2021. With exchangeable errors and unclamped ranks,
//! `P(y ≤ p90) ≥ 0.9` and `P(y ≥ p10) ≥ 0.9`; the ranks for 0.1 and 0.9 are mirror images
//! (`k_0.1 = n + 1 − k_0.9`), so the band is symmetric in rank. Clamping (when `n < 9`)
//! makes the band narrower than the guarantee wants; `min_errors` is the caller's say in
//! how few errors it will accept.
//!
//! `p10 ≤ p50 ≤ p90` always holds: the ranks are non-decreasing in `q` and the errors are
//! sorted. Memory is fixed at construction: `H²` remembered forecasts and `H · window`
//! errors.

use crate::forecast::baseline::Ring;
use crate::pending::Pending;

/// p10, p50 and p90 of one horizon's forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// A per-horizon split-conformal calibrator over a moving window of errors.
#[derive(Debug, Clone)]
pub struct Conformal {
    /// `H`, the longest horizon.
    horizons: usize,
    /// How many errors a horizon needs before it gives quantiles (at least 1).
    min_errors: usize,
    /// The forecasts of the last `H` origins, awaiting their targets.
    issued: Pending,
    /// Each horizon's last `window` errors (index `h − 1`).
    errors: Vec<Ring<f64>>,
}

impl Conformal {
    /// A calibrator for horizons `1..=horizons` keeping `window` errors per horizon and
    /// giving quantiles once a horizon has `min_errors` of them (0 is taken as 1).
    /// `None` if `horizons` or `window` is 0, or `min_errors > window` (it could never give).
    pub fn new(horizons: usize, window: usize, min_errors: usize) -> Option<Self> {
        if horizons == 0 || window == 0 || min_errors > window {
            return None;
        }
        Some(Conformal {
            horizons,
            min_errors: min_errors.max(1),
            issued: Pending::new(horizons),
            errors: (0..horizons).map(|_| Ring::new(window)).collect(),
        })
    }

    /// `H`, the longest horizon it calibrates.
    pub fn horizons(&self) -> usize {
        self.horizons
    }

    /// Scores the remembered forecasts whose target is this observation, then opens a new
    /// origin (with nothing issued yet) for the forecasts made after it.
    pub fn observe(&mut self, y: f64) {
        let errors = &mut self.errors;
        self.issued.arrive(|h, forecast| {
            let e = y - forecast;
            if e.is_finite() {
                errors[h - 1].push(e);
            }
        });
    }

    /// Remembers the point forecasts issued from the newest origin: `forecasts[h − 1]` is
    /// the forecast `h` steps ahead. Entries past `H` are ignored, missing and non-finite
    /// ones count as not issued; issuing again from the same origin replaces the earlier.
    pub fn issue(&mut self, forecasts: &[Option<f64>]) {
        self.issued.issue(forecasts.iter().map(|f| f.filter(|f| f.is_finite())));
    }

    /// How many errors horizon `h` holds (0 for `h` outside `1..=H`).
    pub fn errors_len(&self, h: usize) -> usize {
        self.horizon_errors(h).map_or(0, Ring::len)
    }

    /// p10, p50 and p90 around the point forecast `point` at horizon `h`: `point` plus the
    /// order statistics of that horizon's errors given in the module doc. `None` for `h`
    /// outside `1..=H`, fewer than `min_errors` errors, or a non-finite `point`.
    pub fn quantiles(&self, h: usize, point: f64) -> Option<Quantiles> {
        let errors = self.horizon_errors(h)?;
        if errors.len() < self.min_errors || !point.is_finite() {
            return None;
        }
        let mut sorted = errors.values().to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |tenths| sorted.get(rank(tenths, sorted.len()) - 1).map(|e| point + e);
        Some(Quantiles { p10: at(1)?, p50: at(5)?, p90: at(9)? })
    }

    /// The number of values its state holds memory for (`H² + H·window`, fixed at
    /// construction).
    pub fn state_len(&self) -> usize {
        self.issued.capacity() + self.errors.iter().map(Ring::allocated).sum::<usize>()
    }

    /// Horizon `h`'s errors, if `h` is in `1..=H`.
    fn horizon_errors(&self, h: usize) -> Option<&Ring<f64>> {
        self.errors.get(h.checked_sub(1)?)
    }
}

/// The 1-based rank of the order statistic for level `q = tenths/10` among `n ≥ 1` values:
/// `⌊q(n+1)⌋` below the median, `⌈q(n+1)⌉` from it up, clamped to `[1, n]` (in integers, so
/// that `0.1·10` is exactly 1).
fn rank(tenths: usize, n: usize) -> usize {
    let scaled = tenths * (n + 1);
    let k = if tenths < 5 { scaled / 10 } else { scaled.div_ceil(10) };
    k.clamp(1, n.max(1))
}

#[cfg(test)]
mod tests {
    use super::{Conformal, Quantiles, rank};
    use crate::forecast::Forecaster;
    use crate::forecast::baseline::{Naive, all_with};
    use proptest::prelude::*;

    fn conformal(horizons: usize, window: usize, min_errors: usize) -> Conformal {
        let Some(c) = Conformal::new(horizons, window, min_errors) else { panic!("valid settings") };
        c
    }

    #[test]
    fn new_refuses_what_could_never_work() {
        assert!(Conformal::new(0, 10, 1).is_none());
        assert!(Conformal::new(3, 0, 0).is_none());
        assert!(Conformal::new(3, 4, 5).is_none());
        assert!(Conformal::new(3, 4, 4).is_some());
    }

    #[test]
    fn ranks_by_hand() {
        // n = 9: ⌊0.1·10⌋ = 1, ⌈0.5·10⌉ = 5, ⌈0.9·10⌉ = 9.
        assert_eq!((rank(1, 9), rank(5, 9), rank(9, 9)), (1, 5, 9));
        // n = 3: ⌊0.4⌋ = 0 → 1, ⌈2.0⌉ = 2, ⌈3.6⌉ = 4 → 3.
        assert_eq!((rank(1, 3), rank(5, 3), rank(9, 3)), (1, 2, 3));
        // n = 20: ⌊2.1⌋ = 2, ⌈10.5⌉ = 11, ⌈18.9⌉ = 19; 2 = 21 − 19.
        assert_eq!((rank(1, 20), rank(5, 20), rank(9, 20)), (2, 11, 19));
    }

    #[test]
    fn one_horizon_by_hand() {
        let mut c = conformal(1, 9, 3);
        // Forecast 10 each step; the errors y − 10 are 2, −3, 0, 5, −1, 1, −2, 3, 0.
        let ys = [12.0, 7.0, 10.0, 15.0, 9.0, 11.0, 8.0, 13.0, 10.0];
        for (i, y) in ys.iter().enumerate() {
            c.issue(&[Some(10.0)]);
            c.observe(*y);
            if i == 1 {
                assert_eq!(c.quantiles(1, 100.0), None, "2 errors < min_errors 3");
            }
            if i == 2 {
                // Errors 2, −3, 0 → sorted −3, 0, 2; ranks (n = 3) 1, 2, 3.
                assert_eq!(c.quantiles(1, 100.0), Some(Quantiles { p10: 97.0, p50: 100.0, p90: 102.0 }));
            }
        }
        // Sorted −3, −2, −1, 0, 0, 1, 2, 3, 5; ranks (n = 9) 1, 5, 9 → −3, 0, 5.
        assert_eq!(c.quantiles(1, 100.0), Some(Quantiles { p10: 97.0, p50: 100.0, p90: 105.0 }));
        assert_eq!((c.quantiles(0, 1.0), c.quantiles(2, 1.0), c.quantiles(1, f64::NAN)), (None, None, None));
        // A tenth error, 20 − 10 = 10, evicts the first (2): sorted −3, −2, −1, 0, 0, 1, 3, 5, 10.
        c.issue(&[Some(10.0)]);
        c.observe(20.0);
        assert_eq!(c.errors_len(1), 9);
        assert_eq!(c.quantiles(1, 0.0), Some(Quantiles { p10: -3.0, p50: 0.0, p90: 10.0 }));
    }

    #[test]
    fn each_forecast_is_scored_at_its_own_horizon() {
        let mut c = conformal(2, 5, 1);
        c.observe(1.0);
        c.issue(&[Some(1.0), Some(1.0)]); // origin 1: ŷ_2 = 1, ŷ_3 = 1
        c.observe(2.0); // h=1: 2 − 1 = 1
        c.issue(&[Some(2.0), Some(3.0)]); // origin 2: ŷ_3 = 2, ŷ_4 = 3
        c.observe(4.0); // h=1: 4 − 2 = 2; h=2: 4 − 1 = 3
        assert_eq!((c.errors_len(1), c.errors_len(2)), (2, 1));
        // h=2, n=1: every rank clamps to 1 → 3.
        assert_eq!(c.quantiles(2, 0.0), Some(Quantiles { p10: 3.0, p50: 3.0, p90: 3.0 }));
        // h=1, errors 1, 2 (n = 2): ⌊0.3⌋ → 1, ⌈1.5⌉ = 2, ⌈2.7⌉ = 3 → 2.
        assert_eq!(c.quantiles(1, 0.0), Some(Quantiles { p10: 1.0, p50: 2.0, p90: 2.0 }));
    }

    #[test]
    fn a_skipped_issue_is_not_scored_against_an_old_forecast() {
        let mut c = conformal(2, 5, 1);
        c.issue(&[Some(0.0), Some(0.0)]); // origin 0: ŷ_1 = 0, ŷ_2 = 0
        c.observe(5.0); // h=1: 5
        c.observe(7.0); // h=2: 7 (origin 0); nothing from origin 1
        for y in [9.0, 11.0, 13.0] {
            c.observe(y); // nothing issued from origins 1, 2, 3, 4
        }
        assert_eq!((c.errors_len(1), c.errors_len(2)), (1, 1));
        assert_eq!(c.quantiles(1, 0.0).map(|q| q.p50), Some(5.0));
        assert_eq!(c.quantiles(2, 0.0).map(|q| q.p50), Some(7.0));
    }

    /// Feeds `ys` to `model` and `c`, issuing the model's forecasts after each observation.
    fn run(model: &mut dyn Forecaster, c: &mut Conformal, ys: impl IntoIterator<Item = f64>) {
        for y in ys {
            model.observe(y);
            c.observe(y);
            let forecasts: Vec<Option<f64>> = (1..=c.horizons()).map(|h| model.forecast(h)).collect();
            c.issue(&forecasts);
        }
    }

    proptest! {
        #[test]
        fn quantiles_are_ordered(
            steps in proptest::collection::vec((-1e6f64..1e6, proptest::collection::vec(proptest::option::of(-1e6f64..1e6), 0..6)), 1..120),
            horizons in 1usize..5,
            window in 1usize..30,
            point in -1e6f64..1e6,
        ) {
            let mut c = conformal(horizons, window, 1);
            for (y, forecasts) in &steps {
                c.observe(*y);
                c.issue(forecasts);
            }
            for h in 1..=horizons {
                if let Some(q) = c.quantiles(h, point) {
                    prop_assert!(q.p10 <= q.p50 && q.p50 <= q.p90, "{:?}", q);
                }
            }
        }

        #[test]
        fn a_constant_series_gives_a_zero_width_band(c0 in -1e9f64..1e9, k in 1usize..8, horizons in 1usize..6) {
            for mut model in all_with(k) {
                let mut c = conformal(horizons, 10, 3);
                run(model.as_mut(), &mut c, std::iter::repeat_n(c0, k + horizons + 10));
                for h in 1..=horizons {
                    let point = model.forecast(h);
                    prop_assert_eq!(point, Some(c0));
                    let band = point.and_then(|p| c.quantiles(h, p));
                    prop_assert_eq!(band, Some(Quantiles { p10: c0, p50: c0, p90: c0 }), "{} h={}", model.name(), h);
                }
            }
        }

        #[test]
        fn the_state_does_not_grow(horizons in 1usize..6, window in 1usize..40, ys in proptest::collection::vec(-1e3f64..1e3, 1..32)) {
            let mut c = conformal(horizons, window, 1);
            let before = c.state_len();
            prop_assert!(before <= horizons * horizons + horizons * window);
            let mut model = Naive::new();
            run(&mut model, &mut c, ys.iter().copied().cycle().take(10_000));
            prop_assert_eq!(c.state_len(), before);
            for h in 1..=horizons {
                prop_assert!(c.errors_len(h) <= window);
            }
        }
    }
}
