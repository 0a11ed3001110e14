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
//! | instance type | `node.kubernetes.io/instance-type` or `host.type` of any of the node's series |
//! | GPU model | the `modelName` (DCGM), `hw.model` or `gpu.model` attribute of a `hw.gpu.*` series |
//! | network, disk throughput | Σ of the rates of `system.network.io` and `system.disk.io` (bytes/s, all devices and directions) |
//!
//! The node inventory of the configuration ([`ironspider_scores::inventory`]) overrides capacity
//! and type where it names the node.
//!
//! Gauges are read by their window mean; counters by their window sum (seconds in the
//! window) or rate. Ratios are clamped to [0, 1].

use crate::aggregate::SeriesAggregate;
use crate::series::{SeriesInfo, SeriesTable};
use hashbrown::HashMap;
use ironspider_scores::NodeFrame;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The value of point attribute `key` of a series (from its sorted `key=value,…` text).
pub fn attribute<'i>(info: &'i SeriesInfo, key: &str) -> Option<&'i str> {
    pairs(info).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// The `(key, value)` pairs of a series' `key=value,…` attribute text. Cut byte-wise: `,`
/// and `=` are ASCII, so every cut falls on a character boundary.
fn pairs(info: &SeriesInfo) -> impl Iterator<Item = (&str, &str)> {
    let text = info.attributes.as_str();
    let ends = text.bytes().enumerate().filter(|(_, b)| *b == b',').map(|(i, _)| i).chain([text.len()]);
    let mut start = 0;
    ends.filter_map(move |end| {
        let pair = &text[start..end];
        start = end + 1;
        let equals = pair.bytes().position(|b| b == b'=')?;
        Some((&pair[..equals], &pair[equals + 1..]))
    })
}

/// Attribute keys that name the CPU or memory state a series is about, in order of
/// preference.
const STATE_KEYS: [&str; 5] = ["state", "cpu.mode", "system.cpu.state", "system.memory.state", "mode"];

/// The value of the most preferred of `keys` (earliest in the list) among a series'
/// attributes, in one pass over them.
fn first_of<'i>(info: &'i SeriesInfo, keys: &[&str]) -> Option<&'i str> {
    let mut best: Option<(usize, &str)> = None;
    for (key, value) in pairs(info) {
        if let Some(rank) = keys.iter().position(|k| *k == key)
            && best.is_none_or(|(best_rank, _)| rank < best_rank)
        {
            best = Some((rank, value));
        }
    }
    best.map(|(_, value)| value)
}

/// The CPU or memory state a series is about.
fn state(info: &SeriesInfo) -> Option<&str> {
    first_of(info, &STATE_KEYS)
}

/// The canonical metrics the frame reads (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    CpuUtilization,
    CpuTime,
    NodeCpuCores,
    CpuLogicalCount,
    MemoryUtilization,
    MemoryUsage,
    MemoryLimit,
    MemoryAvailable,
    WorkingSet,
    AllocatableMemory,
    GpuUtilization,
    GpuMemoryUsage,
    GpuMemoryLimit,
    GpuMemoryFree,
    GpuXidErrors,
    GpuEccErrors,
    GpuTemperature,
    CpuStall,
    MemoryStall,
    IoStall,
    NetworkIo,
    DiskIo,
}

/// Canonical metric name → what it is: one hash lookup per series instead of a chain of
/// string comparisons.
static READINGS: LazyLock<HashMap<&'static str, Reading>> = LazyLock::new(|| {
    HashMap::from_iter([
        ("system.cpu.utilization", Reading::CpuUtilization),
        ("system.cpu.time", Reading::CpuTime),
        ("k8s.node.cpu.utilization", Reading::NodeCpuCores),
        ("system.cpu.logical.count", Reading::CpuLogicalCount),
        ("system.memory.utilization", Reading::MemoryUtilization),
        ("system.memory.usage", Reading::MemoryUsage),
        ("system.memory.limit", Reading::MemoryLimit),
        ("system.linux.memory.available", Reading::MemoryAvailable),
        ("k8s.node.memory.working_set", Reading::WorkingSet),
        ("k8s.node.allocatable_memory", Reading::AllocatableMemory),
        ("hw.gpu.utilization", Reading::GpuUtilization),
        ("hw.gpu.memory.usage", Reading::GpuMemoryUsage),
        ("hw.gpu.memory.limit", Reading::GpuMemoryLimit),
        ("hw.gpu.memory.free", Reading::GpuMemoryFree),
        ("hw.gpu.xid_errors", Reading::GpuXidErrors),
        ("hw.gpu.ecc_errors", Reading::GpuEccErrors),
        ("hw.gpu.temperature", Reading::GpuTemperature),
        ("system.pressure.cpu.some", Reading::CpuStall),
        ("system.pressure.memory.some", Reading::MemoryStall),
        ("system.pressure.io.some", Reading::IoStall),
        ("system.network.io", Reading::NetworkIo),
        ("system.disk.io", Reading::DiskIo),
    ])
});

/// Attributes naming a GPU's model: DCGM exporter's label, then OTel-style names.
const GPU_MODEL_KEYS: [&str; 3] = ["modelName", "hw.model", "gpu.model"];

/// Adds a counter's rate to a running total (a total stays unknown until a rate is known).
fn add_rate(total: &mut Option<f64>, rate: Option<f64>) {
    if let Some(rate) = rate {
        *total = Some(total.unwrap_or(0.0) + rate);
    }
}

fn ratio(value: f64) -> f64 {
    value.clamp(0.0, 1.0)
}

/// Sums collected for one node while the window's series are read; device keys borrow the
/// series table.
#[derive(Debug, Default)]
struct Collector<'t> {
    /// Idle share of each CPU series with `state=idle` (one per CPU).
    idle_shares: Vec<f64>,
    /// CPU devices of every CPU series (repeated; counted distinct at the end).
    cpus_seen: Vec<&'t str>,
    cpu_seconds_idle: f64,
    cpu_seconds_all: f64,
    cpu_cores_used: Option<f64>,
    logical_count: Option<f64>,
    memory_used_share: Option<f64>,
    memory_usage_total: f64,
    memory_usage_used: Option<f64>,
    memory_limit: Option<f64>,
    memory_available: Option<f64>,
    working_set: Option<f64>,
    allocatable_memory: Option<f64>,
    gpu: BTreeMap<&'t str, f64>,
    gpu_memory_used: BTreeMap<&'t str, f64>,
    gpu_memory_limit: BTreeMap<&'t str, f64>,
    gpu_memory_free: BTreeMap<&'t str, f64>,
    /// GPU devices of every GPU series (repeated; counted distinct at the end).
    gpu_devices: Vec<&'t str>,
    frame: NodeFrame,
}

impl<'t> Collector<'t> {
    fn read(&mut self, info: &'t SeriesInfo, aggregate: &SeriesAggregate) {
        let (Some(mean), sum) = (aggregate.mean, aggregate.sum.unwrap_or(0.0)) else { return };
        if self.frame.instance_type.is_none() && info.instance_type.is_some() {
            self.frame.instance_type.clone_from(&info.instance_type);
        }
        let metric = info.metric.as_str();
        let device = info.device.as_deref().unwrap_or_default();
        if !device.is_empty() {
            if metric.starts_with("system.cpu.") {
                self.cpus_seen.push(device);
            } else if metric.starts_with("hw.gpu.") {
                self.gpu_devices.push(device);
                if self.frame.gpu_model.is_none() {
                    self.frame.gpu_model = first_of(info, &GPU_MODEL_KEYS).map(str::to_string);
                }
            }
        }
        let Some(&reading) = READINGS.get(metric) else { return };
        let frame = &mut self.frame;
        match reading {
            Reading::CpuUtilization => {
                if state(info) == Some("idle") {
                    self.idle_shares.push(mean);
                }
            }
            Reading::CpuTime => {
                if let Some(state) = state(info) {
                    self.cpu_seconds_all += sum;
                    if state == "idle" {
                        self.cpu_seconds_idle += sum;
                    }
                }
            }
            Reading::NodeCpuCores => self.cpu_cores_used = Some(mean),
            Reading::CpuLogicalCount => self.logical_count = aggregate.last,
            Reading::MemoryUtilization => {
                if state(info) == Some("used") {
                    self.memory_used_share = Some(mean);
                }
            }
            Reading::MemoryUsage => {
                if let Some(state) = state(info) {
                    self.memory_usage_total += mean;
                    if state == "used" {
                        self.memory_usage_used = Some(mean);
                    }
                }
            }
            Reading::MemoryLimit => self.memory_limit = aggregate.last,
            Reading::MemoryAvailable => self.memory_available = Some(mean),
            Reading::WorkingSet => self.working_set = Some(mean),
            Reading::AllocatableMemory => self.allocatable_memory = aggregate.last,
            Reading::GpuUtilization => {
                self.gpu.insert(device, ratio(mean));
            }
            Reading::GpuMemoryUsage => {
                self.gpu_memory_used.insert(device, mean);
            }
            Reading::GpuMemoryLimit => {
                self.gpu_memory_limit.insert(device, mean);
            }
            Reading::GpuMemoryFree => {
                self.gpu_memory_free.insert(device, mean);
            }
            Reading::GpuXidErrors => frame.gpu_xid_errors = frame.gpu_xid_errors.max(aggregate.max.unwrap_or(0.0)),
            Reading::GpuEccErrors => frame.gpu_ecc_errors = frame.gpu_ecc_errors.max(aggregate.max.unwrap_or(0.0)),
            Reading::GpuTemperature => {
                let hottest = aggregate.max.unwrap_or(mean);
                frame.gpu_max_temperature = Some(frame.gpu_max_temperature.map_or(hottest, |t| t.max(hottest)));
            }
            Reading::CpuStall => frame.stall.cpu = aggregate.rate.map(ratio),
            Reading::MemoryStall => frame.stall.memory = aggregate.rate.map(ratio),
            Reading::IoStall => frame.stall.io = aggregate.rate.map(ratio),
            Reading::NetworkIo => add_rate(&mut frame.network_bytes_per_second, aggregate.rate),
            Reading::DiskIo => add_rate(&mut frame.disk_bytes_per_second, aggregate.rate),
        }
    }

    fn finish(mut self) -> NodeFrame {
        let distinct = |devices: &mut Vec<&str>| {
            devices.sort_unstable();
            devices.dedup();
            devices.len()
        };
        let cpus = distinct(&mut self.cpus_seen);
        let vcpus = self.logical_count.or((cpus > 0).then_some(cpus as f64));
        let usage_total = self.memory_usage_total;
        let memory_bytes =
            self.memory_limit.or_else(|| (usage_total > 0.0).then_some(usage_total)).or(self.allocatable_memory);
        let cpu_from_time = (self.cpu_seconds_all > 0.0).then(|| 1.0 - self.cpu_seconds_idle / self.cpu_seconds_all);
        let cpu = NodeFrame::mean_of(self.idle_shares.iter())
            .map(|idle| 1.0 - idle)
            .or(cpu_from_time)
            .or_else(|| self.cpu_cores_used.zip(vcpus.filter(|v| *v > 0.0)).map(|(used, cores)| used / cores));
        let memory_from_usage = self.memory_usage_used.filter(|_| usage_total > 0.0).map(|used| used / usage_total);
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
                limit.filter(|l| *l > 0.0).map(|l| (device.to_string(), ratio(used / l)))
            })
            .collect();
        self.frame.cpu = cpu.map(ratio);
        self.frame.memory = memory.map(ratio);
        self.frame.gpu = self.gpu.iter().map(|(device, u)| (device.to_string(), *u)).collect();
        self.frame.gpu_memory = gpu_memory;
        self.frame.vcpus = vcpus;
        self.frame.memory_bytes = memory_bytes;
        self.frame.gpus = distinct(&mut self.gpu_devices);
        self.frame
    }
}

/// The frames of every node with data in one closed window, in no particular order.
///
/// Aggregates arrive in series order, and a node's series were mostly registered together,
/// so the node of the previous aggregate is checked before the map of nodes.
pub fn node_frames(aggregates: &[SeriesAggregate], table: &SeriesTable) -> Vec<NodeFrame> {
    let mut collectors: Vec<(&str, Collector<'_>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    for aggregate in aggregates {
        let Some(info) = table.info(aggregate.series) else { continue };
        let Some(node) = info.node.as_deref() else { continue };
        let slot = match current.filter(|&i| collectors[i].0 == node) {
            Some(i) => i,
            None => *index.entry(node).or_insert_with(|| {
                collectors.push((node, Collector::default()));
                collectors.len() - 1
            }),
        };
        current = Some(slot);
        collectors[slot].1.read(info, aggregate);
    }
    collectors.into_iter().map(|(node, collector)| NodeFrame { node: node.to_string(), ..collector.finish() }).collect()
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
                ("hw.gpu.utilization", "gpu1", "hw.id=gpu1,hw.model=A100", 0.3),
                ("hw.gpu.memory.usage", "gpu0", "hw.id=gpu0", 10.0),
                ("hw.gpu.memory.limit", "gpu0", "hw.id=gpu0", 40.0),
                ("system.pressure.memory.some", "", "", 2.0),
                ("system.network.io", "eth0", "device=eth0,direction=receive", 100.0),
                ("system.network.io", "eth0", "device=eth0,direction=transmit", 50.0),
            ],
        );
        let frames = node_frames(&aggregates, &interner.read());
        let [frame] = &frames[..] else { panic!("one node expected") };
        assert_eq!(frame.node, "n1");
        // CPU: 1 − mean(0.6, 0.4) = 0.5; memory: 6 / (6 + 2) = 0.75
        assert_eq!((frame.cpu, frame.memory), (Some(0.5), Some(0.75)));
        assert_eq!((frame.vcpus, frame.memory_bytes, frame.gpus), (Some(2.0), Some(8.0 * GIB), 2));
        assert_eq!((NodeFrame::mean(&frame.gpu), NodeFrame::max(&frame.gpu)), (Some(0.6), Some(0.9)));
        assert_eq!(frame.gpu_memory.get("gpu0"), Some(&0.25));
        // 2 s stalled in a 10 s window
        assert_eq!(frame.stall.memory, Some(0.2));
        // 100 + 50 bytes in a 10 s window; no disk series
        assert_eq!((frame.network_bytes_per_second, frame.disk_bytes_per_second), (Some(15.0), None));
        assert_eq!(frame.gpu_model.as_deref(), Some("A100"));
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
        let frames = node_frames(&aggregates, &interner.read());
        let frame = &frames[0];
        // CPU: 1 − 30 / 50 = 0.4; memory: 3 / 12 = 0.25, capacity the allocatable memory
        assert_eq!((frame.cpu, frame.memory, frame.memory_bytes), (Some(0.4), Some(0.25), Some(12.0 * GIB)));
        assert_eq!((frame.gpus, NodeFrame::mean(&frame.gpu)), (0, None), "no GPU");
        assert_eq!(frame.stall, ironspider_scores::pressure::Stall::default(), "no PSI");
    }

    #[test]
    fn series_without_a_node_and_unknown_metrics_are_ignored() {
        let (interner, mut aggregates) = window("n3", &[("custom.thing", "", "", 5.0)]);
        let frames = node_frames(&aggregates, &interner.read());
        assert_eq!((frames[0].node.as_str(), frames[0].cpu), ("n3", None));
        aggregates[0].series = 99;
        assert!(node_frames(&aggregates, &interner.read()).is_empty());
    }
}
