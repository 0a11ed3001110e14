//! Fitting the global model live (`ironspider_models::forecast::global`) from the
//! `node_steps` history, so that the engine's bank holds the global candidate the backtest
//! evaluated it with.
//!
//! ## Contract
//!
//! [`histories`] reads the step files of the last `span` steps before the current one
//! (`warm::step_files`, oldest first) and rebuilds each node and resource's series on the
//! grid as the trackers saw it: a step missing for up to `max_gap` steps is forward-filled
//! with the last value, a longer gap ends a stretch and starts the next. Stretches shorter
//! than `min_len` (a season, the longest horizon and one step: no training row) are dropped.
//! At most `max_series` series are followed, the first met in the oldest file in
//! (node, resource) order, so that memory and fitting time stay bounded whatever the
//! cluster's size (`max_series · span` values).
//!
//! [`super::LiveForecasts::refit_global`] fits a [`GlobalModel`] on them
//! ([`FitSettings::for_season`] at the trackers' season and longest horizon, the rules the
//! backtest uses) and hands it to every tracker; a fit that fails (too little history)
//! changes nothing and says why.

use super::WarmStart;
use super::warm::{read_step, step_files};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Series followed at most by one fit.
pub const MAX_SERIES: usize = 2_000;

/// One series being rebuilt: its finished stretches and the current one.
#[derive(Debug, Default)]
struct Series {
    done: Vec<Vec<f64>>,
    current: Vec<f64>,
    last_step: i64,
}

impl Series {
    fn push(&mut self, k: i64, y: f64, max_gap: i64, min_len: usize) {
        let missing = k - self.last_step - 1;
        if !self.current.is_empty() && (0..=max_gap).contains(&missing) {
            let last = self.current[self.current.len() - 1];
            self.current.extend(std::iter::repeat_n(last, missing as usize));
        } else {
            self.close(min_len);
        }
        self.current.push(y);
        self.last_step = k;
    }

    fn close(&mut self, min_len: usize) {
        let stretch = std::mem::take(&mut self.current);
        if stretch.len() >= min_len {
            self.done.push(stretch);
        }
    }
}

/// What the history gave a fit: the stretches, and how many series they came from.
#[derive(Debug, Default)]
pub struct Histories {
    /// Contiguous stretches on the grid, each at least `min_len` steps.
    pub stretches: Vec<Vec<f64>>,
    /// Node-resource series followed.
    pub series: usize,
    /// Step files read.
    pub steps: usize,
    /// Files or rows skipped: unreadable, of another step length, an unknown resource
    /// (`warm::read_step`).
    pub skipped: usize,
}

/// The stretches of the last `span` steps before `current` (module doc).
pub fn histories(
    data_dir: &Path,
    step_ns: i64,
    current: i64,
    span: i64,
    max_gap: i64,
    min_len: usize,
    max_series: usize,
) -> Histories {
    let files = step_files(data_dir, step_ns, current.saturating_sub(span), current, span);
    let mut series: BTreeMap<(Arc<str>, usize), Series> = BTreeMap::new();
    let mut report = WarmStart::default();
    let mut steps = 0;
    for file in files.paths {
        let Some((start, rows)) = read_step(&file, step_ns, &mut report) else { continue };
        let k = start.div_euclid(step_ns);
        steps += 1;
        for (node, r, value) in rows {
            if !value.is_finite() {
                continue;
            }
            let key = (node, r);
            if let Some(s) = series.get_mut(&key) {
                s.push(k, value, max_gap, min_len);
            } else if series.len() < max_series {
                series.entry(key).or_default().push(k, value, max_gap, min_len);
            }
        }
    }
    let followed = series.len();
    let stretches = series
        .into_values()
        .flat_map(|mut s| {
            s.close(min_len);
            s.done
        })
        .collect();
    Histories { stretches, series: followed, steps, skipped: report.skipped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_up_to_max_gap_are_filled_and_longer_ones_split_short_stretches_dropped() {
        // max_gap 2, min_len 3. Steps 0, 1, 4 (gap of 2: filled with y_1), 5, then 9 (gap of
        // 3: a new stretch), 10 (too short at the end: dropped).
        let mut s = Series::default();
        for (k, y) in [(0, 1.0), (1, 2.0), (4, 3.0), (5, 4.0), (9, 5.0), (10, 6.0)] {
            s.push(k, y, 2, 3);
        }
        s.close(3);
        assert_eq!(s.done, vec![vec![1.0, 2.0, 2.0, 2.0, 3.0, 4.0]]);
    }
}
