//! The live window store: open tumbling windows being filled, closed windows kept for the
//! live retention.
//!
//! Points are placed in windows by event time: window `[k·w, (k+1)·w)` for a window length
//! `w`. Windows close by the clock: when `now − lateness ≥ window end`. From then on, any
//! point older than the newest closed window's end is *late*: counted and rejected, never
//! merged. The clock is the wall clock when serving and a virtual clock when replaying, so one
//! exporter with a skewed clock cannot close the windows of everyone else; points further
//! than `max_future` ahead of the clock are rejected for the same reason.
//!
//! ## Memory
//! [`WindowStore::bytes`] estimates the store's heap: [`NUMBER_ROW_BYTES`] per number row and
//! [`HistogramRow::bytes`] per histogram row of the open windows, the Arrow buffers of the
//! closed windows (their samples, histograms and aggregates, as Arrow measures them, spare
//! capacity included), and the per-series state (newest timestamps, last-seen times, the
//! previous points of cumulative series). Closed windows normally stay for the live
//! retention; while the store holds more than three quarters of `max_live_bytes` the oldest
//! are dropped sooner, counted as *shed* (their aggregates are in the history already), so
//! that ingest is refused only when the open windows alone fill the budget and recovers as
//! soon as they close.

use crate::batch::{ApplyReport, HistogramRow, IngestBatch, NumberRows, RejectReason};
use crate::config::EngineConfig;
use crate::cumulative::{CumulativeState, Delta};
use crate::schema;
use crate::series::SeriesTable;
use arrow::array::{
    ArrayRef, Float64Array, Float64Builder, ListBuilder, RecordBatch, TimestampNanosecondArray, UInt32Array,
    UInt64Array, UInt64Builder,
};
use arrow::datatypes::{DataType, Field};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

/// Estimated bytes of one number row of an open window: `series_id` (4), `ts` (8), `value` (8).
pub const NUMBER_ROW_BYTES: usize = 20;

/// A window still accepting points.
#[derive(Debug, Default)]
pub struct OpenWindow {
    /// Window start, nanoseconds since the epoch.
    pub start: i64,
    /// Number points stored as they are (deltas already computed).
    pub numbers: NumberRows,
    /// Histogram and summary points (deltas already computed).
    pub histograms: Vec<HistogramRow>,
    /// Estimated bytes of its rows (module doc).
    pub bytes: usize,
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
    /// Estimated bytes of `histogram_rows`.
    pub histogram_rows_bytes: usize,
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
    /// Clock time of the newest batch naming each series, `i64::MIN` when none has yet.
    seen: Vec<i64>,
    cumulative: CumulativeState,
    live_samples: usize,
    open_bytes: usize,
    closed_bytes: usize,
    /// Past this, closed windows are shed before their retention ends (module doc).
    shed_above: usize,
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
            seen: Vec::new(),
            cumulative: CumulativeState::new(now_ns),
            live_samples: 0,
            open_bytes: 0,
            closed_bytes: 0,
            shed_above: config.max_live_bytes - config.max_live_bytes / 4,
        }
    }

    /// Stores a batch's points, rejecting late, future, duplicate and out-of-order ones.
    pub fn apply(&mut self, batch: IngestBatch, now_ns: i64) -> ApplyReport {
        let mut report = ApplyReport::default();
        let newest_allowed = now_ns.saturating_add(self.max_future_ns);
        let mut slot = WindowSlot::default();
        self.mark_seen(&batch, now_ns);
        let numbers = &batch.numbers;
        for i in 0..numbers.len() {
            let (series, ts, value) = (numbers.series[i], numbers.ts[i], numbers.value[i]);
            let outcome = self.admit(ts, newest_allowed).and_then(|()| self.check_newer(series, ts));
            match outcome {
                Ok(()) => {
                    let window = self.window_for(ts, &mut slot);
                    window.numbers.push(series, ts, value);
                    window.bytes += NUMBER_ROW_BYTES;
                    self.open_bytes += NUMBER_ROW_BYTES;
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
                    let window = self.window_for(ts, &mut slot);
                    window.numbers.push(series, ts, delta);
                    window.bytes += NUMBER_ROW_BYTES;
                    self.open_bytes += NUMBER_ROW_BYTES;
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
                    let bytes = delta.bytes();
                    let window = self.window_for(delta.ts, &mut slot);
                    window.histograms.push(delta);
                    window.bytes += bytes;
                    self.open_bytes += bytes;
                    report.accepted += 1;
                }
                Ok(Delta::Baseline) => report.accepted += 1,
                Err(reason) => report.rejected.add(reason, 1),
            }
        }
        self.live_samples += report.accepted as usize;
        report
    }

    /// Records that every series `batch` names was seen at `now_ns`.
    fn mark_seen(&mut self, batch: &IngestBatch, now_ns: i64) {
        let ids = batch
            .numbers
            .series
            .iter()
            .chain(&batch.cumulative.rows.series)
            .chain(batch.histograms.iter().map(|row| &row.series));
        for &series in ids {
            let index = series as usize;
            if index >= self.seen.len() {
                self.seen.resize(index + 1, i64::MIN);
            }
            self.seen[index] = now_ns;
        }
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

    /// Adds a closed window read back from the history (`restore` module doc): its aggregates
    /// and no points. Call it oldest first, before any point arrives. The late bound is left
    /// as the clock sets it: a window flushed at shutdown before its end still takes the
    /// points that come after the restart, closed again later as another part.
    pub fn restore_closed(&mut self, start: i64, end: i64, aggregates: RecordBatch) {
        let window = ClosedWindow {
            start,
            end,
            samples: samples_batch(NumberRows::default()),
            histograms: histograms_batch(&[]),
            histogram_rows: Vec::new(),
            histogram_rows_bytes: 0,
            aggregates: OnceLock::from(aggregates),
        };
        self.closed_bytes += window.bytes();
        self.closed.push_back(Arc::new(window));
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
        let mut newly_closed = Vec::with_capacity(count);
        for window in self.open.drain(..count) {
            self.open_bytes -= window.bytes;
            let closed = Arc::new(ClosedWindow::from_open(window, window_ns));
            self.closed_bytes += closed.bytes();
            newly_closed.push(closed);
        }
        self.closed.extend(newly_closed.iter().cloned());
        newly_closed
    }

    /// Drops closed windows that ended before `now − retention`, then sheds the oldest while
    /// the store holds more than three quarters of `max_live_bytes` (module doc). Returns how
    /// many were shed.
    pub fn expire(&mut self, now_ns: i64) -> usize {
        let oldest_kept_end = now_ns.saturating_sub(self.retention_ns);
        while self.closed.front().is_some_and(|w| w.end <= oldest_kept_end) {
            self.drop_oldest_closed();
        }
        self.measure_closed();
        let mut shed = 0;
        while self.bytes() > self.shed_above && self.drop_oldest_closed() {
            shed += 1;
        }
        shed
    }

    fn drop_oldest_closed(&mut self) -> bool {
        let Some(window) = self.closed.pop_front() else { return false };
        self.live_samples -= window.samples.num_rows() + window.histograms.num_rows();
        self.closed_bytes = self.closed_bytes.saturating_sub(window.bytes());
        true
    }

    /// Measures the closed windows again: their aggregates arrive after they close (closing
    /// and restoring add a window's bytes as they are then).
    fn measure_closed(&mut self) {
        self.closed_bytes = self.closed.iter().map(|window| window.bytes()).sum();
    }

    /// Estimated heap bytes of the store (module doc).
    pub fn bytes(&self) -> usize {
        self.open_bytes
            + self.closed_bytes
            + 8 * (self.newest_ts.capacity() + self.seen.capacity())
            + self.cumulative.bytes()
    }

    /// The active series of `table` not seen since `before`. A series never seen yet (its
    /// points were all refused before reaching the store) counts as seen now, so that it too
    /// is found idle a TTL later.
    pub fn idle_series(&mut self, table: &SeriesTable, before: i64, now_ns: i64) -> Vec<u32> {
        if self.seen.len() < table.id_bound() {
            self.seen.resize(table.id_bound(), i64::MIN);
        }
        let mut idle = Vec::new();
        for (id, seen) in self.seen.iter_mut().enumerate() {
            if !table.is_active(id as u32) {
                continue;
            }
            if *seen == i64::MIN {
                *seen = now_ns;
            } else if *seen < before {
                idle.push(id as u32);
            }
        }
        idle
    }

    /// Forgets the per-series state of `ids`, freed to name new series.
    pub fn forget_series(&mut self, ids: &[u32]) {
        for &id in ids {
            let index = id as usize;
            if let Some(newest) = self.newest_ts.get_mut(index) {
                *newest = i64::MIN;
            }
            if let Some(seen) = self.seen.get_mut(index) {
                *seen = i64::MIN;
            }
            self.cumulative.forget(id);
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
    /// Bytes of its Arrow buffers and histogram rows, and of its aggregates once computed.
    pub fn bytes(&self) -> usize {
        self.samples.get_array_memory_size()
            + self.histograms.get_array_memory_size()
            + self.histogram_rows_bytes
            + self.aggregates.get().map_or(0, RecordBatch::get_array_memory_size)
    }

    fn from_open(window: OpenWindow, window_ns: i64) -> Self {
        Self {
            start: window.start,
            end: window.start.saturating_add(window_ns),
            samples: samples_batch(window.numbers),
            histograms: histograms_batch(&window.histograms),
            histogram_rows_bytes: window.histograms.iter().map(HistogramRow::bytes).sum(),
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
    // Builders sized exactly: their default capacities would hold tens of kilobytes per
    // window, even an empty one.
    let buckets: usize = rows.iter().map(|row| row.counts.len()).sum();
    let quantiles: usize = rows.iter().map(|row| row.quantiles.len()).sum();
    let float_list = |values: usize| {
        ListBuilder::with_capacity(Float64Builder::with_capacity(values), rows.len())
            .with_field(Arc::new(Field::new_list_field(DataType::Float64, false)))
    };
    let (mut bounds, mut levels, mut quantile_values) =
        (float_list(buckets), float_list(quantiles), float_list(quantiles));
    let mut counts = ListBuilder::with_capacity(UInt64Builder::with_capacity(buckets), rows.len())
        .with_field(Arc::new(Field::new_list_field(DataType::UInt64, false)));
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

    #[test]
    fn bytes_follow_rows_in_and_windows_out() {
        let mut store = store(1000 * S);
        let empty = store.bytes();
        store.apply(numbers(&[(0, 1001 * S, 1.0), (1, 1002 * S, 2.0)]), 1002 * S);
        let per_series = 8 * (store.newest_ts.capacity() + store.seen.capacity());
        assert_eq!(store.bytes(), 2 * NUMBER_ROW_BYTES + per_series);
        let closed = store.close_due(1040 * S);
        assert_eq!(store.bytes(), closed[0].bytes() + per_series, "Arrow's measure once closed");
        assert!(closed[0].bytes() >= 2 * NUMBER_ROW_BYTES);
        store.expire(1070 * S);
        assert_eq!(store.bytes(), per_series);
        assert_eq!(empty, 0);
    }

    #[test]
    fn a_histogram_row_counts_its_buckets() {
        let mut store = store(1000 * S);
        let mut batch = IngestBatch::default();
        let row =
            HistogramRow { series: 0, ts: 1001 * S, bounds: vec![1.0; 99], counts: vec![1; 100], ..Default::default() };
        let row_bytes = std::mem::size_of::<HistogramRow>() + 8 * 199;
        assert_eq!(row.bytes(), row_bytes);
        batch.histograms.push(row);
        batch.histogram_cumulative.push(false);
        store.apply(batch, 1002 * S);
        assert_eq!(store.bytes(), row_bytes + 8 * (store.newest_ts.capacity() + store.seen.capacity()));
    }

    #[test]
    fn near_the_budget_the_oldest_closed_windows_are_shed_before_their_retention() {
        let config = EngineConfig {
            window_seconds: 10,
            lateness_seconds: 0,
            retention_seconds: 3600,
            max_live_bytes: 12_000,
            ..Default::default()
        };
        let mut store = WindowStore::new(&config, 1000 * S);
        for window in 0..4 {
            let ts = (1000 + 10 * window) * S;
            let points: Vec<(u32, i64, f64)> = (0..50).map(|i| (i, ts + i64::from(i), 1.0)).collect();
            store.apply(numbers(&points), ts + 100);
            store.close_due(ts + 10 * S);
        }
        let before = (store.live_samples(), store.bytes());
        let window_bytes = store.closed[0].bytes();
        // The fewest oldest windows whose going brings the store to 9,000 bytes or less.
        let expected = (0..=4).find(|k| before.1 - k * window_bytes <= 9_000).expect("some");
        assert!((1..4).contains(&expected), "the test's windows weigh {window_bytes} bytes");
        let shed = store.expire(1040 * S);
        assert_eq!(shed, expected);
        assert_eq!(store.bytes(), before.1 - shed * window_bytes);
        assert_eq!(store.live_samples(), before.0 - 50 * shed);
        assert!(store.closed.front().is_some_and(|w| w.start == (1000 + 10 * shed as i64) * S), "oldest first");
    }

    #[test]
    fn idle_series_are_found_after_the_ttl_and_their_state_forgotten() {
        let interner = crate::series::SeriesInterner::new(10);
        for hash in 0..3 {
            interner.register(hash, Default::default()).unwrap();
        }
        let mut store = store(1000 * S);
        store.apply(numbers(&[(0, 1001 * S, 1.0)]), 1001 * S);
        store.apply(numbers(&[(1, 1001 * S, 1.0)]), 1050 * S);
        // Series 2 never reached the store: it counts as seen at the first look.
        assert_eq!(store.idle_series(&interner.read(), 1010 * S, 1060 * S), vec![0]);
        assert_eq!(store.idle_series(&interner.read(), 1061 * S, 1100 * S), vec![0, 1, 2]);
        store.forget_series(&[0]);
        let report = store.apply(numbers(&[(0, 1001 * S, 1.0)]), 1101 * S);
        assert_eq!(report.accepted, 1, "a freed id has no newest timestamp");
    }
}
