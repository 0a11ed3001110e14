//! The watch of Nodes and Pods that feeds the cluster model: per kind, a list (whose items
//! replace what the model knew of that kind) followed by a watch from the list's
//! `resourceVersion`. A watch that ends (the server's timeout) is resumed from the last
//! version seen; one the server answers with `410 Gone` (the version is too old) starts
//! over with a list, so the model converges after any gap. Errors are logged and retried
//! after a pause. [`Watches::listed`] turns true once every kind's first list is in the
//! model: until then the model does not know the cluster's pods, and `serve` is not ready
//! (a bind checked against an empty model could give a GPU that a running pod holds).
//!
//! What the model takes from each object is in [`kube_node`] and [`bound_pod`].

use crate::extender::{Extender, pod_key};
use crate::model::{BoundPod, ClusterModel, KubeNode};
use crate::quantity;
use crate::request::{self, GPU_PRODUCT_LABEL};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Seconds a watch request lasts before the server ends it (and it is resumed).
const WATCH_SECONDS: u32 = 290;

/// The pause before retrying after an error.
const RETRY: Duration = Duration::from_secs(2);

/// What a watch does with one kind of object.
pub trait Mirror<K>: Send + Sync + 'static {
    /// An object was added or changed.
    fn apply(&self, object: &K);
    /// An object was deleted.
    fn delete(&self, object: &K);
    /// A full list: what is not in it is gone.
    fn relist(&self, objects: &[K]);
}

/// The cluster model as the watches' target.
#[derive(Debug, Clone)]
pub struct Feed(pub Arc<Extender>);

impl Feed {
    fn model(&self) -> &ClusterModel {
        self.0.model()
    }
}

/// The model's view of a Node: allocatable CPU, memory and `nvidia.com/gpu` (capacity where
/// allocatable lacks one) and the `nvidia.com/gpu.product` label.
pub fn kube_node(node: &Node) -> KubeNode {
    let status = node.status.as_ref();
    let allocatable = status.and_then(|s| s.allocatable.as_ref());
    let capacity = status.and_then(|s| s.capacity.as_ref());
    let amount = |name: &str| {
        let of = |list: Option<&BTreeMap<String, Quantity>>| list.and_then(|l| l.get(name)).cloned();
        of(allocatable).or_else(|| of(capacity)).and_then(|q| quantity::parse(&q.0))
    };
    let labels = node.metadata.labels.as_ref();
    KubeNode {
        vcpus: amount("cpu"),
        memory_bytes: amount("memory"),
        gpus: amount("nvidia.com/gpu").map_or(0, |n| n.max(0.0) as u32),
        gpu_model: labels.and_then(|l| l.get(GPU_PRODUCT_LABEL)).cloned(),
    }
}

/// Whether the pod has finished (phase `Succeeded` or `Failed`): it holds nothing any more.
pub fn finished(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The pod as the model holds it when it is bound to a node (`spec.nodeName`) and has not
/// finished; `None` otherwise.
pub fn bound_pod(pod: &Pod) -> Option<BoundPod> {
    let node = pod.spec.as_ref()?.node_name.clone().filter(|n| !n.is_empty())?;
    if finished(pod) {
        return None;
    }
    Some(BoundPod {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        node,
        request: request::of(pod),
    })
}

impl Mirror<Node> for Feed {
    fn apply(&self, node: &Node) {
        if let Some(name) = &node.metadata.name {
            self.model().observe_node(name, kube_node(node));
        }
    }

    fn delete(&self, node: &Node) {
        if let Some(name) = &node.metadata.name {
            self.model().forget_node(name);
        }
    }

    fn relist(&self, nodes: &[Node]) {
        nodes.iter().for_each(|node| self.apply(node));
        self.model().retain_nodes(&nodes.iter().filter_map(|n| n.metadata.name.clone()).collect());
    }
}

impl Mirror<Pod> for Feed {
    fn apply(&self, pod: &Pod) {
        match bound_pod(pod) {
            Some(bound) => self.model().observe_pod(&pod_key(pod), bound),
            None if finished(pod) => {
                self.model().forget_pod(&pod_key(pod));
            }
            // Pending: it holds nothing yet (a bind here may have reserved room for it).
            None => {}
        }
    }

    fn delete(&self, pod: &Pod) {
        self.model().forget_pod(&pod_key(pod));
    }

    fn relist(&self, pods: &[Pod]) {
        pods.iter().for_each(|pod| self.apply(pod));
        let bound: HashSet<String> = pods.iter().filter(|p| bound_pod(p).is_some()).map(pod_key).collect();
        self.model().retain_pods(&bound);
    }
}

/// What to do after a watch request ends.
enum Next {
    /// It ended normally: watch again from the last version seen.
    Rewatch,
    /// The version is gone (410): list again.
    Relist,
    /// It failed: pause, then watch again from the last version seen.
    Retry,
}

/// Counts the kinds whose first list is in the model; says so once all are.
#[derive(Debug)]
pub struct FirstLists {
    listed: std::sync::atomic::AtomicUsize,
    kinds: usize,
    all: tokio::sync::watch::Sender<bool>,
}

impl FirstLists {
    /// For `kinds` kinds of object.
    pub fn new(kinds: usize) -> Arc<Self> {
        Arc::new(Self { listed: 0.into(), kinds, all: tokio::sync::watch::Sender::new(kinds == 0) })
    }

    fn one_listed(&self) {
        if self.listed.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1 == self.kinds {
            self.all.send_replace(true);
        }
    }

    /// True once every kind has been listed into the model.
    pub fn listed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.all.subscribe()
    }
}

/// Lists then watches `api` for ever, feeding `mirror` (see the module doc); counts its first
/// list in `first_lists`.
pub async fn mirror<K, M>(api: Api<K>, mirror: M, first_lists: Arc<FirstLists>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    M: Mirror<K>,
{
    let kind = K::kind(&()).to_string();
    let mut first = true;
    loop {
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(error) => {
                tracing::warn!(%kind, %error, "listing failed; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        mirror.relist(&list.items);
        if std::mem::take(&mut first) {
            first_lists.one_listed();
        }
        let mut version = list.metadata.resource_version.unwrap_or_default();
        tracing::info!(%kind, objects = list.items.len(), %version, "listed; watching");
        loop {
            match follow(&api, &mirror, &kind, &mut version).await {
                Next::Rewatch => {}
                Next::Relist => break,
                Next::Retry => tokio::time::sleep(RETRY).await,
            }
        }
        tracing::info!(%kind, "resource version too old; listing again");
    }
}

/// One watch request from `version`, applying its events; `version` follows them.
async fn follow<K, M>(api: &Api<K>, mirror: &M, kind: &str, version: &mut String) -> Next
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    M: Mirror<K>,
{
    let params = WatchParams::default().timeout(WATCH_SECONDS);
    let events = match api.watch(&params, version).await {
        Ok(events) => events,
        Err(kube::Error::Api(status)) if status.code == 410 => return Next::Relist,
        Err(error) => {
            tracing::warn!(%kind, %error, "watch failed; retrying");
            return Next::Retry;
        }
    };
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(WatchEvent::Added(object) | WatchEvent::Modified(object)) => {
                advance(version, &object);
                mirror.apply(&object);
            }
            Ok(WatchEvent::Deleted(object)) => {
                advance(version, &object);
                mirror.delete(&object);
            }
            Ok(WatchEvent::Bookmark(bookmark)) => *version = bookmark.metadata.resource_version,
            Ok(WatchEvent::Error(status)) if status.code == 410 => return Next::Relist,
            Ok(WatchEvent::Error(status)) => {
                tracing::warn!(%kind, code = status.code, message = %status.message, "watch error; retrying");
                return Next::Retry;
            }
            Err(error) => {
                tracing::warn!(%kind, %error, "watch stream failed; retrying");
                return Next::Retry;
            }
        }
    }
    Next::Rewatch
}

/// Moves `version` to `object`'s.
fn advance<K: Resource>(version: &mut String, object: &K) {
    if let Some(seen) = &object.meta().resource_version {
        version.clone_from(seen);
    }
}

/// The running watches; dropping it stops them.
#[derive(Debug)]
pub struct Watches {
    tasks: Vec<JoinHandle<()>>,
    first_lists: Arc<FirstLists>,
}

impl Watches {
    /// True once the first lists of Nodes and Pods are in the model (module doc).
    pub fn listed(&self) -> tokio::sync::watch::Receiver<bool> {
        self.first_lists.listed()
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

/// Starts watching every Node and every Pod (all namespaces) into `extender`'s model.
pub fn spawn(client: Client, extender: Arc<Extender>) -> Watches {
    let feed = Feed(extender);
    let first_lists = FirstLists::new(2);
    let nodes = tokio::spawn(mirror(Api::<Node>::all(client.clone()), feed.clone(), Arc::clone(&first_lists)));
    let pods = tokio::spawn(mirror(Api::<Pod>::all(client), feed, Arc::clone(&first_lists)));
    Watches { tasks: vec![nodes, pods], first_lists }
}
