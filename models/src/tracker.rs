//! A live tracker of one series on a fixed step: a catalogue model and its conformal band,
//! fed one step at a time by the engine, giving p10/p50/p90 at a configured set of horizons
//! after each step.
//!
//! ## Contract
//!
//! [`Tracker::observe`]`(k, y)` takes the value `y` of step `k` (steps are consecutive
//! integers on the series' grid, `k·step` the step's start):
//!
//! - a non-finite `y` is refused ([`Refused::NotFinite`]) and the state is unchanged;
//! - the same step twice is refused ([`Refused::RepeatedStep`]);
//! - after the previous step `k₀`, the `g = k − k₀ − 1` missing steps are forward-filled
//!   with the last value `y_{k₀}` when `1 ≤ g ≤ max_gap`, each fed to the model and band as
//!   an observation (the panel of `ironspider evaluate forecasts` fills its gaps the same
//!   way);
//! - a longer gap, or a step before `k₀`, resets the state: a fresh model and band, as if
//!   the series started at `k` (a series that comes back after a long silence, or a clock
//!   that went back, starts fresh rather than from a stale level).
//!
//! Feeding one value `y` is exactly what the backtest does at each step
//! (`ironspider_models::backtest`): the model observes `y`, the band scores the forecasts
//! whose target was this step, then the model's point forecasts `ŷ_h` are issued to the band.
//! Only the configured horizons are computed and calibrated, which leaves their quantiles as
//! they would be with all of `1..=H` calibrated.
//!
//! [`Tracker::forecast`]`(i)` at the `i`-th configured horizon `h` is the band's
//! `p_q = ŷ_h + e_(k_q)` ([`crate::conformal`]): `p10 ≤ p50 ≤ p90`, and a series the model
//! fits exactly (a constant one) has errors 0 and a zero-width band at the constant. It is
//! [`Unavailable`] with its reason until the model and band can give it:
//! [`Unavailable::NoData`] before any step, [`Unavailable::WarmingUp`] while the model
//! cannot forecast that far, [`Unavailable::Calibrating`] while the horizon has fewer than
//! `band_min_errors` errors, [`Unavailable::NotFinite`] if the model's forecast or a
//! quantile overflowed.
//!
//! ## Memory
//!
//! Fixed at construction, whatever the number of observations: the tracker's own part is
//! [`Tracker::state_bytes`] — the struct, the latest point forecast per configured horizon
//! and its quantiles (16 and 32 bytes each) and the band ([`crate::Conformal::state_bytes`]:
//! per configured horizon `h`, `h` remembered forecasts, `8·band_window` bytes of errors and
//! 960 bytes of the neighbourhoods of the three ranks it reads) — plus the model's own
//! state, which the model does not report (the engine's bench counts it with a counting
//! allocator). With the engine's defaults (horizons 1, 3 and 12 steps, a window of 576
//! errors) the band is 17,248 bytes.

use crate::conformal::{Conformal, Quantiles};
use crate::forecast::{self, Forecaster, GlobalModel};
use std::sync::Arc;

/// What every tracker of one configuration shares: the model, the horizons and the band's
/// and gap's settings, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackerSettings {
    model: &'static str,
    season: usize,
    horizons: Vec<usize>,
    band_window: usize,
    band_min_errors: usize,
    max_gap: i64,
    /// The fitted global model fresh trackers' models take, once there is one.
    global: Option<Arc<GlobalModel>>,
}

/// The longest gap a tracker forward-fills, in steps, so that one value costs at most
/// `MAX_GAP + 1` model updates.
pub const MAX_GAP: u64 = 4096;

/// A tracker setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The catalogue has no such model, or it refuses the season or horizon.
    #[error("model {model:?} with a season of {season} steps and horizons up to {horizon}: {why}")]
    Model {
        /// The name asked for.
        model: String,
        /// Steps per season.
        season: usize,
        /// The longest horizon, in steps.
        horizon: usize,
        /// Why: unknown, or settings it refuses.
        why: &'static str,
    },
    /// No horizon, or a horizon of 0 steps.
    #[error("horizons {0:?}: at least one, each of 1 step or more")]
    Horizons(Vec<usize>),
    /// A gap too long to fill.
    #[error("max_gap {0}: at most 4096 steps")]
    Gap(u64),
    /// A band that could never give quantiles.
    #[error(
        "band window {window} with {min_errors} errors needed: the window is 1 to 65,535 errors and holds the minimum"
    )]
    Band {
        /// Errors kept per horizon.
        window: usize,
        /// Errors needed before a band is given.
        min_errors: usize,
    },
}

impl TrackerSettings {
    /// Settings for trackers of the catalogue model `model` ([`forecast::named_for`]) at
    /// `season` steps per season, giving forecasts `horizons` steps ahead (sorted and
    /// deduplicated here), with a band of `band_window` errors per horizon given from
    /// `band_min_errors` on, forward-filling gaps of up to `max_gap` (≤ [`MAX_GAP`]) steps.
    pub fn new(
        model: &str,
        season: usize,
        horizons: &[usize],
        band_window: usize,
        band_min_errors: usize,
        max_gap: u64,
    ) -> Result<Self, SettingsError> {
        let mut sorted = horizons.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let Some(&longest) = sorted.last().filter(|_| sorted[0] >= 1) else {
            return Err(SettingsError::Horizons(horizons.to_vec()));
        };
        let model_error = |why| SettingsError::Model { model: model.to_string(), season, horizon: longest, why };
        let name = forecast::NAMES.iter().copied().find(|n| *n == model).ok_or_else(|| model_error("unknown"))?;
        forecast::named_for(name, season, &sorted, None)
            .ok_or_else(|| model_error("the model refuses these settings"))?;
        Conformal::for_horizons(&sorted, band_window, band_min_errors)
            .ok_or(SettingsError::Band { window: band_window, min_errors: band_min_errors })?;
        if max_gap > MAX_GAP {
            return Err(SettingsError::Gap(max_gap));
        }
        Ok(Self {
            model: name,
            season,
            horizons: sorted,
            band_window,
            band_min_errors,
            max_gap: max_gap as i64,
            global: None,
        })
    }

    /// The same settings, with `global` for the trackers made from them from now on (running
    /// trackers take it with [`Tracker::adopt_global`]).
    pub fn with_global(&self, global: Arc<GlobalModel>) -> Self {
        Self { global: Some(global), ..self.clone() }
    }

    /// The fitted global model fresh trackers take, if any.
    pub fn global(&self) -> Option<&Arc<GlobalModel>> {
        self.global.as_ref()
    }

    /// The model's catalogue name.
    pub fn model(&self) -> &'static str {
        self.model
    }

    /// The horizons, in steps, ascending: [`Tracker::forecast`]'s `i` indexes them.
    pub fn horizons(&self) -> &[usize] {
        &self.horizons
    }

    /// Steps per season.
    pub fn season(&self) -> usize {
        self.season
    }

    /// Errors kept per horizon by the band.
    pub fn band_window(&self) -> usize {
        self.band_window
    }

    /// The longest gap forward-filled, in steps.
    pub fn max_gap(&self) -> u64 {
        self.max_gap as u64
    }

    /// A fresh model and band.
    fn fresh(&self) -> (Box<dyn Forecaster>, Conformal) {
        // `new` built both with these very arguments, and building is deterministic.
        let model = forecast::named_for(self.model, self.season, &self.horizons, self.global.as_ref());
        let band = Conformal::for_horizons(&self.horizons, self.band_window, self.band_min_errors);
        match (model, band) {
            (Some(model), Some(band)) => (model, band),
            _ => unreachable!("TrackerSettings::new checked that the model and band build"),
        }
    }
}

/// Why an observation was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// NaN or ±∞.
    #[error("not a finite number")]
    NotFinite,
    /// A second value for a step already taken.
    #[error("step already observed")]
    RepeatedStep,
}

impl Refused {
    /// A stable label (`not_finite`, `repeated_step`), for counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotFinite => "not_finite",
            Refused::RepeatedStep => "repeated_step",
        }
    }
}

/// Why the tracker started fresh before taking a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reset {
    /// More than `max_gap` steps were missing.
    LongGap,
    /// The step was before the previous one.
    Backwards,
}

impl Reset {
    /// A stable label (`long_gap`, `backwards`), for counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Reset::LongGap => "long_gap",
            Reset::Backwards => "backwards",
        }
    }
}

/// What taking one value did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Taken {
    /// Missing steps forward-filled before it.
    pub filled: u64,
    /// Whether (and why) the state was reset first.
    pub reset: Option<Reset>,
}

/// Why a forecast is not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// No value taken yet.
    #[error("no value yet")]
    NoData,
    /// The model cannot forecast that far yet (a seasonal model before a full season).
    #[error("the model is warming up")]
    WarmingUp,
    /// The horizon's band has fewer errors than it needs.
    #[error("the band is calibrating")]
    Calibrating,
    /// The model's forecast or a quantile is NaN or infinite.
    #[error("not a finite number")]
    NotFinite,
    /// No such horizon among the configured ones.
    #[error("no such horizon")]
    NoHorizon,
}

impl Unavailable {
    /// A stable label (`no_data`, `warming_up`, `calibrating`, `not_finite`, `no_horizon`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::NoData => "no_data",
            Unavailable::WarmingUp => "warming_up",
            Unavailable::Calibrating => "calibrating",
            Unavailable::NotFinite => "not_finite",
            Unavailable::NoHorizon => "no_horizon",
        }
    }
}

/// One series' model, band and newest step.
pub struct Tracker {
    settings: Arc<TrackerSettings>,
    model: Box<dyn Forecaster>,
    band: Conformal,
    /// The newest step taken and its value.
    last: Option<(i64, f64)>,
    /// The model's point forecast at each configured horizon after the newest step.
    points: Box<[Option<f64>]>,
    /// The forecast at each configured horizon as of the newest step, computed as it is taken
    /// (while its state is in cache; the engine reads every tracker's again when it
    /// publishes).
    forecasts: Box<[Result<Quantiles, Unavailable>]>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").field("model", &self.settings.model).field("last", &self.last).finish()
    }
}

impl Tracker {
    /// A tracker that has seen nothing.
    pub fn new(settings: Arc<TrackerSettings>) -> Self {
        let (model, band) = settings.fresh();
        let n = settings.horizons.len();
        let points = vec![None; n].into_boxed_slice();
        let forecasts = vec![Err(Unavailable::NoData); n].into_boxed_slice();
        Self { settings, model, band, last: None, points, forecasts }
    }

    /// Takes the value `y` of step `step` (module doc: refusals, gaps, resets).
    pub fn observe(&mut self, step: i64, y: f64) -> Result<Taken, Refused> {
        if !y.is_finite() {
            return Err(Refused::NotFinite);
        }
        let mut taken = Taken::default();
        if let Some((last_step, last_y)) = self.last {
            let missing = step.checked_sub(last_step).map(|d| d - 1);
            match missing {
                Some(-1) => return Err(Refused::RepeatedStep),
                Some(missing) if (0..=self.settings.max_gap).contains(&missing) => {
                    for _ in 0..missing {
                        self.feed(last_y);
                    }
                    taken.filled = missing as u64;
                }
                Some(missing) if missing < 0 => taken.reset = Some(Reset::Backwards),
                _ => taken.reset = Some(Reset::LongGap),
            }
        }
        if taken.reset.is_some() {
            self.reset();
        }
        self.feed(y);
        self.last = Some((step, y));
        Ok(taken)
    }

    /// Takes `settings`, its own with a newly fitted global model
    /// ([`TrackerSettings::with_global`]): the running model gets the global model
    /// ([`Forecaster::adopt_global`]) and keeps its state, the band is kept, and a later
    /// reset builds with it.
    pub fn adopt_global(&mut self, settings: &Arc<TrackerSettings>) {
        if let Some(global) = settings.global() {
            self.model.adopt_global(global);
        }
        self.settings = Arc::clone(settings);
    }

    /// Forgets everything: a fresh model and band, no step.
    pub fn reset(&mut self) {
        (self.model, self.band) = self.settings.fresh();
        self.points.fill(None);
        self.forecasts.fill(Err(Unavailable::NoData));
        self.last = None;
    }

    /// One observation, as the backtest makes it: model, band, then the forecasts issued,
    /// and their quantiles kept.
    fn feed(&mut self, y: f64) {
        self.model.observe(y);
        self.band.observe(y);
        for (point, &h) in self.points.iter_mut().zip(&self.settings.horizons) {
            *point = self.model.forecast(h);
        }
        let (horizons, points) = (&self.settings.horizons, &self.points);
        let mut configured = horizons.iter().zip(points.iter()).peekable();
        let all = 1..=self.band.horizons();
        self.band.issue_each(all.map(|h| configured.next_if(|(c, _)| **c == h).and_then(|(_, p)| *p)));
        for ((forecast, &h), point) in self.forecasts.iter_mut().zip(horizons).zip(points.iter()) {
            *forecast = quantiles(&mut self.band, h, *point);
        }
    }

    /// Reads a value from each cache line its next [`Tracker::observe`] will use, and returns
    /// them folded, for the caller's [`std::hint::black_box`] ([`Forecaster::touch`]): a
    /// caller that steps many trackers in turn, each cold, touches a tracker (or several)
    /// before observing it, so that its lines are fetched together, not one at a time.
    pub fn touch(&self) -> u64 {
        let ahead = self.settings.horizons.last().copied().unwrap_or(1);
        let forecasts = self.forecasts.first().map_or(0, |f| f.map_or(0, |q| q.p10.to_bits()));
        forecasts ^ self.band.touch() ^ self.model.touch(ahead)
    }

    /// p10, p50 and p90 at the `i`-th configured horizon ([`TrackerSettings::horizons`]),
    /// as of the newest step; or why not.
    pub fn forecast(&self, i: usize) -> Result<Quantiles, Unavailable> {
        self.forecasts.get(i).copied().unwrap_or(Err(Unavailable::NoHorizon))
    }

    /// The newest step taken, when any.
    pub fn last_step(&self) -> Option<i64> {
        self.last.map(|(step, _)| step)
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    /// Bytes of its own state (module doc), the model's excluded: fixed at construction.
    pub fn state_bytes(&self) -> usize {
        size_of::<Self>() + size_of_val(&*self.points) + size_of_val(&*self.forecasts) + self.band.state_bytes()
    }
}

/// The band around `point` at horizon `h`, or why not.
fn quantiles(band: &mut Conformal, h: usize, point: Option<f64>) -> Result<Quantiles, Unavailable> {
    let point = point.ok_or(Unavailable::WarmingUp)?;
    if !point.is_finite() {
        return Err(Unavailable::NotFinite);
    }
    let q = band.quantiles(h, point).ok_or(Unavailable::Calibrating)?;
    if [q.p10, q.p50, q.p90].iter().all(|v| v.is_finite()) { Ok(q) } else { Err(Unavailable::NotFinite) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn settings(model: &str, season: usize, horizons: &[usize], window: usize, min: usize) -> Arc<TrackerSettings> {
        Arc::new(TrackerSettings::new(model, season, horizons, window, min, 3).expect("valid settings"))
    }

    /// The catalogue's models that need no fitting (every one but `global`).
    fn standalone() -> Vec<&'static str> {
        forecast::NAMES.into_iter().filter(|&name| !forecast::needs_fit(name)).collect()
    }

    fn quantiles(p10: f64, p50: f64, p90: f64) -> Result<Quantiles, Unavailable> {
        Ok(Quantiles { p10, p50, p90 })
    }

    #[test]
    fn settings_that_cannot_work_are_refused_by_name() {
        let refuse = |model, season, horizons: &[usize], window, min| {
            TrackerSettings::new(model, season, horizons, window, min, 12).unwrap_err().to_string()
        };
        assert_eq!(
            refuse("prophet", 4, &[1], 10, 1),
            "model \"prophet\" with a season of 4 steps and horizons up to 1: unknown"
        );
        assert!(refuse("snaive", 0, &[1], 10, 1).ends_with("the model refuses these settings"));
        assert_eq!(refuse("naive", 4, &[], 10, 1), "horizons []: at least one, each of 1 step or more");
        assert!(refuse("naive", 4, &[0, 2], 10, 1).starts_with("horizons [0, 2]"));
        assert!(refuse("naive", 4, &[1], 10, 11).starts_with("band window 10 with 11 errors needed"));
        assert_eq!(
            TrackerSettings::new("naive", 4, &[1], 10, 1, MAX_GAP + 1).unwrap_err(),
            SettingsError::Gap(MAX_GAP + 1)
        );
        let ok = TrackerSettings::new("naive", 4, &[12, 1, 3, 3], 576, 50, 12).expect("valid");
        assert_eq!((ok.model(), ok.horizons(), ok.max_gap()), ("naive", &[1, 3, 12][..], 12));
    }

    #[test]
    fn naive_by_hand_with_a_gap_filled_and_a_long_one_reset() {
        // Naive, horizons 1 and 2, a band of 3 errors needed from 2 on, gaps up to 3 filled.
        let mut t = Tracker::new(settings("naive", 1, &[1, 2], 3, 2));
        assert_eq!(t.forecast(0), Err(Unavailable::NoData));
        assert_eq!(t.forecast(2), Err(Unavailable::NoHorizon));
        assert_eq!(t.observe(10, 1.0), Ok(Taken::default()));
        assert_eq!(t.forecast(0), Err(Unavailable::Calibrating), "no error scored yet");
        // Step 11: h=1 error 3 − 1 = 2.
        t.observe(11, 3.0).unwrap();
        // Steps 12, 13 missing: filled with 3 (h=1 errors 0, 0; h=2 errors 3 − 1 = 2, 0),
        // then step 14 = 7: h=1 error 7 − 3 = 4; h=2 error 7 − 3 = 4.
        assert_eq!(t.observe(14, 7.0), Ok(Taken { filled: 2, reset: None }));
        // h=1 errors (window 3): 0, 0, 4 → n = 3, ranks 1, 2, 3 → 7 + 0, 7 + 0, 7 + 4.
        assert_eq!(t.forecast(0), quantiles(7.0, 7.0, 11.0));
        // h=2 errors: 2, 0, 4 → sorted 0, 2, 4 → 7, 9, 11.
        assert_eq!(t.forecast(1), quantiles(7.0, 9.0, 11.0));
        assert_eq!(t.observe(14, 8.0), Err(Refused::RepeatedStep));
        assert_eq!(t.observe(15, f64::NAN), Err(Refused::NotFinite));
        assert_eq!(t.observe(15, f64::INFINITY), Err(Refused::NotFinite));
        assert_eq!(t.last_step(), Some(14), "refusals change nothing");
        // 4 missing steps > max_gap 3: fresh.
        assert_eq!(t.observe(19, 5.0), Ok(Taken { filled: 0, reset: Some(Reset::LongGap) }));
        assert_eq!(t.forecast(0), Err(Unavailable::Calibrating));
        assert_eq!(t.observe(18, 5.0), Ok(Taken { filled: 0, reset: Some(Reset::Backwards) }));
        assert_eq!(t.last_step(), Some(18));
    }

    #[test]
    fn a_seasonal_model_warms_up_for_a_season() {
        let mut t = Tracker::new(settings("snaive", 3, &[1], 4, 1));
        t.observe(0, 1.0).unwrap();
        assert_eq!(t.forecast(0), Err(Unavailable::WarmingUp));
        t.observe(1, 2.0).unwrap();
        t.observe(2, 3.0).unwrap();
        // A season seen: ŷ_1 = y one season before the target = 1; no error yet.
        assert_eq!(t.forecast(0), Err(Unavailable::Calibrating));
        t.observe(3, 1.5).unwrap(); // error 1.5 − 1 = 0.5; next forecast y_1 = 2
        assert_eq!(t.forecast(0), quantiles(2.5, 2.5, 2.5));
    }

    #[test]
    fn an_overflowing_band_is_not_finite_rather_than_infinite() {
        let mut t = Tracker::new(settings("naive", 1, &[1], 2, 1));
        t.observe(0, 0.0).unwrap();
        // Error 1.5e308 − 0; the forecast 1.5e308 plus that error overflows.
        t.observe(1, 1.5e308).unwrap();
        assert_eq!(t.forecast(0), Err(Unavailable::NotFinite));
        // Back to ordinary values: error 0 − 1.5e308 joins, p10 = 0 − 1.5e308 is finite but
        // p90 = 0 + 1.5e308 too; both errors are in the window of 2.
        t.observe(2, 0.0).unwrap();
        assert_eq!(t.forecast(0), quantiles(-1.5e308, 1.5e308, 1.5e308));
    }

    #[test]
    fn the_default_model_on_a_constant_series_gives_the_constant_with_no_width() {
        let mut t = Tracker::new(settings(forecast::DEFAULT, 24, &[1, 3, 12], 576, 50));
        for k in 0..200 {
            t.observe(k, 0.42).unwrap();
        }
        for i in 0..3 {
            assert_eq!(t.forecast(i), quantiles(0.42, 0.42, 0.42), "horizon {i}");
        }
    }

    #[test]
    fn the_band_of_the_engine_defaults_is_as_documented() {
        let t = Tracker::new(settings("naive", 288, &[1, 3, 12], 576, 50));
        // Conformal: the struct, 3 horizons of 80 bytes, 1 + 3 + 12 forecasts of 16 bytes,
        // 3 windows of 576 · 8 bytes, each with 3 neighbourhoods of 320.
        let band = 48 + 3 * 80 + 16 * 16 + 3 * (576 * 8 + 3 * 320);
        assert_eq!(band, 17_248);
        assert_eq!(t.state_bytes(), size_of::<Tracker>() + 3 * (16 + 32) + band);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn forecasts_are_ordered_finite_or_absent_and_the_state_does_not_grow(
            steps in proptest::collection::vec((0i64..20, prop_oneof![
                4 => -1e3f64..1e3,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(0.5),
            ]), 1..300),
            model in proptest::sample::select(standalone()),
        ) {
            let mut t = Tracker::new(settings(model, 4, &[1, 2, 5], 16, 3));
            let before = t.state_bytes();
            let mut step = 0i64;
            for (advance, y) in steps {
                // Mostly forward by 1, sometimes a gap, a long gap, a repeat or a step back.
                step += advance % 7 - 1;
                let _ = t.observe(step, y);
                for i in 0..3 {
                    if let Ok(q) = t.forecast(i) {
                        prop_assert!(q.p10.is_finite() && q.p50.is_finite() && q.p90.is_finite(), "{:?}", q);
                        prop_assert!(q.p10 <= q.p50 && q.p50 <= q.p90, "{:?}", q);
                    }
                }
            }
            prop_assert_eq!(t.state_bytes(), before);
        }

        #[test]
        fn a_constant_series_gives_the_constant_with_a_zero_width_band(
            c in -1e6f64..1e6,
            model in proptest::sample::select(standalone()),
            gap in 0i64..3,
        ) {
            let mut t = Tracker::new(settings(model, 4, &[1, 2, 5], 16, 3));
            for k in 0..40 {
                t.observe(k * (gap + 1), c).unwrap();
            }
            for i in 0..3 {
                prop_assert_eq!(t.forecast(i), quantiles(c, c, c), "{} horizon {}", model, i);
            }
        }

        #[test]
        fn the_state_is_the_same_after_ten_thousand_steps(model in proptest::sample::select(standalone())) {
            let mut t = Tracker::new(settings(model, 24, &[1, 3, 12], 64, 8));
            let before = t.state_bytes();
            for k in 0..10_000 {
                t.observe(k, ((k * 7919) % 101) as f64 / 100.0).unwrap();
            }
            prop_assert_eq!(t.state_bytes(), before);
            prop_assert!(t.forecast(2).is_ok());
        }
    }
}
