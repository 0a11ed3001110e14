//! Node scores on `/metrics`: a Prometheus collector that renders the published snapshot
//! when scraped. Nothing is written per window, and a scrape sees one snapshot whole (never
//! half-replaced gauges).
//!
//! Families: one per [`Family`] of the published quantities
//! ([`ironspider_scores::NODE_QUANTITIES`]: `ironspider_node_utilization_ratio{node,resource}`,
//! `ironspider_node_pressure{node}`, `ironspider_node_health{node}`,
//! `ironspider_node_cost_per_hour{node,resource}` and
//! `ironspider_node_idle_cost_per_hour{node,resource}`), a sample where the value is known;
//! besides them the node's traffic as reported, `ironspider_node_io_bytes_per_second{node,resource}`
//! (network, disk: telemetry passed through, not a score, so not a quantity),
//! `ironspider_cluster_health` (100 while no node is known) and
//! `ironspider_pod_cost_per_hour{namespace,pod,resource}` (cpu, memory).

use ironspider_scores::quantity::Family;
use ironspider_scores::{NODE_QUANTITIES, NodeScore, PublishedScores};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::sync::Arc;

/// Renders the published scores at scrape time.
pub struct ScoresCollector {
    published: Arc<PublishedScores>,
    /// The quantities' families, each once, in the order of their first quantity.
    families: Vec<(&'static Family, Desc)>,
    io: Desc,
    cluster_health: Desc,
    pod_cost: Desc,
}

impl std::fmt::Debug for ScoresCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoresCollector").finish_non_exhaustive()
    }
}

pub(crate) fn desc(name: &str, help: &str, labels: &[&str]) -> Result<Desc, prometheus::Error> {
    Desc::new(name.into(), help.into(), labels.iter().map(|l| (*l).to_string()).collect(), Default::default())
}

pub(crate) fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.into());
    pair.set_value(value.into());
    pair
}

pub(crate) fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::from_gauge(gauge);
    metric.set_label(labels);
    metric
}

pub(crate) fn family(desc: &Desc, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(desc.fq_name.clone());
    family.set_help(desc.help.clone());
    family.set_field_type(MetricType::GAUGE);
    family.set_metric(metrics);
    family
}

/// A node's sample, labelled `resource` when given.
fn node_gauge(node: &str, resource: Option<&str>, value: f64) -> Metric {
    let mut labels = vec![label("node", node)];
    labels.extend(resource.map(|r| label("resource", r)));
    gauge(labels, value)
}

/// Every node's samples of the quantities whose gauges write to `target`.
fn quantity_samples(target: &Family, score: &NodeScore) -> impl Iterator<Item = Metric> {
    NODE_QUANTITIES.iter().filter(move |q| std::ptr::eq(q.gauge.family(), target)).flat_map(move |quantity| {
        let samples = quantity.gauge.samples(score, (quantity.value)(score));
        samples.into_iter().map(|(resource, value)| node_gauge(&score.node, resource, value))
    })
}

/// The node's traffic samples, where reported.
fn io_samples(score: &NodeScore) -> impl Iterator<Item = Metric> {
    [("network", score.io.network), ("disk", score.io.disk)]
        .into_iter()
        .filter_map(|(resource, value)| value.map(|v| node_gauge(&score.node, Some(resource), v)))
}

impl ScoresCollector {
    /// A collector of the snapshots published into `published`.
    pub fn new(published: Arc<PublishedScores>) -> Result<Self, prometheus::Error> {
        let mut families: Vec<(&'static Family, Desc)> = Vec::new();
        for quantity in &NODE_QUANTITIES {
            let target = quantity.gauge.family();
            if !families.iter().any(|(known, _)| std::ptr::eq(*known, target)) {
                let labels: &[&str] = if target.by_resource { &["node", "resource"] } else { &["node"] };
                families.push((target, desc(target.name, target.help, labels)?));
            }
        }
        let io = desc(
            "ironspider_node_io_bytes_per_second",
            "Node network and disk traffic in the newest window, bytes per second.",
            &["node", "resource"],
        )?;
        let cluster_health = desc("ironspider_cluster_health", "vCPU-weighted mean of node health, 0 to 100.", &[])?;
        let pod_cost = desc(
            "ironspider_pod_cost_per_hour",
            "Hourly cost of a pod by resource: max(request, usage) at unit prices.",
            &["namespace", "pod", "resource"],
        )?;
        Ok(Self { published, families, io, cluster_health, pod_cost })
    }

    fn pod_costs(&self, snapshot: &ironspider_scores::ScoresSnapshot) -> Option<MetricFamily> {
        if snapshot.pods.is_empty() {
            return None;
        }
        let metrics = snapshot
            .pods
            .iter()
            .flat_map(|pod| {
                [("cpu", pod.cost.cpu), ("memory", pod.cost.memory)].map(|(resource, value)| {
                    let labels =
                        vec![label("namespace", &pod.namespace), label("pod", &pod.pod), label("resource", resource)];
                    gauge(labels, value)
                })
            })
            .collect();
        Some(family(&self.pod_cost, metrics))
    }
}

impl Collector for ScoresCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.families.iter().map(|(_, d)| d).chain([&self.io, &self.cluster_health, &self.pod_cost]).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.published.get();
        let scores = || snapshot.nodes.values();
        let mut families: Vec<MetricFamily> = self
            .families
            .iter()
            .map(|(target, desc)| family(desc, scores().flat_map(|s| quantity_samples(target, s)).collect()))
            .chain([family(&self.io, scores().flat_map(io_samples).collect())])
            .filter(|family| !family.get_metric().is_empty())
            .collect();
        families.push(family(&self.cluster_health, vec![gauge(Vec::new(), snapshot.cluster_health.unwrap_or(100.0))]));
        families.extend(self.pod_costs(&snapshot));
        families
    }
}
