//! The live window store: open tumbling windows being filled, closed windows kept for the
//! live retention.
//!
//! Points are placed in windows by event time: window `[k·w, (k+1)·w)` for a window length
//! `w`. Windows close by the clock: when `now − lateness ≥ window end`. From then on, any
//! point older than the newest closed window's end is *late*: counted and rejected, never
//! merged. The clock is the wall clock when serving and a virtual clock when replaying, so one
//! exporter with a skewed clock cannot close the windows of everyone else; points further
//! than `max_future` ahead of the clock are rejected for the same reason.

use crate::batch::{ApplyReport, HistogramRow, IngestBatch, NumberRows, RejectReason};
use crate::config::EngineConfig;
use crate::cumulative::{CumulativeState, Delta};
use crate::schema;
use arrow::array::{
    ArrayRef, Float64Array, Float64Builder, ListBuilder, RecordBatch, TimestampNanosecondArray, UInt32Array,
    UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

/// A window still accepting points.
#[derive(Debug, Default)]
pub struct OpenWindow {
    /// Window start, nanoseconds since the epoch.
    pub start: i64,
    /// Number points stored as they are (deltas already computed).
    pub numbers: NumberRows,
    /// Histogram and summary points (deltas already computed).
    pub histograms: Vec<HistogramRow>,
}

/// A closed window: immutable Arrow batches of its points, and its aggregates once computed.
#[derive(Debug)]
pub struct ClosedWindow {
    /// Window start, nanoseconds since the epoch.
    pub start: i64,
    /// Window end (exclusive).
    pub end: i64,
    /// `samples` rows of the window.
    pub samples: RecordBatch,
    /// `histograms` rows of the window.
    pub histograms: RecordBatch,
    /// The histogram rows as structs, for aggregation.
    pub histogram_rows: Vec<HistogramRow>,
    /// `windows` rows, set by the closer once aggregated.
    pub aggregates: OnceLock<RecordBatch>,
}

/// Arrow batches of everything live, taken under the store lock and read without it.
#[derive(Debug, Default, Clone)]
pub struct StoreSnapshot {
    /// `samples` batches, closed windows first.
    pub samples: Vec<RecordBatch>,
    /// `histograms` batches.
    pub histograms: Vec<RecordBatch>,
    /// `windows` batches of aggregated closed windows.
    pub windows: Vec<RecordBatch>,
}

/// Open and closed windows, and the per-series state that ordering checks need.
#[derive(Debug)]
pub struct WindowStore {
    window_ns: i64,
    lateness_ns: i64,
    retention_ns: i64,
    max_future_ns: i64,
    /// Every window ending at or before this instant is closed; older points are late.
    closed_before: i64,
    open: Vec<OpenWindow>,
    closed: VecDeque<Arc<ClosedWindow>>,
    /// Newest timestamp per series of points stored as they are, for duplicate detection.
    newest_ts: Vec<i64>,
    cumulative: CumulativeState,
    live_samples: usize,
}

impl WindowStore {
    /// An empty store whose clock reads `now_ns`: windows already past the lateness are
    /// closed from the start.
    pub fn new(config: &EngineConfig, now_ns: i64) -> Self {
        let window_ns = config.window_ns();
        let lateness_ns = config.lateness_ns();
        Self {
            window_ns,
            lateness_ns,
            retention_ns: config.retention_ns(),
            max_future_ns: config.max_future_ns(),
            closed_before: window_floor(now_ns.saturating_sub(lateness_ns), window_ns),
            open: Vec::new(),
            closed: VecDeque::new(),
            newest_ts: Vec::new(),
            cumulative: CumulativeState::new(now_ns),
            live_samples: 0,
        }
    }

    /// Stores a batch's points, rejecting late, future, duplicate and out-of-order ones.
    pub fn apply(&mut self, batch: IngestBatch, now_ns: i64) -> ApplyReport {
        let mut report = ApplyReport::default();
        let newest_allowed = now_ns.saturating_add(self.max_future_ns);
        let mut slot = WindowSlot::default();
        let numbers = &batch.numbers;
        for i in 0..numbers.len() {
            let (series, ts, value) = (numbers.series[i], numbers.ts[i], numbers.value[i]);
            let outcome = self.admit(ts, newest_allowed).and_then(|()| self.check_newer(series, ts));
            match outcome {
                Ok(()) => {
                    self.window_for(ts, &mut slot).numbers.push(series, ts, value);
                    report.accepted += 1;
                }
                Err(reason) => report.rejected.add(reason, 1),
            }
        }
        let cumulative = &batch.cumulative;
        for i in 0..cumulative.rows.len() {
            let (series, ts) = (cumulative.rows.series[i], cumulative.rows.ts[i]);
            let outcome = self
                .admit(ts, newest_allowed)
                .and_then(|()| self.cumulative.counter(series, cumulative.start[i], ts, cumulative.rows.value[i]));
            match outcome {
                Ok(Delta::Change(delta)) => {
                    self.window_for(ts, &mut slot).numbers.push(series, ts, delta);
                    report.accepted += 1;
                }
                Ok(Delta::Baseline) => report.accepted += 1,
                Err(reason) => report.rejected.add(reason, 1),
            }
        }
        for (row, cumulative) in batch.histograms.into_iter().zip(batch.histogram_cumulative) {
            let outcome = self.admit(row.ts, newest_allowed).and_then(|()| {
                if cumulative {
                    self.cumulative.histogram(&row)
                } else {
                    self.check_newer(row.series, row.ts).map(|()| Delta::Change(row))
                }
            });
            match outcome {
                Ok(Delta::Change(delta)) => {
                    self.window_for(delta.ts, &mut slot).histograms.push(delta);
                    report.accepted += 1;
                }
                Ok(Delta::Baseline) => report.accepted += 1,
                Err(reason) => report.rejected.add(reason, 1),
            }
        }
        self.live_samples += report.accepted as usize;
        report
    }

    fn admit(&self, ts: i64, newest_allowed: i64) -> Result<(), RejectReason> {
        if ts < self.closed_before {
            Err(RejectReason::Late)
        } else if ts > newest_allowed {
            Err(RejectReason::FutureTimestamp)
        } else {
            Ok(())
        }
    }

    /// Rejects a point whose timestamp equals its series' newest; out-of-order points of
    /// series stored as they are simply land in their own window.
    fn check_newer(&mut self, series: u32, ts: i64) -> Result<(), RejectReason> {
        let index = series as usize;
        if index >= self.newest_ts.len() {
            self.newest_ts.resize(index + 1, i64::MIN);
        }
        let newest = &mut self.newest_ts[index];
        if *newest == ts {
            return Err(RejectReason::DuplicateTimestamp);
        }
        *newest = (*newest).max(ts);
        Ok(())
    }

    fn window_for(&mut self, ts: i64, slot: &mut WindowSlot) -> &mut OpenWindow {
        let start = window_floor(ts, self.window_ns);
        if slot.start != Some(start) || slot.index >= self.open.len() {
            slot.index = match self.open.binary_search_by_key(&start, |w| w.start) {
                Ok(index) => index,
                Err(index) => {
                    self.open.insert(index, OpenWindow { start, ..Default::default() });
                    index
                }
            };
            slot.start = Some(start);
        }
        &mut self.open[slot.index]
    }

    /// Closes every window whose end is at or before `now − lateness` and returns them, oldest
    /// first, for aggregation. Their samples stay queryable throughout.
    pub fn close_due(&mut self, now_ns: i64) -> Vec<Arc<ClosedWindow>> {
        let watermark = now_ns.saturating_sub(self.lateness_ns);
        self.closed_before = self.closed_before.max(window_floor(watermark, self.window_ns));
        let due = self.open.partition_point(|w| w.start.saturating_add(self.window_ns) <= self.closed_before);
        self.close_first(due)
    }

    /// Closes every open window, whatever the clock says (at shutdown).
    pub fn close_all(&mut self) -> Vec<Arc<ClosedWindow>> {
        if let Some(last) = self.open.last() {
            self.closed_before = self.closed_before.max(last.start.saturating_add(self.window_ns));
        }
        self.close_first(self.open.len())
    }

    fn close_first(&mut self, count: usize) -> Vec<Arc<ClosedWindow>> {
        let window_ns = self.window_ns;
        let newly_closed: Vec<Arc<ClosedWindow>> =
            self.open.drain(..count).map(|window| Arc::new(ClosedWindow::from_open(window, window_ns))).collect();
        self.closed.extend(newly_closed.iter().cloned());
        newly_closed
    }

    /// Drops closed windows that ended before `now − retention`.
    pub fn expire(&mut self, now_ns: i64) {
        let oldest_kept_end = now_ns.saturating_sub(self.retention_ns);
        while self.closed.front().is_some_and(|w| w.end <= oldest_kept_end) {
            if let Some(window) = self.closed.pop_front() {
                self.live_samples -= window.samples.num_rows() + window.histograms.num_rows();
            }
        }
    }

    /// Points held in memory (open and closed windows).
    pub fn live_samples(&self) -> usize {
        self.live_samples
    }

    /// Number of open windows.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// End of the newest closed window: points before it are late.
    pub fn closed_before(&self) -> i64 {
        self.closed_before
    }

    /// Batches of everything live. Open windows are copied; closed ones are shared.
    pub fn snapshot(&self) -> StoreSnapshot {
        let mut snapshot = StoreSnapshot::default();
        for window in &self.closed {
            snapshot.samples.push(window.samples.clone());
            snapshot.histograms.push(window.histograms.clone());
            if let Some(aggregates) = window.aggregates.get() {
                snapshot.windows.push(aggregates.clone());
            }
        }
        for window in &self.open {
            snapshot.samples.push(samples_batch(window.numbers.clone()));
            snapshot.histograms.push(histograms_batch(&window.histograms));
        }
        snapshot
    }
}

/// Remembers which open window the previous point went to: most batches fill one window.
#[derive(Debug, Default)]
struct WindowSlot {
    start: Option<i64>,
    index: usize,
}

/// Start of the window holding `ts`: `⌊ts / w⌋ · w`.
pub fn window_floor(ts: i64, window_ns: i64) -> i64 {
    ts.div_euclid(window_ns).saturating_mul(window_ns)
}

impl ClosedWindow {
    fn from_open(window: OpenWindow, window_ns: i64) -> Self {
        Self {
            start: window.start,
            end: window.start.saturating_add(window_ns),
            samples: samples_batch(window.numbers),
            histograms: histograms_batch(&window.histograms),
            histogram_rows: window.histograms,
            aggregates: OnceLock::new(),
        }
    }
}

fn timestamps(values: Vec<i64>) -> TimestampNanosecondArray {
    TimestampNanosecondArray::from(values).with_timezone("UTC")
}

/// The `samples` batch of number rows; the vectors become Arrow buffers without a copy.
pub fn samples_batch(rows: NumberRows) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(rows.series)),
        Arc::new(timestamps(rows.ts)),
        Arc::new(Float64Array::from(rows.value)),
    ];
    batch(&schema::SAMPLES, columns)
}

/// The `histograms` batch of histogram rows.
pub fn histograms_batch(rows: &[HistogramRow]) -> RecordBatch {
    let float_list = || {
        ListBuilder::new(Float64Builder::new()).with_field(Arc::new(Field::new_list_field(DataType::Float64, false)))
    };
    let (mut bounds, mut levels, mut quantile_values) = (float_list(), float_list(), float_list());
    let mut counts =
        ListBuilder::new(UInt64Builder::new()).with_field(Arc::new(Field::new_list_field(DataType::UInt64, false)));
    for row in rows {
        bounds.values().append_slice(&row.bounds);
        bounds.append(true);
        counts.values().append_slice(&row.counts);
        counts.append(true);
        levels.values().extend(row.quantiles.iter().map(|q| Some(q.0)));
        levels.append(true);
        quantile_values.values().extend(row.quantiles.iter().map(|q| Some(q.1)));
        quantile_values.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.series))),
        Arc::new(timestamps(rows.iter().map(|r| r.ts).collect())),
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.count))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.sum))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.min))),
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.max))),
        Arc::new(bounds.finish()),
        Arc::new(counts.finish()),
        Arc::new(levels.finish()),
        Arc::new(quantile_values.finish()),
    ];
    batch(&schema::HISTOGRAMS, columns)
}

/// Builds a batch whose columns are constructed to match `schema`.
pub(crate) fn batch(schema: &arrow::datatypes::SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    match RecordBatch::try_new(schema.clone(), columns) {
        Ok(batch) => batch,
        // The columns above are built from the schema's own types; a mismatch is a bug here.
        Err(error) => panic!("internal schema mismatch: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn store(now: i64) -> WindowStore {
        let config =
            EngineConfig { window_seconds: 10, lateness_seconds: 30, retention_seconds: 60, ..Default::default() };
        WindowStore::new(&config, now)
    }

    fn numbers(points: &[(u32, i64, f64)]) -> IngestBatch {
        let mut batch = IngestBatch::default();
        for &(series, ts, value) in points {
            batch.numbers.push(series, ts, value);
        }
        batch
    }

    #[test]
    fn points_land_in_their_event_time_window() {
        let mut store = store(1000 * S);
        let report = store.apply(numbers(&[(0, 1001 * S, 1.0), (0, 1012 * S, 2.0), (1, 1009 * S, 3.0)]), 1015 * S);
        assert_eq!(report.accepted, 3);
        assert_eq!(store.open_windows(), 2);
        assert_eq!(store.open[0].start, 1000 * S);
        assert_eq!(store.open[0].numbers.series, vec![0, 1]);
        assert_eq!(store.open[1].numbers.value, vec![2.0]);
    }

    #[test]
    fn windows_close_after_the_lateness_and_late_points_are_rejected() {
        let mut store = store(1000 * S);
        store.apply(numbers(&[(0, 1001 * S, 1.0)]), 1001 * S);
        // window [1000, 1010) closes once now − 30 s ≥ 1010 s
        assert!(store.close_due(1039 * S).is_empty());
        let closed = store.close_due(1040 * S);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].start, closed[0].end), (1000 * S, 1010 * S));
        let report = store.apply(numbers(&[(1, 1009 * S, 1.0), (1, 1010 * S, 2.0)]), 1040 * S);
        assert_eq!(report.rejected.get(RejectReason::Late), 1);
        assert_eq!(report.accepted, 1);
        assert_eq!(store.snapshot().samples.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    }

    #[test]
    fn duplicates_and_future_points_are_rejected() {
        let mut store = store(1000 * S);
        let report = store.apply(numbers(&[(0, 1001 * S, 1.0), (0, 1001 * S, 1.0), (0, 999 * S, 5.0)]), 1001 * S);
        assert_eq!(report.rejected.get(RejectReason::DuplicateTimestamp), 1);
        assert_eq!(report.accepted, 2, "an out-of-order gauge point within the lateness is kept");
        let report = store.apply(numbers(&[(0, 1302 * S, 1.0)]), 1001 * S);
        assert_eq!(report.rejected.get(RejectReason::FutureTimestamp), 1);
    }

    #[test]
    fn cumulative_points_become_deltas_and_baselines_store_nothing() {
        let mut store = store(1000 * S);
        let mut batch = IngestBatch::default();
        batch.cumulative.push(0, 1000 * S, 1001 * S, 5.0);
        batch.cumulative.push(0, 1000 * S, 1002 * S, 8.0);
        batch.cumulative.push(1, 10 * S, 1002 * S, 100.0);
        let report = store.apply(batch, 1003 * S);
        assert_eq!(report.accepted, 3);
        assert_eq!(store.open[0].numbers.value, vec![5.0, 3.0]);
    }

    #[test]
    fn expired_windows_leave_memory() {
        let mut store = store(1000 * S);
        store.apply(numbers(&[(0, 1001 * S, 1.0)]), 1001 * S);
        store.close_due(1040 * S);
        assert_eq!(store.live_samples(), 1);
        store.expire(1069 * S);
        assert_eq!(store.live_samples(), 1, "ended at 1010, kept for 60 s");
        store.expire(1070 * S);
        assert_eq!(store.live_samples(), 0);
        assert!(store.snapshot().samples.is_empty());
    }
}
