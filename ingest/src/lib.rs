//! # ironspider-ingest
//!
//! Sources and decoders. **In:** batches of metrics from the [`source`]s — OTLP export
//! requests over gRPC (`MetricsService/Export`, [`source::grpc`]) and HTTP
//! (`POST /v1/metrics`, protobuf or JSON, [`source::http`]), and Prometheus remote write
//! (`POST /api/v1/write`, [`source::remote_write`]). **Out:**
//! [`ironspider_engine::IngestBatch`]es handed to [`ironspider_engine::Engine::apply`], and
//! answers (full or partial success, or an error the client knows how to retry or drop).
//!
//! Every source hands its batches to one entry point, [`Ingestor::submit`], as an
//! [`Encoded`] batch of a [`Format`]; [`format`](mod@format) holds what each format needs to become OTLP
//! points. Two decoders produce the same events for a [`visitor::MetricsVisitor`]: [`fast`]
//! reads OTLP protobuf bytes in place (the hot path), [`reference`](mod@reference) walks prost-decoded
//! structs (OTLP/JSON, remote write converted to OTLP, and correctness checks). [`builder`]
//! validates points, interns series by hash before any allocation, and builds the batch.
//! Back-pressure is an [`Admission`] a source takes first: [`Ingestor::try_admit`] answers
//! now ([`Overloaded`] with a retry delay), [`Ingestor::admit`] waits for room.
//!
//! Ingest knows no scores, and serves nothing itself: the binary mounts the sources' tower
//! service and routers on its own servers, next to its other APIs.
//!
//! ## Adding an input source
//!
//! 1. Receive a batch in a module of [`source`], undo what the transport added (compression,
//!    framing) and wrap the bytes as [`Encoded`] with their [`Format`]; a new encoding gets a
//!    [`Format`] variant and its decoding in [`format::decode`], not in the source.
//! 2. Take a place before the work: a **push** source (the client waits for the answer)
//!    calls [`Ingestor::try_admit`] and, on [`IngestError::Overloaded`], answers its
//!    protocol's retryable status with [`Overloaded::retry_after`] (gRPC RESOURCE_EXHAUSTED
//!    with RetryInfo, HTTP 429 or 503 with `Retry-After`). A **pull** source (it fetches,
//!    as a Kafka consumer does) awaits [`Ingestor::admit`] before fetching the next batch:
//!    it pauses until there is room and never refuses for load.
//! 3. Keep the [`Admission`] while calling [`Ingestor::submit`] with a [`metrics::Transport`]
//!    of its own (add a variant: it labels the metrics), then answer the [`ExportOutcome`]
//!    (its `rejected` points are refused for good: not to be sent again) or the
//!    [`IngestError`], and count it with [`metrics::IngestMetrics::request`]. A pull source
//!    does not fetch a submitted batch again, whatever the outcome (a decode error or a
//!    refused point would be refused again); when it commits its position is the durability
//!    it promises (a consumer feeding an engine shard commits only once the windows holding
//!    the batch are durable).

mod admission;
pub mod attrs;
pub mod builder;
pub mod canonical;
pub mod config;
pub mod differential;
mod error;
pub mod exponential;
pub mod fast;
pub mod format;
pub mod identity;
pub mod metrics;
mod pipeline;
pub mod reference;
pub mod source;
pub mod visitor;
pub mod wire;

pub use admission::{Admission, Overloaded};
pub use config::{DecoderKind, IngestConfig, IngestConfigError};
pub use error::IngestError;
pub use format::{Encoded, Format};
pub use pipeline::{ExportOutcome, Ingestor};
