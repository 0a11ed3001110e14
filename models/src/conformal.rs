//! Conformal quantiles (placeholder).

/// p10, p50 and p90 of one horizon's forecast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantiles {
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
}

/// Placeholder.
#[derive(Debug, Default)]
pub struct Conformal;
