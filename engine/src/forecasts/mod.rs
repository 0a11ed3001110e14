//! Live forecasts: one tracker (`ironspider_models::tracker`) per node and resource on the
//! forecasting grid, fed at every completed step and published as one snapshot.
//!
//! ## Contract
//!
//! **Grid.** Step `k` covers `[k·s, (k+1)·s)`, `s = engine.forecast.step_seconds` (at least
//! the window length); a window belongs to the step of its start. When `s` is a multiple of
//! the window (the defaults: 30 windows of 10 s), windows nest in steps; otherwise the window
//! that straddles a step's end counts wholly in that step.
//!
//! **Values.** At every closed window, for every node that reported in it, the value of each
//! resource of [`RESOURCES`] is the node quantity of that name
//! (`ironspider_scores::NODE_QUANTITIES`) as that window's `node_scores` row shows it
//! (`Quantity::in_window`: none for a node silent in the window, or for a resource it does
//! not report). The step's value is the mean of its windows' values,
//! `x̄_k = (Σ_w x_w) / n_w` over the `n_w` windows of step `k` that have one.
//!
//! **Completion.** Step `k` completes when its last window closes (the one ending at or
//! after `(k+1)·s`), when the watermark passes `(k+1)·s` (its last windows had no data), or when a
//! window of a later step closes. Then every node and resource with a value in step `k`
//! feeds `x̄_k` to its tracker — which refuses NaN and ±∞ (counted by reason, never fed),
//! forward-fills gaps of up to `max_gap_steps` and resets after longer ones — and the
//! snapshot ([`ForecastsSnapshot`]) is rebuilt and published: each tracker's p10/p50/p90 at
//! each configured horizon, `issued_at` = the end of the newest step that tracker was fed.
//! A partial step at shutdown is not completed.
//!
//! **Bounded state.** Per node, the five accumulators and at most five trackers (one per
//! resource it has reported), each of fixed size (`Tracker::state_bytes` plus its model). A
//! node without any value for more than `max_gap_steps` steps is dropped at the next
//! completion: its next value would reset its trackers anyway.
//!
//! **Warm start** ([`LiveForecasts::warm_start`]): every completed step's values go to the
//! Parquet history (`node_steps`). A restarted engine finds the newest step there; if it
//! ended no more than `max_gap_steps` steps before the current one (a longer silence would
//! reset every tracker at its next value anyway), it feeds the `N` steps ending with it,
//! `N = 2·season + band_window + longest horizon` (1,164 at the defaults, about four days,
//! one file each): a season to start the seasonal models, a season for a selecting model to
//! settle, then a full band window of errors from models already warm. Its trackers then
//! forecast at once, close to what they forecast before the restart (not to the bit: the
//! state before the restart had seen more than `N` steps). Steps it fed are not taken again
//! from live windows.
mod fit;
mod metrics;
mod snapshot;
mod warm;

pub use fit::MAX_SERIES as GLOBAL_FIT_MAX_SERIES;
pub use metrics::{ForecastMetrics, ForecastsCollector};
pub use snapshot::{
    Forecast, ForecastRow, ForecastsSnapshot, NodeForecasts, PublishedForecasts, RESOURCES, UNAVAILABLE_REASONS,
};
pub use warm::WarmStart;

use crate::config::{EngineConfigError, ForecastConfig};
use crate::error::EngineError;
use ironspider_models::forecast::{FitSettings, GlobalModel};
use ironspider_models::tracker::{Taken, Tracker, TrackerSettings, Unavailable};
use ironspider_scores::{NODE_QUANTITIES, Quantity, ScoresSnapshot};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What a completed step produced, for the `node_steps` and `forecasts` tables.
#[derive(Debug, Clone)]
pub struct CompletedStep {
    /// Start of the step, ns since the epoch.
    pub start: i64,
    /// End of the step: the `issued_at` of the forecasts made from it.
    pub end: i64,
    /// The value each node and resource was fed.
    pub inputs: Vec<StepInput>,
    /// The snapshot published after it.
    pub snapshot: Arc<ForecastsSnapshot>,
}

/// One node and resource's value of a step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInput {
    /// Node name.
    pub node: Arc<str>,
    /// One of [`RESOURCES`].
    pub resource: &'static str,
    /// The mean of its windows' values.
    pub value: f64,
    /// How many windows had a value.
    pub windows: u32,
}

/// Every node's trackers, their accumulators and the published snapshot.
pub struct LiveForecasts {
    settings: Arc<TrackerSettings>,
    /// The settings fresh trackers are made with: `settings`, with the global model once
    /// one is fitted. Locked after `state`.
    fresh: Mutex<Arc<TrackerSettings>>,
    step_ns: i64,
    /// Each configured horizon in seconds, in the settings' order.
    horizons_seconds: Vec<u64>,
    quantities: [&'static Quantity; RESOURCES.len()],
    state: Mutex<State>,
    published: Arc<PublishedForecasts>,
    metrics: ForecastMetrics,
}

impl std::fmt::Debug for LiveForecasts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveForecasts").field("settings", &self.settings).finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    /// The step being accumulated, once a window of it was recorded.
    open: Option<i64>,
    /// The newest step the warm start fed: live windows of it or earlier are not taken.
    warm_until: Option<i64>,
    nodes: BTreeMap<Arc<str>, NodeSeries>,
}

/// One node: the open step's sums and the trackers, by resource.
#[derive(Debug)]
struct NodeSeries {
    sum: [f64; RESOURCES.len()],
    windows: [u32; RESOURCES.len()],
    trackers: [Option<Tracker>; RESOURCES.len()],
    /// The newest step with a value of any resource.
    last_step: i64,
}

impl NodeSeries {
    fn new() -> Self {
        Self { sum: [0.0; 5], windows: [0; 5], trackers: Default::default(), last_step: i64::MIN }
    }

    fn add(&mut self, values: &[Option<f64>; RESOURCES.len()]) {
        for (r, value) in values.iter().enumerate() {
            if let Some(value) = value {
                self.sum[r] += value;
                self.windows[r] += 1;
            }
        }
    }
}

/// What a step's trackers did, counted once per step.
#[derive(Debug, Default)]
struct StepCounts {
    fed: u64,
    filled: u64,
    resets: [u64; 2],
    refused: [u64; 2],
}

impl StepCounts {
    fn count(&mut self, outcome: Result<Taken, ironspider_models::tracker::Refused>) {
        use ironspider_models::tracker::{Refused, Reset};
        match outcome {
            Ok(taken) => {
                self.fed += 1;
                self.filled += taken.filled;
                match taken.reset {
                    Some(Reset::LongGap) => self.resets[0] += 1,
                    Some(Reset::Backwards) => self.resets[1] += 1,
                    None => {}
                }
            }
            Err(Refused::NotFinite) => self.refused[0] += 1,
            Err(Refused::RepeatedStep) => self.refused[1] += 1,
        }
    }
}

impl State {
    /// Adds the window's values of every node that reported in it, walking both name-ordered
    /// maps side by side (no hashing; new nodes inserted after).
    fn accumulate(&mut self, scores: &ScoresSnapshot, quantities: &[&'static Quantity; RESOURCES.len()]) {
        let mut new_nodes = Vec::new();
        let mut mine = self.nodes.iter_mut().peekable();
        for (name, score) in scores.nodes.iter().filter(|(_, score)| score.reported) {
            while mine.next_if(|(known, _)| known.as_ref() < name.as_str()).is_some() {}
            let values = quantities.map(|quantity| quantity.in_window(score));
            match mine.peek_mut() {
                Some((known, node)) if known.as_ref() == name.as_str() => node.add(&values),
                _ => new_nodes.push((name, values)),
            }
        }
        for (name, values) in new_nodes {
            self.nodes.entry(Arc::from(name.as_str())).or_insert_with(NodeSeries::new).add(&values);
        }
    }

    /// Feeds step `k`'s means to the trackers and clears the sums; returns what was fed.
    fn feed(&mut self, k: i64, settings: &Arc<TrackerSettings>, counts: &mut StepCounts) -> Vec<StepInput> {
        let mut inputs = Vec::new();
        for (name, node) in &mut self.nodes {
            for (r, resource) in RESOURCES.iter().enumerate() {
                let windows = std::mem::take(&mut node.windows[r]);
                let sum = std::mem::take(&mut node.sum[r]);
                if windows == 0 {
                    continue;
                }
                let value = sum / f64::from(windows);
                let tracker = node.trackers[r].get_or_insert_with(|| Tracker::new(Arc::clone(settings)));
                counts.count(tracker.observe(k, value));
                node.last_step = k;
                inputs.push(StepInput { node: Arc::clone(name), resource, value, windows });
            }
        }
        let oldest_kept = k.saturating_sub(settings.max_gap() as i64);
        self.nodes.retain(|_, node| node.last_step >= oldest_kept);
        inputs
    }
}

impl LiveForecasts {
    /// Trackers for `config` (checked against windows of `window_seconds`), their counters
    /// registered in `registry`, publishing into a snapshot of their own.
    pub fn new(
        config: &ForecastConfig,
        window_seconds: u64,
        registry: &prometheus::Registry,
    ) -> Result<Self, EngineError> {
        let settings = config.tracker_settings(window_seconds).map_err(EngineError::Config)?;
        let step_ns = config.step_ns();
        let step_seconds = config.step_seconds;
        let horizons_seconds = settings.horizons().iter().map(|h| *h as u64 * step_seconds).collect();
        let quantities = RESOURCES.map(|name| NODE_QUANTITIES.iter().find(|q| q.name == name));
        let [Some(cpu), Some(memory), Some(gpu), Some(gpu_memory), Some(pressure)] = quantities else {
            let missing = RESOURCES.iter().zip(&quantities).filter(|(_, q)| q.is_none()).map(|(n, _)| *n);
            let rule = format!("no node quantity named {}", missing.collect::<Vec<_>>().join(", "));
            return Err(EngineError::Config(EngineConfigError::Forecast {
                key: "resources",
                value: String::new(),
                rule,
            }));
        };
        let published = Arc::new(PublishedForecasts::default());
        published.set(ForecastsSnapshot { model: settings.model(), ..ForecastsSnapshot::default() });
        registry.register(Box::new(ForecastsCollector::new(Arc::clone(&published))?))?;
        Ok(Self {
            fresh: Mutex::new(Arc::new(settings.clone())),
            settings: Arc::new(settings),
            step_ns,
            horizons_seconds,
            quantities: [cpu, memory, gpu, gpu_memory, pressure],
            state: Mutex::new(State::default()),
            published,
            metrics: ForecastMetrics::new(registry)?,
        })
    }

    /// The published snapshot, for readers.
    pub fn published(&self) -> Arc<PublishedForecasts> {
        Arc::clone(&self.published)
    }

    /// The newest snapshot; never waits for ingest.
    pub fn snapshot(&self) -> Arc<ForecastsSnapshot> {
        self.published.get()
    }

    /// The forecasting step in ns.
    pub fn step_ns(&self) -> i64 {
        self.step_ns
    }

    /// The trackers' settings.
    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    /// Steps a warm start feeds (module doc): two seasons, a band window and the longest
    /// horizon.
    pub fn warm_steps(&self) -> usize {
        let longest = self.settings.horizons().last().copied().unwrap_or(1);
        2 * self.settings.season() + self.settings.band_window() + longest
    }

    /// Takes the window `[window_start, window_end)` scored in `scores`; returns the steps it
    /// completed (module doc), oldest first.
    pub fn record(&self, window_start: i64, window_end: i64, scores: &ScoresSnapshot) -> Vec<CompletedStep> {
        let k = window_start.div_euclid(self.step_ns);
        let mut state = self.state.lock();
        let mut done = Vec::new();
        if state.warm_until.is_some_and(|warm| k <= warm) || state.open.is_some_and(|open| open > k) {
            return done;
        }
        if let Some(open) = state.open.filter(|open| *open < k) {
            done.push(self.complete(&mut state, open));
        }
        state.open = Some(k);
        state.accumulate(scores, &self.quantities);
        if window_end >= self.end_of(k) {
            done.push(self.complete(&mut state, k));
        }
        done
    }

    /// Completes the step being accumulated once `watermark` is past its end.
    pub fn advance(&self, watermark: i64) -> Option<CompletedStep> {
        let mut state = self.state.lock();
        let open = state.open.filter(|open| watermark >= self.end_of(*open))?;
        Some(self.complete(&mut state, open))
    }

    fn end_of(&self, k: i64) -> i64 {
        k.saturating_add(1).saturating_mul(self.step_ns)
    }

    fn complete(&self, state: &mut State, k: i64) -> CompletedStep {
        let started = Instant::now();
        state.open = None;
        let mut counts = StepCounts::default();
        let fresh = Arc::clone(&self.fresh.lock());
        let inputs = state.feed(k, &fresh, &mut counts);
        self.published.set(self.build(state, self.end_of(k)));
        self.metrics.record_step(&counts, &state.nodes, started.elapsed().as_secs_f64());
        CompletedStep {
            start: k.saturating_mul(self.step_ns),
            end: self.end_of(k),
            inputs,
            snapshot: self.published.get(),
        }
    }

    /// The snapshot of every node's trackers as of the step ending at `step_end`.
    fn build(&self, state: &State, step_end: i64) -> ForecastsSnapshot {
        let mut unavailable = [0u64; UNAVAILABLE_REASONS.len()];
        let nodes = state
            .nodes
            .iter()
            .map(|(name, node)| {
                let mut forecasts = Vec::new();
                for (resource, tracker) in RESOURCES.iter().zip(&node.trackers) {
                    let Some(tracker) = tracker else { continue };
                    let issued_at = tracker.last_step().map_or(0, |k| self.end_of(k));
                    for (i, &horizon_seconds) in self.horizons_seconds.iter().enumerate() {
                        match tracker.forecast(i) {
                            Ok(q) => forecasts.push(Forecast {
                                resource,
                                horizon_seconds,
                                p10: q.p10,
                                p50: q.p50,
                                p90: q.p90,
                                issued_at,
                            }),
                            Err(reason) => unavailable[reason_index(reason)] += 1,
                        }
                    }
                }
                NodeForecasts { node: Arc::clone(name), forecasts }
            })
            .collect();
        ForecastsSnapshot { step_end, model: self.settings.model(), nodes, unavailable }
    }

    /// Feeds the node steps of `data_dir`'s history (module doc) as of `now_ns`, and
    /// publishes the forecasts they give; unreadable files are skipped and counted.
    pub fn warm_start(&self, data_dir: &Path, now_ns: i64) -> WarmStart {
        let started = Instant::now();
        let current = now_ns.div_euclid(self.step_ns);
        let oldest_useful = current.saturating_sub(self.settings.max_gap() as i64 + 1);
        let reach = self.warm_steps() as i64;
        let files = warm::step_files(data_dir, self.step_ns, oldest_useful, current, reach);
        let mut state = self.state.lock();
        let mut report = WarmStart { stale: files.stale, ..WarmStart::default() };
        for file in files.paths {
            let Some((k, rows)) = warm::read_step(&file, self.step_ns, &mut report) else { continue };
            if state.warm_until.is_some_and(|warm| k <= warm) {
                continue;
            }
            for (node, r, value) in rows {
                let series = state.nodes.entry(node).or_insert_with(NodeSeries::new);
                series.sum[r] = value;
                series.windows[r] = 1;
            }
            let mut counts = StepCounts::default();
            let fresh = Arc::clone(&self.fresh.lock());
            state.feed(k, &fresh, &mut counts);
            state.warm_until = Some(k);
            report.steps += 1;
        }
        if let Some(last) = state.warm_until {
            self.published.set(self.build(&state, self.end_of(last)));
        }
        report.seconds = started.elapsed().as_secs_f64();
        report
    }
}

/// What a fit of the global model did.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalFit {
    /// Step files read.
    pub steps: usize,
    /// Node-resource series followed (at most [`GLOBAL_FIT_MAX_SERIES`]).
    pub series: usize,
    /// Step files or rows skipped as unreadable, of another step length or naming an
    /// unknown resource.
    pub skipped: usize,
    /// Fitted and handed to every tracker, or why not.
    pub outcome: Result<(), String>,
    /// Wall seconds it took.
    pub seconds: f64,
}

impl LiveForecasts {
    /// Fits the global model on the last `span_steps` steps of `data_dir`'s `node_steps`
    /// history as of `now_ns` (`fit` module doc) and hands it to every tracker and to the
    /// trackers made from now on; a model that reads none (not the bank) is left alone,
    /// and a fit that fails changes nothing.
    pub fn refit_global(&self, data_dir: &Path, now_ns: i64, span_steps: usize) -> GlobalFit {
        let started = Instant::now();
        let seconds = || started.elapsed().as_secs_f64();
        if !ironspider_models::forecast::reads_global(self.settings.model()) {
            let outcome = Err(format!("model {} reads no global model", self.settings.model()));
            return GlobalFit { steps: 0, series: 0, skipped: 0, outcome, seconds: seconds() };
        }
        let (season, longest) = (self.settings.season(), self.settings.horizons().last().copied().unwrap_or(1));
        let current = now_ns.div_euclid(self.step_ns);
        let max_gap = self.settings.max_gap() as i64;
        let found = fit::histories(
            data_dir,
            self.step_ns,
            current,
            span_steps as i64,
            max_gap,
            season + longest + 2,
            fit::MAX_SERIES,
        );
        let stretches: Vec<&[f64]> = found.stretches.iter().map(Vec::as_slice).collect();
        let fitted = GlobalModel::fit(&stretches, FitSettings::for_season(season, longest));
        self.metrics.record_fit(fitted.as_ref().ok().map(|_| found.series));
        let outcome = fitted.map(|model| self.adopt_global(Arc::new(model))).map_err(|error| error.to_string());
        GlobalFit { steps: found.steps, series: found.series, skipped: found.skipped, outcome, seconds: seconds() }
    }

    /// The global model the trackers use, once one is fitted.
    pub fn global(&self) -> Option<Arc<GlobalModel>> {
        self.fresh.lock().global().cloned()
    }

    /// Hands `model` to every running tracker and to those made from now on.
    fn adopt_global(&self, model: Arc<GlobalModel>) {
        let mut state = self.state.lock();
        let settings = Arc::new(self.settings.with_global(model));
        *self.fresh.lock() = Arc::clone(&settings);
        for tracker in state.nodes.values_mut().flat_map(|node| node.trackers.iter_mut().flatten()) {
            tracker.adopt_global(&settings);
        }
    }
}

/// Where a reason is counted in [`ForecastsSnapshot::unavailable`].
fn reason_index(reason: Unavailable) -> usize {
    UNAVAILABLE_REASONS.iter().position(|r| *r == reason.as_str()).unwrap_or(UNAVAILABLE_REASONS.len() - 1)
}

#[cfg(test)]
mod tests;
