//! The Alibaba GPU cluster trace 2023 ("openb", `alibaba/clusterdata`,
//! `cluster-trace-gpu-v2023`; Weng et al., "Beware of Fragmentation", USENIX ATC '23): a
//! node list and pod lists that `ironspider simulate` replays through the placement code.
//!
//! Columns are found by header name, so their order may change. A file must have the columns
//! the simulator's protocol needs; any other is optional, and an optional column that is
//! absent reads as empty in every row (as the FGD artifact's CSV→YAML converter reads a pod
//! list without `gpu_spec`: no GPU model constraint) and is noted once in the report
//! (`no_column_<name>`). Most published lists have every column below; some (for instance
//! `openb_pod_list_multigpu50.csv`) have only the five required pod columns.
//!
//! Node files (`openb_node_list_*.csv`): required `sn,cpu_milli,memory_mib,gpu` (name, CPU in
//! thousandths of a core, memory in MiB, GPU count); optional `model`, the GPU model (empty or
//! `nan` for CPU-only nodes). Without it no node has a known model, so a pod that names
//! models fits none.
//!
//! Pod files (`openb_pod_list_*.csv`): required `name,cpu_milli,memory_mib,num_gpu,
//! gpu_milli`, requests in the same units; `gpu_milli` is the share of one GPU (1000 = whole)
//! on each of `num_gpu` GPUs. Optional `gpu_spec`: accepted models separated by `|` (empty or
//! `nan` = any). `qos`, `pod_phase`, `creation_time`, `deletion_time` and `scheduled_time` are
//! not read (the protocol does not use them; pods never leave), so they may be absent.
//!
//! Rows refused, by reason: `malformed` (too few fields to reach the last column read),
//! `missing_name`, `bad_number` (a request that is not a non-negative integer),
//! `zero_gpu_milli` (a pod asking for GPUs but for 0 milli of each). Kept with a note, as the
//! trace's own CSV→YAML converter does: `gpu_milli` above 1000 is clamped to 1000
//! (`gpu_milli_clamped`), GPU fields of a pod with `num_gpu` = 0 are dropped
//! (`gpu_milli_without_gpu`). A file that cannot be read, whose header lacks a required
//! column ([`DatasetError::MissingColumn`]) or that has no usable row is an error.

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

/// A column of a list, by header name: required (the protocol needs it) or optional.
#[derive(Debug, Clone, Copy)]
struct Column {
    name: &'static str,
    required: bool,
}

const fn required(name: &'static str) -> Column {
    Column { name, required: true }
}

const fn optional(name: &'static str) -> Column {
    Column { name, required: false }
}

/// The node list's columns, in the order `load_nodes` reads them.
const NODE_COLUMNS: [Column; 5] =
    [required("sn"), required("cpu_milli"), required("memory_mib"), required("gpu"), optional("model")];

/// The pod list's columns, in the order `load_pods` reads them.
const POD_COLUMNS: [Column; 6] = [
    required("name"),
    required("cpu_milli"),
    required("memory_mib"),
    required("num_gpu"),
    required("gpu_milli"),
    optional("gpu_spec"),
];

/// The header and data lines of a CSV file, with the position of each wanted column (`None`:
/// an optional column the header lacks).
struct Table {
    positions: Vec<Option<usize>>,
    width: usize,
    lines: Vec<String>,
}

/// Where `column` is in `header`; a required column that is not there is an error.
fn position(header: &[&str], column: Column, path: &Path) -> Result<Option<usize>, DatasetError> {
    match header.iter().position(|h| *h == column.name) {
        Some(at) => Ok(Some(at)),
        None if column.required => {
            Err(DatasetError::MissingColumn { path: path.display().to_string(), column: column.name })
        }
        None => Ok(None),
    }
}

fn read_table(path: &Path, columns: &[Column]) -> Result<Table, DatasetError> {
    let text = std::fs::read(path).map_err(|error| DatasetError::Io { path: path.display().to_string(), error })?;
    table(&String::from_utf8_lossy(&text), columns, path)
}

/// The table of a file's `text`; `path` names it in errors.
fn table(text: &str, columns: &[Column], path: &Path) -> Result<Table, DatasetError> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let positions = columns.iter().map(|&column| position(&header, column, path)).collect::<Result<Vec<_>, _>>()?;
    let width = positions.iter().flatten().max().map_or(0, |m| m + 1);
    Ok(Table { positions, width, lines: lines.map(String::from).collect() })
}

impl Table {
    /// The wanted fields of each data line (empty for an absent column), or `malformed` for a
    /// short line.
    fn rows(&self) -> impl Iterator<Item = Result<Vec<&str>, &'static str>> {
        self.lines.iter().map(|line| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if fields.len() < self.width {
                return Err("malformed");
            }
            Ok(self.positions.iter().map(|at| at.map_or("", |i| fields[i])).collect())
        })
    }

    /// Notes each optional column the header lacks (`no_column_<name>`).
    fn note_absent(&self, columns: &[Column], report: &mut LoadReport) {
        for (column, at) in columns.iter().zip(&self.positions) {
            if at.is_none() {
                report.note(&format!("no_column_{}", column.name));
            }
        }
    }
}

fn number(field: &str) -> Result<u64, &'static str> {
    field.parse::<u64>().map_err(|_| "bad_number")
}

/// A text field, with pandas' `nan` (how the trace writes an empty one) read as empty.
fn text(field: &str) -> &str {
    if field.eq_ignore_ascii_case("nan") { "" } else { field }
}

fn name(field: &str) -> Result<String, &'static str> {
    if field.is_empty() { Err("missing_name") } else { Ok(field.to_string()) }
}

/// Reads every data row of `table` (from `path`) with `parse`, counting refusals in the
/// report.
fn load<T>(
    table: Table,
    path: &Path,
    columns: &[Column],
    mut parse: impl FnMut(&[&str], &mut LoadReport) -> Result<T, &'static str>,
) -> Result<(Vec<T>, LoadReport), DatasetError> {
    let mut report = LoadReport { files: 1, ..LoadReport::default() };
    table.note_absent(columns, &mut report);
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
/// lacks a required column, or no row is usable.
pub fn load_nodes(path: &Path) -> Result<(Vec<OpenbNode>, LoadReport), DatasetError> {
    nodes(read_table(path, &NODE_COLUMNS)?, path)
}

/// A node list from the `text` of a file (`origin` names it in errors); what
/// [`load_nodes`] does once the file is read.
pub fn nodes_from_text(text: &str, origin: &Path) -> Result<(Vec<OpenbNode>, LoadReport), DatasetError> {
    nodes(table(text, &NODE_COLUMNS, origin)?, origin)
}

fn nodes(table: Table, path: &Path) -> Result<(Vec<OpenbNode>, LoadReport), DatasetError> {
    load(table, path, &NODE_COLUMNS, |f, _| {
        Ok(OpenbNode {
            name: name(f[0])?,
            cpu_milli: number(f[1])?,
            memory_mib: number(f[2])?,
            gpus: u32::try_from(number(f[3])?).map_err(|_| "bad_number")?,
            model: text(f[4]).to_string(),
        })
    })
}

/// Loads a pod list (see the module doc). Fails when the file cannot be read, its header
/// lacks a required column, or no row is usable.
pub fn load_pods(path: &Path) -> Result<(Vec<OpenbPod>, LoadReport), DatasetError> {
    pods(read_table(path, &POD_COLUMNS)?, path)
}

/// A pod list from the `text` of a file (`origin` names it in errors); what [`load_pods`]
/// does once the file is read.
pub fn pods_from_text(text: &str, origin: &Path) -> Result<(Vec<OpenbPod>, LoadReport), DatasetError> {
    pods(table(text, &POD_COLUMNS, origin)?, origin)
}

fn pods(table: Table, path: &Path) -> Result<(Vec<OpenbPod>, LoadReport), DatasetError> {
    load(table, path, &POD_COLUMNS, |f, report| {
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
        Ok(OpenbPod {
            name: name(f[0])?,
            cpu_milli: number(f[1])?,
            memory_mib: number(f[2])?,
            num_gpu,
            gpu_milli,
            gpu_spec: text(f[5]).split('|').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect(),
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
    fn a_pod_list_with_only_the_five_needed_columns_loads_with_no_model_constraint() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n\
             p0,12000,16384,1,460\n\
             p1,88000,327680,8,1000\n\
             p2,20000,65536,0,0\n\
             p3,1000\n",
        );
        let (pods, report) = load_pods(&path).unwrap();
        let got: Vec<(&str, u64, u64, u32, u32)> =
            pods.iter().map(|p| (p.name.as_str(), p.cpu_milli, p.memory_mib, p.num_gpu, p.gpu_milli)).collect();
        assert_eq!(got, [("p0", 12000, 16384, 1, 460), ("p1", 88000, 327680, 8, 1000), ("p2", 20000, 65536, 0, 0)]);
        assert!(pods.iter().all(|p| p.gpu_spec.is_empty()), "no gpu_spec column: any model");
        assert_eq!((report.rows_read, report.rows_used, report.rows_rejected.get("malformed")), (4, 3, Some(&1)));
        assert_eq!(report.notes.get("no_column_gpu_spec"), Some(&1), "noted once per file");
    }

    /// `header` without `column` and one row without its field: the error is typed and names it.
    fn assert_missing(dir: &tempfile::TempDir, header: &str, row: &str, column: &str, load: LoadFn) {
        let keep: Vec<usize> = header.split(',').enumerate().filter(|(_, h)| *h != column).map(|(i, _)| i).collect();
        let cut = |line: &str| keep.iter().map(|&i| line.split(',').nth(i).unwrap()).collect::<Vec<_>>().join(",");
        let path = write(dir, &format!("without_{column}.csv"), &format!("{}\n{}\n", cut(header), cut(row)));
        let error = load(&path).unwrap_err();
        assert!(matches!(&error, DatasetError::MissingColumn { column: c, .. } if *c == column), "{error:?}");
        assert_eq!(error.to_string(), format!("{}: the header has no column `{column}`", path.display()));
    }

    /// A loader with its rows dropped, so pod and node loaders fit one test helper.
    type LoadFn = fn(&Path) -> Result<usize, DatasetError>;

    #[test]
    fn each_needed_column_missing_is_a_typed_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let pods: LoadFn = |p| load_pods(p).map(|(rows, _)| rows.len());
        let (header, row) = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos", "p0,1000,512,1,500,T4,LS");
        for column in ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"] {
            assert_missing(&dir, header, row, column, pods);
        }
        let nodes: LoadFn = |p| load_nodes(p).map(|(rows, _)| rows.len());
        for column in ["sn", "cpu_milli", "memory_mib", "gpu"] {
            assert_missing(&dir, "sn,cpu_milli,memory_mib,gpu,model", "n0,64000,262144,2,P100", column, nodes);
        }
    }

    #[test]
    fn a_node_list_without_model_loads_with_no_known_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "nodes.csv", "gpu,sn,memory_mib,cpu_milli\n2,n0,262144,64000\n0,n1,1,32000\n");
        let (nodes, report) = load_nodes(&path).unwrap();
        assert_eq!(
            nodes[0],
            OpenbNode { name: "n0".into(), cpu_milli: 64000, memory_mib: 262144, gpus: 2, model: String::new() }
        );
        assert_eq!((nodes[1].name.as_str(), nodes[1].gpus, report.rows_used), ("n1", 0, 2));
        assert_eq!(report.notes.get("no_column_model"), Some(&1));
    }

    #[test]
    fn the_shared_default_trace_loads_whole() {
        let dir = crate::shared::dataset("alibaba-gpu-v2023/csv");
        let (nodes, node_report) = load_nodes(&dir.join("openb_node_list_gpu_node.csv")).unwrap();
        let (pods, pod_report) = load_pods(&dir.join("openb_pod_list_default.csv")).unwrap();
        assert_eq!((nodes.len(), node_report.rejected_total()), (1213, 0));
        assert_eq!(nodes.iter().map(|n| u64::from(n.gpus)).sum::<u64>(), 6212);
        assert_eq!((pods.len(), pod_report.rejected_total()), (8152, 0));
        assert_eq!(pods.iter().filter(|p| p.num_gpu == 0).count(), 1088);
    }
}
