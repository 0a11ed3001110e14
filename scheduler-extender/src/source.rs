//! Where the extender's telemetry comes from: the engine's latest score snapshot (never raw
//! samples), and the node inventory of the configuration.

use ironspider_engine::Engine;
use ironspider_engine::scores::{PublishedScores, ScoresSnapshot};
use std::sync::Arc;

/// A source of published node scores.
pub trait ScoreSource: Send + Sync {
    /// The newest snapshot; cheap (an `Arc` clone) and never blocked by ingest.
    fn snapshot(&self) -> Arc<ScoresSnapshot>;
}

impl ScoreSource for Engine {
    fn snapshot(&self) -> Arc<ScoresSnapshot> {
        self.scores()
    }
}

impl ScoreSource for PublishedScores {
    fn snapshot(&self) -> Arc<ScoresSnapshot> {
        self.get()
    }
}
