//! Rebalancing for real (`[scheduler.kubernetes] evict = true`, or `serve --evict`): each new
//! plan's moves, and only those (the rebalancer's limits and cooldowns made them), are
//! carried out once through the Eviction API (`POST /api/v1/namespaces/{ns}/pods/{name}/eviction`
//! with a `policy/v1` Eviction), so PodDisruptionBudgets are honoured. A pod's controller
//! recreates it and the extender places the new pod.
//!
//! Outcomes, counted in `ironspider_rebalance_evictions_total{outcome}`:
//! - `evicted` (200/201): the move's cooldown starts ([`LiveRebalancer::executed`]);
//! - `blocked` (429: a PodDisruptionBudget allows no disruption now): reported and skipped;
//!   nothing retries it within the cycle, and a later plan may propose it again;
//! - `gone` (404: the pod left already);
//! - `failed`: any other refusal or transport error, logged.

use crate::kubernetes::split_pod;
use crate::live_rebalance::LiveRebalancer;
use crate::rebalance::Move;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::core::Status;
use prometheus::{IntCounterVec, Opts, Registry};

/// What became of one eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The API accepted it.
    Evicted,
    /// A PodDisruptionBudget refused it (429), with the API's message.
    Blocked(String),
    /// The pod no longer exists (404).
    Gone,
    /// Any other failure, in words.
    Failed(String),
}

impl Outcome {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Evicted => "evicted",
            Outcome::Blocked(_) => "blocked",
            Outcome::Gone => "gone",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Evicts pods and counts the outcomes.
#[derive(Clone)]
pub struct Evictor {
    client: kube::Client,
    outcomes: IntCounterVec,
}

impl std::fmt::Debug for Evictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evictor").finish_non_exhaustive()
    }
}

/// The Eviction of pod `name` in `namespace`.
pub fn eviction(namespace: &str, name: &str) -> Eviction {
    let metadata =
        ObjectMeta { name: Some(name.to_string()), namespace: Some(namespace.to_string()), ..ObjectMeta::default() };
    Eviction { metadata, delete_options: None }
}

impl Evictor {
    /// An evictor posting through `client`, registering its counter in `registry`.
    pub fn new(client: kube::Client, registry: &Registry) -> prometheus::Result<Self> {
        let opts = Opts::new(
            "ironspider_rebalance_evictions_total",
            "Rebalance evictions requested through the Eviction API, by outcome (evicted, blocked, gone, failed)",
        );
        let outcomes = IntCounterVec::new(opts, &["outcome"])?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Self { client, outcomes })
    }

    /// Evicts pod `pod` (`namespace/name`), once.
    pub async fn evict(&self, pod: &str) -> Outcome {
        let (namespace, name) = split_pod(pod);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let body = eviction(namespace, name);
        let outcome = match pods.create_subresource::<_, Status>("eviction", name, &PostParams::default(), &body).await
        {
            Ok(_) => Outcome::Evicted,
            Err(kube::Error::Api(status)) if status.code == 429 => Outcome::Blocked(status.message),
            Err(kube::Error::Api(status)) if status.code == 404 => Outcome::Gone,
            Err(kube::Error::Api(status)) => {
                Outcome::Failed(format!("{} {}: {}", status.code, status.reason, status.message))
            }
            Err(error) => Outcome::Failed(error.to_string()),
        };
        self.outcomes.with_label_values(&[outcome.label()]).inc();
        outcome
    }

    /// Carries out `moves`, in order, each once; returns every move with its outcome.
    pub async fn execute(&self, moves: &[Move]) -> Vec<(Move, Outcome)> {
        let mut done = Vec::with_capacity(moves.len());
        for planned in moves {
            let outcome = self.evict(&planned.pod).await;
            match &outcome {
                Outcome::Evicted => {
                    tracing::info!(pod = %planned.pod, from = %planned.from, to = %planned.to, "evicted")
                }
                Outcome::Blocked(why) => {
                    tracing::warn!(pod = %planned.pod, %why, "eviction blocked by a PodDisruptionBudget; skipped")
                }
                Outcome::Gone => tracing::info!(pod = %planned.pod, "pod gone before its eviction"),
                Outcome::Failed(why) => tracing::warn!(pod = %planned.pod, %why, "eviction failed"),
            }
            done.push((planned.clone(), outcome));
        }
        done
    }

    /// Carries out `rebalancer`'s newest plan unless it was carried out already, and starts
    /// the cooldowns of the pods evicted. Returns the outcomes (empty when there was nothing
    /// new).
    pub async fn carry_out(&self, rebalancer: &LiveRebalancer) -> Vec<(Move, Outcome)> {
        let Some(plan) = rebalancer.unexecuted() else { return Vec::new() };
        let done = self.execute(&plan.moves).await;
        let evicted: Vec<Move> =
            done.iter().filter(|(_, outcome)| *outcome == Outcome::Evicted).map(|(m, _)| m.clone()).collect();
        rebalancer.executed(plan.window_end, &evicted);
        done
    }
}
