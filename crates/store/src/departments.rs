//! Storage for departments (tenants), their service categories and service standards.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::{
    Department, DepartmentId, DepartmentStatus, NewDepartment, NewServiceCategory, NewServiceStandard, Page,
    PageRequest, ServiceCategory, ServiceCategoryId, ServiceCategoryStatus, ServiceStandard, ServiceStandardId,
    TenantScope,
};
use std::future::Future;

/// Storage for departments (tenants), service categories and service standards.
///
/// Contract shared by all methods:
/// - a department outside `scope` behaves exactly like a missing one ([`crate::StoreError::NotFound`]);
/// - `create_*` is idempotent on `(department, request_id)`: the same key and hash return the
///   existing resource (also under concurrent retries), the same key with another hash fails with
///   [`crate::StoreError::IdempotencyMismatch`], a new key for an existing ID fails with
///   [`crate::StoreError::AlreadyExists`];
/// - `update_*` writes every mutable field of the given value only if the stored revision equals
///   `expected_revision` ([`crate::StoreError::Conflict`] otherwise) and returns the row with its new
///   revision and update time;
/// - lists are ordered by ID and continue strictly after [`PageRequest::after`].
pub trait DepartmentStore: Clone + Send + Sync + 'static {
    /// Checks that the database answers.
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;

    /// Creates a department.
    fn create_department(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDepartment,
    ) -> impl Future<Output = StoreResult<Department>> + Send;

    /// Reads a department.
    fn get_department(
        &self,
        scope: &TenantScope,
        id: &DepartmentId,
    ) -> impl Future<Output = StoreResult<Department>> + Send;

    /// Lists departments in scope, optionally only those with `status`.
    fn list_departments(
        &self,
        scope: &TenantScope,
        status: Option<DepartmentStatus>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Department>>> + Send;

    /// Writes display name, description, status and default targets.
    fn update_department(
        &self,
        ctx: &WriteCtx<'_>,
        department: &Department,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Department>> + Send;

    /// Creates a service category. The department must exist in scope.
    fn create_service_category(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewServiceCategory,
    ) -> impl Future<Output = StoreResult<ServiceCategory>> + Send;

    /// Reads a service category.
    fn get_service_category(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceCategoryId,
    ) -> impl Future<Output = StoreResult<ServiceCategory>> + Send;

    /// Lists a department's service categories, optionally only those with `status`.
    fn list_service_categories(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        status: Option<ServiceCategoryStatus>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<ServiceCategory>>> + Send;

    /// Writes display name, description, keywords and status.
    fn update_service_category(
        &self,
        ctx: &WriteCtx<'_>,
        category: &ServiceCategory,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<ServiceCategory>> + Send;

    /// Creates a service standard. [`crate::StoreError::AlreadyExists`] also when another standard of
    /// the department has the same (category, channel) pair.
    fn create_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewServiceStandard,
    ) -> impl Future<Output = StoreResult<ServiceStandard>> + Send;

    /// Reads a service standard.
    fn get_service_standard(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceStandardId,
    ) -> impl Future<Output = StoreResult<ServiceStandard>> + Send;

    /// Lists a department's service standards.
    fn list_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<ServiceStandard>>> + Send;

    /// Every service standard of a department (for resolving targets; a department has few).
    fn all_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> impl Future<Output = StoreResult<Vec<ServiceStandard>>> + Send;

    /// Writes the targets.
    fn update_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        standard: &ServiceStandard,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<ServiceStandard>> + Send;

    /// Deletes a standard; with `expected_revision`, only if it is current.
    fn delete_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        id: &ServiceStandardId,
        expected_revision: Option<i64>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Number of audit records for a department (read-only check used by tests and operations).
    fn count_audit_records(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> impl Future<Output = StoreResult<i64>> + Send;

    /// Number of outbox events for a department.
    fn count_events(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> impl Future<Output = StoreResult<i64>> + Send;
}
