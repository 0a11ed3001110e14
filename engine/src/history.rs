//! The Parquet history, written by a background thread: every closed window's aggregates,
//! and for live forecasts every completed step's node values and the forecasts issued from
//! them.
//!
//! Layout: `<data_dir>/history/<table>/date=YYYY-MM-DD/<start_ns>.parquet`, one file per
//! closed window or completed step, zstd-compressed, written to a temporary name, flushed to
//! disk (`fsync`), renamed, and the directory flushed too, so that readers never see a
//! partial file and a written file survives a crash of the machine. A file is never
//! overwritten: a window closed again after a restart (the process flushed it at shutdown,
//! then points of it arrived again) is written beside the first as
//! `<start_ns>.part<N>.parquet`, so both parts' points stay in the history once each (SQL
//! reads every `.parquet` file; the forecasters' warm start reads only the first part, as
//! a step is completed once). A temporary file left by a crash mid-write is set aside at
//! start ([`set_aside_leftovers`]) into `<data_dir>/history/.leftovers/`, never read. The tables ([`HistoryTable`]) and the SQL
//! tables that read them (with the `date` partition column):
//!
//! | directory | one file per | SQL table |
//! |---|---|---|
//! | `windows` | closed window (its start) | `history` |
//! | `node_steps` | completed forecast step of one phase (its start; `forecasts` module doc): the value each node and resource was fed | `node_steps_history` |
//! | `forecasts` | completed forecast step of one phase (its end, the forecasts' `issued_at`) | `forecasts_history` |

use crate::error::EngineError;
use crate::telemetry::EngineMetrics;
use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Windows waiting to be written before the closer blocks (backpressure, bounded memory).
const QUEUE_DEPTH: usize = 64;

/// The tables of the history, each a directory below `<data_dir>/history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryTable {
    /// Closed windows' aggregates (`schema::HISTORY`).
    Windows,
    /// Completed steps' node values (`schema::NODE_STEPS`).
    NodeSteps,
    /// Forecasts issued at each completed step (`schema::FORECASTS`).
    Forecasts,
}

impl HistoryTable {
    /// Every table.
    pub const ALL: [HistoryTable; 3] = [HistoryTable::Windows, HistoryTable::NodeSteps, HistoryTable::Forecasts];

    /// Its directory name below `history`.
    pub fn name(self) -> &'static str {
        match self {
            HistoryTable::Windows => "windows",
            HistoryTable::NodeSteps => "node_steps",
            HistoryTable::Forecasts => "forecasts",
        }
    }

    /// Its directory below a data directory.
    pub fn dir(self, data_dir: &Path) -> PathBuf {
        data_dir.join("history").join(self.name())
    }
}

/// Directory of the window history below a data directory.
pub fn windows_dir(data_dir: &Path) -> PathBuf {
    HistoryTable::Windows.dir(data_dir)
}

/// Every record batch of the Parquet file `file`.
pub(crate) fn read_batches(file: &Path) -> Result<Vec<RecordBatch>, EngineError> {
    let io = |error| EngineError::Io { context: format!("reading {}", file.display()), error };
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).map_err(io)?)?
            .build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

/// One file to write: its table, the time naming it, its rows.
type Job = (HistoryTable, i64, RecordBatch);

/// Hands rows to the writer thread.
#[derive(Debug)]
pub struct HistoryWriter {
    sender: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl HistoryWriter {
    /// Starts the writer thread for `data_dir`, creating the tables' directories; it keeps
    /// `retention_days` days of history (0: all; [`prune`]).
    pub fn start(data_dir: &Path, retention_days: u32, metrics: EngineMetrics) -> Result<Self, EngineError> {
        for table in HistoryTable::ALL {
            let dir = table.dir(data_dir);
            std::fs::create_dir_all(&dir)
                .map_err(|error| EngineError::Io { context: format!("creating {}", dir.display()), error })?;
        }
        let aside = set_aside_leftovers(data_dir)?;
        if aside > 0 {
            tracing::warn!(files = aside, "temporary history files left by an interrupted write set aside");
        }
        let (sender, receiver) = sync_channel(QUEUE_DEPTH);
        let data_dir = data_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("ironspider-history".into())
            .spawn(move || write_loop(&data_dir, retention_days, &receiver, &metrics))
            .map_err(|error| EngineError::Io { context: "starting the history writer".into(), error })?;
        Ok(Self { sender: Some(sender), thread: Some(thread) })
    }

    /// Queues one closed window (`start` in ns since the epoch); blocks while the queue is full.
    pub fn write(&self, start: i64, rows: RecordBatch) {
        self.write_to(HistoryTable::Windows, start, rows);
    }

    /// Queues one file of `table` named by `time` (ns since the epoch); blocks while the
    /// queue is full.
    pub fn write_to(&self, table: HistoryTable, time: i64, rows: RecordBatch) {
        if let Some(sender) = &self.sender
            && sender.send((table, time, rows)).is_err()
        {
            tracing::error!(table = table.name(), "history writer has stopped; file {time} not written");
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn finish(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("history writer panicked");
        }
    }
}

impl Drop for HistoryWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn write_loop(data_dir: &Path, retention_days: u32, receiver: &Receiver<Job>, metrics: &EngineMetrics) {
    let mut pruned_on: Option<String> = None;
    while let Ok((table, start, rows)) = receiver.recv() {
        // Time here is the files' own (event time), so a replay prunes by its virtual days.
        let today = day(start);
        if retention_days > 0 && pruned_on.as_ref() != Some(&today) {
            let removed = prune(data_dir, start, retention_days);
            if removed > 0 {
                tracing::info!(partitions = removed, retention_days, "history older than its retention deleted");
            }
            pruned_on = Some(today);
        }
        match write_window(&table.dir(data_dir), start, &rows) {
            Ok(path) => {
                metrics.history_files_written.inc();
                tracing::debug!(path = %path.display(), rows = rows.num_rows(), "history file written");
            }
            Err(error) => {
                metrics.history_write_errors.inc();
                tracing::error!(%error, table = table.name(), start, "history file not written");
            }
        }
    }
}

/// The `YYYY-MM-DD` (UTC) of a time in ns, as the date partitions name it.
pub(crate) fn day(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%d").to_string()
}

/// The date partitions of `table` below `data_dir`: each `date=YYYY-MM-DD` directory's date
/// and path, in no particular order (none when the table has no directory yet).
pub(crate) fn partitions(data_dir: &Path, table: HistoryTable) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(table.dir(data_dir)) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let date = entry.file_name().to_str()?.strip_prefix("date=")?.to_string();
            Some((date, entry.path()))
        })
        .collect()
}

/// The first parts of a partition's files (`<start>.parquet`; a later `.partN` and a
/// temporary file are not), with their starts, in no particular order.
pub(crate) fn first_parts(partition: &Path) -> Vec<(i64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(partition) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let start: i64 = path.file_name()?.to_str()?.strip_suffix(".parquet")?.parse().ok()?;
            Some((start, path))
        })
        .collect()
}

/// Deletes the date partitions of every history table older than `retention_days` days
/// before `now` (ns): a partition is kept while its date is `now`'s date minus
/// `retention_days` or later. Returns how many were deleted; one that cannot be is logged.
pub fn prune(data_dir: &Path, now: i64, retention_days: u32) -> usize {
    let oldest_kept = day(now.saturating_sub(i64::from(retention_days) * 86_400_000_000_000));
    let mut removed = 0;
    for table in HistoryTable::ALL {
        for (_, partition) in partitions(data_dir, table).into_iter().filter(|(date, _)| *date < oldest_kept) {
            match std::fs::remove_dir_all(&partition) {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::error!(partition = %partition.display(), %error, "history partition not deleted")
                }
            }
        }
    }
    removed
}

/// Writes one window's (or step's) rows below a table's directory; returns the file's path.
pub fn write_window(dir: &Path, start: i64, rows: &RecordBatch) -> Result<PathBuf, EngineError> {
    let partition = dir.join(format!("date={}", day(start)));
    std::fs::create_dir_all(&partition)
        .map_err(|error| EngineError::Io { context: format!("creating {}", partition.display()), error })?;
    let path = unused_name(&partition, start);
    let temporary = partition.join(format!(".{start}.parquet.tmp"));
    let io = |error| EngineError::Io { context: format!("writing {}", temporary.display()), error };
    let file = std::fs::File::create(&temporary).map_err(io)?;
    let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer = ArrowWriter::try_new(file, rows.schema(), Some(properties))?;
    writer.write(rows)?;
    writer.into_inner()?.sync_all().map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    std::fs::File::open(&partition).and_then(|directory| directory.sync_all()).map_err(io)?;
    Ok(path)
}

/// Moves every temporary file (`.<start>.parquet.tmp`, a write a crash interrupted) below
/// the tables' partitions to `<data_dir>/history/.leftovers/<table>-<date>-<name>`; returns
/// how many were moved.
pub fn set_aside_leftovers(data_dir: &Path) -> Result<usize, EngineError> {
    let aside = data_dir.join("history").join(".leftovers");
    let io = |context: String| move |error| EngineError::Io { context, error };
    let mut moved = 0;
    for table in HistoryTable::ALL {
        let Ok(partitions) = std::fs::read_dir(table.dir(data_dir)) else { continue };
        for partition in partitions.flatten().filter(|p| p.path().is_dir()) {
            let Ok(entries) = std::fs::read_dir(partition.path()) else { continue };
            for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".parquet.tmp")) {
                std::fs::create_dir_all(&aside).map_err(io(format!("creating {}", aside.display())))?;
                let name = format!(
                    "{}-{}-{}",
                    table.name(),
                    partition.file_name().to_string_lossy(),
                    entry.file_name().to_string_lossy().trim_start_matches('.')
                );
                let target = aside.join(name);
                std::fs::rename(entry.path(), &target)
                    .map_err(io(format!("setting aside {}", entry.path().display())))?;
                moved += 1;
            }
        }
    }
    Ok(moved)
}

/// `<start>.parquet` in `partition`, or the first `<start>.part<N>.parquet` not taken.
fn unused_name(partition: &Path, start: i64) -> PathBuf {
    let first = partition.join(format!("{start}.parquet"));
    if !first.exists() {
        return first;
    }
    (1u32..).map(|n| partition.join(format!("{start}.part{n}.parquet"))).find(|p| !p.exists()).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn rows(values: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn prune_deletes_the_partitions_past_the_retention_of_every_table() {
        let dir = tempfile::tempdir().unwrap();
        for table in [HistoryTable::Windows, HistoryTable::Forecasts] {
            for date in ["2026-01-01", "2026-01-02", "2026-01-31"] {
                std::fs::create_dir_all(table.dir(dir.path()).join(format!("date={date}"))).unwrap();
            }
        }
        // 2026-02-01 12:00 UTC less 30 days is 2026-01-02: the 1st goes, the 2nd stays.
        let now = chrono::DateTime::parse_from_rfc3339("2026-02-01T12:00:00Z").unwrap().timestamp_nanos_opt().unwrap();
        assert_eq!(prune(dir.path(), now, 30), 2, "one partition of each of two tables");
        let left: Vec<String> = std::fs::read_dir(HistoryTable::Windows.dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(left, ["date=2026-01-02", "date=2026-01-31"]);
        assert_eq!(prune(dir.path(), now, 30), 0);
    }

    fn read(path: &Path) -> Vec<i64> {
        let file = std::fs::File::open(path).unwrap();
        let reader =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
        reader
            .flat_map(|batch| {
                let batch = batch.unwrap();
                batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
            })
            .collect()
    }

    #[test]
    fn a_window_written_again_goes_beside_the_first_never_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_700_000_000_000_000_000;
        let first = write_window(dir.path(), start, &rows(&[1, 2])).unwrap();
        let second = write_window(dir.path(), start, &rows(&[3])).unwrap();
        let third = write_window(dir.path(), start, &rows(&[4])).unwrap();
        let names: Vec<&str> =
            [&first, &second, &third].iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(
            names,
            ["1700000000000000000.parquet", "1700000000000000000.part1.parquet", "1700000000000000000.part2.parquet"]
        );
        assert_eq!((read(&first), read(&second), read(&third)), (vec![1, 2], vec![3], vec![4]));
        let partition = first.parent().unwrap();
        let leftovers = std::fs::read_dir(partition)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
        assert_eq!(leftovers.count(), 0, "no temporary file is left");
    }

    #[test]
    fn temporary_files_of_an_interrupted_write_are_set_aside_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_700_000_000_000_000_000;
        let written = write_window(&HistoryTable::Windows.dir(dir.path()), start, &rows(&[1])).unwrap();
        let partition = written.parent().unwrap();
        std::fs::write(partition.join(format!(".{}.parquet.tmp", start + 1)), b"half a file").unwrap();
        assert_eq!(set_aside_leftovers(dir.path()).unwrap(), 1);
        let kept: Vec<String> =
            std::fs::read_dir(partition).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
        assert_eq!(kept, ["1700000000000000000.parquet"], "the whole file stays, the partial one is gone");
        let aside = dir.path().join("history/.leftovers/windows-date=2023-11-14-1700000000000000001.parquet.tmp");
        assert_eq!(std::fs::read(aside).unwrap(), b"half a file");
        assert_eq!(set_aside_leftovers(dir.path()).unwrap(), 0, "nothing left the second time");
    }
}
