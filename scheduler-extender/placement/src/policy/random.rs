//! Random (the artifact's `random_score.go`): one passing node chosen uniformly at random,
//! and on it a uniformly random device among those with enough free milli for a share
//! (docs/design/simulate.md §4.2: random device choice matters, 13.6 % vs 12.8 %).
//! Every node scores 0; the caller draws the node ([`NodeChoice::Uniform`]).

use super::{DeviceChoice, NodeChoice, Policy, PolicyKind, Score};
use crate::cluster::{NodeState, PodSpec};

/// The Random policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Random;

impl Policy for Random {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Random
    }

    fn score(&self, _node: &NodeState, _pod: &PodSpec) -> Score {
        Score::of(0)
    }

    fn node_choice(&self) -> NodeChoice {
        NodeChoice::Uniform
    }

    fn device_choice(&self) -> DeviceChoice {
        DeviceChoice::Random
    }
}
