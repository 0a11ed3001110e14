//! The live tables the engine appends to as it publishes: `node_scores` (every published
//! score snapshot) and `forecasts` (the forecasts issued at every completed step), as Arrow
//! rows keyed by the time they are as of, kept for the live retention. Readers copy the
//! list of batches (cheap: batches are reference-counted).

use arrow::array::RecordBatch;
use parking_lot::RwLock;
use std::collections::VecDeque;

/// Rows by time (a window end, a step end), oldest first.
#[derive(Debug, Default)]
pub struct BatchLog {
    batches: RwLock<VecDeque<(i64, RecordBatch)>>,
}

impl BatchLog {
    /// Appends the rows as of `time` (nothing for an empty batch).
    pub fn append(&self, time: i64, rows: RecordBatch) {
        if rows.num_rows() > 0 {
            self.batches.write().push_back((time, rows));
        }
    }

    /// Drops the rows as of times before `cutoff`.
    pub fn expire(&self, cutoff: i64) {
        let mut batches = self.batches.write();
        while batches.front().is_some_and(|(time, _)| *time < cutoff) {
            batches.pop_front();
        }
    }

    /// Every batch kept.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.read().iter().map(|(_, batch)| batch.clone()).collect()
    }

    /// The batches as of times after `time`, oldest first.
    pub fn since(&self, time: i64) -> Vec<(i64, RecordBatch)> {
        self.batches.read().iter().filter(|(end, _)| *end > time).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::node_scores_batch;
    use ironspider_scores::{NodeScore, ScoresSnapshot};

    fn snapshot(window_end: i64, reported: bool) -> ScoresSnapshot {
        let score = NodeScore {
            node: "n1".into(),
            cpu: Some(0.5),
            memory: None,
            gpu: None,
            gpu_memory: None,
            pressure: Some(0.6),
            health: 90.0,
            cost_per_hour: 1.0,
            idle_cost_per_hour: 0.5,
            updated_at: 0,
            factors: Vec::new(),
            reported,
            ..NodeScore::default()
        };
        ScoresSnapshot {
            window_end,
            nodes: [("n1".to_string(), score)].into(),
            cluster_health: Some(90.0),
            ..ScoresSnapshot::default()
        }
    }

    #[test]
    fn rows_are_kept_by_window_and_expire_with_the_retention() {
        let log = BatchLog::default();
        log.append(10, node_scores_batch(&snapshot(10, true)));
        log.append(20, node_scores_batch(&snapshot(20, false)));
        log.append(30, node_scores_batch(&ScoresSnapshot::default()));
        assert_eq!(log.batches().len(), 2, "an empty snapshot adds no batch");
        let newer = log.since(10);
        assert_eq!(newer.len(), 1);
        let pressure = newer[0].1.column_by_name("pressure").unwrap();
        assert!(pressure.is_null(0), "a node silent in that window has no pressure row value");
        log.expire(15);
        assert_eq!(log.since(0).iter().map(|(end, _)| *end).collect::<Vec<_>>(), [20]);
    }
}
