//! What a pod asks for, in the terms placement works in: CPU cores, memory bytes, and GPUs
//! in thousandths of a GPU ("milli", as the Alibaba GPU trace counts them) — a share of one
//! GPU, or whole GPUs each wholly free — with the GPU models it accepts. The extender reads it
//! from a Kubernetes pod's resource requests; the simulator from a trace's numbers
//! ([`GpuDemand::from_trace`]).

/// One GPU in milli.
pub const WHOLE_GPU: u32 = 1000;

/// A pod's GPU demand.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GpuDemand {
    /// No GPU.
    #[default]
    None,
    /// A share of one GPU, 1..1000 milli.
    Fraction(u32),
    /// Whole GPUs, each wholly free.
    Whole(u32),
}

impl GpuDemand {
    /// The demand from the trace's two numbers: `gpu_milli` below 1000 on one GPU is a
    /// share, otherwise `num_gpu` whole GPUs.
    ///
    /// ```
    /// use ironspider_placement::demand::GpuDemand;
    /// assert_eq!(GpuDemand::from_trace(1, 250), GpuDemand::Fraction(250));
    /// assert_eq!(GpuDemand::from_trace(2, 1000).milli(), 2000);
    /// ```
    pub fn from_trace(num_gpu: u32, gpu_milli: u32) -> Self {
        match (num_gpu, gpu_milli) {
            (0, _) | (_, 0) => GpuDemand::None,
            (1, milli) if milli < WHOLE_GPU => GpuDemand::Fraction(milli),
            (n, _) => GpuDemand::Whole(n),
        }
    }

    /// Total milli asked for.
    pub fn milli(&self) -> u32 {
        match self {
            GpuDemand::None => 0,
            GpuDemand::Fraction(milli) => *milli,
            GpuDemand::Whole(n) => n.saturating_mul(WHOLE_GPU),
        }
    }
}

/// What a pod asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodRequest {
    /// CPU cores.
    pub cpu: f64,
    /// Memory bytes.
    pub memory: f64,
    /// GPUs.
    pub gpu: GpuDemand,
    /// GPU models the pod accepts; empty for any.
    pub gpu_models: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_numbers_map_to_demands() {
        assert_eq!(GpuDemand::from_trace(1, 300), GpuDemand::Fraction(300));
        assert_eq!(GpuDemand::from_trace(1, 1000), GpuDemand::Whole(1));
        assert_eq!(GpuDemand::from_trace(4, 1000), GpuDemand::Whole(4));
        assert_eq!(GpuDemand::from_trace(0, 0), GpuDemand::None);
        assert_eq!(GpuDemand::Whole(4).milli(), 4000);
    }
}
