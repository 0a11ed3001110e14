//! The alert state machine, as Prometheus's alerting rules have it: for each rule and node,
//!
//! ```text
//! inactive ──condition──▶ pending ──held for `for_seconds`──▶ firing
//!     ▲                      │                                   │
//!     └──── condition gone ──┘               condition gone ─────┴──▶ resolved
//! ```
//!
//! A condition seen at evaluation time `t` makes an inactive alert pending with
//! `active_at = t` (firing at once when `for_seconds = 0`); a pending alert fires at the
//! first evaluation with `t − active_at ≥ for_seconds`; an alert whose condition is gone
//! leaves: a pending one silently, a firing one as resolved at `t`. Resolved alerts are kept
//! for [`RESOLVED_RETENTION_NS`] (Prometheus's 15 minutes) so that notifiers can send the
//! resolution more than once; a condition that returns meanwhile starts a new alert, which
//! replaces the resolved one (as Prometheus does: two alerts with the same labels in one
//! push would leave Alertmanager holding whichever came last).

use std::collections::BTreeMap;

/// How long a resolved alert is kept for notifiers: 15 minutes, as Prometheus keeps them.
pub const RESOLVED_RETENTION_NS: i64 = 15 * 60 * 1_000_000_000;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Active for less than its `for`.
    Pending,
    /// Active for its `for` or longer.
    Firing,
    /// Its condition went away while firing.
    Resolved,
}

impl State {
    /// Its name in the API and on `/metrics` (`alertstate`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// One alert's life so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Life {
    /// Where it is.
    pub state: State,
    /// When its condition was first seen (ns).
    pub active_at: i64,
    /// When it fired, once it has.
    pub fired_at: Option<i64>,
    /// When it resolved, once it has.
    pub resolved_at: Option<i64>,
}

/// Every alert's life by key (rule index, node): active ones, and resolved ones within their
/// retention.
#[derive(Debug, Default)]
pub struct Lives {
    active: BTreeMap<(usize, String), Life>,
    resolved: Vec<((usize, String), Life)>,
}

impl Lives {
    /// Takes one evaluation at `now`: the keys whose condition holds (`for_seconds` of
    /// each by its rule index). Returns whether any alert changed state.
    pub fn evaluate(&mut self, now: i64, holding: &[(usize, String)], for_ns: impl Fn(usize) -> i64) -> bool {
        let mut changed = false;
        let mut still = BTreeMap::new();
        for key in holding {
            let life = match self.active.remove(key) {
                Some(life) => life,
                None => {
                    changed = true;
                    self.resolved.retain(|(resolved, _)| resolved != key);
                    Life { state: State::Pending, active_at: now, fired_at: None, resolved_at: None }
                }
            };
            still.insert(key.clone(), Self::advance(life, now, for_ns(key.0), &mut changed));
        }
        for (key, life) in std::mem::replace(&mut self.active, still) {
            if life.state == State::Firing {
                let resolved = Life { state: State::Resolved, resolved_at: Some(now), ..life };
                self.resolved.push((key, resolved));
            }
            changed = true;
        }
        let before = self.resolved.len();
        self.resolved.retain(|(_, life)| life.resolved_at.is_some_and(|at| now - at <= RESOLVED_RETENTION_NS));
        changed | (self.resolved.len() != before)
    }

    /// A pending life fires once held for `for_ns`.
    fn advance(mut life: Life, now: i64, for_ns: i64, changed: &mut bool) -> Life {
        if life.state == State::Pending && now.saturating_sub(life.active_at) >= for_ns {
            life.state = State::Firing;
            life.fired_at = Some(now);
            *changed = true;
        }
        life
    }

    /// Every alert: active ones by key, then resolved ones in the order they resolved.
    pub fn all(&self) -> impl Iterator<Item = (&(usize, String), &Life)> {
        self.active.iter().chain(self.resolved.iter().map(|(key, life)| (key, life)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn states(lives: &Lives) -> Vec<(&str, State)> {
        lives.all().map(|((_, node), life)| (node.as_str(), life.state)).collect()
    }

    #[test]
    fn pending_then_firing_after_for_then_resolved_and_kept_for_fifteen_minutes() {
        let mut lives = Lives::default();
        let key = vec![(0, "n".to_string())];
        let for_ns = |_| 60 * S;
        assert!(lives.evaluate(0, &key, for_ns));
        assert_eq!(states(&lives), [("n", State::Pending)]);
        assert!(!lives.evaluate(59 * S, &key, for_ns), "59 s: still pending, nothing changed");
        assert!(lives.evaluate(60 * S, &key, for_ns));
        let (_, life) = lives.all().next().unwrap();
        assert_eq!((life.state, life.active_at, life.fired_at), (State::Firing, 0, Some(60 * S)));
        assert!(lives.evaluate(70 * S, &[], for_ns));
        let (_, life) = lives.all().next().unwrap();
        assert_eq!((life.state, life.resolved_at), (State::Resolved, Some(70 * S)));
        assert!(!lives.evaluate(70 * S + RESOLVED_RETENTION_NS, &[], for_ns), "kept 15 minutes");
        assert!(lives.evaluate(71 * S + RESOLVED_RETENTION_NS, &[], for_ns));
        assert_eq!(states(&lives), []);
    }

    #[test]
    fn a_pending_alert_that_goes_away_leaves_no_resolution_and_for_zero_fires_at_once() {
        let mut lives = Lives::default();
        let both = vec![(0, "a".to_string()), (1, "a".to_string())];
        let for_ns = |rule| if rule == 0 { 60 * S } else { 0 };
        lives.evaluate(0, &both, for_ns);
        assert_eq!(states(&lives), [("a", State::Pending), ("a", State::Firing)]);
        lives.evaluate(10 * S, &[], for_ns);
        assert_eq!(states(&lives), [("a", State::Resolved)], "only the firing one resolves");
        // Back again: a new alert, active from now, beside the other rule's resolution.
        lives.evaluate(20 * S, &both[..1], for_ns);
        let active: Vec<i64> =
            lives.all().filter(|(_, l)| l.state == State::Pending).map(|(_, l)| l.active_at).collect();
        assert_eq!(active, [20 * S]);
        assert_eq!(states(&lives), [("a", State::Pending), ("a", State::Resolved)]);
        // The resolved rule's condition returns: its new alert replaces its resolution.
        lives.evaluate(30 * S, &both, for_ns);
        assert_eq!(states(&lives), [("a", State::Pending), ("a", State::Firing)]);
    }
}
