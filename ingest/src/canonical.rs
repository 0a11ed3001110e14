//! Mapping metric names onto IronSpider's canonical names.
//!
//! The canonical vocabulary is the OpenTelemetry semantic conventions: a metric that already
//! has an OTel name keeps it, and well-known names of other exporters (Prometheus
//! node_exporter, NVIDIA DCGM exporter) map onto the OTel name with a scale factor that brings
//! the value to the OTel unit (for example DCGM's percent to a 0–1 ratio, MiB to bytes).
//! Unknown metrics keep their name and are still stored and queryable.
//!
//! The table is data: [`default_mappings`] plus the `[[ingest.metric_mappings]]` entries of
//! the config, which override defaults with the same source name.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// One mapping from a source metric name to a canonical one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricMapping {
    /// The name as exporters send it.
    pub source: String,
    /// The canonical (OTel semantic-convention) name.
    pub canonical: String,
    /// Factor applied to values (and histogram bounds) to reach the canonical unit.
    #[serde(default = "unit_scale")]
    pub scale: f64,
}

fn unit_scale() -> f64 {
    1.0
}

const MIB: f64 = 1024.0 * 1024.0;

/// The built-in mappings.
pub fn default_mappings() -> Vec<MetricMapping> {
    let entries: [(&str, &str, f64); 12] = [
        // NVIDIA DCGM exporter (Prometheus names), see dcgm-exporter's default counters.
        ("DCGM_FI_DEV_GPU_UTIL", "hw.gpu.utilization", 0.01),
        ("DCGM_FI_DEV_FB_USED", "hw.gpu.memory.usage", MIB),
        ("DCGM_FI_DEV_FB_FREE", "hw.gpu.memory.free", MIB),
        ("DCGM_FI_DEV_XID_ERRORS", "hw.gpu.xid_errors", 1.0),
        ("DCGM_FI_DEV_GPU_TEMP", "hw.gpu.temperature", 1.0),
        ("DCGM_FI_DEV_POWER_USAGE", "hw.gpu.power", 1.0),
        // Prometheus node_exporter.
        ("node_cpu_seconds_total", "system.cpu.time", 1.0),
        ("node_memory_MemAvailable_bytes", "system.linux.memory.available", 1.0),
        ("node_memory_MemTotal_bytes", "system.memory.limit", 1.0),
        ("node_pressure_cpu_waiting_seconds_total", "system.pressure.cpu.some", 1.0),
        ("node_pressure_memory_waiting_seconds_total", "system.pressure.memory.some", 1.0),
        ("node_pressure_io_waiting_seconds_total", "system.pressure.io.some", 1.0),
    ];
    entries
        .iter()
        .map(|(source, canonical, scale)| MetricMapping {
            source: (*source).into(),
            canonical: (*canonical).into(),
            scale: *scale,
        })
        .collect()
}

/// The lookup table built from defaults and configuration.
#[derive(Debug, Clone, Default)]
pub struct CanonicalMap {
    by_source: HashMap<String, (String, f64)>,
}

impl CanonicalMap {
    /// Defaults, overridden and extended by `extra`.
    pub fn new(extra: &[MetricMapping]) -> Self {
        let by_source = default_mappings()
            .into_iter()
            .chain(extra.iter().cloned())
            .map(|m| (m.source, (m.canonical, m.scale)))
            .collect();
        Self { by_source }
    }

    /// The canonical name and scale of `source`, or `None` when it keeps its name.
    pub fn lookup(&self, source: &str) -> Option<(&str, f64)> {
        self.by_source.get(source).map(|(name, scale)| (name.as_str(), *scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_entries_override_and_extend_the_defaults() {
        let map = CanonicalMap::new(&[
            MetricMapping { source: "DCGM_FI_DEV_GPU_UTIL".into(), canonical: "gpu.busy".into(), scale: 1.0 },
            MetricMapping { source: "my_metric".into(), canonical: "mine".into(), scale: 2.0 },
        ]);
        assert_eq!(map.lookup("DCGM_FI_DEV_GPU_UTIL"), Some(("gpu.busy", 1.0)));
        assert_eq!(map.lookup("my_metric"), Some(("mine", 2.0)));
        assert_eq!(map.lookup("DCGM_FI_DEV_FB_USED"), Some(("hw.gpu.memory.usage", MIB)));
        assert_eq!(map.lookup("unknown"), None);
    }
}
