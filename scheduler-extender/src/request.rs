//! What a pod asks for ([`PodRequest`], placement's terms), read from a Kubernetes pod: CPU,
//! memory and GPUs from its containers' resource requests
//! (a container without requests counts its limits, as Kubernetes defaults them), summed
//! over containers; init containers count by their largest request, as the scheduler does.
//!
//! GPUs, in thousandths of a GPU ("milli", as the Alibaba GPU trace counts them):
//! - `nvidia.com/gpu: N` asks for N whole GPUs (N × 1000 milli on N devices);
//! - an extended resource named `…/gpu-milli` asks for that many thousandths of one GPU, and
//!   `…/gpu-fraction` for that fraction of one GPU (`0.25` = 250 milli);
//! - accepted GPU models come from the annotation `ironspider.io/gpu-models` (comma list) or
//!   the node selector `nvidia.com/gpu.product`.

use crate::quantity;
use ironspider_placement::demand::{GpuDemand, PodRequest, WHOLE_GPU};
use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::BTreeMap;
use thiserror::Error;

/// A GPU request no node could honour.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GpuRequestError {
    /// `nvidia.com/gpu` is negative or not a whole number.
    #[error("nvidia.com/gpu must be a whole number of GPUs, not {0}")]
    NotWhole(f64),
    /// A share of more than one GPU (or a negative one).
    #[error("{resource} asks for {milli} milli of one GPU; a share is 0 to 1000 milli")]
    ShareOutOfRange {
        /// The extended resource's name.
        resource: String,
        /// The milli asked for.
        milli: f64,
    },
    /// Whole GPUs and a share at once.
    #[error("both nvidia.com/gpu and {0}: ask for whole GPUs or a share of one, not both")]
    WholeAndShare(String),
}

/// The annotation listing accepted GPU models.
pub const GPU_MODELS_ANNOTATION: &str = "ironspider.io/gpu-models";
/// The node label (and node selector key) of NVIDIA's GPU feature discovery naming the model.
pub const GPU_PRODUCT_LABEL: &str = "nvidia.com/gpu.product";

/// Resource name → amount of one container (requests, else limits).
fn container_amounts(container: &Container) -> BTreeMap<String, f64> {
    let Some(resources) = &container.resources else { return BTreeMap::new() };
    let mut amounts: BTreeMap<String, f64> = BTreeMap::new();
    for source in [&resources.limits, &resources.requests].into_iter().flatten() {
        for (name, value) in source {
            if let Some(amount) = quantity::parse(&value.0) {
                amounts.insert(name.clone(), amount);
            }
        }
    }
    amounts
}

fn gpu_demand(amounts: &BTreeMap<String, f64>) -> GpuDemand {
    let whole = amounts.get("nvidia.com/gpu").copied().unwrap_or(0.0);
    if whole >= 1.0 {
        return GpuDemand::Whole(whole.round() as u32);
    }
    let share = amounts.iter().find_map(|(name, amount)| {
        if name.ends_with("/gpu-milli") {
            Some(*amount)
        } else if name.ends_with("/gpu-fraction") {
            Some(amount * f64::from(WHOLE_GPU))
        } else {
            None
        }
    });
    match share.map(|milli| milli.round().clamp(0.0, f64::from(WHOLE_GPU)) as u32) {
        Some(0) | None => GpuDemand::None,
        Some(WHOLE_GPU) => GpuDemand::Whole(1),
        Some(milli) => GpuDemand::Fraction(milli),
    }
}

/// Why a GPU request cannot be honoured, when it cannot: a non-integer or negative count of
/// whole GPUs, a share of more than one GPU, or whole GPUs and a share at once.
fn gpu_problem(amounts: &BTreeMap<String, f64>) -> Option<GpuRequestError> {
    let whole = amounts.get("nvidia.com/gpu").copied().unwrap_or(0.0);
    if whole < 0.0 || whole.fract() != 0.0 {
        return Some(GpuRequestError::NotWhole(whole));
    }
    for (name, amount) in amounts {
        let milli = if name.ends_with("/gpu-milli") {
            *amount
        } else if name.ends_with("/gpu-fraction") {
            amount * f64::from(WHOLE_GPU)
        } else {
            continue;
        };
        if !(0.0..=f64::from(WHOLE_GPU)).contains(&milli) {
            return Some(GpuRequestError::ShareOutOfRange { resource: name.clone(), milli });
        }
        if whole > 0.0 && milli > 0.0 {
            return Some(GpuRequestError::WholeAndShare(name.clone()));
        }
    }
    None
}

/// Every resource the pod asks for, summed over containers (init containers by their peak).
fn totals(pod: &Pod) -> BTreeMap<String, f64> {
    let mut total: BTreeMap<String, f64> = BTreeMap::new();
    let Some(spec) = &pod.spec else { return total };
    for container in &spec.containers {
        for (name, amount) in container_amounts(container) {
            *total.entry(name).or_default() += amount;
        }
    }
    for init in spec.init_containers.iter().flatten() {
        for (name, amount) in container_amounts(init) {
            let entry = total.entry(name).or_default();
            *entry = entry.max(amount);
        }
    }
    total
}

/// Reads a pod's demand (see the module doc), leniently: an impossible GPU request is read
/// as best it can be (see [`read`] for the strict reading).
pub fn of(pod: &Pod) -> PodRequest {
    let total = totals(pod);
    let spec = pod.spec.as_ref();
    let annotated = pod.metadata.annotations.as_ref().and_then(|a| a.get(GPU_MODELS_ANNOTATION));
    let selected = spec.and_then(|s| s.node_selector.as_ref()).and_then(|s| s.get(GPU_PRODUCT_LABEL));
    let gpu_models = annotated
        .or(selected)
        .map(|text| text.split(',').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    PodRequest {
        cpu: total.get("cpu").copied().unwrap_or(0.0),
        memory: total.get("memory").copied().unwrap_or(0.0),
        gpu: gpu_demand(&total),
        gpu_models,
    }
}

/// Reads a pod's demand, refusing a GPU request no node could honour (with the reason).
pub fn read(pod: &Pod) -> Result<PodRequest, GpuRequestError> {
    match gpu_problem(&totals(pod)) {
        Some(problem) => Err(problem),
        None => Ok(of(pod)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).expect("a pod")
    }

    #[test]
    fn containers_add_up_init_containers_count_by_their_peak_and_limits_stand_in_for_requests() {
        let pod = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "2"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}]
            }
        }));
        let request = of(&pod);
        // CPU: max(0.5 + 1, 3) = 3; memory 1 GiB + 512 MiB
        assert_eq!((request.cpu, request.memory), (3.0, 1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(request.gpu, GpuDemand::Whole(2));
        assert!(request.gpu_models.is_empty());
    }

    #[test]
    fn fractional_gpus_and_model_constraints() {
        let milli = pod(serde_json::json!({
            "metadata": {"name": "p", "annotations": {"ironspider.io/gpu-models": "A100, H100"}},
            "spec": {"containers": [{"name": "a", "resources": {"requests": {"example.com/gpu-milli": "250"}}}]}
        }));
        let request = of(&milli);
        assert_eq!(request.gpu, GpuDemand::Fraction(250));
        assert_eq!(request.gpu_models, ["A100", "H100"]);
        let fraction = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": "Tesla-T4"},
                "containers": [{"name": "a", "resources": {"requests": {"x.io/gpu-fraction": "0.5"}}}]
            }
        }));
        let request = of(&fraction);
        assert_eq!((request.gpu.clone(), request.gpu.milli()), (GpuDemand::Fraction(500), 500));
        assert_eq!(request.gpu_models, ["Tesla-T4"]);
    }

    #[test]
    fn impossible_gpu_requests_are_refused_with_the_reason() {
        let asking = |resources: serde_json::Value| {
            read(&pod(serde_json::json!({
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "a", "resources": {"requests": resources}}]}
            })))
        };
        let half = asking(serde_json::json!({"nvidia.com/gpu": "500m"})).unwrap_err();
        assert_eq!(half.to_string(), "nvidia.com/gpu must be a whole number of GPUs, not 0.5");
        let over = asking(serde_json::json!({"x.io/gpu-fraction": "1.5"})).unwrap_err().to_string();
        assert!(over.contains("1500 milli"), "{over}");
        let both = asking(serde_json::json!({"nvidia.com/gpu": "1", "x.io/gpu-milli": "300"})).unwrap_err().to_string();
        assert!(both.starts_with("both nvidia.com/gpu and x.io/gpu-milli"), "{both}");
        assert_eq!(asking(serde_json::json!({"x.io/gpu-milli": "300"})).unwrap().gpu, GpuDemand::Fraction(300));
    }
}
