//! Pod costs, allocated as OpenCost does: per pod and window, the CPU and memory it requested
//! and used, and an hourly cost of `max(request, usage) × unit price` per resource (see
//! [`ironspider_scores::cost::pod_resource_cost`]). The unit prices are the configured
//! `cpu_hour` and `ram_gib_hour`.
//!
//! | quantity | metrics, read by their window mean (pod from `k8s.pod.name`, namespace from `k8s.namespace.name`) |
//! |---|---|
//! | CPU used, cores | `k8s.pod.cpu.usage`, else `k8s.pod.cpu.utilization` (kubeletstats' older name, also in cores) |
//! | memory used, bytes | `k8s.pod.memory.working_set`, else `k8s.pod.memory.usage` |
//! | CPU requested, cores | Σ over the pod's containers of `k8s.container.cpu_request` |
//! | memory requested, bytes | Σ over the pod's containers of `k8s.container.memory_request` |
//!
//! A pod with neither usage nor request of a resource pays nothing for it.

use crate::aggregate::SeriesAggregate;
use crate::series::SeriesTable;
use ironspider_scores::PodCost;
use ironspider_scores::cost::{CostConfig, PerResource, pod_resource_cost};
use std::collections::BTreeMap;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// What one pod's series said, before pricing.
#[derive(Debug, Default)]
struct PodReadings {
    node: Option<String>,
    cpu_usage: Option<f64>,
    cpu_utilization: Option<f64>,
    working_set: Option<f64>,
    memory_usage: Option<f64>,
    cpu_request: Option<f64>,
    memory_request: Option<f64>,
}

fn add(total: &mut Option<f64>, value: f64) {
    *total = Some(total.unwrap_or(0.0) + value);
}

impl PodReadings {
    fn read(&mut self, metric: &str, mean: f64) {
        match metric {
            "k8s.pod.cpu.usage" => self.cpu_usage = Some(mean),
            "k8s.pod.cpu.utilization" => self.cpu_utilization = Some(mean),
            "k8s.pod.memory.working_set" => self.working_set = Some(mean),
            "k8s.pod.memory.usage" => self.memory_usage = Some(mean),
            "k8s.container.cpu_request" => add(&mut self.cpu_request, mean),
            "k8s.container.memory_request" => add(&mut self.memory_request, mean),
            _ => {}
        }
    }

    fn price(self, namespace: String, pod: String, config: &CostConfig) -> PodCost {
        let cpu_usage = self.cpu_usage.or(self.cpu_utilization);
        let memory_usage = self.working_set.or(self.memory_usage);
        let priced = |request: Option<f64>, usage: Option<f64>, unit: f64| {
            pod_resource_cost(request.unwrap_or(0.0), usage.unwrap_or(0.0), unit)
        };
        let cost = PerResource {
            cpu: priced(self.cpu_request, cpu_usage, config.cpu_hour),
            memory: priced(self.memory_request.map(|b| b / GIB), memory_usage.map(|b| b / GIB), config.ram_gib_hour),
            gpu: 0.0,
        };
        PodCost {
            namespace,
            pod,
            node: self.node,
            cpu_request: self.cpu_request,
            cpu_usage,
            memory_request: self.memory_request,
            memory_usage,
            cost_per_hour: cost.total(),
            cost,
        }
    }
}

/// The cost of every pod with series in one closed window, ordered by namespace and pod.
pub fn pod_costs(aggregates: &[SeriesAggregate], table: &SeriesTable, config: &CostConfig) -> Vec<PodCost> {
    let mut pods: BTreeMap<(&str, &str), PodReadings> = BTreeMap::new();
    for aggregate in aggregates {
        let Some(info) = table.info(aggregate.series) else { continue };
        let (Some(pod), Some(mean)) = (info.pod.as_deref(), aggregate.mean) else { continue };
        if !info.metric.starts_with("k8s.") {
            continue;
        }
        let readings = pods.entry((info.namespace.as_deref().unwrap_or_default(), pod)).or_default();
        if readings.node.is_none() {
            readings.node.clone_from(&info.node);
        }
        readings.read(&info.metric, mean);
    }
    pods.into_iter()
        .map(|((namespace, pod), readings)| readings.price(namespace.to_string(), pod.to_string(), config))
        .filter(|cost| cost.cpu_request.or(cost.cpu_usage).or(cost.memory_request).or(cost.memory_usage).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::{SeriesInfo, SeriesInterner};

    #[test]
    fn pods_pay_the_larger_of_request_and_usage_summed_over_containers() {
        let interner = SeriesInterner::new(16);
        let series = [
            ("k8s.pod.cpu.usage", "web", 0.5),
            ("k8s.container.cpu_request", "web", 0.75),
            ("k8s.container.cpu_request", "web", 0.25),
            ("k8s.pod.memory.working_set", "web", 2.0 * GIB),
            ("k8s.container.memory_request", "web", 1.0 * GIB),
            ("k8s.pod.cpu.utilization", "batch", 3.0),
            ("system.cpu.utilization", "batch", 0.9),
        ];
        let aggregates: Vec<SeriesAggregate> = series
            .iter()
            .enumerate()
            .map(|(i, (metric, pod, value))| {
                let info = SeriesInfo {
                    node: Some("n1".into()),
                    metric: (*metric).into(),
                    pod: Some((*pod).into()),
                    namespace: Some("shop".into()),
                    attributes: format!("k8s.container.name=c{i}"),
                    ..SeriesInfo::default()
                };
                let id = interner.register(i as u64, info).unwrap();
                SeriesAggregate { series: id, count: 1, mean: Some(*value), ..SeriesAggregate::default() }
            })
            .collect();
        let costs = pod_costs(&aggregates, &interner.read(), &CostConfig::default());
        let [batch, web] = &costs[..] else { panic!("two pods expected: {costs:?}") };
        // web: CPU max(0.75 + 0.25, 0.5) = 1 core · 0.031611; memory max(1, 2) = 2 GiB · 0.004237
        assert_eq!((web.pod.as_str(), web.namespace.as_str(), web.node.as_deref()), ("web", "shop", Some("n1")));
        assert!((web.cost.cpu - 0.031611).abs() < 1e-12 && (web.cost.memory - 0.008474).abs() < 1e-12, "{web:?}");
        assert!((web.cost_per_hour - 0.040085).abs() < 1e-12);
        // batch: 3 cores used under the older metric name, nothing requested, no memory reading
        assert!((batch.cost_per_hour - 3.0 * 0.031611).abs() < 1e-12, "{batch:?}");
        assert_eq!((batch.cpu_usage, batch.memory_usage), (Some(3.0), None));
    }
}
