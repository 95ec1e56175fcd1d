//! The audit log as a resource: listing it for the Chief and auditors, and recording requests
//! that were refused. Successful writes (and reads of resident data) are audited by the write
//! itself, in its own transaction, with outcome `ok`.
use crate::{DepartmentStore, StoreResult};
use chrono::{DateTime, Utc};
use cityserve_domain::{Caller, DepartmentId, Page, PageRequest, TenantScope};
use std::future::Future;

/// The outcome recorded for everything that happened.
pub const OUTCOME_OK: &str = "ok";

/// One audit record. Never contains resident contact details: residents are named by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log (larger is newer); the key of newest-first pages.
    pub id: i64,
    /// The department the record belongs to.
    pub department: DepartmentId,
    /// When it was recorded.
    pub occurred_at: DateTime<Utc>,
    /// The caller's subject (officer or service client ID).
    pub actor_subject: String,
    /// The caller's role, e.g. `cso`.
    pub actor_role: String,
    /// What was done, e.g. `case.acknowledge`.
    pub action: String,
    /// The resource acted on (may be empty when a refused request named none).
    pub resource: String,
    /// `ok`, or the gRPC code name of the refusal, e.g. `not_found`.
    pub outcome: String,
    /// W3C trace id of the request.
    pub trace_id: Option<String>,
}

/// Which audit records to list; every filter set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this actor's.
    pub actor_subject: Option<String>,
    /// Only actions starting with this, e.g. `case.`.
    pub action_prefix: Option<String>,
    /// Only this outcome, e.g. `ok` or `permission_denied`.
    pub outcome: Option<String>,
    /// Recorded at or after.
    pub start: Option<DateTime<Utc>>,
    /// Recorded before.
    pub end: Option<DateTime<Utc>>,
}

/// A request that was refused (or failed), to be audited.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// The authenticated caller.
    pub actor: &'a Caller,
    /// What the caller tried, e.g. `case.acknowledge`.
    pub action: &'a str,
    /// The resource the request named, or empty. Never contact details.
    pub resource: &'a str,
    /// The gRPC code name, e.g. `not_found`.
    pub outcome: &'a str,
    /// W3C trace id of the request.
    pub trace_id: Option<&'a str>,
}

/// Reading the audit log and recording refusals.
pub trait AuditStore: DepartmentStore {
    /// Appends one audit record for a refused request in `department` (which `scope`, from
    /// [`cityserve_domain::policy::refusal_audit_scope`], must reach), in its own transaction.
    fn record_refusal(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        refusal: &Refusal<'_>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Audit records of the departments in `scope`, newest first, continuing strictly after
    /// (i.e. older than) [`PageRequest::after`].
    fn list_audit_events(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<AuditEvent>>> + Send;
}
