//! Scores of a node and a window: pressure ([`pressure`]), health ([`health`]) and cost
//! ([`cost`]). Each formula is written once, in its module's doc, next to the code that
//! computes it; `docs/scoring.md` explains them together and links here. The functions are
//! pure: they read numbers the node frame extracted from a closed window and return numbers.

pub mod cost;
pub mod health;
pub mod inventory;
pub mod pressure;

use serde::{Deserialize, Serialize};

/// The `[scores]` table of the configuration.
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
