//! The score book and the live windows rebuilt from the history at start: a restarted
//! server serves the scores it served before (and their variability and staleness history)
//! at once, rather than nothing until a new window closes, and its live `windows` table
//! holds the aggregates of the live retention again.
//!
//! ## Live windows
//! The first-part window files that began within `engine.retention_seconds` are read oldest
//! first and become closed windows of the store with their aggregates and no raw points
//! (the history keeps no raw points: `samples` starts empty). Each row's series is interned
//! in the engine's table under an identity hashed from its descriptive columns
//! ([`restored_identity`]), so every window of a series names the same id, and once all are
//! read the restored series are retired at once (`series` module doc): their columns stay
//! while their windows are live, they do not count against `engine.max_series`, and their
//! ids are freed after the hold. Ingest hashes what exporters send instead, so a series that
//! reports again after the restart gets an active id of its own. The late bound is the clock's: points for a window that was flushed at
//! shutdown before its end are still taken, and written as a later part when it closes again.
//!
//! ## Scores
//! The newest `engine.scores.pressure.variability_windows` window files of
//! `<data_dir>/history/windows` (first parts only: a later part holds a re-closed window's
//! late points, [`crate::history`]) are read oldest first; each row's descriptive columns
//! make a series of a scratch series table and its aggregate columns a
//! [`SeriesAggregate`], and the window's node frames and pod costs are recorded into the
//! book exactly as when the window closed ([`crate::frame::node_frames`]). What the history
//! does not keep stays unknown until new telemetry arrives: a node's instance type (so a
//! configured per-type price) and whether a series arrived cumulative. Files older than
//! `engine.scores.health.forget_after_seconds` are not read (their nodes would be forgotten
//! at once), nor are unreadable ones (logged, skipped).

use crate::aggregate::SeriesAggregate;
use crate::config::EngineConfig;
use crate::frame::node_frames;
use crate::history::{HistoryTable, first_parts, partitions, read_batches};
use crate::pods::pod_costs;
use crate::series::{SeriesInfo, SeriesInterner, SeriesKind};
use crate::store::WindowStore;
use crate::tables::windows_batch;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimestampNanosecondType, UInt64Type};
use ironspider_scores::{ScoreBook, ScoreConfig};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// What the book was rebuilt from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Windows recorded.
    pub windows: usize,
    /// Window files skipped: unreadable or not of the history's schema.
    pub skipped: usize,
    /// The end of the newest window recorded (the watermark the book was published at).
    pub newest_end: Option<i64>,
}

/// Records the newest windows of the history below `data_dir` into `book` and publishes
/// it (module doc).
pub fn restore_scores(book: &ScoreBook, config: &ScoreConfig, data_dir: &Path, now_ns: i64) -> Restored {
    let oldest = config.health.forgotten_before(now_ns).unwrap_or(i64::MIN);
    let mut restored = Restored::default();
    let count = config.pressure.variability_windows.max(1);
    read_windows(data_dir, count, oldest, "scores", &mut restored, |_, window| {
        let table = window.series.read();
        book.record(window.end, node_frames(&window.aggregates, &table));
        book.record_pods(pod_costs(&window.aggregates, &table, &config.cost));
    });
    if let Some(end) = restored.newest_end {
        book.publish(end);
    }
    restored
}

/// Restores the closed windows of the live retention from the history below
/// `config.data_dir` into `store`, interning their series in `series` and retiring them
/// (module doc). Call it at start, on an empty table: every series in it is retired. Rows
/// past `max_series` distinct series are left out.
pub fn restore_live_windows(
    store: &mut WindowStore,
    series: &SeriesInterner,
    config: &EngineConfig,
    now_ns: i64,
) -> Restored {
    let oldest = now_ns.saturating_sub(config.retention_ns());
    let count = usize::try_from(config.retention_ns() / config.window_ns()).unwrap_or(usize::MAX).saturating_add(1);
    let mut restored = Restored::default();
    read_windows(&config.data_dir, count, oldest, "live windows", &mut restored, |start, window| {
        let scratch = window.series.read();
        let aggregates: Vec<SeriesAggregate> = window
            .aggregates
            .iter()
            .filter_map(|aggregate| {
                let info = scratch.info(aggregate.series)?;
                let id = series.register(restored_identity(info), SeriesInfo::clone(info)).ok()?;
                Some(SeriesAggregate { series: id, ..aggregate.clone() })
            })
            .collect();
        store.restore_closed(start, window.end, windows_batch(start, window.end, &aggregates));
    });
    let mut table = series.write();
    let ids: Vec<u32> = table.iter().map(|(id, _)| id).collect();
    table.retire(ids);
    restored
}

/// The identity a restored series is interned under: a hash of its descriptive columns,
/// in a domain of its own (a tag hashed first).
pub fn restored_identity(info: &SeriesInfo) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    "ironspider.restored".hash(&mut hasher);
    (&info.node, &info.metric, &info.device, &info.pod, &info.namespace).hash(&mut hasher);
    (&info.cluster, &info.unit, info.kind.map(SeriesKind::as_str), &info.attributes).hash(&mut hasher);
    hasher.finish()
}

/// Reads the windows of [`newest_windows`] back one at a time, oldest first, and hands each
/// to `use_window` with its start, counting it in `restored` (`windows`, `newest_end`); a
/// file that cannot be read is logged (restoring `what`) and counted in `restored.skipped`.
/// One window is in memory at a time.
fn read_windows(
    data_dir: &Path,
    count: usize,
    oldest: i64,
    what: &str,
    restored: &mut Restored,
    mut use_window: impl FnMut(i64, Window),
) {
    for (start, path) in newest_windows(data_dir, count, oldest) {
        match read_batches(&path).ok().and_then(|batches| Window::of(&batches)) {
            Some(window) => {
                restored.windows += 1;
                restored.newest_end = Some(window.end);
                use_window(start, window);
            }
            None => {
                tracing::warn!(file = %path.display(), start, what, "window history: file skipped while restoring");
                restored.skipped += 1;
            }
        }
    }
}

/// The first-part window files whose start is at or after `oldest`, the newest `count`,
/// oldest first, with their starts.
fn newest_windows(data_dir: &Path, count: usize, oldest: i64) -> Vec<(i64, PathBuf)> {
    let mut partitions = partitions(data_dir, HistoryTable::Windows);
    // Newest date first; stop once enough files are found.
    partitions.sort_unstable_by(|a, b| b.cmp(a));
    let mut files = Vec::new();
    for (_, partition) in partitions {
        files.extend(first_parts(&partition).into_iter().filter(|(start, _)| *start >= oldest));
        if files.len() >= count {
            break;
        }
    }
    files.sort_unstable();
    let skip = files.len().saturating_sub(count);
    files.split_off(skip)
}

/// One window file read back: its end, a scratch series table and the aggregates.
struct Window {
    end: i64,
    series: SeriesInterner,
    aggregates: Vec<SeriesAggregate>,
}

impl Window {
    /// The window of `batches` (`schema::HISTORY`); `None` when a column is missing or of
    /// another type, or the file holds no row.
    fn of(batches: &[RecordBatch]) -> Option<Window> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let series = SeriesInterner::new(rows.max(1));
        let mut aggregates = Vec::with_capacity(rows);
        let mut end = None;
        for batch in batches {
            let columns = Columns::of(batch)?;
            for i in 0..batch.num_rows() {
                end = Some(columns.end.value(i));
                // The row's position is its scratch identity: every row is its own series.
                let id = series.register(aggregates.len() as u64, columns.info(i)?).ok()?;
                aggregates.push(columns.aggregate(i, id));
            }
        }
        Some(Window { end: end?, series, aggregates })
    }
}

/// The columns of a window file, typed; dictionary-encoded text read as plain text.
struct Columns {
    end: arrow::array::PrimitiveArray<TimestampNanosecondType>,
    text: [ArrayRef; 9],
    count: arrow::array::PrimitiveArray<UInt64Type>,
    floats: [arrow::array::PrimitiveArray<Float64Type>; 7],
}

/// The descriptive columns, in `SeriesInfo` order below.
const TEXT: [&str; 9] = ["node", "metric", "device", "pod", "namespace", "cluster", "unit", "kind", "attributes"];
/// The aggregate columns after `count`, in `SeriesAggregate` order.
const FLOATS: [&str; 7] = ["min", "max", "mean", "last", "p95", "sum", "rate"];

impl Columns {
    fn of(batch: &RecordBatch) -> Option<Columns> {
        let column = |name: &str| batch.column_by_name(name).cloned();
        let text = TEXT
            .iter()
            .map(|name| arrow::compute::cast(&column(name)?, &DataType::Utf8).ok())
            .collect::<Option<Vec<ArrayRef>>>()?;
        let floats = FLOATS
            .iter()
            .map(|name| column(name)?.as_primitive_opt::<Float64Type>().cloned())
            .collect::<Option<Vec<_>>>()?;
        Some(Columns {
            end: column("window_end")?.as_primitive_opt::<TimestampNanosecondType>()?.clone(),
            text: text.try_into().ok()?,
            count: column("count")?.as_primitive_opt::<UInt64Type>()?.clone(),
            floats: floats.try_into().ok()?,
        })
    }

    fn text(&self, column: usize, row: usize) -> Option<String> {
        let strings = self.text[column].as_string::<i32>();
        strings.is_valid(row).then(|| strings.value(row).to_string())
    }

    fn info(&self, row: usize) -> Option<SeriesInfo> {
        Some(SeriesInfo {
            node: self.text(0, row),
            metric: self.text(1, row)?,
            device: self.text(2, row),
            pod: self.text(3, row),
            namespace: self.text(4, row),
            cluster: self.text(5, row),
            instance_type: None,
            unit: self.text(6, row).unwrap_or_default(),
            kind: SeriesKind::from_name(&self.text(7, row)?),
            cumulative: false,
            attributes: self.text(8, row).unwrap_or_default(),
        })
    }

    fn aggregate(&self, row: usize, series: u32) -> SeriesAggregate {
        let value = |c: usize| self.floats[c].is_valid(row).then(|| self.floats[c].value(row));
        SeriesAggregate {
            series,
            count: self.count.value(row),
            min: value(0),
            max: value(1),
            mean: value(2),
            last: value(3),
            p95: value(4),
            sum: value(5),
            rate: value(6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{windows_dir, write_window};
    use crate::tables::history_batch;
    use arrow::array::{Float64Array, UInt32Array};

    const S: i64 = 1_000_000_000;

    fn aggregate(series: u32, last: f64) -> SeriesAggregate {
        SeriesAggregate {
            series,
            count: 1,
            min: Some(last),
            max: Some(last),
            mean: Some(last),
            last: Some(last),
            p95: Some(last),
            sum: Some(last),
            rate: None,
        }
    }

    #[test]
    fn the_live_retention_comes_back_as_closed_windows_with_one_id_per_series() {
        let data = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            data_dir: data.path().to_path_buf(),
            window_seconds: 10,
            retention_seconds: 60,
            ..EngineConfig::default()
        };
        // What the server wrote: node-a's cpu in three windows, node-b's in the last; the
        // first window ended before the retention.
        let written = SeriesInterner::new(10);
        let cpu = |node: &str| SeriesInfo {
            node: Some(node.into()),
            metric: "system.cpu.utilization".into(),
            kind: Some(SeriesKind::Gauge),
            ..SeriesInfo::default()
        };
        let (a, b) = (written.register(1, cpu("node-a")).unwrap(), written.register(2, cpu("node-b")).unwrap());
        let now = 10_000 * S;
        let windows = [
            (9_920, vec![aggregate(a, 0.1)]),
            (9_950, vec![aggregate(a, 0.2)]),
            (9_960, vec![aggregate(a, 0.3), aggregate(b, 0.9)]),
        ];
        for (start, aggregates) in &windows {
            let (start, end) = (start * S, (start + 10) * S);
            write_window(&windows_dir(data.path()), start, &history_batch(start, end, aggregates, &written.read()))
                .unwrap();
        }

        let (series, mut store) = (SeriesInterner::new(10), WindowStore::new(&config, now));
        let restored = restore_live_windows(&mut store, &series, &config, now);
        assert_eq!((restored.windows, restored.skipped, restored.newest_end), (2, 0, Some(9_970 * S)));
        let snapshot = store.snapshot();
        assert_eq!(snapshot.windows.len(), 2, "9,920 s began before now − 60 s");
        let table = series.read();
        assert_eq!(table.len(), 2, "node-a's windows name one id");
        assert_eq!((table.active(), table.retired()), (0, 2), "retired: not live, not counted in max_series");
        let rows: Vec<(String, f64)> = snapshot
            .windows
            .iter()
            .flat_map(|batch| {
                let ids = batch.column_by_name("series_id").unwrap().as_any().downcast_ref::<UInt32Array>().unwrap();
                let last = batch.column_by_name("last").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
                (0..batch.num_rows())
                    .map(|i| (table.info(ids.value(i)).unwrap().node.clone().unwrap(), last.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(rows, vec![("node-a".into(), 0.2), ("node-a".into(), 0.3), ("node-b".into(), 0.9)]);
        assert_eq!(snapshot.samples.iter().map(RecordBatch::num_rows).sum::<usize>(), 0, "no raw points");
        assert_eq!(store.closed_before(), WindowStore::new(&config, now).closed_before(), "the clock's late bound");
    }
}
