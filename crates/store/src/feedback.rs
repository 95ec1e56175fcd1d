//! Storage for feedback, residents' contact details, complaint cases and the resident timeline.
use crate::{Idempotency, OfficerStore, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::{
    Case, CaseEntry, CaseId, CaseStatus, Channel, DepartmentId, Feedback, FeedbackId, FeedbackKind, NewFeedback,
    OfficerId, Page, PageRequest, ServiceCategoryId, TenantScope,
};
use std::future::Future;

/// How a batch treats an item the store refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// One refused item refuses the whole batch; nothing is filed.
    AllOrNothing,
    /// A refused item is answered with its refusal; the other items are filed.
    EachItem,
}

/// Who the feedback came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Residents (and anonymous members of the public).
    Residents,
    /// Internal customers: other departments.
    InternalCustomers,
}

/// Filters of a feedback listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedbackFilter {
    /// Only this department (`None`: every department in scope).
    pub department: Option<DepartmentId>,
    /// Only this kind.
    pub kind: Option<FeedbackKind>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this category.
    pub category: Option<ServiceCategoryId>,
    /// Only residents' or only internal customers' feedback.
    pub source: Option<Source>,
    /// Only feedback that occurred in `[start, end)`.
    pub occurred: Option<Period>,
}

/// A half-open span of time `[start, end)`: an export's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First instant in it.
    pub start: DateTime<Utc>,
    /// First instant after it.
    pub end: DateTime<Utc>,
}

/// How a case listing is sorted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseOrder {
    /// Newest first (by ID).
    #[default]
    Newest,
    /// Soonest resolve-by time first; ties by ID.
    ResolveDue,
}

/// Filters of a case listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    /// Only this department (`None`: every department in scope).
    pub department: Option<DepartmentId>,
    /// Only this status.
    pub status: Option<CaseStatus>,
    /// Only cases assigned to this officer.
    pub assignee: Option<OfficerId>,
    /// Only this category.
    pub category: Option<ServiceCategoryId>,
    /// Only cases overdue at this time (a due time passed without its milestone).
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only cases received in `[start, end)`.
    pub received: Option<Period>,
}

/// What a submission produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The stored feedback.
    pub feedback: Feedback,
    /// The case a complaint opened.
    pub case: Option<Case>,
}

/// One row of a resident's timeline as stored. `details` is present only for departments in the
/// caller's scope; the domain redacts what the caller may not see.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// The department contacted.
    pub department_id: DepartmentId,
    /// The feedback.
    pub feedback_id: FeedbackId,
    /// Channel.
    pub channel: Channel,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The case status, for complaints.
    pub case_status: Option<CaseStatus>,
    /// Kind and text, when the department is in the caller's scope. The text is cut to one
    /// character more than a timeline summary shows (the rest of a long text stays in the
    /// database).
    pub details: Option<(FeedbackKind, String)>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Feedback rows whose text, address and coordinates were cleared (they stay counted).
    pub feedback_erased: i64,
    /// Contact-detail rows deleted.
    pub contacts_deleted: i64,
    /// Departments that held data of the resident, sorted.
    pub departments: Vec<DepartmentId>,
}

/// Storage for feedback and complaint cases. Same contract as [`crate::DepartmentStore`] for scope,
/// idempotency, revisions and audit; in addition:
/// - a complaint opens its case in the same transaction, with due times from the department's
///   service standards (category and channel) as they stand at receipt;
/// - contact details are stored apart from feedback, per department, and never returned;
/// - a submitted resident gets the key already recorded for their e-mail (else their phone), else
///   the proposed key, and every identifier is recorded under that key (a city-wide index of keyed
///   hashes, holding no contact details);
/// - the timeline's metadata (department, channel, time, case status) is shared city-wide so a
///   department can see that a resident already contacted another; everything else is scoped;
/// - feedback and cases are listed newest first (descending time-ordered ID) unless said otherwise.
pub trait FeedbackStore: OfficerStore {
    /// Records feedback (and its case, for a complaint). The department must exist in scope and
    /// be active; a category must be one of its active categories
    /// ([`crate::StoreError::FailedPrecondition`] otherwise).
    fn submit_feedback(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewFeedback,
    ) -> impl Future<Output = StoreResult<Submitted>> + Send;

    /// Records a batch of one department's feedback in one transaction. With
    /// [`BatchMode::AllOrNothing`], a refused item fails the batch: `Err((Some(index), error))`
    /// and nothing is filed. With [`BatchMode::EachItem`], a refused item (another department, an
    /// inactive category) is answered `Err` in its place and the others are filed. `Err((None,
    /// error))` refuses the batch as a whole either way. A retry with the same key returns the
    /// same results, refusals included.
    fn submit_feedback_batch(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        department: &DepartmentId,
        items: &[NewFeedback],
        mode: BatchMode,
    ) -> impl Future<Output = Result<Vec<StoreResult<Submitted>>, (Option<usize>, crate::StoreError)>> + Send;

    /// Reads feedback.
    fn get_feedback(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &FeedbackId,
    ) -> impl Future<Output = StoreResult<Feedback>> + Send;

    /// Lists feedback in scope, newest first.
    fn list_feedback(
        &self,
        scope: &TenantScope,
        filter: &FeedbackFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Feedback>>> + Send;

    /// The key recorded for the first of `identifiers` (keyed hashes from
    /// [`cityserve_domain::ResidentKeyer::identifiers`]) that is known, if any.
    /// The index is city-wide; `scope` only sets the session (row-level security fails closed
    /// without one).
    fn find_resident(
        &self,
        scope: &TenantScope,
        identifiers: &[String],
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;

    /// A resident's contacts across every department, oldest first, with details for departments
    /// in `ctx.scope`. The read is audited (action `ctx.action`, no event) in `audit_in` and in
    /// every department the timeline shows.
    fn resident_timeline(
        &self,
        ctx: &WriteCtx<'_>,
        audit_in: &[DepartmentId],
        resident_key: &str,
    ) -> impl Future<Output = StoreResult<Vec<TimelineRow>>> + Send;

    /// Erases a resident everywhere in scope: deletes contact details and identifier hashes,
    /// clears free text, address and coordinates of their feedback and the notes of their cases,
    /// drops the link between them and their records (resident key) and their timeline; ratings, kinds, channels,
    /// categories and times stay, so statistics do not change. Idempotent: erasing again erases
    /// nothing more.
    fn erase_resident(
        &self,
        ctx: &WriteCtx<'_>,
        resident_key: &str,
    ) -> impl Future<Output = StoreResult<Erasure>> + Send;

    /// The contact values (name, e-mail, phone; never empty strings) each resident of `keys`
    /// left with `department`, for the open-data export to strike them from free text. The only
    /// read of contact details: they never leave the server.
    fn contact_values(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        keys: &[&str],
    ) -> impl Future<Output = StoreResult<Vec<(String, Vec<String>)>>> + Send;

    /// Records in the audit log that `ctx.actor` exported `resource` of each of `departments`
    /// (action `ctx.action`, no event), in its own transaction.
    fn audit_export(
        &self,
        ctx: &WriteCtx<'_>,
        departments: &[DepartmentId],
        resource: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Reads a case.
    fn get_case(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &CaseId,
    ) -> impl Future<Output = StoreResult<Case>> + Send;

    /// Lists cases in scope.
    fn list_cases(
        &self,
        scope: &TenantScope,
        filter: &CaseFilter,
        order: CaseOrder,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Case>>> + Send;

    /// Writes a case's mutable fields (status and its times, assignee, owner department, reopen
    /// count, follow-up, satisfaction) and appends `entry`, only if the stored revision equals
    /// `expected_revision` ([`crate::StoreError::Conflict`] otherwise). An assignee must be an
    /// active officer of the department, a follow-up a survey response of the department
    /// ([`crate::StoreError::FailedPrecondition`] otherwise).
    fn save_case(
        &self,
        ctx: &WriteCtx<'_>,
        case: &Case,
        expected_revision: i64,
        entry: Option<&CaseEntry>,
    ) -> impl Future<Output = StoreResult<Case>> + Send;
}
