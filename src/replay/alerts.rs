//! `replay --alerts`: how far ahead alerts fire, on a replayed dataset.
//!
//! During the replay, the alerting rules of [`rules`] are evaluated after every window close
//! at the virtual time, as `serve` evaluates them at its closer's ticks, and every firing
//! episode is kept ([`Episode`]: rule, node, when it went pending, fired and resolved). Each
//! node's CPU of every window is kept too (the `cpu` of `node_scores`, what the rules saw).
//!
//! **Events.** An overload event of a node is a maximal run of consecutive windows with CPU
//! ≥ [`OVERLOAD`] lasting at least [`OVERLOAD_MINUTES`]; it *starts* at the end of its first
//! window — the moment the first overloaded value is known, so that a rule reading the newest
//! window (`threshold`) fires at that very evaluation and its lead time is 0 at best.
//!
//! **Scoring a rule** (its horizon `H`: `within_seconds` of a predictive rule, 0 otherwise):
//! - an event is *caught* when an episode of the rule on that node was firing at some moment
//!   of `[start − H, start]` (it fired at or before the start, and had not resolved before
//!   `start − H`) and fired after the node's previous event ended — an alert still firing
//!   from an earlier overload predicted that one, not this; its lead time is
//!   `start − max(fired, start − H)`, at most `H`;
//! - an episode is a *false alert* when it fired while no event of its node was under way and
//!   no event of its node starts within `[fired, fired + H]` (for the threshold rule: it fired
//!   on an overload shorter than [`OVERLOAD_MINUTES`]);
//! - reported: events caught of all events (and of those, caught with a lead above 0), false alerts per node-day (node-days = nodes ×
//!   the replay's simulated days), and the median lead time in minutes over caught events.

use ironspider_engine::alerts::{AlertsSnapshot, Kind, RuleConfig, State};
use serde::Serialize;
use std::collections::BTreeMap;

/// The CPU utilisation from which a window counts as overloaded.
pub const OVERLOAD: f64 = 0.9;
/// How long an overload must last to be an event, in minutes.
pub const OVERLOAD_MINUTES: i64 = 15;
const MINUTE_NS: i64 = 60_000_000_000;

/// The rules compared: the predictive rule (CPU's p90 forecast at [`OVERLOAD`] or more within
/// 30 minutes) and the plain threshold rule on the same level.
pub fn rules() -> Vec<RuleConfig> {
    let named = |rule: &RuleConfig| rule.name == "NodeCpuPredictedSaturated";
    let mut predictive = RuleConfig::defaults().into_iter().find(named).expect("a default rule");
    predictive.name = "CpuOverloadPredicted".into();
    predictive.threshold = Some(OVERLOAD);
    let threshold =
        RuleConfig { name: "CpuOverload".into(), kind: Kind::Threshold, within_seconds: None, ..predictive.clone() };
    vec![predictive, threshold]
}

/// One firing episode of a rule on a node (ns since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The rule's name.
    pub rule: String,
    /// The node.
    pub node: String,
    /// When its condition was first seen.
    pub active_at: i64,
    /// When it fired.
    pub fired_at: i64,
    /// When it resolved (none while still firing at the replay's end).
    pub resolved_at: Option<i64>,
}

/// What a replay keeps for the lead-time report: episodes and each node's CPU by window end.
#[derive(Debug, Default)]
pub struct AlertLog {
    /// Every episode, in the order they fired.
    pub episodes: Vec<Episode>,
    /// Index in `episodes` of each episode still firing, by (rule, node, active_at).
    open: BTreeMap<(String, String, i64), usize>,
    /// Each node's CPU by window end.
    cpu: BTreeMap<String, BTreeMap<i64, f64>>,
}

impl AlertLog {
    /// Takes the alerts after one evaluation: firings start episodes, resolutions end them.
    pub fn observe(&mut self, snapshot: &AlertsSnapshot) {
        for alert in &snapshot.alerts {
            let (Some(node), Some(fired)) = (alert.labels.get("node"), alert.fired_at) else { continue };
            let key = (alert.name().to_string(), node.clone(), alert.active_at);
            match (alert.state, self.open.get(&key)) {
                (State::Firing, None) => {
                    self.open.insert(key.clone(), self.episodes.len());
                    self.episodes.push(Episode {
                        rule: key.0,
                        node: key.1,
                        active_at: alert.active_at,
                        fired_at: fired,
                        resolved_at: None,
                    });
                }
                (State::Resolved, Some(&index)) => {
                    self.episodes[index].resolved_at = alert.resolved_at;
                    self.open.remove(&key);
                }
                _ => {}
            }
        }
    }

    /// Keeps a node's CPU of the window ending at `window_end`.
    pub fn cpu(&mut self, node: &str, window_end: i64, cpu: f64) {
        self.cpu.entry(node.to_string()).or_default().insert(window_end, cpu);
    }

    /// Every node's overload events, with windows of `window_ns`.
    pub fn events(&self, window_ns: i64) -> BTreeMap<&str, Vec<Event>> {
        self.cpu.iter().map(|(node, cpu)| (node.as_str(), events(cpu, window_ns))).collect()
    }
}

/// One overload event: from the end of its first window to the end of its last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// End of its first window.
    pub start: i64,
    /// End of its last window.
    pub end: i64,
}

/// The overload events of one node's CPU by window end (module doc): a gap in the windows
/// ends a run.
pub fn events(cpu: &BTreeMap<i64, f64>, window_ns: i64) -> Vec<Event> {
    let mut found = Vec::new();
    let mut run: Option<(i64, i64)> = None;
    let mut close = |run: Option<(i64, i64)>| {
        if let Some((first_end, last_end)) = run {
            // The run covers from its first window's start to its last window's end.
            if last_end - (first_end - window_ns) >= OVERLOAD_MINUTES * MINUTE_NS {
                found.push(Event { start: first_end, end: last_end });
            }
        }
    };
    for (&end, &value) in cpu {
        run = match run {
            Some((first, last)) if value >= OVERLOAD && end - last <= window_ns => Some((first, end)),
            _ if value >= OVERLOAD => {
                close(run);
                Some((end, end))
            }
            _ => {
                close(run);
                None
            }
        };
    }
    close(run);
    found
}

/// How one rule did (module doc).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleReport {
    /// The rule's name.
    pub rule: String,
    /// Its horizon in minutes.
    pub horizon_minutes: f64,
    /// Events caught.
    pub caught: usize,
    /// Events caught with a lead time above 0: fired before the overload was seen.
    pub caught_ahead: usize,
    /// Events in all.
    pub events: usize,
    /// Firing episodes.
    pub alerts: usize,
    /// Episodes that were false alerts.
    pub false_alerts: usize,
    /// False alerts per node-day.
    pub false_alerts_per_node_day: f64,
    /// Median lead time of the caught events, in minutes (none when none was caught).
    pub median_lead_minutes: Option<f64>,
}

/// Scores `rule`'s episodes against `events` over `node_days` (module doc).
pub fn score(
    rule: &RuleConfig,
    episodes: &[Episode],
    events: &BTreeMap<&str, Vec<Event>>,
    node_days: f64,
) -> RuleReport {
    let horizon = rule.within_seconds.map_or(0, |s| s as i64 * 1_000_000_000);
    let mine: Vec<&Episode> = episodes.iter().filter(|e| e.rule == rule.name).collect();
    let mut leads = Vec::new();
    let mut total = 0;
    for (node, node_events) in events {
        total += node_events.len();
        let mut previous_end = i64::MIN;
        for event in node_events {
            let from = event.start - horizon;
            let after = previous_end;
            let fresh = |e: &&&Episode| e.fired_at > after && e.fired_at <= event.start;
            let firing = mine
                .iter()
                .filter(|e| e.node == *node)
                .filter(fresh)
                .filter(|e| e.resolved_at.is_none_or(|resolved| resolved >= from));
            previous_end = event.end;
            if let Some(earliest) = firing.map(|e| e.fired_at.max(from)).min() {
                leads.push((event.start - earliest) as f64 / MINUTE_NS as f64);
            }
        }
    }
    let no_events = Vec::new();
    let false_alerts = mine
        .iter()
        .filter(|episode| {
            let node_events = events.get(episode.node.as_str()).unwrap_or(&no_events);
            let under_way = node_events.iter().any(|e| (e.start..=e.end).contains(&episode.fired_at));
            let ahead = node_events.iter().any(|e| (episode.fired_at..=episode.fired_at + horizon).contains(&e.start));
            !under_way && !ahead
        })
        .count();
    RuleReport {
        rule: rule.name.clone(),
        horizon_minutes: horizon as f64 / MINUTE_NS as f64,
        caught: leads.len(),
        caught_ahead: leads.iter().filter(|lead| **lead > 0.0).count(),
        events: total,
        alerts: mine.len(),
        false_alerts,
        false_alerts_per_node_day: if node_days > 0.0 { false_alerts as f64 / node_days } else { 0.0 },
        median_lead_minutes: median(&mut leads),
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: i64 = 5 * MINUTE_NS;

    fn cpu(values: &[f64]) -> BTreeMap<i64, f64> {
        values.iter().enumerate().map(|(i, v)| ((i as i64 + 1) * W, *v)).collect()
    }

    #[test]
    fn an_event_is_a_run_of_overloaded_windows_of_fifteen_minutes_or_more() {
        // Windows end at 5, 10, … minutes. 10–15 min: two windows (10 min) — too short;
        // 25–35 min: three windows (15 min) — an event from the end of the first (25 min).
        let found = events(&cpu(&[0.5, 0.95, 0.91, 0.2, 0.92, 0.9, 0.99, 0.3]), W);
        assert_eq!(found, [Event { start: 25 * MINUTE_NS, end: 35 * MINUTE_NS }]);
        // A missing window breaks a run.
        let mut gap = cpu(&[0.95, 0.95, 0.95]);
        gap.remove(&(2 * W));
        assert!(events(&gap, W).is_empty());
    }

    #[test]
    fn lead_times_and_false_alerts_by_hand() {
        let rules = rules();
        let (predictive, threshold) = (&rules[0], &rules[1]);
        let event = Event { start: 100 * MINUTE_NS, end: 120 * MINUTE_NS };
        let events: BTreeMap<&str, Vec<Event>> = [("n", vec![event])].into();
        let episode = |rule: &RuleConfig, fired: i64, resolved: Option<i64>| Episode {
            rule: rule.name.clone(),
            node: "n".into(),
            active_at: fired * MINUTE_NS,
            fired_at: fired * MINUTE_NS,
            resolved_at: resolved.map(|m| m * MINUTE_NS),
        };
        // Predictive (H = 30 min): fired at 80 min → lead 20; fired at 10 min and resolved
        // at 20 → nothing starts by 40 min: a false alert. Threshold: fired at the start (lead
        // 0) and once at 50 min on a short overload (false).
        let episodes = vec![
            episode(predictive, 80, Some(105)),
            episode(predictive, 10, Some(20)),
            episode(threshold, 100, Some(125)),
            episode(threshold, 50, Some(55)),
        ];
        // Two nodes over one day: 2 node-days.
        let p = score(predictive, &episodes, &events, 2.0);
        assert_eq!((p.caught, p.events, p.alerts, p.false_alerts), (1, 1, 2, 1));
        assert_eq!((p.median_lead_minutes, p.false_alerts_per_node_day, p.horizon_minutes), (Some(20.0), 0.5, 30.0));
        let t = score(threshold, &episodes, &events, 2.0);
        assert_eq!((t.caught, t.caught_ahead, t.false_alerts, t.median_lead_minutes), (1, 0, 1, Some(0.0)));
        assert_eq!(p.caught_ahead, 1);
        // Fired two hours ahead and still firing: the lead counts from the horizon, 30 min.
        let early = vec![episode(predictive, -20, None)];
        assert_eq!(score(predictive, &early, &events, 1.0).median_lead_minutes, Some(30.0));
        // Fired during the event: not caught, and not false.
        let late = vec![episode(predictive, 110, Some(130))];
        let report = score(predictive, &late, &events, 1.0);
        assert_eq!((report.caught, report.false_alerts), (0, 0));
        // A second event at 140 min: the alert fired at 80 min and still firing caught the
        // first (lead 20) but not the second; one fired at 125 min, after the first ended,
        // catches it with a lead of 15.
        let second = Event { start: 140 * MINUTE_NS, end: 160 * MINUTE_NS };
        let two: BTreeMap<&str, Vec<Event>> = [("n", vec![event, second])].into();
        let report = score(predictive, &[episode(predictive, 80, None)], &two, 1.0);
        assert_eq!((report.caught, report.events, report.median_lead_minutes), (1, 2, Some(20.0)));
        let fresh = vec![episode(predictive, 80, Some(121)), episode(predictive, 125, None)];
        let report = score(predictive, &fresh, &two, 1.0);
        assert_eq!((report.caught, report.median_lead_minutes), (2, Some(17.5)));
    }
}
