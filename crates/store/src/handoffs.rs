//! Storage for hand-offs of cases between departments.
use crate::coordination::*;
use crate::{FeedbackStore, Idempotency, StoreResult, WriteCtx};
use cityserve_domain::coordination::{Handoff, HandoffResponse, NewHandoff};
use cityserve_domain::{CaseId, DepartmentId, HandoffId, Page, PageRequest, TenantScope};
use std::future::Future;

/// Storage for hand-offs of cases between departments. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait HandoffStore: FeedbackStore {
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
}
