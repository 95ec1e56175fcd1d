//! Bulk import of historical contacts: a city's legacy records, or the demo city. Rows carry their
//! own times and case states, are written in large batches (multi-row statements), and their
//! report-card counters are added once per import, so millions of rows load in minutes. A stream
//! ([`ImportStore::import_stream`]) lets the producer, the validation and the database work at
//! the same time; [`validate_batch`] holds the checks every backend applies.
use crate::{FeedbackStore, StoreError, StoreResult, WriteCtx};
use chrono::{DateTime, Utc};
use cityserve_domain::report::{self, Delta};
use cityserve_domain::{
    Case, CaseId, CaseStatus, DepartmentId, FeedbackId, FeedbackKind, NewFeedback, OfficerId, ServiceCategoryId,
};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use tokio::sync::mpsc::Receiver;

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
    /// When the resident first contacted the city about it, when another department had the case
    /// first (history from a system with hand-offs): the resident's wait is counted from there.
    /// `None`: the receipt. Never after the receipt.
    pub first_contact_at: Option<DateTime<Utc>>,
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

    /// Loads every batch received on `batches` (all of `department`) until the sender is
    /// dropped, in one transaction with the same checks as [`ImportStore::import_contacts`]
    /// (items are numbered across the whole stream); the report-card counters of the whole stream
    /// are added once at the end, with one audit record and one event. The backend validates and
    /// encodes the next batch while the database writes the previous one, so a producer filling
    /// the channel overlaps with both. On an error nothing is written and the receiver is dropped
    /// (the producer's sends then fail). Returns how many contacts were written.
    fn import_stream(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        batches: Receiver<Vec<ImportedContact>>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Report-card counters of one department, summed as they are computed (a contact yields about
/// five deltas; keeping them all until the end would cost more than the inserts).
#[derive(Debug, Default)]
pub struct ImportCounters(HashMap<(i64, String), i64>);

impl ImportCounters {
    /// Adds `deltas` (all of one department).
    pub fn add(&mut self, deltas: Vec<Delta>) {
        for d in deltas {
            *self.0.entry((d.day, d.metric)).or_default() += d.value;
        }
    }

    /// Adds another batch's counters.
    pub fn merge(&mut self, other: ImportCounters) {
        if self.0.is_empty() {
            self.0 = other.0;
            return;
        }
        for (k, v) in other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    /// The summed deltas of `department`, ordered by day and metric.
    pub fn into_deltas(self, department: &DepartmentId) -> Vec<Delta> {
        report::aggregate(self.0.into_iter().map(|((day, metric), value)| Delta {
            department: department.clone(),
            day,
            metric,
            value,
        }))
    }
}

/// What a backend checks imported contacts against: the department's state read in the import's
/// transaction.
#[derive(Debug, Clone)]
pub struct ImportRules {
    /// The department every contact must belong to.
    pub department: DepartmentId,
    /// Its active service categories.
    pub active_categories: Vec<ServiceCategoryId>,
    /// The attributes of those that ask questions (answers are checked against them).
    pub attributes: Vec<(ServiceCategoryId, Vec<cityserve_domain::ServiceAttribute>)>,
    /// Its officers' IDs (case assignees must be among them).
    pub officers: HashSet<String>,
    /// The time zone the report-card counters are keyed in.
    pub zone: chrono_tz::Tz,
}

/// A batch that passed [`validate_batch`]: the contacts, each complaint's case, and the batch's
/// report-card counters.
#[derive(Debug)]
pub struct ValidatedBatch {
    /// The contacts, in the order received.
    pub items: Vec<ImportedContact>,
    /// For each contact, its case (complaints only).
    pub cases: Vec<Option<Case>>,
    /// The counters the batch adds.
    pub counters: ImportCounters,
}

/// Checks `items` (numbered from `first` in error messages) against `rules`, builds their cases
/// and sums their counters; writes nothing. The same checks on every backend: the department,
/// no contact details, active categories, a case for every complaint and assignees among the
/// department's officers.
pub fn validate_batch(rules: &ImportRules, first: usize, items: Vec<ImportedContact>) -> StoreResult<ValidatedBatch> {
    let department = &rules.department;
    let mut cases = Vec::with_capacity(items.len());
    let mut counters = ImportCounters::default();
    for (n, item) in items.iter().enumerate() {
        let i = first + n;
        let f = &item.feedback;
        let bad = |why: String| StoreError::FailedPrecondition(format!("item {i}: {why}"));
        if f.department_id != *department {
            return Err(bad("is for another department".into()));
        }
        if f.resident.is_some() {
            return Err(bad("contact details cannot be bulk-loaded; name the resident by key".into()));
        }
        if let Some(c) = &f.category
            && !rules.active_categories.contains(c)
        {
            return Err(bad(format!("service category {c} is not an active category of department {department}")));
        }
        // The bulk path writes no touchpoint or officer served (their figures would count
        // contacts the rows do not name): those come through BatchSubmitFeedback, which checks them.
        if f.served != cityserve_domain::feedback::Served::default() {
            return Err(bad(
                "a bulk load names no touchpoint or officer served: send those with BatchSubmitFeedback".into()
            ));
        }
        let defs = cityserve_domain::attributes::of_category(&rules.attributes, f.category.as_ref());
        if cityserve_domain::attributes::normalize_answers("feedback.attributes", &f.attributes).as_ref()
            != Ok(&f.attributes)
        {
            return Err(bad("feedback.attributes: answers must be trimmed, non-empty and each answered once".into()));
        }
        cityserve_domain::attributes::check_answers("feedback.attributes", defs, &f.attributes)
            .map_err(|e| bad(e.to_string()))?;
        counters.add(report::feedback_deltas(f, item.received_at, rules.zone));
        let mut case = None;
        if f.kind == FeedbackKind::Complaint {
            let c = item.case.as_ref().ok_or_else(|| bad("a complaint needs its case".into()))?;
            if let Some(a) = &c.assignee
                && !rules.officers.contains(a.as_str())
            {
                return Err(bad(format!("{a} is not an officer of department {department}")));
            }
            if c.first_contact_at.is_some_and(|t| t > item.received_at) {
                return Err(bad("the resident's first contact cannot be after the case was received".into()));
            }
            let imported = Case {
                department_id: department.clone(),
                id: CaseId::from_feedback(&f.id),
                status: c.status,
                assignee: c.assignee.clone(),
                category: f.category.clone(),
                channel: f.channel,
                received_at: item.received_at,
                first_contact_at: c.first_contact_at.unwrap_or(item.received_at),
                waiting_since: None,
                waited_secs: 0,
                acknowledge_due: c.acknowledge_due,
                resolve_due: c.resolve_due,
                acknowledged_at: c.acknowledged_at,
                resolved_at: c.resolved_at,
                closed_at: c.closed_at,
                owner_department: None,
                reopen_count: c.reopen_count,
                recovery: Vec::new(),
                notes: Vec::new(),
                follow_up: c.follow_up.clone(),
                satisfied: c.satisfied,
                resident_key: item.resident_key.clone(),
                revision: 1,
                update_time: c.closed_at.or(c.resolved_at).or(c.acknowledged_at).unwrap_or(item.received_at),
            };
            counters.add(report::imported_case_deltas(&imported, rules.zone));
            case = Some(imported);
        }
        cases.push(case);
    }
    Ok(ValidatedBatch { items, cases, counters })
}
