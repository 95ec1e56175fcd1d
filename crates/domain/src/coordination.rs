//! Silo-coordination: hand-offs between departments, escalations to the Chief, cross-department
//! initiatives and the register of "dumb rules". Pure types and the rules of their lifecycles.
use crate::department::ServiceTargets;
use crate::ids::{
    CaseId, DepartmentId, DumbRuleId, EscalationId, FeedbackId, HandoffId, InitiativeId, OfficerId, ServiceCategoryId,
};
use crate::validation::ValidationError;
use chrono::{DateTime, Utc};

string_enum!(
    /// How a case moves to another department.
    HandoffKind {
        /// Ownership moves: the sender's case closes as the receiver's responsibility.
        Transfer = "transfer",
        /// Ownership is shared: the sender keeps its case open and the receiver opens its own.
        Referral = "referral",
    }
);

string_enum!(
    /// Where a hand-off is.
    HandoffStatus {
        /// Waiting for the receiver to accept or decline.
        Pending = "pending",
        /// The receiver took the case on.
        Accepted = "accepted",
        /// The receiver refused it (with a reason); the sender keeps the case.
        Declined = "declined",
    }
);

/// The departments a case has been with, oldest first; the last is the current holder.
pub type CasePath = Vec<DepartmentId>;

/// A request from one department to another to take on (or share) a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    /// The sending department (the tenant that owns the record).
    pub department_id: DepartmentId,
    /// Server-generated ID.
    pub id: HandoffId,
    /// The sender's case.
    pub case_id: CaseId,
    /// The receiving department.
    pub to_department: DepartmentId,
    /// Transfer or referral.
    pub kind: HandoffKind,
    /// Where it is.
    pub status: HandoffStatus,
    /// Why the sender hands it off.
    pub reason: String,
    /// Why the receiver declined (empty otherwise).
    pub decline_reason: String,
    /// The case's path when it was sent (ends with the sender).
    pub path: CasePath,
    /// Whether the receiver is a department the case already left: the case is bouncing.
    pub ping_pong: bool,
    /// The receiver must answer by this time, or the hand-off is escalated.
    pub accept_due: DateTime<Utc>,
    /// Who sent it.
    pub created_by: String,
    /// When it was sent.
    pub create_time: DateTime<Utc>,
    /// Who answered.
    pub responded_by: String,
    /// When it was answered.
    pub respond_time: Option<DateTime<Utc>>,
    /// The case the receiver opened on acceptance.
    pub received_case: Option<CaseId>,
    /// Revision (etag).
    pub revision: i64,
}

/// A new hand-off, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewHandoff {
    /// The sending department (the case's department).
    pub department_id: DepartmentId,
    /// New ID.
    pub id: HandoffId,
    /// The sender's case.
    pub case_id: CaseId,
    /// The receiver.
    pub to_department: DepartmentId,
    /// Transfer or referral.
    pub kind: HandoffKind,
    /// Why.
    pub reason: String,
}

/// The receiver's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum HandoffResponse {
    /// Take the case on, opening `new_case` in the receiving department, optionally in one of its
    /// categories.
    Accept {
        /// ID of the receiver's new feedback record and case.
        new_case: FeedbackId,
        /// The receiver's category for it.
        category: Option<ServiceCategoryId>,
    },
    /// Refuse, with a reason.
    Decline {
        /// Why.
        reason: String,
    },
}

/// Whether sending a case with `path` to `to` makes it bounce back to a department it left.
pub fn is_ping_pong(path: &[DepartmentId], to: &DepartmentId) -> bool {
    path.contains(to)
}

/// The receiver must accept within its acknowledge target for the case's channel.
pub fn accept_due(
    sent: DateTime<Utc>,
    receiver_targets: ServiceTargets,
    receiver_calendar: &crate::calendar::BusinessCalendar,
) -> DateTime<Utc> {
    receiver_calendar.due(sent, receiver_targets.acknowledge_secs(), receiver_targets.clock)
}

/// Checks that a hand-off may be sent from a case in `status`, held by `from`, to `to`.
pub fn check_handoff(from: &DepartmentId, to: &DepartmentId, status: crate::CaseStatus) -> Result<(), HandoffRefused> {
    if from == to {
        return Err(HandoffRefused("a case cannot be handed off to its own department".into()));
    }
    if !matches!(status, crate::CaseStatus::Open | crate::CaseStatus::Acknowledged | crate::CaseStatus::InProgress) {
        return Err(HandoffRefused(format!("a {} case cannot be handed off; reopen it first", status.as_str())));
    }
    Ok(())
}

/// Why a hand-off or an answer to one is refused (a failed precondition).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HandoffRefused(pub String);

/// Applies `response` to a pending hand-off.
pub fn respond(
    h: &Handoff,
    response: &HandoffResponse,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Handoff, HandoffRefused> {
    if h.status != HandoffStatus::Pending {
        return Err(HandoffRefused(format!("the hand-off was already {}", h.status.as_str())));
    }
    let mut next = h.clone();
    next.responded_by = actor.to_owned();
    next.respond_time = Some(now);
    match response {
        HandoffResponse::Accept { new_case, .. } => {
            next.status = HandoffStatus::Accepted;
            next.received_case = Some(CaseId::from_feedback(new_case));
        }
        HandoffResponse::Decline { reason } => {
            next.status = HandoffStatus::Declined;
            next.decline_reason = reason.clone();
        }
    }
    Ok(next)
}

string_enum!(
    /// What raised an escalation.
    EscalationTrigger {
        /// A CSO (or the Chief) raised it by hand.
        Manual = "manual",
        /// The case was not acknowledged by its due time.
        AcknowledgeBreach = "acknowledge_breach",
        /// The case was not resolved by its due time.
        ResolveBreach = "resolve_breach",
        /// A hand-off was not answered by its due time.
        HandoffTimeout = "handoff_timeout",
    }
);

string_enum!(
    /// Where an escalation is.
    EscalationStatus {
        /// Raised, waiting for the Chief.
        Open = "open",
        /// The Chief has seen it and is on it.
        Acknowledged = "acknowledged",
        /// Settled, with a resolution note.
        Resolved = "resolved",
    }
);

/// A case raised to the Chief CSO.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The department accountable (the case's department; for a hand-off timeout, the receiver).
    pub department_id: DepartmentId,
    /// Server-generated ID.
    pub id: EscalationId,
    /// The case's department.
    pub case_department: DepartmentId,
    /// The case.
    pub case_id: CaseId,
    /// The hand-off that timed out, for [`EscalationTrigger::HandoffTimeout`].
    pub handoff: Option<(DepartmentId, HandoffId)>,
    /// What raised it.
    pub trigger: EscalationTrigger,
    /// Where it is.
    pub status: EscalationStatus,
    /// Why (for automatic escalations, a fixed description of the breach).
    pub reason: String,
    /// The Chief's resolution note.
    pub resolution: String,
    /// Who raised it (`system:breach-scan` for automatic ones).
    pub created_by: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// When the Chief acknowledged it.
    pub acknowledge_time: Option<DateTime<Utc>>,
    /// When the Chief resolved it.
    pub resolve_time: Option<DateTime<Utc>>,
    /// Revision (etag).
    pub revision: i64,
    /// How many breaches it stands for (1; more for a digest).
    pub breach_count: i32,
    /// For a digest, the oldest cases it covers (resource names), oldest first.
    pub digest_cases: Vec<String>,
}

/// A breach scan that finds more than this many breaches against one department sends them as
/// one digest escalation (the count and the oldest cases) instead of one escalation each: the
/// first scan after an import of old open cases, or after a long outage, would otherwise flood
/// the Chief. Later scans find few and escalate case by case again.
pub const DIGEST_THRESHOLD: usize = 20;

/// How many of the oldest cases a digest lists.
pub const DIGEST_OLDEST: usize = 5;

impl Escalation {
    /// The key that makes an automatic escalation happen at most once (`None` for manual ones).
    pub fn dedupe_key(&self) -> Option<String> {
        dedupe_key(self.trigger, &self.case_department, &self.case_id, self.handoff.as_ref().map(|h| &h.1))
    }
}

/// The key that makes an automatic escalation happen at most once (`None` for manual ones).
pub fn dedupe_key(
    trigger: EscalationTrigger,
    case_department: &DepartmentId,
    case: &CaseId,
    handoff: Option<&HandoffId>,
) -> Option<String> {
    match (trigger, handoff) {
        (EscalationTrigger::Manual, _) => None,
        (EscalationTrigger::HandoffTimeout, Some(h)) => Some(format!("handoff:{h}")),
        (t, _) => Some(format!("{}:{case_department}/{case}", t.as_str())),
    }
}

/// The subject recorded for escalations the breach scan raises.
pub const BREACH_SCAN_ACTOR: &str = "system:breach-scan";

/// What the Chief does with an escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscalationChange {
    /// Seen, on it.
    Acknowledge,
    /// Settled, with a note.
    Resolve(String),
}

/// Applies a change to an escalation.
pub fn change_escalation(
    e: &Escalation,
    change: &EscalationChange,
    now: DateTime<Utc>,
) -> Result<Escalation, HandoffRefused> {
    let mut next = e.clone();
    match (change, e.status) {
        (EscalationChange::Acknowledge, EscalationStatus::Open) => {
            next.status = EscalationStatus::Acknowledged;
            next.acknowledge_time = Some(now);
        }
        (EscalationChange::Acknowledge, s) => {
            return Err(HandoffRefused(format!("an {} escalation cannot be acknowledged", s.as_str())));
        }
        (EscalationChange::Resolve(note), EscalationStatus::Open | EscalationStatus::Acknowledged) => {
            next.status = EscalationStatus::Resolved;
            next.acknowledge_time.get_or_insert(now);
            next.resolve_time = Some(now);
            next.resolution = note.clone();
        }
        (EscalationChange::Resolve(_), s) => {
            return Err(HandoffRefused(format!("a {} escalation cannot be resolved again", s.as_str())));
        }
    }
    Ok(next)
}

string_enum!(
    /// Where a cross-department initiative is.
    InitiativeStatus {
        /// Suggested, not started.
        Proposed = "proposed",
        /// Under way.
        Active = "active",
        /// Achieved.
        Done = "done",
        /// Abandoned.
        Dropped = "dropped",
    }
);

/// Whether an initiative may move from `from` to `to`.
pub fn initiative_transition_allowed(from: InitiativeStatus, to: InitiativeStatus) -> bool {
    use InitiativeStatus::*;
    from == to || matches!((from, to), (Proposed, Active | Dropped) | (Active, Done | Dropped))
}

/// A milestone of an initiative.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Milestone {
    /// What is to be achieved.
    pub title: String,
    /// By when.
    pub due_time: Option<DateTime<Utc>>,
    /// When it was achieved.
    pub done_time: Option<DateTime<Utc>>,
}

/// A cross-functional team working on a problem that spans departments.
#[derive(Debug, Clone, PartialEq)]
pub struct Initiative {
    /// The lead department (the owner officer's).
    pub department_id: DepartmentId,
    /// Server-generated ID.
    pub id: InitiativeId,
    /// Title.
    pub title: String,
    /// The goal.
    pub goal: String,
    /// The officer who owns it.
    pub owner: OfficerId,
    /// Member departments (always includes the lead), sorted.
    pub members: Vec<DepartmentId>,
    /// Status.
    pub status: InitiativeStatus,
    /// Milestones in order.
    pub milestones: Vec<Milestone>,
    /// Linked cases (department, case).
    pub cases: Vec<(DepartmentId, CaseId)>,
    /// Linked dumb rules.
    pub dumb_rules: Vec<DumbRuleId>,
    /// Created.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision (etag).
    pub revision: i64,
    /// When it started and ended, and what was learned.
    pub lifecycle: InitiativeLifecycle,
}

/// When an initiative started (became active) and ended (done or dropped), and the lessons
/// recorded: a dropped initiative must say what the city learned, so the board hears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitiativeLifecycle {
    /// When it became active.
    pub start_time: Option<DateTime<Utc>>,
    /// When it was done or dropped.
    pub end_time: Option<DateTime<Utc>>,
    /// What was learned (required to drop it).
    pub lessons: String,
}

/// The lessons of an initiative: up to 4,000 characters, required once it is dropped.
pub fn lessons(field: &str, value: &str, status: InitiativeStatus) -> Result<String, ValidationError> {
    let v = crate::validation::optional_text(field, value, 4_000)?;
    if status == InitiativeStatus::Dropped && v.trim().is_empty() {
        return Err(ValidationError::one(field, "is required to drop an initiative: what the city learned"));
    }
    Ok(v)
}

/// The lifecycle of `next` as it is saved at `now` after `before` (`None`: created now): it
/// starts when it first becomes active and ends when it is done or dropped.
pub fn lifecycle_after(
    before: Option<&Initiative>,
    next: InitiativeStatus,
    lessons: String,
    now: DateTime<Utc>,
) -> InitiativeLifecycle {
    let was = before.map(|b| b.lifecycle.clone()).unwrap_or_default();
    let started = matches!(next, InitiativeStatus::Active | InitiativeStatus::Done);
    let ended = matches!(next, InitiativeStatus::Done | InitiativeStatus::Dropped);
    InitiativeLifecycle {
        start_time: was.start_time.or(started.then_some(now)),
        end_time: was.end_time.or(ended.then_some(now)),
        lessons,
    }
}

impl Initiative {
    /// Checks the invariants a stored initiative keeps.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut e = ValidationError::default();
        if !self.members.contains(&self.department_id) {
            e.push("initiative.member_departments", "must include the owner's department");
        }
        for (d, _) in &self.cases {
            if !self.members.contains(d) {
                e.push("initiative.cases", format!("links a case of {d}, which is not a member department"));
            }
        }
        e.into_result()
    }
}

string_enum!(
    /// Where a reported dumb rule is.
    DumbRuleStatus {
        /// Reported; affected departments' CSOs vote.
        Open = "open",
        /// The Chief decided.
        Decided = "decided",
    }
);

string_enum!(
    /// A vote or a decision on a dumb rule.
    RuleVerdict {
        /// Scrap the rule.
        Kill = "kill",
        /// Change it.
        Revise = "revise",
        /// Keep it (it has a reason residents should be told).
        Keep = "keep",
    }
);

/// One affected department's vote (cast by its CSO; changeable until the decision).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVote {
    /// The voting department.
    pub department_id: DepartmentId,
    /// The CSO who cast it.
    pub voter: OfficerId,
    /// The vote.
    pub verdict: RuleVerdict,
    /// Why.
    pub comment: String,
    /// When it was last cast.
    pub update_time: DateTime<Utc>,
}

/// The Chief's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDecision {
    /// Kill, revise or keep.
    pub verdict: RuleVerdict,
    /// Why.
    pub rationale: String,
    /// Who decided.
    pub decided_by: String,
    /// When.
    pub decide_time: DateTime<Utc>,
}

/// An internal rule or policy that infuriates residents.
#[derive(Debug, Clone, PartialEq)]
pub struct DumbRule {
    /// Server-generated ID. The register is city-wide.
    pub id: DumbRuleId,
    /// The rule, in words.
    pub text: String,
    /// The departments whose rule it is or who suffer from it, sorted.
    pub affected: Vec<DepartmentId>,
    /// Feedback that shows residents' frustration, as (department, feedback).
    pub evidence: Vec<(DepartmentId, FeedbackId)>,
    /// The votes cast, by department.
    pub votes: Vec<RuleVote>,
    /// Status.
    pub status: DumbRuleStatus,
    /// The decision, once made.
    pub decision: Option<RuleDecision>,
    /// Who reported it.
    pub reported_by: String,
    /// The reporter's department (empty for the Chief's own reports).
    pub reporter_department: Option<DepartmentId>,
    /// When.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision (etag).
    pub revision: i64,
}

/// A new dumb rule, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDumbRule {
    /// New ID.
    pub id: DumbRuleId,
    /// The rule.
    pub text: String,
    /// Affected departments (at least one), sorted and unique.
    pub affected: Vec<DepartmentId>,
    /// Evidence.
    pub evidence: Vec<(DepartmentId, FeedbackId)>,
    /// The reporter's department.
    pub reporter_department: Option<DepartmentId>,
}

/// Checks that `department` may vote on `rule`.
pub fn check_vote(rule: &DumbRule, department: &DepartmentId) -> Result<(), HandoffRefused> {
    if rule.status != DumbRuleStatus::Open {
        return Err(HandoffRefused("the Chief has decided; votes are closed".into()));
    }
    if !rule.affected.contains(department) {
        return Err(HandoffRefused(format!("department {department} is not affected by this rule")));
    }
    Ok(())
}

/// Records the Chief's decision.
pub fn decide(rule: &DumbRule, decision: RuleDecision) -> Result<DumbRule, HandoffRefused> {
    if rule.status != DumbRuleStatus::Open {
        return Err(HandoffRefused("the rule was already decided".into()));
    }
    let mut next = rule.clone();
    next.status = DumbRuleStatus::Decided;
    next.update_time = decision.decide_time;
    next.decision = Some(decision);
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("d", s).unwrap()
    }

    #[test]
    fn ping_pong_is_a_return_to_a_department_the_case_left() {
        assert!(!is_ping_pong(&[d("streets")], &d("water")));
        assert!(is_ping_pong(&[d("streets"), d("water")], &d("streets")));
        assert!(!is_ping_pong(&[d("streets"), d("water")], &d("parks")));
    }

    #[test]
    fn initiative_statuses_move_forward_only() {
        use InitiativeStatus::*;
        assert!(initiative_transition_allowed(Proposed, Active));
        assert!(initiative_transition_allowed(Active, Done));
        assert!(initiative_transition_allowed(Active, Dropped));
        assert!(!initiative_transition_allowed(Done, Active));
        assert!(!initiative_transition_allowed(Dropped, Proposed));
        assert!(!initiative_transition_allowed(Proposed, Done));
    }

    #[test]
    fn dedupe_keys_make_automatic_escalations_unique() {
        let c = CaseId::parse("c", "fb-1").unwrap();
        assert_eq!(dedupe_key(EscalationTrigger::Manual, &d("water"), &c, None), None);
        assert_eq!(
            dedupe_key(EscalationTrigger::ResolveBreach, &d("water"), &c, None).as_deref(),
            Some("resolve_breach:water/fb-1")
        );
        let h = HandoffId::parse("h", "ho-1").unwrap();
        assert_eq!(
            dedupe_key(EscalationTrigger::HandoffTimeout, &d("water"), &c, Some(&h)).as_deref(),
            Some("handoff:ho-1")
        );
    }
}
