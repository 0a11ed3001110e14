//! The forecasting backtest's panel: one regular series per Bitbrains VM, built by the
//! protocol that `ironspider evaluate forecasts` and the statsforecast comparison share, so
//! that both score the very same numbers.
//!
//! Per VM file (the format is in [`crate::bitbrains`]):
//! - the target is `CPU usage [%] / 100`, clipped to [0, 1]; rows whose usage does not parse
//!   or is not finite are skipped;
//! - each timestamp (Unix seconds, despite the `[ms]` header) is floored to a multiple of
//!   [`STEP_SECONDS`]; the rows of one slot are averaged;
//! - a gap of 1 to [`MAX_FILLED_GAP`] missing slots is forward-filled with the value before
//!   it; a longer gap splits the series into segments;
//! - only the **last** segment is kept (the one ending at the VM's last observation), and
//!   only if it has at least [`MIN_POINTS`] points (7 days) of which at most 5 % were filled;
//!   otherwise the VM is dropped, with the reason.
//!
//! The grid step and those limits are a [`Rules`]; [`Rules::BITBRAINS`] holds the ones above.
//! Other layouts build their panels with the same slot, gap and segment code under their own
//! rules ([`crate::genai_panel`]).

use crate::DatasetError;
use std::collections::BTreeMap;
use std::path::Path;

/// The grid's step, seconds.
pub const STEP_SECONDS: i64 = 300;
/// Steps in a day on that grid: the daily season.
pub const DAY_STEPS: usize = 288;
/// The longest gap, in missing slots, that is forward-filled rather than splitting.
pub const MAX_FILLED_GAP: i64 = 12;
/// The fewest points a kept segment has: 7 days.
pub const MIN_POINTS: usize = 7 * DAY_STEPS;
/// The largest share of a kept segment that may be filled.
pub const MAX_FILLED_SHARE: f64 = 0.05;

/// How slot means become a series: the grid step, the longest gap forward-filled, and what a
/// kept segment needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// The grid's step, seconds.
    pub step_seconds: i64,
    /// The longest gap, in missing slots, forward-filled rather than splitting.
    pub max_filled_gap: i64,
    /// The fewest points a kept segment has.
    pub min_points: usize,
    /// That minimum as a span of time, for the reason a series is dropped (`7 days`).
    pub min_span: &'static str,
    /// The largest share of a kept segment that may be filled.
    pub max_filled_share: f64,
}

impl Rules {
    /// Bitbrains VMs: the 300 s grid, gaps of up to 12 slots filled, ≥ 7 days, ≤ 5 % filled.
    pub const BITBRAINS: Rules = Rules {
        step_seconds: STEP_SECONDS,
        max_filled_gap: MAX_FILLED_GAP,
        min_points: MIN_POINTS,
        min_span: "7 days",
        max_filled_share: MAX_FILLED_SHARE,
    };
}

/// One VM's (or pod's) regular series.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSeries {
    /// The VM file's stem (`17` for `17.csv`), or the pod's node name.
    pub name: String,
    /// The first slot, Unix seconds (a multiple of `step`).
    pub start: i64,
    /// The grid's step, seconds.
    pub step: i64,
    /// One value per slot from `start`, in [0, 1].
    pub values: Vec<f64>,
    /// How many of `values` were forward-filled.
    pub filled: usize,
}

impl PanelSeries {
    /// The slot of the `i`-th value, Unix seconds.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// Every kept series, by name, and the VMs dropped with their reasons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Panel {
    /// Kept series, in the order of the VM files (by number).
    pub series: Vec<PanelSeries>,
    /// `(name, reason)` of each VM left out.
    pub dropped: Vec<(String, String)>,
}

/// The panel of every `*.csv` VM file in `dir`.
pub fn bitbrains_cpu(dir: &Path) -> Result<Panel, DatasetError> {
    let files = crate::bitbrains::csv_files(dir)?;
    let mut panel = Panel::default();
    for path in files {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path)
            .map_err(|error| DatasetError::Io { path: path.display().to_string(), error })?;
        panel.push(name, &slot_means(text.lines().skip(1).filter_map(reading)), &Rules::BITBRAINS);
    }
    if panel.series.is_empty() {
        return Err(DatasetError::Empty(format!("no VM of {} makes a series of the panel", dir.display())));
    }
    Ok(panel)
}

/// The target of one data line: (slot, CPU usage share clipped to [0, 1]).
fn reading(line: &str) -> Option<(i64, f64)> {
    let mut fields = line.split(';').map(str::trim);
    let ts: i64 = fields.next()?.parse().ok()?;
    let usage: f64 = fields.nth(3)?.parse().ok()?;
    usage.is_finite().then(|| (ts.div_euclid(STEP_SECONDS) * STEP_SECONDS, (usage / 100.0).clamp(0.0, 1.0)))
}

impl Panel {
    /// Adds the series of `name` made of `means` by `rules`, or its reason for being dropped.
    pub(crate) fn push(&mut self, name: String, means: &BTreeMap<i64, f64>, rules: &Rules) {
        match check(last_segment(&name, means, rules), rules) {
            Ok(series) => self.series.push(series),
            Err(reason) => self.dropped.push((name, reason)),
        }
    }
}

/// The mean value per slot of `(slot, value)` readings.
pub(crate) fn slot_means(readings: impl Iterator<Item = (i64, f64)>) -> BTreeMap<i64, f64> {
    let mut sums: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    for (slot, value) in readings {
        let entry = sums.entry(slot).or_default();
        entry.0 += value;
        entry.1 += 1;
    }
    sums.into_iter().map(|(slot, (sum, count))| (slot, sum / f64::from(count))).collect()
}

/// The last segment of the slot means, short gaps filled.
fn last_segment(name: &str, means: &BTreeMap<i64, f64>, rules: &Rules) -> PanelSeries {
    let step = rules.step_seconds;
    let empty = |start| PanelSeries { name: name.to_string(), start, step, values: Vec::new(), filled: 0 };
    let mut segment = empty(0);
    let mut previous: Option<(i64, f64)> = None;
    for (&slot, &value) in means {
        let missing = previous.map_or(0, |(before, _)| (slot - before) / step - 1);
        match previous {
            Some((_, last)) if missing <= rules.max_filled_gap => {
                segment.values.extend(std::iter::repeat_n(last, missing as usize));
                segment.filled += missing as usize;
            }
            _ => segment = empty(slot),
        }
        segment.values.push(value);
        previous = Some((slot, value));
    }
    segment
}

/// Keeps a segment long enough and little enough filled.
fn check(segment: PanelSeries, rules: &Rules) -> Result<PanelSeries, String> {
    let n = segment.values.len();
    if n < rules.min_points {
        return Err(format!("its last segment has {n} points, fewer than {} ({})", rules.min_points, rules.min_span));
    }
    let share = segment.filled as f64 / n as f64;
    if share > rules.max_filled_share {
        let (share, limit) = (share * 100.0, rules.max_filled_share * 100.0);
        return Err(format!("{share:.1} % of its last segment is filled, more than {limit} %"));
    }
    Ok(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: i64, percent: f64) -> String {
        format!("{ts};\t2;\t5851.9;\t87.7;\t{percent};\t8218624.0;\t1034592.8;\t0;\t0;\t0;\t0")
    }

    #[test]
    fn rows_of_a_slot_are_averaged_short_gaps_filled_and_long_gaps_split() {
        // Slots 0, 300 (two rows: 10 % and 30 % → 0.2), then 4 missing slots (filled with
        // 0.2), 1800, then 13 missing slots: a new segment from 6000 (1800 + 14 · 300).
        let text = ["header".to_string(), line(10, 50.0), line(300, 10.0), line(599, 30.0), line(1800, 120.0)]
            .into_iter()
            .chain([line(6000, 40.0), line(6300, f64::NAN), line(6300, 60.0)])
            .collect::<Vec<_>>()
            .join("\n");
        let means = slot_means(text.lines().skip(1).filter_map(reading));
        assert_eq!(means.get(&300), Some(&0.2));
        assert_eq!(means.get(&1800), Some(&1.0), "120 % is clipped to 1");
        assert_eq!(means.get(&6300), Some(&0.6), "the NaN row is skipped");
        // Only the last segment is kept: 6000 and 6300.
        let last = last_segment("v", &means, &Rules::BITBRAINS);
        assert_eq!((last.start, last.values.as_slice(), last.filled), (6000, &[0.4, 0.6][..], 0));
        assert_eq!(
            check(last, &Rules::BITBRAINS).unwrap_err(),
            "its last segment has 2 points, fewer than 2016 (7 days)"
        );
        // The first segment on its own: 0.5, 0.2, four fills of 0.2, then 1.0.
        let first: BTreeMap<i64, f64> = means.range(..=1800).map(|(k, v)| (*k, *v)).collect();
        let first = last_segment("v", &first, &Rules::BITBRAINS);
        assert_eq!((first.values.as_slice(), first.filled), (&[0.5, 0.2, 0.2, 0.2, 0.2, 0.2, 1.0][..], 4));
    }

    #[test]
    fn a_segment_is_kept_with_at_most_five_percent_filled() {
        // 1,920 observed slots with a gap of 12 after every 192: 9 gaps (after 192, …, 1,728),
        // 108 filled, 2,028 points, 108 / 2,028 = 5.33 % filled.
        let mut means = BTreeMap::new();
        let mut slot = 0;
        for observed in 1..=1920 {
            means.insert(slot, 0.5);
            slot += if observed % 192 == 0 { 13 * STEP_SECONDS } else { STEP_SECONDS };
        }
        let segment = last_segment("v", &means, &Rules::BITBRAINS);
        assert_eq!((segment.values.len(), segment.filled), (2028, 108));
        let dropped = check(last_segment("v", &means, &Rules::BITBRAINS), &Rules::BITBRAINS).unwrap_err();
        assert_eq!(dropped, "5.3 % of its last segment is filled, more than 5 %");
        // Observed every slot: 2016 points, none filled, kept.
        let full: BTreeMap<i64, f64> = (0..2016).map(|i| (i * STEP_SECONDS, 0.25)).collect();
        let kept = check(last_segment("v", &full, &Rules::BITBRAINS), &Rules::BITBRAINS).expect("kept");
        assert_eq!((kept.start, kept.values.len(), kept.filled, kept.time(2)), (0, 2016, 0, 600));
    }

    #[test]
    fn every_real_bitbrains_vm_is_kept_by_the_rules_or_dropped_with_a_reason() {
        let panel = bitbrains_cpu(&crate::shared::dataset("bitbrains-rnd/2013-7")).expect("the panel");
        assert_eq!(panel.series.len() + panel.dropped.len(), 100, "one entry per VM file");
        for series in &panel.series {
            assert!(series.values.len() >= MIN_POINTS && series.filled * 20 <= series.values.len(), "{}", series.name);
            assert!(series.values.iter().all(|v| (0.0..=1.0).contains(v)), "{}", series.name);
        }
        for (name, reason) in &panel.dropped {
            assert!(
                reason.ends_with("fewer than 2016 (7 days)") || reason.ends_with("more than 5 %"),
                "{name}: {reason}"
            );
        }
    }
}
