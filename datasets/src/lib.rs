//! # ironspider-datasets
//!
//! Loaders for the real public datasets that `ironspider replay` runs through the engine.
//! Each loader reads a dataset where it lies (`../shared/datasets/…`, never copied; tests
//! and benchmarks find it through [`shared::dataset`]),
//! regularises it (one row per node and step, in time order), counts every row it could not
//! use by reason ([`LoadReport`]), and yields a [`Trace`]: rows of canonical readings per node
//! and timestamp. [`otlp::requests`] turns a trace into OTLP export requests in event-time
//! order, so replay feeds the very same ingest path as `serve`.
//!
//! Loaders: [`bitbrains`] (GWA-T-12 Rnd VM utilisation), [`genai`] (Alibaba GenAI 2026 pod
//! GPU series). [`nab`] reads the Numenta Anomaly Benchmark's label windows and published
//! results for the anomaly scorer. [`openb`] reads the Alibaba GPU trace 2023's node and pod
//! lists for `ironspider simulate` (plain rows, no trace). Bad or truncated rows are never
//! fatal; only an unreadable dataset, a file whose header lacks a column the loader needs, or
//! nothing usable is.

pub mod bitbrains;
pub mod genai;
pub mod genai_panel;
pub mod nab;
pub mod openb;
pub mod otlp;
pub mod panel;
pub mod report;
pub mod shared;
pub mod trace;

pub use report::LoadReport;
pub use trace::{Column, Trace};

/// Why a dataset could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The directory or a file could not be listed or opened.
    #[error("cannot read {path}: {error}")]
    Io {
        /// What was being read.
        path: String,
        /// The I/O error (named in the message, so not also a `source()`).
        error: std::io::Error,
    },
    /// A file's header lacks a column the loader cannot do without.
    #[error("{path}: the header has no column `{column}`")]
    MissingColumn {
        /// The file.
        path: String,
        /// The missing column's name.
        column: &'static str,
    },
    /// Nothing usable was found.
    #[error("{0}")]
    Empty(String),
}
