//! # ironspider-ingest
//!
//! Receivers and decoders. **In:** OTLP metrics export requests over gRPC
//! (`MetricsService/Export`, [`grpc`]) and HTTP (`POST /v1/metrics`, protobuf or JSON,
//! [`http`], JSON through [`json`]), and Prometheus remote write (`POST /api/v1/write`,
//! [`remote_write`]). **Out:** [`ironspider_engine::IngestBatch`]es handed to
//! [`ironspider_engine::Engine::apply`], and OTLP answers (full or partial success, or an
//! error the exporter knows how to retry or drop).
//!
//! Two decoders produce the same events for a [`visitor::MetricsVisitor`]: [`fast`] reads
//! the protobuf bytes in place (the hot path), [`reference`] walks prost-decoded structs (JSON
//! and correctness checks). [`builder`] validates points, interns series by hash before any
//! allocation, and builds the batch. [`pipeline::Ingestor`] ties decoding, limits,
//! back-pressure and the engine together for the receivers.
//!
//! Ingest knows no scores.

mod admission;
pub mod attrs;
pub mod builder;
pub mod canonical;
pub mod config;
mod error;
pub mod exponential;
pub mod fast;
pub mod format;
pub mod grpc;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod pipeline;
pub mod reference;
pub mod remote_write;
pub mod visitor;
pub mod wire;

pub use admission::{Admission, Overloaded};
pub use config::{DecoderKind, IngestConfig};
pub use error::IngestError;
pub use format::{Encoded, Format};
pub use pipeline::{ExportOutcome, Ingestor};
