//! Feedback and cases: column lists, statements, the logic that needs no connection, the read
//! helpers ([`feedback_reads!`]) and the whole [`cityserve_store::FeedbackStore`] implementation
//! ([`feedback_store!`]), shared by both backends.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::write::MultiRow;
use crate::{SqlRow, corrupt};
use chrono::{DateTime, Utc};
use cityserve_domain::feedback::RecoveryKind;
use cityserve_domain::{
    Case, CaseNote, CaseStatus, Channel, DepartmentId, DepartmentStatus, FeedbackId, FeedbackKind, NewFeedback, Page,
    RecoveryAction, ServiceCategoryId, ServiceStandard, ServiceTargets, TenantScope,
};
use cityserve_store::feedback::{CaseOrder, TimelineRow};
use cityserve_store::{StoreError, StoreResult};

macro_rules! feedback_columns {
    () => {
        "department_id, feedback_id, channel, kind, csat, nps, text, language, category_id, address, latitude, \
         longitude, occurred_at, received_at, resident_key, internal_customer, erased, source, media_urls, address_id, \
         attributes, device_id, account_id, touchpoint_id, served_by"
    };
}
macro_rules! case_columns {
    () => {
        "department_id, case_id, status, assignee, category_id, channel, received_at, acknowledge_due, resolve_due, \
         acknowledged_at, resolved_at, closed_at, owner_department, reopen_count, follow_up, satisfied, \
         resident_key, revision, update_time, first_contact_at, waiting_since, waited_secs"
    };
}

/// The columns [`crate::rows::feedback`] reads.
pub const FEEDBACK_COLUMNS: &str = feedback_columns!();
/// The columns [`crate::rows::case`] reads.
pub const CASE_COLUMNS: &str = case_columns!();
/// One feedback record by department and ID.
pub const SELECT_FEEDBACK: &str =
    concat!("SELECT ", feedback_columns!(), " FROM feedback WHERE department_id = $1 AND feedback_id = $2");
/// One case (without its notes and recovery actions) by department and ID.
pub const SELECT_CASE: &str =
    concat!("SELECT ", case_columns!(), " FROM cases WHERE department_id = $1 AND case_id = $2");
/// [`SELECT_CASE`], locking the row until the transaction ends (PostgreSQL; SQLite has no row
/// locks and needs none: its writes are serialised on one connection).
pub const SELECT_CASE_FOR_UPDATE: &str =
    concat!("SELECT ", case_columns!(), " FROM cases WHERE department_id = $1 AND case_id = $2 FOR UPDATE");
/// Cases by (department, ID) pairs: a batch of case changes reads every case it changes in one
/// statement, and reads them back in one more for its answers.
pub const SELECT_CASES: MultiRow = MultiRow {
    head: concat!("SELECT ", case_columns!(), " FROM cases WHERE (department_id, case_id) IN (VALUES "),
    row: "($1, $2)",
    width: 2,
    tail: ")",
};
/// [`SELECT_CASES`], locking the rows until the transaction ends (PostgreSQL), in key order so
/// that two batches locking some of the same cases cannot each wait for the other.
pub const SELECT_CASES_FOR_UPDATE: MultiRow =
    MultiRow { tail: ") ORDER BY department_id, case_id FOR UPDATE", ..SELECT_CASES };
/// A feedback record's kind, by department and ID.
pub const SELECT_FEEDBACK_KIND: &str = "SELECT kind FROM feedback WHERE department_id = $1 AND feedback_id = $2";

/// A department (by ID, `$1`) with the IDs of its categories of status `$2`, space-separated in
/// `active_categories` (NULL when there are none), those of them that ask questions with their
/// attributes (a line each: the ID, a space, the JSON; compact JSON holds no line break) in
/// `category_attributes`, and the stored city calendar and department
/// override its clocks run on (NULL when not saved): what [`intake_row`] reads.
pub const SELECT_INTAKE: &str = concat!(
    "SELECT ",
    department_columns!(),
    ", (SELECT string_agg(category_id, ' ' ORDER BY category_id) FROM service_categories
         WHERE department_id = $1 AND status = $2) AS active_categories,
       (SELECT string_agg(category_id || ' ' || attributes, '
' ORDER BY category_id) FROM service_categories
         WHERE department_id = $1 AND status = $2 AND attributes <> '') AS category_attributes,
       (SELECT string_agg(touchpoint_id, ' ' ORDER BY touchpoint_id) FROM touchpoints
         WHERE department_id = $1 AND status = $2) AS active_touchpoints,
       (SELECT body FROM city_calendar WHERE calendar_id = 1) AS city_calendar,
       (SELECT body FROM department_calendars WHERE department_id = $1) AS department_calendar,
       (SELECT time_zone FROM rollup_zone WHERE zone_id = 1) AS rollup_zone
     FROM departments WHERE department_id = $1"
);

/// Which complaints (`feedback f`, joined to their case) are public service requests, as the
/// Open311 gateway lists them: those filed through Open311, and every other complaint of a
/// category marked public whatever its channel, except an internal customer's.
/// `f.kind = 'complaint'` lets the list walk the complaints' newest-first index
/// (`feedback_complaints_newest`) and stop at the page's end.
pub const PUBLIC_REQUEST: &str =
    "f.kind = 'complaint' AND (f.source IS NOT NULL OR (f.internal_customer IS NULL AND EXISTS (
         SELECT 1 FROM service_categories s
         WHERE s.department_id = f.department_id AND s.category_id = f.category_id AND s.public)))";

/// The resident keys recorded for identifiers, one row per identifier that has one.
pub const SELECT_RESIDENT_KEYS: MultiRow = MultiRow {
    head: "SELECT identifier, resident_key FROM resident_identifiers WHERE identifier IN (",
    row: "$1",
    width: 1,
    tail: ")",
};
/// Records identifiers under resident keys, unless recorded already; returns those it recorded.
pub const INSERT_IDENTIFIERS: MultiRow = MultiRow {
    head: "INSERT INTO resident_identifiers (identifier, resident_key, create_time) VALUES ",
    row: "($1, $2, $3)",
    width: 3,
    tail: " ON CONFLICT (identifier) DO NOTHING RETURNING identifier",
};
/// Stores new feedback records, returning [`FEEDBACK_COLUMNS`] of each.
pub const INSERT_FEEDBACK: MultiRow = MultiRow {
    head: "INSERT INTO feedback (department_id, feedback_id, channel, kind, csat, nps, text, language, category_id,
         address, latitude, longitude, occurred_at, received_at, resident_key, internal_customer, erased, source,
         media_urls, address_id, attributes, device_id, account_id, touchpoint_id, served_by)
     VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false, $17, $18, $19, $20, $21, $22,
         $23, $24)",
    width: 24,
    tail: concat!(" RETURNING ", feedback_columns!()),
};
/// Stores residents' contact details with departments: the newest win, and a missing one keeps
/// what was known. One row per (department, resident) in a statement: PostgreSQL refuses to
/// update one row twice in one statement.
pub const UPSERT_CONTACTS: MultiRow = MultiRow {
    head: "INSERT INTO resident_contact_details (department_id, resident_key, email, phone, update_time, name,
         notice_channel)
     VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7)",
    width: 7,
    tail: " ON CONFLICT (department_id, resident_key) DO UPDATE SET
         email = CASE WHEN excluded.email <> '' THEN excluded.email ELSE resident_contact_details.email END,
         phone = CASE WHEN excluded.phone <> '' THEN excluded.phone ELSE resident_contact_details.phone END,
         name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE resident_contact_details.name END,
         notice_channel = CASE WHEN excluded.notice_channel <> '' THEN excluded.notice_channel
                          ELSE resident_contact_details.notice_channel END,
         update_time = excluded.update_time",
};
/// Opens cases (each received at its `$6` and last updated at its `$10`, the same instant),
/// returning [`CASE_COLUMNS`] of each.
pub const INSERT_CASE: MultiRow = MultiRow {
    head: "INSERT INTO cases (department_id, case_id, status, category_id, channel, received_at, acknowledge_due,
         resolve_due, reopen_count, resident_key, revision, update_time, path, first_contact_at)
     VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 1, $10, $11, $12)",
    width: 12,
    tail: concat!(" RETURNING ", case_columns!()),
};
/// Adds contacts to residents' timelines.
pub const INSERT_TIMELINE_ENTRY: MultiRow = MultiRow {
    head: "INSERT INTO timeline_entries (department_id, feedback_id, resident_key, channel, occurred_at, case_status)
     VALUES ",
    row: "($1, $2, $3, $4, $5, $6)",
    width: 6,
    tail: "",
};
/// Sets a case's due times (after a wait on the resident ends: the clocks count from the receipt
/// plus the wait).
pub const SET_DUE_TIMES: &str =
    "UPDATE cases SET acknowledge_due = $3, resolve_due = $4 WHERE department_id = $1 AND case_id = $2";
/// Appends entries to cases, each numbered after the last of its case (a batch appends at most
/// one per case).
pub const INSERT_CASE_ENTRIES: MultiRow = MultiRow {
    head: "INSERT INTO case_entries (department_id, case_id, entry_no, kind, text, actor, at, public) VALUES ",
    row: "($1, $2, (SELECT COALESCE(MAX(entry_no), 0) + 1 FROM case_entries
                    WHERE department_id = $3 AND case_id = $4), $5, $6, $7, $8, $9)",
    width: 9,
    tail: "",
};
/// Writes cases' mutable fields, each only at the revision its change was checked against
/// (`$13`); a backend whose `VALUES` need types (PostgreSQL) overrides `row`. Row parameters:
/// status, assignee, acknowledged, resolved, closed, owner department, reopen count, follow-up,
/// satisfied, update time, department, case, revision, waiting since, seconds waited.
pub const UPDATE_CASES: MultiRow = MultiRow {
    head: "UPDATE cases SET status = v.column1, assignee = v.column2, acknowledged_at = v.column3,
         resolved_at = v.column4, closed_at = v.column5, owner_department = v.column6,
         reopen_count = v.column7, follow_up = v.column8, satisfied = v.column9, revision = revision + 1,
         update_time = v.column10, waiting_since = v.column14, waited_secs = v.column15
     FROM (VALUES ",
    row: "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    width: 15,
    tail: ") AS v
     WHERE cases.department_id = v.column11 AND cases.case_id = v.column12 AND cases.revision = v.column13",
};
/// Sets the case status shown on the timeline entries of complaints (the case ID is the
/// complaint's feedback ID).
pub const UPDATE_TIMELINE_STATUSES: MultiRow = MultiRow {
    head: "UPDATE timeline_entries SET case_status = v.column1 FROM (VALUES ",
    row: "($1, $2, $3)",
    width: 3,
    tail: ") AS v WHERE timeline_entries.department_id = v.column2 AND timeline_entries.feedback_id = v.column3",
};

/// The departments holding feedback or contact details of a resident (by key).
pub const SELECT_RESIDENT_DEPARTMENTS: &str = "SELECT department_id FROM feedback WHERE resident_key = $1
     UNION SELECT department_id FROM resident_contact_details WHERE resident_key = $1
     UNION SELECT department_id FROM panel_members WHERE resident_key = $1";
/// What erasing a resident (`$2`) in a department (`$1`) does first, in order: case entries'
/// texts, the reasons and resolutions of escalations of their cases (in any department's
/// escalation desk), hand-off reasons, cases' and hand-offs' resident keys, timeline entries.
pub const ERASE_RESIDENT_TRACES: [&str; 7] = [
    "UPDATE case_entries SET text = '' WHERE department_id = $1
       AND case_id IN (SELECT case_id FROM cases WHERE department_id = $1 AND resident_key = $2)",
    "UPDATE escalations SET reason = '', resolution = '' WHERE case_department = $1
       AND case_id IN (SELECT case_id FROM cases WHERE department_id = $1 AND resident_key = $2)",
    "UPDATE handoffs SET reason = '', decline_reason = '', resident_key = NULL
     WHERE department_id = $1 AND resident_key = $2",
    "UPDATE cases SET resident_key = NULL WHERE department_id = $1 AND resident_key = $2",
    "DELETE FROM timeline_entries WHERE department_id = $1 AND resident_key = $2",
    // Pending notices are cancelled (nothing reaches an erased resident), and all unlinked.
    crate::notices::ERASE_NOTICES[0],
    crate::notices::ERASE_NOTICES[1],
];
/// Erases a resident's (`$2`) feedback in a department (`$1`), keeping the rest of each record.
pub const ERASE_FEEDBACK: &str = "UPDATE feedback
     SET text = '', address = '', address_id = '', latitude = NULL, longitude = NULL, media_urls = '',
         attributes = '', device_id = '', account_id = '', resident_key = NULL, erased = true
     WHERE department_id = $1 AND resident_key = $2";
/// Deletes a resident's (`$2`) contact details with a department (`$1`).
pub const ERASE_CONTACT: &str = "DELETE FROM resident_contact_details WHERE department_id = $1 AND resident_key = $2";
/// Forgets a resident's identifiers.
pub const ERASE_IDENTIFIERS: &str = "DELETE FROM resident_identifiers WHERE resident_key = $1";

/// The departments among `ids` (as read from a column) that are in `scope`, in order.
pub fn departments_in(ids: &[String], scope: &TenantScope) -> StoreResult<Vec<DepartmentId>> {
    let mut departments = ids
        .iter()
        .map(|d| DepartmentId::parse("department_id", d).map_err(|_| corrupt("department_id")))
        .collect::<StoreResult<Vec<_>>>()?;
    departments.retain(|d| scope.allows(d));
    departments.sort();
    Ok(departments)
}

/// What every submission to a department is checked against, read once per transaction.
pub struct Intake {
    /// The department's default service targets.
    pub default_targets: ServiceTargets,
    /// Its service standards (read only when a submission may open a case).
    pub standards: Vec<ServiceStandard>,
    /// Its active categories: the only ones a submission may name.
    pub active_categories: Vec<ServiceCategoryId>,
    /// Its active touchpoints: the only ones a submission may name as where it was served.
    pub active_touchpoints: Vec<cityserve_domain::TouchpointId>,
    /// The attributes of those that ask questions: what their submissions' answers are checked
    /// against.
    pub attributes: Vec<(ServiceCategoryId, Vec<cityserve_domain::ServiceAttribute>)>,
    /// The calendar its clocks run on.
    pub calendar: cityserve_domain::BusinessCalendar,
    /// The time zone report-card counters are keyed in (read with the rest: the write needs no
    /// statement of its own for it).
    pub rollup_zone: chrono_tz::Tz,
}

impl Intake {
    /// Fails with a precondition error unless `new` names no category or an active one, and with
    /// an invalid argument unless its answers fit the category's attributes.
    pub fn admit(&self, new: &NewFeedback) -> StoreResult<()> {
        if let Some(c) = &new.category
            && !self.active_categories.contains(c)
        {
            return Err(StoreError::FailedPrecondition(format!(
                "service category {c} is not an active category of department {}",
                new.department_id
            )));
        }
        if let Some((d, t)) = &new.served.touchpoint
            && (d != &new.department_id || !self.active_touchpoints.contains(t))
        {
            return Err(StoreError::FailedPrecondition(cityserve_domain::touchpoint::not_active(
                &format!("departments/{d}/touchpoints/{t}"),
                &new.department_id,
            )));
        }
        let defs = cityserve_domain::attributes::of_category(&self.attributes, new.category.as_ref());
        cityserve_domain::attributes::check_answers("feedback.attributes", defs, &new.attributes)
            .map_err(StoreError::Invalid)
    }
}

/// The `media_urls` column's text for a feedback's media references: one a line ([`crate::rows`]
/// reads it back by lines). References hold no whitespace, so a line is always one reference.
pub fn media_column(media: &[String]) -> String {
    media.join("\n")
}

/// What a batch's idempotency key records: each item's feedback ID in order, a refused item as
/// `!` and its reason (`%` and `,` escaped), an item refused as invalid as `!?` and its field
/// violations as JSON pairs, so a retry answers the same refusals with the same codes.
pub fn batch_record(out: &[StoreResult<cityserve_store::feedback::Submitted>]) -> String {
    let entry = |item: &StoreResult<cityserve_store::feedback::Submitted>| {
        let reason = match item {
            Ok(s) => return s.feedback.id.to_string(),
            Err(StoreError::Invalid(v)) => {
                let pairs: Vec<(&str, &str)> =
                    v.violations.iter().map(|f| (f.field.as_str(), f.description.as_str())).collect();
                format!("?{}", serde_json::to_string(&pairs).unwrap_or_default())
            }
            Err(e) => e.to_string(),
        };
        format!("!{}", reason.replace('%', "%25").replace(',', "%2C"))
    };
    out.iter().map(entry).collect::<Vec<_>>().join(",")
}

/// The items of a [`batch_record`] (or of an all-or-nothing batch's plain ID list): a feedback ID,
/// or the refusal of the item.
pub fn batch_replay(record: &str) -> Vec<Result<&str, StoreError>> {
    let mut items = Vec::new();
    for e in record.split(',') {
        match e.strip_prefix('!') {
            Some(reason) => {
                let reason = reason.replace("%2C", ",").replace("%25", "%");
                let invalid =
                    reason.strip_prefix('?').and_then(|j| serde_json::from_str::<Vec<(String, String)>>(j).ok());
                items.push(Err(match invalid {
                    Some(pairs) => {
                        let mut v = cityserve_domain::ValidationError::default();
                        for (field, description) in pairs {
                            v.push(field, description);
                        }
                        StoreError::Invalid(v)
                    }
                    None => StoreError::FailedPrecondition(reason),
                }));
            }
            None if e.is_empty() => {}
            None => items.push(Ok(e)),
        }
    }
    items
}

/// A [`SELECT_INTAKE`] row: the department's default targets, active categories and their
/// attributes, calendar and the rollups' time zone (no standards: [`Intake::standards`] is
/// empty), or a precondition error if the department is archived.
pub fn intake_row(row: &impl SqlRow) -> StoreResult<Intake> {
    let department = crate::rows::department(row)?;
    if department.status != DepartmentStatus::Active {
        return Err(StoreError::FailedPrecondition(format!("department {} is archived", department.id)));
    }
    let category = |c: &str| ServiceCategoryId::parse("category_id", c).map_err(|_| corrupt("category_id"));
    // Category IDs are slugs: a space cannot occur in one.
    let categories = row.opt_text("active_categories")?;
    let active = categories
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|c| !c.is_empty())
        .map(category)
        .collect::<StoreResult<Vec<_>>>()?;
    let touchpoints = row.opt_text("active_touchpoints")?;
    let active_touchpoints = touchpoints
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| cityserve_domain::TouchpointId::parse("touchpoint_id", t).map_err(|_| corrupt("touchpoint_id")))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut attributes = Vec::new();
    for line in row.opt_text("category_attributes")?.as_deref().unwrap_or_default().lines() {
        let (id, json) = line.split_once(' ').ok_or_else(|| corrupt("service_categories.attributes"))?;
        let defs = serde_json::from_str(json).map_err(|_| corrupt("service_categories.attributes"))?;
        attributes.push((category(id)?, defs));
    }
    let calendar = crate::calendar::business_calendar(
        row.opt_text("city_calendar")?.as_deref(),
        row.opt_text("department_calendar")?.as_deref(),
    )?;
    let rollup_zone = row.text("rollup_zone")?.parse().map_err(|_| corrupt("rollup_zone.time_zone"))?;
    Ok(Intake {
        default_targets: department.default_targets,
        standards: Vec::new(),
        active_categories: active,
        active_touchpoints,
        attributes,
        calendar,
        rollup_zone,
    })
}

/// Where a complaint copied into another department by an accepted hand-off came from.
pub struct Origin<'a> {
    /// The resident's key, carried over (the copy names no contact details).
    pub resident_key: Option<&'a str>,
    /// The case's path, ending with the receiving department.
    pub path: &'a [DepartmentId],
    /// When the resident first contacted the city about it (the sender's own first contact).
    pub first_contact_at: DateTime<Utc>,
}

/// One change of a case to write (`write_cases` of [`crate::feedback_store!`]).
pub struct CaseWrite<'a> {
    /// Who changes it: its audit row and event name them.
    pub ctx: cityserve_store::WriteCtx<'a>,
    /// The case as stored, the change checked against it.
    pub current: &'a cityserve_domain::Case,
    /// The case as it is to be.
    pub case: &'a cityserve_domain::Case,
    /// The note or recovery action appended with it.
    pub entry: Option<&'a cityserve_domain::CaseEntry>,
}

/// One submission to write (`insert_submissions` of [`crate::feedback_insert!`]).
pub struct ToInsert<'a> {
    /// Who submits it: its audit row and event name them.
    pub ctx: cityserve_store::WriteCtx<'a>,
    /// Its department's intake.
    pub intake: &'a Intake,
    /// The submission.
    pub new: &'a NewFeedback,
    /// Set for a hand-off's copy.
    pub origin: Option<&'a Origin<'a>>,
}

/// The audit and event payload of a submission.
pub fn submission_payload(new: &NewFeedback, case: bool) -> serde_json::Value {
    serde_json::json!({
        "feedback": new.id.as_str(),
        "kind": new.kind.as_str(),
        "channel": new.channel.as_str(),
        "case": case,
    })
}

/// Adds one `case_entries` row (`department_id, case_id, kind, text, actor, at, public`) to its
/// case in `cases`, as a note or a recovery action; a row of no case in `cases` is skipped.
pub fn attach_entry(cases: &mut [Case], row: &impl SqlRow) -> StoreResult<()> {
    let (d, c, kind) = (row.text("department_id")?, row.text("case_id")?, row.text("kind")?);
    let (text, actor, at, public) = (row.text("text")?, row.text("actor")?, row.time("at")?, row.flag("public")?);
    let Some(case) = cases.iter_mut().find(|x| x.department_id.as_str() == d && x.id.as_str() == c) else {
        return Ok(());
    };
    if kind == "note" {
        case.notes.push(CaseNote { text, public, actor, at });
    } else {
        let kind = RecoveryKind::parse(&kind).ok_or_else(|| corrupt("kind"))?;
        case.recovery.push(RecoveryAction { kind, note: text, actor, at });
    }
    Ok(())
}

/// Where a page of cases starts: after the case `id` and, in resolve-due order, after
/// `resolve_due`.
pub struct CaseCursor {
    /// The last case ID of the previous page.
    pub id: String,
    /// Its resolve-by time (resolve-due order only).
    pub resolve_due: Option<DateTime<Utc>>,
}

/// The key of a case in a resolve-due ordered listing.
fn due_key(c: &Case) -> String {
    format!("{}:{}", c.resolve_due.timestamp_micros(), c.id)
}

/// Reads a page position handed out by [`case_page`].
pub fn case_cursor(order: CaseOrder, after: Option<&str>) -> StoreResult<Option<CaseCursor>> {
    let Some(after) = after else { return Ok(None) };
    Ok(Some(match order {
        CaseOrder::Newest => CaseCursor { id: after.to_owned(), resolve_due: None },
        CaseOrder::ResolveDue => {
            let bad = || StoreError::Internal("bad page position".into());
            let (t, id) = after.split_once(':').ok_or_else(bad)?;
            let t = DateTime::from_timestamp_micros(t.parse().map_err(|_| bad())?).ok_or_else(bad)?;
            CaseCursor { id: id.to_owned(), resolve_due: Some(t) }
        }
    }))
}

/// A page of cases from `size` plus one, keyed for `order`.
pub fn case_page(items: Vec<Case>, order: CaseOrder, size: u32) -> Page<Case> {
    match order {
        CaseOrder::Newest => Page::from_overfetch(items, size, |c| c.id.to_string()),
        CaseOrder::ResolveDue => Page::from_overfetch(items, size, due_key),
    }
}

/// How much of each feedback text a timeline reads: one character more than a timeline summary
/// shows, so the summary can still tell that it cut the text
/// ([`cityserve_domain::feedback::summary_of`]). The rest of a long complaint never leaves the
/// database for a timeline. The backends' statements hold it as a literal, checked by their tests.
pub const TIMELINE_TEXT_CHARS: usize = cityserve_domain::feedback::SUMMARY_CHARS + 1;

/// One entry of a resident's timeline as a backend reads it from `timeline_entries`.
pub struct TimelineEntry {
    /// The department the contact was with.
    pub department: String,
    /// The feedback record the entry stands for.
    pub feedback: String,
    /// The channel it came through.
    pub channel: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The case's status, for a complaint.
    pub case_status: Option<String>,
}

/// The kind and text (its first [`TIMELINE_TEXT_CHARS`] characters) of a resident's feedback
/// records that the database shows the caller, by department and feedback ID.
pub type TimelineDetails = std::collections::HashMap<(String, String), (String, String)>;

/// A resident's timeline from two JSON arrays a backend reads in one statement (SQLite: each
/// side one value, as a thousand rows would each cross from SQLite's thread on their own):
/// `entries` (each `[department, feedback, channel, occurred_at in microseconds, case status]`)
/// and `details`, the resident's feedback rows (each `[department, feedback, kind, text]`).
/// See [`timeline_join`].
pub fn timeline_rows(entries: &str, details: &str, scope: &TenantScope) -> StoreResult<Vec<TimelineRow>> {
    type Entry = (String, String, String, i64, Option<String>);
    type Detail = (String, String, String, String);
    let entries: Vec<Entry> = serde_json::from_str(entries).map_err(|_| corrupt("timeline"))?;
    let details: Vec<Detail> = serde_json::from_str(details).map_err(|_| corrupt("timeline"))?;
    let entries = entries
        .into_iter()
        .map(|(department, feedback, channel, micros, case_status)| {
            let occurred_at = DateTime::from_timestamp_micros(micros).ok_or_else(|| corrupt("occurred_at"))?;
            Ok(TimelineEntry { department, feedback, channel, occurred_at, case_status })
        })
        .collect::<StoreResult<_>>()?;
    let details = details.into_iter().map(|(d, f, kind, text)| ((d, f), (kind, text))).collect();
    timeline_join(entries, &details, scope)
}

/// A resident's timeline, in time order, from its entries and the kind and text of the
/// feedback behind them that the database shows (`details`; row-level security hides other
/// departments' rows on PostgreSQL). An entry without details, or outside `scope`, carries no
/// kind and text: they leave the store only for departments in `scope`.
///
/// The backends read both sides with a range scan of each table by resident and join them
/// here, not in SQL: a join's plan follows the planner's estimate of a resident's contacts, a
/// handful for most, so a resident with a thousand got a primary-key descent per entry, or on
/// PostgreSQL a nested loop of every entry against every feedback row
/// (docs/write-path-benchmarks.md, "The timeline at 10 M contacts").
pub fn timeline_join(
    mut entries: Vec<TimelineEntry>,
    details: &TimelineDetails,
    scope: &TenantScope,
) -> StoreResult<Vec<TimelineRow>> {
    entries
        .sort_by(|a, b| (a.occurred_at, &a.department, &a.feedback).cmp(&(b.occurred_at, &b.department, &b.feedback)));
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let department_id =
            DepartmentId::parse("department_id", &e.department).map_err(|_| corrupt("department_id"))?;
        let key = (e.department, e.feedback);
        let details = match details.get(&key) {
            Some((kind, text)) if scope.allows(&department_id) => {
                Some((FeedbackKind::parse(kind).ok_or_else(|| corrupt("kind"))?, text.clone()))
            }
            _ => None,
        };
        out.push(TimelineRow {
            feedback_id: FeedbackId::parse("feedback_id", &key.1).map_err(|_| corrupt("feedback_id"))?,
            channel: Channel::parse(&e.channel).ok_or_else(|| corrupt("channel"))?,
            occurred_at: e.occurred_at,
            case_status: e
                .case_status
                .map(|s| CaseStatus::parse(&s).ok_or_else(|| corrupt("case_status")))
                .transpose()?,
            details,
            department_id,
        });
    }
    Ok(out)
}

/// The contact values of the residents `keys` kept by `department`, for
/// [`cityserve_store::FeedbackStore::contact_values`].
pub fn contact_values(lists: crate::args::Lists, department: &DepartmentId, keys: &[&str]) -> crate::args::Select {
    let mut q =
        crate::args::Select::new(lists, "SELECT resident_key, name, email, phone FROM resident_contact_details");
    q.and_eq("department_id", Some(department.as_str()));
    let keys = q.list(keys.iter().copied());
    q.and(&keys.has("resident_key"));
    q
}

/// A [`contact_values`] row: the key and its non-empty values.
pub fn contact_row(row: &impl SqlRow) -> StoreResult<(String, Vec<String>)> {
    let values = [row.text("name")?, row.text("email")?, row.text("phone")?];
    Ok((row.text("resident_key")?, values.into_iter().filter(|v| !v.is_empty()).collect()))
}

/// The departments a timeline read is audited in: those named by the caller and every one the
/// timeline disclosed, each once, in order.
pub fn timeline_audited<'a>(audit_in: &'a [DepartmentId], rows: &'a [TimelineRow]) -> Vec<&'a DepartmentId> {
    let mut audited: Vec<&DepartmentId> = audit_in.iter().chain(rows.iter().map(|r| &r.department_id)).collect();
    audited.sort();
    audited.dedup();
    audited
}

/// Read helpers for feedback and cases, expanded in a backend's feedback module; they run on
/// `crate::Conn`, map errors with `crate::db_err`, and use the backend's `attach_entries` (cases'
/// notes and recovery actions in one statement, which is dialect).
#[macro_export]
macro_rules! feedback_reads {
    () => {
        /// Reads a feedback record.
        pub(crate) async fn read_feedback(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            f: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::Feedback> {
            let row = sqlx::query($crate::feedback::SELECT_FEEDBACK)
                .bind(d.as_str())
                .bind(f)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::feedback(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Reads a case with its notes and recovery actions.
        pub(crate) async fn read_case(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            c: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
            let row = sqlx::query($crate::feedback::SELECT_CASE)
                .bind(d.as_str())
                .bind(c)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            let mut cases = [$crate::rows::case(&row.ok_or(cityserve_store::StoreError::NotFound)?)?];
            attach_entries(conn, &mut cases).await?;
            let [case] = cases;
            Ok(case)
        }

        /// Reads a submission: the feedback and, for a complaint, its case.
        async fn read_submitted(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            f: &str,
        ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
            let feedback = read_feedback(conn, d, f).await?;
            let case = match &feedback.case_id {
                Some(c) => Some(read_case(conn, d, c.as_str()).await?),
                None => None,
            };
            Ok(cityserve_store::feedback::Submitted { feedback, case })
        }

        /// The key recorded for the first known identifier, if any.
        async fn known_key(
            conn: &mut crate::Conn,
            identifiers: &[String],
        ) -> cityserve_store::StoreResult<Option<String>> {
            let named: Vec<&str> = identifiers.iter().map(String::as_str).collect();
            let found = recorded_keys(conn, &named).await?;
            Ok(identifiers.iter().find_map(|i| found.get(i).cloned()))
        }

        /// The key of resident `r` outside a submission (a panel member): the key the identity
        /// index records for their first known identifier, else their fresh key, with every
        /// identifier not yet known recorded under it (a racing first contact's key wins).
        pub(crate) async fn resident_key_of(
            conn: &mut crate::Conn,
            r: &cityserve_domain::ResidentRef,
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<String> {
            let key = known_key(conn, &r.identifiers).await?.unwrap_or_else(|| r.key.clone());
            let sql = $crate::feedback::INSERT_IDENTIFIERS.sql(r.identifiers.len(), crate::PLACEHOLDERS);
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for identifier in &r.identifiers {
                q = q.bind(identifier.as_str()).bind(&key).bind(crate::at(now));
            }
            q.fetch_all(&mut *conn).await.map_err(crate::db_err)?;
            Ok(known_key(conn, &r.identifiers).await?.unwrap_or(key))
        }

        /// The keys the identity index records for `identifiers`.
        async fn recorded_keys(
            conn: &mut crate::Conn,
            identifiers: &[&str],
        ) -> cityserve_store::StoreResult<std::collections::HashMap<String, String>> {
            use $crate::SqlRow as _;
            let mut found = std::collections::HashMap::with_capacity(identifiers.len());
            for range in $crate::write::chunks(identifiers.len(), crate::SPLIT) {
                let sql = $crate::feedback::SELECT_RESIDENT_KEYS.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in &identifiers[range] {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(&mut *conn).await.map_err(crate::db_err)? {
                    found.insert(row.text("identifier")?, row.text("resident_key")?);
                }
            }
            Ok(found)
        }

        /// What every submission to department `d` is checked against.
        pub(crate) async fn intake(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<$crate::feedback::Intake> {
            intake_for(conn, d, true).await
        }

        /// [`intake`], reading the service standards only when `complaints` may open cases (only
        /// cases use them): the department and its active categories come in one statement.
        pub(crate) async fn intake_for(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            complaints: bool,
        ) -> cityserve_store::StoreResult<$crate::feedback::Intake> {
            let row = sqlx::query($crate::feedback::SELECT_INTAKE)
                .bind(d.as_str())
                .bind(cityserve_domain::ServiceCategoryStatus::Active.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?
                .ok_or(cityserve_store::StoreError::NotFound)?;
            let mut intake = $crate::feedback::intake_row(&row)?;
            if complaints {
                intake.standards = crate::read_standards(conn, d).await?;
            }
            Ok(intake)
        }
    };
}

mod case_commit;
mod group_commit;
mod insert;
mod store;

#[cfg(test)]
mod batch_record_tests {
    use super::*;

    #[test]
    fn a_refusal_with_commas_and_percent_signs_reads_back_whole() {
        let reason = "category a,b is 100% inactive";
        let record = batch_record(&[Err(StoreError::FailedPrecondition(reason.into()))]);
        assert_eq!(batch_replay(&record), [Err(StoreError::FailedPrecondition(reason.into()))]);
        assert_eq!(batch_replay("f1,f2"), [Ok("f1"), Ok("f2")]);
        assert!(batch_replay("").is_empty());
    }

    #[test]
    fn an_invalid_item_reads_back_as_invalid_with_its_fields() {
        let mut v = cityserve_domain::ValidationError::default();
        v.push("feedback.attributes[state]", "\"closed\" is not one of its choices (leaking, open)");
        v.push("feedback.attributes[gallons]", "must be a number, not \"5%\"");
        let record = batch_record(&[Err(StoreError::Invalid(v.clone()))]);
        assert_eq!(batch_replay(&record), [Err(StoreError::Invalid(v))]);
    }
}
