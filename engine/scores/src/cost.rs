//! Cost per node, after OpenCost's model.
//!
//! A node's hourly price is the price of its instance type when the configuration lists one
//! (`node.kubernetes.io/instance-type` or `host.type`), otherwise it is built from unit
//! prices, OpenCost's defaults being 0.031611 per vCPU-hour, 0.004237 per GiB-hour of memory
//! and 0.95 per GPU-hour:
//!
//! ```text
//! price = vcpus · p_cpu + memory_gib · p_ram + gpus · p_gpu
//! ```
//!
//! The price is split into CPU, memory and GPU parts in proportion to what each resource
//! would cost at the unit prices (how OpenCost splits a node price it only knows in total):
//!
//! ```text
//! part_r = price · (amount_r · p_r) / Σ_s (amount_s · p_s)
//! idle_r = part_r · (1 − u_r)          (u_r the resource's utilisation; unknown → idle 0)
//! ```
//!
//! A pod's cost per resource is `max(request, usage) · p_r` per hour, as OpenCost allocates.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Prices, per hour, in the configured currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// Price of one vCPU-hour (default 0.031611, OpenCost's default).
    pub cpu_hour: f64,
    /// Price of one GiB-hour of memory (default 0.004237).
    pub ram_gib_hour: f64,
    /// Price of one GPU-hour (default 0.95).
    pub gpu_hour: f64,
    /// Hourly price by instance type, overriding the unit prices for nodes of that type.
    pub instance_types: BTreeMap<String, f64>,
}

impl Default for CostConfig {
    fn default() -> Self {
        Self { cpu_hour: 0.031611, ram_gib_hour: 0.004237, gpu_hour: 0.95, instance_types: BTreeMap::new() }
    }
}

/// What a node has.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Capacity {
    /// Logical CPUs.
    pub vcpus: f64,
    /// Memory in bytes.
    pub memory_bytes: f64,
    /// GPUs.
    pub gpus: f64,
}

/// A value per priced resource.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct PerResource {
    /// CPU part.
    pub cpu: f64,
    /// Memory part.
    pub memory: f64,
    /// GPU part.
    pub gpu: f64,
}

impl PerResource {
    /// The sum of the parts.
    pub fn total(&self) -> f64 {
        self.cpu + self.memory + self.gpu
    }
}

/// A node's hourly cost and the share of it left idle.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeCost {
    /// Price split by resource.
    pub cost: PerResource,
    /// Idle part of each resource's price.
    pub idle: PerResource,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Utilisation of each priced resource, when known.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// CPU utilisation.
    pub cpu: Option<f64>,
    /// Memory utilisation.
    pub memory: Option<f64>,
    /// Mean GPU utilisation.
    pub gpu: Option<f64>,
}

/// The node's cost (see the module doc). `instance_type` selects a configured price.
pub fn node_cost(capacity: Capacity, instance_type: Option<&str>, usage: Usage, config: &CostConfig) -> NodeCost {
    let at_unit_prices = PerResource {
        cpu: capacity.vcpus.max(0.0) * config.cpu_hour,
        memory: capacity.memory_bytes.max(0.0) / GIB * config.ram_gib_hour,
        gpu: capacity.gpus.max(0.0) * config.gpu_hour,
    };
    let unit_total = at_unit_prices.total();
    let price = instance_type.and_then(|t| config.instance_types.get(t)).copied().unwrap_or(unit_total);
    let share = |part: f64| if unit_total > 0.0 { price * part / unit_total } else { 0.0 };
    let cost = PerResource {
        cpu: share(at_unit_prices.cpu),
        memory: share(at_unit_prices.memory),
        gpu: share(at_unit_prices.gpu),
    };
    let idle_of = |part: f64, used: Option<f64>| used.map_or(0.0, |u| part * (1.0 - u.clamp(0.0, 1.0)));
    let idle = PerResource {
        cpu: idle_of(cost.cpu, usage.cpu),
        memory: idle_of(cost.memory, usage.memory),
        gpu: idle_of(cost.gpu, usage.gpu),
    };
    NodeCost { cost, idle }
}

/// A pod's hourly cost of one resource: `max(request, usage) · unit price`.
pub fn pod_resource_cost(request: f64, usage: f64, unit_price: f64) -> f64 {
    request.max(usage).max(0.0) * unit_price
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn unit_prices_build_the_price_and_idle_follows_utilisation() {
        // 4 vCPU, 16 GiB, 1 GPU: 4·0.031611 = 0.126444; 16·0.004237 = 0.067792; 0.95
        let capacity = Capacity { vcpus: 4.0, memory_bytes: 16.0 * GIB, gpus: 1.0 };
        let usage = Usage { cpu: Some(0.25), memory: Some(0.5), gpu: None };
        let cost = node_cost(capacity, None, usage, &CostConfig::default());
        assert!(close(cost.cost.cpu, 0.126444));
        assert!(close(cost.cost.memory, 0.067792));
        assert!(close(cost.cost.gpu, 0.95));
        assert!(close(cost.cost.total(), 1.144236));
        // idle: 0.126444 · 0.75 = 0.094833; 0.067792 · 0.5 = 0.033896; GPU usage unknown → 0
        assert!(close(cost.idle.cpu, 0.094833));
        assert!(close(cost.idle.memory, 0.033896));
        assert_eq!(cost.idle.gpu, 0.0);
    }

    #[test]
    fn an_instance_price_is_split_in_unit_price_proportions() {
        let mut config = CostConfig::default();
        config.instance_types.insert("m5.xlarge".into(), 0.192);
        // 4 vCPU and 16 GiB: unit parts 0.126444 and 0.067792 of 0.194236
        let capacity = Capacity { vcpus: 4.0, memory_bytes: 16.0 * GIB, gpus: 0.0 };
        let cost = node_cost(capacity, Some("m5.xlarge"), Usage::default(), &config);
        assert!(close(cost.cost.total(), 0.192));
        assert!(close(cost.cost.cpu, 0.192 * 0.126444 / 0.194236));
        assert_eq!(cost.idle.total(), 0.0, "no usage known, nothing counted idle");
    }

    #[test]
    fn zero_capacity_costs_nothing_and_pods_pay_the_larger_of_request_and_usage() {
        let cost =
            node_cost(Capacity::default(), None, Usage { cpu: Some(0.5), ..Usage::default() }, &CostConfig::default());
        assert_eq!(cost.cost.total(), 0.0);
        assert!(close(pod_resource_cost(0.5, 1.5, 0.031611), 0.0474165));
        assert!(close(pod_resource_cost(2.0, 1.5, 0.031611), 0.063222));
    }
}
