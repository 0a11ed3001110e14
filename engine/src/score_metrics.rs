//! Node scores on `/metrics`: a Prometheus collector that renders the published snapshot
//! when scraped. Nothing is written per window, and a scrape sees one snapshot whole (never
//! half-replaced gauges).
//!
//! Families: `ironspider_node_pressure{node}`, `ironspider_node_health{node}`,
//! `ironspider_node_cost_per_hour{node,resource}` and
//! `ironspider_node_idle_cost_per_hour{node,resource}` (resource cpu, memory, gpu),
//! `ironspider_node_utilization_ratio{node,resource}` (cpu, memory, gpu, gpu_memory, where
//! known), `ironspider_node_io_bytes_per_second{node,resource}` (network, disk, where
//! reported), `ironspider_cluster_health` (100 while no node is known) and
//! `ironspider_pod_cost_per_hour{namespace,pod,resource}` (cpu, memory).

use crate::scores::{NodeScore, PublishedScores};
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use std::sync::Arc;

/// One sample of a node: the `resource` label (for families that have it) and the value,
/// `None` when unknown (no sample is written).
type Sample = (Option<&'static str>, Option<f64>);

/// One gauge family: its description and how each node's samples are read.
struct Family {
    desc: Desc,
    samples: fn(&NodeScore) -> Vec<Sample>,
}

fn pressure(score: &NodeScore) -> Vec<Sample> {
    vec![(None, score.pressure)]
}

fn health(score: &NodeScore) -> Vec<Sample> {
    vec![(None, Some(score.health))]
}

fn cost(score: &NodeScore) -> Vec<Sample> {
    let cost = &score.cost.cost;
    vec![(Some("cpu"), Some(cost.cpu)), (Some("memory"), Some(cost.memory)), (Some("gpu"), Some(cost.gpu))]
}

fn idle_cost(score: &NodeScore) -> Vec<Sample> {
    let idle = &score.cost.idle;
    vec![(Some("cpu"), Some(idle.cpu)), (Some("memory"), Some(idle.memory)), (Some("gpu"), Some(idle.gpu))]
}

fn io(score: &NodeScore) -> Vec<Sample> {
    vec![(Some("network"), score.io.network), (Some("disk"), score.io.disk)]
}

fn utilisation(score: &NodeScore) -> Vec<Sample> {
    vec![
        (Some("cpu"), score.cpu),
        (Some("memory"), score.memory),
        (Some("gpu"), score.gpu),
        (Some("gpu_memory"), score.gpu_memory),
    ]
}

/// Renders the published scores at scrape time.
pub struct ScoresCollector {
    published: Arc<PublishedScores>,
    families: Vec<Family>,
    cluster_health: Desc,
    pod_cost: Desc,
}

impl std::fmt::Debug for ScoresCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScoresCollector").finish_non_exhaustive()
    }
}

fn desc(name: &str, help: &str, labels: &[&str]) -> Result<Desc, prometheus::Error> {
    Desc::new(name.into(), help.into(), labels.iter().map(|l| (*l).to_string()).collect(), Default::default())
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.into());
    pair.set_value(value.into());
    pair
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::from_gauge(gauge);
    metric.set_label(labels);
    metric
}

fn family(desc: &Desc, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(desc.fq_name.clone());
    family.set_help(desc.help.clone());
    family.set_field_type(MetricType::GAUGE);
    family.set_metric(metrics);
    family
}

impl ScoresCollector {
    /// A collector of the snapshots published into `published`.
    pub fn new(published: Arc<PublishedScores>) -> Result<Self, prometheus::Error> {
        let node = &["node"][..];
        let by_resource = &["node", "resource"][..];
        let families = vec![
            Family { desc: desc("ironspider_node_pressure", "Node pressure, 0 to 1.", node)?, samples: pressure },
            Family { desc: desc("ironspider_node_health", "Node health index, 0 to 100.", node)?, samples: health },
            Family {
                desc: desc("ironspider_node_cost_per_hour", "Hourly price of the node, by resource.", by_resource)?,
                samples: cost,
            },
            Family {
                desc: desc(
                    "ironspider_node_idle_cost_per_hour",
                    "Idle part of the node's hourly price, by resource.",
                    by_resource,
                )?,
                samples: idle_cost,
            },
            Family {
                desc: desc(
                    "ironspider_node_utilization_ratio",
                    "Node resource utilisation in the newest window, 0 to 1.",
                    by_resource,
                )?,
                samples: utilisation,
            },
            Family {
                desc: desc(
                    "ironspider_node_io_bytes_per_second",
                    "Node network and disk traffic in the newest window, bytes per second.",
                    by_resource,
                )?,
                samples: io,
            },
        ];
        let cluster_health = desc("ironspider_cluster_health", "vCPU-weighted mean of node health, 0 to 100.", &[])?;
        let pod_cost = desc(
            "ironspider_pod_cost_per_hour",
            "Hourly cost of a pod by resource: max(request, usage) at unit prices.",
            &["namespace", "pod", "resource"],
        )?;
        Ok(Self { published, families, cluster_health, pod_cost })
    }
}

impl Collector for ScoresCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.families.iter().map(|f| &f.desc).chain([&self.cluster_health, &self.pod_cost]).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.published.get();
        let mut families: Vec<MetricFamily> = self
            .families
            .iter()
            .map(|f| {
                let metrics = snapshot
                    .nodes
                    .iter()
                    .flat_map(|(node, score)| {
                        (f.samples)(score).into_iter().filter_map(move |(resource, value)| {
                            let mut labels = vec![label("node", node)];
                            labels.extend(resource.map(|r| label("resource", r)));
                            value.map(|v| gauge(labels, v))
                        })
                    })
                    .collect();
                family(&f.desc, metrics)
            })
            .filter(|family| !family.get_metric().is_empty())
            .collect();
        families.push(family(&self.cluster_health, vec![gauge(Vec::new(), snapshot.cluster_health.unwrap_or(100.0))]));
        if !snapshot.pods.is_empty() {
            let metrics = snapshot
                .pods
                .iter()
                .flat_map(|pod| {
                    [("cpu", pod.cost.cpu), ("memory", pod.cost.memory)].map(|(resource, value)| {
                        let labels = vec![
                            label("namespace", &pod.namespace),
                            label("pod", &pod.pod),
                            label("resource", resource),
                        ];
                        gauge(labels, value)
                    })
                })
                .collect();
            families.push(family(&self.pod_cost, metrics));
        }
        families
    }
}
