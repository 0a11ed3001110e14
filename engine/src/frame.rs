//! The node frame: per node and closed window, the canonical resources that scoring reads,
//! extracted from the window's per-series aggregates.
//!
//! Which series feed what (names are canonical, so node_exporter and DCGM series arrive here
//! under the OpenTelemetry names `ingest::canonical` maps them to); the first rule that has
//! data wins:
//!
//! | resource | rules, in order |
//! |---|---|
//! | CPU utilisation | `1 − mean over CPUs of the idle share` from `system.cpu.utilization` by `state`/`cpu.mode`; `1 − idle seconds / all seconds` from the `system.cpu.time` counter by state; `k8s.node.cpu.utilization` (cores in use) / vCPUs |
//! | memory utilisation | `system.memory.utilization{state=used}`; `used / Σ states` of `system.memory.usage`; `k8s.node.memory.working_set / k8s.node.allocatable_memory`; `1 − system.linux.memory.available / system.memory.limit` |
//! | GPU utilisation, per GPU | `hw.gpu.utilization` by device |
//! | GPU memory, per GPU | `hw.gpu.memory.usage / hw.gpu.memory.limit`, else `usage / (usage + hw.gpu.memory.free)` |
//! | pressure stall | rates of `system.pressure.{cpu,memory,io}.some` (seconds stalled per second) |
//! | vCPUs | `system.cpu.logical.count`; else distinct CPUs seen in `system.cpu.*` series |
//! | memory bytes | `system.memory.limit`; else `Σ states` of `system.memory.usage`; else `k8s.node.allocatable_memory` |
//! | GPUs | distinct devices of `hw.gpu.*` series |
//! | GPU errors and heat | max of `hw.gpu.xid_errors`, `hw.gpu.ecc_errors`, `hw.gpu.temperature` |
//!
//! Gauges are read by their window mean; counters by their window sum (seconds in the
//! window) or rate. Ratios are clamped to [0, 1].

use crate::aggregate::SeriesAggregate;
use crate::series::{SeriesInfo, SeriesTable};
use std::collections::{BTreeMap, BTreeSet};

/// What one node reported in one window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeFrame {
    /// Node name.
    pub node: String,
    /// CPU utilisation in [0, 1].
    pub cpu: Option<f64>,
    /// Memory utilisation in [0, 1].
    pub memory: Option<f64>,
    /// Utilisation of each GPU, by device, in [0, 1].
    pub gpu: BTreeMap<String, f64>,
    /// Memory utilisation of each GPU, by device, in [0, 1].
    pub gpu_memory: BTreeMap<String, f64>,
    /// Pressure stall "some" shares.
    pub stall: crate::score::pressure::Stall,
    /// Logical CPUs.
    pub vcpus: Option<f64>,
    /// Memory capacity in bytes.
    pub memory_bytes: Option<f64>,
    /// Number of GPUs seen.
    pub gpus: usize,
    /// Largest XID error value reported (DCGM reports the last XID code; 0 means none).
    pub gpu_xid_errors: f64,
    /// Largest uncorrectable ECC error count reported.
    pub gpu_ecc_errors: f64,
    /// Hottest GPU in °C.
    pub gpu_max_temperature: Option<f64>,
}

impl NodeFrame {
    /// Mean over the node's GPUs of `values`, `None` without GPUs.
    pub fn mean(values: &BTreeMap<String, f64>) -> Option<f64> {
        (!values.is_empty()).then(|| values.values().sum::<f64>() / values.len() as f64)
    }

    /// Largest of `values`, `None` without GPUs.
    pub fn max(values: &BTreeMap<String, f64>) -> Option<f64> {
        values.values().copied().reduce(f64::max)
    }
}

/// The value of point attribute `key` of a series (from its sorted `key=value,…` text).
pub fn attribute<'i>(info: &'i SeriesInfo, key: &str) -> Option<&'i str> {
    info.attributes.split(',').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v))
}

/// The CPU or memory state a series is about.
fn state(info: &SeriesInfo) -> Option<&str> {
    ["state", "cpu.mode", "system.cpu.state", "system.memory.state", "mode"].iter().find_map(|key| attribute(info, key))
}

fn ratio(value: f64) -> f64 {
    value.clamp(0.0, 1.0)
}

/// Sums collected for one node while the window's series are read.
#[derive(Debug, Default)]
struct Collector {
    idle_share_by_cpu: BTreeMap<String, f64>,
    cpus_seen: BTreeSet<String>,
    cpu_seconds_idle: f64,
    cpu_seconds_all: f64,
    cpu_cores_used: Option<f64>,
    logical_count: Option<f64>,
    memory_used_share: Option<f64>,
    memory_usage_by_state: BTreeMap<String, f64>,
    memory_limit: Option<f64>,
    memory_available: Option<f64>,
    working_set: Option<f64>,
    allocatable_memory: Option<f64>,
    gpu: BTreeMap<String, f64>,
    gpu_memory_used: BTreeMap<String, f64>,
    gpu_memory_limit: BTreeMap<String, f64>,
    gpu_memory_free: BTreeMap<String, f64>,
    gpu_devices: BTreeSet<String>,
    frame: NodeFrame,
}

impl Collector {
    fn read(&mut self, info: &SeriesInfo, aggregate: &SeriesAggregate) {
        let (Some(mean), sum) = (aggregate.mean, aggregate.sum.unwrap_or(0.0)) else { return };
        let device = info.device.clone().unwrap_or_default();
        let metric = info.metric.as_str();
        if metric.starts_with("system.cpu.") && !device.is_empty() {
            self.cpus_seen.insert(device.clone());
        }
        if metric.starts_with("hw.gpu.") && !device.is_empty() {
            self.gpu_devices.insert(device.clone());
        }
        let frame = &mut self.frame;
        match (metric, state(info)) {
            ("system.cpu.utilization", Some("idle")) => *self.idle_share_by_cpu.entry(device).or_default() += mean,
            ("system.cpu.time", Some(state)) => {
                self.cpu_seconds_all += sum;
                if state == "idle" {
                    self.cpu_seconds_idle += sum;
                }
            }
            ("k8s.node.cpu.utilization", _) => self.cpu_cores_used = Some(mean),
            ("system.cpu.logical.count", _) => self.logical_count = aggregate.last,
            ("system.memory.utilization", Some("used")) => self.memory_used_share = Some(mean),
            ("system.memory.usage", Some(state)) => {
                self.memory_usage_by_state.insert(state.to_string(), mean);
            }
            ("system.memory.limit", _) => self.memory_limit = aggregate.last,
            ("system.linux.memory.available", _) => self.memory_available = Some(mean),
            ("k8s.node.memory.working_set", _) => self.working_set = Some(mean),
            ("k8s.node.allocatable_memory", _) => self.allocatable_memory = aggregate.last,
            ("hw.gpu.utilization", _) => {
                self.gpu.insert(device, ratio(mean));
            }
            ("hw.gpu.memory.usage", _) => {
                self.gpu_memory_used.insert(device, mean);
            }
            ("hw.gpu.memory.limit", _) => {
                self.gpu_memory_limit.insert(device, mean);
            }
            ("hw.gpu.memory.free", _) => {
                self.gpu_memory_free.insert(device, mean);
            }
            ("hw.gpu.xid_errors", _) => frame.gpu_xid_errors = frame.gpu_xid_errors.max(aggregate.max.unwrap_or(0.0)),
            ("hw.gpu.ecc_errors", _) => frame.gpu_ecc_errors = frame.gpu_ecc_errors.max(aggregate.max.unwrap_or(0.0)),
            ("hw.gpu.temperature", _) => {
                let hottest = aggregate.max.unwrap_or(mean);
                frame.gpu_max_temperature = Some(frame.gpu_max_temperature.map_or(hottest, |t| t.max(hottest)));
            }
            ("system.pressure.cpu.some", _) => frame.stall.cpu = aggregate.rate.map(ratio),
            ("system.pressure.memory.some", _) => frame.stall.memory = aggregate.rate.map(ratio),
            ("system.pressure.io.some", _) => frame.stall.io = aggregate.rate.map(ratio),
            _ => {}
        }
    }

    fn finish(mut self) -> NodeFrame {
        let vcpus = self.logical_count.or((!self.cpus_seen.is_empty()).then_some(self.cpus_seen.len() as f64));
        let usage_total: f64 = self.memory_usage_by_state.values().sum();
        let memory_bytes =
            self.memory_limit.or_else(|| (usage_total > 0.0).then_some(usage_total)).or(self.allocatable_memory);
        let cpu_from_time = (self.cpu_seconds_all > 0.0).then(|| 1.0 - self.cpu_seconds_idle / self.cpu_seconds_all);
        let cpu = NodeFrame::mean(&self.idle_share_by_cpu)
            .map(|idle| 1.0 - idle)
            .or(cpu_from_time)
            .or_else(|| self.cpu_cores_used.zip(vcpus.filter(|v| *v > 0.0)).map(|(used, cores)| used / cores));
        let memory_from_usage =
            self.memory_usage_by_state.get("used").filter(|_| usage_total > 0.0).map(|used| used / usage_total);
        let memory = self
            .memory_used_share
            .or(memory_from_usage)
            .or_else(|| self.working_set.zip(self.allocatable_memory.filter(|a| *a > 0.0)).map(|(w, a)| w / a))
            .or_else(|| {
                self.memory_available.zip(self.memory_limit.filter(|l| *l > 0.0)).map(|(free, l)| 1.0 - free / l)
            });
        let gpu_memory = self
            .gpu_memory_used
            .iter()
            .filter_map(|(device, used)| {
                let limit = self
                    .gpu_memory_limit
                    .get(device)
                    .copied()
                    .or_else(|| self.gpu_memory_free.get(device).map(|f| used + f));
                limit.filter(|l| *l > 0.0).map(|l| (device.clone(), ratio(used / l)))
            })
            .collect();
        self.frame.cpu = cpu.map(ratio);
        self.frame.memory = memory.map(ratio);
        self.frame.gpu = self.gpu;
        self.frame.gpu_memory = gpu_memory;
        self.frame.vcpus = vcpus;
        self.frame.memory_bytes = memory_bytes;
        self.frame.gpus = self.gpu_devices.len();
        self.frame
    }
}

/// The frames of every node with data in one closed window, by node name.
pub fn node_frames(aggregates: &[SeriesAggregate], table: &SeriesTable) -> BTreeMap<String, NodeFrame> {
    let mut collectors: BTreeMap<String, Collector> = BTreeMap::new();
    for aggregate in aggregates {
        let Some(info) = table.info(aggregate.series) else { continue };
        let Some(node) = &info.node else { continue };
        collectors.entry(node.clone()).or_default().read(info, aggregate);
    }
    collectors
        .into_iter()
        .map(|(node, collector)| {
            let mut frame = collector.finish();
            frame.node = node.clone();
            (node, frame)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesInterner;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    /// Interns `series` (metric, device, attributes) for node `node` and gives each the
    /// aggregate built by `aggregate` from its value.
    fn window(node: &str, series: &[(&str, &str, &str, f64)]) -> (SeriesInterner, Vec<SeriesAggregate>) {
        let interner = SeriesInterner::new(100);
        let aggregates = series
            .iter()
            .enumerate()
            .map(|(i, (metric, device, attributes, value))| {
                let info = SeriesInfo {
                    node: Some(node.into()),
                    metric: (*metric).into(),
                    device: (!device.is_empty()).then(|| (*device).into()),
                    attributes: (*attributes).into(),
                    ..SeriesInfo::default()
                };
                let id = interner.register(i as u64, info).unwrap();
                SeriesAggregate {
                    series: id,
                    count: 1,
                    mean: Some(*value),
                    max: Some(*value),
                    last: Some(*value),
                    sum: Some(*value),
                    rate: Some(*value / 10.0),
                    ..SeriesAggregate::default()
                }
            })
            .collect();
        (interner, aggregates)
    }

    #[test]
    fn hostmetrics_and_gpu_shapes_make_a_frame() {
        let (interner, aggregates) = window(
            "n1",
            &[
                ("system.cpu.utilization", "0", "cpu=0,state=idle", 0.6),
                ("system.cpu.utilization", "0", "cpu=0,state=user", 0.3),
                ("system.cpu.utilization", "1", "cpu=1,state=idle", 0.4),
                ("system.memory.usage", "", "state=used", 6.0 * GIB),
                ("system.memory.usage", "", "state=free", 2.0 * GIB),
                ("hw.gpu.utilization", "gpu0", "hw.id=gpu0", 0.9),
                ("hw.gpu.utilization", "gpu1", "hw.id=gpu1", 0.3),
                ("hw.gpu.memory.usage", "gpu0", "hw.id=gpu0", 10.0),
                ("hw.gpu.memory.limit", "gpu0", "hw.id=gpu0", 40.0),
                ("system.pressure.memory.some", "", "", 2.0),
            ],
        );
        let frames = node_frames(&aggregates, &interner.read());
        let frame = &frames["n1"];
        // CPU: 1 − mean(0.6, 0.4) = 0.5; memory: 6 / (6 + 2) = 0.75
        assert_eq!((frame.cpu, frame.memory), (Some(0.5), Some(0.75)));
        assert_eq!((frame.vcpus, frame.memory_bytes, frame.gpus), (Some(2.0), Some(8.0 * GIB), 2));
        assert_eq!((NodeFrame::mean(&frame.gpu), NodeFrame::max(&frame.gpu)), (Some(0.6), Some(0.9)));
        assert_eq!(frame.gpu_memory.get("gpu0"), Some(&0.25));
        // 2 s stalled in a 10 s window
        assert_eq!(frame.stall.memory, Some(0.2));
    }

    #[test]
    fn cpu_time_counters_and_kubelet_shapes_are_read_when_nothing_better_is_there() {
        let (interner, aggregates) = window(
            "n2",
            &[
                ("system.cpu.time", "0", "cpu=0,state=idle", 30.0),
                ("system.cpu.time", "0", "cpu=0,state=user", 10.0),
                ("system.cpu.time", "0", "cpu=0,state=system", 10.0),
                ("k8s.node.memory.working_set", "", "", 3.0 * GIB),
                ("k8s.node.allocatable_memory", "", "", 12.0 * GIB),
            ],
        );
        let frame = &node_frames(&aggregates, &interner.read())["n2"];
        // CPU: 1 − 30 / 50 = 0.4; memory: 3 / 12 = 0.25, capacity the allocatable memory
        assert_eq!((frame.cpu, frame.memory, frame.memory_bytes), (Some(0.4), Some(0.25), Some(12.0 * GIB)));
        assert_eq!((frame.gpus, NodeFrame::mean(&frame.gpu)), (0, None), "no GPU");
        assert_eq!(frame.stall, crate::score::pressure::Stall::default(), "no PSI");
    }

    #[test]
    fn series_without_a_node_and_unknown_metrics_are_ignored() {
        let (interner, mut aggregates) = window("n3", &[("custom.thing", "", "", 5.0)]);
        let frames = node_frames(&aggregates, &interner.read());
        assert_eq!(frames["n3"].cpu, None);
        aggregates[0].series = 99;
        assert!(node_frames(&aggregates, &interner.read()).is_empty());
    }
}
