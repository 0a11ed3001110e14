//! `ironspider simulate` on the Alibaba GPU trace 2023 in `../shared/datasets`: a cut of the
//! default trace through the real binary (outputs, every pod accounted for, FGD below
//! Random), a pod list with only the five columns the protocol needs, bad input, and the full
//! acceptance run of issue 4 (ignored by default: run it with
//! `cargo test --release --test integration -- --ignored simulate::`).

use ironspider::simulate::{self, SimulateArgs, node_state, pod_spec};
use ironspider_datasets::openb;
use ironspider_placement::policy::PolicyKind;
use ironspider_placement::sim::{Experiment, discretise};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The trace's CSV folder, beside the repository.
fn trace_dir() -> PathBuf {
    ironspider_datasets::shared::dataset("alibaba-gpu-v2023/csv")
}

/// Every `step`-th data row of a trace file (header kept), written into `dir`.
fn cut(file: &str, step: usize, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(trace_dir().join(file)).expect("read the trace");
    let mut lines = text.lines();
    let mut kept = vec![lines.next().expect("a header")];
    kept.extend(lines.step_by(step));
    let path = dir.join(file);
    std::fs::write(&path, kept.join("\n") + "\n").expect("write the cut");
    path
}

/// A sixth of the cluster and a sixth of the default trace (same GPU demand per GPU).
fn cut_trace(dir: &Path) -> (PathBuf, PathBuf) {
    (cut("openb_node_list_gpu_node.csv", 6, dir), cut("openb_pod_list_default.csv", 6, dir))
}

fn simulate(nodes: &Path, pods: &Path, extra: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ironspider"))
        .arg("simulate")
        .arg("--nodes")
        .arg(nodes)
        .arg("--pods")
        .arg(pods)
        .arg("--out")
        .arg(out)
        .args(["--no-progress"])
        .args(extra)
        .output()
        .expect("run ironspider simulate")
}

/// `summary.csv` as (policy, arrived %, unallocated %) rows.
fn summary_rows(out: &Path) -> Vec<(String, usize, f64)> {
    let text = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("policy,arrived_pct,unallocated_gpu_pct"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 3, "{line}");
            (fields[0].to_string(), fields[1].parse().expect("arrived %"), fields[2].parse().expect("unallocated %"))
        })
        .collect()
}

fn at(rows: &[(String, usize, f64)], policy: &str, pct: usize) -> f64 {
    rows.iter().find(|(p, x, _)| p == policy && *x == pct).map(|r| r.2).unwrap_or_else(|| panic!("{policy} at {pct}"))
}

#[test]
fn a_cut_of_the_default_trace_gives_curves_table_and_plot_with_fgd_below_random() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, pods) = cut_trace(dir.path());
    let out = dir.path().join("out");
    let output = simulate(&nodes, &pods, &["--policy", "random,fgd", "--seeds", "1"], &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("unallocated GPU % at 100 %") && stdout.contains("| fgd"), "{stdout}");
    let rows = summary_rows(&out);
    for policy in ["random", "fgd"] {
        let arrived: Vec<usize> = rows.iter().filter(|r| r.0 == policy).map(|r| r.1).collect();
        assert_eq!(arrived, (0..=130).collect::<Vec<_>>(), "{policy}: every arrived % from 0 to 130");
        assert!(rows.iter().filter(|r| r.0 == policy).all(|r| (0.0..=100.0).contains(&r.2)));
        // Bucket 0 holds the records before 0.5 % of the GPUs arrived: at most that is allocated.
        assert!(at(&rows, policy, 0) >= 99.5, "{policy}: {}", at(&rows, policy, 0));
    }
    assert!(at(&rows, "fgd", 100) < at(&rows, "random", 100), "{rows:?}");
    let frag = std::fs::read_to_string(out.join("fragmentation.csv")).unwrap();
    assert!(frag.starts_with("policy,arrived_pct,fragmentation_pct\nrandom,0,"), "{frag}");
    let png = std::fs::read(out.join("summary.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a drawn PNG");
}

#[test]
fn every_pod_is_accounted_for_and_allocation_never_exceeds_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, pods) = cut_trace(dir.path());
    let (nodes, _) = openb::load_nodes(&nodes).unwrap();
    let (pods, _) = openb::load_pods(&pods).unwrap();
    let experiment = Experiment::new(nodes.iter().map(node_state).collect(), pods.iter().map(pod_spec).collect());
    let capacity = experiment.capacity();
    let workload = experiment.workload(42);
    for kind in [PolicyKind::BestFit, PolicyKind::IronSpider] {
        let run = experiment.run(kind.build(&experiment.mix).as_ref(), &workload, &|_| {});
        assert_eq!(run.placed + run.failed, workload.arrivals.len(), "{kind:?}");
        assert_eq!(run.records.len(), workload.arrivals.len());
        let asked: u64 = workload.arrivals.iter().map(|&i| u64::from(experiment.pods[i].gpu.milli())).sum();
        assert_eq!(run.records.last().map(|r| r.arrived), Some(asked));
        assert!(asked as f64 > 1.29 * capacity as f64, "inflated to about 130 %: {asked} of {capacity}");
        assert!(run.records.windows(2).all(|w| w[0].allocated <= w[1].allocated && w[1].allocated <= capacity));
        let free: u64 = run.nodes.iter().map(|n| n.gpu_free()).sum();
        assert_eq!(run.records.last().map(|r| r.allocated), Some(capacity - free), "records match the nodes");
        let curve = discretise(&run.records, capacity);
        assert!(curve.unallocated[100].is_some_and(|u| u < 15.0), "{kind:?}: {:?}", curve.unallocated[100]);
    }
}

/// Three identical pods of half a GPU, in a pod list with only the five needed columns (as
/// some of the trace's published lists have), on nodes of 2 and 1 GPUs (3000 milli). Worked by
/// hand: inflation appends clones while the total stays at most 130 % (3900 milli), so
/// 3 + 4 pods arrive (3500 milli); six halves fill the three GPUs whatever the policy, and
/// the seventh fails. Arrived % by pod: 17, 33, 50, 67, 83, 100, 117.
#[test]
fn a_pod_list_of_only_the_five_needed_columns_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.csv");
    std::fs::write(&nodes, "sn,cpu_milli,memory_mib,gpu,model\nn0,8000,16384,2,T4\nn1,8000,16384,1,T4\n").unwrap();
    let pods = dir.path().join("pods.csv");
    let rows: String = (0..3).map(|i| format!("p{i},1000,1024,1,500\n")).collect();
    std::fs::write(&pods, format!("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n{rows}")).unwrap();
    let args = SimulateArgs {
        nodes,
        pods,
        policy: PolicyKind::ALL.to_vec(),
        seeds: 2,
        out: dir.path().join("out"),
        threads: Some(2),
        no_progress: true,
    };
    let summary = simulate::run(&args).expect("simulate a five-column pod list");
    assert_eq!((summary.nodes, summary.capacity, summary.pods), (2, 3000, 3));
    assert_eq!((summary.pod_rows.rows_used, summary.pod_rows.notes.get("no_column_gpu_spec")), (3, Some(&1)));
    assert_eq!(summary.policies.len(), PolicyKind::ALL.len());
    for p in &summary.policies {
        assert_eq!((p.arrived, p.failed), (7.0, 1.0), "{:?}: 7 arrived, 6 placed", p.policy);
        let at = |x: usize| p.unallocated[x];
        assert_eq!((at(50), at(100), at(117), at(130)), (Some(50.0), Some(0.0), Some(0.0), None), "{:?}", p.policy);
    }
    let rows = summary_rows(&args.out);
    assert_eq!(at(&rows, "fgd", 100), 0.0);
}

#[test]
fn bad_input_is_reported_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, pods) = cut_trace(dir.path());
    let broken = dir.path().join("broken.csv");
    let text = std::fs::read_to_string(&pods).unwrap();
    std::fs::write(&broken, format!("{text}openb-pod-x,12000\nopenb-pod-y,lots,1,1,1000,,LS,Running,0,0,0\n")).unwrap();
    let out = dir.path().join("out");
    let output = simulate(&nodes, &broken, &["--policy", "bestfit", "--seeds", "1"], &out);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("rejected bad_number: 1, rejected malformed: 1"), "{stdout}");

    let missing = simulate(&dir.path().join("absent.csv"), &pods, &["--policy", "fgd"], &out);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot load the node list") && stderr.contains("absent.csv"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let unknown = simulate(&nodes, &pods, &["--policy", "fgd,tetris"], &out);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "clap's usage error: {stderr}");
    assert!(stderr.contains("invalid value 'tetris'") && stderr.contains("ironspider"), "{stderr}");
}

/// The paper's artifact at 100 % arrived, mean of seeds 42–51 (issue 4).
const REFERENCE: [(PolicyKind, f64); 6] = [
    (PolicyKind::Random, 13.70),
    (PolicyKind::DotProd, 9.38),
    (PolicyKind::Clustering, 8.35),
    (PolicyKind::Packing, 8.22),
    (PolicyKind::BestFit, 7.14),
    (PolicyKind::Fgd, 4.77),
];

#[test]
#[ignore = "minutes in release: cargo test --release --test integration -- --ignored simulate::"]
fn acceptance_the_baselines_match_the_paper_and_ironspider_stays_at_most_4_3_percent() {
    let dir = tempfile::tempdir().unwrap();
    let args = SimulateArgs {
        nodes: trace_dir().join("openb_node_list_gpu_node.csv"),
        pods: trace_dir().join("openb_pod_list_default.csv"),
        policy: PolicyKind::ALL.to_vec(),
        seeds: 10,
        out: dir.path().to_path_buf(),
        threads: None,
        no_progress: true,
    };
    let summary = simulate::run(&args).expect("simulate");
    println!("{}", summary.render());
    let at_100 = |kind: PolicyKind| {
        summary.policies.iter().find(|p| p.policy == kind).and_then(|p| p.unallocated[100]).expect("a value at 100 %")
    };
    for (kind, reference) in REFERENCE {
        let got = at_100(kind);
        assert!((got - reference).abs() <= 0.5, "{kind:?}: {got:.2} vs the paper's {reference:.2}");
    }
    let ours = at_100(PolicyKind::IronSpider);
    assert!(ours <= 4.3, "ironspider: {ours:.2} %");
}
