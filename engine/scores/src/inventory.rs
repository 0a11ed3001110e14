//! A node inventory in the configuration: capacity and type that telemetry does not report
//! (or reports wrongly), by node name. Each field given overrides what the node frame read.
//!
//! ```toml
//! [engine.scores.inventory.gpu-node-7]
//! vcpus = 96
//! memory_gib = 768
//! gpus = 8
//! gpu_model = "A100-SXM4-80GB"
//! instance_type = "p4d.24xlarge"
//! ```

use crate::frame::NodeFrame;
use serde::{Deserialize, Serialize};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// One node's configured capacity and type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeInventory {
    /// Logical CPUs.
    pub vcpus: Option<f64>,
    /// Memory in GiB.
    pub memory_gib: Option<f64>,
    /// Number of GPUs.
    pub gpus: Option<usize>,
    /// GPU model.
    pub gpu_model: Option<String>,
    /// Instance type (selects a configured price).
    pub instance_type: Option<String>,
}

impl NodeInventory {
    /// Overrides the frame's capacity and type with every field that is set.
    pub fn apply(&self, frame: &mut NodeFrame) {
        if let Some(vcpus) = self.vcpus {
            frame.vcpus = Some(vcpus);
        }
        if let Some(gib) = self.memory_gib {
            frame.memory_bytes = Some(gib * GIB);
        }
        if let Some(gpus) = self.gpus {
            frame.gpus = gpus;
        }
        if self.gpu_model.is_some() {
            frame.gpu_model.clone_from(&self.gpu_model);
        }
        if self.instance_type.is_some() {
            frame.instance_type.clone_from(&self.instance_type);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_fields_override_telemetry_and_unset_ones_keep_it() {
        let mut frame = NodeFrame { vcpus: Some(4.0), memory_bytes: Some(GIB), gpus: 1, ..NodeFrame::default() };
        let inventory: NodeInventory = toml_like(r#"{"vcpus": 96.0, "gpus": 8, "gpu_model": "A100"}"#);
        inventory.apply(&mut frame);
        assert_eq!((frame.vcpus, frame.memory_bytes, frame.gpus), (Some(96.0), Some(GIB), 8));
        assert_eq!(frame.gpu_model.as_deref(), Some("A100"));
        assert_eq!(frame.instance_type, None);
    }

    fn toml_like(json: &str) -> NodeInventory {
        serde_json::from_str(json).expect("inventory entry")
    }
}
