//! `bind` with a cluster (`[scheduler.kubernetes] bind = true`): the pod is first checked
//! against the API server, then the extender reserves its room in the model as without a
//! cluster ([`Extender::bind`]) and posts the pod's Binding
//! (`POST /api/v1/namespaces/{ns}/pods/{name}/binding`), the body kube-scheduler's default
//! binder sends, with the pod's UID as its precondition.
//!
//! ## What is refused, and never reaches the model or the API
//!
//! A bind call is a request to move a pod onto a node, and anyone who can reach the port can
//! send one; it is carried out only for a pod kube-scheduler could have sent it for
//! ([`check`]):
//! - an empty `PodUID` (kube-scheduler always sends one; without it the Binding would bind
//!   whatever pod has that name now);
//! - a pod the API server does not have (`GET …/pods/{name}` answers 404);
//! - a pod whose UID is not `PodUID` (deleted and recreated under the same name);
//! - a pod being deleted (`metadata.deletionTimestamp`);
//! - a pod bound to another node already;
//! - a pod whose `spec.schedulerName` is not one of `scheduler_names` (another scheduler's).
//!
//! A pod already bound to the asked node is answered as bound (kube-scheduler retries) and
//! not posted again. When the API refuses the Binding (it was bound or recreated in between:
//! the UID precondition and the server's own "already assigned" check catch both) the
//! reservation is rolled back and the refusal is the answer's `Error`. Every refusal is
//! counted in `ironspider_scheduler_bind_refusals_total{reason}` (reasons:
//! [`BindError::reason`]).

use crate::extender::{Extender, key};
use crate::protocol::{ExtenderBindingArgs, ExtenderBindingResult};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::core::Status;
use prometheus::{IntCounterVec, Opts, Registry};

/// The scheduler name the API server gives a pod that names none.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";

/// Posts Bindings for checked pods.
#[derive(Clone)]
pub struct Binder {
    client: kube::Client,
    scheduler_names: Vec<String>,
    refusals: IntCounterVec,
}

impl std::fmt::Debug for Binder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binder").field("scheduler_names", &self.scheduler_names).finish_non_exhaustive()
    }
}

/// The Binding of a bind call: the pod (namespace, name, UID: the API server's precondition)
/// and the target Node.
pub fn binding(args: &ExtenderBindingArgs) -> Binding {
    let set = |value: &str| Some(value.to_string()).filter(|v| !v.is_empty());
    Binding {
        metadata: ObjectMeta {
            name: set(&args.pod_name),
            namespace: set(&args.pod_namespace),
            uid: set(&args.pod_uid),
            ..ObjectMeta::default()
        },
        target: ObjectReference { kind: Some("Node".into()), name: set(&args.node), ..ObjectReference::default() },
    }
}

/// What the API server's copy of the pod says about a bind of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Pending, unbound, ours: bind it.
    Bindable,
    /// Bound to the asked node already: answer as bound, post nothing.
    AlreadyThere,
}

/// Checks a bind call against the pod as the API server has it (`None`: it has none), for a
/// binder serving pods of `scheduler_names` (module doc).
pub fn check(args: &ExtenderBindingArgs, pod: Option<&Pod>, scheduler_names: &[String]) -> Result<Checked, BindError> {
    let name = pod_name(args);
    let Some(pod) = pod else { return Err(BindError::NotFound { pod: name }) };
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    if uid != args.pod_uid {
        return Err(BindError::UidMismatch { pod: name, asked: args.pod_uid.clone(), found: uid.to_string() });
    }
    if pod.metadata.deletion_timestamp.is_some() {
        return Err(BindError::Terminating { pod: name });
    }
    let spec = pod.spec.as_ref();
    match spec.and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty()) {
        Some(node) if node == args.node => return Ok(Checked::AlreadyThere),
        Some(node) => return Err(BindError::BoundElsewhere { pod: name, node: node.to_string() }),
        None => {}
    }
    let scheduler = spec.and_then(|s| s.scheduler_name.as_deref()).unwrap_or(DEFAULT_SCHEDULER);
    if !scheduler_names.iter().any(|ours| ours == scheduler) {
        return Err(BindError::OtherScheduler { pod: name, scheduler: scheduler.to_string() });
    }
    Ok(Checked::Bindable)
}

fn namespace(args: &ExtenderBindingArgs) -> &str {
    if args.pod_namespace.is_empty() { "default" } else { &args.pod_namespace }
}

fn pod_name(args: &ExtenderBindingArgs) -> String {
    format!("{}/{}", namespace(args), args.pod_name)
}

impl Binder {
    /// A binder posting through `client` for pods of `scheduler_names`, counting its
    /// refusals in `registry`.
    pub fn new(client: kube::Client, scheduler_names: Vec<String>, registry: &Registry) -> prometheus::Result<Self> {
        let opts = Opts::new(
            "ironspider_scheduler_bind_refusals_total",
            "Bind calls refused, by reason (no_uid, not_found, uid_mismatch, terminating, bound_elsewhere, \
             other_scheduler, no_room, api_refused, api_error)",
        );
        let refusals = IntCounterVec::new(opts, &["reason"])?;
        registry.register(Box::new(refusals.clone()))?;
        Ok(Self { client, scheduler_names, refusals })
    }

    /// `bind`: check the pod, reserve in the model, post the Binding, roll back when it is
    /// refused.
    pub async fn bind(&self, extender: &Extender, args: &ExtenderBindingArgs) -> ExtenderBindingResult {
        match self.checked_bind(extender, args).await {
            Ok(()) => ExtenderBindingResult::default(),
            Err(refusal) => {
                self.refusals.with_label_values(&[refusal.reason()]).inc();
                tracing::warn!(pod = %pod_name(args), node = %args.node, %refusal, "bind refused");
                ExtenderBindingResult { error: refusal.to_string() }
            }
        }
    }

    async fn checked_bind(&self, extender: &Extender, args: &ExtenderBindingArgs) -> Result<(), BindError> {
        if args.pod_uid.is_empty() || args.pod_name.is_empty() || args.node.is_empty() {
            return Err(BindError::Incomplete { pod: pod_name(args), node: args.node.clone() });
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace(args));
        let found = pods.get_opt(&args.pod_name).await.map_err(|error| BindError::Request {
            pod: pod_name(args),
            node: args.node.clone(),
            error,
        })?;
        let checked = check(args, found.as_ref(), &self.scheduler_names)?;
        let reserved = extender.bind(args);
        if !reserved.error.is_empty() {
            return Err(BindError::Model { pod: pod_name(args), error: reserved.error });
        }
        if checked == Checked::AlreadyThere {
            return Ok(());
        }
        self.post(&pods, args).await.inspect_err(|_| {
            extender.model().unbind(&key(&args.pod_uid, &args.pod_namespace, &args.pod_name), &args.node);
        })
    }

    /// Posts the Binding.
    async fn post(&self, pods: &Api<Pod>, args: &ExtenderBindingArgs) -> Result<(), BindError> {
        let body = binding(args);
        let (pod, node) = (pod_name(args), args.node.clone());
        match pods.create_subresource::<_, Status>("binding", &args.pod_name, &PostParams::default(), &body).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) => {
                Err(BindError::Refused { pod, node, code: status.code, reason: status.reason, message: status.message })
            }
            Err(error) => Err(BindError::Request { pod, node, error }),
        }
    }
}

/// Why a Binding was not made; its text is the bind call's error.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// No `PodUID`, pod name or node in the call.
    #[error("bind of pod {pod} to node {node:?} refused: PodUID, PodName and Node are all required")]
    Incomplete {
        /// `namespace/name`.
        pod: String,
        /// The target node.
        node: String,
    },
    /// The API server has no such pod.
    #[error("bind refused: pod {pod} does not exist")]
    NotFound {
        /// `namespace/name`.
        pod: String,
    },
    /// The pod of that name has another UID.
    #[error("bind refused: pod {pod} has UID {found:?}, not {asked:?}")]
    UidMismatch {
        /// `namespace/name`.
        pod: String,
        /// The call's `PodUID`.
        asked: String,
        /// The pod's.
        found: String,
    },
    /// The pod is being deleted.
    #[error("bind refused: pod {pod} is being deleted")]
    Terminating {
        /// `namespace/name`.
        pod: String,
    },
    /// The pod is bound to another node.
    #[error("bind refused: pod {pod} is already bound to node {node}")]
    BoundElsewhere {
        /// `namespace/name`.
        pod: String,
        /// Where it is.
        node: String,
    },
    /// Another scheduler owns the pod.
    #[error("bind refused: pod {pod} names scheduler {scheduler:?}, not one this extender serves")]
    OtherScheduler {
        /// `namespace/name`.
        pod: String,
        /// Its `spec.schedulerName`.
        scheduler: String,
    },
    /// The model has no room for it there (its answer, as without a cluster).
    #[error("{error}")]
    Model {
        /// `namespace/name`.
        pod: String,
        /// The model's refusal.
        error: String,
    },
    /// The API server answered the Binding with a refusal.
    #[error("binding pod {pod} to node {node} refused by the API server: {code} {reason}: {message}")]
    Refused {
        /// `namespace/name`.
        pod: String,
        /// The target node.
        node: String,
        /// HTTP status.
        code: u16,
        /// The Status reason.
        reason: String,
        /// The Status message.
        message: String,
    },
    /// A request failed before an answer.
    #[error("binding pod {pod} to node {node}: {error}")]
    Request {
        /// `namespace/name`.
        pod: String,
        /// The target node.
        node: String,
        /// What failed (named in the message, so not a `source()`).
        error: kube::Error,
    },
}

impl BindError {
    /// The `reason` label it is counted under.
    pub fn reason(&self) -> &'static str {
        match self {
            BindError::Incomplete { .. } => "no_uid",
            BindError::NotFound { .. } => "not_found",
            BindError::UidMismatch { .. } => "uid_mismatch",
            BindError::Terminating { .. } => "terminating",
            BindError::BoundElsewhere { .. } => "bound_elsewhere",
            BindError::OtherScheduler { .. } => "other_scheduler",
            BindError::Model { .. } => "no_room",
            BindError::Refused { .. } => "api_refused",
            BindError::Request { .. } => "api_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(uid: &str, node: &str) -> ExtenderBindingArgs {
        ExtenderBindingArgs { pod_name: "p".into(), pod_namespace: "ns".into(), pod_uid: uid.into(), node: node.into() }
    }

    fn pod(uid: &str, node: Option<&str>, scheduler: Option<&str>, deleting: bool) -> Pod {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": uid},
            "spec": {"containers": [{"name": "c"}]}
        }))
        .unwrap();
        let spec = pod.spec.as_mut().unwrap();
        spec.node_name = node.map(str::to_string);
        spec.scheduler_name = scheduler.map(str::to_string);
        if deleting {
            pod.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        }
        pod
    }

    #[test]
    fn only_an_unbound_pod_of_ours_with_the_asked_uid_is_bindable() {
        let ours = ["ironspider".to_string()];
        let ok = pod("u1", None, Some("ironspider"), false);
        assert_eq!(check(&args("u1", "n1"), Some(&ok), &ours).unwrap(), Checked::Bindable);
        let there = pod("u1", Some("n1"), Some("ironspider"), false);
        assert_eq!(check(&args("u1", "n1"), Some(&there), &ours).unwrap(), Checked::AlreadyThere);
        let refused = |pod: Option<&Pod>| check(&args("u1", "n1"), pod, &ours).unwrap_err().reason();
        assert_eq!(refused(None), "not_found");
        assert_eq!(refused(Some(&pod("u2", None, Some("ironspider"), false))), "uid_mismatch");
        assert_eq!(refused(Some(&pod("u1", None, Some("ironspider"), true))), "terminating");
        assert_eq!(refused(Some(&pod("u1", Some("n2"), Some("ironspider"), false))), "bound_elsewhere");
        assert_eq!(refused(Some(&pod("u1", None, None, false))), "other_scheduler");
        let default = [DEFAULT_SCHEDULER.to_string()];
        assert_eq!(check(&args("u1", "n1"), Some(&pod("u1", None, None, false)), &default).unwrap(), Checked::Bindable);
        let message = check(&args("u1", "n1"), Some(&pod("u1", Some("n2"), None, false)), &ours).unwrap_err();
        assert_eq!(message.to_string(), "bind refused: pod ns/p is already bound to node n2");
    }
}
