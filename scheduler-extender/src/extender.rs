//! The four verbs of the extender over the cluster model, free of HTTP: each takes the
//! decoded request and returns the answer kube-scheduler expects.
//!
//! - `filter` fails the pod (`Error`) when its GPU request is impossible; otherwise it answers
//!   in the mode it was asked in: `NodeNames` (only names it was sent) when
//!   the scheduler is `nodeCacheCapable`, full `Nodes` otherwise; refused nodes go to
//!   `FailedNodes` or `FailedAndUnresolvableNodes` with the reason (see [`crate::filter`]).
//! - `prioritize` scores the candidates 0..=10 (see [`crate::prioritize`]).
//! - `bind` takes the pod's GPU shares and holds its requests (see [`crate::model`]).
//! - `preempt` keeps the nodes where evicting the proposed victims makes room for the pod,
//!   with the same victims, and drops the others.

use crate::filter::{Judge, Verdict, health_refusal};
use crate::model::{ClusterModel, PendingPod, short_of};
use crate::prioritize::{
    PressureForecast, Terms, combine, cost_terms, fragmentation_term, predicted_pressure, price_per_vcpu,
};
use crate::protocol::{
    ExtenderArgs, ExtenderBindingArgs, ExtenderBindingResult, ExtenderFilterResult, ExtenderPreemptionArgs,
    ExtenderPreemptionResult, HostPriority, HostPriorityList, MetaPod, MetaVictims, NodeList,
};
use crate::request;
use hashbrown::HashSet;
use ironspider_placement::cluster::PodSpec;
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The extender: the cluster model and the pressure forecast it scores with.
pub struct Extender {
    model: ClusterModel,
    forecast: Arc<dyn PressureForecast>,
}

impl std::fmt::Debug for Extender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extender").field("model", &self.model).finish_non_exhaustive()
    }
}

/// The key a pod is known by: its UID, or `namespace/name` when it has none.
pub fn key(uid: &str, namespace: &str, name: &str) -> String {
    if uid.is_empty() { format!("{namespace}/{name}") } else { uid.to_string() }
}

/// [`key`] of a pod object.
pub fn pod_key(pod: &Pod) -> String {
    let meta = &pod.metadata;
    let field = |value: &Option<String>| value.as_deref().unwrap_or_default().to_string();
    key(&field(&meta.uid), &field(&meta.namespace), &field(&meta.name))
}

/// The candidate node names of a request, in the order sent: `NodeNames` taken out of the
/// request (the answer reuses them rather than copy hundreds of strings), or the names of
/// the `Nodes`.
fn take_candidates(args: &mut ExtenderArgs) -> Vec<String> {
    if let Some(names) = args.node_names.take() {
        return names;
    }
    let nodes = args.nodes.iter().flat_map(|list| &list.items);
    nodes.filter_map(|node| node.metadata.name.clone()).collect()
}

/// CPU milli a node has left for requests: its vCPUs less the `held` cores (unbounded when
/// its vCPUs are unknown).
fn cpu_milli_free(vcpus: Option<f64>, held: f64) -> u64 {
    vcpus.map_or(u64::MAX, |vcpus| ((vcpus - held) * 1000.0).max(0.0) as u64)
}

impl Extender {
    /// An extender over `model`, scoring with `forecast`.
    pub fn new(model: ClusterModel, forecast: Arc<dyn PressureForecast>) -> Self {
        Self { model, forecast }
    }

    /// The cluster model.
    pub fn model(&self) -> &ClusterModel {
        &self.model
    }

    /// `filter`.
    pub fn filter(&self, mut args: ExtenderArgs) -> ExtenderFilterResult {
        let request = match request::read(&args.pod) {
            Ok(request) => request,
            Err(problem) => {
                return ExtenderFilterResult { error: problem.to_string(), ..ExtenderFilterResult::default() };
            }
        };
        let meta = &args.pod.metadata;
        let pending = PendingPod {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            request: request.clone(),
        };
        self.model.remember(&pod_key(&args.pod), pending);
        let view = self.model.view();
        let judge = Judge::new(&self.model, &view, &request);
        let mut result = ExtenderFilterResult::default();
        let by_name = args.node_names.is_some();
        let mut passed = Vec::new();
        for name in take_candidates(&mut args) {
            match judge.verdict(&name) {
                Verdict::Fits => passed.push(name),
                Verdict::Failed(reason) => {
                    result.failed_nodes.insert(name, reason);
                }
                Verdict::Unresolvable(reason) => {
                    result.failed_and_unresolvable_nodes.insert(name, reason);
                }
            }
        }
        match args.nodes {
            Some(list) if !by_name => {
                let passed: HashSet<&str> = passed.iter().map(String::as_str).collect();
                let items =
                    list.items.into_iter().filter(|n| n.metadata.name.as_deref().is_some_and(|n| passed.contains(n)));
                result.nodes = Some(NodeList { items: items.collect() });
            }
            _ => result.node_names = Some(passed),
        }
        result
    }

    /// `prioritize`: every candidate with a score, in the order sent.
    pub fn prioritize(&self, mut args: ExtenderArgs) -> HostPriorityList {
        let names = take_candidates(&mut args);
        if names.is_empty() {
            return Vec::new();
        }
        let view = self.model.view();
        let loads = self.model.loads(&view);
        let gpus = self.model.gpus().read();
        let (mix, pod) = (self.model.mix().current(), PodSpec::from_request(&request::of(&args.pod)));
        let facts: Vec<_> = names.iter().map(|name| self.model.facts(&view, name)).collect();
        let prices: Vec<Option<f64>> = facts.iter().map(|f| f.as_ref().and_then(price_per_vcpu)).collect();
        let costs = cost_terms(&prices);
        let weights = &self.model.config().weights;
        let scores: Vec<i64> = names
            .iter()
            .zip(facts.iter().zip(costs))
            .map(|(name, (facts, cost))| {
                facts.as_ref().map_or(0, |facts| {
                    let held = loads.of(name);
                    let pressure = predicted_pressure(
                        name,
                        facts,
                        held.as_ref(),
                        self.forecast.as_ref(),
                        self.model.pressure_config(),
                    );
                    let fragmentation = mix.as_deref().and_then(|mix| {
                        let cpu_free = cpu_milli_free(facts.vcpus, held.map_or(0.0, |held| held.cpu));
                        fragmentation_term(mix, cpu_free, gpus.devices(name, facts.slot).unwrap_or_default(), &pod)
                    });
                    combine(&Terms { headroom: 1.0 - pressure, cost, fragmentation }, weights)
                })
            })
            .collect();
        names.into_iter().zip(scores).map(|(host, score)| HostPriority { host, score }).collect()
    }

    /// `bind`.
    pub fn bind(&self, args: &ExtenderBindingArgs) -> ExtenderBindingResult {
        match self.model.bind(&key(&args.pod_uid, &args.pod_namespace, &args.pod_name), &args.node) {
            Ok(_) => ExtenderBindingResult::default(),
            Err(error) => ExtenderBindingResult { error: error.to_string() },
        }
    }

    /// `preempt`: the proposed nodes where the pod fits once their victims are gone.
    pub fn preempt(&self, args: ExtenderPreemptionArgs) -> ExtenderPreemptionResult {
        let request = request::of(&args.pod);
        let mut proposed: BTreeMap<String, MetaVictims> = args.node_name_to_meta_victims;
        for (node, victims) in args.node_name_to_victims {
            proposed.entry(node).or_insert_with(|| MetaVictims {
                pods: victims.pods.iter().map(|pod| MetaPod { uid: pod_key(pod) }).collect(),
                num_pdb_violations: victims.num_pdb_violations,
            });
        }
        let view = self.model.view();
        let loads = self.model.loads(&view);
        let accepted = proposed.into_iter().filter(|(node, victims)| {
            let Some(facts) = self.model.facts(&view, node) else { return false };
            if health_refusal(&facts, self.model.config().min_health).is_some() {
                return false;
            }
            let uids: Vec<&str> = victims.pods.iter().map(|p| p.uid.as_str()).collect();
            let (freed_cpu, freed_memory) = loads.requested_by(node, &uids);
            let held = loads.of(node).map_or((0.0, 0.0), |h| (h.cpu, h.memory));
            let left = ((held.0 - freed_cpu).max(0.0), (held.1 - freed_memory).max(0.0));
            short_of(&facts, left, &request).is_none()
                && self.model.gpus().fits_without(node, &request.gpu, &request.gpu_models, &uids).is_ok()
        });
        ExtenderPreemptionResult { node_name_to_meta_victims: accepted.collect() }
    }
}
