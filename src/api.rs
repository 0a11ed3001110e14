//! The HTTP API on the `http.listen` address: `/metrics` (Prometheus text exposition of
//! the process's own metrics, node scores, forecasts and alerts), `/healthz`, `/readyz`,
//! `POST /api/v1/sql`, `GET /api/v1/nodes[/{name}]`, `GET /api/v1/pods`,
//! `GET /api/v1/forecasts[/{node}]` and `GET /api/v1/alerts` (in the Prometheus HTTP API's
//! shape). `serve` adds the Prometheus remote-write receiver (`POST /api/v1/write`, see
//! [`ironspider_ingest::source::remote_write`]) on the same address.

use crate::sql_pool::{SqlPool, SqlRefusal};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ironspider_engine::alerts::{PublishedAlerts, wire};
use ironspider_engine::{Engine, EngineError};
use prometheus::{Encoder, Registry, TextEncoder};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The engine queried by SQL.
    pub engine: Arc<Engine>,
    /// The registry `/metrics` exposes.
    pub registry: Registry,
    /// Set once every listener is bound and serving.
    pub ready: Arc<AtomicBool>,
    /// Where SQL queries run.
    pub sql: Arc<SqlPool>,
    /// The alerts, as last evaluated.
    pub alerts: Arc<PublishedAlerts>,
}

/// The API routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/sql", post(sql).layer(DefaultBodyLimit::max(state.engine.config().sql.max_query_bytes)))
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/nodes/{name}", get(node))
        .route("/api/v1/pods", get(pods))
        .route("/api/v1/forecasts", get(forecasts))
        .route("/api/v1/forecasts/{node}", get(node_forecasts))
        .route("/api/v1/alerts", get(alerts))
        .with_state(state)
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, encoder.format_type().to_string())], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
    }
}

fn json_response(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// Every node's latest scores: a JSON array, one object per node (see
/// [`ironspider_scores::NodeScore`]).
async fn nodes(State(state): State<ApiState>) -> Response {
    let snapshot = state.engine.scores();
    let nodes: Vec<&ironspider_scores::NodeScore> = snapshot.nodes.values().collect();
    json_response(&nodes)
}

/// One node's latest scores, or 404 for a node the engine has not seen.
async fn node(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.engine.scores().nodes.get(&name) {
        Some(score) => json_response(score),
        None => (StatusCode::NOT_FOUND, format!("unknown node {name:?}\n")).into_response(),
    }
}

/// Every pod's cost in the newest window with pod metrics: a JSON array (see
/// [`ironspider_scores::PodCost`]).
async fn pods(State(state): State<ApiState>) -> Response {
    json_response(&state.engine.scores().pods)
}

/// Every forecast of the newest snapshot: a JSON array of objects with keys `node,
/// resource, horizon_seconds, p10, p50, p90, model, issued_at` (see
/// [`ironspider_engine::forecasts::ForecastRow`]), by node, resource and horizon.
async fn forecasts(State(state): State<ApiState>) -> Response {
    let snapshot = state.engine.forecasts();
    json_response(&snapshot.rows().collect::<Vec<_>>())
}

/// One node's forecasts (an empty array while its forecasters warm up), or 404 for a node
/// the engine has neither scored nor forecast.
async fn node_forecasts(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let snapshot = state.engine.forecasts();
    match snapshot.node(&name) {
        Some(node) => json_response(&snapshot.node_rows(node).collect::<Vec<_>>()),
        None if state.engine.scores().nodes.contains_key(&name) => json_response(&[(); 0]),
        None => (StatusCode::NOT_FOUND, format!("unknown node {name:?}\n")).into_response(),
    }
}

/// The pending and firing alerts in the Prometheus HTTP API's shape (`alerts::wire`).
async fn alerts(State(state): State<ApiState>) -> Response {
    json_response(&wire::prometheus_alerts(&state.alerts.get()))
}

/// Runs the SQL text of the body on the SQL pool ([`crate::sql_pool`]); answers a JSON
/// array with one object per row, or the refusal in words: 400 for a query that fails (its
/// text, its plan, a limit of memory, result size or depth), 413 for one too long, 429 with
/// `Retry-After` when the pool is full, 503 past the time limit or at shutdown.
async fn sql(State(state): State<ApiState>, query: String) -> Response {
    let refusal = match state.sql.run(Arc::clone(&state.engine), query).await {
        Ok(json) => return ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(refusal) => refusal,
    };
    let status = match &refusal {
        SqlRefusal::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        SqlRefusal::Timeout(_) | SqlRefusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        SqlRefusal::Failed(EngineError::QueryTooLong { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        SqlRefusal::Failed(_) => StatusCode::BAD_REQUEST,
        SqlRefusal::Crashed(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match refusal {
        SqlRefusal::Busy(_) => (status, [(header::RETRY_AFTER, "1")], text, format!("{refusal}\n")).into_response(),
        _ => (status, text, format!("{refusal}\n")).into_response(),
    }
}
