//! IronSpider's placement policy (to be designed on top of FGD).

use super::fgd::{for_each_delta, sigmoid_score};
use super::frag::TypicalMix;
use super::{DeviceChoice, Policy, PolicyKind, Score};
use crate::cluster::{NodeState, PodSpec};

/// IronSpider's policy.
#[derive(Debug, Clone)]
pub struct IronSpider {
    mix: TypicalMix,
}

impl IronSpider {
    /// The policy against the typical mix `mix`.
    pub fn new(mix: TypicalMix) -> Self {
        IronSpider { mix }
    }
}

impl Policy for IronSpider {
    fn kind(&self) -> PolicyKind {
        PolicyKind::IronSpider
    }

    fn score(&self, node: &NodeState, pod: &PodSpec) -> Score {
        let mut best: Option<Score> = None;
        for_each_delta(&self.mix, node, pod, |device, delta| {
            let value = sigmoid_score(delta);
            if best.is_none_or(|b| value > b.value) {
                best = Some(Score { value, device });
            }
        });
        best.unwrap_or(Score::of(0))
    }

    fn device_choice(&self) -> DeviceChoice {
        DeviceChoice::Own
    }
}
