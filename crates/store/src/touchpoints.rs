//! Storage for touchpoints: the places and channels where residents meet a department. Same
//! contract as [`crate::DepartmentStore`] for scope, idempotency, revisions and audit.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope, Touchpoint, TouchpointId, TouchpointStatus};
use std::future::Future;

/// Storage for touchpoints.
pub trait TouchpointStore: Clone + Send + Sync + 'static {
    /// Creates `touchpoint` (its revision and times are set here). Idempotent on `idem`; a
    /// taken ID is [`crate::StoreError::AlreadyExists`], an archived department
    /// [`crate::StoreError::FailedPrecondition`].
    fn create_touchpoint(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        touchpoint: &Touchpoint,
    ) -> impl Future<Output = StoreResult<Touchpoint>> + Send;

    /// One touchpoint.
    fn get_touchpoint(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &TouchpointId,
    ) -> impl Future<Output = StoreResult<Touchpoint>> + Send;

    /// A department's touchpoints by ID, in `status` when given.
    fn list_touchpoints(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        status: Option<TouchpointStatus>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Touchpoint>>> + Send;

    /// Saves `touchpoint`'s name, kind, channel, location, hours and status if its revision is
    /// still `expected_revision` ([`crate::StoreError::Conflict`] otherwise).
    fn update_touchpoint(
        &self,
        ctx: &WriteCtx<'_>,
        touchpoint: &Touchpoint,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Touchpoint>> + Send;
}
