//! The Kubernetes client against a protocol fake of the API server (`ironspider-kube-fake`; no real
//! kube-apiserver can run where these tests run), reached through a kubeconfig file: the
//! watch feeds the model with pods bound by anyone and releases them when they finish, are
//! deleted, or vanish while the watch was down (410 Gone, relist); `bind` posts the exact
//! Binding and rolls back when it is refused; evictions happen only when enabled, once per
//! plan, and a PodDisruptionBudget's 429 is counted and skipped. Forged calls are refused
//! before the model or the API server sees them: binds of pods without a UID, of another UID,
//! of another scheduler's or of bound pods; evictions of pods telemetry misplaces or that
//! live outside the allowed namespaces.

use ironspider_kube_fake::{FakeApi, Kind, eventually, node, pod};
use ironspider_scheduler::config::SchedulerConfig;
use ironspider_scheduler::extender::Extender;
use ironspider_scheduler::kubernetes::bind::Binder;
use ironspider_scheduler::kubernetes::evict::{Evictor, Outcome};
use ironspider_scheduler::kubernetes::{self, KubernetesConfig, watch};
use ironspider_scheduler::live_rebalance::LiveRebalancer;
use ironspider_scheduler::model::{ClusterModel, KubeNode};
use ironspider_scheduler::prioritize::NoForecast;
use ironspider_scheduler::protocol::{ExtenderArgs, ExtenderBindingArgs, ExtenderFilterResult};
use ironspider_scheduler::rebalance::RebalanceConfig;
use ironspider_scores::NodeScore;
use ironspider_scores::PodCost;
use ironspider_scores::ScoreConfig;
use ironspider_scores::ScoreSource;
use ironspider_scores::{Hardware, ScoresSnapshot};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const WINDOW: i64 = 10_000_000_000;

/// Telemetry the test sets by hand.
#[derive(Default)]
struct Telemetry(Mutex<Arc<ScoresSnapshot>>);

impl ScoreSource for Telemetry {
    fn snapshot(&self) -> Arc<ScoresSnapshot> {
        Arc::clone(&self.0.lock())
    }
}

fn extender(telemetry: Arc<Telemetry>, config: SchedulerConfig) -> Arc<Extender> {
    let window_ns = 10_000_000_000;
    Arc::new(Extender::new(
        ClusterModel::new(config, &ScoreConfig::default(), window_ns, telemetry),
        Arc::new(NoForecast),
    ))
}

async fn client(api: &FakeApi) -> kubernetes::Client {
    let config = KubernetesConfig { kubeconfig: Some(api.kubeconfig.clone()), ..KubernetesConfig::default() };
    kubernetes::connect(&config).await.expect("a client").expect("a cluster is configured")
}

fn filter(extender: &Extender, pod: Value, nodes: &[&str]) -> ExtenderFilterResult {
    let args: ExtenderArgs = serde_json::from_value(json!({"Pod": pod, "NodeNames": nodes})).unwrap();
    extender.filter(args)
}

fn passed(result: &ExtenderFilterResult) -> Vec<&str> {
    result.node_names.iter().flatten().map(String::as_str).collect()
}

/// Free milli of each of `node`'s devices.
fn free(extender: &Extender, node: &str) -> Vec<u32> {
    extender.model().gpus().gpus(node).unwrap_or_default().iter().map(|g| g.free).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_bound_by_anyone_hold_their_node_until_they_finish_or_are_deleted() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 1, "A100"));
    api.put_node(node("gpu-2", 8, 32, 1, "A100"));
    let extender = extender(Arc::default(), SchedulerConfig::default());
    let model = extender.model();
    let _watches = watch::spawn(client(&api).await, Arc::clone(&extender));
    eventually("both nodes are known", || model.kube_node("gpu-1").is_some() && model.kube_node("gpu-2").is_some())
        .await;
    let expected =
        KubeNode { vcpus: Some(8.0), memory_bytes: Some(32.0 * GIB), gpus: 1, gpu_model: Some("A100".into()) };
    assert_eq!(model.kube_node("gpu-1"), Some(expected));
    assert!(api.authorizations().contains("Bearer fake-token"), "the kubeconfig's token is sent");

    let gpu_pod = || pod("new", json!({"nvidia.com/gpu": "1"}), None, "Pending");
    let before = filter(&extender, gpu_pod(), &["gpu-1", "gpu-2", "gpu-3"]);
    assert_eq!(passed(&before), ["gpu-1", "gpu-2"], "nodes known from the API alone pass: {before:?}");
    assert!(before.failed_and_unresolvable_nodes["gpu-3"].contains("unknown"));

    // Another scheduler binds a pod that takes gpu-1's only GPU.
    api.put_pod(pod("trainer", json!({"nvidia.com/gpu": "1", "cpu": "1"}), Some("gpu-1"), "Running"));
    eventually("the trainer is held", || model.placement("trainer").is_some()).await;
    let taken = filter(&extender, gpu_pod(), &["gpu-1", "gpu-2"]);
    assert_eq!(passed(&taken), ["gpu-2"]);
    assert!(taken.failed_nodes["gpu-1"].starts_with("GPU: needs 1 whole GPU(s)"), "{taken:?}");
    assert_eq!(free(&extender, "gpu-1"), [0]);

    // It finishes: the GPU is free again.
    api.put_pod(pod("trainer", json!({"nvidia.com/gpu": "1", "cpu": "1"}), Some("gpu-1"), "Succeeded"));
    eventually("the finished trainer is released", || model.placement("trainer").is_none()).await;
    assert_eq!(free(&extender, "gpu-1"), [1000]);
    assert_eq!(passed(&filter(&extender, gpu_pod(), &["gpu-1", "gpu-2"])), ["gpu-1", "gpu-2"]);

    // The default binder puts 6 CPUs of requests on gpu-2; a 4-CPU pod no longer fits there.
    api.put_pod(pod("web", json!({"cpu": "6"}), Some("gpu-2"), "Running"));
    eventually("web is held", || model.placement("web").is_some()).await;
    let cpu_pod = || pod("cpu", json!({"cpu": "4"}), None, "Pending");
    let crowded = filter(&extender, cpu_pod(), &["gpu-1", "gpu-2"]);
    assert_eq!(passed(&crowded), ["gpu-1"]);
    assert_eq!(crowded.failed_nodes["gpu-2"], "needs 4 CPU, 2 of 8 free");
    api.delete_pod("default/web");
    eventually("the deleted pod is released", || model.placement("web").is_none()).await;
    assert_eq!(passed(&filter(&extender, cpu_pod(), &["gpu-1", "gpu-2"])), ["gpu-1", "gpu-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_deleted_while_the_watch_was_down_is_released_by_the_relist() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 2, "A100"));
    api.put_pod(pod("batch", json!({"nvidia.com/gpu": "1"}), Some("gpu-1"), "Running"));
    let extender = extender(Arc::default(), SchedulerConfig::default());
    let model = extender.model();
    let _watches = watch::spawn(client(&api).await, Arc::clone(&extender));
    eventually("batch holds a GPU", || free(&extender, "gpu-1") == [0, 1000]).await;
    let lists = api.lists(Kind::Pod);

    api.delete_pod_unseen("default/batch");
    eventually("batch is released", || model.placement("batch").is_none()).await;
    assert_eq!(free(&extender, "gpu-1"), [1000, 1000]);
    assert!(api.lists(Kind::Pod) > lists, "the 410 led to a new list");

    // The relisted watch goes on: a new pod is seen.
    api.put_pod(pod("next", json!({"nvidia.com/gpu": "2"}), Some("gpu-1"), "Running"));
    eventually("next holds both GPUs", || free(&extender, "gpu-1") == [0, 0]).await;
}

/// A pending pod of this extender's scheduler (`spec.schedulerName: ironspider`).
fn ours(name: &str, requests: Value) -> Value {
    let mut pod = pod(name, requests, None, "Pending");
    pod["spec"]["schedulerName"] = json!("ironspider");
    pod
}

fn binder(client: kubernetes::Client, registry: &prometheus::Registry) -> Binder {
    Binder::new(client, KubernetesConfig::default().scheduler_names, registry).unwrap()
}

fn counter(registry: &prometheus::Registry, name: &str, label: &str) -> f64 {
    let families = registry.gather();
    let family = families.iter().find(|f| f.name() == name);
    let metrics = family.map(|f| f.get_metric().to_vec()).unwrap_or_default();
    let labelled = metrics.iter().find(|m| m.get_label().iter().any(|l| l.value() == label));
    labelled.map_or(0.0, |m| m.get_counter().get_value())
}

fn bind_args(name: &str, node: &str) -> ExtenderBindingArgs {
    ExtenderBindingArgs {
        pod_name: name.into(),
        pod_namespace: "default".into(),
        pod_uid: name.into(),
        node: node.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_posts_the_binding_and_rolls_back_when_the_api_refuses_it() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 1, "A100"));
    let half = json!({"ironspider.io/gpu-milli": "500"});
    api.put_pod(ours("p", half.clone()));
    api.put_pod(ours("q", half.clone()));
    let extender = extender(Arc::default(), SchedulerConfig::default());
    let model = extender.model();
    let client = client(&api).await;
    let _watches = watch::spawn(client.clone(), Arc::clone(&extender));
    eventually("gpu-1 is known", || model.kube_node("gpu-1").is_some()).await;
    let binder = binder(client, &prometheus::Registry::new());

    assert_eq!(passed(&filter(&extender, pod("p", half.clone(), None, "Pending"), &["gpu-1"])), ["gpu-1"]);
    let bound = binder.bind(&extender, &bind_args("p", "gpu-1")).await;
    assert_eq!(bound.error, "");
    let expected = json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "p", "namespace": "default", "uid": "p"}, "target": {"kind": "Node", "name": "gpu-1"}});
    assert_eq!(api.bindings(), [expected]);
    assert_eq!(api.pod("default/p").unwrap()["spec"]["nodeName"], "gpu-1");
    eventually("the watch sees p bound", || model.placement("p").is_some_and(|p| p.watched)).await;
    assert_eq!(free(&extender, "gpu-1"), [500], "p's share is taken once, not again by the watch");
    assert_eq!(binder.bind(&extender, &bind_args("p", "gpu-1")).await.error, "");
    assert_eq!(api.bindings().len(), 1, "a pod already bound there is not posted again");

    filter(&extender, pod("q", half.clone(), None, "Pending"), &["gpu-1"]);
    api.refuse_bindings(Some((409, "pod q is being deleted")));
    let refused = binder.bind(&extender, &bind_args("q", "gpu-1")).await;
    assert!(refused.error.contains("409") && refused.error.contains("pod q is being deleted"), "{}", refused.error);
    assert_eq!(model.placement("q"), None, "the reservation is rolled back");
    assert_eq!(free(&extender, "gpu-1"), [500]);

    api.refuse_bindings(None);
    assert_eq!(binder.bind(&extender, &bind_args("q", "gpu-1")).await.error, "", "the retried bind finds q pending");
    assert_eq!(free(&extender, "gpu-1"), [0]);
    assert_eq!(api.bindings().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_binds_are_refused_before_the_model_or_the_api_sees_them() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 1, "A100"));
    api.put_node(node("gpu-2", 8, 32, 1, "A100"));
    let gpu = json!({"nvidia.com/gpu": "1"});
    api.put_pod(ours("mine", gpu.clone()));
    api.put_pod(pod("theirs", gpu.clone(), None, "Pending"));
    let mut running = ours("running", json!({"cpu": "1"}));
    running["spec"]["nodeName"] = json!("gpu-2");
    api.put_pod(running);
    let mut leaving = ours("leaving", gpu.clone());
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-07T00:00:00Z");
    api.put_pod(leaving);
    let extender = extender(Arc::default(), SchedulerConfig::default());
    let model = extender.model();
    let client = client(&api).await;
    let _watches = watch::spawn(client.clone(), Arc::clone(&extender));
    eventually("both nodes are known", || model.kube_node("gpu-2").is_some()).await;
    eventually("running is held", || model.placement("running").is_some()).await;
    let registry = prometheus::Registry::new();
    let binder = binder(client, &registry);

    // The attack: filter a pod without a UID, then bind it with an empty PodUID.
    let mut anonymous = pod("theirs", gpu.clone(), None, "Pending");
    anonymous["metadata"].as_object_mut().unwrap().remove("uid");
    assert_eq!(passed(&filter(&extender, anonymous, &["gpu-1"])), ["gpu-1"]);
    let attacks = [
        (ExtenderBindingArgs { pod_uid: String::new(), ..bind_args("theirs", "gpu-1") }, "no_uid", "required"),
        (bind_args("ghost", "gpu-1"), "not_found", "does not exist"),
        (ExtenderBindingArgs { pod_uid: "forged".into(), ..bind_args("mine", "gpu-1") }, "uid_mismatch", "UID"),
        (bind_args("theirs", "gpu-1"), "other_scheduler", "default-scheduler"),
        (bind_args("running", "gpu-1"), "bound_elsewhere", "already bound to node gpu-2"),
        (bind_args("leaving", "gpu-1"), "terminating", "being deleted"),
    ];
    for (args, reason, says) in attacks {
        let answer = binder.bind(&extender, &args).await;
        assert!(answer.error.contains(says), "{reason}: {}", answer.error);
        assert_eq!(counter(&registry, "ironspider_scheduler_bind_refusals_total", reason), 1.0, "{reason}");
    }
    assert_eq!(api.bindings(), [] as [Value; 0], "nothing was posted");
    assert_eq!((free(&extender, "gpu-1"), free(&extender, "gpu-2")), (vec![1000], vec![1000]));
    assert!(model.placement("theirs").is_none() && model.placement("mine").is_none());
    assert_eq!(api.pod("default/running").unwrap()["spec"]["nodeName"], "gpu-2");

    // The pod kube-scheduler did send is bound, with its UID as the Binding's precondition.
    assert_eq!(passed(&filter(&extender, ours("mine", gpu.clone()), &["gpu-1"])), ["gpu-1"]);
    assert_eq!(binder.bind(&extender, &bind_args("mine", "gpu-1")).await.error, "");
    assert_eq!(api.bindings().len(), 1);
    assert_eq!(api.bindings()[0]["metadata"]["uid"], "mine");
    assert_eq!(free(&extender, "gpu-1"), [0]);
}

/// Telemetry of two hot nodes (`hot-1` with pod `a`, `hot-2` with pod `b`) and a cool one,
/// in the window ending at `window_end`.
fn hot_spots(window_end: i64) -> ScoresSnapshot {
    let score = |cpu: f64, pressure: f64| NodeScore {
        cpu: Some(cpu),
        memory: Some(0.1),
        pressure: Some(pressure),
        health: 100.0,
        hardware: Hardware { vcpus: Some(8.0), memory_bytes: Some(32.0 * GIB), ..Hardware::default() },
        ..NodeScore::default()
    };
    let load = |name: &str, node: &str, cpu: f64| PodCost {
        namespace: "default".into(),
        pod: name.into(),
        node: Some(node.into()),
        cpu_usage: Some(cpu),
        memory_usage: Some(GIB),
        ..PodCost::default()
    };
    ScoresSnapshot {
        window_end,
        nodes: [("hot-1", score(0.95, 0.9)), ("hot-2", score(0.95, 0.9)), ("cool", score(0.1, 0.1))]
            .into_iter()
            .map(|(name, score)| (name.to_string(), score))
            .collect(),
        pods: vec![load("a", "hot-1", 3.0), load("b", "hot-2", 2.0)],
        ..ScoresSnapshot::default()
    }
}

fn counted(registry: &prometheus::Registry, outcome: &str) -> f64 {
    counter(registry, "ironspider_rebalance_evictions_total", outcome)
}

fn evictor(api: &FakeApi, registry: &prometheus::Registry) -> impl Future<Output = Evictor> {
    let namespaces = KubernetesConfig::default().evict_namespaces;
    let client = client(api);
    async move { Evictor::new(client.await, namespaces, registry).unwrap() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_happen_only_when_enabled_once_per_plan_and_a_budget_refusal_is_skipped() {
    let api = FakeApi::start().await;
    api.put_pod(pod("a", json!({"cpu": "3"}), Some("hot-1"), "Running"));
    api.put_pod(pod("b", json!({"cpu": "2"}), Some("hot-2"), "Running"));
    api.protect("default/b");
    let telemetry = Arc::new(Telemetry::default());
    *telemetry.0.lock() = Arc::new(hot_spots(WINDOW));
    let rebalance = RebalanceConfig { sustained_windows: 1, ..RebalanceConfig::default() };
    let extender = extender(Arc::clone(&telemetry), SchedulerConfig { rebalance, ..SchedulerConfig::default() });
    let model = extender.model();
    let registry = prometheus::Registry::new();
    let evictor = evictor(&api, &registry).await;

    let dry =
        LiveRebalancer::new(model.config().rebalance.clone(), model, WINDOW, &prometheus::Registry::new()).unwrap();
    dry.refresh(model);
    assert_eq!(dry.latest().moves.len(), 2);
    assert!(dry.latest().dry_run);
    assert_eq!(evictor.carry_out(&dry).await, []);
    assert_eq!(api.evictions(), [] as [Value; 0], "no flag, no eviction");

    let live = LiveRebalancer::new(model.config().rebalance.clone(), model, WINDOW, &prometheus::Registry::new())
        .unwrap()
        .evicting();
    live.refresh(model);
    assert!(!live.latest().dry_run);
    let outcomes: Vec<(String, Outcome)> =
        evictor.carry_out(&live).await.into_iter().map(|(planned, outcome)| (planned.pod, outcome)).collect();
    let budget = "Cannot evict pod as it would violate the pod's disruption budget.".to_string();
    assert_eq!(
        outcomes,
        [("default/a".to_string(), Outcome::Evicted), ("default/b".to_string(), Outcome::Blocked(budget.clone()))]
    );
    let expected = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "a", "namespace": "default"},
        "deleteOptions": {"preconditions": {"uid": "a"}}});
    assert_eq!(api.evictions()[0], expected);
    assert!(api.pod("default/a").is_none() && api.pod("default/b").is_some());
    assert_eq!((counted(&registry, "evicted"), counted(&registry, "blocked")), (1.0, 1.0));
    assert_eq!(evictor.carry_out(&live).await, [], "a plan is carried out once");
    assert_eq!(api.evictions().len(), 2);

    // The next window: `a` is in its cooldown (telemetry still shows it), `b` is tried again.
    *telemetry.0.lock() = Arc::new(hot_spots(2 * WINDOW));
    live.refresh(model);
    assert!(live.latest().held_back.iter().any(|h| h.pod == "default/a" && h.reason.contains("moved from hot-1")));
    let outcomes = evictor.carry_out(&live).await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!((outcomes[0].0.pod.as_str(), &outcomes[0].1), ("default/b", &Outcome::Blocked(budget)));
    assert_eq!((counted(&registry, "evicted"), counted(&registry, "blocked")), (1.0, 2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evictions_of_pods_telemetry_misplaces_or_outside_the_allowed_namespaces_are_refused() {
    let api = FakeApi::start().await;
    // Telemetry says `a` runs on hot-1 and `kube-system/b` on hot-2: the first is forged (the
    // API server has `a` on cool), the second is in a namespace not allowed.
    api.put_pod(pod("a", json!({"cpu": "3"}), Some("cool"), "Running"));
    let mut system = pod("b", json!({"cpu": "2"}), Some("hot-2"), "Running");
    system["metadata"]["namespace"] = json!("kube-system");
    api.put_pod(system);
    let telemetry = Arc::new(Telemetry::default());
    let mut forged = hot_spots(WINDOW);
    forged.pods[1].namespace = "kube-system".into();
    *telemetry.0.lock() = Arc::new(forged);
    let rebalance = RebalanceConfig { sustained_windows: 1, ..RebalanceConfig::default() };
    let extender = extender(Arc::clone(&telemetry), SchedulerConfig { rebalance, ..SchedulerConfig::default() });
    let model = extender.model();
    let registry = prometheus::Registry::new();
    let evictor = evictor(&api, &registry).await;
    let live = LiveRebalancer::new(model.config().rebalance.clone(), model, WINDOW, &prometheus::Registry::new())
        .unwrap()
        .evicting();
    live.refresh(model);
    assert_eq!(live.latest().moves.len(), 2, "{:?}", live.latest());

    let outcomes: Vec<(String, Outcome)> =
        evictor.carry_out(&live).await.into_iter().map(|(planned, outcome)| (planned.pod, outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("default/a".to_string(), Outcome::Refused("the pod runs on node \"cool\", not on \"hot-1\"".into())),
            ("kube-system/b".to_string(), Outcome::Refused("namespace kube-system is not in evict_namespaces".into())),
        ]
    );
    assert_eq!(api.evictions(), [] as [Value; 0], "nothing was posted");
    assert!(api.pod("default/a").is_some() && api.pod("kube-system/b").is_some());
    assert_eq!(counted(&registry, "refused"), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watches_say_listed_only_once_nodes_and_pods_are_in_the_model() {
    let api = FakeApi::start().await;
    api.put_node(node("gpu-1", 8, 32, 1, "A100"));
    api.put_pod(pod("running", json!({"nvidia.com/gpu": "1"}), Some("gpu-1"), "Running"));
    let fed = extender(Arc::default(), SchedulerConfig::default());
    let watches = watch::spawn(client(&api).await, Arc::clone(&fed));
    let mut listed = watches.listed();
    tokio::time::timeout(std::time::Duration::from_secs(10), listed.wait_for(|l| *l)).await.unwrap().unwrap();
    // By then both lists are in the model: the node's GPU is held by the running pod.
    assert_eq!(free(&fed, "gpu-1"), [0]);
    assert!(fed.model().placement("running").is_some());

    // An API server that cannot be reached: never listed, so serve never turns ready.
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    ironspider_kube_fake::unreachable_kubeconfig(&kubeconfig);
    let config = KubernetesConfig { kubeconfig: Some(kubeconfig), ..KubernetesConfig::default() };
    let unreachable = kubernetes::connect(&config).await.unwrap().unwrap();
    let never = watch::spawn(unreachable, extender(Arc::default(), SchedulerConfig::default()));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!*never.listed().borrow(), "no list, not listed");
}
