//! The kube-scheduler extender's request decoder (`protocol::decode`, Go-compatible JSON)
//! and the verbs behind it: the first byte picks filter, prioritize, preempt or bind, the
//! rest is the body. Nothing may panic, and every answer serialises. The extender is one
//! model for the whole run (two GPU nodes), so binds accumulate as they would in a server.

#![no_main]

use ironspider_scheduler::answer::Answer;
use ironspider_scheduler::config::SchedulerConfig;
use ironspider_scheduler::extender::Extender;
use ironspider_scheduler::model::ClusterModel;
use ironspider_scheduler::prioritize::NoForecast;
use ironspider_scheduler::protocol::{ExtenderArgs, ExtenderBindingArgs, ExtenderPreemptionArgs, decode};
use ironspider_scores::inventory::NodeInventory;
use ironspider_scores::{PublishedScores, ScoreConfig};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

fn extender() -> &'static Extender {
    static EXTENDER: OnceLock<Extender> = OnceLock::new();
    EXTENDER.get_or_init(|| {
        let mut scores = ScoreConfig::default();
        for node in ["gpu-a", "gpu-b"] {
            let inventory =
                NodeInventory { vcpus: Some(64.0), memory_gib: Some(256.0), gpus: Some(4), ..NodeInventory::default() };
            scores.inventory.insert(node.to_string(), inventory);
        }
        let source = Arc::new(PublishedScores::default());
        let model = ClusterModel::new(SchedulerConfig::default(), &scores, 10_000_000_000, source);
        Extender::new(model, Arc::new(NoForecast))
    })
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&verb, body)) = bytes.split_first() else { return };
    let extender = extender();
    let answered = match verb % 4 {
        0 => decode::<ExtenderArgs>(body).map(|args| extender.filter(args).to_json(body.len())),
        1 => decode::<ExtenderArgs>(body).map(|args| extender.prioritize(args).to_json(body.len())),
        2 => decode::<ExtenderPreemptionArgs>(body).map(|args| extender.preempt(args).to_json(body.len())),
        _ => decode::<ExtenderBindingArgs>(body).map(|args| serde_json::to_vec(&extender.bind(&args))),
    };
    if let Ok(json) = answered {
        json.expect("every answer serialises");
    }
});
