//! A model bank: several candidate forecasters run side by side, each scored online by its
//! recent h-step errors, and for each horizon the forecast of the candidate scoring best.
//!
//! ## Contract
//!
//! [`Bank`] is a [`Forecaster`] (`name() = "bank"`). Every observation goes to every
//! candidate. For each horizon h = 1 … H (H = `max_horizon`) and candidate c, the score is
//! an exponentially weighted mean of absolute h-step errors:
//!
//! e = |y_t − ŷ^c_{t|t−h}|, S^c_h ← S^c_h + λ (e − S^c_h) (the first error sets S^c_h = e),
//!
//! with λ = 1 − 2^(−1/half-life), so that an error weighs half as much `half_life` steps
//! later. Each candidate keeps its forecasts of the last H origins in a ring (H × H values),
//! scored when their target arrives: an update costs O(candidates · H) and the state is
//! fixed in size after construction.
//!
//! `forecast(h)` is the forecast of the candidate with the lowest S^c_h (the first in the
//! bank's order on a tie, so the simpler model when candidates are listed simple first);
//! beyond H, the choice made for H. Before any candidate has a score for h, it is the first
//! candidate able to forecast.
//!
//! ## Why selection, not combination
//!
//! An inverse-error-weighted mean is often a little more accurate, but its weights depend on
//! how densely the grid samples each family (four SES settings outvote two Holt-Winters ones
//! on a seasonal series by their number alone), and a report cannot say which model made a
//! forecast. Selecting one candidate per horizon is invariant to the grid's density and is
//! explained by one name ([`Bank::chosen`]).
//!
//! ## The default grid ([`Bank::default_for_season`])
//!
//! Fixed by rule, not fitted to any evaluation data (FPP3 ch. 8 for the ranges):
//! - SES at α ∈ {0.1, 0.3, 0.5, 0.8}: effective memories 1/α ≈ 10, 3, 2 and 1.25 steps,
//!   from a long mean to nearly naive;
//! - damped Holt, slow (α = 0.3) and fast (α = 0.8), both with β = 0.1 (the trend moving a
//!   tenth as fast as the level) and φ = 0.9, the middle of FPP3's advised 0.8–0.98;
//! - when the season m ≥ 2, additive Holt-Winters, slow (α = γ = 0.1) and fast
//!   (α = γ = 0.3), β = 0.1 and φ = 0.9 as above (γ = α keeps γ ≤ 1 − α);
//! - half-life max(m, 24) steps: a candidate is judged on about a season of errors, so that
//!   a seasonal misfit shows at every phase.

use crate::pending::Pending;
use std::fmt;

use super::Forecaster;
use super::ets::{DampedHolt, HoltWinters, InvalidParameter, Ses, check};

/// The shortest half-life of the default bank's scores, in steps.
pub const MIN_DEFAULT_HALF_LIFE: usize = 24;

/// A forecaster with the label reports give it.
pub struct Candidate {
    label: String,
    model: Box<dyn Forecaster>,
}

impl Candidate {
    /// `model`, labelled `label`.
    pub fn new(label: impl Into<String>, model: Box<dyn Forecaster>) -> Self {
        Self { label: label.into(), model }
    }

    /// `model`, labelled by its `Display` (`ses(α=0.3)`, …).
    pub fn of<M: Forecaster + fmt::Display + 'static>(model: M) -> Self {
        Self::new(model.to_string(), Box::new(model))
    }
}

/// One candidate in the bank, with its pending forecasts and its scores.
struct Tracked {
    candidate: Candidate,
    /// Its forecasts of the last H origins, awaiting their targets.
    pending: Pending,
    /// `score[h − 1]`: S_h, the weighted mean absolute h-step error.
    score: Vec<Option<f64>>,
}

impl Tracked {
    fn new(candidate: Candidate, horizons: usize) -> Self {
        Self { candidate, pending: Pending::new(horizons), score: vec![None; horizons] }
    }

    /// Scores the forecasts whose target is `y`, passes `y` to the model, and keeps its new
    /// forecasts for their targets.
    fn observe(&mut self, y: f64, weight: f64) {
        let score = &mut self.score;
        self.pending.arrive(|h, f| {
            let e = (y - f).abs();
            let s = &mut score[h - 1];
            *s = Some(s.map_or(e, |s| s + weight * (e - s)));
        });
        self.candidate.model.observe(y);
        let model = &self.candidate.model;
        self.pending.issue((1..=score.len()).map(|h| model.forecast(h)));
    }
}

/// Candidate forecasters scored online; the best per horizon forecasts.
pub struct Bank {
    tracked: Vec<Tracked>,
    horizons: usize,
    weight: f64,
}

impl Bank {
    /// A bank of `candidates` (at least one), scoring horizons 1 … `max_horizon` (≥ 1) with
    /// errors forgotten at a half-life of `half_life` steps (finite, > 0).
    pub fn new(candidates: Vec<Candidate>, max_horizon: usize, half_life: f64) -> Result<Self, InvalidParameter> {
        check("candidates", candidates.len() as f64, "≥ 1", !candidates.is_empty())?;
        check("max_horizon", max_horizon as f64, "≥ 1", max_horizon >= 1)?;
        check("half_life", half_life, "(0, ∞)", half_life > 0.0 && half_life.is_finite())?;
        Ok(Self {
            tracked: candidates.into_iter().map(|c| Tracked::new(c, max_horizon)).collect(),
            horizons: max_horizon,
            weight: 1.0 - 0.5f64.powf(1.0 / half_life),
        })
    }

    /// The default grid (module doc) for a series of period `season` steps (below 2: no
    /// season, no Holt-Winters), scoring horizons 1 … `max_horizon`.
    pub fn default_for_season(season: usize, max_horizon: usize) -> Result<Self, InvalidParameter> {
        let mut candidates = Vec::new();
        for alpha in [0.1, 0.3, 0.5, 0.8] {
            candidates.push(Candidate::of(Ses::new(alpha)?));
        }
        for alpha in [0.3, 0.8] {
            candidates.push(Candidate::of(DampedHolt::new(alpha, 0.1, 0.9)?));
        }
        if season >= 2 {
            for alpha in [0.1, 0.3] {
                candidates.push(Candidate::of(HoltWinters::new(alpha, 0.1, alpha, 0.9, season)?));
            }
        }
        Self::new(candidates, max_horizon, season.max(MIN_DEFAULT_HALF_LIFE) as f64)
    }

    /// The largest horizon scored, H.
    pub fn max_horizon(&self) -> usize {
        self.horizons
    }

    /// The candidates' labels, in the bank's order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.tracked.iter().map(|t| t.candidate.label.as_str())
    }

    /// Candidate `index`'s score S_h for horizon `h` (1 … H), once it has one.
    pub fn score(&self, index: usize, h: usize) -> Option<f64> {
        self.tracked.get(index)?.score.get(h.checked_sub(1)?).copied().flatten()
    }

    /// The index of the candidate that forecasts horizon `h` (`None` for h = 0 or when
    /// none can forecast yet).
    pub fn chosen_index(&self, h: usize) -> Option<usize> {
        let scored = h.min(self.horizons).checked_sub(1)?;
        let able = || self.tracked.iter().enumerate().filter(|(_, t)| t.candidate.model.forecast(h).is_some());
        able()
            .filter_map(|(i, t)| Some((i, t.score[scored]?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
            .or_else(|| able().map(|(i, _)| i).next())
    }

    /// The label of the candidate that forecasts horizon `h`, for reports.
    pub fn chosen(&self, h: usize) -> Option<&str> {
        self.chosen_index(h).map(|i| self.tracked[i].candidate.label.as_str())
    }
}

impl Forecaster for Bank {
    fn name(&self) -> &'static str {
        "bank"
    }

    fn observe(&mut self, y: f64) {
        for t in &mut self.tracked {
            t.observe(y, self.weight);
        }
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        self.tracked[self.chosen_index(h)?].candidate.model.forecast(h)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::forecast::ets::tests::{feed, forecasts_constant, forecasts_finite, params};

    /// A reproducible random walk of `n` steps, each uniform in [−1, 1) (xorshift64).
    fn random_walk(n: usize, mut seed: u64) -> Vec<f64> {
        let mut y = 0.0;
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                y += (seed >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                y
            })
            .collect()
    }

    /// 10 + 5 sin(2πt/m): a pure seasonal series of period `m`.
    fn seasonal(t: usize, m: usize) -> f64 {
        10.0 + 5.0 * (std::f64::consts::TAU * t as f64 / m as f64).sin()
    }

    #[test]
    fn scores_and_choice_by_hand() {
        // Half-life 1: λ = 1 − 2^(−1) = 0.5. Candidates: SES α = 0.5 first, naive (α = 1).
        // y_1 = 0: both forecast 0 at h = 1, 2.
        // y_2 = 2: h = 1 errors |2 − 0| = 2 for both, S_1 = 2 each; SES ℓ = 1, naive ℓ = 2.
        // y_3 = 2: h = 1: SES |2 − 1| = 1, S_1 = 2 + 0.5·(1 − 2) = 1.5; naive 0, S_1 = 1;
        //          h = 2 (origin 1): both |2 − 0| = 2, S_2 = 2 each.
        // So h = 1 goes to naive (forecast 2); h = 2 is a tie, to SES, the first
        // (forecast ℓ_3 = 1 + 0.5·(2 − 1) = 1.5).
        let candidates =
            vec![Candidate::of(Ses::new(0.5).unwrap()), Candidate::new("naive", Box::new(Ses::new(1.0).unwrap()))];
        let mut bank = Bank::new(candidates, 2, 1.0).unwrap();
        assert_eq!(bank.forecast(1), None);
        bank.observe(0.0);
        assert_eq!((bank.chosen(1), bank.score(0, 1)), (Some("ses(α=0.5)"), None));
        feed(&mut bank, &[2.0, 2.0]);
        assert_eq!(
            [bank.score(0, 1), bank.score(1, 1), bank.score(0, 2), bank.score(1, 2)],
            [Some(1.5), Some(1.0), Some(2.0), Some(2.0)]
        );
        assert_eq!((bank.chosen(1), bank.forecast(1)), (Some("naive"), Some(2.0)));
        assert_eq!((bank.chosen(2), bank.forecast(2)), (Some("ses(α=0.5)"), Some(1.5)));
        assert_eq!(bank.chosen(9), bank.chosen(2), "beyond H, the choice for H");
        assert_eq!(bank.forecast(0), None);
    }

    #[test]
    fn a_pure_seasonal_series_goes_to_holt_winters() {
        let m = 24;
        let mut bank = Bank::default_for_season(m, m).unwrap();
        let n = 30 * m + 5;
        feed(&mut bank, &(1..=n).map(|t| seasonal(t, m)).collect::<Vec<_>>());
        for h in 1..=m {
            let label = bank.chosen(h).unwrap();
            assert!(label.starts_with("holt-winters"), "h = {h}: {label}");
            let error = (bank.forecast(h).unwrap() - seasonal(n + h, m)).abs();
            assert!(error < 1e-6, "h = {h}: error {error}");
        }
    }

    #[test]
    fn a_random_walk_goes_to_the_fast_near_naive_models() {
        // On a random walk the best one-step forecast is the last value. The fast SES
        // (α = 0.8) and the fast damped Holt (α = 0.8, trend gain αβ = 0.08) are both close
        // to it and close to each other, so the choice flips between them (about evenly,
        // seeds 1–5); the test asks that one of the two is chosen at nearly every step after
        // a burn-in, and that the bank's forecast stays near the last value.
        for seed in [1, 2, 3, 4, 5] {
            let mut bank = Bank::default_for_season(24, 6).unwrap();
            let (mut fast, mut distance, mut steps) = (0, 0.0, 0);
            for (t, y) in random_walk(5_000, seed).into_iter().enumerate() {
                bank.observe(y);
                if t >= 1_000 {
                    fast += usize::from(bank.chosen(1).is_some_and(|label| label.contains("α=0.8")));
                    distance += (bank.forecast(1).unwrap() - y).abs();
                    steps += 1;
                }
            }
            assert!(fast as f64 > 0.9 * steps as f64, "seed {seed}: fast models chosen {fast} of {steps} steps");
            // One step of the walk is 0.5 on average; SES at α = 0.8 forecasts
            // y_T − 0.2 (y_T − ℓ_{T−1}), about a tenth of that from y_T.
            assert!(
                distance / (steps as f64) < 0.15,
                "seed {seed}: mean distance to naive {}",
                distance / steps as f64
            );
        }
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert_eq!(Bank::new(Vec::new(), 1, 1.0).err().map(|e| e.name), Some("candidates"));
        assert_eq!(Bank::default_for_season(24, 0).err().map(|e| e.name), Some("max_horizon"));
        let naive = || vec![Candidate::of(Ses::new(1.0).unwrap())];
        assert_eq!(Bank::new(naive(), 1, f64::INFINITY).err().map(|e| e.name), Some("half_life"));
        assert_eq!(Bank::default_for_season(1, 4).unwrap().labels().count(), 6, "no season, no Holt-Winters");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn state_does_not_grow(m in 2..=48usize, horizons in 1..=12usize, seed in any::<u64>()) {
            let mut bank = Bank::default_for_season(m, horizons).unwrap();
            let sizes = |b: &Bank| b.tracked.iter().map(|t| (t.pending.len(), t.pending.capacity(), t.score.capacity())).collect::<Vec<_>>();
            let before = sizes(&bank);
            feed(&mut bank, &random_walk(10_000, seed | 1));
            prop_assert_eq!(sizes(&bank), before);
            prop_assert!(bank.tracked.iter().all(|t| t.pending.len() == horizons * horizons));
        }
    }

    proptest! {
        #[test]
        fn a_constant_series_is_forecast_exactly(p in params(), c in -1e6..1e6f64, extra in 0..30usize) {
            let mut bank = Bank::default_for_season(p.4, p.4).unwrap();
            forecasts_constant(&mut bank, c, p.4 + extra, 3 * p.4);
        }

        #[test]
        fn forecasts_of_bounded_inputs_are_finite(p in params(), ys in prop::collection::vec(-1e6..1e6f64, 0..200)) {
            let mut bank = Bank::default_for_season(p.4, p.4).unwrap();
            forecasts_finite(&mut bank, &ys, 2 * p.4);
        }
    }
}
