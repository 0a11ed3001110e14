//! The node frame: what one node reported in one closed window, in the canonical resources
//! that the score formulas read. The engine extracts frames from a window's per-series
//! aggregates (which series feed which field is documented there, in `ironspider_engine::frame`);
//! the configured inventory ([`crate::inventory`]) overrides capacity and type.

use std::collections::BTreeMap;

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
    pub stall: crate::pressure::Stall,
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
    /// Instance type, from the first of the node's series that names one.
    pub instance_type: Option<String>,
    /// GPU model, from the first GPU series that names one.
    pub gpu_model: Option<String>,
    /// Network traffic, bytes per second in both directions over all interfaces.
    pub network_bytes_per_second: Option<f64>,
    /// Disk traffic, bytes per second read and written over all disks.
    pub disk_bytes_per_second: Option<f64>,
}

impl NodeFrame {
    /// Mean over the node's GPUs of `values`, `None` without GPUs.
    pub fn mean(values: &BTreeMap<String, f64>) -> Option<f64> {
        Self::mean_of(values.values())
    }

    /// Mean of `values`, `None` when there are none.
    pub fn mean_of<'v>(values: impl ExactSizeIterator<Item = &'v f64>) -> Option<f64> {
        let n = values.len();
        (n > 0).then(|| values.sum::<f64>() / n as f64)
    }

    /// Largest of `values`, `None` without GPUs.
    pub fn max(values: &BTreeMap<String, f64>) -> Option<f64> {
        values.values().copied().reduce(f64::max)
    }
}
