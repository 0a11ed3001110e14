//! A model bank: several candidate forecasters run side by side, each scored online by its
//! recent h-step errors; for each horizon, the median forecast of the best-scoring few.
//!
//! ## Contract
//!
//! [`Bank`] is a [`Forecaster`] (`name() = "bank"`). Every observation goes to every
//! candidate. For each scored horizon h (by default 1 … H, H = `max_horizon`;
//! [`Bank::scoring_only`] narrows them) and candidate c, the score is an exponentially
//! weighted mean of absolute h-step errors:
//!
//! e = |y_t − ŷ^c_{t|t−h}|, S^c_h ← S^c_h + λ (e − S^c_h) (the first error sets S^c_h = e),
//!
//! with λ = 1 − 2^(−1/half-life), so that an error weighs half as much `half_life` steps
//! later. Each candidate's forecasts of the last h origins are kept per scored horizon h
//! (origin `t` in slot `t mod h`: the observation that opens origin `t` scores the forecast
//! made at `t − h` in that slot, and the forecast issued from `t` takes it), scored when
//! their target arrives: an update costs O(candidates · scored horizons), and the state,
//! Σh forecasts and one score per scored horizon for each candidate, is fixed in size after
//! construction. A non-finite forecast counts as none: it is neither scored nor ranked.
//!
//! The forecasts and scores of all candidates are one table, a row per slot and per scored
//! horizon's scores with the candidates side by side: a step reads and writes one row of
//! forecasts and one of scores per scored horizon, a few cache lines, where a table per
//! candidate would touch as many allocations as there are candidates (the engine steps
//! thousands of banks in turn, each cold, and every line a step touches is a wait on
//! memory).
//!
//! `forecast(h)` ranks the candidates able to forecast h by S^c_g (lowest first; one
//! without a score yet after every scored one; ties in the bank's order), where g is h when
//! h is scored, else the smallest scored horizon above h, else the largest scored one; it
//! gives the median of the forecasts of the first k (`top`, [`Bank::combining`]; the mean
//! of the two middle ones when fewer than k, and an even number, can forecast). With k = 1
//! this is selection of the best. Scoring only some horizons leaves the forecasts at those
//! horizons exactly as with every horizon scored: each horizon's scores are its own (the
//! engine scores the three it publishes, a quarter of the work of all twelve).
//!
//! ## Why the median of the best three
//!
//! Selecting the single best candidate follows whichever model was luckiest lately and
//! flips between near-equals; an inverse-error-weighted mean depends on how densely the
//! grid samples each family. The median of the three best is robust to one of them being
//! wrong, needs no weights, and is the same whatever the grid's density below the top
//! three. On the development data (docs/forecasting.md: NAB's AWS CPU series and the two
//! days of each Bitbrains VM *before* its evaluated window), it cut the median MASE by about
//! a tenth against naive where selection of the best cut it by a fifth but beat naive on
//! fewer than 60 % of the VMs; the median of the three best beat naive on two thirds.
//! [`Bank::chosen`] names the best-ranked candidate.
//!
//! ## The default grid ([`Bank::default_for_season`])
//!
//! Fixed by rule before any evaluation, each a model with a known use on spiky utilisation
//! series:
//! - naive, the random walk's optimum;
//! - medians of the last 3, 6, 12 and 24 observations: robust levels that ignore isolated
//!   spikes, at memories from a quarter-hour to two hours of 5-minute steps;
//! - SES at α ∈ {0.1, 0.3, 0.5} (FPP3 §8.1): effective memories 1/α ≈ 10, 3 and 2 steps;
//! - when the season m ≥ 2, seasonal naive, for series that repeat their day;
//! - when given one, the [`crate::forecast::global`] model learned across series;
//! - k = 3 and a half-life of max(m, 24) steps: a candidate is judged on about a season of
//!   errors, so that a seasonal misfit shows at every phase.
//!
//! The damped-trend and Holt-Winters models stay in the catalogue on their own; in the bank
//! they were chosen rarely on the development data and cost the most per step.

use std::fmt;
use std::sync::Arc;

use super::Forecaster;
use super::baseline::{Naive, SeasonalNaive, WindowMedian};
use super::ets::{InvalidParameter, Ses, check};
use super::global::{Global, GlobalModel};

/// The shortest half-life of the default bank's scores, in steps.
pub const MIN_DEFAULT_HALF_LIFE: usize = 24;
/// How many of the best candidates the default bank takes the median of.
pub const DEFAULT_TOP: usize = 3;
/// The label of the global model's candidate.
const GLOBAL_LABEL: &str = "global";

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

/// Which horizons a bank scores: ascending and distinct, each with where its slots start
/// in a candidate's `due` (horizon `h` has `h` of them).
#[derive(Debug, Clone)]
struct Scored {
    horizons: Vec<usize>,
    offsets: Vec<usize>,
    /// Σh: slots per candidate.
    slots: usize,
}

impl Scored {
    /// `horizons` sorted and deduplicated; `None` if empty or holding a 0.
    fn new(horizons: &[usize]) -> Option<Self> {
        let mut horizons = horizons.to_vec();
        horizons.sort_unstable();
        horizons.dedup();
        if horizons.first().is_none_or(|&h| h == 0) {
            return None;
        }
        let offsets = horizons.iter().scan(0, |next, &h| Some(std::mem::replace(next, *next + h))).collect();
        let slots = horizons.iter().sum();
        Some(Self { horizons, offsets, slots })
    }

    /// The index of the horizon whose ranking forecasts `h` (module doc); `None` for h = 0.
    fn ranking(&self, h: usize) -> Option<usize> {
        (h >= 1).then(|| self.horizons.partition_point(|&g| g < h).min(self.horizons.len() - 1))
    }

    /// The slot of origin `t`'s forecast for the `j`-th scored horizon.
    fn slot(&self, j: usize, t: usize) -> usize {
        self.offsets[j] + t % self.horizons[j]
    }
}

/// The candidates' pending forecasts and scores (module doc): `Σh` rows of forecasts (the
/// `j`-th scored horizon's slot `t mod h` is row `offsets[j] + t mod h`), then one row of
/// scores per scored horizon; a row holds one cell per candidate, in the bank's order. NaN
/// is an empty cell: no forecast pending, or no score yet.
#[derive(Debug, Clone)]
struct Table {
    cells: Box<[f64]>,
    /// Candidates: cells per row.
    width: usize,
}

impl Table {
    /// An empty table for `width` candidates.
    fn new(scored: &Scored, width: usize) -> Self {
        Self { cells: vec![f64::NAN; (scored.slots + scored.horizons.len()) * width].into_boxed_slice(), width }
    }

    /// Row `r`.
    fn row(&self, r: usize) -> &[f64] {
        &self.cells[r * self.width..(r + 1) * self.width]
    }

    /// The scores of the `j`-th scored horizon.
    fn scores(&self, j: usize, scored: &Scored) -> &[f64] {
        self.row(scored.slots + j)
    }

    /// The same table with one more candidate, its cells empty.
    fn widened(&self) -> Self {
        let rows = self.cells.len() / self.width;
        let width = self.width + 1;
        let cells = (0..rows).flat_map(|r| self.row(r).iter().copied().chain([f64::NAN])).collect();
        Self { cells, width }
    }
}

/// A forecast, if given and finite (a non-finite one counts as none).
fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite())
}

/// `value` if it is a finite forecast, else an empty cell.
fn cell(value: Option<f64>) -> f64 {
    finite(value).unwrap_or(f64::NAN)
}

/// A cell's value, if not empty.
fn filled(cell: f64) -> Option<f64> {
    (!cell.is_nan()).then_some(cell)
}

/// Candidate forecasters scored online; the best per horizon forecasts.
pub struct Bank {
    /// The candidates' labels, in the bank's order.
    labels: Vec<String>,
    /// Their models, in the same order.
    models: Vec<Box<dyn Forecaster>>,
    table: Table,
    scored: Scored,
    weight: f64,
    /// k: how many of the best candidates' forecasts the median is taken of.
    top: usize,
    /// Observations so far: the newest origin.
    origin: usize,
}

impl Bank {
    /// A bank of `candidates` (at least one), scoring horizons 1 … `max_horizon` (≥ 1) with
    /// errors forgotten at a half-life of `half_life` steps (finite, > 0).
    pub fn new(candidates: Vec<Candidate>, max_horizon: usize, half_life: f64) -> Result<Self, InvalidParameter> {
        check("candidates", candidates.len() as f64, "≥ 1", !candidates.is_empty())?;
        check("max_horizon", max_horizon as f64, "≥ 1", max_horizon >= 1)?;
        check("half_life", half_life, "(0, ∞)", half_life > 0.0 && half_life.is_finite())?;
        let scored = Scored::new(&(1..=max_horizon).collect::<Vec<_>>()).expect("horizons 1 … max_horizon ≥ 1");
        let (labels, models) = candidates.into_iter().map(|c| (c.label, c.model)).unzip::<_, _, Vec<_>, Vec<_>>();
        Ok(Self {
            table: Table::new(&scored, models.len()),
            labels,
            models,
            scored,
            weight: 1.0 - 0.5f64.powf(1.0 / half_life),
            top: 1,
            origin: 0,
        })
    }

    /// The same bank, before any observation, scoring only `horizons` (non-empty, each ≥ 1;
    /// module doc): its forecasts at those horizons are the full bank's.
    pub fn scoring_only(mut self, horizons: &[usize]) -> Result<Self, InvalidParameter> {
        let scored = Scored::new(horizons);
        check("horizons", horizons.len() as f64, "non-empty, each ≥ 1", scored.is_some())?;
        check("observations", self.origin as f64, "0 (narrow before observing)", self.origin == 0)?;
        let scored = scored.expect("checked");
        self.table = Table::new(&scored, self.models.len());
        self.scored = scored;
        Ok(self)
    }

    /// The same bank forecasting the median of its `top` (1 … [`MAX_TOP`]) best candidates
    /// per horizon.
    pub fn combining(mut self, top: usize) -> Result<Self, InvalidParameter> {
        check("top", top as f64, "1 … 16", (1..=MAX_TOP).contains(&top))?;
        self.top = top;
        Ok(self)
    }

    /// The default grid (module doc) for a series of period `season` steps (below 2: no
    /// season, no seasonal naive), scoring horizons 1 … `max_horizon`.
    pub fn default_for_season(season: usize, max_horizon: usize) -> Result<Self, InvalidParameter> {
        Self::default_with_global(season, max_horizon, None)
    }

    /// The default grid with, when `global` is given, the global model as one more
    /// candidate.
    pub fn default_with_global(
        season: usize,
        max_horizon: usize,
        global: Option<Arc<GlobalModel>>,
    ) -> Result<Self, InvalidParameter> {
        let mut candidates = vec![Candidate::new("naive", Box::new(Naive::new()))];
        for window in [3, 6, 12, 24] {
            if let Some(model) = WindowMedian::new(window) {
                candidates.push(Candidate::new(format!("median({window})"), Box::new(model)));
            }
        }
        for alpha in [0.1, 0.3, 0.5] {
            candidates.push(Candidate::of(Ses::new(alpha)?));
        }
        if let Some(model) = SeasonalNaive::new(season).filter(|_| season >= 2) {
            candidates.push(Candidate::new(format!("snaive({season})"), Box::new(model)));
        }
        if let Some(model) = global {
            candidates.push(Candidate::new(GLOBAL_LABEL, Box::new(Global::new(model))));
        }
        Self::new(candidates, max_horizon, season.max(MIN_DEFAULT_HALF_LIFE) as f64)?.combining(DEFAULT_TOP)
    }

    /// The largest horizon scored, H.
    pub fn max_horizon(&self) -> usize {
        self.scored.horizons[self.scored.horizons.len() - 1]
    }

    /// The candidates' labels, in the bank's order.
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    /// Candidate `index`'s score S_h for a scored horizon `h`, once it has one.
    pub fn score(&self, index: usize, h: usize) -> Option<f64> {
        let j = self.scored.horizons.iter().position(|&g| g == h)?;
        filled(*self.table.scores(j, &self.scored).get(index)?)
    }

    /// The candidates able to forecast `h`, best first (module doc), at most `top` of them,
    /// each with its forecast, without allocating: each able candidate goes into a list of
    /// the best so far after every entry scoring no worse (as a stable sort by score would
    /// place it), and what falls past `top` is dropped. The list is the caller's (a few
    /// hundred bytes, not copied out).
    fn rank(&self, h: usize, best: &mut Ranked) {
        let Some(j) = self.scored.ranking(h) else { return };
        let scored = &self.scored;
        // The forecasts just issued, when `h` is scored; else the models are asked.
        let issued = (scored.horizons[j] == h).then(|| self.table.row(scored.slot(j, self.origin)));
        let scores = self.table.scores(j, scored);
        for (i, (model, &score)) in self.models.iter().zip(scores).enumerate() {
            let forecast = match issued {
                Some(row) => filled(row[i]),
                None => finite(model.forecast(h)),
            };
            let Some(forecast) = forecast else { continue };
            best.offer(Entry { index: i, score: filled(score).unwrap_or(f64::INFINITY), forecast }, self.top);
        }
    }

    /// The index of the best-ranked candidate for horizon `h` (`None` for h = 0 or when
    /// none can forecast yet).
    pub fn chosen_index(&self, h: usize) -> Option<usize> {
        let mut best = Ranked::default();
        self.rank(h, &mut best);
        best.entries().first().map(|e| e.index)
    }

    /// The label of the best-ranked candidate for horizon `h`, for reports.
    pub fn chosen(&self, h: usize) -> Option<&str> {
        self.chosen_index(h).map(|i| self.labels[i].as_str())
    }
}

/// The most candidates a bank takes the median of: a "best few", and the bound of the
/// ranking's list on the stack.
pub const MAX_TOP: usize = 16;

/// One ranked candidate.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    index: usize,
    /// S^c_g, or +∞ without one: never NaN, so `<` and `<=` order scores totally (an
    /// error's absolute value and their weighted means are never −0 either).
    score: f64,
    forecast: f64,
}

/// The best candidates so far, lowest score first, at most [`MAX_TOP`].
#[derive(Debug, Default)]
struct Ranked {
    entries: [Entry; MAX_TOP],
    len: usize,
}

impl Ranked {
    /// Places `entry` after every entry scoring no worse, keeping at most `top`: one that
    /// scores no better than the last of a full list is turned away at once (most are, once
    /// the list fills), and one that enters moves up past the entries scoring worse, as an
    /// insertion sort moves it (a few entries: no binary search, no `memmove`).
    fn offer(&mut self, entry: Entry, top: usize) {
        let full = self.len == top;
        if full && self.entries[top - 1].score <= entry.score {
            return;
        }
        let mut at = if full { top - 1 } else { self.len };
        self.len = (self.len + 1).min(top);
        while at > 0 && self.entries[at - 1].score > entry.score {
            self.entries[at] = self.entries[at - 1];
            at -= 1;
        }
        self.entries[at] = entry;
    }

    fn entries(&self) -> &[Entry] {
        &self.entries[..self.len]
    }

    /// The median of their forecasts: the middle one, or the mean of the two middle ones.
    /// Ordered by `f64::total_cmp`: up to three (the default k) by compare-exchanges in
    /// place, more by a sort.
    fn median(&self) -> Option<f64> {
        let n = self.len;
        let mut values = [0.0; MAX_TOP];
        let values = &mut values[..n];
        for (value, entry) in values.iter_mut().zip(self.entries()) {
            *value = entry.forecast;
        }
        if n <= 3 {
            // The sorting network of three, (0, 1), (1, 2), (0, 1), without the exchanges
            // past `n` (of two, the first pair twice: the second time a no-op).
            for (i, j) in [(0, 1), (1, 2), (0, 1)].into_iter().filter(|&(_, j)| j < n) {
                if values[i].total_cmp(&values[j]).is_gt() {
                    values.swap(i, j);
                }
            }
        } else {
            values.sort_unstable_by(f64::total_cmp);
        }
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(values[n / 2]),
            _ => Some(values[n / 2 - 1] + (values[n / 2] - values[n / 2 - 1]) / 2.0),
        }
    }
}

impl Forecaster for Bank {
    fn name(&self) -> &'static str {
        "bank"
    }

    /// At origin `t`: scores the forecasts whose target is `y`, passes `y` to every model,
    /// and keeps their new forecasts for their targets.
    fn observe(&mut self, y: f64) {
        self.origin += 1;
        let (t, scored, width, weight) = (self.origin, &self.scored, self.table.width, self.weight);
        let (due, scores) = self.table.cells.split_at_mut(scored.slots * width);
        for (j, scores) in scores.chunks_exact_mut(width).enumerate() {
            let row = &due[scored.slot(j, t) * width..][..width];
            for (score, &forecast) in scores.iter_mut().zip(row) {
                let e = (y - forecast).abs();
                // An empty cell (NaN) leaves the score; an empty score takes the first error.
                if !e.is_nan() {
                    *score = if score.is_nan() { e } else { *score + weight * (e - *score) };
                }
            }
        }
        for model in &mut self.models {
            model.observe(y);
        }
        for (j, &h) in scored.horizons.iter().enumerate() {
            let row = &mut due[scored.slot(j, t) * width..][..width];
            for (cell_, model) in row.iter_mut().zip(&self.models) {
                *cell_ = cell(model.forecast(h));
            }
        }
    }

    fn forecast(&self, h: usize) -> Option<f64> {
        let mut best = Ranked::default();
        self.rank(h, &mut best);
        best.median()
    }

    /// Every candidate's lines, and the rows of the table the next observation scores and
    /// fills (each row's first and last cell: a row of up to 8 candidates spans at most two
    /// cache lines).
    fn touch(&self, ahead: usize) -> u64 {
        let (t, scored) = (self.origin + 1, &self.scored);
        let rows = (0..scored.horizons.len()).flat_map(|j| [scored.slot(j, t), scored.slots + j]);
        let table = rows.fold(0, |folded, r| {
            let row = self.table.row(r);
            folded ^ row[0].to_bits() ^ row[row.len() - 1].to_bits()
        });
        self.models.iter().fold(table, |folded, model| folded ^ model.touch(ahead))
    }

    /// Passes `model` to the candidate labelled `global` (which keeps its recent values and
    /// its scores, now earned by the new coefficients as they come), or adds one at the end
    /// with no score and nothing pending: it forecasts once it has seen a season and joins the
    /// ranking as its errors arrive.
    fn adopt_global(&mut self, model: &Arc<GlobalModel>) {
        match self.labels.iter().position(|label| label == GLOBAL_LABEL) {
            Some(i) => self.models[i].adopt_global(model),
            None => {
                self.labels.push(GLOBAL_LABEL.to_string());
                self.models.push(Box::new(Global::new(Arc::clone(model))));
                self.table = self.table.widened();
            }
        }
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
    fn the_median_of_the_best_k_by_hand() {
        // Half-life 1 (λ = 0.5); SES at α = 1/8, 1/4, 1/2 and 1, listed slowest first.
        // y_1 = 0: every level 0. y_2 = 4: every 1-step error 4, so every S_1 = 4 (a tie,
        // broken by order); levels 0.5, 1, 2, 4. Top 3 by order: median(0.5, 1, 2) = 1.
        // y_3 = 4: errors 3.5, 3, 2, 0, so S_1 = 3.75, 3.5, 3, 2; levels 0.9375, 1.75, 3, 4.
        // Ranking: α = 1, ½, ¼, ⅛. Top 3: median(4, 3, 1.75) = 3; top 2: (4 + 3)/2 = 3.5.
        let bank = |top| {
            let candidates = [0.125, 0.25, 0.5, 1.0].map(|a| Candidate::of(Ses::new(a).unwrap())).into();
            Bank::new(candidates, 1, 1.0).unwrap().combining(top).unwrap()
        };
        let (mut three, mut two) = (bank(3), bank(2));
        feed(&mut three, &[0.0, 4.0]);
        assert_eq!(three.forecast(1), Some(1.0));
        feed(&mut three, &[4.0]);
        feed(&mut two, &[0.0, 4.0, 4.0]);
        assert_eq!([three.score(0, 1), three.score(3, 1)], [Some(3.75), Some(2.0)]);
        assert_eq!((three.forecast(1), two.forecast(1)), (Some(3.0), Some(3.5)));
        assert_eq!(three.chosen(1), Some("ses(α=1)"));
        assert!(bank(1).combining(0).is_err(), "k = 0 is refused");
    }

    #[test]
    fn a_pure_seasonal_series_ranks_seasonal_naive_first() {
        let m = 24;
        let mut bank = Bank::default_for_season(m, m).unwrap();
        feed(&mut bank, &(1..=30 * m + 5).map(|t| seasonal(t, m)).collect::<Vec<_>>());
        for h in 1..=m {
            assert_eq!(bank.chosen(h), Some("snaive(24)"), "h = {h}");
        }
        // With k = 1 the bank is the seasonal naive forecast itself, exact here.
        let mut best = Bank::default_for_season(m, m).unwrap().combining(1).unwrap();
        let n = 30 * m + 5;
        feed(&mut best, &(1..=n).map(|t| seasonal(t, m)).collect::<Vec<_>>());
        for h in 1..=m {
            assert!((best.forecast(h).unwrap() - seasonal(n + h, m)).abs() < 1e-9, "h = {h}");
        }
    }

    #[test]
    fn on_a_random_walk_the_bank_is_nearly_as_good_as_naive() {
        // The last value is the best forecast of a random walk. The bank's three best are
        // naive and near-naive smoothers; SES at α = ½ leaves y_t − ℓ_t with variance
        // σ²(1 − α)/(α(2 − α)) = ⅔σ², so its 1-step error has √(5/3) ≈ 1.29 times naive's
        // spread. The median of the three must land between: within 20 % of naive's MAE
        // (seeds 1–5 give about 10 %).
        for seed in [1, 2, 3, 4, 5] {
            let mut bank = Bank::default_for_season(24, 6).unwrap();
            let (mut bank_error, mut naive_error, mut last) = (0.0, 0.0, 0.0);
            for (t, y) in random_walk(5_000, seed).into_iter().enumerate() {
                if t >= 1_000 {
                    bank_error += (bank.forecast(1).unwrap() - y).abs();
                    naive_error += (last - y).abs();
                }
                bank.observe(y);
                last = y;
            }
            assert!(bank_error < 1.2 * naive_error, "seed {seed}: bank {bank_error}, naive {naive_error}");
        }
    }

    #[test]
    fn parameters_out_of_range_are_refused() {
        assert_eq!(Bank::new(Vec::new(), 1, 1.0).err().map(|e| e.name), Some("candidates"));
        assert_eq!(Bank::default_for_season(24, 0).err().map(|e| e.name), Some("max_horizon"));
        let naive = || vec![Candidate::of(Ses::new(1.0).unwrap())];
        assert_eq!(Bank::new(naive(), 1, f64::INFINITY).err().map(|e| e.name), Some("half_life"));
        assert_eq!(Bank::default_for_season(1, 4).unwrap().labels().count(), 8, "no season, no seasonal naive");
        assert_eq!(Bank::default_for_season(24, 4).unwrap().labels().count(), 9);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        #[test]
        fn state_does_not_grow(m in 2..=48usize, horizons in 1..=12usize, seed in any::<u64>()) {
            let mut bank = Bank::default_for_season(m, horizons).unwrap();
            let before = bank.table.cells.len();
            feed(&mut bank, &random_walk(10_000, seed | 1));
            prop_assert_eq!(bank.table.cells.len(), before);
            // Per candidate, Σh forecasts awaiting their targets and a score per horizon.
            let per_candidate = horizons * (horizons + 1) / 2 + horizons;
            prop_assert_eq!(before, per_candidate * bank.models.len());
        }
    }

    #[test]
    fn a_global_model_adopted_before_any_observation_is_the_bank_built_with_it() {
        let model = crate::forecast::global::tests::fitted(3, 4);
        let mut adopted = Bank::default_for_season(24, 4).unwrap().scoring_only(&[1, 4]).unwrap();
        adopted.adopt_global(&model);
        let mut built =
            Bank::default_with_global(24, 4, Some(Arc::clone(&model))).unwrap().scoring_only(&[1, 4]).unwrap();
        assert!(adopted.labels().eq(built.labels()), "the global candidate added last, as built");
        for y in random_walk(400, 5).into_iter().map(|y| 0.5 + 0.01 * y) {
            adopted.observe(y);
            built.observe(y);
            assert_eq!([1, 4].map(|h| adopted.forecast(h)), [1, 4].map(|h| built.forecast(h)));
        }
        // A second fit goes to the same candidate: no new one.
        adopted.adopt_global(&crate::forecast::global::tests::fitted(4, 4));
        assert_eq!(adopted.labels().filter(|l| *l == "global").count(), 1);
        assert!(adopted.forecast(1).is_some());
    }

    #[test]
    fn a_global_model_adopted_while_running_joins_unscored_and_leaves_the_others_be() {
        let model = crate::forecast::global::tests::fitted(3, 4);
        let ys: Vec<f64> = random_walk(300, 9).into_iter().map(|y| 0.5 + 0.01 * y).collect();
        let (mut adopted, mut without) =
            (Bank::default_for_season(24, 4).unwrap(), Bank::default_for_season(24, 4).unwrap());
        feed(&mut adopted, &ys);
        feed(&mut without, &ys);
        adopted.adopt_global(&model);
        let n = without.labels().count();
        assert_eq!(adopted.labels().count(), n + 1);
        let scores = |bank: &Bank, i: usize| (1..=4).map(|h| bank.score(i, h)).collect::<Vec<_>>();
        for i in 0..n {
            assert_eq!(scores(&adopted, i), scores(&without, i), "candidate {i} keeps its scores");
        }
        assert_eq!(scores(&adopted, n), [None; 4], "the newcomer has no score yet");
        // The newcomer's first forecasts are scored when their targets arrive; the other
        // candidates go on exactly as in the bank without it.
        feed(&mut adopted, &ys[..30]);
        feed(&mut without, &ys[..30]);
        assert!(scores(&adopted, n).iter().all(Option::is_some));
        for i in 0..n {
            assert_eq!(scores(&adopted, i), scores(&without, i), "candidate {i}");
        }
    }

    #[test]
    fn narrowing_is_refused_when_empty_zero_or_after_observing() {
        let bank = || Bank::default_for_season(4, 4).unwrap();
        assert_eq!(bank().scoring_only(&[]).err().map(|e| e.name), Some("horizons"));
        assert_eq!(bank().scoring_only(&[0, 2]).err().map(|e| e.name), Some("horizons"));
        let mut observed = bank();
        observed.observe(1.0);
        assert_eq!(observed.scoring_only(&[1]).err().map(|e| e.name), Some("observations"));
        let narrowed = bank().scoring_only(&[12, 3, 1, 3]).unwrap();
        assert_eq!((narrowed.max_horizon(), narrowed.scored.slots), (12, 16), "sorted, deduplicated, Σh slots");
        // Horizons between scored ones rank by the next scored one; beyond, by the largest.
        assert_eq!(
            [0, 1, 2, 3, 4, 12, 13].map(|h| narrowed.scored.ranking(h)),
            [None, Some(0), Some(1), Some(1), Some(2), Some(2), Some(2)]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Differential: scoring only some horizons leaves the forecasts there as the full
        /// bank gives them, to the bit, after every observation.
        #[test]
        fn a_narrowed_bank_forecasts_as_the_full_one_at_its_horizons(
            m in 2..=24usize,
            picked in prop::collection::btree_set(1..=12usize, 1..=4),
            seed in any::<u64>(),
            n in 0..400usize,
        ) {
            let horizons: Vec<usize> = picked.into_iter().collect();
            let longest = horizons[horizons.len() - 1];
            let mut full = Bank::default_for_season(m, longest).unwrap();
            let mut narrow = Bank::default_for_season(m, longest).unwrap().scoring_only(&horizons).unwrap();
            for y in random_walk(n, seed | 1) {
                full.observe(y);
                narrow.observe(y);
                for &h in &horizons {
                    prop_assert_eq!(full.forecast(h).map(f64::to_bits), narrow.forecast(h).map(f64::to_bits), "h = {}", h);
                    prop_assert_eq!(full.chosen_index(h), narrow.chosen_index(h));
                }
            }
        }
    }

    proptest! {
        /// Differential: the ranking's list gives what a stable sort by score, cut at `top`,
        /// gives (equal scores, many of them, keep their order).
        #[test]
        fn the_ranking_is_a_stable_sort_cut_at_top(
            scores in proptest::collection::vec(prop_oneof![0u8..4, any::<u8>()], 0..40),
            top in 1usize..=MAX_TOP,
        ) {
            let mut ranked = Ranked::default();
            for (index, score) in scores.iter().enumerate() {
                let score = if *score == 255 { f64::INFINITY } else { f64::from(*score) };
                ranked.offer(Entry { index, score, forecast: index as f64 }, top);
            }
            let mut sorted: Vec<(usize, u8)> = scores.iter().copied().enumerate().collect();
            sorted.sort_by_key(|&(_, score)| score);
            let expected: Vec<usize> = sorted.into_iter().take(top).map(|(index, _)| index).collect();
            let got: Vec<usize> = ranked.entries().iter().map(|e| e.index).collect();
            prop_assert_eq!(got, expected);
        }

        /// Differential: the median of the ranked forecasts (by comparisons up to three)
        /// is, to the bit, the middle of their values sorted (or the midpoint of the two
        /// middle ones), ties and signed zeros among them.
        #[test]
        fn the_median_of_the_ranked_is_that_of_their_sorted_forecasts(
            forecasts in proptest::collection::vec(prop_oneof![
                prop::sample::select(vec![-1.0, -0.0, 0.0, 0.5, 2.0]),
                -1e6..1e6f64,
            ], 0..=MAX_TOP),
        ) {
            let mut ranked = Ranked::default();
            for (index, &forecast) in forecasts.iter().enumerate() {
                ranked.offer(Entry { index, score: index as f64, forecast }, MAX_TOP);
            }
            let mut sorted = forecasts.clone();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            let expected = match n {
                0 => None,
                _ if n % 2 == 1 => Some(sorted[n / 2]),
                _ => Some(sorted[n / 2 - 1] + (sorted[n / 2] - sorted[n / 2 - 1]) / 2.0),
            };
            prop_assert_eq!(ranked.median().map(f64::to_bits), expected.map(f64::to_bits));
        }

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
