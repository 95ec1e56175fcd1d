//! Storage for service accounts: the city's internal applications and the departments each may
//! act for. City-wide like API keys; every change is audited (with an event) in `home`, the
//! Chief's home department.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::{DepartmentId, Page, PageRequest, ServiceAccount, ServiceAccountId, TenantScope};
use std::future::Future;

/// Storage for service accounts.
pub trait ServiceAccountStore: Clone + Send + Sync + 'static {
    /// Registers `account` (its times and revision are set here). Idempotent on `idem` (keyed in
    /// `home`); a taken ID or client ID is [`crate::StoreError::AlreadyExists`].
    fn create_service_account(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        home: &DepartmentId,
        account: &ServiceAccount,
    ) -> impl Future<Output = StoreResult<ServiceAccount>> + Send;

    /// One account by ID. Needs a city-wide scope.
    fn get_service_account(
        &self,
        scope: &TenantScope,
        id: &ServiceAccountId,
    ) -> impl Future<Output = StoreResult<ServiceAccount>> + Send;

    /// Accounts by ID, inactive ones included.
    fn list_service_accounts(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<ServiceAccount>>> + Send;

    /// Saves `account`'s name, departments, client ID and status if its revision is still
    /// `expected_revision` ([`crate::StoreError::Conflict`] otherwise).
    fn update_service_account(
        &self,
        ctx: &WriteCtx<'_>,
        home: &DepartmentId,
        account: &ServiceAccount,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<ServiceAccount>> + Send;

    /// The active account whose `client_id` is `client` (a client-credentials token's subject).
    fn service_account_of_client(
        &self,
        scope: &TenantScope,
        client: &str,
    ) -> impl Future<Output = StoreResult<Option<ServiceAccount>>> + Send;
}
