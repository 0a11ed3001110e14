//! The score book rebuilt from the history at start: a restarted server serves the scores it
//! served before (and their variability and staleness history) at once, rather than nothing
//! until a new window closes.
//!
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
use crate::frame::node_frames;
use crate::history::{HistoryTable, first_parts, partitions, read_batches};
use crate::pods::pod_costs;
use crate::series::{SeriesInfo, SeriesInterner, SeriesKind};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type, TimestampNanosecondType, UInt64Type};
use ironspider_scores::{ScoreBook, ScoreConfig};
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
    for (start, path) in newest_windows(data_dir, config.pressure.variability_windows.max(1), oldest) {
        let window = read_batches(&path).ok().and_then(|batches| Window::of(&batches));
        let Some(window) = window else {
            tracing::warn!(file = %path.display(), start, "window history: file skipped while restoring scores");
            restored.skipped += 1;
            continue;
        };
        let table = window.series.read();
        book.record(window.end, node_frames(&window.aggregates, &table));
        book.record_pods(pod_costs(&window.aggregates, &table, &config.cost));
        restored.windows += 1;
        restored.newest_end = Some(window.end);
    }
    if let Some(end) = restored.newest_end {
        book.publish(end);
    }
    restored
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
