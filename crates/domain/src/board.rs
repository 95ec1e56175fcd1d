//! The board report: one quarter of the city's customer service for the executives, assembled
//! from the counters (never a scan of contacts) and the few coordination records of the quarter.
use crate::coordination::{InitiativeStatus, RuleVerdict};
use crate::ids::{DepartmentId, DumbRuleId, InitiativeId, OfficerId};
use crate::panel::PanelFinding;
use crate::report::{Metrics, Movement};
use chrono::{DateTime, Utc};

/// An initiative that started or ended in the quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardInitiative {
    /// The lead department.
    pub department_id: DepartmentId,
    /// Its ID.
    pub id: InitiativeId,
    /// Its title.
    pub title: String,
    /// Its status now.
    pub status: InitiativeStatus,
    /// When it became active.
    pub start_time: Option<DateTime<Utc>>,
    /// When it was done or dropped.
    pub end_time: Option<DateTime<Utc>>,
    /// What was learned.
    pub lessons: String,
}

/// A dumb rule killed or revised in the quarter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredRule {
    /// Its ID.
    pub id: DumbRuleId,
    /// The rule.
    pub text: String,
    /// Killed or revised.
    pub verdict: RuleVerdict,
    /// When the Chief decided.
    pub decide_time: DateTime<Utc>,
}

/// An officer recognised in the quarter, with how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hero {
    /// Their department.
    pub department_id: DepartmentId,
    /// The officer.
    pub officer_id: OfficerId,
    /// Recognitions in the quarter.
    pub recognitions: i64,
}

/// What the store reads for a board report: the quarter's records (a quarter is `[start, end)`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardFacts {
    /// Initiatives that became active in the quarter.
    pub started: Vec<BoardInitiative>,
    /// Initiatives done or dropped in the quarter.
    pub finished: Vec<BoardInitiative>,
    /// Dumb rules killed or revised in the quarter.
    pub rules_retired: Vec<RetiredRule>,
    /// The most recognised officers, most first.
    pub heroes: Vec<Hero>,
    /// Panel findings recorded or given an outcome in the quarter.
    pub findings: Vec<PanelFinding>,
    /// Active departments whose CSO seat was vacant at the quarter's end, or is now while it
    /// runs (the Chief's own office, which has the Chief, left out).
    pub vacant_seats: Vec<DepartmentId>,
}

/// The most service heroes a report names.
pub const HEROES: usize = 10;
/// The most findings a report lists.
pub const FINDINGS: usize = 200;

/// A touchpoint's observation score over a period.
#[derive(Debug, Clone, PartialEq)]
pub struct TouchpointScore {
    /// Its department.
    pub department_id: DepartmentId,
    /// The touchpoint's ID.
    pub touchpoint: String,
    /// Observations.
    pub observations: i64,
    /// Mean score (1-5) over every item scored.
    pub average: f64,
}

/// The touchpoints with the lowest mean observation score in `rows` (each department's summed
/// counters, `tp.{t}.obs`, `.obs.n`, `.obs.sum`), lowest first (ties by department and
/// touchpoint), at most `n`; touchpoints not observed are left out.
pub fn lowest_touchpoints(rows: &[(DepartmentId, Metrics)], n: usize) -> Vec<TouchpointScore> {
    let mut out = Vec::new();
    for (d, m) in rows {
        for (k, items) in m.range("tp.".to_owned()..).take_while(|(k, _)| k.starts_with("tp.")) {
            let Some(t) = k.strip_prefix("tp.").and_then(|r| r.strip_suffix(".obs.n")) else { continue };
            let sum = m.get(&format!("tp.{t}.obs.sum")).copied().unwrap_or(0);
            let observations = m.get(&format!("tp.{t}.obs")).copied().unwrap_or(0);
            if *items > 0 && observations > 0 {
                out.push(TouchpointScore {
                    department_id: d.clone(),
                    touchpoint: t.to_owned(),
                    observations,
                    average: sum as f64 / *items as f64,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        a.average
            .total_cmp(&b.average)
            .then_with(|| a.department_id.cmp(&b.department_id))
            .then_with(|| a.touchpoint.cmp(&b.touchpoint))
    });
    out.truncate(n);
    out
}

/// The departments that improved the most (negative movement score), best first, at most `n`:
/// the mirror of [`crate::report::worst_movers`].
pub fn most_improved(moves: &[Movement], n: usize) -> Vec<Movement> {
    let mut better: Vec<Movement> = moves.iter().filter(|m| m.score < 0.0).cloned().collect();
    better.sort_by(|a, b| a.score.total_cmp(&b.score).then_with(|| a.department.cmp(&b.department)));
    better.truncate(n);
    better
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("d", s).unwrap()
    }

    #[test]
    fn lowest_touchpoints_rank_by_mean_score() {
        let m = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect::<Metrics>();
        let rows = vec![
            (
                d("water"),
                m(&[("tp.counter.obs", 2), ("tp.counter.obs.n", 8), ("tp.counter.obs.sum", 20), ("tp.counter.fb", 9)]),
            ),
            (d("streets"), m(&[("tp.crew.obs", 1), ("tp.crew.obs.n", 4), ("tp.crew.obs.sum", 8), ("tp.web.fb", 3)])),
            (d("parks"), m(&[("tp.desk.obs", 1), ("tp.desk.obs.n", 4), ("tp.desk.obs.sum", 18)])),
        ];
        let low = lowest_touchpoints(&rows, 2);
        assert_eq!(low.len(), 2);
        assert_eq!((low[0].touchpoint.as_str(), low[0].average), ("crew", 2.0));
        assert_eq!((low[1].touchpoint.as_str(), low[1].average, low[1].observations), ("counter", 2.5, 2));
    }
}
