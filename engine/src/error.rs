//! Typed errors of the engine.

use thiserror::Error;

/// Everything the engine can refuse or fail at.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The series table is full; the series was not interned.
    #[error("series limit of {limit} reached; new series are rejected until old ones expire")]
    SeriesLimit {
        /// The configured `max_series`.
        limit: usize,
    },
    /// An Arrow kernel or batch construction failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A SQL query failed to plan or run.
    #[error("{0}")]
    Sql(#[from] datafusion::error::DataFusionError),
    /// Writing the Parquet history failed.
    #[error("parquet history: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The engine's metrics could not be registered (a name already taken in the registry).
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}
