//! The extender over HTTP: `POST /scheduler/{filter,prioritize,bind,preempt}` with the JSON
//! of [`crate::protocol`] (`bind` also posts the Binding when a [`Binder`] is configured);
//! `GET /api/v1/scheduler/gpus` (every node's devices and every pod's shares, for people and
//! tests); `GET /api/v1/rebalance/plan` (the newest rebalance plan).
//!
//! kube-scheduler treats any status but 200 as an error: a body that is not the verb's JSON
//! gets 400 with the decoder's message, an oversized body 413. Answers are always 200 with
//! the verb's result, whose `Error` field carries failures that concern the pod.

use crate::answer::Answer;
use crate::extender::Extender;
use crate::kubernetes::bind::Binder;
use crate::live_rebalance::LiveRebalancer;
use crate::protocol::{ExtenderBindingArgs, decode, encode};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// What the routes serve.
#[derive(Debug, Clone)]
pub struct Scheduler {
    /// The extender.
    pub extender: Arc<Extender>,
    /// The rebalancer.
    pub rebalancer: Arc<LiveRebalancer>,
    /// Posts Bindings (`[scheduler.kubernetes] bind = true`); `None`: `bind` only records.
    pub binder: Option<Arc<Binder>>,
}

/// The extender's and the rebalancer's routes, to merge into the HTTP API.
pub fn router(scheduler: Scheduler) -> Router {
    let limit = scheduler.extender.model().config().max_body_bytes;
    Router::new()
        .route("/scheduler/filter", post(|s, b| verb(s, b, Extender::filter)))
        .route("/scheduler/prioritize", post(|s, b| verb(s, b, Extender::prioritize)))
        .route("/scheduler/bind", post(bind))
        .route("/scheduler/preempt", post(|s, b| verb(s, b, Extender::preempt)))
        .route("/api/v1/scheduler/gpus", get(gpus))
        .route("/api/v1/rebalance/plan", get(plan))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(scheduler)
}

async fn plan(State(scheduler): State<Scheduler>) -> Response {
    scheduler.rebalancer.refresh(scheduler.extender.model());
    json(&*scheduler.rebalancer.latest())
}

fn json(value: &impl Serialize) -> Response {
    respond(encode(value, 0))
}

/// JSON bytes as a response (500 when they could not be written).
fn respond(json: Result<Vec<u8>, serde_json::Error>) -> Response {
    match json {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn verb<A, R>(State(scheduler): State<Scheduler>, body: Bytes, answer: fn(&Extender, A) -> R) -> Response
where
    A: DeserializeOwned,
    R: Answer,
{
    let args = match decode::<A>(&body) {
        Ok(args) => args,
        Err(error) => return malformed(error),
    };
    respond(answer(&scheduler.extender, args).to_json(body.len()))
}

fn malformed(error: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("malformed extender request: {error}\n")).into_response()
}

/// `bind`: through the [`Binder`] when there is one (it awaits the API server), else in the
/// model alone.
async fn bind(State(scheduler): State<Scheduler>, body: Bytes) -> Response {
    let args = match decode::<ExtenderBindingArgs>(&body) {
        Ok(args) => args,
        Err(error) => return malformed(error),
    };
    match &scheduler.binder {
        Some(binder) => json(&binder.bind(&scheduler.extender, &args).await),
        None => json(&scheduler.extender.bind(&args)),
    }
}

/// One device in `GET /api/v1/scheduler/gpus`.
#[derive(Debug, Serialize)]
struct DeviceView {
    id: String,
    model: String,
    free_milli: u32,
}

/// One pod's shares in `GET /api/v1/scheduler/gpus`.
#[derive(Debug, Serialize)]
struct ShareView {
    pod: String,
    node: String,
    device: String,
    milli: u32,
}

async fn gpus(State(scheduler): State<Scheduler>) -> Response {
    let ledger = scheduler.extender.model().gpus();
    let (nodes, allocations) = ledger.view();
    let mut shares: Vec<ShareView> = allocations
        .iter()
        .flat_map(|(pod, allocation)| {
            let devices = nodes.get(&allocation.node);
            allocation.shares.iter().map(move |(device, milli)| ShareView {
                pod: pod.clone(),
                node: allocation.node.clone(),
                device: devices.and_then(|d| d.get(*device)).map(|g| g.id.clone()).unwrap_or_default(),
                milli: *milli,
            })
        })
        .collect();
    shares.sort_by(|a, b| (&a.node, &a.device, &a.pod).cmp(&(&b.node, &b.device, &b.pod)));
    let nodes: std::collections::BTreeMap<String, Vec<DeviceView>> = nodes
        .into_iter()
        .map(|(name, gpus)| {
            let devices =
                gpus.into_iter().map(|g| DeviceView { id: g.id, model: g.model, free_milli: g.free }).collect();
            (name, devices)
        })
        .collect();
    json(&serde_json::json!({ "nodes": nodes, "shares": shares }))
}
