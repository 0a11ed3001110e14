//! Exponential histograms as explicit buckets.
//!
//! At scale `s` the base is `b = 2^(2^−s)`; positive bucket `i` holds values in
//! `(bⁱ, bⁱ⁺¹]` and negative bucket `i` values in `[−bⁱ⁺¹, −bⁱ)` (OTLP data model). The
//! explicit form lists upper bounds in ascending order: the negative buckets from the
//! highest index down (upper bound `−bⁱ`), the zero bucket (upper bound `zero_threshold`),
//! the positive buckets (upper bound `bⁱ⁺¹`), and an empty unbounded bucket at the end.

use crate::visitor::ExponentialHistogramPoint;

/// Scales the OTLP data model allows.
const SCALES: std::ops::RangeInclusive<i32> = -10..=20;

/// `(bounds, counts)` of the explicit form, or `None` when the scale is out of range or the
/// counts do not add up to the point's count.
pub fn to_explicit(point: &ExponentialHistogramPoint<'_>) -> Option<(Vec<f64>, Vec<u64>)> {
    if !SCALES.contains(&point.scale) {
        return None;
    }
    let total = point.positive.iter().chain(point.negative).try_fold(point.zero_count, |acc, c| acc.checked_add(*c))?;
    if total != point.count {
        return None;
    }
    let exponent_step = 2f64.powi(-point.scale);
    let power = |index: i64| (index as f64 * exponent_step).exp2();
    let buckets = point.negative.len() + point.positive.len() + 2;
    let mut bounds = Vec::with_capacity(buckets - 1);
    let mut counts = Vec::with_capacity(buckets);
    for (k, count) in point.negative.iter().enumerate().rev() {
        bounds.push(-power(i64::from(point.negative_offset) + k as i64));
        counts.push(*count);
    }
    bounds.push(point.zero_threshold.abs());
    counts.push(point.zero_count);
    for (k, count) in point.positive.iter().enumerate() {
        bounds.push(power(i64::from(point.positive_offset) + k as i64 + 1));
        counts.push(*count);
    }
    counts.push(0);
    Some((bounds, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::visitor::PointTimes;

    #[test]
    fn scale_zero_buckets_are_powers_of_two() {
        // scale 0: base 2. positive offset 1: buckets (2,4], (4,8]; negative offset 0: [-2,-1).
        let point = ExponentialHistogramPoint {
            times: PointTimes::default(),
            count: 6,
            sum: None,
            min: None,
            max: None,
            scale: 0,
            zero_count: 1,
            zero_threshold: 0.0,
            positive_offset: 1,
            positive: &[2, 1],
            negative_offset: 0,
            negative: &[2],
        };
        let (bounds, counts) = to_explicit(&point).unwrap();
        assert_eq!(bounds, vec![-1.0, 0.0, 4.0, 8.0]);
        assert_eq!(counts, vec![2, 1, 2, 1, 0]);
        assert_eq!(to_explicit(&ExponentialHistogramPoint { count: 7, ..point }), None);
        assert_eq!(to_explicit(&ExponentialHistogramPoint { scale: 21, ..point }), None);
    }
}
