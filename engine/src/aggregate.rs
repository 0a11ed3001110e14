//! Per-series aggregation of a closed window.
//!
//! For number series, over the points of one series in one window (ordered by time, ties in
//! arrival order):
//! - `count` = number of points; `min`, `max`, `sum` as named; `mean = sum / count`;
//! - `last` = value of the point with the greatest timestamp;
//! - `p95` = the 0.95 quantile with linear interpolation between closest ranks
//!   (Hyndman & Fan type 7, numpy's default): with the values sorted as `x[0..n]`,
//!   `h = 0.95 (n − 1)`, `p95 = x[⌊h⌋] + (h − ⌊h⌋)(x[⌊h⌋+1] − x[⌊h⌋])`;
//! - `rate` = `sum / window seconds` for delta kinds (counters), null otherwise.
//!
//! For histogram series the window's points are merged: `count` and `sum` add up, `min` and
//! `max` come from the points' own min/max when sent, `mean = sum / count`, `last` is null and
//! `p95` is estimated from the merged buckets by linear interpolation inside the bucket that
//! holds rank `0.95 · count` (the first bucket's lower edge is taken as `min(0, bound)`,
//! the unbounded last bucket reports its lower edge), as Prometheus' `histogram_quantile`
//! does. A summary has no buckets: its `p95` is the newest point's 0.95 quantile when sent.

use crate::batch::{HistogramRow, NumberRows};
use crate::series::SeriesKind;

/// Aggregates of one series in one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SeriesAggregate {
    /// The series.
    pub series: u32,
    /// Number of points (number series) or observations (histograms).
    pub count: u64,
    /// Smallest value, when known.
    pub min: Option<f64>,
    /// Largest value, when known.
    pub max: Option<f64>,
    /// Mean value, when defined.
    pub mean: Option<f64>,
    /// Value of the newest point (number series only).
    pub last: Option<f64>,
    /// 0.95 quantile, when defined.
    pub p95: Option<f64>,
    /// Sum of values.
    pub sum: Option<f64>,
    /// `sum / window seconds` for delta kinds.
    pub rate: Option<f64>,
}

/// The 0.95 quantile of `values` by linear interpolation between closest ranks (type 7).
/// Reorders `values`. `None` for an empty slice.
pub fn p95(values: &mut [f64]) -> Option<f64> {
    quantile_type7(values, 0.95)
}

/// The `q` quantile of `values` (Hyndman & Fan type 7). Reorders `values`.
pub fn quantile_type7(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let h = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = h.floor() as usize;
    let (_, lo_value, upper) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let lo_value = *lo_value;
    let hi_value = upper.iter().copied().min_by(f64::total_cmp).unwrap_or(lo_value);
    Some(lo_value + (h - lo as f64) * (hi_value - lo_value))
}

/// The columns of a window's number rows, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct NumberColumns<'a> {
    /// Series of each row.
    pub series: &'a [u32],
    /// Timestamp of each row.
    pub ts: &'a [i64],
    /// Value of each row.
    pub value: &'a [f64],
}

impl<'a> From<&'a NumberRows> for NumberColumns<'a> {
    fn from(rows: &'a NumberRows) -> Self {
        Self { series: &rows.series, ts: &rows.ts, value: &rows.value }
    }
}

/// Aggregates the number rows of one window per series. `kind_of` names each series' kind;
/// `window_seconds` turns delta sums into rates.
pub fn aggregate_numbers(
    rows: NumberColumns<'_>,
    window_seconds: f64,
    kind_of: impl Fn(u32) -> SeriesKind,
) -> Vec<SeriesAggregate> {
    let mut order: Vec<u32> = (0..rows.series.len() as u32).collect();
    order.sort_by_key(|&i| (rows.series[i as usize], rows.ts[i as usize], i));
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    for group in order.chunk_by(|a, b| rows.series[*a as usize] == rows.series[*b as usize]) {
        let series = rows.series[group[0] as usize];
        scratch.clear();
        scratch.extend(group.iter().map(|&i| rows.value[i as usize]));
        let sum: f64 = scratch.iter().sum();
        let count = scratch.len() as u64;
        let min = scratch.iter().copied().fold(f64::INFINITY, f64::min);
        let max = scratch.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let last = scratch.last().copied();
        let kind = kind_of(series);
        out.push(SeriesAggregate {
            series,
            count,
            min: Some(min),
            max: Some(max),
            mean: Some(sum / count as f64),
            last,
            p95: p95(&mut scratch),
            sum: Some(sum),
            rate: kind.is_delta().then(|| sum / window_seconds),
        });
    }
    out
}

/// Aggregates the histogram and summary rows of one window per series.
pub fn aggregate_histograms(rows: &[HistogramRow]) -> Vec<SeriesAggregate> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].series, rows[i].ts, i));
    order
        .chunk_by(|a, b| rows[*a].series == rows[*b].series)
        .map(|group| merge_histograms(group.iter().map(|&i| &rows[i])))
        .collect()
}

fn merge_histograms<'a>(points: impl Iterator<Item = &'a HistogramRow> + Clone) -> SeriesAggregate {
    let first = points.clone().next();
    let series = first.map_or(0, |p| p.series);
    // Counts come from clients: added saturating, so that no sum of them can overflow.
    let count: u64 = points.clone().map(|p| p.count).fold(0, u64::saturating_add);
    let sum = points.clone().map(|p| p.sum).try_fold(0.0, |acc, s| s.map(|s| acc + s));
    let min = points.clone().filter_map(|p| p.min).reduce(f64::min);
    let newest_summary_p95 =
        points.clone().filter_map(|p| p.quantiles.iter().find(|(q, _)| *q == 0.95).map(|(_, v)| *v)).last();
    let max = points.clone().filter_map(|p| p.max).reduce(f64::max);
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for point in points {
        let bounds = point.bounds.iter().copied().chain(std::iter::once(f64::INFINITY));
        buckets.extend(bounds.zip(point.counts.iter().copied()));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets.dedup_by(|later, kept| {
        let same_bound = later.0 == kept.0;
        if same_bound {
            kept.1 = kept.1.saturating_add(later.1);
        }
        same_bound
    });
    SeriesAggregate {
        series,
        count,
        min,
        max,
        mean: sum.filter(|_| count > 0).map(|s| s / count as f64),
        last: None,
        p95: bucket_quantile(&buckets, 0.95).or(newest_summary_p95),
        sum,
        rate: None,
    }
}

/// The `q` quantile of observations grouped in buckets given as `(upper bound, count)`,
/// sorted by bound. Linear interpolation inside the bucket holding rank `q · total`.
pub fn bucket_quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().map(|b| b.1).fold(0, u64::saturating_add);
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0u64;
    let mut lower_edge = buckets.first().map_or(0.0, |b| b.0.min(0.0));
    for &(upper, count) in buckets {
        if count > 0 && below.saturating_add(count) as f64 >= rank {
            if upper.is_infinite() {
                return Some(lower_edge);
            }
            let within = (rank - below as f64) / count as f64;
            return Some(lower_edge + within * (upper - lower_edge));
        }
        below = below.saturating_add(count);
        if upper.is_finite() {
            lower_edge = upper;
        }
    }
    Some(lower_edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_interpolates_between_closest_ranks() {
        // n = 5: h = 0.95 * 4 = 3.8, so p95 = x[3] + 0.8 (x[4] - x[3]) = 4 + 0.8 * 6 = 8.8
        let mut values = vec![10.0, 1.0, 3.0, 2.0, 4.0];
        assert!((p95(&mut values).unwrap() - 8.8).abs() < 1e-12);
        assert_eq!(p95(&mut [7.0]), Some(7.0));
        assert_eq!(p95(&mut []), None);
    }

    #[test]
    fn numbers_are_aggregated_per_series_in_time_order() {
        let mut rows = NumberRows::default();
        rows.push(2, 30, 5.0);
        rows.push(1, 20, 4.0);
        rows.push(1, 10, 2.0);
        rows.push(2, 10, 1.0);
        let aggregates =
            aggregate_numbers((&rows).into(), 10.0, |s| if s == 2 { SeriesKind::Counter } else { SeriesKind::Gauge });
        assert_eq!(aggregates.len(), 2);
        let gauge = &aggregates[0];
        assert_eq!((gauge.series, gauge.count), (1, 2));
        assert_eq!((gauge.min, gauge.max, gauge.mean), (Some(2.0), Some(4.0), Some(3.0)));
        assert_eq!(gauge.last, Some(4.0), "last is the newest point, not the last to arrive");
        // h = 0.95 * 1 = 0.95: 2 + 0.95 * 2 = 3.9
        assert!((gauge.p95.unwrap() - 3.9).abs() < 1e-12);
        assert_eq!(gauge.rate, None);
        let counter = &aggregates[1];
        assert_eq!((counter.sum, counter.last), (Some(6.0), Some(5.0)));
        assert_eq!(counter.rate, Some(0.6), "6 over a 10 s window");
    }

    #[test]
    fn histogram_p95_interpolates_inside_the_bucket() {
        // buckets (≤1: 10), (≤2: 70), (≤5: 20): total 100, rank 95 lies in the third bucket,
        // 15 of its 20 observations in: 2 + 15/20 * (5 - 2) = 4.25
        let row = HistogramRow {
            series: 3,
            ts: 1,
            count: 100,
            sum: Some(180.0),
            bounds: vec![1.0, 2.0, 5.0],
            counts: vec![10, 70, 20, 0],
            ..Default::default()
        };
        let aggregates = aggregate_histograms(&[row.clone(), HistogramRow { ts: 2, ..row }]);
        assert_eq!(aggregates.len(), 1);
        let merged = &aggregates[0];
        assert_eq!(merged.count, 200);
        assert_eq!(merged.sum, Some(360.0));
        assert_eq!(merged.mean, Some(1.8));
        assert!((merged.p95.unwrap() - 4.25).abs() < 1e-12);
    }

    #[test]
    fn counts_near_u64_max_saturate_instead_of_overflowing() {
        // Two points of 2^63 observations each, all in the bucket ≤ 1: the count saturates at
        // u64::MAX, and the p95 rank (0.95 · u64::MAX) lies in that bucket: 0 + 0.95 · 1.
        let half = 1u64 << 63;
        let row = HistogramRow {
            series: 1,
            ts: 1,
            count: half,
            bounds: vec![1.0],
            counts: vec![half, 0],
            ..Default::default()
        };
        let merged = &aggregate_histograms(&[row.clone(), HistogramRow { ts: 2, ..row }])[0];
        assert_eq!(merged.count, u64::MAX);
        assert!((merged.p95.unwrap() - 0.95).abs() < 1e-9, "{:?}", merged.p95);
        assert_eq!(bucket_quantile(&[(1.0, u64::MAX), (2.0, u64::MAX)], 1.0), Some(1.0), "saturated total");
    }

    #[test]
    fn bucket_quantile_in_the_unbounded_bucket_reports_its_lower_edge() {
        assert_eq!(bucket_quantile(&[(1.0, 1), (f64::INFINITY, 9)], 0.95), Some(1.0));
        assert_eq!(bucket_quantile(&[(1.0, 0)], 0.5), None);
    }
}
