//! How departments moved against the comparison span: the city dashboard's movers.
use super::{ReportCard, ratio};
use crate::DepartmentId;

/// How a department moved against the previous period.
#[derive(Debug, Clone, PartialEq)]
pub struct Movement {
    /// The department.
    pub department: DepartmentId,
    /// Change of resolve SLA compliance, percentage points.
    pub resolve_sla_change: Option<f64>,
    /// Change of mean CSAT.
    pub csat_change: Option<f64>,
    /// Change of ping-pongs.
    pub ping_pong_change: i64,
    /// Change of escalations.
    pub escalation_change: i64,
    /// Change of ping-pongs per 100 cases opened (unset unless both spans opened cases).
    pub ping_pong_rate_change: Option<f64>,
    /// Change of escalations per 100 cases opened (unset unless both spans opened cases).
    pub escalation_rate_change: Option<f64>,
    /// Higher is worse; see [`movement`].
    pub score: f64,
}

/// The counters [`movement`] reads from the comparison span's card (the dashboard reads only
/// these for it).
pub const MOVEMENT_METRICS: &[&str] =
    &["res.n", "res.sla", "csat.1", "csat.2", "csat.3", "csat.4", "csat.5", "ho.pingpong", "esc", "case"];

/// The most one part of a movement's score may contribute, either way.
pub const SCORE_PART_CAP: f64 = 25.0;

/// Compares a department's card with its card of the comparison span. The score (higher is
/// worse) adds four parts, each capped at ±[`SCORE_PART_CAP`] so no single count dominates:
/// resolve SLA points lost; 10 × mean CSAT points lost; escalations per 100 cases opened, gained;
/// ping-pongs per 100 cases opened, gained. The rates are per case so a department's size does
/// not make it a mover.
pub fn movement(department: &DepartmentId, now: &ReportCard, before: &ReportCard) -> Movement {
    let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
    let per_100_cases = |n: i64, c: &ReportCard| ratio(n * 100, c.cases_opened);
    let resolve_sla_change = diff(now.resolve_sla_percent, before.resolve_sla_percent);
    let csat_change = diff(now.csat_average, before.csat_average);
    let ping_pong_rate_change = diff(per_100_cases(now.ping_pongs, now), per_100_cases(before.ping_pongs, before));
    let escalation_rate_change = diff(per_100_cases(now.escalations, now), per_100_cases(before.escalations, before));
    let part = |x: Option<f64>| x.unwrap_or(0.0).clamp(-SCORE_PART_CAP, SCORE_PART_CAP);
    let score = part(resolve_sla_change.map(|x| -x))
        + part(csat_change.map(|x| -10.0 * x))
        + part(escalation_rate_change)
        + part(ping_pong_rate_change);
    Movement {
        department: department.clone(),
        resolve_sla_change,
        csat_change,
        ping_pong_change: now.ping_pongs - before.ping_pongs,
        escalation_change: now.escalations - before.escalations,
        ping_pong_rate_change,
        escalation_rate_change,
        score,
    }
}

/// The departments that got worse the most (positive score), worst first, at most `n`.
pub fn worst_movers(moves: &[Movement], n: usize) -> Vec<Movement> {
    let mut worse: Vec<Movement> = moves.iter().filter(|m| m.score > 0.0).cloned().collect();
    worse.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.department.cmp(&b.department)));
    worse.truncate(n);
    worse
}
