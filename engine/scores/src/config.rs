//! The `[engine.scores]` table of the configuration: the settings of each formula and the
//! node inventory.

use crate::{cost, health, inventory, pressure};
use serde::{Deserialize, Serialize};

/// The `[engine.scores]` table of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScoreConfig {
    /// Node pressure.
    pub pressure: pressure::PressureConfig,
    /// Health index.
    pub health: health::HealthConfig,
    /// Prices.
    pub cost: cost::CostConfig,
    /// Configured capacity and type by node name (`[engine.scores.inventory.NODE]`).
    pub inventory: std::collections::BTreeMap<String, inventory::NodeInventory>,
}

/// A score setting outside the range its formula is defined on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("engine.scores.{key} = {value}: {rule}")]
pub struct ScoreConfigError {
    /// The setting, below `engine.scores`.
    pub key: String,
    /// The value given.
    pub value: String,
    /// The range it must be in.
    pub rule: &'static str,
}

fn check(ok: bool, key: &str, value: impl std::fmt::Display, rule: &'static str) -> Result<(), ScoreConfigError> {
    if ok { Ok(()) } else { Err(ScoreConfigError { key: key.to_string(), value: value.to_string(), rule }) }
}

fn price(key: &str, value: f64) -> Result<(), ScoreConfigError> {
    check(value.is_finite() && value >= 0.0, key, value, "a price is a finite number, 0 or more")
}

impl ScoreConfig {
    /// Refuses settings the formulas are not defined for (each module's doc gives them),
    /// rather than letting the formulas clamp them silently.
    pub fn validate(&self) -> Result<(), ScoreConfigError> {
        let (p, h, c) = (&self.pressure, &self.health, &self.cost);
        check(p.target > 0.0 && p.target < 1.0, "pressure.target", p.target, "must be between 0 and 1, exclusive")?;
        check(p.variability_margin >= 0.0, "pressure.variability_margin", p.variability_margin, "must be 0 or more")?;
        check((0.0..=1.0).contains(&p.stall_weight), "pressure.stall_weight", p.stall_weight, "must be in [0, 1]")?;
        check(p.variability_windows >= 1, "pressure.variability_windows", p.variability_windows, "must be at least 1")?;
        check(h.stale_windows >= 1, "health.stale_windows", h.stale_windows, "must be at least 1")?;
        check((0.0..1.0).contains(&h.hot_pressure), "health.hot_pressure", h.hot_pressure, "must be in [0, 1)")?;
        price("cost.cpu_hour", c.cpu_hour)?;
        price("cost.ram_gib_hour", c.ram_gib_hour)?;
        price("cost.gpu_hour", c.gpu_hour)?;
        for (instance_type, value) in &c.instance_types {
            price(&format!("cost.instance_types.{instance_type}"), *value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_a_target_of_one_is_refused_by_name() {
        assert_eq!(ScoreConfig::default().validate(), Ok(()));
        let mut config = ScoreConfig::default();
        config.pressure.target = 1.0;
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(error, "engine.scores.pressure.target = 1: must be between 0 and 1, exclusive");
        let mut config = ScoreConfig::default();
        config.cost.instance_types.insert("m5.large".into(), f64::NAN);
        assert!(config.validate().unwrap_err().to_string().starts_with("engine.scores.cost.instance_types.m5.large"));
    }
}
