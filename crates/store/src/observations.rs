//! Storage for moments-of-truth observations and the rubrics they are scored on. Same contract as
//! [`crate::DepartmentStore`] for scope, idempotency, revisions and audit.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::observation::{Observation, ObservationId, Rubric, RubricId};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope, TouchpointId};
use std::future::Future;

/// Storage for rubrics and observations.
pub trait ObservationStore: Clone + Send + Sync + 'static {
    /// Creates version 1 of `rubric` (its time is set here). Idempotent on `idem`; a taken ID is
    /// [`crate::StoreError::AlreadyExists`].
    fn create_rubric(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        rubric: &Rubric,
    ) -> impl Future<Output = StoreResult<Rubric>> + Send;

    /// Adds `rubric` as the version after `expected_version`, the latest one
    /// ([`crate::StoreError::Conflict`] if another revision came first).
    fn revise_rubric(
        &self,
        ctx: &WriteCtx<'_>,
        rubric: &Rubric,
        expected_version: i32,
    ) -> impl Future<Output = StoreResult<Rubric>> + Send;

    /// A rubric at `version`, or its latest version.
    fn get_rubric(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &RubricId,
        version: Option<i32>,
    ) -> impl Future<Output = StoreResult<Rubric>> + Send;

    /// The latest version of each of a department's rubrics, by ID.
    fn list_rubrics(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Rubric>>> + Send;

    /// Records `observation` (revision and times set here). Idempotent on `idem`. A touchpoint
    /// that is not the department's is [`crate::StoreError::NotFound`]; an officer (serving, or
    /// owning a coaching action) who is not an active one of the department is
    /// [`crate::StoreError::FailedPrecondition`].
    fn create_observation(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        observation: &Observation,
    ) -> impl Future<Output = StoreResult<Observation>> + Send;

    /// One observation.
    fn get_observation(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ObservationId,
    ) -> impl Future<Output = StoreResult<Observation>> + Send;

    /// A department's observations, newest first, of `touchpoint` when given.
    fn list_observations(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        touchpoint: Option<&TouchpointId>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Observation>>> + Send;

    /// Saves `observation`'s coaching actions (the only part that changes after it is recorded:
    /// actions are followed to done) if its revision is still `expected_revision`.
    fn save_coaching(
        &self,
        ctx: &WriteCtx<'_>,
        observation: &Observation,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Observation>> + Send;
}
