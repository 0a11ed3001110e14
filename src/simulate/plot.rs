//! `summary.png`: unallocated GPU % (mean over seeds) against arrived GPU demand %, one line
//! per policy, over the part of the curve where policies differ (arrived 80–130 %), as in
//! the FGD paper's Fig. 7. Text uses DejaVu Sans embedded from the `dejavu` crate, so the
//! plot draws the same on a machine without fonts.

use super::summary::Summary;
use anyhow::Context;
use ironspider_placement::policy::PolicyKind;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Arrived % where the plot starts.
const FROM_PCT: usize = 80;
/// Image size in pixels.
const SIZE: (u32, u32) = (960, 600);

/// Registers the embedded font once per process.
fn font() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    anyhow::ensure!(ok, "the embedded DejaVu Sans font could not be loaded");
    Ok(())
}

/// Draws the plot of `summary` into `path`.
pub fn draw(summary: &Summary, path: &Path) -> anyhow::Result<()> {
    font()?;
    render(summary, path).map_err(|e| anyhow::anyhow!("{e}")).with_context(|| format!("cannot draw {}", path.display()))
}

fn render(summary: &Summary, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let points = |curve: &[Option<f64>]| -> Vec<(f64, f64)> {
        curve.iter().enumerate().skip(FROM_PCT).filter_map(|(x, v)| v.map(|v| (x as f64, v))).collect()
    };
    let top = summary.policies.iter().flat_map(|p| points(&p.unallocated)).map(|(_, y)| y).fold(1.0_f64, f64::max);
    let top = (top / 5.0).ceil() * 5.0;
    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "{} on {} ({} seeds)",
        file_name(&summary.pods_file),
        file_name(&summary.nodes_file),
        summary.seeds.len()
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(FROM_PCT as f64..130.0, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("arrived GPU demand (% of cluster GPUs)")
        .y_desc("unallocated GPU (%)")
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .draw()?;
    for policy in &summary.policies {
        let style = ShapeStyle::from(&color(policy.policy)).stroke_width(if policy.policy == PolicyKind::IronSpider {
            3
        } else {
            2
        });
        chart
            .draw_series(LineSeries::new(points(&policy.unallocated), style))?
            .label(policy.policy.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// One fixed colour per policy, so that plots of different traces read alike.
fn color(policy: PolicyKind) -> RGBColor {
    match policy {
        PolicyKind::Random => RGBColor(214, 39, 40),
        PolicyKind::BestFit => RGBColor(44, 160, 44),
        PolicyKind::Packing => RGBColor(255, 127, 14),
        PolicyKind::DotProd => RGBColor(31, 119, 180),
        PolicyKind::Clustering => RGBColor(148, 103, 189),
        PolicyKind::Fgd => RGBColor(40, 40, 40),
        PolicyKind::IronSpider => RGBColor(0, 170, 190),
    }
}

fn file_name(path: &str) -> &str {
    Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path)
}
