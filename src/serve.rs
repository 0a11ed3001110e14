//! `ironspider serve`: the engine, the ingest sources, the HTTP API (with the kube-scheduler
//! extender and the remote-write route) and the gRPC scores API (`ironspider.v1.Scores`,
//! mounted here next to ingest's OTLP service on the OTLP/gRPC port) in one process.

use crate::alertmanager::Notifier;
use crate::api::{self, ApiState};
use crate::config::Config;
use crate::listen::{self, Front, FrontDoor, Guarded, Listener};
use crate::scores_grpc::ScoresService;
use crate::sql_pool::SqlPool;
use anyhow::Context;
use ironspider_engine::alerts::{Alerts, AlertsCollector};
use ironspider_engine::{Engine, SystemClock};
use ironspider_ingest::Ingestor;
use ironspider_ingest::source::grpc::MetricsService;
use ironspider_ingest::source::{http as otlp_http, remote_write};
use ironspider_proto::v1::scores_server::ScoresServer;
use ironspider_scheduler::extender::Extender;
use ironspider_scheduler::http::Scheduler;
use ironspider_scheduler::kubernetes;
use ironspider_scheduler::kubernetes::bind::Binder;
use ironspider_scheduler::kubernetes::evict::Evictor;
use ironspider_scheduler::live_rebalance::LiveRebalancer;
use ironspider_scheduler::model::ClusterModel;
use ironspider_scheduler::prioritize::NoForecast;
use ironspider_scores::ScoreSource;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;

async fn bind(addr: std::net::SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen for {what} on {addr}"))
}

/// How often the window closer looks at the clock: a tenth of a window, between 50 ms and 1 s.
fn closer_period(window_seconds: u64) -> Duration {
    Duration::from_millis((window_seconds.saturating_mul(100)).clamp(50, 1000))
}

/// Runs until SIGINT or SIGTERM, then closes every window and flushes the history.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let registry = prometheus::Registry::new();
    let engine = Arc::new(Engine::new(config.engine.clone(), Arc::new(SystemClock), &registry)?);
    let ingestor = Ingestor::new(Arc::clone(&engine), config.ingest.clone(), &registry)?;
    let ready = Arc::new(AtomicBool::new(false));

    let door = FrontDoor::new(&config.tls, &config.auth, &config.connections, &registry)?;
    let grpc_front = door.front(Listener::OtlpGrpc, bind(config.ingest.otlp_grpc, "OTLP/gRPC").await?)?;
    let http_front = door.front(Listener::OtlpHttp, bind(config.ingest.otlp_http, "OTLP/HTTP").await?)?;
    let api_front = door.front(Listener::Api, bind(config.http.listen, "the HTTP API").await?)?;
    tracing::info!(
        otlp_grpc = %grpc_front.local_addr()?,
        otlp_http = %http_front.local_addr()?,
        http = %api_front.local_addr()?,
        tls = config.tls.enabled(),
        data_dir = %config.engine.data_dir.display(),
        window_seconds = config.engine.window_seconds,
        "ironspider serving"
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    door.watch_files(stop_rx.clone(), &registry)?;
    let stop = stop_rx.clone();
    // Watch streams end at shutdown: the gRPC server's graceful stop waits for open streams.
    let scores = ScoresService::new(Arc::clone(&engine), stop_rx.clone()).into_server();
    let sql = Arc::new(SqlPool::new(&config.engine.sql, stop_rx.clone(), &registry)?);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let grpc_guard = door.guarded(Listener::OtlpGrpc);
    let grpc = tokio::spawn(serve_grpc(ingestor.clone(), scores, grpc_front, grpc_guard, stop.clone(), stopped()));
    let remote_write = remote_write::router(ingestor.clone());
    let cluster = kubernetes::connect(&config.scheduler.kubernetes).await.context("the Kubernetes client")?;
    let (scheduler, evictor) = scheduler(&config, &engine, &registry, cluster.as_ref())?;
    // The watches run until they are dropped, at the end of this function.
    let _watches = cluster.map(|client| kubernetes::watch::spawn(client, Arc::clone(&scheduler.extender)));
    let period = closer_period(config.engine.window_seconds);
    let rebalancing = tokio::spawn(rebalance(scheduler.clone(), evictor, period, stopped()));
    let otlp_routes = door.guarded(Listener::OtlpHttp).http(otlp_http::router(ingestor));
    let http = tokio::spawn(listen::serve_http(http_front, otlp_routes, stop.clone()));
    let anomaly_threshold = config.engine.anomaly.threshold;
    let alerts = Arc::new(Alerts::new(&config.alerts, anomaly_threshold).context("the alerting rules")?);
    registry.register(Box::new(AlertsCollector::new(alerts.published())?))?;
    let evaluating = tokio::spawn(evaluate_alerts(Arc::clone(&engine), Arc::clone(&alerts), period, stopped()));
    let notifying = match &config.alerts.alertmanager {
        Some(url) => {
            let scheme = if config.tls.enabled() { "https" } else { "http" };
            let base = match &config.alerts.external_url {
                Some(url) => url.trim_end_matches('/').to_string(),
                None => format!("{scheme}://{}", api_front.local_addr()?),
            };
            let generator = format!("{base}/api/v1/alerts");
            let resend = Duration::from_secs(config.alerts.resend_seconds);
            let notifier = Notifier::new(url, generator, resend, alerts.published(), &registry)?;
            tracing::info!(alertmanager = %url, "pushing alerts to Alertmanager");
            Some(tokio::spawn(notifier.run(period, stopped())))
        }
        None => None,
    };
    let api_state =
        ApiState { engine: Arc::clone(&engine), registry, ready: Arc::clone(&ready), sql, alerts: alerts.published() };
    let api_routes = api::router(api_state).merge(remote_write).merge(ironspider_scheduler::http::router(scheduler));
    let api = tokio::spawn(listen::serve_http(api_front, door.guarded(Listener::Api).http(api_routes), stop));
    let closer =
        tokio::spawn(close_windows(Arc::clone(&engine), closer_period(config.engine.window_seconds), stopped()));
    let refit = Duration::from_secs(config.engine.forecast.global_refit_seconds);
    let refitting = tokio::spawn(refit_global(Arc::clone(&engine), refit, stopped()));
    // Ready once every listener serves and, with a cluster, once the watches' first lists
    // are in the model: before them, binds would be checked against a model without pods.
    let listed = _watches.as_ref().map(kubernetes::watch::Watches::listed);
    let readiness = tokio::spawn(become_ready(Arc::clone(&ready), listed));

    shutdown_signal().await;
    readiness.abort();
    tracing::info!("shutting down: closing windows and flushing history");
    ready.store(false, Ordering::Release);
    let _ = stop_tx.send(true);
    grpc.await?.context("OTLP/gRPC receiver")?;
    http.await.context("OTLP/HTTP receiver")?;
    api.await.context("HTTP API")?;
    closer.await?;
    refitting.await?;
    rebalancing.await?;
    evaluating.await?;
    if let Some(notifying) = notifying {
        notifying.await?;
    }
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    Ok(())
}

/// The OTLP/gRPC port: ingest's metrics service and the scores API on one tonic server, on
/// the connections of `front` behind `guard`, until `shutdown` resolves. The per-connection
/// concurrency limit (`ingest.max_inflight_requests`) applies to both; OTLP's codec,
/// compression and size limit stay its own.
async fn serve_grpc(
    ingestor: Ingestor,
    scores: ScoresServer<ScoresService>,
    front: Front,
    guard: Guarded,
    stop: watch::Receiver<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let incoming = tokio_stream::wrappers::ReceiverStream::new(front.accept(stop)).map(Ok::<_, std::io::Error>);
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(ingestor.config().max_inflight_requests.max(1))
        .max_concurrent_streams(Some(ingestor.config().max_grpc_streams))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .layer(guard)
        .add_service(MetricsService::new(ingestor))
        .add_service(scores)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The kube-scheduler extender and the rebalancer, over the engine's scores and the node
/// inventory; with a cluster, the binder and the evictor its settings ask for.
fn scheduler(
    config: &Config,
    engine: &Arc<Engine>,
    registry: &prometheus::Registry,
    cluster: Option<&kubernetes::Client>,
) -> anyhow::Result<(Scheduler, Option<Evictor>)> {
    let source: Arc<dyn ScoreSource> = Arc::clone(engine) as Arc<dyn ScoreSource>;
    let model = ClusterModel::new(config.scheduler.clone(), &config.engine.scores, config.engine.window_ns(), source);
    let settings = &config.scheduler.kubernetes;
    let rebalance = config.scheduler.rebalance.clone();
    let mut rebalancer = LiveRebalancer::new(rebalance, &model, config.engine.window_ns(), registry)?;
    let evictor = match cluster.filter(|_| settings.evict) {
        Some(client) => {
            rebalancer = rebalancer.evicting();
            Some(Evictor::new(client.clone(), settings.evict_namespaces.clone(), registry)?)
        }
        None => None,
    };
    let binder = match cluster.filter(|_| settings.bind) {
        Some(client) => Some(Arc::new(Binder::new(client.clone(), settings.scheduler_names.clone(), registry)?)),
        None => None,
    };
    let extender = Arc::new(Extender::new(model, Arc::new(NoForecast)));
    Ok((Scheduler { extender, rebalancer: Arc::new(rebalancer), binder }, evictor))
}

/// Plans a rebalance on every new snapshot, so hot streaks count every window, and carries
/// each new plan out once when evictions are enabled.
async fn rebalance(
    scheduler: Scheduler,
    evictor: Option<Evictor>,
    period: Duration,
    stopped: impl std::future::Future<Output = ()>,
) {
    let mut ticks = tokio::time::interval(period);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticks.tick() => {
                scheduler.rebalancer.refresh(scheduler.extender.model());
                if let Some(evictor) = &evictor {
                    evictor.carry_out(&scheduler.rebalancer).await;
                }
            }
        }
    }
}

/// Evaluates the alerting rules on the engine's newest scores and forecasts every `period`
/// (on a blocking thread: every rule on every node).
async fn evaluate_alerts(
    engine: Arc<Engine>,
    alerts: Arc<Alerts>,
    period: Duration,
    stopped: impl std::future::Future<Output = ()>,
) {
    let ticks = tokio::time::interval(period);
    on_blocking_thread_every(ticks, stopped, "alert evaluation", move || {
        alerts.evaluate(&engine.scores(), &engine.forecasts(), engine.now_ns());
    })
    .await;
}

/// Sets `ready` once `listed` (the cluster's first lists, when there is a cluster) is true.
async fn become_ready(ready: Arc<AtomicBool>, listed: Option<watch::Receiver<bool>>) {
    if let Some(mut listed) = listed {
        tracing::info!("waiting for the cluster's first lists of nodes and pods before turning ready");
        if listed.wait_for(|listed| *listed).await.is_err() {
            return;
        }
        tracing::info!("cluster listed; ready");
    }
    ready.store(true, Ordering::Release);
}

async fn close_windows(engine: Arc<Engine>, period: Duration, stopped: impl std::future::Future<Output = ()>) {
    let ticks = tokio::time::interval(period);
    on_blocking_thread_every(ticks, stopped, "window closer", move || engine.close_due_windows()).await;
}

/// Fits the global model again every `period` (none when zero): the first fit was at start
/// (`Engine::new`), so the first tick here is one period later. The fit runs on a blocking
/// thread; ingest and readers do not wait for it.
async fn refit_global(engine: Arc<Engine>, period: Duration, stopped: impl std::future::Future<Output = ()>) {
    if period.is_zero() {
        return;
    }
    let ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    on_blocking_thread_every(ticks, stopped, "global model fit", move || engine.refit_global()).await;
}

/// Runs `job` on a blocking thread at every tick of `ticks` (a late tick is delayed, never
/// bunched) until `stopped`, its result dropped; a job that panics is logged as `what`
/// failing.
async fn on_blocking_thread_every<T: Send + 'static>(
    mut ticks: tokio::time::Interval,
    stopped: impl std::future::Future<Output = ()>,
    what: &'static str,
    job: impl Fn() -> T + Clone + Send + 'static,
) {
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            _ = ticks.tick() => {
                if let Err(error) = tokio::task::spawn_blocking(job.clone()).await {
                    tracing::error!(%error, "{what} failed");
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
