//! The [`Guard`] in front of each listener's routes: an axum middleware for the HTTP
//! listeners (401 with `WWW-Authenticate: Bearer` or 403, and the reason in words) and a
//! tower layer for the gRPC one (`UNAUTHENTICATED` or `PERMISSION_DENIED`, a trailers-only
//! answer). Which role a request needs is its listener's [`Listener::role_of`] its path;
//! a refused request reaches no handler, so it changes nothing.

use super::auth::{Guard, Peer, Refusal, Role};
use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The three listeners, and the role each of their routes needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// OTLP/gRPC: the metrics service (ingest) and the scores API (read).
    OtlpGrpc,
    /// OTLP/HTTP: `/v1/metrics` (ingest).
    OtlpHttp,
    /// The HTTP API: probes (open), remote write (ingest), `/scheduler/...` (scheduler),
    /// everything else (read).
    Api,
}

impl Listener {
    /// The `listener` label of the metrics.
    pub fn name(self) -> &'static str {
        match self {
            Listener::OtlpGrpc => "otlp_grpc",
            Listener::OtlpHttp => "otlp_http",
            Listener::Api => "http",
        }
    }

    /// The role a request of `path` needs; `None`: open to all (the probes kubelet calls).
    pub fn role_of(self, path: &str) -> Option<Role> {
        match self {
            Listener::OtlpGrpc if path.starts_with("/opentelemetry.proto.collector.") => Some(Role::Ingest),
            Listener::OtlpGrpc => Some(Role::Read),
            Listener::OtlpHttp => Some(Role::Ingest),
            Listener::Api => match path {
                "/healthz" | "/readyz" => None,
                ironspider_ingest::source::remote_write::PATH => Some(Role::Ingest),
                _ if path.starts_with("/scheduler/") => Some(Role::Scheduler),
                _ => Some(Role::Read),
            },
        }
    }
}

/// The guard of one listener.
#[derive(Clone)]
pub struct Guarded {
    guard: Arc<Guard>,
    listener: Listener,
}

impl Guarded {
    /// `guard` in front of `listener`.
    pub fn new(guard: Arc<Guard>, listener: Listener) -> Self {
        Guarded { guard, listener }
    }

    fn check<B>(&self, request: &http::Request<B>) -> Result<(), (Refusal, Role)> {
        let Some(needed) = self.listener.role_of(request.uri().path()) else { return Ok(()) };
        let peer = request.extensions().get::<Peer>().copied().unwrap_or_default();
        self.guard.check(self.listener.name(), request.headers(), peer, needed).map_err(|refusal| (refusal, needed))
    }

    /// `router` behind this guard.
    pub fn http(self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self, authorize_http))
    }
}

async fn authorize_http(State(guarded): State<Guarded>, request: Request, next: Next) -> Response {
    match guarded.check(&request) {
        Ok(()) => next.run(request).await,
        Err((refusal, needed)) => {
            let text = format!("{}\n", refusal.message(needed));
            match refusal {
                Refusal::Forbidden => (StatusCode::FORBIDDEN, text).into_response(),
                Refusal::Missing | Refusal::Unknown => {
                    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], text).into_response()
                }
            }
        }
    }
}

impl<S> tower::Layer<S> for Guarded {
    type Service = GuardedGrpc<S>;

    fn layer(&self, inner: S) -> GuardedGrpc<S> {
        GuardedGrpc { guarded: self.clone(), inner }
    }
}

/// A gRPC service behind a [`Guarded`].
#[derive(Clone)]
pub struct GuardedGrpc<S> {
    guarded: Guarded,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for GuardedGrpc<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<http::Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match self.guarded.check(&request) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err((refusal, needed)) => {
                let status = match refusal {
                    Refusal::Forbidden => tonic::Status::permission_denied(refusal.message(needed)),
                    Refusal::Missing | Refusal::Unknown => tonic::Status::unauthenticated(refusal.message(needed)),
                };
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}
