//! Storage for escalations of cases to the Chief (manual, or by the breach scan).
use crate::coordination::*;
use crate::{FeedbackStore, Idempotency, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::Escalation;
use cityserve_domain::{DepartmentId, EscalationId, Page, PageRequest, TenantScope};
use std::future::Future;

/// Storage for escalations of cases to the Chief (manual, or by the breach scan). Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait EscalationStore: FeedbackStore {
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
}
