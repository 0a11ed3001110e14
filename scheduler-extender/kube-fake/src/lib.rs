//! # ironspider-kube-fake
//!
//! A protocol fake of the Kubernetes API server (a dev-only crate: the scheduler crate's
//! tests and the binary's share it), for exactly the endpoints the extender uses
//! (no real kube-apiserver can run on the machine these tests run on):
//!
//! - `GET /api/v1/{nodes,pods}`: a list with the store's `resourceVersion`;
//! - `GET /api/v1/{nodes,pods}?watch=true&resourceVersion=V`: newline-delimited watch events
//!   (`ADDED`, `MODIFIED`, `DELETED`) newer than V, then live ones; a V older than the
//!   compacted version gets an `ERROR` event with a `410 Expired` Status, as the real server
//!   answers;
//! - `GET /api/v1/namespaces/{ns}/pods/{name}`: the pod, or a 404 Status;
//! - `POST /api/v1/namespaces/{ns}/pods/{name}/binding`: records the body and sets the pod's
//!   `spec.nodeName` (201), or answers the refusal it was told to; as the real server, 404 for
//!   a missing pod, 409 when the Binding's `metadata.uid` (its precondition) is not the pod's
//!   or the pod is assigned to a node already;
//! - `POST /api/v1/namespaces/{ns}/pods/{name}/eviction`: records the body and deletes the pod
//!   (201), or answers 429 for a pod a "PodDisruptionBudget" protects, 404 for a missing pod,
//!   409 when `deleteOptions.preconditions.uid` is not the pod's.
//!
//! Every object gets the store's next `resourceVersion` when it changes.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// The two kinds served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `/api/v1/nodes`.
    Node,
    /// `/api/v1/pods`.
    Pod,
}

impl Kind {
    fn list_kind(self) -> &'static str {
        match self {
            Kind::Node => "NodeList",
            Kind::Pod => "PodList",
        }
    }
}

#[derive(Debug, Clone)]
enum Message {
    /// A watch event line of this kind at this version.
    Event(Kind, String),
    /// Every open watch ends (the server dropped them).
    Kick,
}

#[derive(Debug, Default)]
struct Store {
    version: u64,
    /// Watches from a version below this get 410.
    compacted: u64,
    objects: BTreeMap<(Kind, String), Value>,
    history: Vec<(u64, Kind, String)>,
    bindings: Vec<Value>,
    evictions: Vec<Value>,
    refuse_bindings: Option<(u16, String)>,
    protected: HashSet<String>,
    lists: HashMap<Kind, usize>,
    authorizations: HashSet<String>,
}

/// The fake server, its address and a kubeconfig pointing at it.
pub struct FakeApi {
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<Message>,
    /// A kubeconfig file for the fake (token `fake-token`).
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<Mutex<Store>>,
    events: broadcast::Sender<Message>,
}

/// `namespace/name` of an object, or its name for a cluster-scoped one.
fn key_of(object: &Value) -> String {
    let meta = &object["metadata"];
    match meta["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_string(),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": if code < 300 { "Success" } else { "Failure" },
        "reason": reason, "message": message, "code": code});
    (StatusCode::from_u16(code).unwrap(), [("content-type", "application/json")], body.to_string()).into_response()
}

impl Store {
    /// Stores `object` at the next version and returns the watch event line.
    fn put(&mut self, kind: Kind, mut object: Value, kind_of_event: &str) -> (Kind, String) {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        let key = key_of(&object);
        let line = json!({"type": kind_of_event, "object": object}).to_string() + "\n";
        if kind_of_event == "DELETED" {
            self.objects.remove(&(kind, key));
        } else {
            self.objects.insert((kind, key), object);
        }
        self.history.push((self.version, kind, line.clone()));
        (kind, line)
    }
}

impl Shared {
    fn change(&self, kind: Kind, object: Value, deleted: bool) {
        let mut store = self.store.lock();
        let exists = store.objects.contains_key(&(kind, key_of(&object)));
        let event = match (deleted, exists) {
            (true, _) => "DELETED",
            (false, true) => "MODIFIED",
            (false, false) => "ADDED",
        };
        let (kind, line) = store.put(kind, object, event);
        let _ = self.events.send(Message::Event(kind, line));
    }
}

async fn list_or_watch(
    State(shared): State<Shared>,
    kind: Kind,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> Response {
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        shared.store.lock().authorizations.insert(auth.to_string());
    }
    let mut store = shared.store.lock();
    if query.get("watch").map(String::as_str) != Some("true") {
        *store.lists.entry(kind).or_default() += 1;
        let items: Vec<&Value> = store.objects.iter().filter(|((k, _), _)| *k == kind).map(|(_, v)| v).collect();
        let body = json!({"apiVersion": "v1", "kind": kind.list_kind(),
            "metadata": {"resourceVersion": store.version.to_string()}, "items": items});
        return ([("content-type", "application/json")], body.to_string()).into_response();
    }
    let from: u64 = query.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    if from < store.compacted {
        let expired = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "reason": "Expired", "code": 410,
            "message": format!("too old resource version: {from} ({})", store.compacted)}});
        return Body::from(expired.to_string() + "\n").into_response();
    }
    let past: Vec<String> =
        store.history.iter().filter(|(v, k, _)| *v > from && *k == kind).map(|(_, _, line)| line.clone()).collect();
    let live = shared.events.subscribe();
    drop(store);
    let live = futures_util::stream::unfold(live, move |mut live| async move {
        loop {
            match live.recv().await {
                Ok(Message::Event(event_kind, line)) if event_kind == kind => return Some((line, live)),
                Ok(Message::Event(..)) => continue,
                Ok(Message::Kick) | Err(_) => return None,
            }
        }
    });
    let lines = futures_util::stream::iter(past).chain(live).map(Ok::<_, std::convert::Infallible>);
    Body::from_stream(lines).into_response()
}

async fn get_pod(State(shared): State<Shared>, Path((ns, name)): Path<(String, String)>) -> Response {
    match shared.store.lock().objects.get(&(Kind::Pod, format!("{ns}/{name}"))) {
        Some(pod) => ([("content-type", "application/json")], pod.to_string()).into_response(),
        None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
    }
}

/// The real server's answer to a precondition `uid` (when one is given) that is not `pod`'s.
fn uid_precondition_failed(uid: &Value, pod: &Value) -> Option<Response> {
    let (asked, found) = (uid.as_str()?, pod["metadata"]["uid"].as_str().unwrap_or_default());
    let message = format!("Precondition failed: UID in precondition: {asked}, UID in object meta: {found}");
    (asked != found).then(|| status(409, "Conflict", &message))
}

async fn binding(State(shared): State<Shared>, Path((ns, name)): Path<(String, String)>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).expect("a JSON Binding");
    let key = format!("{ns}/{name}");
    let mut store = shared.store.lock();
    store.bindings.push(body.clone());
    if let Some((code, message)) = store.refuse_bindings.clone() {
        return status(code, "Conflict", &message);
    }
    let Some(mut pod) = store.objects.get(&(Kind::Pod, key)).cloned() else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    drop(store);
    if let Some(refusal) = uid_precondition_failed(&body["metadata"]["uid"], &pod) {
        return refusal;
    }
    if let Some(node) = pod["spec"]["nodeName"].as_str() {
        return status(409, "Conflict", &format!("pod {name} is already assigned to node \"{node}\""));
    }
    pod["spec"]["nodeName"] = body["target"]["name"].clone();
    shared.change(Kind::Pod, pod, false);
    status(201, "", "")
}

async fn eviction(State(shared): State<Shared>, Path((ns, name)): Path<(String, String)>, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).expect("a JSON Eviction");
    let key = format!("{ns}/{name}");
    let mut store = shared.store.lock();
    store.evictions.push(body.clone());
    if store.protected.contains(&key) {
        return status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.");
    }
    let Some(pod) = store.objects.get(&(Kind::Pod, key)).cloned() else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    drop(store);
    if let Some(refusal) = uid_precondition_failed(&body["deleteOptions"]["preconditions"]["uid"], &pod) {
        return refusal;
    }
    shared.change(Kind::Pod, pod, true);
    status(201, "", "")
}

impl FakeApi {
    /// Starts the fake on a free local port, with a kubeconfig pointing at it.
    pub async fn start() -> Self {
        let (events, _) = broadcast::channel(1024);
        let store = Arc::new(Mutex::new(Store::default()));
        let shared = Shared { store: Arc::clone(&store), events: events.clone() };
        let app = Router::new()
            .route("/api/v1/nodes", get(|s, h, Query(q)| async move { list_or_watch(s, Kind::Node, h, q).await }))
            .route("/api/v1/pods", get(|s, h, Query(q)| async move { list_or_watch(s, Kind::Pod, h, q).await }))
            .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
            .route("/api/v1/namespaces/{ns}/pods/{name}/binding", post(binding))
            .route("/api/v1/namespaces/{ns}/pods/{name}/eviction", post(eviction))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a local port");
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("fake API server");
        });
        let dir = tempfile::tempdir().expect("a temporary directory");
        let kubeconfig = dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\nusers:\n- name: tester\n  user:\n    token: fake-token\n"
        );
        std::fs::write(&kubeconfig, text).expect("kubeconfig written");
        Self { store, events, kubeconfig, _dir: dir, _server: server }
    }

    fn shared(&self) -> Shared {
        Shared { store: Arc::clone(&self.store), events: self.events.clone() }
    }

    /// Adds or replaces a node.
    pub fn put_node(&self, node: Value) {
        self.shared().change(Kind::Node, node, false);
    }

    /// Adds or replaces a pod.
    pub fn put_pod(&self, pod: Value) {
        self.shared().change(Kind::Pod, pod, false);
    }

    /// Deletes pod `ns/name` (a `DELETED` event).
    pub fn delete_pod(&self, key: &str) {
        let pod = self.pod(key).expect("the pod exists");
        self.shared().change(Kind::Pod, pod, true);
    }

    /// Deletes pod `ns/name` while no watch can see it: the history is compacted past the
    /// deletion and every open watch ends, so resuming watches get `410 Gone`.
    pub fn delete_pod_unseen(&self, key: &str) {
        let mut store = self.store.lock();
        store.version += 1;
        store.objects.remove(&(Kind::Pod, key.to_string()));
        store.compacted = store.version;
        drop(store);
        let _ = self.events.send(Message::Kick);
    }

    /// A pod as stored.
    pub fn pod(&self, key: &str) -> Option<Value> {
        self.store.lock().objects.get(&(Kind::Pod, key.to_string())).cloned()
    }

    /// Binding bodies received, in order.
    pub fn bindings(&self) -> Vec<Value> {
        self.store.lock().bindings.clone()
    }

    /// Eviction bodies received, in order.
    pub fn evictions(&self) -> Vec<Value> {
        self.store.lock().evictions.clone()
    }

    /// Refuses every Binding from now on with `code` and `message` (`None`: accept).
    pub fn refuse_bindings(&self, refusal: Option<(u16, &str)>) {
        self.store.lock().refuse_bindings = refusal.map(|(code, message)| (code, message.to_string()));
    }

    /// Protects pod `ns/name` with a PodDisruptionBudget that allows no eviction.
    pub fn protect(&self, key: &str) {
        self.store.lock().protected.insert(key.to_string());
    }

    /// Lists served of `kind`.
    pub fn lists(&self, kind: Kind) -> usize {
        self.store.lock().lists.get(&kind).copied().unwrap_or(0)
    }

    /// The `Authorization` headers seen.
    pub fn authorizations(&self) -> HashSet<String> {
        self.store.lock().authorizations.clone()
    }
}

/// Writes to `path` a kubeconfig for an API server nobody answers at (`127.0.0.1:9`, the
/// discard port), for clients that must never get a list.
pub fn unreachable_kubeconfig(path: &std::path::Path) {
    let text = "apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: gone\n  cluster:\n    \
                server: http://127.0.0.1:9\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: u\n\
                users:\n- name: u\n  user:\n    token: t\n";
    std::fs::write(path, text).expect("kubeconfig written");
}

/// A node with allocatable CPU cores, memory (GiB) and `nvidia.com/gpu` devices of `model`.
pub fn node(name: &str, cpu: u32, memory_gib: u32, gpus: u32, model: &str) -> Value {
    let allocatable =
        json!({"cpu": cpu.to_string(), "memory": format!("{memory_gib}Gi"), "nvidia.com/gpu": gpus.to_string()});
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("node-{name}"), "labels": {"nvidia.com/gpu.product": model}},
        "status": {"capacity": allocatable, "allocatable": allocatable}})
}

/// A pod `default/name` with UID `name`, its one container asking `requests`, bound to `node`
/// when given, in `phase`.
pub fn pod(name: &str, requests: Value, node: Option<&str>, phase: &str) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"containers": [{"name": "main", "image": "busybox", "resources": {"requests": requests}}]},
        "status": {"phase": phase}});
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    pod
}

/// Waits (up to 10 s) until `done` holds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
