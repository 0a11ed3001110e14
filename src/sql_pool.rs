//! Where `POST /api/v1/sql` queries run: a pool of their own, so that no query can hold up
//! ingest, `/readyz`, scores or the kube-scheduler extender.
//!
//! ## Contract
//!
//! - **Own threads.** Queries run on a Tokio runtime of `engine.sql.threads` worker threads
//!   (named `ironspider-sql`, each with a stack of [`ironspider_engine::sql::STACK_BYTES`]),
//!   never on the runtime that serves the listeners; the operating system shares the cores
//!   between the two, so a query that keeps its threads busy slows the others by at most
//!   its share of the CPU.
//! - **Concurrency.** At most `engine.sql.max_concurrent` queries hold a permit; another is
//!   refused at once with [`SqlRefusal::Busy`] (HTTP 429, `Retry-After: 1`). A query keeps its
//!   permit until its task has really ended, so queries that ignore cancellation still count.
//! - **Time.** A query not done within `engine.sql.timeout_seconds` is cancelled
//!   ([`SqlRefusal::Timeout`], HTTP 503); so is one whose client goes away (the HTTP
//!   handler's future is dropped, and with it the query: counted as `cancelled`), and every
//!   query when the server shuts down ([`SqlRefusal::ShuttingDown`]). Cancelling aborts the
//!   query's task at its next yield point; DataFusion yields between batches.
//! - **Rendering.** The JSON rows are rendered on the pool too.
//! - Outcomes are counted in `ironspider_sql_queries_total{outcome="ok|error|busy|timeout|cancelled|shutdown"}`;
//!   `ironspider_sql_queries_running` is the number of permits held (queries whose task has
//!   not ended, cancelled or not).

use ironspider_engine::config::SqlConfig;
use ironspider_engine::sql::{STACK_BYTES, to_json_rows};
use ironspider_engine::{Engine, EngineError};
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// Why a query gave no rows.
#[derive(Debug, thiserror::Error)]
pub enum SqlRefusal {
    /// `max_concurrent` queries are running.
    #[error("{0} queries are running already (engine.sql.max_concurrent); retry shortly")]
    Busy(usize),
    /// The time limit passed.
    #[error("the query ran past its time limit of {0:?} (engine.sql.timeout_seconds) and was cancelled")]
    Timeout(Duration),
    /// The server is shutting down.
    #[error("the server is shutting down; the query was cancelled")]
    ShuttingDown,
    /// The query failed: its text, plan or execution (the engine's message).
    #[error("{0}")]
    Failed(EngineError),
    /// The query's task panicked.
    #[error("the query failed inside the engine: {0}")]
    Crashed(String),
}

/// The SQL pool.
pub struct SqlPool {
    runtime: Option<tokio::runtime::Runtime>,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    timeout: Duration,
    stop: watch::Receiver<bool>,
    outcomes: IntCounterVec,
    running: IntGauge,
}

/// A query's permit, counted in `running` while it is held.
struct Running {
    _permit: tokio::sync::OwnedSemaphorePermit,
    running: IntGauge,
}

impl Running {
    fn new(permit: tokio::sync::OwnedSemaphorePermit, running: &IntGauge) -> Self {
        running.inc();
        Self { _permit: permit, running: running.clone() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.dec();
    }
}

impl std::fmt::Debug for SqlPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlPool").field("max_concurrent", &self.max_concurrent).field("timeout", &self.timeout).finish()
    }
}

/// Aborts the query's task when the handler that awaits it is dropped.
struct AbortOnDrop(JoinHandle<Result<Vec<u8>, EngineError>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Counts a query as `cancelled` unless it was counted otherwise: the handler's future was
/// dropped (its client went away) before an outcome.
struct Outcome<'a> {
    outcomes: &'a IntCounterVec,
    label: &'static str,
}

impl Drop for Outcome<'_> {
    fn drop(&mut self) {
        self.outcomes.with_label_values(&[self.label]).inc();
    }
}

impl SqlPool {
    /// A pool for `config`, cancelling every query once `stop` turns true, counting in
    /// `registry`.
    pub fn new(config: &SqlConfig, stop: watch::Receiver<bool>, registry: &Registry) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .thread_name("ironspider-sql")
            .thread_stack_size(STACK_BYTES)
            .enable_all()
            .build()?;
        let opts = Opts::new(
            "ironspider_sql_queries_total",
            "SQL queries by outcome (ok, error, busy, timeout, cancelled, shutdown)",
        );
        let outcomes = IntCounterVec::new(opts, &["outcome"])?;
        registry.register(Box::new(outcomes.clone()))?;
        let running = IntGauge::new(
            "ironspider_sql_queries_running",
            "SQL queries holding a permit: running, or cancelled and not yet ended",
        )?;
        registry.register(Box::new(running.clone()))?;
        Ok(Self {
            runtime: Some(runtime),
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            max_concurrent: config.max_concurrent,
            timeout: config.timeout(),
            stop,
            outcomes,
            running,
        })
    }

    /// Runs `query` on `engine` within the pool's limits; the rows as a JSON array.
    pub async fn run(&self, engine: Arc<Engine>, query: String) -> Result<Vec<u8>, SqlRefusal> {
        let mut outcome = Outcome { outcomes: &self.outcomes, label: "cancelled" };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            outcome.label = "busy";
            return Err(SqlRefusal::Busy(self.max_concurrent));
        };
        let permit = Running::new(permit, &self.running);
        let runtime = self.runtime.as_ref().expect("the runtime lives as long as the pool");
        let mut task = AbortOnDrop(runtime.spawn(async move {
            let _permit = permit;
            to_json_rows(&engine.sql(&query).await?)
        }));
        let mut stop = self.stop.clone();
        let result = tokio::select! {
            joined = tokio::time::timeout(self.timeout, &mut task.0) => match joined {
                Ok(Ok(rows)) => rows.map_err(SqlRefusal::Failed),
                Ok(Err(error)) => Err(SqlRefusal::Crashed(error.to_string())),
                Err(_) => Err(SqlRefusal::Timeout(self.timeout)),
            },
            _ = stop.wait_for(|stop| *stop) => Err(SqlRefusal::ShuttingDown),
        };
        outcome.label = match &result {
            Ok(_) => "ok",
            Err(SqlRefusal::Timeout(_)) => "timeout",
            Err(SqlRefusal::ShuttingDown) => "shutdown",
            Err(_) => "error",
        };
        result
    }
}

impl Drop for SqlPool {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async context may not do; a
        // query still running is abandoned with it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
