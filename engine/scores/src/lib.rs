//! # ironspider-scores
//!
//! The score contract between the engine and everything that reads its scores. **In:** one
//! [`NodeFrame`] per node and closed window (what the node reported, in canonical resources;
//! the engine extracts it from the window's aggregates). **Inside:** the formulas, each
//! written once in its module's doc next to its code — [`pressure`], [`health`], [`cost`] —,
//! the configured [`inventory`], and the [`ScoreBook`] that keeps each node's recent history
//! and scores every node after each window. **Out:** an immutable [`ScoresSnapshot`]
//! published in a [`PublishedScores`], read through a [`ScoreSource`] by the HTTP API,
//! `/metrics`, gRPC and the scheduler, and [`NODE_QUANTITIES`], the one list from which each
//! of those outputs is produced.
//!
//! Pure: no I/O, no async, no Arrow or DataFusion, so the scheduler and the placement
//! simulator build without the engine's storage and SQL. `docs/scoring.md` explains the
//! formulas together.

mod book;
mod config;
pub mod cost;
mod frame;
pub mod health;
pub mod inventory;
pub mod peers;
pub mod pressure;
pub mod quantity;
mod snapshot;

pub use book::ScoreBook;
pub use config::{ScoreConfig, ScoreConfigError};
pub use frame::NodeFrame;
pub use quantity::{NODE_QUANTITIES, Presence, Quantity};
pub use snapshot::{
    Hardware, Io, NodeScore, PodCost, Published, PublishedScores, ScoreSource, ScoresSnapshot, rfc3339,
};
