//! The simulation report: per policy, the mean over seeds of each run's discretised curves
//! ([`ironspider_placement::sim::discretise`]), written as `summary.csv`
//! (`policy,arrived_pct,unallocated_gpu_pct`) and `fragmentation.csv`
//! (`policy,arrived_pct,fragmentation_pct`), and rendered as a table at 100 % and 130 %.
//!
//! A point is the mean of the seeds that have it; a point no seed has (no record within
//! ±1 % of it) is left out of the CSV files.

use super::SimulateArgs;
use anyhow::Context;
use ironspider_datasets::LoadReport;
use ironspider_placement::policy::PolicyKind;
use ironspider_placement::sim::{Curve, Experiment, MAX_PCT};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Arrived percentages the terminal table shows.
pub const TABLE_AT: [usize; 2] = [100, 130];

/// One (policy, seed) run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The policy.
    pub policy: PolicyKind,
    /// The seed.
    pub seed: u64,
    /// Pods that arrived (originals and clones).
    pub arrived: usize,
    /// Pods that fitted no node.
    pub failed: usize,
    /// Discretised curves.
    pub curve: Curve,
    /// Wall time of the run.
    pub seconds: f64,
}

/// One policy over all seeds.
#[derive(Debug, Clone)]
pub struct PolicySummary {
    /// The policy.
    pub policy: PolicyKind,
    /// Mean unallocated GPU %, by arrived % 0..=130.
    pub unallocated: Vec<Option<f64>>,
    /// Mean fragmentation % of capacity, by arrived % 0..=130.
    pub frag: Vec<Option<f64>>,
    /// Mean pods arrived per run.
    pub arrived: f64,
    /// Mean pods failed per run.
    pub failed: f64,
    /// Mean wall seconds per run.
    pub seconds: f64,
}

/// Everything `simulate` reports.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The node list.
    pub nodes_file: String,
    /// The pod list.
    pub pods_file: String,
    /// Nodes and GPUs of the cluster.
    pub nodes: usize,
    /// GPU capacity in milli.
    pub capacity: u64,
    /// Original pods.
    pub pods: usize,
    /// Types in the typical pod mix.
    pub mix_types: usize,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// What the loader did with the node list.
    pub node_rows: LoadReport,
    /// What the loader did with the pod list.
    pub pod_rows: LoadReport,
    /// Per policy, in the order asked.
    pub policies: Vec<PolicySummary>,
    /// Wall time of the whole command.
    pub wall_seconds: f64,
}

/// Picks one curve of a policy.
type CurveOf = fn(&PolicySummary) -> &[Option<f64>];

/// Mean over the seeds that have each point.
fn mean_curve<'a>(curves: impl Iterator<Item = &'a [Option<f64>]> + Clone) -> Vec<Option<f64>> {
    (0..=MAX_PCT)
        .map(|x| {
            let values: Vec<f64> = curves.clone().filter_map(|c| c.get(x).copied().flatten()).collect();
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        })
        .collect()
}

impl PolicySummary {
    fn new(policy: PolicyKind, runs: &[&RunResult]) -> Self {
        let n = runs.len().max(1) as f64;
        let mean = |f: &dyn Fn(&RunResult) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / n;
        PolicySummary {
            policy,
            unallocated: mean_curve(runs.iter().map(|r| r.curve.unallocated.as_slice())),
            frag: mean_curve(runs.iter().map(|r| r.curve.frag.as_slice())),
            arrived: mean(&|r| r.arrived as f64),
            failed: mean(&|r| r.failed as f64),
            seconds: mean(&|r| r.seconds),
        }
    }
}

impl Summary {
    /// Collects the runs of `policies`.
    pub fn new(
        args: &SimulateArgs,
        experiment: &Experiment,
        node_rows: LoadReport,
        pod_rows: LoadReport,
        policies: &[PolicyKind],
        results: Vec<RunResult>,
        wall: Duration,
    ) -> Self {
        let mut seeds: Vec<u64> = results.iter().map(|r| r.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let policies = policies
            .iter()
            .map(|&kind| {
                let runs: Vec<&RunResult> = results.iter().filter(|r| r.policy == kind).collect();
                PolicySummary::new(kind, &runs)
            })
            .collect();
        Summary {
            nodes_file: args.nodes.display().to_string(),
            pods_file: args.pods.display().to_string(),
            nodes: experiment.nodes.len(),
            capacity: experiment.capacity(),
            pods: experiment.pods.len(),
            mix_types: experiment.mix.types.len(),
            seeds,
            node_rows,
            pod_rows,
            policies,
            wall_seconds: wall.as_secs_f64(),
        }
    }

    /// Writes `summary.csv` and `fragmentation.csv` into `out`.
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        let files: [(&str, &str, CurveOf); 2] = [
            ("summary.csv", "unallocated_gpu_pct", |p| &p.unallocated),
            ("fragmentation.csv", "fragmentation_pct", |p| &p.frag),
        ];
        for (file, column, curve) in files {
            let mut text = format!("policy,arrived_pct,{column}\n");
            for policy in &self.policies {
                for (x, value) in curve(policy).iter().enumerate() {
                    if let Some(value) = value {
                        let _ = writeln!(text, "{},{x},{value:.4}", policy.policy.name());
                    }
                }
            }
            let path = out.join(file);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// The report as text for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "simulated {} pods ({}) on {} nodes, {} GPUs ({}); typical mix of {} types; seeds {}..={}; {:.1} s\n",
            self.pods,
            self.pods_file,
            self.nodes,
            self.capacity / 1000,
            self.nodes_file,
            self.mix_types,
            self.seeds.first().copied().unwrap_or_default(),
            self.seeds.last().copied().unwrap_or_default(),
            self.wall_seconds,
        );
        for (what, rows) in [("node rows", &self.node_rows), ("pod rows", &self.pod_rows)] {
            let _ = write!(out, "{what}: {} read, {} used", rows.rows_read, rows.rows_used);
            for (reason, n) in rows
                .rows_rejected
                .iter()
                .map(|(r, n)| (format!("rejected {r}"), n))
                .chain(rows.notes.iter().map(|(r, n)| (format!("note {r}"), n)))
            {
                let _ = write!(out, ", {reason}: {n}");
            }
            out.push('\n');
        }
        let mut table = comfy_table::Table::new();
        let mut header = vec!["policy".to_string()];
        header.extend(TABLE_AT.iter().map(|x| format!("unallocated GPU % at {x} %")));
        header.extend(TABLE_AT.iter().map(|x| format!("fragmentation % at {x} %")));
        header.extend(["pods arrived".into(), "pods failed".into(), "s per run".into()]);
        table.set_header(header);
        let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
        for p in &self.policies {
            let mut row = vec![p.policy.name().to_string()];
            row.extend(TABLE_AT.iter().map(|&x| cell(p.unallocated[x])));
            row.extend(TABLE_AT.iter().map(|&x| cell(p.frag[x])));
            row.extend([format!("{:.0}", p.arrived), format!("{:.1}", p.failed), format!("{:.2}", p.seconds)]);
            table.add_row(row);
        }
        let _ = writeln!(out, "{table}");
        out
    }
}
