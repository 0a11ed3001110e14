//! Rebalancing for real (`[scheduler.kubernetes] evict = true`, or `serve --evict`): each new
//! plan's moves, and only those (the rebalancer's limits and cooldowns made them), are
//! carried out once through the Eviction API (`POST /api/v1/namespaces/{ns}/pods/{name}/eviction`
//! with a `policy/v1` Eviction), so PodDisruptionBudgets are honoured. A pod's controller
//! recreates it and the extender places the new pod.
//!
//! A move names its pod as telemetry reported it (`k8s.namespace.name`, `k8s.pod.name`), and
//! telemetry can be forged, so each victim is checked before its Eviction is posted: its
//! namespace must be one of `evict_namespaces`, and the API server's copy of the pod must
//! exist and run on the node the move takes it from. The Eviction carries that copy's UID as
//! its precondition, so a pod recreated under the same name in between is not the one evicted.
//!
//! Outcomes, counted in `ironspider_rebalance_evictions_total{outcome}`:
//! - `evicted` (200/201): the move's cooldown starts ([`LiveRebalancer::executed`]);
//! - `refused`: the checks above failed; nothing was posted;
//! - `blocked` (429: a PodDisruptionBudget allows no disruption now): reported and skipped;
//!   nothing retries it within the cycle, and a later plan may propose it again;
//! - `gone` (404: the pod left already);
//! - `failed`: any other refusal or transport error, logged.

use crate::kubernetes::split_pod;
use crate::live_rebalance::LiveRebalancer;
use crate::rebalance::Move;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::Eviction;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{DeleteOptions, ObjectMeta, Preconditions};
use kube::api::{Api, PostParams};
use kube::core::Status;
use prometheus::{IntCounterVec, Opts, Registry};

/// What became of one eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The API accepted it.
    Evicted,
    /// The victim failed a check (module doc), in words; nothing was posted.
    Refused(String),
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
            Outcome::Refused(_) => "refused",
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
    namespaces: Vec<String>,
    outcomes: IntCounterVec,
}

impl std::fmt::Debug for Evictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evictor").finish_non_exhaustive()
    }
}

/// The Eviction of pod `name` in `namespace`, if its UID is still `uid`.
pub fn eviction(namespace: &str, name: &str, uid: &str) -> Eviction {
    let metadata =
        ObjectMeta { name: Some(name.to_string()), namespace: Some(namespace.to_string()), ..ObjectMeta::default() };
    let preconditions = Preconditions { uid: Some(uid.to_string()), resource_version: None };
    Eviction {
        metadata,
        delete_options: Some(DeleteOptions { preconditions: Some(preconditions), ..Default::default() }),
    }
}

/// The refusal of a victim in `namespace` when it is not one of `namespaces`: checked
/// before the API server is asked for the pod.
pub fn refuse_namespace(namespace: &str, namespaces: &[String]) -> Option<Outcome> {
    let allowed = namespaces.iter().any(|allowed| allowed == namespace);
    (!allowed).then(|| Outcome::Refused(format!("namespace {namespace} is not in evict_namespaces")))
}

/// Checks a planned move's victim (of an allowed namespace, [`refuse_namespace`]) against
/// the API server's copy of it (`None`: there is none); returns the UID to evict, or the
/// outcome without one.
pub fn check(planned: &Move, pod: Option<&Pod>) -> Result<String, Outcome> {
    let Some(pod) = pod else { return Err(Outcome::Gone) };
    let node = pod.spec.as_ref().and_then(|spec| spec.node_name.as_deref()).unwrap_or_default();
    if node != planned.from {
        return Err(Outcome::Refused(format!("the pod runs on node {node:?}, not on {:?}", planned.from)));
    }
    match pod.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => Ok(uid.to_string()),
        _ => Err(Outcome::Refused("the pod has no UID".to_string())),
    }
}

impl Evictor {
    /// An evictor posting through `client` for pods of `namespaces`, registering its counter
    /// in `registry`.
    pub fn new(client: kube::Client, namespaces: Vec<String>, registry: &Registry) -> prometheus::Result<Self> {
        let opts = Opts::new(
            "ironspider_rebalance_evictions_total",
            "Rebalance evictions through the Eviction API, by outcome (evicted, refused, blocked, gone, failed)",
        );
        let outcomes = IntCounterVec::new(opts, &["outcome"])?;
        registry.register(Box::new(outcomes.clone()))?;
        Ok(Self { client, namespaces, outcomes })
    }

    /// Evicts `planned`'s pod, once, if it passes the checks (module doc).
    pub async fn evict(&self, planned: &Move) -> Outcome {
        let outcome = self.checked_evict(planned).await;
        self.outcomes.with_label_values(&[outcome.label()]).inc();
        outcome
    }

    async fn checked_evict(&self, planned: &Move) -> Outcome {
        let (namespace, name) = split_pod(&planned.pod);
        if let Some(refused) = refuse_namespace(namespace, &self.namespaces) {
            return refused;
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let found = match pods.get_opt(name).await {
            Ok(found) => found,
            Err(error) => return Outcome::Failed(error.to_string()),
        };
        let uid = match check(planned, found.as_ref()) {
            Ok(uid) => uid,
            Err(outcome) => return outcome,
        };
        let body = eviction(namespace, name, &uid);
        match pods.create_subresource::<_, Status>("eviction", name, &PostParams::default(), &body).await {
            Ok(_) => Outcome::Evicted,
            Err(kube::Error::Api(status)) if status.code == 429 => Outcome::Blocked(status.message),
            Err(kube::Error::Api(status)) if status.code == 404 => Outcome::Gone,
            Err(kube::Error::Api(status)) => {
                Outcome::Failed(format!("{} {}: {}", status.code, status.reason, status.message))
            }
            Err(error) => Outcome::Failed(error.to_string()),
        }
    }

    /// Carries out `moves`, in order, each once; returns every move with its outcome.
    pub async fn execute(&self, moves: &[Move]) -> Vec<(Move, Outcome)> {
        let mut done = Vec::with_capacity(moves.len());
        for planned in moves {
            let outcome = self.evict(planned).await;
            match &outcome {
                Outcome::Evicted => {
                    tracing::info!(pod = %planned.pod, from = %planned.from, to = %planned.to, "evicted")
                }
                Outcome::Blocked(why) => {
                    tracing::warn!(pod = %planned.pod, %why, "eviction blocked by a PodDisruptionBudget; skipped")
                }
                Outcome::Gone => tracing::info!(pod = %planned.pod, "pod gone before its eviction"),
                Outcome::Refused(why) => tracing::warn!(pod = %planned.pod, %why, "eviction refused"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(pod: &str, from: &str) -> Move {
        Move { pod: pod.into(), from: from.into(), to: "cool".into(), ..Move::default() }
    }

    fn pod(uid: &str, node: Option<&str>) -> Pod {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "a", "namespace": "default", "uid": uid}, "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap();
        pod.spec.as_mut().unwrap().node_name = node.map(str::to_string);
        pod
    }

    #[test]
    fn only_a_pod_of_an_allowed_namespace_running_where_the_plan_says_is_evicted() {
        let allowed = ["default".to_string()];
        let running = pod("u1", Some("hot-1"));
        assert_eq!(check(&planned("default/a", "hot-1"), Some(&running)), Ok("u1".to_string()));
        assert_eq!(check(&planned("default/a", "hot-1"), None), Err(Outcome::Gone));
        let elsewhere = check(&planned("default/a", "hot-2"), Some(&running)).unwrap_err();
        assert_eq!(elsewhere, Outcome::Refused("the pod runs on node \"hot-1\", not on \"hot-2\"".into()));
        let pending = check(&planned("default/a", "hot-1"), Some(&pod("u1", None))).unwrap_err();
        assert_eq!(pending.label(), "refused");
        assert_eq!(refuse_namespace("default", &allowed), None);
        let system = refuse_namespace("kube-system", &allowed).unwrap();
        assert_eq!(system, Outcome::Refused("namespace kube-system is not in evict_namespaces".into()));
        let body = serde_json::to_value(eviction("default", "a", "u1")).unwrap();
        assert_eq!(body["deleteOptions"]["preconditions"], serde_json::json!({"uid": "u1"}));
    }
}
