//! The models by name: what `ironspider evaluate forecasts --models` and, later, the engine's
//! configuration choose from. Each stand-alone setting is one the bank also holds (or, for
//! the baselines, the comparator the literature uses), chosen by rule before any evaluation:
//!
//! | name | model |
//! |---|---|
//! | `naive` | the last observation |
//! | `snaive` | the observation one season earlier |
//! | `window_mean` | mean of the last 12 observations |
//! | `window_median` | median of the last 6 observations |
//! | `ses` | simple exponential smoothing, α = 0.5 |
//! | `damped_holt` | damped-trend Holt, α = 0.3, β = 0.1, φ = 0.9 |
//! | `holt_winters` | additive Holt-Winters at the season, α = γ = 0.1, β = 0.1, φ = 0.9 |
//! | `global` | the global model ([`GlobalModel`]), when one has been fitted |
//! | `bank` | the bank ([`Bank::default_with_global`]): per horizon, the median of the three candidates with the lowest recent errors, the global model among them when fitted — the default |

use super::baseline::{Naive, SeasonalNaive, WindowMean, WindowMedian};
use super::{Bank, DampedHolt, Forecaster, Global, GlobalModel, HoltWinters, Ses};
use std::sync::Arc;

/// Every model's name, in the order reports list them.
pub const NAMES: [&str; 9] =
    ["naive", "snaive", "window_mean", "window_median", "ses", "damped_holt", "holt_winters", "global", "bank"];

/// The model the engine uses unless configured otherwise.
pub const DEFAULT: &str = "bank";

/// Whether model `name` cannot be built without a fitted global model ([`named`] gives
/// `None` for it).
pub fn needs_fit(name: &str) -> bool {
    name == "global"
}

/// Whether model `name` uses a fitted global model when one is given ([`named_with`]).
pub fn reads_global(name: &str) -> bool {
    needs_fit(name) || name == "bank"
}

/// A fresh model called `name`, for a series with `season` steps per season whose forecasts
/// are wanted up to `horizon` steps ahead; `None` for an unknown name or settings the model
/// refuses (a season of 0; Holt-Winters and the bank's seasonal candidates need 2), and for
/// `global`, which needs a fitted model ([`named_with`]).
pub fn named(name: &str, season: usize, horizon: usize) -> Option<Box<dyn Forecaster>> {
    named_with(name, season, horizon, None)
}

/// As [`named`], with a fitted global model for `global` and the bank (which, without one,
/// runs its other candidates).
pub fn named_with(
    name: &str,
    season: usize,
    horizon: usize,
    global: Option<&Arc<GlobalModel>>,
) -> Option<Box<dyn Forecaster>> {
    named_for(name, season, &(1..=horizon).collect::<Vec<_>>(), global)
}

/// As [`named_with`], for a caller that asks for forecasts at `horizons` only (non-empty,
/// each ≥ 1): the bank then scores only those ([`Bank::scoring_only`]), which leaves its
/// forecasts there as they would be with every horizon up to the longest scored; the other
/// models do not depend on the horizons asked.
pub fn named_for(
    name: &str,
    season: usize,
    horizons: &[usize],
    global: Option<&Arc<GlobalModel>>,
) -> Option<Box<dyn Forecaster>> {
    let horizon = horizons.iter().copied().max()?;
    fn boxed<F: Forecaster + 'static>(model: F) -> Box<dyn Forecaster> {
        Box::new(model)
    }
    match name {
        "naive" => Some(boxed(Naive::new())),
        "snaive" => SeasonalNaive::new(season).map(boxed),
        "window_mean" => WindowMean::new(12).map(boxed),
        "window_median" => WindowMedian::new(6).map(boxed),
        "ses" => Ses::new(0.5).ok().map(boxed),
        "damped_holt" => DampedHolt::new(0.3, 0.1, 0.9).ok().map(boxed),
        "holt_winters" => HoltWinters::new(0.1, 0.1, 0.1, 0.9, season).ok().map(boxed),
        "global" => global.map(|model| boxed(Global::new(Arc::clone(model)))),
        "bank" => Bank::default_with_global(season, horizon, global.cloned())
            .and_then(|bank| bank.scoring_only(horizons))
            .ok()
            .map(boxed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_makes_a_model_that_reports_that_name() {
        for name in NAMES.into_iter().filter(|&name| !needs_fit(name)) {
            let model = named(name, 4, 3).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(model.name(), name);
        }
        assert!(named("prophet", 4, 3).is_none());
        assert!(named("global", 4, 3).is_none(), "the global model needs fitting");
        assert!(named("snaive", 0, 3).is_none(), "a season of 0 is refused");
    }
}
