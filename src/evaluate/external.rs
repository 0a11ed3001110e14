//! Forecasts made elsewhere, scored with the very code that scores the models: a CSV in the
//! columns of `forecasts.csv` (`series,model,origin,target,p10,p50,p90`, times in Unix
//! seconds on the panel's grid) becomes, per model and series, the [`Forecast`]s that
//! [`Protocol::score`] reads — `p50` as the point, `p10`/`p90` as the band when both are
//! given. A row off the panel (an unknown series, a time off the grid or outside the
//! series, a horizon outside 1 … H) is an error naming its line.

use super::ModelRun;
use anyhow::{Context, bail};
use ironspider_datasets::panel::{Panel, PanelSeries};
use ironspider_models::Quantiles;
use ironspider_models::backtest::{Forecast, Protocol};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Every model's scores in the file at `path` by `protocol`, models in the order they first
/// appear.
pub fn score(path: &Path, panel: &Panel, protocol: Protocol) -> anyhow::Result<Vec<ModelRun>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let series: BTreeMap<&str, &PanelSeries> = panel.series.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut order: Vec<String> = Vec::new();
    let mut forecasts: BTreeMap<(String, String), Vec<Forecast>> = BTreeMap::new();
    for (index, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let (name, model, forecast) =
            row(line, &series, protocol.horizon).with_context(|| format!("{} line {}", path.display(), index + 1))?;
        if !order.contains(&model) {
            order.push(model.clone());
        }
        forecasts.entry((model, name)).or_default().push(forecast);
    }
    Ok(order
        .into_iter()
        .map(|model| {
            let scores = forecasts
                .iter()
                .filter(|((m, _), _)| *m == model)
                .map(|((_, name), list)| (name.clone(), protocol.score(&series[name.as_str()].values, list)))
                .collect();
            ModelRun { name: model, scores, took: Duration::ZERO }
        })
        .collect())
}

/// One row: its series name, model and forecast.
fn row(
    line: &str,
    series: &BTreeMap<&str, &PanelSeries>,
    horizon: usize,
) -> anyhow::Result<(String, String, Forecast)> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let [name, model, origin, target, p10, p50, p90] = fields[..] else {
        bail!("expected 7 columns (series,model,origin,target,p10,p50,p90), found {}", fields.len());
    };
    let Some(panel_series) = series.get(name) else { bail!("series {name:?} is not in the panel") };
    let origin = index(panel_series, origin.parse().context("origin")?)?;
    let h = index(panel_series, target.parse().context("target")?)?.saturating_sub(origin);
    if !(1..=horizon).contains(&h) {
        bail!("target is {h} steps after the origin, not 1 to {horizon}");
    }
    let point: f64 = p50.parse().context("p50")?;
    let band = match (p10.parse::<f64>(), p90.parse::<f64>()) {
        (Ok(p10), Ok(p90)) => Some(Quantiles { p10, p50: point, p90 }),
        _ => None,
    };
    Ok((name.to_string(), model.to_string(), Forecast { origin, h, point, band }))
}

/// The index in `series` of the slot at Unix second `time`.
fn index(series: &PanelSeries, time: i64) -> anyhow::Result<usize> {
    let (offset, step) = (time - series.start, series.step);
    if offset < 0 || offset % step != 0 || (offset / step) as usize >= series.values.len() {
        bail!("{time} is not a slot of series {} ({} points from {})", series.name, series.values.len(), series.start);
    }
    Ok((offset / step) as usize)
}
