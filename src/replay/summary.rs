//! The replay report: what the loader did, what ingest refused, and what the node scores
//! say over the whole run (hours of high pressure per node, total and idle cost).
//!
//! Hours and costs are summed over node-windows in which the node reported: a window of
//! `w` seconds adds `w / 3600` hours, and `cost_per_hour × w / 3600` to the cost.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use ironspider_datasets::LoadReport;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Pressure above which a node-window counts as highly pressured.
pub const HIGH_PRESSURE: f64 = 0.8;
/// How many nodes the report lists.
const TOP_NODES: usize = 10;

/// Points ingest and the engine took and refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PointCounts {
    /// Points in the replayed requests.
    pub received: u64,
    /// Points stored.
    pub accepted: u64,
    /// Points refused, by reason.
    pub rejected: BTreeMap<String, u64>,
}

/// Hours a node spent above [`HIGH_PRESSURE`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PressuredNode {
    /// Node name.
    pub node: String,
    /// Hours of windows with pressure above the threshold.
    pub hours_above: f64,
}

/// Cost over the run, in the price unit of the cost model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostTotals {
    /// Σ cost per hour × hours reported.
    pub total: f64,
    /// Σ idle cost per hour × hours reported.
    pub idle: f64,
    /// idle / total (0 when nothing cost anything).
    pub idle_share: f64,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Dataset kind.
    pub dataset: String,
    /// Where it was read.
    pub source: String,
    /// Window length used.
    pub window_seconds: u64,
    /// Nodes in the dataset.
    pub nodes: usize,
    /// Distinct windows scored.
    pub windows: usize,
    /// Node-windows in which a node reported and was scored.
    pub node_windows_scored: u64,
    /// What the loader did with the rows.
    pub rows: LoadReport,
    /// What ingest did with the points.
    pub points: PointCounts,
    /// The pressure threshold of `top_pressure_nodes`.
    pub pressure_threshold: f64,
    /// Nodes with the most hours above the threshold, most first.
    pub top_pressure_nodes: Vec<PressuredNode>,
    /// Cost of the nodes while they reported.
    pub cost: CostTotals,
    /// Rows written to `forecasts.parquet` (node, resource, horizon and step).
    pub forecast_rows: usize,
    /// Event time covered, first to last timestamp plus one window.
    pub simulated_seconds: f64,
    /// Wall time of loading and replaying.
    pub wall_seconds: f64,
    /// Simulated seconds per wall second.
    pub speedup: f64,
    /// With `--alerts`: how each rule did against the overload events
    /// (`super::alerts`), empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<super::alerts::RuleReport>,
}

/// Sums over the `node_scores` rows seen so far.
#[derive(Debug, Default)]
pub struct ScoreTotals {
    window_ends: std::collections::BTreeSet<i64>,
    node_windows: u64,
    hours_above: HashMap<String, f64>,
    cost: CostTotals,
}

impl ScoreTotals {
    /// Adds one `node_scores` batch of windows `window_seconds` long.
    pub fn add(&mut self, window_end: i64, batch: &RecordBatch, window_seconds: f64) {
        let hours = window_seconds / 3600.0;
        let float = |name: &str| batch.column_by_name(name).map(|c| c.as_primitive::<Float64Type>().clone());
        let (Some(cpu), Some(memory), Some(gpu), Some(pressure), Some(cost), Some(idle)) = (
            float("cpu"),
            float("memory"),
            float("gpu"),
            float("pressure"),
            float("cost_per_hour"),
            float("idle_cost_per_hour"),
        ) else {
            return;
        };
        let Some(node) = batch.column_by_name("node").and_then(|c| c.as_string_opt::<i32>().cloned()) else { return };
        self.window_ends.insert(window_end);
        for row in 0..batch.num_rows() {
            let reported = [&cpu, &memory, &gpu, &pressure].iter().any(|column| column.is_valid(row));
            if !reported {
                continue;
            }
            self.node_windows += 1;
            self.cost.total += cost.value(row) * hours;
            self.cost.idle += idle.value(row) * hours;
            if pressure.is_valid(row) && pressure.value(row) > HIGH_PRESSURE {
                *self.hours_above.entry(node.value(row).to_string()).or_default() += hours;
            }
        }
    }

    /// Node-windows with a report.
    pub fn node_windows(&self) -> u64 {
        self.node_windows
    }

    /// Distinct windows seen.
    pub fn windows(&self) -> usize {
        self.window_ends.len()
    }

    /// The nodes with the most hours above the threshold, most first (ties by name).
    pub fn top_pressure_nodes(&self) -> Vec<PressuredNode> {
        let mut nodes: Vec<PressuredNode> = self
            .hours_above
            .iter()
            .map(|(node, hours)| PressuredNode { node: node.clone(), hours_above: *hours })
            .collect();
        nodes.sort_by(|a, b| b.hours_above.total_cmp(&a.hours_above).then_with(|| a.node.cmp(&b.node)));
        nodes.truncate(TOP_NODES);
        nodes
    }

    /// Total and idle cost.
    pub fn cost(&self) -> CostTotals {
        let idle_share = if self.cost.total > 0.0 { self.cost.idle / self.cost.total } else { 0.0 };
        CostTotals { idle_share, ..self.cost.clone() }
    }
}

impl Summary {
    /// The report as text tables for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!(
            "replayed {} ({}): {} nodes, {} windows of {} s, {} node-windows scored\n\
             {:.0} simulated seconds in {:.2} s wall: {:.0}× real time\n",
            self.dataset,
            self.source,
            self.nodes,
            self.windows,
            self.window_seconds,
            self.node_windows_scored,
            self.simulated_seconds,
            self.wall_seconds,
            self.speedup
        );
        let mut rows = comfy_table::Table::new();
        rows.set_header(["rows", "count"]);
        rows.add_row(["read".to_string(), self.rows.rows_read.to_string()]);
        rows.add_row(["used".to_string(), self.rows.rows_used.to_string()]);
        for (reason, n) in &self.rows.rows_rejected {
            rows.add_row([format!("rejected: {reason}"), n.to_string()]);
        }
        for (note, n) in &self.rows.notes {
            rows.add_row([format!("note: {note}"), n.to_string()]);
        }
        rows.add_row(["points received".to_string(), self.points.received.to_string()]);
        rows.add_row(["points accepted".to_string(), self.points.accepted.to_string()]);
        rows.add_row(["forecasts written".to_string(), self.forecast_rows.to_string()]);
        for (reason, n) in &self.points.rejected {
            rows.add_row([format!("points rejected: {reason}"), n.to_string()]);
        }
        out.push_str(&format!("{rows}\n"));
        let mut pressured = comfy_table::Table::new();
        pressured.set_header([format!("node (pressure > {})", self.pressure_threshold), "hours".to_string()]);
        for node in &self.top_pressure_nodes {
            pressured.add_row([node.node.clone(), format!("{:.1}", node.hours_above)]);
        }
        out.push_str(&format!("{pressured}\n"));
        out.push_str(&format!(
            "cost: {:.2} total, {:.2} idle ({:.1} % idle)\n",
            self.cost.total,
            self.cost.idle,
            self.cost.idle_share * 100.0
        ));
        if !self.alerts.is_empty() {
            out.push_str(&self.render_alerts());
        }
        out
    }

    /// The lead-time table of `--alerts`.
    fn render_alerts(&self) -> String {
        let mut table = comfy_table::Table::new();
        table.set_header([
            "rule",
            "horizon (min)",
            "events caught",
            "ahead (lead > 0)",
            "alerts",
            "false alerts / node-day",
            "median lead (min)",
        ]);
        for report in &self.alerts {
            table.add_row([
                report.rule.clone(),
                format!("{:.0}", report.horizon_minutes),
                format!("{} of {}", report.caught, report.events),
                report.caught_ahead.to_string(),
                report.alerts.to_string(),
                format!("{:.3}", report.false_alerts_per_node_day),
                report.median_lead_minutes.map_or("-".to_string(), |m| format!("{m:.1}")),
            ]);
        }
        format!(
            "overload events: CPU ≥ {} for {} minutes or more\n{table}\n",
            super::alerts::OVERLOAD,
            super::alerts::OVERLOAD_MINUTES
        )
    }
}
