//! Accuracy measures: how good point forecasts and quantiles were, once the actuals are in.
//!
//! **Contract:** free functions over slices, `actual[i]` paired with the forecast at `[i]`.
//! Each returns `None` (never panics) when the inputs are empty, of unequal lengths, or
//! outside the measure's domain (given at each function). With `n` pairs `(y_i, ŷ_i)`:
//!
//! - [`mae`]: `MAE = (1/n) Σ |y_i − ŷ_i|`;
//! - [`seasonal_naive_scale`]: `Q = (1/(T−m)) Σ_{t=m+1}^{T} |y_t − y_{t−m}|` over the
//!   in-sample series `y_1 … y_T` (the in-sample MAE of the seasonal naive forecast; `m = 1`
//!   for the naive one);
//! - [`mase`]: `MASE = MAE / Q` (Hyndman & Koehler, "Another look at measures of forecast
//!   accuracy", IJF 2006; fpp3 §5.8): below 1, better than the in-sample seasonal naive;
//! - [`coverage`]: `(1/n) #{i : lo_i ≤ y_i ≤ hi_i}`, to compare with the interval's nominal
//!   level (0.8 for p10–p90);
//! - [`pinball`]: `(1/n) Σ ρ_q(y_i − ŷ_i)` with `ρ_q(u) = max(q·u, (q − 1)·u)`, the check
//!   loss of quantile regression (Koenker & Bassett 1978; Koenker, *Quantile Regression*,
//!   2005), which is the quantile score of Gneiting & Raftery, "Strictly proper scoring
//!   rules, prediction, and estimation", JASA 2007: minimised in expectation by the true
//!   `q`-quantile.

/// The common length of `slices` if it is non-zero and they all share it.
fn common_len(slices: &[&[f64]]) -> Option<usize> {
    let n = slices.first()?.len();
    (n > 0 && slices.iter().all(|s| s.len() == n)).then_some(n)
}

/// `(1/n) Σ f(a_i, b_i)` over equal-length, non-empty `a` and `b`.
fn mean_pairwise(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> Option<f64> {
    let n = common_len(&[a, b])?;
    Some(a.iter().zip(b).map(|(x, y)| f(*x, *y)).sum::<f64>() / n as f64)
}

/// Mean absolute error `(1/n) Σ |y_i − ŷ_i|`; `None` if empty or of unequal lengths.
pub fn mae(actual: &[f64], predicted: &[f64]) -> Option<f64> {
    mean_pairwise(actual, predicted, |y, f| (y - f).abs())
}

/// The MASE scale `(1/(T−m)) Σ_{t=m+1}^{T} |y_t − y_{t−m}|` of the in-sample series;
/// `None` if `m = 0`, `T ≤ m`, or the scale is 0 or not finite (MASE would be undefined).
pub fn seasonal_naive_scale(insample: &[f64], m: usize) -> Option<f64> {
    if m == 0 {
        return None;
    }
    let later = insample.get(m..)?;
    let scale = mae(later, insample.get(..later.len())?)?;
    (scale.is_finite() && scale > 0.0).then_some(scale)
}

/// Mean absolute scaled error `MAE / scale`, with `scale` from [`seasonal_naive_scale`];
/// `None` if the inputs are empty or of unequal lengths, or `scale` is not a positive finite
/// number.
pub fn mase(actual: &[f64], predicted: &[f64], scale: f64) -> Option<f64> {
    if !(scale.is_finite() && scale > 0.0) {
        return None;
    }
    Some(mae(actual, predicted)? / scale)
}

/// The share of `actual[i]` within `[lo[i], hi[i]]` (bounds included); `None` if empty or of
/// unequal lengths.
pub fn coverage(actual: &[f64], lo: &[f64], hi: &[f64]) -> Option<f64> {
    let n = common_len(&[actual, lo, hi])?;
    let inside = actual.iter().zip(lo).zip(hi).filter(|((y, l), h)| *l <= *y && *y <= *h).count();
    Some(inside as f64 / n as f64)
}

/// Mean pinball loss `(1/n) Σ max(q·u_i, (q − 1)·u_i)`, `u_i = y_i − ŷ_i`, of the forecasts
/// `quantile_value` of the `q`-quantile; `None` if empty, of unequal lengths, or `q` is
/// outside `[0, 1]`.
pub fn pinball(actual: &[f64], quantile_value: &[f64], q: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) {
        return None;
    }
    mean_pairwise(actual, quantile_value, |y, f| {
        let u = y - f;
        (q * u).max((q - 1.0) * u)
    })
}

#[cfg(test)]
mod tests {
    use super::{coverage, mae, mase, pinball, seasonal_naive_scale};
    use proptest::prelude::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() <= 1e-12 * (1.0 + b.abs()))
    }

    #[test]
    fn mae_by_hand() {
        // |1 − 2| + |2 − 2| + |3 − 1| = 1 + 0 + 2 = 3; 3/3 = 1.
        assert_eq!(mae(&[1.0, 2.0, 3.0], &[2.0, 2.0, 1.0]), Some(1.0));
        assert_eq!(mae(&[], &[]), None);
        assert_eq!(mae(&[1.0], &[1.0, 2.0]), None);
    }

    #[test]
    fn seasonal_naive_scale_by_hand() {
        let y = [1.0, 3.0, 2.0, 5.0, 4.0];
        // m = 1: |3−1| + |2−3| + |5−2| + |4−5| = 2 + 1 + 3 + 1 = 7 over T − m = 4 → 1.75.
        assert_eq!(seasonal_naive_scale(&y, 1), Some(1.75));
        // m = 2: |2−1| + |5−3| + |4−2| = 1 + 2 + 2 = 5 over 3 → 5/3.
        assert!(close(seasonal_naive_scale(&y, 2), 5.0 / 3.0));
        // Not enough points (T ≤ m), m = 0, and a zero scale (a constant series).
        assert_eq!(seasonal_naive_scale(&y, 5), None);
        assert_eq!(seasonal_naive_scale(&y, 0), None);
        assert_eq!(seasonal_naive_scale(&[2.0, 2.0, 2.0], 1), None);
    }

    #[test]
    fn mase_by_hand() {
        let scale = seasonal_naive_scale(&[1.0, 3.0, 2.0, 5.0, 4.0], 1);
        assert_eq!(scale, Some(1.75));
        // MAE of (6, 4) against (5, 5) = (1 + 1)/2 = 1; 1/1.75 = 4/7.
        assert!(close(scale.and_then(|s| mase(&[6.0, 4.0], &[5.0, 5.0], s)), 4.0 / 7.0));
        assert_eq!(mase(&[6.0], &[5.0], 0.0), None);
        assert_eq!(mase(&[6.0], &[5.0], f64::NAN), None);
        assert_eq!(mase(&[], &[], 1.0), None);
    }

    #[test]
    fn coverage_by_hand() {
        // 1 ∈ [0, 2] yes; 5 ∈ [6, 7] no; 10 ∈ [9, 11] yes; 3 ∈ [3, 4] yes (bound) → 3/4.
        let got = coverage(&[1.0, 5.0, 10.0, 3.0], &[0.0, 6.0, 9.0, 3.0], &[2.0, 7.0, 11.0, 4.0]);
        assert_eq!(got, Some(0.75));
        assert_eq!(coverage(&[1.0], &[0.0], &[]), None);
        assert_eq!(coverage(&[], &[], &[]), None);
    }

    #[test]
    fn pinball_on_three_points_by_hand() {
        // q = 0.9, y = 10: ŷ = 8 → u = 2, 0.9·2 = 1.8; ŷ = 10 → 0; ŷ = 13 → u = −3,
        // (0.9 − 1)(−3) = 0.3. Mean (1.8 + 0 + 0.3)/3 = 0.7.
        assert!(close(pinball(&[10.0, 10.0, 10.0], &[8.0, 10.0, 13.0], 0.9), 0.7));
        // q = 0.1 on the same: 0.1·2 = 0.2, 0, 0.9·3 = 2.7 → 2.9/3.
        assert!(close(pinball(&[10.0, 10.0, 10.0], &[8.0, 10.0, 13.0], 0.1), 2.9 / 3.0));
        assert_eq!(pinball(&[1.0], &[1.0], 1.5), None);
        assert_eq!(pinball(&[1.0], &[1.0], f64::NAN), None);
        assert_eq!(pinball(&[1.0, 2.0], &[1.0], 0.5), None);
    }

    proptest! {
        #[test]
        fn pinball_at_the_median_is_half_the_mae(
            pairs in proptest::collection::vec((-1e6f64..1e6, -1e6f64..1e6), 1..50),
        ) {
            let (y, f): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            let (Some(p), Some(m)) = (pinball(&y, &f, 0.5), mae(&y, &f)) else { panic!("valid inputs") };
            prop_assert!((p - m / 2.0).abs() <= 1e-9 * (1.0 + m));
        }

        #[test]
        fn the_in_sample_seasonal_naive_has_mase_one(
            y in proptest::collection::vec(-1e6f64..1e6, 2..60),
            m in 1usize..5,
        ) {
            // Forecasting y_t by y_{t−m} in sample has MAE = Q by definition.
            let later = y.get(m..).unwrap_or_default();
            let earlier = y.get(..later.len()).unwrap_or_default();
            if let Some(scale) = seasonal_naive_scale(&y, m) {
                let got = mase(later, earlier, scale);
                prop_assert!(close(got, 1.0), "{:?}", got);
            }
        }

        #[test]
        fn measures_never_panic_and_stay_in_range(
            a in proptest::collection::vec(-1e3f64..1e3, 0..8),
            b in proptest::collection::vec(-1e3f64..1e3, 0..8),
            c in proptest::collection::vec(-1e3f64..1e3, 0..8),
            q in -0.5f64..1.5,
        ) {
            prop_assert!(mae(&a, &b).is_none_or(|v| v >= 0.0));
            prop_assert!(pinball(&a, &b, q).is_none_or(|v| v >= 0.0));
            prop_assert!(coverage(&a, &b, &c).is_none_or(|v| (0.0..=1.0).contains(&v)));
            prop_assert!(seasonal_naive_scale(&a, b.len()).is_none_or(|v| v > 0.0));
        }
    }
}
