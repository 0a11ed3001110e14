//! Does reading the scores slow ingest down? One thread ingests the load generator's requests
//! as fast as it can through the real path (fast decoder, batch builder, engine, windows
//! closing on a virtual clock) while a second thread reads the published score snapshot and
//! renders it as `/api/v1/nodes` does (JSON of every node). Phases alternate:
//!
//! - `alone`: no reader;
//! - `control`: the reader renders a private copy of a snapshot in a tight loop and never
//!   touches the engine, which measures what a second busy thread costs on this machine
//!   (2 vCPUs share caches, memory bandwidth and possibly a physical core);
//! - `live`: the reader takes the engine's snapshot in a tight loop;
//! - `paced`: the reader takes the engine's snapshot 100 times a second (a scheduler
//!   extender's rate).
//!
//! Contention with ingest is `live / control`; `paced / alone` is what a realistic reader
//! costs. `cargo bench --bench snapshot_contention` (three rounds of 3-second phases); under
//! `cargo test` it runs a short smoke version.

use ironspider::payload::{PayloadShape, PayloadSpec, Template, templates};
use ironspider_engine::{Engine, EngineConfig, ManualClock};
use ironspider_ingest::metrics::Transport;
use ironspider_ingest::{Encoded, Format, IngestConfig, Ingestor};
use ironspider_scores::{NodeScore, ScoresSnapshot};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const T0: i64 = 1_700_000_000_000_000_000;
const SECOND: i64 = 1_000_000_000;

/// The engine being fed, and where event time stands.
struct Feeder {
    engine: Arc<Engine>,
    ingestor: Ingestor,
    clock: Arc<ManualClock>,
    templates: Vec<Template>,
    step: usize,
}

impl Feeder {
    fn new(nodes: usize) -> Self {
        let spec =
            PayloadSpec { shape: PayloadShape::Gauge5, nodes, metrics: 20, points_per_request: 1000, churn: false };
        let clock = Arc::new(ManualClock::new(T0));
        let config = EngineConfig { lateness_seconds: 0, retention_seconds: 60, history: false, ..Default::default() };
        let registry = prometheus::Registry::new();
        let engine = Arc::new(Engine::new(config, clock.clone(), &registry).expect("engine"));
        let ingestor = Ingestor::new(Arc::clone(&engine), IngestConfig::default(), &registry).expect("ingestor");
        Self { engine, ingestor, clock, templates: templates(&spec, usize::MAX), step: 0 }
    }

    /// Sends one request: every series gets one point per second of event time, and
    /// windows close as the clock passes them. Returns the points accepted.
    fn send_one(&mut self) -> u64 {
        let round = self.templates.len();
        let ts = T0 + (self.step / round) as i64 * SECOND;
        if self.step.is_multiple_of(round) {
            self.clock.advance_to(ts);
            self.engine.close_due_windows();
        }
        let body = self.templates[self.step % round].stamped(ts as u64);
        self.step += 1;
        self.ingestor.submit(Transport::Grpc, &Encoded::new(Format::OtlpProtobuf, body)).expect("accepted").accepted
    }

    /// Ingests for `duration`; returns points per second.
    fn run_for(&mut self, duration: Duration) -> f64 {
        let started = Instant::now();
        let mut points = 0;
        while started.elapsed() < duration {
            points += self.send_one();
        }
        points as f64 / started.elapsed().as_secs_f64()
    }
}

/// How the second thread reads during a phase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reader {
    /// No second thread.
    Alone,
    /// Renders a private copy of a snapshot, never touching the engine.
    Control,
    /// Takes and renders the engine's snapshot in a tight loop.
    Live,
    /// Takes and renders the engine's snapshot every `PACE`.
    Paced,
}

const PACE: Duration = Duration::from_millis(10);

/// Renders the scores as `/api/v1/nodes` does.
fn render(snapshot: &ScoresSnapshot) {
    let nodes: Vec<&NodeScore> = snapshot.nodes.values().collect();
    std::hint::black_box(serde_json::to_vec(&nodes).expect("scores serialise"));
}

/// Reads as `reader` says until told to stop, counting reads.
fn read_until(reader: Reader, engine: &Engine, stop: &AtomicBool, reads: &AtomicU64) {
    let private = engine.scores().as_ref().clone();
    while !stop.load(Ordering::Relaxed) {
        match reader {
            Reader::Alone => return,
            Reader::Control => render(&private),
            Reader::Live => render(&engine.scores()),
            Reader::Paced => {
                render(&engine.scores());
                std::thread::sleep(PACE);
            }
        }
        reads.fetch_add(1, Ordering::Relaxed);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (nodes, phase, rounds) =
        if full { (1000, Duration::from_secs(3), 3) } else { (20, Duration::from_millis(100), 1) };
    let mut feeder = Feeder::new(nodes);
    feeder.run_for(phase); // warm-up: every series interned, windows closing, scores published
    let modes = [Reader::Alone, Reader::Control, Reader::Live, Reader::Paced];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut reads: Vec<u64> = vec![0; modes.len()];
    for _ in 0..rounds {
        for (m, &mode) in modes.iter().enumerate() {
            let (stop, count) = (AtomicBool::new(false), AtomicU64::new(0));
            let engine = Arc::clone(&feeder.engine);
            std::thread::scope(|scope| {
                scope.spawn(|| read_until(mode, &engine, &stop, &count));
                rates[m].push(feeder.run_for(phase));
                stop.store(true, Ordering::Relaxed);
            });
            reads[m] += count.load(Ordering::Relaxed);
        }
    }
    let nodes_scored = feeder.engine.scores().nodes.len();
    println!("snapshot_contention: {nodes_scored} nodes in the snapshot, {rounds} rounds of {phase:?} phases");
    let medians: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
    for (m, mode) in modes.iter().enumerate() {
        let read_rate = reads[m] as f64 / (phase.as_secs_f64() * rounds as f64);
        println!(
            "  {:<8} {:.3} M points/s (median), {read_rate:.0} reads/s, {:.3} of alone",
            format!("{mode:?}").to_lowercase(),
            medians[m] / 1e6,
            medians[m] / medians[0]
        );
    }
    println!("  live / control (contention): {:.3}", medians[2] / medians[1]);
    assert!(nodes_scored > 0, "the snapshot the reader reads holds scored nodes");
}
