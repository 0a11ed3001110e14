//! Why ingest refused a request as a whole, and the outcome label each refusal counts as.
//! Every source answers these in its own protocol; see [`crate::source`].

use crate::admission::Overloaded;
use crate::metrics::Outcome;
use thiserror::Error;

/// Why a request was refused as a whole.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The body is not a valid export request (protobuf or JSON). Not retryable.
    #[error("cannot decode the export request: {0}")]
    Decode(String),
    /// The body is over the size limit. Not retryable.
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes (ingest.max_request_bytes)")]
    TooLarge {
        /// Size seen (at least; reading stops past the limit).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A remote-write request whose series, each label set copied onto each of its samples,
    /// would convert to more than the limit. Not retryable.
    #[error(
        "the remote-write request would convert to {size} bytes of points (each sample with a copy of its series' labels), over the limit of {limit} bytes"
    )]
    ConvertsTooLarge {
        /// The converted size.
        size: usize,
        /// [`crate::format::remote_write::convert::MAX_CONVERTED_BYTES`].
        limit: usize,
    },
    /// The engine cannot keep up; retry after the delay (a push source says so, a pull
    /// source would have waited instead: see [`crate::Ingestor::admit`]).
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    /// The request body did not arrive within `ingest.body_timeout_seconds`.
    #[error("the request body did not arrive within {0} s (ingest.body_timeout_seconds)")]
    SlowBody(u64),
    /// A content type or encoding the receiver does not speak.
    #[error("{0}")]
    Unsupported(String),
}

impl IngestError {
    /// The outcome label of the refused request.
    pub fn outcome(&self) -> Outcome {
        match self {
            IngestError::Decode(_) | IngestError::Unsupported(_) => Outcome::Invalid,
            IngestError::SlowBody(_) => Outcome::TimedOut,
            IngestError::TooLarge { .. } | IngestError::ConvertsTooLarge { .. } => Outcome::TooLarge,
            IngestError::Overloaded(_) => Outcome::Throttled,
        }
    }
}
