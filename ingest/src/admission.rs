//! Back-pressure: how many requests are processed at once and how many bytes the engine
//! may hold (`engine.max_live_bytes`), as one gate every source passes before it submits a batch.
//!
//! The gate answers the two kinds of source in the way each can act on:
//! - a **push** source (a client sends and waits for the answer: OTLP/gRPC, OTLP/HTTP,
//!   remote write) calls [`Gate::try_admit`]; on [`Overloaded`] it refuses the request with
//!   its protocol's retryable answer carrying [`Overloaded::retry_after`], and the client
//!   sends it again later;
//! - a **pull** source (it fetches batches itself: a Kafka consumer) calls [`Gate::admit`],
//!   which waits until there is room; not fetching while it waits is how it pauses.
//!
//! An [`Admission`] holds its place until dropped: keep it until the batch is submitted.
//!
//! Before that, an HTTP source reads the request body while holding a *reading slot*
//! ([`Gate::try_read_slot`], `ingest.max_reading_requests`), so that a slow upload holds
//! no processing place; past the slots the request gets the same [`Overloaded`] answer.

use crate::config::IngestConfig;
use prometheus::IntGauge;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shortest wait between two looks at the engine's live bytes, so that a zero
/// `ingest.retry_after_seconds` does not make a pull source spin.
const MIN_RECHECK: Duration = Duration::from_millis(10);

/// Why a request is refused when the engine holds its byte budget.
const ENGINE_FULL: &str = "the engine holds engine.max_live_bytes";
/// Why a request is refused when every processing place is taken.
const INFLIGHT_FULL: &str = "too many export requests in flight";

/// No room now: the engine cannot keep up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("server overloaded: {reason}; retry after {retry_after:?}")]
pub struct Overloaded {
    /// What is full.
    pub reason: &'static str,
    /// Suggested delay before trying again.
    pub retry_after: Duration,
}

/// Holds a batch's place among those processed at once; released on drop. A push source
/// gets one from [`crate::Ingestor::try_admit`], or refuses the batch with a retry delay; a
/// pull source awaits one from [`crate::Ingestor::admit`], pausing until there is room.
#[derive(Debug)]
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    queue_depth: IntGauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.queue_depth.dec();
    }
}

/// The places for batches in flight and the engine's point limit.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    inflight: Arc<Semaphore>,
    reading: Arc<Semaphore>,
    live_bytes: IntGauge,
    max_live_bytes: usize,
    retry_after: Duration,
    queue_depth: IntGauge,
}

impl Gate {
    /// A gate with the limits of `config`, reading the engine's bytes held from `live_bytes`
    /// (full at `max_live_bytes`) and counting the batches admitted in `queue_depth`.
    pub(crate) fn new(
        config: &IngestConfig,
        live_bytes: IntGauge,
        max_live_bytes: usize,
        queue_depth: IntGauge,
    ) -> Self {
        Self {
            inflight: Arc::new(Semaphore::new(config.max_inflight_requests)),
            reading: Arc::new(Semaphore::new(config.max_reading_requests)),
            live_bytes,
            max_live_bytes,
            retry_after: Duration::from_secs(config.retry_after_seconds),
            queue_depth,
        }
    }

    /// For a push source: a place now, or [`Overloaded`] when too many batches are being
    /// processed or the engine holds as many bytes as it may.
    pub(crate) fn try_admit(&self) -> Result<Admission, Overloaded> {
        self.check_room()?;
        // A place seen free may be taken meanwhile: refused then as if it had not been free.
        let permit = Arc::clone(&self.inflight).try_acquire_owned().map_err(|_| self.overloaded(INFLIGHT_FULL))?;
        Ok(self.admission(permit))
    }

    /// Whether [`Gate::try_admit`] would refuse now, without taking a place.
    pub(crate) fn check_room(&self) -> Result<(), Overloaded> {
        if self.engine_full() {
            Err(self.overloaded(ENGINE_FULL))
        } else if self.inflight.available_permits() == 0 {
            Err(self.overloaded(INFLIGHT_FULL))
        } else {
            Ok(())
        }
    }

    /// For an HTTP source: a slot to read one request body in, or [`Overloaded`] when
    /// `ingest.max_reading_requests` bodies are being read.
    pub(crate) fn try_read_slot(&self) -> Result<OwnedSemaphorePermit, Overloaded> {
        Arc::clone(&self.reading).try_acquire_owned().map_err(|_| self.overloaded("request bodies being read"))
    }

    /// For a pull source: waits for a place, first until the engine holds fewer bytes than
    /// its limit (looking again every retry delay), then for a batch in flight to finish.
    pub(crate) async fn admit(&self) -> Admission {
        loop {
            while self.engine_full() {
                tokio::time::sleep(self.retry_after.max(MIN_RECHECK)).await;
            }
            let permit =
                Arc::clone(&self.inflight).acquire_owned().await.expect("the in-flight semaphore is never closed");
            if !self.engine_full() {
                return self.admission(permit);
            }
        }
    }

    fn engine_full(&self) -> bool {
        usize::try_from(self.live_bytes.get()).unwrap_or(0) >= self.max_live_bytes
    }

    fn overloaded(&self, reason: &'static str) -> Overloaded {
        Overloaded { reason, retry_after: self.retry_after }
    }

    fn admission(&self, permit: OwnedSemaphorePermit) -> Admission {
        self.queue_depth.inc();
        Admission { _permit: permit, queue_depth: self.queue_depth.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_inflight_requests: usize, max_live_bytes: usize) -> (Gate, IntGauge) {
        let config = IngestConfig { max_inflight_requests, retry_after_seconds: 0, ..IngestConfig::default() };
        let live = IntGauge::new("live_bytes", "bytes held").expect("gauge");
        let depth = IntGauge::new("queue_depth", "batches admitted").expect("gauge");
        (Gate::new(&config, live.clone(), max_live_bytes, depth), live)
    }

    #[test]
    fn a_push_source_is_refused_with_a_retry_delay_and_admitted_once_a_place_frees() {
        let (gate, _) = gate(1, 10);
        let held = gate.try_admit().expect("a free place");
        let refused = gate.try_admit().expect_err("no place left");
        assert_eq!(refused.reason, "too many export requests in flight");
        assert_eq!(gate.queue_depth.get(), 1);
        drop(held);
        assert_eq!(gate.queue_depth.get(), 0);
        gate.try_admit().expect("the freed place");
    }

    #[test]
    fn check_room_answers_as_try_admit_would_and_takes_nothing() {
        let (gate, live) = gate(1, 10);
        gate.check_room().expect("room");
        let held = gate.try_admit().expect("a free place");
        assert_eq!(gate.check_room().expect_err("full").reason, "too many export requests in flight");
        drop(held);
        gate.check_room().expect("room again");
        live.set(10);
        assert_eq!(gate.check_room().expect_err("full").reason, "the engine holds engine.max_live_bytes");
        assert_eq!(gate.queue_depth.get(), 0);
    }

    #[tokio::test]
    async fn a_pull_source_waits_for_a_place_and_resumes_when_one_frees() {
        let (gate, _) = gate(1, 10);
        let held = gate.try_admit().expect("a free place");
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no place is free: the pull source waits");
        drop(held);
        let admission = waiting.await.expect("the waiting source");
        assert_eq!(gate.queue_depth.get(), 1);
        assert!(gate.try_admit().is_err(), "the place went to the waiting source");
        drop(admission);
        assert_eq!(gate.queue_depth.get(), 0);
    }

    #[tokio::test]
    async fn a_pull_source_waits_while_the_engine_is_full_and_resumes_when_it_drains() {
        let (gate, live) = gate(4, 10);
        live.set(10);
        let refused = gate.try_admit().expect_err("the engine is full");
        assert_eq!(refused.reason, "the engine holds engine.max_live_bytes");
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.admit().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the engine is full: the pull source waits");
        live.set(9);
        let _admission = waiting.await.expect("the waiting source");
        assert_eq!(gate.queue_depth.get(), 1);
    }
}
