//! Storage for resident notices: the templates departments (and the city) send, and the notices
//! queued with case changes. A notice is queued by [`crate::FeedbackStore::save_case`] (and the
//! hand-off that closes a case as another department's) in the change's own transaction, only
//! when the change is one residents hear about ([`cityserve_domain::notice::notice_event`]) and
//! the resident chose a channel with that department; it names no contact details, which the
//! worker reads at the moment of sending ([`NoticeStore::due_notices`]), so an erased resident
//! is never written to (erasure also cancels their pending notices).
use crate::{StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::notice::{Notice, NoticeEvent, NoticeState, NoticeTemplate};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope};
use std::future::Future;

/// A pending notice ready to send, with what sending it needs. Only the notifier reads these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotice {
    /// The notice.
    pub notice: Notice,
    /// Where to send it: the resident's e-mail or phone with the department, per the notice's
    /// channel; empty when the resident was erased or gave none (then it is cancelled).
    pub address: String,
    /// The department's name.
    pub department_name: String,
    /// The case's resolve-by time.
    pub resolve_due: DateTime<Utc>,
    /// The case's state now (a survey invitation goes out only while it is resolved or closed).
    pub case_status: cityserve_domain::CaseStatus,
    /// For a transfer, the owning department's name.
    pub owner_department_name: String,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The relay or gateway accepted it at this time.
    Sent(DateTime<Utc>),
    /// It failed; try again at this time.
    Retry {
        /// When.
        at: DateTime<Utc>,
        /// Why it failed (no contact data).
        error: String,
    },
    /// It failed for good, or for the last time allowed.
    Dead(String),
    /// It is not to be sent (no address any more, or the case reopened before its survey).
    Cancelled,
    /// Not attempted: held back until this time (a survey invitation's delay, or the
    /// department's next opening).
    Defer(DateTime<Utc>),
}

/// Filters of a notice listing.
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    /// Only this state.
    pub state: Option<NoticeState>,
    /// Only about this case.
    pub case_id: Option<String>,
}

/// Storage for notice templates and notices.
pub trait NoticeStore: Clone + Send + Sync + 'static {
    /// Creates or replaces a template (its revision and time are set here) when its stored
    /// revision is `expected` (`None`: it must not exist; [`crate::StoreError::AlreadyExists`]
    /// or [`crate::StoreError::Conflict`] otherwise). Audited, with an event, in `home` (the
    /// template's department, or the Chief's home department for a city-wide one).
    fn put_notice_template(
        &self,
        ctx: &WriteCtx<'_>,
        home: &DepartmentId,
        template: &NoticeTemplate,
        expected: Option<i64>,
    ) -> impl Future<Output = StoreResult<NoticeTemplate>> + Send;

    /// Deletes a template when its revision is `expected` (any when `None`). Audited in `home`.
    fn delete_notice_template(
        &self,
        ctx: &WriteCtx<'_>,
        home: &DepartmentId,
        department: Option<&DepartmentId>,
        event: NoticeEvent,
        language: &str,
        expected: Option<i64>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The templates of `department` (`None`: the city-wide ones), by event and language.
    fn notice_templates(
        &self,
        scope: &TenantScope,
        department: Option<&DepartmentId>,
    ) -> impl Future<Output = StoreResult<Vec<NoticeTemplate>>> + Send;

    /// A department's notices, newest first.
    fn list_notices(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        filter: &NoticeFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Notice>>> + Send;

    /// Up to `limit` pending notices due at `now`, of every department, soonest first, with
    /// their addresses. Needs a city-wide scope (the notifier's).
    fn due_notices(
        &self,
        scope: &TenantScope,
        now: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<DueNotice>>> + Send;

    /// Records an attempt's outcome for a pending notice (a notice no longer pending, e.g.
    /// cancelled by an erasure meanwhile, is left as it is). Needs the notifier's scope.
    fn record_delivery(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        notice_id: &str,
        outcome: &Delivery,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
