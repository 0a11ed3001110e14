//! `ironspider simulate`: replays a node list and a pod list of the Alibaba GPU trace 2023
//! through the placement policies of `ironspider-scheduler`, with the FGD paper's protocol
//! ([`ironspider_placement::sim`]): for each seed 42 … 41+N and each policy, one run; the
//! curves of unallocated GPU and fragmentation over arrived GPU demand are averaged over
//! seeds and written to `OUT/summary.csv`, `OUT/fragmentation.csv` and `OUT/summary.png`
//! ([`summary`], [`plot`]), with a table at 100 % and 130 % on the terminal.
//!
//! Runs are independent, so (policy, seed) pairs are spread over `--threads` worker threads.

pub mod plot;
pub mod summary;

use anyhow::Context;
use clap::builder::TypedValueParser as _;
use ironspider_datasets::LoadReport;
use ironspider_datasets::openb::{self, OpenbNode, OpenbPod};
use ironspider_placement::cluster::{NodeState, PodSpec};
use ironspider_placement::demand::GpuDemand;
use ironspider_placement::policy::PolicyKind;
use ironspider_placement::sim::{Experiment, Workload, discretise};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use summary::{RunResult, Summary};

/// The first seed, as in the paper's runs.
pub const FIRST_SEED: u64 = 42;
const MIB: u64 = 1024 * 1024;

/// Arguments of `ironspider simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Node list (`openb_node_list_*.csv`).
    #[arg(long)]
    pub nodes: PathBuf,
    /// Pod list (`openb_pod_list_*.csv`).
    #[arg(long)]
    pub pods: PathBuf,
    /// Policies, comma-separated.
    #[arg(long, required = true, value_delimiter = ',', value_parser = policy_parser())]
    pub policy: Vec<PolicyKind>,
    /// Number of seeds: runs use seeds 42 … 41+N.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub seeds: u64,
    /// Output directory for `summary.csv`, `fragmentation.csv` and `summary.png`.
    #[arg(long, default_value = "simulate-out")]
    pub out: PathBuf,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Do not draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// The policy names clap accepts, so an unknown one is refused with the list.
fn policy_parser() -> impl clap::builder::TypedValueParser<Value = PolicyKind> {
    let names: Vec<&'static str> = PolicyKind::ALL.iter().map(|k| k.name()).collect();
    clap::builder::PossibleValuesParser::new(names).try_map(|name| name.parse::<PolicyKind>())
}

/// A node list row as an empty node (memory MiB → bytes).
pub fn node_state(node: &OpenbNode) -> NodeState {
    NodeState::new(&node.name, &node.model, node.cpu_milli, node.memory_mib * MIB, node.gpus as usize)
}

/// A pod list row as a placement request.
pub fn pod_spec(pod: &OpenbPod) -> PodSpec {
    PodSpec {
        cpu: pod.cpu_milli,
        memory: pod.memory_mib * MIB,
        gpu: GpuDemand::from_trace(pod.num_gpu, pod.gpu_milli),
        models: pod.gpu_spec.clone(),
    }
}

/// Loads both lists and builds the experiment: nodes and pods in name order.
pub fn experiment(args: &SimulateArgs) -> anyhow::Result<(Experiment, LoadReport, LoadReport)> {
    let (mut nodes, node_report) = openb::load_nodes(&args.nodes)
        .with_context(|| format!("cannot load the node list {}", args.nodes.display()))?;
    let (mut pods, pod_report) =
        openb::load_pods(&args.pods).with_context(|| format!("cannot load the pod list {}", args.pods.display()))?;
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    let experiment = Experiment::new(nodes.iter().map(node_state).collect(), pods.iter().map(pod_spec).collect());
    anyhow::ensure!(experiment.capacity() > 0, "the node list {} has no GPU", args.nodes.display());
    Ok((experiment, node_report, pod_report))
}

/// Runs every (policy, seed) pair on `threads` threads.
fn run_all(
    experiment: &Experiment,
    workloads: &[Workload],
    policies: &[PolicyKind],
    threads: usize,
    bar: &indicatif::ProgressBar,
) -> Vec<RunResult> {
    let jobs: Vec<(PolicyKind, &Workload)> =
        policies.iter().flat_map(|&kind| workloads.iter().map(move |w| (kind, w))).collect();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(jobs.len()));
    let capacity = experiment.capacity();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| {
                while let Some(&(kind, workload)) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let started = Instant::now();
                    let policy = kind.build(&experiment.mix);
                    let run = experiment.run(policy.as_ref(), workload, &|n| bar.inc(n));
                    let result = RunResult {
                        policy: kind,
                        seed: workload.seed,
                        arrived: run.records.len(),
                        failed: run.failed,
                        curve: discretise(&run.records, capacity),
                        seconds: started.elapsed().as_secs_f64(),
                    };
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(result);
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|r| (r.policy, r.seed));
    results
}

/// Runs the simulation and writes its outputs; returns the summary.
pub fn run(args: &SimulateArgs) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let (experiment, node_rows, pod_rows) = experiment(args)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut policies: Vec<PolicyKind> = Vec::new();
    for kind in &args.policy {
        if !policies.contains(kind) {
            policies.push(*kind);
        }
    }
    let workloads: Vec<Workload> = (FIRST_SEED..FIRST_SEED + args.seeds).map(|s| experiment.workload(s)).collect();
    let pods: u64 = workloads.iter().map(|w| w.arrivals.len() as u64).sum::<u64>() * policies.len() as u64;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let bar = crate::progress::bar(pods, "pods placed", args.no_progress);
    let results = run_all(&experiment, &workloads, &policies, threads, &bar);
    bar.finish_and_clear();
    let summary = Summary::new(args, &experiment, node_rows, pod_rows, &policies, results, started.elapsed());
    summary.write(&args.out)?;
    plot::draw(&summary, &args.out.join("summary.png"))?;
    Ok(summary)
}
