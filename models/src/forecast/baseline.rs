//! Streaming baselines: the forecasts every other model must beat.
//!
//! **Contract:** each type implements [`Forecaster`] with state bounded at construction
//! (one value, or a ring of `season`/`window` values) that never grows with the number of
//! observations; `forecast(0)` and any forecast before the model has seen enough are `None`.
//! With `y_1 … y_T` the observations so far and `h ≥ 1` (Hyndman & Athanasopoulos,
//! *Forecasting: Principles and Practice*, 3rd ed. (fpp3), §5.2 "Some simple forecasting
//! methods"):
//!
//! - [`Naive`]: `ŷ_{T+h|T} = y_T`;
//! - [`SeasonalNaive`]: `ŷ_{T+h|T} = y_{T+h−m(k+1)}` with `k = ⌊(h−1)/m⌋` and `m` the
//!   season, i.e. the value one season back of the target; it needs a full season seen;
//! - [`WindowMean`]: `ŷ_{T+h|T} = (1/n) Σ_{t=T−n+1}^{T} y_t`, `n = min(T, window)` (fpp3's
//!   mean method restricted to a moving window);
//! - [`WindowMedian`]: the median of the same `n` values (for even `n`, the midpoint of the
//!   two middle values), a robust baseline that is hard to beat on VM CPU series.

mod ring;
mod sums;

pub(crate) use ring::Ring;
pub(crate) use sums::WindowSums;

use super::Forecaster;

/// A flat forecast: `value` for every `h ≥ 1`, `None` for `h = 0`.
fn flat(h: usize, value: Option<f64>) -> Option<f64> {
    if h == 0 { None } else { value }
}

/// The naive forecast: the last observation, for every horizon.
#[derive(Debug, Clone, Default)]
pub struct Naive {
    /// The newest observation.
    last: Option<f64>,
}

impl Naive {
    /// A naive forecaster that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of values its state holds memory for: 1, whatever it has seen.
    pub fn state_len(&self) -> usize {
        1
    }
}

impl Forecaster for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn observe(&mut self, y: f64) {
        self.last = Some(y);
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        flat(h, self.last)
    }

    fn touch(&self, _ahead: usize) -> u64 {
        self.last.map_or(0, f64::to_bits)
    }
}

/// The seasonal naive forecast: the value one season before the target.
#[derive(Debug, Clone)]
pub struct SeasonalNaive {
    /// The last `season` observations.
    ring: Ring<f64>,
}

impl SeasonalNaive {
    /// A seasonal naive forecaster for a season of `season` steps; `None` if `season` is 0.
    pub fn new(season: usize) -> Option<Self> {
        (season > 0).then(|| SeasonalNaive { ring: Ring::new(season) })
    }

    /// The season `m`, in steps.
    pub fn season(&self) -> usize {
        self.ring.capacity()
    }

    /// The number of values its state holds memory for (`season`, fixed at construction).
    pub fn state_len(&self) -> usize {
        self.ring.allocated()
    }
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> &'static str {
        "snaive"
    }

    fn observe(&mut self, y: f64) {
        self.ring.push(y);
    }

    /// The slot the push writes and those the forecasts up to `ahead` read (one season
    /// back of each target: the next `ahead` oldest values).
    fn touch(&self, ahead: usize) -> u64 {
        self.ring.touch(ahead + 1)
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        if h == 0 || !self.ring.is_full() {
            return None;
        }
        // With h − 1 = k·m + r (0 ≤ r < m): T + h − m(k+1) = T − (m − 1 − r),
        // i.e. the value m − 1 − r observations before the newest.
        let m = self.season();
        self.ring.ago(m - 1 - (h - 1) % m).copied()
    }
}

/// The mean of the last `window` observations (fewer while it fills).
///
/// The sum is kept of the deviations from a shift `c` (the mean is `c + Σ(y − c)/n`) and
/// recomputed from the buffer once every `window` observations (`WindowSums`), so rounding
/// cannot accumulate past one window; a constant series gives its constant exactly.
#[derive(Debug, Clone)]
pub struct WindowMean {
    /// The last `window` observations and their shifted sums.
    sums: WindowSums,
}

impl WindowMean {
    /// A windowed mean over `window` observations; `None` if `window` is 0.
    pub fn new(window: usize) -> Option<Self> {
        (window > 0).then(|| WindowMean { sums: WindowSums::new(window) })
    }

    /// The number of values its state holds memory for (`window`, fixed at construction).
    pub fn state_len(&self) -> usize {
        self.sums.allocated()
    }
}

impl Forecaster for WindowMean {
    fn name(&self) -> &'static str {
        "window_mean"
    }

    fn observe(&mut self, y: f64) {
        self.sums.push(y);
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        let n = self.sums.len();
        flat(h, (n > 0).then(|| self.sums.shift() + self.sums.sum() / n as f64))
    }
}

/// The median of the last `window` observations (fewer while it fills).
///
/// Keeps the window both in arrival order (to know what to evict) and sorted (to read the
/// median); an update costs O(window), and the median is read once per update (a bank asks
/// for it at every horizon it scores).
#[derive(Debug, Clone)]
pub struct WindowMedian {
    /// The last `window` observations, in arrival order.
    ring: Ring<f64>,
    /// The same values, ascending (by `f64::total_cmp`).
    sorted: Vec<f64>,
    /// Their median, `None` while empty.
    median: Option<f64>,
}

impl WindowMedian {
    /// A windowed median over `window` observations; `None` if `window` is 0.
    pub fn new(window: usize) -> Option<Self> {
        (window > 0).then(|| WindowMedian { ring: Ring::new(window), sorted: Vec::with_capacity(window), median: None })
    }

    /// The number of values its state holds memory for (`2·window`, fixed at construction).
    pub fn state_len(&self) -> usize {
        self.ring.allocated() + self.sorted.capacity()
    }

    /// Where `y` sits (or would sit) in the sorted values.
    fn rank(&self, y: f64) -> usize {
        self.sorted.partition_point(|v| v.total_cmp(&y).is_lt())
    }

    /// Takes `y` into both orders, the oldest value leaving once the window is full: the
    /// value leaving is replaced by `y` where it lies, and `y` moved to its place by swaps
    /// with its neighbours (as insertion sort does): one pass over the values between, no
    /// shift of the whole tail and no call to `memmove` for a few dozen bytes.
    fn place(&mut self, y: f64) {
        let leaving = self.ring.push(y).and_then(|old| {
            let at = self.rank(old);
            self.sorted.get(at).is_some_and(|v| v.total_cmp(&old).is_eq()).then_some(at)
        });
        let Some(mut at) = leaving else {
            let at = self.rank(y);
            self.sorted.insert(at, y);
            return;
        };
        let sorted = &mut self.sorted;
        sorted[at] = y;
        while at > 0 && sorted[at - 1].total_cmp(&sorted[at]).is_gt() {
            sorted.swap(at - 1, at);
            at -= 1;
        }
        while at + 1 < sorted.len() && sorted[at + 1].total_cmp(&sorted[at]).is_lt() {
            sorted.swap(at, at + 1);
            at += 1;
        }
    }
}

impl Forecaster for WindowMedian {
    fn name(&self) -> &'static str {
        "window_median"
    }

    /// Places `y` in the window and reads the median once, for every horizon's forecast.
    fn observe(&mut self, y: f64) {
        self.place(y);
        self.median = median_of_sorted(&self.sorted);
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        flat(h, self.median)
    }

    /// The whole window, both orders: an update may read any of it.
    fn touch(&self, _ahead: usize) -> u64 {
        super::touch_lines(&self.sorted) ^ self.ring.touch(self.ring.capacity())
    }
}

/// The median of ascending values: the middle one, or for an even count `a + (b − a)/2` of
/// the two middle ones (exact when they are equal); `None` if empty.
fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    let upper = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        return Some(upper);
    }
    let lower = *sorted.get(n / 2 - 1)?;
    Some(lower + (upper - lower) / 2.0)
}

/// Every baseline, built with `k` as the season or window (for tests across models).
#[cfg(test)]
pub(crate) fn all_with(k: usize) -> Vec<Box<dyn Forecaster>> {
    let mut models: Vec<Box<dyn Forecaster>> = vec![Box::new(Naive::new())];
    models.extend(SeasonalNaive::new(k).map(|m| Box::new(m) as Box<dyn Forecaster>));
    models.extend(WindowMean::new(k).map(|m| Box::new(m) as Box<dyn Forecaster>));
    models.extend(WindowMedian::new(k).map(|m| Box::new(m) as Box<dyn Forecaster>));
    models
}

#[cfg(test)]
mod tests {
    use super::{Forecaster, Naive, SeasonalNaive, WindowMean, WindowMedian, all_with};
    use proptest::prelude::*;

    fn fed<F: Forecaster>(mut model: F, ys: &[f64]) -> F {
        for &y in ys {
            model.observe(y);
        }
        model
    }

    fn horizons<F: Forecaster>(model: &F, hs: std::ops::RangeInclusive<usize>) -> Vec<Option<f64>> {
        hs.map(|h| model.forecast(h)).collect()
    }

    #[test]
    fn naive_repeats_the_last_observation() {
        let empty = Naive::new();
        assert_eq!(empty.forecast(1), None);
        let model = fed(Naive::new(), &[3.0, 5.0]);
        // ŷ_{T+h} = y_T = 5 for every h ≥ 1.
        assert_eq!(horizons(&model, 0..=3), [None, Some(5.0), Some(5.0), Some(5.0)]);
        assert_eq!(model.name(), "naive");
    }

    #[test]
    fn seasonal_naive_with_m_3_on_1_to_7() {
        assert!(SeasonalNaive::new(0).is_none());
        let Some(model) = SeasonalNaive::new(3) else { panic!("season 3 is valid") };
        let model = fed(model, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        // T = 7, m = 3, y_t = t. ŷ_{T+h} = y_{T+h−3(⌊(h−1)/3⌋+1)}:
        // h=1: y_{8−3·1} = y_5 = 5;  h=2: y_{9−3} = y_6 = 6;  h=3: y_{10−3} = y_7 = 7;
        // h=4: y_{11−3·2} = y_5 = 5;  h=0: None.
        assert_eq!(horizons(&model, 0..=4), [None, Some(5.0), Some(6.0), Some(7.0), Some(5.0)]);
    }

    #[test]
    fn seasonal_naive_needs_a_full_season() {
        let Some(model) = SeasonalNaive::new(3) else { panic!("season 3 is valid") };
        let model = fed(model, &[1.0, 2.0]);
        assert_eq!(model.forecast(1), None);
        let model = fed(model, &[3.0]);
        // T = 3: h=1 → y_1 = 1.
        assert_eq!(model.forecast(1), Some(1.0));
    }

    #[test]
    fn window_mean_by_hand() {
        assert!(WindowMean::new(0).is_none());
        let Some(model) = WindowMean::new(3) else { panic!("window 3 is valid") };
        assert_eq!(model.forecast(1), None);
        let model = fed(model, &[1.0, 2.0]);
        // Filling: (1 + 2)/2 = 1.5.
        assert_eq!(model.forecast(1), Some(1.5));
        let model = fed(model, &[4.0, 8.0]);
        // Last 3 of 1,2,4,8: (2 + 4 + 8)/3 = 14/3.
        assert_eq!(horizons(&model, 0..=2), [None, Some(14.0 / 3.0), Some(14.0 / 3.0)]);
    }

    #[test]
    fn window_median_by_hand() {
        assert!(WindowMedian::new(0).is_none());
        let Some(four) = WindowMedian::new(4) else { panic!("window 4 is valid") };
        let Some(three) = WindowMedian::new(3) else { panic!("window 3 is valid") };
        let ys = [5.0, 1.0, 4.0, 2.0, 9.0];
        // Last 4: 1,4,2,9 → sorted 1,2,4,9 → (2 + 4)/2 = 3.
        assert_eq!(fed(four, &ys).forecast(1), Some(3.0));
        // Last 3: 4,2,9 → sorted 2,4,9 → 4.
        assert_eq!(fed(three, &ys).forecast(2), Some(4.0));
    }

    #[test]
    fn window_mean_does_not_drift() {
        let Some(model) = WindowMean::new(7) else { panic!("window 7 is valid") };
        // One huge value, then small ones: a running sum that never restarts keeps the
        // rounding of 1e15 (ulp 0.125) after 1e15 has left the window.
        let ys: Vec<f64> = (0..10_000).map(|i| if i == 0 { 1e15 } else { 0.1 * f64::from(i % 17) }).collect();
        let model = fed(model, &ys);
        let tail = &ys[ys.len() - 7..];
        let direct = tail.iter().sum::<f64>() / 7.0;
        let Some(got) = model.forecast(1) else { panic!("a full window forecasts") };
        assert!((got - direct).abs() <= 1e-12 * (1.0 + direct.abs()), "{got} against {direct}");
    }

    proptest! {
        #[test]
        fn a_constant_series_forecasts_its_constant(c in -1e9f64..1e9, k in 1usize..12, extra in 0usize..40) {
            for mut model in all_with(k) {
                for _ in 0..k + extra {
                    model.observe(c);
                }
                for h in 1..=3 * k {
                    prop_assert_eq!(model.forecast(h), Some(c), "{} h={}", model.name(), h);
                }
            }
        }

        #[test]
        fn window_median_and_mean_agree_with_a_direct_computation(
            ys in proptest::collection::vec(-1e6f64..1e6, 1..200),
            k in 1usize..20,
        ) {
            let (Some(mean), Some(median)) = (WindowMean::new(k), WindowMedian::new(k)) else {
                panic!("k ≥ 1 is valid")
            };
            let (mean, median) = (fed(mean, &ys), fed(median, &ys));
            let mut tail = ys[ys.len().saturating_sub(k)..].to_vec();
            let n = tail.len() as f64;
            let direct_mean = tail.iter().sum::<f64>() / n;
            let Some(got) = mean.forecast(1) else { panic!("non-empty window") };
            prop_assert!((got - direct_mean).abs() <= 1e-9 * (1.0 + direct_mean.abs()));
            tail.sort_by(f64::total_cmp);
            prop_assert_eq!(median.forecast(1), super::median_of_sorted(&tail));
        }

        #[test]
        fn window_median_holds_the_window_sorted_after_every_value_with_ties(
            ys in proptest::collection::vec(prop::sample::select(vec![-1.0, -0.0, 0.0, 0.5, 2.0]), 1..120),
            k in 1usize..30,
        ) {
            let Some(mut median) = WindowMedian::new(k) else { panic!("k ≥ 1 is valid") };
            for (i, y) in ys.iter().enumerate() {
                median.observe(*y);
                let mut window = ys[(i + 1).saturating_sub(k)..=i].to_vec();
                window.sort_by(f64::total_cmp);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&median.sorted), bits(&window), "after value {}", i);
                // The median kept at each update is the window's, read afresh.
                let fresh = super::median_of_sorted(&window).map(f64::to_bits);
                prop_assert_eq!(median.forecast(2).map(f64::to_bits), fresh, "after value {}", i);
            }
        }

        #[test]
        fn the_state_does_not_grow(k in 1usize..50, ys in proptest::collection::vec(-1e3f64..1e3, 1..64)) {
            let (Some(s), Some(m), Some(d)) = (SeasonalNaive::new(k), WindowMean::new(k), WindowMedian::new(k)) else {
                panic!("k ≥ 1 is valid")
            };
            let before = (s.state_len(), m.state_len(), d.state_len());
            let (mut s, mut m, mut d) = (s, m, d);
            for y in ys.iter().cycle().take(10_000) {
                s.observe(*y);
                m.observe(*y);
                d.observe(*y);
            }
            prop_assert_eq!((s.state_len(), m.state_len(), d.state_len()), before);
            prop_assert!(before.0 <= k && before.1 <= k && before.2 <= 2 * k);
            prop_assert_eq!(std::mem::size_of_val(&d), std::mem::size_of::<WindowMedian>());
        }
    }
}
