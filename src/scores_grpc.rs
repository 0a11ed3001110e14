//! The gRPC service `ironspider.v1.Scores` (see `proto/proto/ironspider/v1/scores.proto`)
//! over the engine's published snapshots: `Get` answers from the newest score snapshot,
//! `Watch` streams each new one, `GetForecasts` answers from the newest forecasts. Each only
//! takes a snapshot (an `Arc` clone), so none ever waits for ingest. `serve` mounts the
//! service on the OTLP/gRPC port.

use ironspider_engine::Engine;
use ironspider_engine::forecasts::ForecastsSnapshot;
use ironspider_proto::v1;
use ironspider_proto::v1::scores_server::{Scores, ScoresServer};
use ironspider_scores::cost::PerResource;
use ironspider_scores::health::Factor;
use ironspider_scores::{NODE_QUANTITIES, NodeScore, ScoresSnapshot};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tonic::codec::CompressionEncoding;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// How often a `Watch` looks for a new snapshot. Windows last at least a second, so a watcher
/// sees each of them unless several close within one period (catching up after a stall), when
/// it gets only the newest.
pub const WATCH_POLL_PERIOD: Duration = Duration::from_millis(100);

/// Snapshots a `Watch` may have queued for a slow client before it waits for the client.
const WATCH_QUEUE: usize = 4;

/// `ironspider.v1.Scores` over an engine.
#[derive(Clone)]
pub struct ScoresService {
    engine: Arc<Engine>,
    /// Turns true when the server shuts down; open `Watch` streams then end, so that the
    /// graceful shutdown of the gRPC server does not wait for them forever.
    stop: watch::Receiver<bool>,
}

impl ScoresService {
    /// A service reading `engine`'s scores whose watch streams end once `stop` turns true (or
    /// its sender is dropped).
    pub fn new(engine: Arc<Engine>, stop: watch::Receiver<bool>) -> Self {
        Self { engine, stop }
    }

    /// The service as a tonic server, accepting and (when the client accepts them) sending
    /// gzip- and zstd-compressed messages, as the OTLP service next to it does.
    pub fn into_server(self) -> ScoresServer<Self> {
        ScoresServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Zstd)
    }
}

/// Which nodes a request asks for: `None` for every node (an empty list).
fn requested(nodes: Vec<String>) -> Option<BTreeSet<String>> {
    (!nodes.is_empty()).then(|| nodes.into_iter().collect())
}

/// The requested names the snapshot does not hold.
fn unknown<'a>(snapshot: &ScoresSnapshot, wanted: &'a BTreeSet<String>) -> Vec<&'a str> {
    wanted.iter().filter(|name| !snapshot.nodes.contains_key(*name)).map(String::as_str).collect()
}

/// The snapshot as a message, restricted to `wanted` (every node when `None`), nodes in name
/// order. The cluster health stays the whole cluster's.
pub fn cluster_scores(snapshot: &ScoresSnapshot, wanted: Option<&BTreeSet<String>>) -> v1::ClusterScores {
    let nodes = snapshot
        .nodes
        .values()
        .filter(|score| wanted.is_none_or(|wanted| wanted.contains(&score.node)))
        .map(node_score)
        .collect();
    v1::ClusterScores { window_end_unix_nano: snapshot.window_end, nodes, cluster_health: snapshot.cluster_health }
}

/// One node's scores as a message: the typed fields, and every published quantity in
/// `values` by name (known ones only).
pub fn node_score(score: &NodeScore) -> v1::NodeScore {
    let values = NODE_QUANTITIES
        .iter()
        .filter_map(|quantity| (quantity.value)(score).map(|value| (quantity.name.to_string(), value)))
        .collect();
    v1::NodeScore {
        node: score.node.clone(),
        cpu: score.cpu,
        memory: score.memory,
        gpu: score.gpu,
        gpu_memory: score.gpu_memory,
        pressure: score.pressure,
        health: score.health,
        cost_per_hour: score.cost_per_hour,
        idle_cost_per_hour: score.idle_cost_per_hour,
        updated_at_unix_nano: score.updated_at,
        factors: score.factors.iter().map(health_factor).collect(),
        cost: Some(resource_cost(&score.cost.cost)),
        idle_cost: Some(resource_cost(&score.cost.idle)),
        reported: score.reported,
        values,
    }
}

/// The forecasts as a message, restricted to `wanted` (every node when `None`).
pub fn cluster_forecasts(snapshot: &ForecastsSnapshot, wanted: Option<&BTreeSet<String>>) -> v1::ClusterForecasts {
    let forecasts = snapshot
        .rows()
        .filter(|row| wanted.is_none_or(|wanted| wanted.contains(row.node)))
        .map(|row| v1::NodeForecast {
            node: row.node.to_string(),
            resource: row.resource.to_string(),
            horizon_seconds: row.horizon_seconds as i64,
            p10: row.p10,
            p50: row.p50,
            p90: row.p90,
            issued_at_unix_nano: row.issued_at,
        })
        .collect();
    v1::ClusterForecasts { step_end_unix_nano: snapshot.step_end, model: snapshot.model.to_string(), forecasts }
}

/// A health factor as a message.
fn health_factor(factor: &Factor) -> v1::HealthFactor {
    v1::HealthFactor { factor: factor.factor.to_string(), penalty: factor.penalty, detail: factor.detail.clone() }
}

/// Per-resource prices as a message.
fn resource_cost(parts: &PerResource) -> v1::ResourceCost {
    v1::ResourceCost { cpu: parts.cpu, memory: parts.memory, gpu: parts.gpu }
}

/// What a watch sends next: the snapshot, when its window differs from the last one sent and
/// it holds at least one wanted node.
#[derive(Debug, Default)]
struct Watcher {
    wanted: Option<BTreeSet<String>>,
    last_sent: Option<i64>,
}

impl Watcher {
    fn next(&mut self, snapshot: &ScoresSnapshot) -> Option<v1::ClusterScores> {
        if self.last_sent == Some(snapshot.window_end) {
            return None;
        }
        let scores = cluster_scores(snapshot, self.wanted.as_ref());
        if scores.nodes.is_empty() {
            return None;
        }
        self.last_sent = Some(snapshot.window_end);
        Some(scores)
    }
}

/// Feeds `tx` with each new snapshot until the client goes away (the receiving stream is
/// dropped) or the server stops.
async fn watch_scores(
    engine: Arc<Engine>,
    mut watcher: Watcher,
    tx: mpsc::Sender<Result<v1::ClusterScores, Status>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(WATCH_POLL_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let scores = tokio::select! {
            _ = tx.closed() => return,
            _ = stop.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => match watcher.next(&engine.scores()) {
                Some(scores) => scores,
                None => continue,
            },
        };
        tokio::select! {
            sent = tx.send(Ok(scores)) => if sent.is_err() { return },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

#[tonic::async_trait]
impl Scores for ScoresService {
    /// The newest snapshot; NOT_FOUND naming every requested node the engine does not know.
    async fn get(&self, request: Request<v1::GetScoresRequest>) -> Result<Response<v1::ClusterScores>, Status> {
        let snapshot = self.engine.scores();
        let wanted = requested(request.into_inner().nodes);
        if let Some(wanted) = &wanted {
            let unknown = unknown(&snapshot, wanted);
            if !unknown.is_empty() {
                return Err(Status::not_found(format!("unknown nodes: {}", unknown.join(", "))));
            }
        }
        Ok(Response::new(cluster_scores(&snapshot, wanted.as_ref())))
    }

    /// The newest forecasts; NOT_FOUND naming every requested node the engine has neither
    /// scored nor forecast.
    async fn get_forecasts(
        &self,
        request: Request<v1::GetForecastsRequest>,
    ) -> Result<Response<v1::ClusterForecasts>, Status> {
        let (forecasts, scores) = (self.engine.forecasts(), self.engine.scores());
        let wanted = requested(request.into_inner().nodes);
        if let Some(wanted) = &wanted {
            let unknown: Vec<&str> =
                unknown(&scores, wanted).into_iter().filter(|n| forecasts.node(n).is_none()).collect();
            if !unknown.is_empty() {
                return Err(Status::not_found(format!("unknown nodes: {}", unknown.join(", "))));
            }
        }
        Ok(Response::new(cluster_forecasts(&forecasts, wanted.as_ref())))
    }

    type WatchStream = ReceiverStream<Result<v1::ClusterScores, Status>>;

    /// The current snapshot (when it holds a wanted node), then each new one.
    async fn watch(&self, request: Request<v1::WatchScoresRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let watcher = Watcher { wanted: requested(request.into_inner().nodes), last_sent: None };
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        tokio::spawn(watch_scores(Arc::clone(&self.engine), watcher, tx, self.stop.clone()));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn score(node: &str) -> NodeScore {
        NodeScore {
            node: node.to_string(),
            cpu: Some(0.5),
            memory: None,
            gpu: None,
            gpu_memory: None,
            pressure: Some(0.25),
            health: 80.0,
            cost_per_hour: 1.0,
            idle_cost_per_hour: 0.5,
            updated_at: 1_714_979_289_000_000_000,
            factors: vec![Factor { factor: "stale", penalty: 20.0, detail: "1 window".to_string() }],
            reported: true,
            ..NodeScore::default()
        }
    }

    fn snapshot(window_end: i64, nodes: &[&str]) -> ScoresSnapshot {
        let nodes: BTreeMap<String, NodeScore> = nodes.iter().map(|n| (n.to_string(), score(n))).collect();
        ScoresSnapshot { window_end, nodes, cluster_health: Some(80.0), ..ScoresSnapshot::default() }
    }

    #[test]
    fn a_node_score_keeps_unknown_apart_from_zero() {
        let message = node_score(&score("a"));
        assert_eq!((message.cpu, message.memory, message.pressure), (Some(0.5), None, Some(0.25)));
        assert_eq!(message.updated_at_unix_nano, 1_714_979_289_000_000_000);
        assert_eq!(message.factors[0].factor, "stale");
        assert_eq!((message.health, message.reported), (80.0, true));
    }

    #[test]
    fn a_selection_keeps_name_order_and_names_unknown_nodes() {
        let snapshot = snapshot(7, &["a", "b", "c"]);
        let wanted = requested(vec!["c".into(), "a".into(), "x".into()]).expect("a selection");
        assert_eq!(unknown(&snapshot, &wanted), ["x"]);
        let scores = cluster_scores(&snapshot, Some(&wanted));
        let names: Vec<&str> = scores.nodes.iter().map(|n| n.node.as_str()).collect();
        assert_eq!((names, scores.window_end_unix_nano, scores.cluster_health), (vec!["a", "c"], 7, Some(80.0)));
        assert_eq!(cluster_scores(&snapshot, None).nodes.len(), 3);
        assert!(requested(Vec::new()).is_none());
    }

    #[test]
    fn forecasts_keep_the_snapshot_order_and_the_selection() {
        use ironspider_engine::forecasts::{Forecast, NodeForecasts};
        let forecast = |resource, horizon_seconds| Forecast {
            resource,
            horizon_seconds,
            p10: 0.25,
            p50: 0.5,
            p90: 0.75,
            issued_at: 300_000_000_000,
        };
        let snapshot = ForecastsSnapshot::new(
            300_000_000_000,
            "naive",
            vec![
                NodeForecasts {
                    node: "a".into(),
                    forecasts: vec![forecast("cpu", 300), forecast("memory", 900)],
                    anomalies: vec![],
                    unavailable: [0; 4],
                },
                NodeForecasts {
                    node: "b".into(),
                    forecasts: vec![forecast("pressure", 300)],
                    anomalies: vec![],
                    unavailable: [0; 4],
                },
            ],
        );
        let all = cluster_forecasts(&snapshot, None);
        assert_eq!((all.step_end_unix_nano, all.model.as_str(), all.forecasts.len()), (300_000_000_000, "naive", 3));
        let b = cluster_forecasts(&snapshot, requested(vec!["b".into()]).as_ref());
        let one = &b.forecasts[0];
        assert_eq!((one.node.as_str(), one.resource.as_str(), one.horizon_seconds), ("b", "pressure", 300));
        assert_eq!((one.p10, one.p50, one.p90, one.issued_at_unix_nano), (0.25, 0.5, 0.75, 300_000_000_000));
    }

    #[test]
    fn a_watcher_sends_each_window_once_and_skips_empty_snapshots() {
        let mut watcher = Watcher { wanted: requested(vec!["b".into()]), last_sent: None };
        assert!(watcher.next(&ScoresSnapshot::default()).is_none(), "nothing scored yet");
        assert!(watcher.next(&snapshot(1, &["a"])).is_none(), "b not scored yet");
        assert_eq!(watcher.next(&snapshot(2, &["a", "b"])).map(|s| s.nodes.len()), Some(1));
        assert!(watcher.next(&snapshot(2, &["a", "b"])).is_none(), "same window");
        assert_eq!(watcher.next(&snapshot(3, &["a", "b"])).map(|s| s.window_end_unix_nano), Some(3));
    }
}
