//! The `node_scores` table: every published score snapshot as Arrow rows, kept for the live
//! retention. Readers copy the list of batches (cheap: batches are reference-counted).

use crate::tables::node_scores_batch;
use arrow::array::RecordBatch;
use ironspider_scores::ScoresSnapshot;
use parking_lot::RwLock;
use std::collections::VecDeque;

/// Score rows by window end, oldest first.
#[derive(Debug, Default)]
pub struct NodeScoreLog {
    batches: RwLock<VecDeque<(i64, RecordBatch)>>,
}

impl NodeScoreLog {
    /// Appends the rows of a newly published snapshot.
    pub fn append(&self, snapshot: &ScoresSnapshot) {
        if snapshot.nodes.is_empty() {
            return;
        }
        self.batches.write().push_back((snapshot.window_end, node_scores_batch(snapshot)));
    }

    /// Drops the rows of windows that ended before `cutoff`.
    pub fn expire(&self, cutoff: i64) {
        let mut batches = self.batches.write();
        while batches.front().is_some_and(|(end, _)| *end < cutoff) {
            batches.pop_front();
        }
    }

    /// Every batch kept.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.read().iter().map(|(_, batch)| batch.clone()).collect()
    }

    /// The batches of windows that ended after `window_end`, oldest first.
    pub fn since(&self, window_end: i64) -> Vec<(i64, RecordBatch)> {
        self.batches.read().iter().filter(|(end, _)| *end > window_end).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironspider_scores::NodeScore;

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
        let log = NodeScoreLog::default();
        log.append(&snapshot(10, true));
        log.append(&snapshot(20, false));
        log.append(&ScoresSnapshot::default());
        assert_eq!(log.batches().len(), 2, "an empty snapshot adds no batch");
        let newer = log.since(10);
        assert_eq!(newer.len(), 1);
        let pressure = newer[0].1.column_by_name("pressure").unwrap();
        assert!(pressure.is_null(0), "a node silent in that window has no pressure row value");
        log.expire(15);
        assert_eq!(log.since(0).iter().map(|(end, _)| *end).collect::<Vec<_>>(), [20]);
    }
}
