//! Storage for the Open311 GeoReport v2 gateway: API keys of Open311 clients and the public view
//! of service requests.
use crate::{CoordinationStore, Idempotency, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::{Case, CaseId, DepartmentId, Feedback, Page, PageRequest, ServiceCategoryId, TenantScope};
use std::future::Future;

/// An Open311 client's API key. Only a hash of its secret is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Server-generated ID (also the first part of the key the client sends).
    pub id: String,
    /// The client it was issued to (e.g. `fixmystreet`).
    pub client_name: String,
    /// Hex SHA-256 of the secret part.
    pub key_hash: String,
    /// Who issued it.
    pub created_by: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// When it was revoked (then it is refused).
    pub revoke_time: Option<DateTime<Utc>>,
}

/// Open311 request status: `open` while the case waits for its outcome, `closed` once resolved or
/// closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Open, acknowledged or in progress.
    Open,
    /// Resolved or closed.
    Closed,
}

/// A query of `GET requests`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestQuery {
    /// Exactly these requests (overrides every other filter).
    pub ids: Option<Vec<(DepartmentId, CaseId)>>,
    /// Only these services (empty: all).
    pub services: Vec<(DepartmentId, ServiceCategoryId)>,
    /// Received at or after.
    pub from: DateTime<Utc>,
    /// Received at or before.
    pub to: DateTime<Utc>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<RequestStatus>,
    /// Skip this many (newest first).
    pub offset: u32,
    /// At most this many.
    pub limit: u32,
}

/// A service request as Open311 shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRequestRow {
    /// The complaint.
    pub feedback: Feedback,
    /// Its case (without notes and recovery actions).
    pub case: Case,
    /// The newest public note of the case.
    pub status_note: Option<String>,
}

/// Storage for the Open311 gateway. API keys are city-wide; issuing and revoking them is audited
/// (with an event) in `home`, the issuing Chief's home department.
pub trait Open311Store: CoordinationStore {
    /// Stores a new key. Idempotent on `idem` (keyed in `home`).
    fn create_api_key(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        home: &DepartmentId,
        key: &ApiKey,
    ) -> impl Future<Output = StoreResult<ApiKey>> + Send;

    /// Reads a key (revoked ones too).
    fn get_api_key(&self, scope: &TenantScope, id: &str) -> impl Future<Output = StoreResult<ApiKey>> + Send;

    /// Lists keys by ID.
    fn list_api_keys(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<ApiKey>>> + Send;

    /// Revokes a key at `at` (a revoked key stays revoked; revoking again changes nothing).
    fn revoke_api_key(
        &self,
        ctx: &WriteCtx<'_>,
        home: &DepartmentId,
        id: &str,
    ) -> impl Future<Output = StoreResult<ApiKey>> + Send;

    /// Public service requests matching `query`, newest first, with their cases: complaints
    /// filed through Open311, and those of categories marked public whatever their channel
    /// (never an internal customer's).
    fn service_requests(
        &self,
        scope: &TenantScope,
        query: &RequestQuery,
    ) -> impl Future<Output = StoreResult<Vec<ServiceRequestRow>>> + Send;
}
