//! Storage for silo-coordination: hand-offs, escalations, initiatives, the dumb rules register,
//! report-card rollups and the outbox event stream.
use crate::{FeedbackStore, Idempotency, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::{
    DumbRule, DumbRuleStatus, Escalation, EscalationStatus, Handoff, HandoffResponse, HandoffStatus, Initiative,
    InitiativeStatus, NewDumbRule, NewHandoff, RuleVote,
};
use cityserve_domain::report::{LiveFigures, Metrics, Period};
use cityserve_domain::{
    CaseId, DepartmentId, DumbRuleId, EscalationId, HandoffId, InitiativeId, Page, PageRequest, TenantScope,
};
use std::future::Future;

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

/// Storage for coordination. Same contract as [`crate::DepartmentStore`] for scope, idempotency, revisions,
/// audit and events. Hand-offs write to both departments they join in one transaction, so their
/// writes take a scope covering both ([`cityserve_domain::policy::handoff_scope`]).
pub trait CoordinationStore: FeedbackStore {
    /// Sends a hand-off of a case. The case must be open, acknowledged or in progress and have no
    /// other pending hand-off; the receiver must be active ([`crate::StoreError::FailedPrecondition`]
    /// otherwise). The accept-by time comes from the receiver's targets for the case's channel.
    fn send_handoff(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewHandoff,
    ) -> impl Future<Output = StoreResult<Handoff>> + Send;

    /// Reads a hand-off, visible to its sender and its receiver.
    fn get_handoff(
        &self,
        scope: &TenantScope,
        sender: &DepartmentId,
        id: &HandoffId,
    ) -> impl Future<Output = StoreResult<Handoff>> + Send;

    /// Lists hand-offs in scope (sent or received), newest first.
    fn list_handoffs(
        &self,
        scope: &TenantScope,
        filter: &HandoffFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Handoff>>> + Send;

    /// Answers a pending hand-off. Accepting opens the receiver's case (a copy of the complaint,
    /// with the receiver's clock and the case's path extended by the receiver); a transfer also
    /// closes the sender's case as the receiver's responsibility; a ping-pong is counted on both
    /// report cards. Declining leaves the sender's case as it was.
    fn respond_handoff(
        &self,
        ctx: &WriteCtx<'_>,
        sender: &DepartmentId,
        id: &HandoffId,
        response: &HandoffResponse,
        expected_revision: Option<i64>,
    ) -> impl Future<Output = StoreResult<Handoff>> + Send;

    /// The path of a case: the departments it has been with, oldest first.
    fn case_path(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        case: &CaseId,
    ) -> impl Future<Output = StoreResult<Vec<DepartmentId>>> + Send;

    /// Escalates a case to the Chief by hand.
    fn escalate_case(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewEscalation,
    ) -> impl Future<Output = StoreResult<Escalation>> + Send;

    /// Reads an escalation.
    fn get_escalation(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &EscalationId,
    ) -> impl Future<Output = StoreResult<Escalation>> + Send;

    /// Lists escalations in scope, newest first.
    fn list_escalations(
        &self,
        scope: &TenantScope,
        filter: &EscalationFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Escalation>>> + Send;

    /// Writes an escalation's status, times and resolution if the revision matches.
    fn save_escalation(
        &self,
        ctx: &WriteCtx<'_>,
        escalation: &Escalation,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Escalation>> + Send;

    /// Escalates up to `limit` breaches as of `now`: cases past their acknowledge or resolve due
    /// time and pending hand-offs past their accept-by time. Each breach is escalated exactly once,
    /// also when several servers scan the same database at once. Returns the new escalations.
    fn scan_breaches(
        &self,
        ctx: &WriteCtx<'_>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Escalation>>> + Send;

    /// Creates an initiative (lead department = `initiative.department_id`). Members must be
    /// active departments.
    fn create_initiative(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        initiative: &Initiative,
    ) -> impl Future<Output = StoreResult<Initiative>> + Send;

    /// Reads an initiative, visible to every member department.
    fn get_initiative(
        &self,
        scope: &TenantScope,
        lead: &DepartmentId,
        id: &InitiativeId,
    ) -> impl Future<Output = StoreResult<Initiative>> + Send;

    /// Lists initiatives whose members include a department in scope, newest first.
    fn list_initiatives(
        &self,
        scope: &TenantScope,
        filter: &InitiativeFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Initiative>>> + Send;

    /// Writes an initiative's mutable fields if the revision matches.
    fn save_initiative(
        &self,
        ctx: &WriteCtx<'_>,
        initiative: &Initiative,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Initiative>> + Send;

    /// Adds a rule to the register. Affected departments must exist; evidence must be feedback
    /// the reporter can see ([`crate::StoreError::FailedPrecondition`] otherwise).
    fn report_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDumbRule,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Reads a rule (the register is city-wide).
    fn get_dumb_rule(&self, scope: &TenantScope, id: &DumbRuleId)
    -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Lists the register.
    fn list_dumb_rules(
        &self,
        scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<DumbRule>>> + Send;

    /// Casts or changes the department's vote (one per department) while the rule is open.
    fn vote_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        id: &DumbRuleId,
        vote: &RuleVote,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Records the Chief's decision (`rule.decision`) if the revision matches and the rule is open.
    fn decide_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        rule: &DumbRule,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Summed rollup counters per department over `[from_day, to_day)` (UTC day numbers), for
    /// `departments` (`None`: every department in scope). Departments without counters are absent.
    fn rollup_metrics(
        &self,
        scope: &TenantScope,
        departments: Option<&[DepartmentId]>,
        from_day: i64,
        to_day: i64,
    ) -> impl Future<Output = StoreResult<Vec<(DepartmentId, Metrics)>>> + Send;

    /// The figures of a report card read live: recognitions and retired dumb rules in the period,
    /// current competency gaps, and the plan's focus-area progress. The department must exist and
    /// be in scope ([`crate::StoreError::NotFound`] otherwise). One department's
    /// [`CoordinationStore::live_figures_of`].
    fn live_figures(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        period: &Period,
    ) -> impl Future<Output = StoreResult<LiveFigures>> + Send {
        async move {
            let mut figures = self.live_figures_of(scope, std::slice::from_ref(department), period).await?;
            figures.pop().ok_or(crate::StoreError::NotFound)
        }
    }

    /// [`CoordinationStore::live_figures`] of several departments at once, in the order of
    /// `departments`, read in one transaction with one set-based query (the city dashboard needs
    /// every department's). Every department must exist and be in scope
    /// ([`crate::StoreError::NotFound`] otherwise).
    fn live_figures_of(
        &self,
        scope: &TenantScope,
        departments: &[DepartmentId],
        period: &Period,
    ) -> impl Future<Output = StoreResult<Vec<LiveFigures>>> + Send;

    /// Records the current value of the focus metric of a department's plan for `year`.
    fn record_focus_progress(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        year: i32,
        value: f64,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Up to `limit` events after `cursor` in delivery order, as the scope and filter allow.
    /// Delivery order is commit order, so a subscriber that resumes after the last event it saw
    /// misses nothing and sees nothing twice. [`crate::StoreError::NotFound`] if `cursor` names
    /// an event the scope does not see.
    fn events_after(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        cursor: EventCursor,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Event>>> + Send;

    /// The newest event in scope (`None` if there is none), to start a subscription at "now".
    fn latest_event(&self, scope: &TenantScope) -> impl Future<Output = StoreResult<Option<i64>>> + Send;

    /// A signal that changes whenever new events may have been committed (by this process, or on
    /// PostgreSQL by any replica). Subscribers re-read after it changes.
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64>;
}
