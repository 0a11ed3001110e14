//! `bind` with a cluster (`[scheduler.kubernetes] bind = true`): the extender reserves the
//! pod's room in the model as without a cluster ([`Extender::bind`]), then posts the pod's
//! Binding (`POST /api/v1/namespaces/{ns}/pods/{name}/binding`), the body kube-scheduler's
//! default binder sends. When the API refuses it the reservation is rolled back and the
//! refusal is the answer's `Error` (kube-scheduler then retries the pod; an ignorable
//! extender's error falls through to the default binder). A pod the model already holds on
//! that node (bound by an earlier call, or seen bound by the watch) is not posted again.

use crate::extender::{Extender, key};
use crate::protocol::{ExtenderBindingArgs, ExtenderBindingResult};
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::core::Status;

/// Posts Bindings.
#[derive(Clone)]
pub struct Binder {
    client: kube::Client,
}

impl std::fmt::Debug for Binder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binder").finish_non_exhaustive()
    }
}

/// The Binding of a bind call: the pod (namespace, name, UID) and the target Node.
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

impl Binder {
    /// A binder posting through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    /// `bind`: reserve in the model, post the Binding, roll back when it is refused.
    pub async fn bind(&self, extender: &Extender, args: &ExtenderBindingArgs) -> ExtenderBindingResult {
        let uid = key(&args.pod_uid, &args.pod_namespace, &args.pod_name);
        let held_there = extender.model().placement(&uid).is_some_and(|p| p.node == args.node);
        let reserved = extender.bind(args);
        if !reserved.error.is_empty() || held_there {
            return reserved;
        }
        match self.post(args).await {
            Ok(()) => reserved,
            Err(refusal) => {
                extender.model().unbind(&uid, &args.node);
                tracing::warn!(pod = %format!("{}/{}", args.pod_namespace, args.pod_name), node = %args.node, %refusal, "Binding refused");
                ExtenderBindingResult { error: refusal.to_string() }
            }
        }
    }

    /// Posts the Binding.
    async fn post(&self, args: &ExtenderBindingArgs) -> Result<(), BindError> {
        let namespace = if args.pod_namespace.is_empty() { "default" } else { &args.pod_namespace };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let body = binding(args);
        let pod = format!("{namespace}/{}", args.pod_name);
        let node = args.node.clone();
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
    /// The API server answered with a refusal.
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
    /// The request failed before an answer.
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
