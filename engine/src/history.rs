//! The Parquet history: every closed window's aggregates, written by a background thread.
//!
//! Layout: `<data_dir>/history/windows/date=YYYY-MM-DD/<window_start_ns>.parquet`, one file per
//! closed window, zstd-compressed, written to a temporary name and renamed so that readers
//! never see a partial file. SQL reads the directory as the `history` table (with the `date`
//! partition column).

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

/// Directory of the window history below a data directory.
pub fn windows_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("history").join("windows")
}

/// Hands closed windows to the writer thread.
#[derive(Debug)]
pub struct HistoryWriter {
    sender: Option<SyncSender<(i64, RecordBatch)>>,
    thread: Option<JoinHandle<()>>,
}

impl HistoryWriter {
    /// Starts the writer thread for `data_dir`, creating the directory.
    pub fn start(data_dir: &Path, metrics: EngineMetrics) -> Result<Self, EngineError> {
        let dir = windows_dir(data_dir);
        std::fs::create_dir_all(&dir)
            .map_err(|error| EngineError::Io { context: format!("creating {}", dir.display()), error })?;
        let (sender, receiver) = sync_channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("ironspider-history".into())
            .spawn(move || write_loop(&dir, &receiver, &metrics))
            .map_err(|error| EngineError::Io { context: "starting the history writer".into(), error })?;
        Ok(Self { sender: Some(sender), thread: Some(thread) })
    }

    /// Queues one closed window (`start` in ns since the epoch); blocks while the queue is full.
    pub fn write(&self, start: i64, rows: RecordBatch) {
        if let Some(sender) = &self.sender
            && sender.send((start, rows)).is_err()
        {
            tracing::error!("history writer has stopped; window {start} not written");
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

fn write_loop(dir: &Path, receiver: &Receiver<(i64, RecordBatch)>, metrics: &EngineMetrics) {
    while let Ok((start, rows)) = receiver.recv() {
        match write_window(dir, start, &rows) {
            Ok(path) => {
                metrics.history_files_written.inc();
                tracing::debug!(path = %path.display(), rows = rows.num_rows(), "history window written");
            }
            Err(error) => {
                metrics.history_write_errors.inc();
                tracing::error!(%error, window_start = start, "history window not written");
            }
        }
    }
}

/// Writes one window's rows; returns the file's path.
pub fn write_window(dir: &Path, start: i64, rows: &RecordBatch) -> Result<PathBuf, EngineError> {
    let day = chrono::DateTime::from_timestamp_nanos(start).format("%Y-%m-%d");
    let partition = dir.join(format!("date={day}"));
    std::fs::create_dir_all(&partition)
        .map_err(|error| EngineError::Io { context: format!("creating {}", partition.display()), error })?;
    let path = partition.join(format!("{start}.parquet"));
    let temporary = partition.join(format!(".{start}.parquet.tmp"));
    let io = |error| EngineError::Io { context: format!("writing {}", temporary.display()), error };
    let file = std::fs::File::create(&temporary).map_err(io)?;
    let properties = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut writer = ArrowWriter::try_new(file, rows.schema(), Some(properties))?;
    writer.write(rows)?;
    writer.close()?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    Ok(path)
}
