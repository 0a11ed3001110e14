//! What every input path hands the engine: columnar rows of already interned series.
//!
//! The columns are plain vectors so that ingest appends without per-row allocation; the
//! engine turns them into Arrow arrays without copying (`Vec<T>` becomes an Arrow buffer).

use std::fmt;

/// Number points whose values are stored as they are (gauges, delta sums, summary quantiles).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NumberRows {
    /// Interned series of each row.
    pub series: Vec<u32>,
    /// Event time, nanoseconds since the Unix epoch.
    pub ts: Vec<i64>,
    /// The value.
    pub value: Vec<f64>,
}

impl NumberRows {
    /// Appends one row.
    #[inline]
    pub fn push(&mut self, series: u32, ts: i64, value: f64) {
        self.series.push(series);
        self.ts.push(ts);
        self.value.push(value);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Keeps the rows for which `keep(series)` is true.
    pub fn retain_series(&mut self, mut keep: impl FnMut(u32) -> bool) {
        let mut write = 0;
        for read in 0..self.series.len() {
            if keep(self.series[read]) {
                self.series[write] = self.series[read];
                self.ts[write] = self.ts[read];
                self.value[write] = self.value[read];
                write += 1;
            }
        }
        self.series.truncate(write);
        self.ts.truncate(write);
        self.value.truncate(write);
    }
}

/// Points of cumulative monotonic sums, which the engine turns into deltas per series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CumulativeRows {
    /// The rows themselves (value = the cumulative total at `ts`).
    pub rows: NumberRows,
    /// Start time of the cumulative interval of each row (0 when unknown).
    pub start: Vec<i64>,
}

impl CumulativeRows {
    /// Appends one row.
    #[inline]
    pub fn push(&mut self, series: u32, start: i64, ts: i64, value: f64) {
        self.rows.push(series, ts, value);
        self.start.push(start);
    }
}

/// One histogram or summary point. Exponential histograms arrive converted to explicit
/// upper bounds; summaries carry no buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramRow {
    /// Interned series.
    pub series: u32,
    /// Start of the cumulative interval (0 when unknown or for delta points).
    pub start: i64,
    /// Event time, nanoseconds since the Unix epoch.
    pub ts: i64,
    /// Number of observations.
    pub count: u64,
    /// Sum of observations, when sent.
    pub sum: Option<f64>,
    /// Smallest observation, when sent.
    pub min: Option<f64>,
    /// Largest observation, when sent.
    pub max: Option<f64>,
    /// Upper bounds of all buckets but the last, ascending; the last bucket is unbounded.
    pub bounds: Vec<f64>,
    /// Observations per bucket: `bounds.len() + 1` entries, or none for summaries.
    pub counts: Vec<u64>,
    /// `(quantile, value)` pairs of a summary; empty for histograms.
    pub quantiles: Vec<(f64, f64)>,
}

impl HistogramRow {
    /// Heap bytes of its bucket and quantile vectors (their capacity).
    pub fn heap_bytes(&self) -> usize {
        8 * (self.bounds.capacity() + self.counts.capacity()) + 16 * self.quantiles.capacity()
    }

    /// Estimated bytes of the row held in memory: the struct and its heap.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<HistogramRow>() + self.heap_bytes()
    }
}

/// A batch of rows from one request (or one replay step).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestBatch {
    /// Values stored as they are.
    pub numbers: NumberRows,
    /// Cumulative sums still to be turned into deltas.
    pub cumulative: CumulativeRows,
    /// Histogram and summary points (cumulative ones are turned into deltas too).
    pub histograms: Vec<HistogramRow>,
    /// Whether each histogram row is cumulative (parallel to `histograms`).
    pub histogram_cumulative: Vec<bool>,
    /// The series table's epoch when the batch was built, held until it is stored, so that
    /// no id the batch names is given to another series meanwhile (`series` module doc).
    pub epoch: Option<crate::series::SeriesEpoch>,
}

impl IngestBatch {
    /// Number of points in the batch.
    pub fn len(&self) -> usize {
        self.numbers.len() + self.cumulative.rows.len() + self.histograms.len()
    }

    /// True when the batch holds no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        *self = IngestBatch {
            numbers: take_cleared(&mut self.numbers),
            cumulative: CumulativeRows {
                rows: take_cleared(&mut self.cumulative.rows),
                start: clear_vec(&mut self.cumulative.start),
            },
            histograms: clear_vec(&mut self.histograms),
            histogram_cumulative: clear_vec(&mut self.histogram_cumulative),
            epoch: None,
        };
    }
}

fn take_cleared(rows: &mut NumberRows) -> NumberRows {
    NumberRows { series: clear_vec(&mut rows.series), ts: clear_vec(&mut rows.ts), value: clear_vec(&mut rows.value) }
}

fn clear_vec<T>(v: &mut Vec<T>) -> Vec<T> {
    let mut taken = std::mem::take(v);
    taken.clear();
    taken
}

/// Why a point was not accepted. The names are the `reason` label of
/// `ironspider_points_rejected_total` and appear in OTLP partial-success messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// NaN or ±Inf value (or histogram sum, min, max).
    NonFiniteValue,
    /// `time_unix_nano` is zero or beyond what a signed 64-bit nanosecond clock holds.
    MissingTimestamp,
    /// More point attributes than the configured limit.
    TooManyAttributes,
    /// A new series with an attribute key or value (or a remote-write label name or value)
    /// longer than the configured limit.
    AttributeTooLong,
    /// A new series past `max_series`.
    SeriesLimit,
    /// The point's window is already closed (older than the allowed lateness).
    Late,
    /// The timestamp is further in the future than `max_future_seconds`.
    FutureTimestamp,
    /// Same series and timestamp as the previous point of that series.
    DuplicateTimestamp,
    /// A cumulative point older than the series' previous point.
    OutOfOrder,
    /// A histogram whose bucket counts do not match its bounds, or other malformed point.
    InvalidPoint,
}

impl RejectReason {
    /// Every reason, in a fixed order (for exposition and reports).
    pub const ALL: [RejectReason; 10] = [
        RejectReason::NonFiniteValue,
        RejectReason::MissingTimestamp,
        RejectReason::TooManyAttributes,
        RejectReason::AttributeTooLong,
        RejectReason::SeriesLimit,
        RejectReason::Late,
        RejectReason::FutureTimestamp,
        RejectReason::DuplicateTimestamp,
        RejectReason::OutOfOrder,
        RejectReason::InvalidPoint,
    ];

    /// Snake-case name used as a label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NonFiniteValue => "non_finite_value",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::TooManyAttributes => "too_many_attributes",
            RejectReason::AttributeTooLong => "attribute_too_long",
            RejectReason::SeriesLimit => "series_limit",
            RejectReason::Late => "late",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::DuplicateTimestamp => "duplicate_timestamp",
            RejectReason::OutOfOrder => "out_of_order",
            RejectReason::InvalidPoint => "invalid_point",
        }
    }

    pub(crate) fn index(self) -> usize {
        RejectReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Rejected points counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts([u64; RejectReason::ALL.len()]);

impl RejectCounts {
    /// Counts `n` rejections for `reason`.
    #[inline]
    pub fn add(&mut self, reason: RejectReason, n: u64) {
        self.0[reason.index()] += n;
    }

    /// Rejections counted for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.index()]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0.iter()) {
            *mine += theirs;
        }
    }

    /// Reasons with a non-zero count, in [`RejectReason::ALL`] order.
    pub fn nonzero(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL.iter().map(|r| (*r, self.get(*r))).filter(|(_, n)| *n > 0)
    }

    /// A one-line summary such as `3 late, 1 non_finite_value`, or `None` when nothing was
    /// rejected. This is the OTLP partial-success `error_message`.
    pub fn message(&self) -> Option<String> {
        let parts: Vec<String> = self.nonzero().map(|(r, n)| format!("{n} {}", describe(r))).collect();
        (!parts.is_empty()).then(|| format!("rejected data points: {}", parts.join(", ")))
    }
}

fn describe(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::NonFiniteValue => "non_finite_value (NaN or infinite value)",
        RejectReason::MissingTimestamp => "missing_timestamp (time_unix_nano is 0 or out of range)",
        RejectReason::TooManyAttributes => "too_many_attributes (over the per-point attribute limit)",
        RejectReason::AttributeTooLong => "attribute_too_long (an attribute key or value over the length limit)",
        RejectReason::SeriesLimit => "series_limit (the series table is full)",
        RejectReason::Late => "late (the point's window closed; beyond the allowed lateness)",
        RejectReason::FutureTimestamp => "future_timestamp (too far ahead of the server clock)",
        RejectReason::DuplicateTimestamp => "duplicate_timestamp (same series and time as the previous point)",
        RejectReason::OutOfOrder => "out_of_order (cumulative point older than the previous one)",
        RejectReason::InvalidPoint => "invalid_point (malformed histogram or summary)",
    }
}

/// What the engine did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Points stored (cumulative baselines included).
    pub accepted: u64,
    /// Points refused, by reason.
    pub rejected: RejectCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_series_keeps_columns_aligned() {
        let mut rows = NumberRows::default();
        rows.push(1, 10, 1.0);
        rows.push(2, 20, 2.0);
        rows.push(1, 30, 3.0);
        rows.retain_series(|s| s == 1);
        assert_eq!(rows.series, vec![1, 1]);
        assert_eq!(rows.ts, vec![10, 30]);
        assert_eq!(rows.value, vec![1.0, 3.0]);
    }

    #[test]
    fn reject_message_names_each_reason_with_its_count() {
        let mut counts = RejectCounts::default();
        assert_eq!(counts.message(), None);
        counts.add(RejectReason::Late, 3);
        counts.add(RejectReason::NonFiniteValue, 1);
        let message = counts.message().unwrap();
        assert!(message.starts_with("rejected data points: 1 non_finite_value"), "{message}");
        assert!(message.contains("3 late"), "{message}");
        assert_eq!(counts.total(), 4);
    }
}
