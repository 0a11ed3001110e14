//! Typed errors of the engine. Each message names its cause, which is therefore not also a
//! `source()`: a chain of causes (as `main` prints it) shows every cause once.

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
    Arrow(arrow::error::ArrowError),
    /// A SQL query failed to plan or run.
    #[error("{0}")]
    Sql(datafusion::error::DataFusionError),
    /// A SQL text longer than `engine.sql.max_query_bytes`.
    #[error("the query is {bytes} bytes; at most {limit} are accepted (engine.sql.max_query_bytes)")]
    QueryTooLong {
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A query whose expressions nest deeper than `sql::MAX_EXPRESSION_DEPTH`.
    #[error("the query nests expressions deeper than {limit} (engine.sql): simplify it")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A nested-loop or cross join past `engine.sql.max_join_pairs`, or over an input of
    /// unknown size.
    #[error("{}", too_expensive(*pairs, *limit))]
    TooExpensive {
        /// Its inputs' rows multiplied (none: an input's size is unknown).
        pairs: Option<u128>,
        /// The limit.
        limit: u64,
    },
    /// A result past `engine.sql.max_result_rows` or `max_result_bytes`.
    #[error(
        "the result has more than {rows} rows or {bytes} bytes (engine.sql.max_result_rows, max_result_bytes): \
         add a LIMIT or aggregate"
    )]
    ResultTooLarge {
        /// The row limit.
        rows: usize,
        /// The byte limit.
        bytes: usize,
    },
    /// Writing the Parquet history failed.
    #[error("parquet history: {0}")]
    Parquet(parquet::errors::ParquetError),
    /// The engine's metrics could not be registered (a name already taken in the registry).
    #[error("registering metrics: {0}")]
    Metrics(prometheus::Error),
    /// A setting the engine cannot run with.
    #[error("{0}")]
    Config(crate::config::EngineConfigError),
    /// A filesystem operation failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

fn too_expensive(pairs: Option<u128>, limit: u64) -> String {
    match pairs {
        Some(pairs) => {
            format!(
                "a join without keys would compare {pairs} row pairs, more than {limit} (engine.sql.max_join_pairs)"
            )
        }
        None => format!(
            "a join without keys over an input of unknown size is refused (engine.sql.max_join_pairs = {limit})"
        ),
    }
}

/// `From` for the `?` operator, without making the wrapped error a `source()`.
macro_rules! wraps {
    ($($variant:ident($inner:ty)),* $(,)?) => {$(
        impl From<$inner> for EngineError {
            fn from(error: $inner) -> Self {
                Self::$variant(error)
            }
        }
    )*};
}

wraps!(
    Arrow(arrow::error::ArrowError),
    Sql(datafusion::error::DataFusionError),
    Parquet(parquet::errors::ParquetError),
    Metrics(prometheus::Error),
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_cause_is_named_once_in_the_message_and_not_again_as_a_source() {
        let error = EngineError::from(arrow::error::ArrowError::ComputeError("overflow".into()));
        assert_eq!(error.to_string(), "arrow: Compute error: overflow");
        assert!(error.source().is_none());
        let io = EngineError::Io { context: "creating data".into(), error: std::io::ErrorKind::NotFound.into() };
        assert_eq!(io.to_string(), "creating data: entity not found");
        assert!(io.source().is_none());
    }
}
