//! Resident notices, written once for both databases: the statement that queues a notice with a
//! case change ([`queue_notice!`], expanded into the case write), and the whole
//! [`cityserve_store::NoticeStore`] implementation ([`notice_store!`]). Notice times are
//! microseconds since the epoch (`bigint`) on both databases, like leases, so every statement
//! and bind is the same.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::{SqlRow, corrupt};
use cityserve_domain::notice::{Notice, NoticeChannel, NoticeEvent, NoticeState, NoticeTemplate};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::notices::DueNotice;
use cityserve_store::{StoreError, StoreResult};

/// Queues notice `$3` about case `$2` of department `$1` (event `$4`, at `$5`) for resident `$6`
/// when they chose e-mail or SMS with the department, in the complaint's language. Inserts
/// nothing otherwise.
pub const QUEUE_NOTICE: &str = "INSERT INTO notices (department_id, notice_id, case_id, resident_key, event, channel,
         language, state, attempts, last_error, create_at, next_attempt_at)
     SELECT r.department_id, $3, $2, r.resident_key, $4, r.notice_channel,
         COALESCE((SELECT f.language FROM feedback f WHERE f.department_id = $1 AND f.feedback_id = $2), 'en'),
         'pending', 0, '', $5, $5
     FROM resident_contact_details r
     WHERE r.department_id = $1 AND r.resident_key = $6 AND r.notice_channel IN ('email', 'sms')";

/// The columns [`notice`] reads, of `notices n`.
pub const NOTICE_COLUMNS: &str = "n.department_id, n.notice_id, n.case_id, n.event, n.channel, n.language, n.state, \
     n.attempts, n.last_error, n.create_at, n.next_attempt_at, n.sent_at";

/// Pending notices due at `$1`, soonest first, at most `$2`, with the address the resident's
/// current choice gives (empty when erased or no longer wanted) and the names a text needs.
pub fn due_notices_sql() -> String {
    format!(
        "SELECT {NOTICE_COLUMNS},
             CASE WHEN r.notice_channel = 'email' AND n.channel = 'email' THEN r.email
                  WHEN r.notice_channel = 'sms' AND n.channel = 'sms' THEN r.phone
                  ELSE '' END AS address,
             d.display_name AS department_name, c.resolve_due, c.status AS case_status,
             COALESCE(o.display_name, '') AS owner_name
         FROM notices n
         JOIN departments d ON d.department_id = n.department_id
         JOIN cases c ON c.department_id = n.department_id AND c.case_id = n.case_id
         LEFT JOIN resident_contact_details r ON r.department_id = n.department_id AND r.resident_key = n.resident_key
         LEFT JOIN departments o ON o.department_id = c.owner_department
         WHERE n.state = 'pending' AND n.next_attempt_at <= $1
         ORDER BY n.next_attempt_at
         LIMIT $2"
    )
}

/// A department's (`$1`) notices, newest first, after key `$2` (`''`: from the newest; IDs are
/// time-ordered), in state `$3` and about case `$4` when those are not `''`, at most `$5`.
pub fn list_notices_sql() -> String {
    format!(
        "SELECT {NOTICE_COLUMNS} FROM notices n
         WHERE n.department_id = $1 AND ($2 = '' OR n.notice_id < $2)
           AND ($3 = '' OR n.state = $3) AND ($4 = '' OR n.case_id = $4)
         ORDER BY n.notice_id DESC
         LIMIT $5"
    )
}

/// Delivery outcomes of a pending notice (`$1` department, `$2` notice).
pub const SENT: &str = "UPDATE notices SET state = 'sent', attempts = attempts + 1, sent_at = $3,
     next_attempt_at = NULL, last_error = '' WHERE department_id = $1 AND notice_id = $2 AND state = 'pending'";
/// A failed attempt, to be retried at `$3`; why in `$4`.
pub const RETRY: &str = "UPDATE notices SET attempts = attempts + 1, next_attempt_at = $3, last_error = $4
     WHERE department_id = $1 AND notice_id = $2 AND state = 'pending'";
/// The last failed attempt; why in `$3`.
pub const DEAD: &str = "UPDATE notices SET state = 'dead', attempts = attempts + 1, next_attempt_at = NULL,
     last_error = $3 WHERE department_id = $1 AND notice_id = $2 AND state = 'pending'";
/// Held back until `$3`, no attempt made (a survey invitation's delay, opening hours).
pub const DEFER: &str = "UPDATE notices SET next_attempt_at = $3
     WHERE department_id = $1 AND notice_id = $2 AND state = 'pending'";
/// Spends survey invitation `$2`'s token for case `$3` of department `$1` at `$4`: one row when
/// this is its first answer, none when it was answered before (or is no such invitation).
pub const ANSWER_SURVEY: &str = "UPDATE notices SET answered_at = $4
     WHERE department_id = $1 AND notice_id = $2 AND case_id = $3 AND event = 'survey' AND answered_at IS NULL";
/// Not to be sent.
pub const CANCEL: &str = "UPDATE notices SET state = 'cancelled', next_attempt_at = NULL
     WHERE department_id = $1 AND notice_id = $2 AND state = 'pending'";
/// Erasure: cancels a resident's (`$2`) pending notices with a department (`$1`) and unlinks all.
pub const ERASE_NOTICES: [&str; 2] = [
    "UPDATE notices SET state = 'cancelled', next_attempt_at = NULL
     WHERE department_id = $1 AND resident_key = $2 AND state = 'pending'",
    "UPDATE notices SET resident_key = NULL WHERE department_id = $1 AND resident_key = $2",
];

/// The columns [`template`] reads.
pub const TEMPLATE_COLUMNS: &str = "department_id, event, language, subject, body, revision, update_time";

/// The stored department of a template: `''` for the city-wide default.
pub fn template_owner(d: Option<&DepartmentId>) -> &str {
    d.map_or("", |d| d.as_str())
}

/// Fails with [`StoreError::NotFound`] unless `scope` may read templates of `d` (the city-wide
/// ones are read by everyone).
pub fn template_in_scope(scope: &TenantScope, d: Option<&DepartmentId>) -> StoreResult<()> {
    match d {
        Some(d) => crate::in_scope(scope, d),
        None => Ok(()),
    }
}

/// A template row.
pub fn template(row: &impl SqlRow) -> StoreResult<NoticeTemplate> {
    let d = row.text("department_id")?;
    Ok(NoticeTemplate {
        department_id: if d.is_empty() {
            None
        } else {
            Some(DepartmentId::parse("department_id", &d).map_err(|_| corrupt("department_id"))?)
        },
        event: NoticeEvent::parse(&row.text("event")?).ok_or_else(|| corrupt("event"))?,
        language: row.text("language")?,
        subject: row.text("subject")?,
        body: row.text("body")?,
        revision: row.int("revision")?,
        update_time: row.time("update_time")?,
    })
}

fn micros(row: &impl SqlRow, col: &str) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    row.opt_int(col)?.map(|v| chrono::DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))).transpose()
}

/// A notice row ([`NOTICE_COLUMNS`]).
pub fn notice(row: &impl SqlRow) -> StoreResult<Notice> {
    Ok(Notice {
        department_id: DepartmentId::parse("department_id", &row.text("department_id")?)
            .map_err(|_| corrupt("department_id"))?,
        id: row.text("notice_id")?,
        case_id: row.text("case_id")?,
        event: NoticeEvent::parse(&row.text("event")?).ok_or_else(|| corrupt("event"))?,
        channel: NoticeChannel::parse(&row.text("channel")?).ok_or_else(|| corrupt("channel"))?,
        language: row.text("language")?,
        state: NoticeState::parse(&row.text("state")?).ok_or_else(|| corrupt("state"))?,
        attempts: row.int32("attempts")?,
        last_error: row.text("last_error")?,
        create_time: micros(row, "create_at")?.ok_or_else(|| corrupt("create_at"))?,
        next_attempt_time: micros(row, "next_attempt_at")?,
        send_time: micros(row, "sent_at")?,
    })
}

/// A due notice row ([`due_notices_sql`]).
pub fn due_notice(row: &impl SqlRow) -> StoreResult<DueNotice> {
    Ok(DueNotice {
        notice: notice(row)?,
        address: row.opt_text("address")?.unwrap_or_default(),
        department_name: row.text("department_name")?,
        resolve_due: row.time("resolve_due")?,
        case_status: cityserve_domain::CaseStatus::parse(&row.text("case_status")?)
            .ok_or_else(|| corrupt("case_status"))?,
        owner_department_name: row.text("owner_name")?,
    })
}

/// The error when a template's stored revision is not the expected one: missing, or changed.
pub fn template_mismatch(exists: bool, expected: Option<i64>) -> StoreError {
    match (exists, expected) {
        (true, None) => StoreError::AlreadyExists,
        (true, Some(_)) => StoreError::Conflict,
        (false, _) => StoreError::NotFound,
    }
}

/// Queues the notice a case change from `$current` to `$case` tells its resident about, if any
/// ([`cityserve_domain::notice::notice_event`]), in the change's transaction `$conn`.
#[macro_export]
macro_rules! queue_notice {
    ($conn:expr, $current:expr, $case:expr, $now:expr) => {{
        let (current, case): (&cityserve_domain::Case, &cityserve_domain::Case) = ($current, $case);
        let mut queued: cityserve_store::StoreResult<()> = Ok(());
        if let (Some(event), Some(resident)) =
            (cityserve_domain::notice::notice_event(current, case), case.resident_key.as_deref())
        {
            // A resolution is followed by the survey invitation (the notifier holds it back for
            // the configured delay and the department's opening hours).
            let survey = (event == cityserve_domain::notice::NoticeEvent::Resolved)
                .then_some(cityserve_domain::notice::NoticeEvent::SurveyInvitation);
            for e in std::iter::once(event).chain(survey) {
                if queued.is_ok() {
                    queued = sqlx::query($crate::notices::QUEUE_NOTICE)
                        .bind(case.department_id.as_str())
                        .bind(case.id.as_str())
                        .bind(cityserve_store::generated_id("n"))
                        .bind(e.as_str())
                        .bind($now.timestamp_micros())
                        .bind(resident)
                        .execute(&mut *$conn)
                        .await
                        .map(|_| ())
                        .map_err(crate::db_err);
                }
            }
        }
        queued
    }};
}

/// `impl NoticeStore for $store`, expanded in a backend, which provides `db_err`, `record`,
/// `self.write(ctx)`, `self.write_as(scope, actor)`, `self.read(scope)` and `self.commit(tx)`.
#[macro_export]
macro_rules! notice_store {
    ($store:ty) => {
        impl cityserve_store::NoticeStore for $store {
            async fn put_notice_template(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                home: &cityserve_domain::DepartmentId,
                t: &cityserve_domain::notice::NoticeTemplate,
                expected: Option<i64>,
            ) -> cityserve_store::StoreResult<cityserve_domain::notice::NoticeTemplate> {
                let d = t.department_id.as_ref();
                $crate::notices::template_in_scope(ctx.scope, d)?;
                let owner = $crate::notices::template_owner(d);
                let now = cityserve_store::now_micros();
                let mut tx = self.write(ctx).await?;
                let changed = match expected {
                    None => sqlx::query(
                        "INSERT INTO notice_templates (department_id, event, language, subject, body, revision, update_time)
                         VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT DO NOTHING",
                    )
                    .bind(owner)
                    .bind(t.event.as_str())
                    .bind(&t.language)
                    .bind(&t.subject)
                    .bind(&t.body)
                    .bind(crate::at(now))
                    .execute(&mut *tx)
                    .await,
                    Some(rev) => sqlx::query(
                        "UPDATE notice_templates SET subject = $4, body = $5, revision = revision + 1, update_time = $6
                         WHERE department_id = $1 AND event = $2 AND language = $3 AND revision = $7",
                    )
                    .bind(owner)
                    .bind(t.event.as_str())
                    .bind(&t.language)
                    .bind(&t.subject)
                    .bind(&t.body)
                    .bind(crate::at(now))
                    .bind(rev)
                    .execute(&mut *tx)
                    .await,
                }
                .map_err(crate::db_err)?;
                let sql = format!(
                    "SELECT {} FROM notice_templates WHERE department_id = $1 AND event = $2 AND language = $3",
                    $crate::notices::TEMPLATE_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(owner)
                    .bind(t.event.as_str())
                    .bind(&t.language)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if changed.rows_affected() != 1 {
                    return Err($crate::notices::template_mismatch(row.is_some(), expected));
                }
                let saved = $crate::notices::template(&row.ok_or(cityserve_store::StoreError::NotFound)?)?;
                let name = cityserve_store::resource::notice_template(d, &saved.id());
                crate::record(&mut tx, ctx, home, &name, serde_json::json!({ "template": saved.id() })).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn delete_notice_template(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                home: &cityserve_domain::DepartmentId,
                department: Option<&cityserve_domain::DepartmentId>,
                event: cityserve_domain::notice::NoticeEvent,
                language: &str,
                expected: Option<i64>,
            ) -> cityserve_store::StoreResult<()> {
                $crate::notices::template_in_scope(ctx.scope, department)?;
                let owner = $crate::notices::template_owner(department);
                let mut tx = self.write(ctx).await?;
                let revision: Option<i64> = sqlx::query_scalar(
                    "SELECT revision FROM notice_templates WHERE department_id = $1 AND event = $2 AND language = $3",
                )
                .bind(owner)
                .bind(event.as_str())
                .bind(language)
                .fetch_optional(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                match (revision, expected) {
                    (None, _) => return Err(cityserve_store::StoreError::NotFound),
                    (Some(r), Some(e)) if r != e => return Err(cityserve_store::StoreError::Conflict),
                    _ => {}
                }
                sqlx::query("DELETE FROM notice_templates WHERE department_id = $1 AND event = $2 AND language = $3")
                    .bind(owner)
                    .bind(event.as_str())
                    .bind(language)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let id = cityserve_domain::notice::template_id(event, language);
                let name = cityserve_store::resource::notice_template(department, &id);
                crate::record(&mut tx, ctx, home, &name, serde_json::json!({ "template": id, "deleted": true })).await?;
                self.commit(tx).await
            }

            async fn notice_templates(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: Option<&cityserve_domain::DepartmentId>,
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::notice::NoticeTemplate>> {
                $crate::notices::template_in_scope(scope, department)?;
                let sql = format!(
                    "SELECT {} FROM notice_templates WHERE department_id = $1 ORDER BY event, language LIMIT 1000",
                    $crate::notices::TEMPLATE_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind($crate::notices::template_owner(department))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                rows.iter().map($crate::notices::template).collect()
            }

            async fn list_notices(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                filter: &cityserve_store::notices::NoticeFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::notice::Notice>> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe($crate::notices::list_notices_sql()))
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(filter.state.map_or("", |s| s.as_str()))
                    .bind(filter.case_id.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::notices::notice).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |n| n.id.clone()))
            }

            async fn due_notices(
                &self,
                scope: &cityserve_domain::TenantScope,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::notices::DueNotice>> {
                $crate::lease::system_actor(scope, "notifier")?;
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe($crate::notices::due_notices_sql()))
                    .bind(now.timestamp_micros())
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                rows.iter().map($crate::notices::due_notice).collect()
            }

            async fn record_delivery(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                notice_id: &str,
                outcome: &cityserve_store::notices::Delivery,
            ) -> cityserve_store::StoreResult<()> {
                use cityserve_store::notices::Delivery;
                let actor = $crate::lease::system_actor(scope, "notifier")?;
                let mut tx = self.write_as(scope, &actor).await?;
                let q = match outcome {
                    Delivery::Sent(at) => sqlx::query($crate::notices::SENT)
                        .bind(department.as_str())
                        .bind(notice_id)
                        .bind(at.timestamp_micros()),
                    Delivery::Retry { at, error } => sqlx::query($crate::notices::RETRY)
                        .bind(department.as_str())
                        .bind(notice_id)
                        .bind(at.timestamp_micros())
                        .bind(error.clone()),
                    Delivery::Dead(error) => sqlx::query($crate::notices::DEAD)
                        .bind(department.as_str())
                        .bind(notice_id)
                        .bind(error.clone()),
                    Delivery::Defer(at) => sqlx::query($crate::notices::DEFER)
                        .bind(department.as_str())
                        .bind(notice_id)
                        .bind(at.timestamp_micros()),
                    Delivery::Cancelled => {
                        sqlx::query($crate::notices::CANCEL).bind(department.as_str()).bind(notice_id)
                    }
                };
                let done = q.execute(&mut *tx).await.map_err(crate::db_err)?;
                if done.rows_affected() == 1 && !matches!(outcome, Delivery::Retry { .. } | Delivery::Defer(_)) {
                    // Sent, dead-lettered or cancelled: audited, and an event for Watch and NATS.
                    let state = match outcome {
                        Delivery::Sent(_) => "sent",
                        Delivery::Dead(_) => "dead_letter",
                        _ => "cancelled",
                    };
                    let ctx = cityserve_store::WriteCtx {
                        scope,
                        actor: &actor,
                        action: cityserve_domain::AuditAction::NoticeDeliver.as_str(),
                        trace_id: None,
                    };
                    let name = cityserve_store::resource::notice(department, notice_id);
                    crate::record(&mut tx, &ctx, department, &name, serde_json::json!({ "notice": notice_id, "state": state }))
                        .await?;
                }
                self.commit(tx).await
            }
        }
    };
}
