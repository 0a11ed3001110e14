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
//! sorted.
//!
//! **Which horizons, and the cost.** [`Conformal::new`] calibrates every horizon `1..=H`;
//! [`Conformal::for_horizons`] only those listed (the engine asks for 1, 3 and 12 steps, not
//! all twelve), which gives the same quantiles for those horizons, since each horizon's
//! errors are its own. Per calibrated horizon `h` it keeps:
//!
//! - the forecasts still awaiting their targets, those of the last `h` origins, origin `o`
//!   at `o mod h`: the observation that opens origin `t` scores the forecast in slot
//!   `t mod h` (made at `t − h`), and the forecast issued from `t` takes the same slot;
//! - its last `window` errors in arrival order (to know which one leaves the window) and,
//!   for each of the three ranks a band reads, the exact neighbourhood of that rank
//!   (`conformal/near.rs`: the window's distinct values in a small range around it, with
//!   their counts and how many errors lie below). An observation tells each neighbourhood
//!   the error that left and the one that entered, which mostly falls outside its range and
//!   costs a comparison; the rank is read from the range, and a range the rank has drifted
//!   out of is rebuilt from one sort of a copy of the window (one of the three every 190
//!   steps for independent errors, every 23 for errors drifting as a random walk).
//!   The neighbourhoods are built at the horizon's first
//!   [`Conformal::quantiles`] and kept from then on, so a caller that asks only after a long
//!   run (the backtest) does not pay for them until then.
//!
//! Each horizon's state is contiguous and small where the engine steps thousands of series in
//! turn with the windows mostly out of cache: scoring touches `h` consecutive slots' one,
//! not a diagonal of an `H × H` table, and a step reads a few cache lines of each
//! neighbourhood, not a sorted index of the window (which cost two searches and a shift of
//! a third of the index, some forty cold cache lines per horizon). Memory is fixed at
//! construction ([`Conformal::state_bytes`]): per calibrated horizon, `h` forecasts,
//! `window` errors and three neighbourhoods of 320 bytes; a window is at most
//! [`MAX_WINDOW`] errors.

mod near;

use near::Near;

/// Errors per horizon the bands keep, live and in `ironspider evaluate forecasts`: two days
/// of 5-minute steps, the span of the evaluation itself, so the band reflects recent
/// behaviour without tuning.
pub const BAND_WINDOW: usize = 576;
/// Errors a horizon needs before it has a band, live and in the backtest.
pub const BAND_MIN_ERRORS: usize = 50;

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
    /// The newest origin: how many observations so far.
    origin: usize,
    /// The calibrated horizons, ascending.
    calibrated: Vec<Horizon>,
}

/// One calibrated horizon: the forecasts awaiting their targets and the errors.
#[derive(Debug, Clone)]
struct Horizon {
    /// Steps ahead.
    h: usize,
    /// The forecasts issued from the last `h` origins, origin `o` at `o mod h`.
    due: Vec<Option<f64>>,
    /// Its last `window` errors.
    errors: Errors,
}

/// One horizon's last `window` errors: a ring in arrival order (to know which error leaves
/// the window) and, once an order statistic has been asked for, the neighbourhood of each of
/// the three ranks a band reads ([`near`]): exact, told every error that enters or leaves,
/// and rebuilt from a sorted copy of the window when its rank drifts out of it.
///
/// The neighbourhoods are kept from the first question on: a caller that asks at every step
/// (the engine) pays a few comparisons per error and rank, one that asks only at the end of
/// a long run (the backtest's origins are its last two days) pays a ring write per error
/// until then. Either way the order statistics are those of the same window, to the bit.
#[derive(Debug, Clone)]
struct Errors {
    /// The ring: `values.len() < window` only until it first fills.
    values: Vec<f64>,
    /// Where the next error goes once full (the oldest error's slot).
    next: usize,
    /// Around the ranks of p10, p50 and p90 ([`LEVELS`]), told every error while `kept`.
    near: Box<[Near; 3]>,
    /// Whether the neighbourhoods are told every error.
    kept: bool,
}

/// The levels a band gives, in tenths: p10, p50, p90.
const LEVELS: [usize; 3] = [1, 5, 9];

/// The longest error window a [`Conformal`] keeps per horizon (a neighbourhood counts the
/// errors of one value in 2 bytes).
pub const MAX_WINDOW: usize = u16::MAX as usize;

impl Errors {
    fn new(window: usize) -> Self {
        Errors {
            values: Vec::with_capacity(window),
            next: 0,
            near: Box::new([Near::empty(), Near::empty(), Near::empty()]),
            kept: false,
        }
    }

    /// Adds `e`, evicting the oldest error once the window is full; when kept, each
    /// neighbourhood is told what left and what entered.
    fn push(&mut self, e: f64) {
        let window = self.values.capacity();
        let left = if self.values.len() < window {
            self.values.push(e);
            None
        } else {
            let slot = self.next;
            self.next = (self.next + 1) % window;
            Some(std::mem::replace(&mut self.values[slot], e))
        };
        if self.kept {
            let n = self.values.len();
            for (near, tenths) in self.near.iter_mut().zip(LEVELS) {
                if let Some(old) = left {
                    near.remove(old);
                }
                near.insert(e, rank(tenths, n));
            }
        }
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    /// The errors at the ranks of p10, p50 and p90 (at least one error held): each read
    /// from its neighbourhood, the ones it does not hold rebuilt from one sort of a copy of
    /// the window.
    fn at_levels(&mut self) -> [f64; 3] {
        let n = self.values.len();
        if !self.kept {
            self.near.iter_mut().for_each(Near::clear);
            self.kept = true;
        }
        let ranks = LEVELS.map(|tenths| rank(tenths, n));
        let mut sorted: Option<Vec<f64>> = None;
        let mut at = |i: usize, near: &mut Near| {
            near.nth(ranks[i]).unwrap_or_else(|| {
                let sorted = sorted.get_or_insert_with(|| {
                    let mut copy = self.values.clone();
                    copy.sort_unstable_by(f64::total_cmp);
                    copy
                });
                near.rebuild(sorted, ranks[i]);
                near.nth(ranks[i]).unwrap_or(sorted[ranks[i] - 1])
            })
        };
        let [a, b, c] = &mut *self.near;
        [at(0, a), at(1, b), at(2, c)]
    }

    /// Reads the ring's next slot and each kept neighbourhood's lines (`Conformal::touch`).
    fn touch(&self) -> u64 {
        let ring = self.values.get(self.next).map_or(0, |v| v.to_bits());
        if !self.kept {
            return ring;
        }
        self.near.iter().fold(ring, |folded, near| folded ^ near.touch())
    }

    /// Bytes of its heap: 8 per error, for the whole window, and the three neighbourhoods.
    fn heap_bytes(&self) -> usize {
        self.values.capacity() * size_of::<f64>() + size_of::<[Near; 3]>()
    }
}

impl Conformal {
    /// A calibrator for horizons `1..=horizons` keeping `window` errors per horizon and
    /// giving quantiles once a horizon has `min_errors` of them (0 is taken as 1).
    /// `None` if `horizons` or `window` is 0, `window` is over [`MAX_WINDOW`], or
    /// `min_errors > window` (it could never give).
    pub fn new(horizons: usize, window: usize, min_errors: usize) -> Option<Self> {
        Self::for_horizons(&(1..=horizons).collect::<Vec<_>>(), window, min_errors)
    }

    /// A calibrator that gives quantiles for the horizons in `calibrated` only (each ≥ 1, in
    /// any order, repeats ignored); `H` is the largest. `None` if `calibrated` is empty or
    /// holds 0, and as [`Conformal::new`] for `window` and `min_errors`.
    pub fn for_horizons(calibrated: &[usize], window: usize, min_errors: usize) -> Option<Self> {
        let horizons = calibrated.iter().copied().max()?;
        if calibrated.contains(&0) || window == 0 || window > MAX_WINDOW || min_errors > window {
            return None;
        }
        let calibrated = (1..=horizons)
            .filter(|h| calibrated.contains(h))
            .map(|h| Horizon { h, due: vec![None; h], errors: Errors::new(window) })
            .collect();
        Some(Conformal { horizons, min_errors: min_errors.max(1), origin: 0, calibrated })
    }

    /// `H`, the longest horizon it calibrates.
    pub fn horizons(&self) -> usize {
        self.horizons
    }

    /// Scores the remembered forecasts whose target is this observation, then opens a new
    /// origin (with nothing issued yet) for the forecasts made after it.
    pub fn observe(&mut self, y: f64) {
        self.origin += 1;
        for horizon in &mut self.calibrated {
            // Made at origin t − h, in the slot the forecast from t will take.
            if let Some(forecast) = horizon.due[self.origin % horizon.h].take() {
                let e = y - forecast;
                if e.is_finite() {
                    horizon.errors.push(e);
                }
            }
        }
    }

    /// Remembers the point forecasts issued from the newest origin: `forecasts[h − 1]` is
    /// the forecast `h` steps ahead. Entries past `H` are ignored, missing and non-finite
    /// ones count as not issued; issuing again from the same origin replaces the earlier.
    pub fn issue(&mut self, forecasts: &[Option<f64>]) {
        self.issue_each(forecasts.iter().copied());
    }

    /// [`Conformal::issue`] from an iterator (the forecast `h` steps ahead `h`-th), for
    /// callers that do not keep the forecasts in a slice.
    pub fn issue_each(&mut self, forecasts: impl IntoIterator<Item = Option<f64>>) {
        let mut forecasts = forecasts.into_iter();
        let mut next = 1;
        for horizon in &mut self.calibrated {
            // The `h`-th forecast, skipping those of horizons not calibrated; none past the end.
            let forecast = forecasts.nth(horizon.h - next).flatten();
            next = horizon.h + 1;
            horizon.due[self.origin % horizon.h] = forecast.filter(|f| f.is_finite());
        }
    }

    /// Reads a value from each cache line the next [`Conformal::observe`] and
    /// [`Conformal::quantiles`] will use, all independent of each other: run first, the
    /// core fetches them from memory together instead of one after another as the update
    /// reaches each. Returns what it read, folded, for the caller to hand to
    /// [`std::hint::black_box`] so that the reads are not optimised away.
    pub fn touch(&self) -> u64 {
        let next = self.origin + 1;
        let mut folded = 0u64;
        for horizon in &self.calibrated {
            folded ^= horizon.due[next % horizon.h].map_or(0, f64::to_bits);
            folded ^= horizon.errors.touch();
        }
        folded
    }

    /// How many errors horizon `h` holds (0 for `h` outside `1..=H` or not calibrated).
    pub fn errors_len(&self, h: usize) -> usize {
        self.horizon_errors(h).map_or(0, Errors::len)
    }

    /// p10, p50 and p90 around the point forecast `point` at horizon `h`: `point` plus the
    /// order statistics of that horizon's errors given in the module doc. `None` for `h`
    /// outside `1..=H`, fewer than `min_errors` errors, or a non-finite `point`.
    /// The first question for a horizon sorts its errors, which are kept sorted from then
    /// on (hence `&mut`; `Errors` doc).
    pub fn quantiles(&mut self, h: usize, point: f64) -> Option<Quantiles> {
        let min_errors = self.min_errors;
        let errors = self.calibrated.iter_mut().find(|c| c.h == h).map(|c| &mut c.errors)?;
        if errors.len() < min_errors || !point.is_finite() {
            return None;
        }
        let [p10, p50, p90] = errors.at_levels().map(|e| point + e);
        Some(Quantiles { p10, p50, p90 })
    }

    /// The number of values its state holds memory for (per calibrated horizon `h`,
    /// `h` forecasts and `window` errors; at most `H(H+1)/2 + H·window`, fixed at
    /// construction); their bytes are [`Conformal::state_bytes`].
    pub fn state_len(&self) -> usize {
        self.calibrated.iter().map(|c| c.due.capacity() + c.errors.values.capacity()).sum()
    }

    /// Bytes of its state, inline and heap: the struct; per calibrated horizon `h` its slot
    /// (`size_of::<Horizon>()`, 80 bytes on 64-bit targets), `h` remembered forecasts of 16
    /// bytes (`Option<f64>`), `window` errors of 8 bytes and the three neighbourhoods of 320
    /// bytes. Fixed at construction: with horizons 1, 3 and 12 and a window of 576,
    /// `48 + 3·80 + 16·16 + 3·(4,608 + 960) = 17,248` bytes.
    pub fn state_bytes(&self) -> usize {
        let horizons = self
            .calibrated
            .iter()
            .map(|c| size_of::<Horizon>() + c.due.capacity() * size_of::<Option<f64>>() + c.errors.heap_bytes());
        size_of::<Self>() + horizons.sum::<usize>()
    }

    /// Horizon `h`'s errors, if `h` is calibrated.
    fn horizon_errors(&self, h: usize) -> Option<&Errors> {
        self.calibrated.iter().find(|c| c.h == h).map(|c| &c.errors)
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

    #[test]
    fn only_the_listed_horizons_are_calibrated_and_they_match_a_full_calibrator() {
        assert!(Conformal::for_horizons(&[], 10, 1).is_none());
        assert!(Conformal::for_horizons(&[0, 2], 10, 1).is_none());
        assert!(Conformal::for_horizons(&[2], super::MAX_WINDOW + 1, 1).is_none());
        let mut full = conformal(3, 4, 1);
        let Some(mut some) = Conformal::for_horizons(&[3, 1], 4, 1) else { panic!("valid settings") };
        assert_eq!(some.horizons(), 3);
        // A drifting series and a forecaster that lags: errors differ by horizon.
        for t in 0..20 {
            let y = (t * t % 7) as f64;
            for c in [&mut full, &mut some] {
                c.observe(y);
                c.issue(&[Some(y - 1.0), Some(y + 2.0), Some(y * 0.5)]);
            }
        }
        assert_eq!((some.errors_len(1), some.errors_len(2), some.errors_len(3)), (4, 0, 4));
        assert_eq!(some.quantiles(2, 1.0), None, "horizon 2 is not calibrated");
        for h in [1, 3] {
            assert_eq!(some.quantiles(h, 1.0), full.quantiles(h, 1.0), "h = {h}");
        }
        // Horizons 1 and 3: 1 + 3 forecasts of 16 bytes, 2 windows of 4 errors of 8 bytes
        // and 3 neighbourhoods of 320.
        let slot = size_of::<super::Horizon>();
        assert_eq!(some.state_bytes(), size_of::<Conformal>() + 2 * slot + 4 * 16 + 2 * (4 * 8 + 3 * 320));
        assert_eq!(some.state_len(), 4 + 2 * 4);
        assert_eq!((size_of::<Conformal>(), slot), (48, 80), "as the doc of state_bytes says");
    }

    #[test]
    fn equal_errors_leave_the_window_in_arrival_order() {
        // Errors 1, 1, 0, 1, 2 through a window of 3: the band must drop the right one
        // among equal errors, or the order statistics go wrong.
        let mut c = conformal(1, 3, 1);
        for y in [1.0, 1.0, 0.0, 1.0, 2.0] {
            c.issue(&[Some(0.0)]);
            c.observe(y);
        }
        // Window: 0, 1, 2 → p10, p50, p90 = 0, 1, 2 (n = 3: ranks 1, 2, 3).
        assert_eq!(c.quantiles(1, 0.0), Some(Quantiles { p10: 0.0, p50: 1.0, p90: 2.0 }));
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
        fn the_band_gives_what_sorting_the_window_gives(
            errors in proptest::collection::vec(prop_oneof![-5i32..5, -1000i32..1000], 1..400),
            window in 1usize..120,
        ) {
            // Few distinct values (many ties) and many; the reference sorts the last `window`.
            let mut c = conformal(1, window, 1);
            for (i, e) in errors.iter().enumerate() {
                c.issue(&[Some(0.0)]);
                c.observe(f64::from(*e));
                let start = (i + 1).saturating_sub(window);
                let mut last: Vec<f64> = errors[start..=i].iter().map(|e| f64::from(*e)).collect();
                last.sort_by(f64::total_cmp);
                let at = |tenths| last[rank(tenths, last.len()) - 1];
                prop_assert_eq!(c.quantiles(1, 0.0), Some(Quantiles { p10: at(1), p50: at(5), p90: at(9) }));
            }
        }

        #[test]
        fn asking_late_gives_what_asking_at_every_step_gives(
            errors in proptest::collection::vec(prop_oneof![-5i32..5, -1000i32..1000], 1..400),
            window in 1usize..120,
            late in 0usize..400,
        ) {
            // One calibrator keeps its errors sorted from the first step, the other sorts
            // them at step `late` and keeps them from then on: the same order statistics.
            let (mut every, mut once) = (conformal(1, window, 1), conformal(1, window, 1));
            for (i, e) in errors.iter().enumerate() {
                for c in [&mut every, &mut once] {
                    c.issue(&[Some(0.0)]);
                    c.observe(f64::from(*e));
                }
                let asked = every.quantiles(1, 0.5);
                if i >= late {
                    prop_assert_eq!(once.quantiles(1, 0.5), asked, "step {}", i);
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
