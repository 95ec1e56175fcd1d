//! [`cityserve_store::FeedbackStore`] on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::feedback_store!`]) plus what is PostgreSQL's own (UNNEST, array
//! parameters, row locks). Row-level security scopes every table; the timeline's metadata table is
//! readable city-wide by design (see migrations/postgres/0003_feedback.sql).
use crate::{PgStore, audit, db_err, scope_ids};
use chrono::{DateTime, Utc};
use cityserve_domain::{Case, DepartmentId, PageRequest, TenantScope};
use cityserve_store::feedback::{CaseFilter, CaseOrder, FeedbackFilter, Source, TimelineRow};
use cityserve_store::{StoreResult, WriteCtx, resource};
use cityserve_store_sql::corrupt;
use cityserve_store_sql::feedback::{CaseCursor, TimelineDetails, TimelineEntry, timeline_audited, timeline_join};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};

pub(crate) use cityserve_store_sql::feedback::{CASE_COLUMNS, FEEDBACK_COLUMNS, Origin};
pub(crate) use cityserve_store_sql::rows::{case as case_from, feedback as feedback_from};

cityserve_store_sql::feedback_reads!();
cityserve_store_sql::feedback_store!(PgStore);

/// Reads the case to save and locks its row: concurrent saves of one case serialize.
const LOCK_CASE: &str = cityserve_store_sql::feedback::SELECT_CASE_FOR_UPDATE;
/// Many cases' mutable fields at once, the `VALUES` typed: PostgreSQL types an untyped
/// parameter of `VALUES` as text.
const UPDATE_CASES: cityserve_store_sql::write::MultiRow = cityserve_store_sql::write::MultiRow {
    row: "($1, $2, $3::timestamptz, $4::timestamptz, $5::timestamptz, $6, $7::integer, $8, $9::boolean,
          $10::timestamptz, $11, $12, $13::bigint, $14::timestamptz, $15::bigint)",
    ..cityserve_store_sql::feedback::UPDATE_CASES
};
/// [`LOCK_CASE`] for many cases at once (a batch of case changes).
const LOCK_CASES: cityserve_store_sql::write::MultiRow = cityserve_store_sql::feedback::SELECT_CASES_FOR_UPDATE;

/// Asked of a function running as the schema owner: row-level security hides other departments'
/// rows (migrations/postgres/0003_feedback.sql).
const DEPARTMENT_IS_ACTIVE: &str = "SELECT department_is_active($1)";

/// A case's path as `cases.path` (`text[]`) binds it.
fn path_value(path: &[DepartmentId]) -> Vec<&str> {
    path.iter().map(DepartmentId::as_str).collect()
}

/// Adds each case's notes and recovery actions, in one query for the whole slice.
async fn attach_entries(conn: &mut PgConnection, cases: &mut [Case]) -> StoreResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let departments: Vec<&str> = cases.iter().map(|c| c.department_id.as_str()).collect();
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT e.department_id, e.case_id, e.kind, e.text, e.actor, e.at, e.public
         FROM case_entries e
         JOIN unnest($1::text[], $2::text[]) AS k (department_id, case_id)
           ON e.department_id = k.department_id AND e.case_id = k.case_id
         ORDER BY e.entry_no",
    )
    .bind(&departments)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in &rows {
        cityserve_store_sql::feedback::attach_entry(cases, row)?;
    }
    Ok(())
}

/// A page (plus one) of the feedback in `scope` that `filter` admits, newest first.
async fn feedback_rows(
    conn: &mut PgConnection,
    scope: &TenantScope,
    filter: &FeedbackFilter,
    page: &PageRequest,
) -> StoreResult<Vec<PgRow>> {
    let source = match filter.source {
        Some(Source::Residents) => " AND internal_customer IS NULL",
        Some(Source::InternalCustomers) => " AND internal_customer IS NOT NULL",
        None => "",
    };
    let sql = format!(
        "SELECT {FEEDBACK_COLUMNS} FROM feedback
         WHERE ($1::text IS NULL OR feedback_id < $1)
           AND ($2::text IS NULL OR department_id = $2)
           AND ($3::text IS NULL OR kind = $3)
           AND ($4::text IS NULL OR channel = $4)
           AND ($5::text IS NULL OR category_id = $5)
           AND ($6::text[] IS NULL OR department_id = ANY($6)){source}
           AND ($8::timestamptz IS NULL OR (occurred_at >= $8 AND occurred_at < $9))
         ORDER BY feedback_id DESC LIMIT $7"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(page.after.as_deref())
        .bind(filter.department.as_ref().map(|d| d.as_str()))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.channel.map(|c| c.as_str()))
        .bind(filter.category.as_ref().map(|c| c.as_str()))
        .bind(scope_ids(scope))
        .bind(i64::from(page.size) + 1)
        .bind(filter.occurred.map(|p| p.start))
        .bind(filter.occurred.map(|p| p.end))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)
}

/// Up to `limit` cases in `scope` that `filter` admits, in `order`, after `cursor`.
async fn case_rows(
    conn: &mut PgConnection,
    scope: &TenantScope,
    filter: &CaseFilter,
    order: CaseOrder,
    cursor: Option<&CaseCursor>,
    limit: i64,
) -> StoreResult<Vec<PgRow>> {
    let (after, order_by) = match order {
        CaseOrder::Newest => ("($8::text IS NULL OR case_id < $8)", "case_id DESC"),
        CaseOrder::ResolveDue => {
            ("($8::text IS NULL OR resolve_due > $9 OR (resolve_due = $9 AND case_id > $8))", "resolve_due, case_id")
        }
    };
    // The overdue rule is Case::overdue's.
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM cases
         WHERE ($1::text IS NULL OR department_id = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR assignee = $3)
           AND ($4::text IS NULL OR category_id = $4)
           AND ($5::text[] IS NULL OR department_id = ANY($5))
           AND ($6::timestamptz IS NULL
                OR (waiting_since IS NULL AND status = 'open' AND acknowledge_due < $6)
                OR (waiting_since IS NULL AND status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < $6))
           AND ($10::timestamptz IS NULL OR (received_at >= $10 AND received_at < $11))
           AND {after}
         ORDER BY {order_by} LIMIT $7"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(filter.department.as_ref().map(|d| d.as_str()))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.assignee.as_ref().map(|a| a.as_str()))
        .bind(filter.category.as_ref().map(|c| c.as_str()))
        .bind(scope_ids(scope))
        .bind(filter.overdue_at)
        .bind(limit)
        .bind(cursor.map(|c| c.id.as_str()))
        .bind(cursor.and_then(|c| c.resolve_due).unwrap_or_default())
        .bind(filter.received.map(|p| p.start))
        .bind(filter.received.map(|p| p.end))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)
}

/// A resident's timeline (`$1`) as two range scans in one statement, each side as arrays in one
/// row (see `resident_timeline_in`); texts cut to
/// [`cityserve_store_sql::feedback::TIMELINE_TEXT_CHARS`] characters.
const TIMELINE: &str = "SELECT e.*, d.* FROM
           (SELECT coalesce(array_agg(department_id), '{}') AS departments,
                   coalesce(array_agg(feedback_id), '{}') AS feedback,
                   coalesce(array_agg(channel), '{}') AS channels,
                   coalesce(array_agg(occurred_at), '{}') AS times,
                   coalesce(array_agg(case_status), '{}') AS statuses
            FROM timeline_entries WHERE resident_key = $1) e,
           (SELECT coalesce(array_agg(department_id), '{}') AS shown_departments,
                   coalesce(array_agg(feedback_id), '{}') AS shown_feedback,
                   coalesce(array_agg(kind), '{}') AS kinds,
                   coalesce(array_agg(left(text, 141)), '{}') AS texts
            FROM feedback WHERE resident_key = $1) d";

impl PgStore {
    /// A resident's timeline, read and audited in one write transaction. Not read first and
    /// audited through group commit as on SQLite (`GROUPED_READ_AUDITS`): here a transaction
    /// for the read and one for a batch of audits measured slower than one transaction doing
    /// both (docs/write-path-benchmarks.md, "Timeline audits in batches").
    async fn resident_timeline_in(
        &self,
        ctx: &WriteCtx<'_>,
        audit_in: &[DepartmentId],
        resident_key: &str,
    ) -> StoreResult<Vec<TimelineRow>> {
        let mut tx = self.write(ctx).await?;
        // Two range scans by resident in one statement, joined in Rust (`timeline_join`). Each
        // side comes back as arrays in one row: JSON cost PostgreSQL a type lookup per value,
        // and a row per entry cost the server more than the arrays do
        // (docs/write-path-benchmarks.md, "The timeline at 10 M contacts"). Row-level security
        // hides other departments' feedback rows, not their entries.
        let row = sqlx::query(TIMELINE).bind(resident_key).fetch_one(&mut *tx).await.map_err(db_err)?;
        let column = |name: &str| row.try_get::<Vec<String>, _>(name).map_err(|_| corrupt(name));
        let times: Vec<DateTime<Utc>> = row.try_get("times").map_err(|_| corrupt("times"))?;
        let statuses: Vec<Option<String>> = row.try_get("statuses").map_err(|_| corrupt("statuses"))?;
        let entries = (column("departments")?.into_iter().zip(column("feedback")?))
            .zip(column("channels")?.into_iter().zip(times).zip(statuses))
            .map(|((department, feedback), ((channel, occurred_at), case_status))| TimelineEntry {
                department,
                feedback,
                channel,
                occurred_at,
                case_status,
            })
            .collect();
        let details: TimelineDetails = (column("shown_departments")?.into_iter().zip(column("shown_feedback")?))
            .zip(column("kinds")?.into_iter().zip(column("texts")?))
            .collect();
        let out = timeline_join(entries, &details, ctx.scope)?;
        audit(&mut tx, ctx, &timeline_audited(audit_in, &out), &resource::resident(resident_key)).await?;
        self.commit(tx).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_timeline_reads_as_much_text_as_a_summary_needs() {
        let cut = format!("left(text, {})", cityserve_store_sql::feedback::TIMELINE_TEXT_CHARS);
        assert!(super::TIMELINE.contains(&cut), "{cut} in {}", super::TIMELINE);
    }
}
