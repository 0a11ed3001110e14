//! The receivers: each takes batches in from its transport and hands them to the pipeline
//! through the one interface every source uses.
//!
//! A source, for each batch: takes a place ([`Ingestor::try_admit`] for a push source,
//! [`Ingestor::admit`] for a pull source, see [`Admission`]), undoes what its transport
//! added (compression, framing), calls [`Ingestor::submit`] with an [`Encoded`] batch of
//! its [`Format`], and answers the [`ExportOutcome`] or [`IngestError`] in its own protocol,
//! counting the request with [`IngestMetrics::request`]. Sources know the pipeline; the
//! pipeline knows no source.
//!
//! All three receivers here are push sources: [`grpc`] (OTLP/gRPC, a tower service to mount
//! on a tonic server), [`http`] (OTLP/HTTP) and [`remote_write`] (Prometheus remote write),
//! both axum routers.
//!
//! [`Ingestor::try_admit`]: crate::Ingestor::try_admit
//! [`Ingestor::admit`]: crate::Ingestor::admit
//! [`Ingestor::submit`]: crate::Ingestor::submit
//! [`Admission`]: crate::Admission
//! [`Encoded`]: crate::Encoded
//! [`Format`]: crate::Format
//! [`ExportOutcome`]: crate::ExportOutcome
//! [`IngestError`]: crate::IngestError
//! [`IngestMetrics::request`]: crate::metrics::IngestMetrics::request

pub mod grpc;
pub mod http;
mod http_body;
pub mod remote_write;
