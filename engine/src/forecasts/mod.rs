//! Live forecasts and anomaly scores: one tracker (`ironspider_models::tracker`) and, when
//! anomaly detection is on, one detector (`ironspider_models::anomaly`) per node and resource
//! on the forecasting grid, fed at every completed step and published as one snapshot.
//!
//! ## Contract
//!
//! **Grid.** Node `n`'s step `k` covers `[k·s + o_n, (k+1)·s + o_n)`, `s =
//! engine.forecast.step_seconds` (at least the window length), `o_n` the node's offset; a
//! window belongs to the node's step of its start. When `s` is a multiple of the window
//! (the defaults: 30 windows of 10 s), windows nest in steps; otherwise the window that
//! straddles a step's end counts wholly in that step.
//!
//! **Offsets (phases).** When `s` is `P ≥ 2` windows of length `w` and
//! `engine.forecast.stagger` is on (the default), `o_n = φ_n · w` with the node's phase
//! `φ_n ∈ [0, P)` (`P` at most [`MAX_PHASES`]): the nodes' steps end at the `P` window
//! closes of a step in turn, so each close feeds a `P`-th of the trackers instead of one
//! close in `P` feeding them all — as Prometheus spreads its targets' scrapes over the
//! interval. A node gets its phase when it first appears: the phase holding the fewest
//! nodes, and among those the first at or after `FNV-1a₆₄(name) mod P` ([`phase_of`]), so
//! that the phases stay as even as the nodes allow (by a hash alone, the largest of 30
//! phases of 10,000 nodes holds about 7 % more than the mean, and the slowest close is the
//! largest phase's). The history keeps it: a step file's start is `k·s + o_n`, so a warm
//! start from a staggered history (its files start at more than one offset) puts every node
//! it reads back in its phase; from a history written unstaggered (every offset 0) it
//! spreads them as new. Otherwise (stagger off, or `s` not a multiple of `w`) every offset
//! is 0 and every step ends at once.
//!
//! **Values.** At every closed window, for every node that reported in it, the value of each
//! resource of [`RESOURCES`] is the node quantity of that name
//! (`ironspider_scores::NODE_QUANTITIES`) as that window's `node_scores` row shows it
//! (`Quantity::in_window`: none for a node silent in the window, or for a resource it does
//! not report). The step's value is the mean of its windows' values,
//! `x̄_k = (Σ_w x_w) / n_w` over the `n_w` windows of step `k` that have one.
//!
//! **Completion.** A node's step `k` completes when its last window closes (the one ending
//! at or after `(k+1)·s + o_n`), when the watermark passes that end (its last windows had no
//! data), or when a window of its later step arrives. Then each resource with a value in
//! step `k` feeds `x̄_k` to its tracker — which refuses NaN and ±∞ (counted by reason, never
//! fed), forward-fills gaps of up to `max_gap_steps` and resets after longer ones — and the
//! node's forecasts are read from its trackers while they are still in cache: each
//! tracker's p10/p50/p90 at each configured horizon, `issued_at` = the end of the newest
//! step that tracker was fed. The snapshot ([`ForecastsSnapshot`]) is published with that
//! phase's shard merged: the nodes completed replace their entries, the nodes dropped
//! leave. **Anomaly scores:** the same finite step value goes to the resource's detector
//! (made with its first value, with the node's other state), whose score of it is the
//! resource's newest anomaly score (`AnomalyScore`, at the step's end) until its next
//! value; a detector does not forward-fill gaps or reset (it scores the values it is given,
//! in order), and leaves with its node. A window close returns one [`CompletedStep`] per (phase, step) it completed. A
//! partial step at shutdown is not completed.
//!
//! **Bounded state.** Per node, the five accumulators and at most five trackers (one per
//! resource it has reported), each of fixed size (`Tracker::state_bytes` plus its model). A
//! node without any value for more than `max_gap_steps` of its steps is dropped at the next
//! window close: its next value would reset its trackers anyway.
//!
//! **Warm start** ([`LiveForecasts::warm_start`]): every completed step's values go to the
//! Parquet history (`node_steps`, one file per phase and step). A restarted engine finds the
//! newest step there; if it ended no more than `max_gap_steps` steps before the current one
//! (a longer silence would reset every tracker at its next value anyway), it feeds the `N`
//! steps ending with it, `N = 2·season + band_window + longest horizon` (1,164 at the
//! defaults, about four days): a season to start the seasonal models, a season for a
//! selecting model to settle, then a full band window of errors from models already warm.
//! Its trackers then forecast at once, close to what they forecast before the restart (not
//! to the bit: the state before the restart had seen more than `N` steps). A node's steps
//! it fed are not taken again from live windows.
mod fit;
mod metrics;
mod snapshot;
mod warm;

pub use fit::MAX_SERIES as GLOBAL_FIT_MAX_SERIES;
pub use metrics::{ForecastMetrics, ForecastsCollector};
pub use snapshot::{
    AnomalyScore, Forecast, ForecastRow, ForecastsSnapshot, NodeForecasts, PublishedForecasts, RESOURCES, Shard,
    UNAVAILABLE_REASONS,
};
pub use warm::WarmStart;

use crate::config::{EngineConfigError, ForecastConfig};
use crate::error::EngineError;
use ironspider_models::anomaly::{self, Detector};
use ironspider_models::forecast::{FitSettings, GlobalModel};
use ironspider_models::tracker::{Taken, Tracker, TrackerSettings, Unavailable};
use ironspider_scores::{NODE_QUANTITIES, Quantity, ScoresSnapshot};
use parking_lot::Mutex;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// What a completed step produced, for the `node_steps` and `forecasts` tables: the steps of
/// one phase that ended at the same time.
#[derive(Debug, Clone)]
pub struct CompletedStep {
    /// Start of the step, ns since the epoch (`k·s + o`).
    pub start: i64,
    /// End of the step: the `issued_at` of the forecasts made from it.
    pub end: i64,
    /// The phase of its nodes (module doc); its shard of `snapshot` holds their forecasts.
    pub phase: usize,
    /// The value each node and resource was fed.
    pub inputs: Vec<StepInput>,
    /// The snapshot published after it.
    pub snapshot: Arc<ForecastsSnapshot>,
}

impl CompletedStep {
    /// The forecasts issued from it: its phase's rows of `snapshot` issued at `end` (a node
    /// of the phase silent in this step keeps older ones).
    pub fn forecasts(&self) -> impl Iterator<Item = ForecastRow<'_>> {
        let nodes = self.snapshot.phase_nodes(self.phase);
        nodes.iter().flat_map(|node| self.snapshot.node_rows(node)).filter(|row| row.issued_at == self.end)
    }
}

impl CompletedStep {
    /// The anomaly scores given in it: for each node fed in it, the node and each resource
    /// scored at its end (none for a node whose values were all refused, so that no older
    /// score outlives the step).
    pub fn anomalies(&self) -> impl Iterator<Item = (&str, Vec<(&'static str, f64)>)> {
        let fed: BTreeSet<&str> = self.inputs.iter().map(|input| input.node.as_ref()).collect();
        let nodes = self.snapshot.phase_nodes(self.phase);
        nodes.iter().filter(move |node| fed.contains(node.node.as_ref())).map(|node| {
            let fresh = node.anomalies.iter().filter(|a| a.at == self.end);
            (node.node.as_ref(), fresh.map(|a| (a.resource, a.score)).collect())
        })
    }
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

/// The phase the node `name` prefers among `phases` (module doc: it gets the first of the
/// least loaded phases at or after this one): FNV-1a, 64 bits (Fowler, Noll & Vo; offset
/// basis `0xcbf29ce484222325`, prime `0x100000001b3`), of its UTF-8 bytes, modulo `phases`
/// (0 when `phases` ≤ 1). Fixed by the name alone, so the same in every process.
pub fn phase_of(name: &str, phases: usize) -> usize {
    if phases <= 1 {
        return 0;
    }
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % phases as u64) as usize
}

/// Every node's trackers, their accumulators and the published snapshot.
pub struct LiveForecasts {
    settings: Arc<TrackerSettings>,
    /// The settings fresh trackers are made with: `settings`, with the global model once
    /// one is fitted. Locked after `state`.
    fresh: Mutex<Arc<TrackerSettings>>,
    grid: Grid,
    /// Each configured horizon in seconds, in the settings' order.
    horizons_seconds: Vec<u64>,
    quantities: [&'static Quantity; RESOURCES.len()],
    /// The anomaly detector each node and resource gets (catalogue name), when detection is
    /// on.
    detector: Option<&'static str>,
    state: Mutex<State>,
    published: Arc<PublishedForecasts>,
    metrics: ForecastMetrics,
}

impl std::fmt::Debug for LiveForecasts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveForecasts").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The most phases the nodes are spread over: a step of more windows spreads them over its
/// first `MAX_PHASES` (each window close then still feeds at most a 256th of the trackers,
/// and a snapshot holds no more shards than that).
pub const MAX_PHASES: usize = 256;

/// The step `s` and the phases' spacing (module doc).
#[derive(Debug, Clone, Copy)]
struct Grid {
    step_ns: i64,
    /// `P`: 1 when every offset is 0.
    phases: usize,
    /// `w`, the offset of phase 1.
    phase_ns: i64,
}

impl Grid {
    fn new(step_ns: i64, window_ns: i64, stagger: bool) -> Self {
        let fits = stagger && window_ns > 0 && step_ns % window_ns == 0;
        let phases = if fits { (step_ns / window_ns).min(MAX_PHASES as i64) as usize } else { 1 };
        Self { step_ns, phases, phase_ns: if phases > 1 { window_ns } else { 0 } }
    }

    fn offset(&self, phase: usize) -> i64 {
        phase as i64 * self.phase_ns
    }

    /// The step of a node at `offset` holding the instant `t`.
    fn step_at(&self, t: i64, offset: i64) -> i64 {
        t.saturating_sub(offset).div_euclid(self.step_ns)
    }

    /// The start of step `k` of a node at `offset`.
    fn start_of(&self, k: i64, offset: i64) -> i64 {
        k.saturating_mul(self.step_ns).saturating_add(offset)
    }

    /// The end of step `k` of a node at `offset`: the next one's start.
    fn end_of(&self, k: i64, offset: i64) -> i64 {
        self.start_of(k.saturating_add(1), offset)
    }

    /// The step and the phase of a step starting at `start` (`k·s + φ·w`); no phase when
    /// `start` is on no phase's grid (the history of another configuration).
    fn step_of_start(&self, start: i64) -> (i64, Option<usize>) {
        let (k, offset) = (start.div_euclid(self.step_ns), start.rem_euclid(self.step_ns));
        let phase = match self.phase_ns {
            0 => (offset == 0).then_some(0),
            w => (offset % w == 0).then_some((offset / w) as usize).filter(|p| *p < self.phases),
        };
        (k, phase)
    }
}

#[derive(Debug, Default)]
struct State {
    nodes: BTreeMap<Arc<str>, NodeSeries>,
    /// The names of each phase's nodes, so that a phase's shard is rebuilt from its own
    /// nodes without walking the others.
    members: Vec<BTreeSet<Arc<str>>>,
    /// The published forecasts, one shard per phase.
    shards: Vec<Arc<Shard>>,
    /// End of the newest step completed.
    step_end: i64,
    /// Trackers held, for `ironspider_forecast_trackers`.
    trackers: usize,
}

/// One node: its phase, the open step's sums and the trackers, by resource.
#[derive(Debug)]
struct NodeSeries {
    phase: usize,
    offset: i64,
    /// The step being accumulated, once a window of it was taken.
    open: Option<i64>,
    sum: [f64; RESOURCES.len()],
    windows: [u32; RESOURCES.len()],
    /// Boxed: every window's walk reads the fields above of every node, and with the
    /// trackers inline (some 650 bytes) each node would be ten cache lines apart.
    trackers: Box<[Option<Tracker>; RESOURCES.len()]>,
    /// Each resource's anomaly detector and its newest score, when detection is on (made
    /// with the node's first step).
    watches: Option<Box<[Option<Watch>; RESOURCES.len()]>>,
    /// The newest step with a value of any resource (fed live or by the warm start).
    last_step: i64,
}

impl NodeSeries {
    fn new(phase: usize, grid: &Grid) -> Self {
        Self {
            phase,
            offset: grid.offset(phase),
            open: None,
            sum: [0.0; 5],
            windows: [0; 5],
            trackers: Default::default(),
            watches: None,
            last_step: i64::MIN,
        }
    }

    /// Whether its open step ends by `t`.
    fn open_ended_by(&self, grid: &Grid, t: i64) -> bool {
        self.open.is_some_and(|open| t >= grid.end_of(open, self.offset))
    }

    /// Whether, at the window ending at `end`, it has no open step and no value for more
    /// than `max_gap` of its steps ended by then (module doc: dropped).
    fn silent_past(&self, grid: &Grid, end: i64, max_gap: i64) -> bool {
        let newest_ended = grid.step_at(end, self.offset).saturating_sub(1);
        self.open.is_none() && self.last_step < newest_ended.saturating_sub(max_gap)
    }

    fn add(&mut self, values: &[Option<f64>; RESOURCES.len()]) {
        for (r, value) in values.iter().enumerate() {
            if let Some(value) = value {
                self.sum[r] += value;
                self.windows[r] += 1;
            }
        }
    }

    /// Reads a value from each cache line its trackers' next update uses
    /// (`Tracker::touch`), folded, for [`std::hint::black_box`].
    fn touch(&self) -> u64 {
        self.trackers.iter().flatten().fold(0, |folded, t| folded ^ t.touch())
    }

    /// Feeds the open step's means to the trackers (made from `settings` when missing) and
    /// clears the sums; returns the step and what was fed.
    fn complete(
        &mut self,
        name: &Arc<str>,
        settings: &Arc<TrackerSettings>,
        (grid, detector): (&Grid, Option<&'static str>),
        counts: &mut StepCounts,
    ) -> Option<(i64, Vec<StepInput>)> {
        let k = self.open.take()?;
        if detector.is_some() && self.watches.is_none() {
            self.watches = Some(Default::default());
        }
        // The five trackers' state is cold: have its lines fetched together first.
        std::hint::black_box(self.touch());
        let mut inputs = Vec::new();
        for (r, resource) in RESOURCES.iter().enumerate() {
            let windows = std::mem::take(&mut self.windows[r]);
            let sum = std::mem::take(&mut self.sum[r]);
            if windows == 0 {
                continue;
            }
            let value = sum / f64::from(windows);
            let tracker = self.trackers[r].get_or_insert_with(|| {
                counts.created += 1;
                Tracker::new(Arc::clone(settings))
            });
            counts.count(tracker.observe(k, value));
            if let (Some(watches), Some(detector)) = (self.watches.as_mut(), detector) {
                let watch = watches[r].get_or_insert_with(|| Watch::new(detector));
                watch.observe(k, grid.start_of(k, self.offset), value);
            }
            self.last_step = k;
            inputs.push(StepInput { node: Arc::clone(name), resource, value, windows });
        }
        Some((k, inputs))
    }

    /// Its forecasts as its trackers give them now (module doc), with those missing by
    /// reason.
    fn forecasts(&self, name: &Arc<str>, grid: &Grid, horizons_seconds: &[u64]) -> NodeForecasts {
        let mut unavailable = [0u64; UNAVAILABLE_REASONS.len()];
        let mut forecasts = Vec::new();
        for (resource, tracker) in RESOURCES.iter().zip(self.trackers.iter()) {
            let Some(tracker) = tracker else { continue };
            let issued_at = tracker.last_step().map_or(0, |k| grid.end_of(k, self.offset));
            for (i, &horizon_seconds) in horizons_seconds.iter().enumerate() {
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
        NodeForecasts { node: Arc::clone(name), forecasts, anomalies: self.anomalies(grid), unavailable }
    }

    /// Each resource's newest anomaly score (none before its first step, or with detection
    /// off).
    fn anomalies(&self, grid: &Grid) -> Vec<AnomalyScore> {
        let Some(watches) = &self.watches else { return Vec::new() };
        let scored = RESOURCES.iter().zip(watches.iter()).filter_map(|(resource, watch)| {
            let watch = watch.as_ref()?;
            let (k, score, value) = watch.newest?;
            Some(AnomalyScore { resource, score, value, at: grid.end_of(k, self.offset) })
        });
        scored.collect()
    }
}

/// One resource's anomaly detector (`ironspider_models::anomaly`) and its newest score.
struct Watch {
    detector: Box<dyn Detector>,
    /// The step, the score and the value of the newest step scored.
    newest: Option<(i64, f64, f64)>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("detector", &self.detector.name()).field("newest", &self.newest).finish()
    }
}

impl Watch {
    /// A fresh detector of the catalogue's `name` (checked by the configuration).
    fn new(name: &'static str) -> Self {
        let detector = anomaly::named(name).unwrap_or_else(|| anomaly::named(anomaly::DEFAULT).expect("the default"));
        Self { detector, newest: None }
    }

    /// Scores step `k`'s `value` at the step's start `at` (a finite mean: the tracker
    /// refuses the rest, and so does the detector, scoring them 0 without taking them).
    fn observe(&mut self, k: i64, at: i64, value: f64) {
        if value.is_finite() {
            self.newest = Some((k, self.detector.observe(at, value), value));
        }
    }
}

/// What a step's trackers did, counted once per step.
#[derive(Debug, Default)]
struct StepCounts {
    /// Trackers made (a resource's first value).
    created: usize,
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

/// The steps one call completed, grouped by (step start, phase), the completed nodes'
/// forecasts by phase, and the phases whose shard must be merged.
#[derive(Debug, Default)]
struct Completions {
    steps: BTreeMap<(i64, usize), Vec<StepInput>>,
    /// By phase, in completion order (a node may complete more than once in a warm start).
    fresh: Vec<Vec<NodeForecasts>>,
    dirty: Vec<bool>,
    counts: StepCounts,
    /// End of the newest step completed, 0 before any.
    newest_end: i64,
}

impl Completions {
    fn new(phases: usize) -> Self {
        Self { fresh: vec![Vec::new(); phases], dirty: vec![false; phases], ..Self::default() }
    }
}

/// How a window's values reach a node and when its steps end (module doc), for the calls
/// of one window or watermark.
struct Walk<'a> {
    grid: &'a Grid,
    settings: &'a Arc<TrackerSettings>,
    detector: Option<&'static str>,
    horizons_seconds: &'a [u64],
    max_gap: i64,
    out: Completions,
}

impl Walk<'_> {
    /// Completes `node`'s open step, if any, and reads its forecasts.
    fn complete(&mut self, name: &Arc<str>, node: &mut NodeSeries) {
        let (grid, out) = (self.grid, &mut self.out);
        if let Some((k, inputs)) = node.complete(name, self.settings, (grid, self.detector), &mut out.counts) {
            let start = grid.start_of(k, node.offset);
            out.steps.entry((start, node.phase)).or_default().extend(inputs);
            out.fresh[node.phase].push(node.forecasts(name, grid, self.horizons_seconds));
            out.dirty[node.phase] = true;
            out.newest_end = out.newest_end.max(grid.end_of(k, node.offset));
        }
    }

    /// Takes a window starting at `start` with `values` into `node`: a step still open from
    /// before completes first; a step already fed (by the warm start) or older than the open
    /// one is not taken.
    fn take(&mut self, name: &Arc<str>, node: &mut NodeSeries, start: i64, values: &[Option<f64>; RESOURCES.len()]) {
        // Most windows fall in the open step: no division then.
        let k = match node.open {
            Some(open)
                if (self.grid.start_of(open, node.offset)..self.grid.end_of(open, node.offset)).contains(&start) =>
            {
                open
            }
            _ => self.grid.step_at(start, node.offset),
        };
        if node.open.is_some_and(|open| open < k) {
            self.complete(name, node);
        }
        if k <= node.last_step || node.open.is_some_and(|open| open > k) {
            return;
        }
        node.open = Some(k);
        node.add(values);
    }

    /// Completes `node`'s open step if it ended by `end`; whether the node has been silent
    /// for more than `max_gap` of its steps (to be dropped).
    fn finish(&mut self, name: &Arc<str>, node: &mut NodeSeries, end: i64) -> bool {
        if node.open_ended_by(self.grid, end) {
            self.complete(name, node);
        } else if node.open.is_some() {
            return false;
        }
        let expired = node.silent_past(self.grid, end, self.max_gap);
        if expired {
            self.out.dirty[node.phase] = true;
        }
        expired
    }
}

impl State {
    /// Takes the window `[start, end)` scored in `scores` (module doc): every node that
    /// reported gets its values, every step ended by `end` completes, and nodes silent for
    /// too long are dropped. Walks both name-ordered maps side by side (no hashing; new nodes
    /// inserted after).
    fn take_window(
        &mut self,
        (start, end): (i64, i64),
        scores: &ScoresSnapshot,
        quantities: &[&'static Quantity; RESOURCES.len()],
        walk: &mut Walk<'_>,
    ) {
        let mut new_nodes = Vec::new();
        let mut expired = false;
        let mut mine = self.nodes.iter_mut().peekable();
        for (name, score) in scores.nodes.iter().filter(|(_, score)| score.reported) {
            // One comparison of the two names per step of the walk (they are cold).
            let mut order = Ordering::Greater;
            while let Some((known, node)) = mine.next_if(|(known, _)| {
                order = known.as_ref().cmp(name.as_str());
                order == Ordering::Less
            }) {
                expired |= walk.finish(known, node, end);
            }
            let values = quantities.map(|quantity| quantity.in_window(score));
            match mine.next_if(|_| order == Ordering::Equal) {
                Some((known, node)) => {
                    walk.take(known, node, start, &values);
                    expired |= walk.finish(known, node, end);
                }
                None => new_nodes.push((name, values)),
            }
        }
        for (known, node) in mine {
            expired |= walk.finish(known, node, end);
        }
        for (name, values) in new_nodes {
            let name: Arc<str> = Arc::from(name.as_str());
            let mut node = NodeSeries::new(self.least_loaded(&name), walk.grid);
            walk.take(&name, &mut node, start, &values);
            walk.finish(&name, &mut node, end);
            self.insert(name, node);
        }
        if expired {
            let (grid, max_gap) = (walk.grid, walk.max_gap);
            let (members, trackers) = (&mut self.members, &mut self.trackers);
            self.nodes.retain(|name, node| {
                let kept = !node.silent_past(grid, end, max_gap);
                if !kept {
                    members[node.phase].remove(name);
                    *trackers -= node.trackers.iter().flatten().count();
                }
                kept
            });
        }
    }

    /// The phase a node new to it gets (module doc): the first phase at or after the one
    /// `name` prefers among those holding the fewest nodes.
    fn least_loaded(&self, name: &str) -> usize {
        let phases = self.members.len();
        let preferred = phase_of(name, phases);
        let fewest = self.members.iter().map(BTreeSet::len).min().unwrap_or(0);
        (0..phases).map(|i| (preferred + i) % phases).find(|&p| self.members[p].len() == fewest).unwrap_or(0)
    }

    /// Adds a node (not yet held) to its phase.
    fn insert(&mut self, name: Arc<str>, node: NodeSeries) {
        self.members[node.phase].insert(Arc::clone(&name));
        self.nodes.insert(name, node);
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
        let grid = Grid::new(config.step_ns(), crate::config::seconds_to_ns(window_seconds), config.stagger);
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
        let shards: Vec<Arc<Shard>> = (0..grid.phases).map(|_| Arc::default()).collect();
        let published = Arc::new(PublishedForecasts::default());
        published.set(ForecastsSnapshot::of_shards(0, settings.model(), shards.clone()));
        registry.register(Box::new(ForecastsCollector::new(Arc::clone(&published))?))?;
        Ok(Self {
            fresh: Mutex::new(Arc::new(settings.clone())),
            settings: Arc::new(settings),
            grid,
            horizons_seconds,
            quantities: [cpu, memory, gpu, gpu_memory, pressure],
            detector: None,
            state: Mutex::new(State { members: vec![BTreeSet::new(); grid.phases], shards, ..State::default() }),
            published,
            metrics: ForecastMetrics::new(registry)?,
        })
    }

    /// The same, with an anomaly detector of the catalogue's `name`
    /// (`ironspider_models::anomaly`) on every node and resource, fed the values its tracker
    /// is fed; an unknown name is refused.
    pub fn watching(mut self, name: &str) -> Result<Self, EngineError> {
        let known = anomaly::canonical(name).ok_or_else(|| {
            EngineError::Config(EngineConfigError::Anomaly {
                key: "detector",
                value: name.to_string(),
                rule: format!("one of {}", anomaly::NAMES.join(", ")),
            })
        })?;
        self.detector = Some(known);
        Ok(self)
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
        self.grid.step_ns
    }

    /// `P`, the phases the nodes' steps are spread over (module doc; 1: not spread).
    pub fn phases(&self) -> usize {
        self.grid.phases
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

    /// A walk for one call, with the settings fresh trackers take.
    fn walk<'a>(&'a self, fresh: &'a Arc<TrackerSettings>) -> Walk<'a> {
        Walk {
            grid: &self.grid,
            settings: fresh,
            detector: self.detector,
            horizons_seconds: &self.horizons_seconds,
            max_gap: self.settings.max_gap() as i64,
            out: Completions::new(self.grid.phases),
        }
    }

    /// Takes the window `[window_start, window_end)` scored in `scores`; returns the steps it
    /// completed (module doc), oldest first.
    pub fn record(&self, window_start: i64, window_end: i64, scores: &ScoresSnapshot) -> Vec<CompletedStep> {
        let started = Instant::now();
        let mut state = self.state.lock();
        let fresh = Arc::clone(&self.fresh.lock());
        let mut walk = self.walk(&fresh);
        state.take_window((window_start, window_end), scores, &self.quantities, &mut walk);
        self.publish(&mut state, walk.out, started)
    }

    /// Completes every step the watermark is past the end of.
    pub fn advance(&self, watermark: i64) -> Vec<CompletedStep> {
        let started = Instant::now();
        let mut state = self.state.lock();
        let fresh = Arc::clone(&self.fresh.lock());
        let mut walk = self.walk(&fresh);
        for (name, node) in &mut state.nodes {
            if node.open_ended_by(&self.grid, watermark) {
                walk.complete(name, node);
            }
        }
        self.publish(&mut state, walk.out, started)
    }

    /// Merges the shards `out` changed and publishes the snapshot; the completed steps.
    fn publish(&self, state: &mut State, mut out: Completions, started: Instant) -> Vec<CompletedStep> {
        if !out.dirty.contains(&true) {
            return Vec::new();
        }
        for (phase, _) in out.dirty.iter().enumerate().filter(|(_, dirty)| **dirty) {
            let fresh = std::mem::take(&mut out.fresh[phase]);
            state.shards[phase] = Arc::new(merged(&state.shards[phase], fresh, &state.members[phase]));
        }
        state.step_end = state.step_end.max(out.newest_end);
        self.published.set(ForecastsSnapshot::of_shards(state.step_end, self.settings.model(), state.shards.clone()));
        let snapshot = self.published.get();
        state.trackers += out.counts.created;
        if !out.steps.is_empty() {
            self.metrics.record_step(&out.counts, state.trackers, started.elapsed().as_secs_f64());
        }
        let steps = out.steps.into_iter().map(|((start, phase), inputs)| CompletedStep {
            start,
            end: start.saturating_add(self.grid.step_ns),
            phase,
            inputs,
            snapshot: Arc::clone(&snapshot),
        });
        steps.collect()
    }

    /// Feeds the node steps of `data_dir`'s history (module doc) as of `now_ns`, and
    /// publishes the forecasts they give; unreadable files are skipped and counted.
    pub fn warm_start(&self, data_dir: &Path, now_ns: i64) -> WarmStart {
        let started = Instant::now();
        let step_ns = self.grid.step_ns;
        let current = now_ns.div_euclid(step_ns);
        let oldest_useful = current.saturating_sub(self.settings.max_gap() as i64 + 1);
        let reach = self.warm_steps() as i64;
        let files = warm::step_files(data_dir, step_ns, oldest_useful, current, reach);
        let mut state = self.state.lock();
        let fresh = Arc::clone(&self.fresh.lock());
        let mut walk = self.walk(&fresh);
        let mut report = WarmStart { stale: files.stale, ..WarmStart::default() };
        for file in files.paths {
            let Some((start, rows)) = warm::read_step(&file, step_ns, &mut report) else { continue };
            // The file's nodes were in the phase of its start (module doc), unless the
            // history was not staggered or the configuration changed since.
            let (k, phase) = self.grid.step_of_start(start);
            let phase = phase.filter(|_| files.staggered);
            let mut opened = Vec::new();
            for (name, r, value) in rows {
                if !state.nodes.contains_key(&name) {
                    let phase = phase.unwrap_or_else(|| state.least_loaded(&name));
                    state.insert(Arc::clone(&name), NodeSeries::new(phase, &self.grid));
                }
                let Some(node) = state.nodes.get_mut(&name) else { continue };
                if k <= node.last_step {
                    continue;
                }
                if node.open.replace(k).is_none() {
                    opened.push(name);
                }
                node.sum[r] = value;
                node.windows[r] = 1;
            }
            for name in opened {
                if let Some(node) = state.nodes.get_mut(&name) {
                    walk.complete(&name, node);
                }
            }
            // The history already holds these values: not kept (four days of every node's
            // steps would be), and not counted as fed again.
            walk.out.steps.clear();
            report.steps += 1;
        }
        if report.steps > 0 {
            walk.out.dirty.fill(true);
            self.publish(&mut state, walk.out, started);
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
        let current = now_ns.div_euclid(self.grid.step_ns);
        let max_gap = self.settings.max_gap() as i64;
        let found = fit::histories(
            data_dir,
            self.grid.step_ns,
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

/// A phase's shard after a call: `old`'s nodes in name order, each replaced by its newest
/// entry in `fresh` (the nodes completed since, in completion order), those no longer held
/// (not in `members`) left out, and the nodes new to the shard added. The two lists share
/// their names' `Arc`s, so a node kept in its place costs a pointer comparison.
fn merged(old: &Shard, fresh: Vec<NodeForecasts>, members: &BTreeSet<Arc<str>>) -> Shard {
    let fresh = newest_by_name(fresh);
    let same = |a: &NodeForecasts, b: &NodeForecasts| Arc::ptr_eq(&a.node, &b.node) || a.node == b.node;
    let mut nodes = Vec::with_capacity(old.nodes.len().max(fresh.len()));
    let mut fresh = fresh.into_iter().peekable();
    for node in &old.nodes {
        while let Some(new) = fresh.next_if(|new| !same(new, node) && new.node < node.node) {
            nodes.push(new);
        }
        match fresh.next_if(|new| same(new, node)) {
            Some(new) => nodes.push(new),
            None if members.contains(&node.node) => nodes.push(node.clone()),
            None => {}
        }
    }
    nodes.extend(fresh);
    Shard::of_nodes(nodes)
}

/// `fresh` ascending by name, the last entry of each name kept (a live walk completes
/// nodes in name order, those new to it after; a warm start completes a node once a step).
fn newest_by_name(mut fresh: Vec<NodeForecasts>) -> Vec<NodeForecasts> {
    if fresh.is_sorted_by(|a, b| a.node < b.node) {
        return fresh;
    }
    fresh.sort_by(|a, b| a.node.cmp(&b.node));
    let mut newest: Vec<NodeForecasts> = Vec::with_capacity(fresh.len());
    for node in fresh {
        match newest.last_mut() {
            Some(last) if last.node == node.node => *last = node,
            _ => newest.push(node),
        }
    }
    newest
}

/// Where a reason is counted in [`ForecastsSnapshot::unavailable`].
fn reason_index(reason: Unavailable) -> usize {
    UNAVAILABLE_REASONS.iter().position(|r| *r == reason.as_str()).unwrap_or(UNAVAILABLE_REASONS.len() - 1)
}

#[cfg(test)]
mod tests;
