//! Storage for cross-department initiatives.
use crate::coordination::*;
use crate::{FeedbackStore, Idempotency, StoreResult, WriteCtx};
use cityserve_domain::coordination::Initiative;
use cityserve_domain::{DepartmentId, InitiativeId, Page, PageRequest, TenantScope};
use std::future::Future;

/// Storage for cross-department initiatives. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait InitiativeStore: FeedbackStore {
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
}
