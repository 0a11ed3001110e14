//! Which attributes name a series' node, device, pod, namespace and cluster.
//!
//! Each descriptive column is filled from the first key of its list that is present, looked
//! up in the resource attributes first and then in the point attributes. The `attributes`
//! column keeps every point attribute as `key=value`, sorted by key.

use crate::attrs::{Attr, render};
use ironspider_engine::{SeriesInfo, SeriesKind};

/// Node identity: `k8s.node.name`, then `host.name`, then `service.instance.id`.
pub const NODE_KEYS: &[&str] = &["k8s.node.name", "host.name", "service.instance.id"];
/// Cluster name.
pub const CLUSTER_KEYS: &[&str] = &["k8s.cluster.name"];
/// Pod name.
pub const POD_KEYS: &[&str] = &["k8s.pod.name"];
/// Namespace.
pub const NAMESPACE_KEYS: &[&str] = &["k8s.namespace.name"];
/// Instance type: the Kubernetes well-known node label, then OTel's `host.type`.
pub const INSTANCE_TYPE_KEYS: &[&str] = &["node.kubernetes.io/instance-type", "host.type"];
/// The device a series is about: GPU (OTel `hw.id`, DCGM `UUID`/`gpu`), disk or NIC
/// (`device`, `system.device`, `network.interface.name`), logical CPU.
pub const DEVICE_KEYS: &[&str] =
    &["hw.id", "UUID", "gpu", "device", "system.device", "network.interface.name", "cpu.logical_number", "cpu"];

fn first_string(keys: &[&str], resource: &[Attr<'_>], point: &[Attr<'_>]) -> Option<String> {
    keys.iter().find_map(|key| {
        resource.iter().chain(point).find(|a| a.key == *key).map(|a| {
            let mut text = String::new();
            render(&a.value, &mut text);
            text
        })
    })
}

/// The series' descriptive columns; called only for a series seen for the first time.
pub struct SeriesDescription<'r, 'a> {
    /// Resource attributes.
    pub resource: &'r [Attr<'a>],
    /// Point attributes.
    pub point: &'r [Attr<'a>],
    /// Canonical (or OTLP) metric name.
    pub metric: &'r str,
    /// Unit.
    pub unit: &'r str,
    /// Kind after normalisation.
    pub kind: SeriesKind,
    /// Whether the engine turns the points into deltas.
    pub cumulative: bool,
}

impl SeriesDescription<'_, '_> {
    /// Builds the series table row.
    pub fn info(&self) -> SeriesInfo {
        let mut sorted: Vec<&Attr<'_>> = self.point.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(b.key));
        let mut attributes = String::new();
        for (i, attr) in sorted.iter().enumerate() {
            if i > 0 {
                attributes.push(',');
            }
            attributes.push_str(attr.key);
            attributes.push('=');
            render(&attr.value, &mut attributes);
        }
        SeriesInfo {
            node: first_string(NODE_KEYS, self.resource, self.point),
            metric: self.metric.to_string(),
            device: first_string(DEVICE_KEYS, self.resource, self.point),
            pod: first_string(POD_KEYS, self.resource, self.point),
            namespace: first_string(NAMESPACE_KEYS, self.resource, self.point),
            cluster: first_string(CLUSTER_KEYS, self.resource, self.point),
            instance_type: first_string(INSTANCE_TYPE_KEYS, self.resource, self.point),
            unit: self.unit.to_string(),
            kind: Some(self.kind),
            cumulative: self.cumulative,
            attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::AttrValue;

    #[test]
    fn node_falls_back_from_k8s_to_host_to_instance_and_attributes_are_sorted() {
        let resource = [
            Attr { key: "service.instance.id", value: AttrValue::Str("i-1") },
            Attr { key: "host.name", value: AttrValue::Str("host-a") },
            Attr { key: "host.type", value: AttrValue::Str("m5.large") },
        ];
        let point =
            [Attr { key: "state", value: AttrValue::Str("idle") }, Attr { key: "cpu", value: AttrValue::Int(3) }];
        let description = SeriesDescription {
            resource: &resource,
            point: &point,
            metric: "system.cpu.utilization",
            unit: "1",
            kind: SeriesKind::Gauge,
            cumulative: false,
        };
        let info = description.info();
        assert_eq!(info.node.as_deref(), Some("host-a"));
        assert_eq!(info.device.as_deref(), Some("3"));
        assert_eq!(info.attributes, "cpu=3,state=idle");
        assert_eq!(info.pod, None);
        assert_eq!(info.instance_type.as_deref(), Some("m5.large"));
    }
}
