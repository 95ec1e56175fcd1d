//! Storage for silo-coordination: hand-offs, escalations, initiatives, the dumb rules register,
//! report-card rollups and the outbox event stream.
use crate::{DumbRuleStore, EscalationStore, EventStore, HandoffStore, InitiativeStore, ReportStore};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::{DumbRuleStatus, EscalationStatus, HandoffStatus, InitiativeStatus};
use cityserve_domain::{CaseId, DepartmentId, EscalationId};

/// Which side of a hand-off a listing shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// Sent or received.
    #[default]
    Any,
    /// Received by the department.
    Incoming,
    /// Sent by the department.
    Outgoing,
}

/// Filters of a hand-off listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandoffFilter {
    /// Only hand-offs this department sent or received (`None`: every one in scope).
    pub department: Option<DepartmentId>,
    /// Which side.
    pub direction: Direction,
    /// Only this status.
    pub status: Option<HandoffStatus>,
    /// Only hand-offs of this case of the department (its path).
    pub case: Option<CaseId>,
}

/// Filters of an escalation listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationFilter {
    /// Only escalations against this department.
    pub department: Option<DepartmentId>,
    /// Only this status.
    pub status: Option<EscalationStatus>,
}

/// Filters of an initiative listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitiativeFilter {
    /// Only initiatives this department is a member of.
    pub member: Option<DepartmentId>,
    /// Only this status.
    pub status: Option<InitiativeStatus>,
}

/// How the dumb rules register is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DumbRuleOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Most evidence first; ties newest first.
    MostEvidence,
}

/// Filters of the dumb rules register.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumbRuleFilter {
    /// Only this status.
    pub status: Option<DumbRuleStatus>,
    /// Only rules affecting this department.
    pub affected: Option<DepartmentId>,
}

/// A new manual escalation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEscalation {
    /// The case's department.
    pub department_id: DepartmentId,
    /// New ID.
    pub id: EscalationId,
    /// The case.
    pub case_id: CaseId,
    /// Why.
    pub reason: String,
}

/// One outbox event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its sequence number: unique, and the position to resume after.
    pub sequence: i64,
    /// The department it belongs to.
    pub department_id: DepartmentId,
    /// What happened (the audit action, e.g. `case.manage`).
    pub event_type: String,
    /// The resource changed.
    pub resource: String,
    /// JSON payload: IDs and changed field names only, never free text.
    pub payload: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// Which events a subscriber wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these departments (`None`: every department in scope).
    pub departments: Option<Vec<DepartmentId>>,
    /// Only event types starting with one of these (empty: all).
    pub type_prefixes: Vec<String>,
}

/// Where to start reading events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCursor {
    /// From the oldest retained event.
    Start,
    /// Strictly after the event with this sequence number (one the caller received before).
    After(i64),
}

/// Storage for coordination: hand-offs, escalations, initiatives, dumb rules, report figures and
/// events, each its own trait. Hand-offs write to both departments they join in one transaction,
/// so their writes take a scope covering both ([`cityserve_domain::policy::handoff_scope`]).
pub trait CoordinationStore:
    HandoffStore + EscalationStore + InitiativeStore + DumbRuleStore + ReportStore + EventStore
{
}

impl<T> CoordinationStore for T where
    T: HandoffStore + EscalationStore + InitiativeStore + DumbRuleStore + ReportStore + EventStore
{
}
