//! The folder layouts `evaluate forecasts --layout` reads, each with its panel, its protocol
//! and the season its models are given:
//!
//! | layout | panel | protocol | models' season |
//! |---|---|---|---|
//! | `bitbrains` (default) | [`panel::bitbrains_cpu`]: CPU share per VM, 300 s grid | [`Protocol::BITBRAINS`] | 288 (a day) |
//! | `genai` | [`genai_panel::gpu_duty`]: GPU duty cycle per pod, 57 s grid | [`Protocol::GENAI`] | 1 (none) |
//!
//! The GenAI trace covers 22.8 h, less than the day's 1,516 steps of 57 s: no model could see
//! one daily season before its first origin, so the models get the protocol's season, 1. At
//! that season `snaive` is `naive` itself (listed as a check), `holt_winters` is refused by
//! its constructor (it needs a season ≥ 2; left out of the default list), and the bank holds
//! no Holt-Winters candidate (its rule for a season below 2).

use ironspider_datasets::{DatasetError, genai_panel, panel, panel::Panel};
use ironspider_models::backtest::Protocol;
use std::path::Path;

/// A dataset layout `evaluate forecasts` can backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Layout {
    /// Bitbrains GWA-T-12 Rnd: one `N.csv` per VM.
    #[default]
    Bitbrains,
    /// Alibaba GenAI 2026: `pod_gpu_duty_cycle_anon.csv`.
    Genai,
}

impl Layout {
    /// The panel of the folder `dir`.
    pub fn panel(self, dir: &Path) -> Result<Panel, DatasetError> {
        match self {
            Layout::Bitbrains => panel::bitbrains_cpu(dir),
            Layout::Genai => genai_panel::gpu_duty(dir),
        }
    }

    /// Where the origins are and how a series is scored.
    pub fn protocol(self) -> Protocol {
        match self {
            Layout::Bitbrains => Protocol::BITBRAINS,
            Layout::Genai => Protocol::GENAI,
        }
    }

    /// The season, in steps, the models are built for.
    pub fn season(self) -> usize {
        match self {
            Layout::Bitbrains => panel::DAY_STEPS,
            Layout::Genai => Protocol::GENAI.season,
        }
    }
}
