//! Bulk import of historical contacts: a city's legacy records, or the demo city. Rows carry their
//! own times and case states, are written in large batches (multi-row statements), and their
//! report-card counters are added once per batch, so millions of rows load in minutes.
use crate::{FeedbackStore, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::{CaseStatus, DepartmentId, FeedbackId, NewFeedback, OfficerId};
use std::future::Future;

/// The state of an imported complaint's case.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedCase {
    /// Lifecycle state.
    pub status: CaseStatus,
    /// Acknowledge by.
    pub acknowledge_due: DateTime<Utc>,
    /// Resolve by.
    pub resolve_due: DateTime<Utc>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Times reopened.
    pub reopen_count: i32,
    /// Assigned officer (must be an officer of the department).
    pub assignee: Option<OfficerId>,
    /// A follow-up survey response of the same batch, linked after resolution.
    pub follow_up: Option<FeedbackId>,
    /// Whether the resident was satisfied.
    pub satisfied: Option<bool>,
}

/// One historical contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedContact {
    /// The feedback (`resident` must be `None`: contact details are never bulk-loaded; a known
    /// resident is named by `resident_key`).
    pub feedback: NewFeedback,
    /// A resident key (for timelines), if the contact is linked to a resident.
    pub resident_key: Option<String>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The case, for a complaint (required for complaints, ignored otherwise).
    pub case: Option<ImportedCase>,
}

/// Storage that can load history in bulk.
pub trait ImportStore: FeedbackStore {
    /// Writes `items` (all of `department`) in one transaction, with their cases, timeline
    /// entries and report-card counters; one audit record and one event for the batch. Returns
    /// how many contacts were written. A contact whose ID exists fails the whole batch
    /// ([`crate::StoreError::AlreadyExists`]).
    fn import_contacts(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        items: &[ImportedContact],
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}
