//! # ironspider-engine
//!
//! The engine sits between ingest and every reader. **In:** [`IngestBatch`]es of columnar
//! rows for series that ingest interned in the [`SeriesInterner`] (every input path — OTLP,
//! remote write, replay; a Kafka consumer will too — ends in [`Engine::apply`]). **Inside:** tumbling windows by
//! event time with an allowed lateness ([`store`]), cumulative sums turned into deltas
//! ([`cumulative`]), per-series aggregates of each closed window ([`aggregate`]), and the
//! Parquet history of those aggregates ([`history`]). **Out:** Arrow snapshots and SQL over the
//! tables `series`, `samples`, `windows`, `histograms` and `history` ([`sql`]), and the
//! engine's own metrics ([`telemetry`]). Each closed window's aggregates also make one
//! [`ironspider_scores::NodeFrame`] per node, which the score book of
//! [`ironspider_scores`] (pressure, health, cost) turns into the published snapshot, and
//! [`forecasts`] feeds each node's utilisation and pressure, step by step, to a forecaster per
//! node and resource, published in a snapshot of its own (`/api/v1/forecasts`, the
//! `forecasts` table, `ironspider_node_forecast`).
//!
//! The engine knows no transport and no protobuf.

pub mod aggregate;
pub mod alerts;
pub mod batch;
pub mod clock;
pub mod config;
pub mod cumulative;
mod engine;
pub mod error;
pub mod forecasts;
pub mod frame;
pub mod history;
pub mod pods;
pub mod restore;
pub mod schema;
pub mod score_log;
pub mod score_metrics;
pub mod series;
pub mod sql;
pub mod store;
pub mod tables;
pub mod telemetry;

pub use batch::{ApplyReport, HistogramRow, IngestBatch, RejectCounts, RejectReason};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AnomalyConfig, EngineConfig, EngineConfigError, ForecastConfig};
pub use engine::Engine;
pub use error::EngineError;
pub use series::{SeriesInfo, SeriesInterner, SeriesKind, SeriesTable};
