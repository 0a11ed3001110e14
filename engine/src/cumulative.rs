//! Cumulative-to-delta conversion with reset detection, one state per series.
//!
//! For a cumulative point `(start, ts, total)` of a series whose previous point was
//! `(start₀, ts₀, total₀)`:
//! - `ts = ts₀` is a duplicate and `ts < ts₀` is out of order: both are rejected, because a
//!   cumulative stream only makes sense in time order;
//! - a reset is a later start time (`start > start₀`) or a drop (`total < total₀`): the
//!   counter began again from zero, so the delta is `total`;
//! - otherwise the delta is `total − total₀`.
//!
//! The first point of a series has no predecessor. When its start time is known and not
//! before the engine started, everything it counts happened while we were watching and the
//! delta is `total`; otherwise it only becomes the baseline for the next point (the rule of
//! the OpenTelemetry Collector's cumulativetodelta processor, `initial_value: auto`).

use crate::batch::{HistogramRow, RejectReason};
use hashbrown::HashMap;

/// What a cumulative point turned into.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta<T> {
    /// The change since the previous point.
    Change(T),
    /// The first point of a series already running: it only sets the baseline.
    Baseline,
}

#[derive(Debug, Clone, Copy)]
struct CounterState {
    start: i64,
    ts: i64,
    total: f64,
}

/// Per-series state of cumulative sums and histograms.
#[derive(Debug)]
pub struct CumulativeState {
    engine_start_ns: i64,
    counters: HashMap<u32, CounterState>,
    histograms: HashMap<u32, HistogramRow>,
    /// Heap bytes of the previous histogram points' bucket vectors.
    histogram_heap: usize,
}

impl CumulativeState {
    /// Empty state; series that started before `engine_start_ns` begin with a baseline.
    pub fn new(engine_start_ns: i64) -> Self {
        Self { engine_start_ns, counters: HashMap::new(), histograms: HashMap::new(), histogram_heap: 0 }
    }

    /// Estimated heap bytes: an entry per series (its id, its state and a control byte) and
    /// the previous histogram points' buckets.
    pub fn bytes(&self) -> usize {
        let entry = |state: usize| 4 + state + 1;
        self.counters.len() * entry(std::mem::size_of::<CounterState>())
            + self.histograms.len() * entry(std::mem::size_of::<HistogramRow>())
            + self.histogram_heap
    }

    /// Forgets the state of `series`: its next point is a first one.
    pub fn forget(&mut self, series: u32) {
        self.counters.remove(&series);
        if let Some(previous) = self.histograms.remove(&series) {
            self.histogram_heap -= previous.heap_bytes();
        }
    }

    /// Keeps `point` as `series`' previous histogram point and returns the one it replaces.
    fn keep_histogram(&mut self, point: HistogramRow) -> Option<HistogramRow> {
        self.histogram_heap += point.heap_bytes();
        let previous = self.histograms.insert(point.series, point);
        if let Some(previous) = &previous {
            self.histogram_heap -= previous.heap_bytes();
        }
        previous
    }

    fn counts_from_start(&self, start: i64) -> bool {
        start > 0 && start >= self.engine_start_ns
    }

    /// Turns a cumulative total into a delta (see the module doc for the rules).
    pub fn counter(&mut self, series: u32, start: i64, ts: i64, total: f64) -> Result<Delta<f64>, RejectReason> {
        let counts_from_start = self.counts_from_start(start);
        let next = CounterState { start, ts, total };
        let Some(previous) = self.counters.insert(series, next) else {
            return Ok(if counts_from_start { Delta::Change(total) } else { Delta::Baseline });
        };
        if ts <= previous.ts {
            self.counters.insert(series, previous);
            return Err(order_error(ts, previous.ts));
        }
        let reset = start > previous.start || total < previous.total;
        Ok(Delta::Change(if reset { total } else { total - previous.total }))
    }

    /// Turns a cumulative histogram point into the delta histogram since the previous point.
    /// A change of bucket layout counts as a reset.
    pub fn histogram(&mut self, point: &HistogramRow) -> Result<Delta<HistogramRow>, RejectReason> {
        let counts_from_start = self.counts_from_start(point.start);
        let Some(previous) = self.keep_histogram(point.clone()) else {
            return Ok(if counts_from_start { Delta::Change(point.clone()) } else { Delta::Baseline });
        };
        if point.ts <= previous.ts {
            let ts = previous.ts;
            self.keep_histogram(previous);
            return Err(order_error(point.ts, ts));
        }
        let reset = point.start > previous.start
            || point.count < previous.count
            || point.bounds != previous.bounds
            || point.counts.len() != previous.counts.len()
            || point.counts.iter().zip(&previous.counts).any(|(now, before)| now < before);
        if reset {
            return Ok(Delta::Change(point.clone()));
        }
        Ok(Delta::Change(HistogramRow {
            count: point.count - previous.count,
            sum: point.sum.zip(previous.sum).map(|(now, before)| now - before),
            counts: point.counts.iter().zip(&previous.counts).map(|(now, before)| now - before).collect(),
            // min and max of a cumulative histogram cover its whole life, not the interval.
            min: None,
            max: None,
            ..point.clone()
        }))
    }
}

fn order_error(ts: i64, previous_ts: i64) -> RejectReason {
    if ts == previous_ts { RejectReason::DuplicateTimestamp } else { RejectReason::OutOfOrder }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_deltas_follow_increases_and_resets() {
        let mut state = CumulativeState::new(100);
        assert_eq!(state.counter(1, 150, 200, 5.0), Ok(Delta::Change(5.0)), "started after us");
        assert_eq!(state.counter(1, 150, 300, 8.0), Ok(Delta::Change(3.0)));
        assert_eq!(state.counter(1, 150, 400, 2.0), Ok(Delta::Change(2.0)), "a drop is a reset");
        assert_eq!(state.counter(1, 450, 500, 1.0), Ok(Delta::Change(1.0)), "a new start is a reset");
        assert_eq!(state.counter(1, 450, 500, 9.0), Err(RejectReason::DuplicateTimestamp));
        assert_eq!(state.counter(1, 450, 450, 9.0), Err(RejectReason::OutOfOrder));
        assert_eq!(state.counter(1, 450, 600, 4.0), Ok(Delta::Change(3.0)), "state kept after rejects");
    }

    #[test]
    fn a_series_older_than_the_engine_starts_with_a_baseline() {
        let mut state = CumulativeState::new(1_000);
        assert_eq!(state.counter(7, 10, 2_000, 50.0), Ok(Delta::Baseline));
        assert_eq!(state.counter(7, 10, 3_000, 55.0), Ok(Delta::Change(5.0)));
        assert_eq!(state.counter(8, 0, 2_000, 50.0), Ok(Delta::Baseline), "unknown start");
    }

    #[test]
    fn histogram_deltas_subtract_buckets() {
        let mut state = CumulativeState::new(0);
        let first = HistogramRow {
            series: 1,
            start: 5,
            ts: 10,
            count: 3,
            sum: Some(6.0),
            bounds: vec![1.0],
            counts: vec![1, 2],
            ..Default::default()
        };
        assert_eq!(state.histogram(&first), Ok(Delta::Change(first.clone())));
        let second = HistogramRow { ts: 20, count: 5, sum: Some(10.0), counts: vec![2, 3], ..first.clone() };
        let Ok(Delta::Change(delta)) = state.histogram(&second) else { panic!("expected a delta") };
        assert_eq!((delta.count, delta.sum, delta.counts), (2, Some(4.0), vec![1, 1]));
        let reset = HistogramRow { ts: 30, count: 1, sum: Some(1.0), counts: vec![1, 0], ..first };
        let Ok(Delta::Change(after_reset)) = state.histogram(&reset) else { panic!("expected a delta") };
        assert_eq!(after_reset.count, 1);
    }
}
