//! The Alibaba GPU cluster trace 2023 ("openb", `alibaba/clusterdata`,
//! `cluster-trace-gpu-v2023`; Weng et al., "Beware of Fragmentation", USENIX ATC '23): a
//! node list and pod lists that `ironspider simulate` replays through the placement code.
//!
//! Node files (`openb_node_list_*.csv`), columns `sn,cpu_milli,memory_mib,gpu,model`: CPU in
//! thousandths of a core, memory in MiB, GPU count, GPU model (empty for CPU-only nodes).
//!
//! Pod files (`openb_pod_list_*.csv`), columns `name,cpu_milli,memory_mib,num_gpu,gpu_milli,
//! gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`: requests in the same
//! units; `gpu_milli` is the share of one GPU (1000 = whole) on each of `num_gpu` GPUs;
//! `gpu_spec` lists accepted models separated by `|` (empty = any). Phase, QoS and times are
//! not read: the simulator's protocol does not use them.
//!
//! Columns are found by header name, so their order may change. Rows refused, by reason:
//! `malformed` (fewer fields than the header names), `missing_name`, `bad_number` (a request
//! that is not a non-negative integer), `zero_gpu_milli` (a pod asking for GPUs but for 0
//! milli of each). Kept with a note, as the trace's own CSV→YAML converter does: `gpu_milli`
//! above 1000 is clamped to 1000 (`gpu_milli_clamped`), GPU fields of a pod with
//! `num_gpu` = 0 are dropped (`gpu_milli_without_gpu`). A file that cannot be read, or
//! whose header lacks a needed column, is an error.

use crate::DatasetError;
use crate::report::LoadReport;
use std::path::Path;

/// One GPU in milli.
const WHOLE_GPU: u32 = 1000;

/// A node of a node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenbNode {
    /// `sn`: the node's name.
    pub name: String,
    /// CPU in thousandths of a core.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Number of GPUs.
    pub gpus: u32,
    /// GPU model (empty for a CPU-only node).
    pub model: String,
}

/// A pod of a pod list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenbPod {
    /// The pod's name.
    pub name: String,
    /// CPU request in thousandths of a core.
    pub cpu_milli: u64,
    /// Memory request in MiB.
    pub memory_mib: u64,
    /// GPUs asked for (0 for a CPU-only pod).
    pub num_gpu: u32,
    /// Milli of each GPU (1..=1000; 0 when `num_gpu` is 0).
    pub gpu_milli: u32,
    /// Accepted GPU models; empty for any.
    pub gpu_spec: Vec<String>,
}

impl OpenbPod {
    /// Total GPU milli asked for: `num_gpu × gpu_milli`.
    pub fn gpu_total_milli(&self) -> u64 {
        u64::from(self.num_gpu) * u64::from(self.gpu_milli)
    }
}

/// The header and data lines of a CSV file, with the position of each wanted column.
struct Table {
    positions: Vec<usize>,
    width: usize,
    lines: Vec<String>,
}

fn read_table(path: &Path, columns: &[&str]) -> Result<Table, DatasetError> {
    let text = std::fs::read(path).map_err(|source| DatasetError::Io { path: path.display().to_string(), source })?;
    let text = String::from_utf8_lossy(&text);
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let mut positions = Vec::with_capacity(columns.len());
    for column in columns {
        let at = header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| DatasetError::Empty(format!("{}: the header has no column `{column}`", path.display())))?;
        positions.push(at);
    }
    let width = positions.iter().max().map_or(0, |m| m + 1);
    Ok(Table { positions, width, lines: lines.map(String::from).collect() })
}

impl Table {
    /// The wanted fields of each data line, or `malformed` for a short line.
    fn rows(&self) -> impl Iterator<Item = Result<Vec<&str>, &'static str>> {
        self.lines.iter().map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < self.width {
                return Err("malformed");
            }
            Ok(self.positions.iter().map(|&i| fields[i]).collect())
        })
    }
}

fn number(field: &str) -> Result<u64, &'static str> {
    field.parse::<u64>().map_err(|_| "bad_number")
}

fn name(field: &str) -> Result<String, &'static str> {
    if field.is_empty() { Err("missing_name") } else { Ok(field.to_string()) }
}

/// Reads every data row of `path` with `parse`, counting refusals in the report.
fn load<T>(
    path: &Path,
    columns: &[&str],
    mut parse: impl FnMut(&[&str], &mut LoadReport) -> Result<T, &'static str>,
) -> Result<(Vec<T>, LoadReport), DatasetError> {
    let table = read_table(path, columns)?;
    let mut report = LoadReport { files: 1, ..LoadReport::default() };
    let mut items = Vec::with_capacity(table.lines.len());
    for row in table.rows() {
        report.rows_read += 1;
        match row.and_then(|fields| parse(&fields, &mut report)) {
            Ok(item) => {
                items.push(item);
                report.rows_used += 1;
            }
            Err(reason) => report.reject(reason),
        }
    }
    if items.is_empty() {
        return Err(DatasetError::Empty(format!("{}: no usable row ({} read)", path.display(), report.rows_read)));
    }
    Ok((items, report))
}

/// Loads a node list (see the module doc). Fails when the file cannot be read, its header
/// lacks a column, or no row is usable.
pub fn load_nodes(path: &Path) -> Result<(Vec<OpenbNode>, LoadReport), DatasetError> {
    load(path, &["sn", "cpu_milli", "memory_mib", "gpu", "model"], |f, _| {
        Ok(OpenbNode {
            name: name(f[0])?,
            cpu_milli: number(f[1])?,
            memory_mib: number(f[2])?,
            gpus: u32::try_from(number(f[3])?).map_err(|_| "bad_number")?,
            model: if f[4].eq_ignore_ascii_case("nan") { String::new() } else { f[4].to_string() },
        })
    })
}

/// Loads a pod list (see the module doc). Fails when the file cannot be read, its header
/// lacks a column, or no row is usable.
pub fn load_pods(path: &Path) -> Result<(Vec<OpenbPod>, LoadReport), DatasetError> {
    let columns = ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"];
    load(path, &columns, |f, report| {
        let num_gpu = u32::try_from(number(f[3])?).map_err(|_| "bad_number")?;
        let mut gpu_milli = u32::try_from(number(f[4])?).unwrap_or(u32::MAX);
        if num_gpu == 0 && gpu_milli != 0 {
            report.note("gpu_milli_without_gpu");
            gpu_milli = 0;
        }
        if gpu_milli > WHOLE_GPU {
            report.note("gpu_milli_clamped");
            gpu_milli = WHOLE_GPU;
        }
        if num_gpu > 0 && gpu_milli == 0 {
            return Err("zero_gpu_milli");
        }
        let spec = if f[5].eq_ignore_ascii_case("nan") { "" } else { f[5] };
        Ok(OpenbPod {
            name: name(f[0])?,
            cpu_milli: number(f[1])?,
            memory_mib: number(f[2])?,
            num_gpu,
            gpu_milli,
            gpu_spec: spec.split('|').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn pods_are_read_by_header_name_and_bad_rows_are_counted_by_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos\n\
             p0,12000,16384,1,460,,LS\n\
             p1,4000,8192,2,1000,V100M16|V100M32,BE\r\n\
             p2,1000,512,0,300,,BE\n\
             p3,1000,512,1,1200,nan,BE\n\
             p4,1000\n\
             p5,-5,512,0,0,,BE\n\
             ,1000,512,0,0,,BE\n\
             p7,1000,512,1,0,,BE\n",
        );
        let (pods, report) = load_pods(&path).unwrap();
        assert_eq!(pods.len(), 4);
        assert_eq!((pods[0].num_gpu, pods[0].gpu_milli, pods[0].gpu_total_milli()), (1, 460, 460));
        assert_eq!(pods[1].gpu_spec, ["V100M16", "V100M32"]);
        assert_eq!((pods[2].num_gpu, pods[2].gpu_milli), (0, 0), "GPU fields of a CPU pod are dropped");
        assert_eq!((pods[3].gpu_milli, pods[3].gpu_spec.len()), (1000, 0), "clamped; nan = any model");
        assert_eq!((report.rows_read, report.rows_used, report.rejected_total()), (8, 4, 4));
        let rejected: Vec<(&str, u64)> = report.rows_rejected.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(rejected, [("bad_number", 1), ("malformed", 1), ("missing_name", 1), ("zero_gpu_milli", 1)]);
        assert_eq!(report.notes.get("gpu_milli_clamped"), Some(&1));
        assert_eq!(report.notes.get("gpu_milli_without_gpu"), Some(&1));
    }

    #[test]
    fn nodes_load_and_unusable_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path =
            write(&dir, "nodes.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,1,0,\n");
        let (nodes, report) = load_nodes(&path).unwrap();
        assert_eq!(
            nodes[0],
            OpenbNode { name: "n0".into(), cpu_milli: 64000, memory_mib: 262144, gpus: 2, model: "P100".into() }
        );
        assert_eq!((nodes[1].gpus, nodes[1].model.as_str(), report.rows_used), (0, "", 2));
        let missing = load_nodes(&dir.path().join("absent.csv")).unwrap_err();
        assert!(missing.to_string().contains("absent.csv"), "{missing}");
        let no_column = write(&dir, "bad.csv", "sn,cpu_milli\nn0,1\n");
        assert!(load_nodes(&no_column).unwrap_err().to_string().contains("no column `memory_mib`"));
        let empty = write(&dir, "empty.csv", "sn,cpu_milli,memory_mib,gpu,model\nn0,x,1,1,T4\n");
        assert!(load_nodes(&empty).unwrap_err().to_string().contains("no usable row (1 read)"));
    }

    #[test]
    fn the_shared_default_trace_loads_whole() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/alibaba-gpu-v2023/csv");
        let (nodes, node_report) = load_nodes(&dir.join("openb_node_list_gpu_node.csv")).unwrap();
        let (pods, pod_report) = load_pods(&dir.join("openb_pod_list_default.csv")).unwrap();
        assert_eq!((nodes.len(), node_report.rejected_total()), (1213, 0));
        assert_eq!(nodes.iter().map(|n| u64::from(n.gpus)).sum::<u64>(), 6212);
        assert_eq!((pods.len(), pod_report.rejected_total()), (8152, 0));
        assert_eq!(pods.iter().filter(|p| p.num_gpu == 0).count(), 1088);
    }
}
