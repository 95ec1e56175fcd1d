//! [`cityserve_store::FeedbackStore`] on SQLite: the shared implementation
//! ([`cityserve_store_sql::feedback_store!`]) plus what is SQLite's own (multi-row statements,
//! listings assembled from the filters present, the timeline read on a reader connection).
use crate::{Bind, SqliteStore, db_err, micros, scope_clause};
use cityserve_domain::{Case, DepartmentId, PageRequest, TenantScope};
use cityserve_store::feedback::{CaseFilter, CaseOrder, FeedbackFilter, Source, TimelineRow};
use cityserve_store::{StoreResult, WriteCtx, resource};
use cityserve_store_sql::feedback::{CaseCursor, timeline_audited, timeline_rows};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

pub(crate) use cityserve_store_sql::feedback::{CASE_COLUMNS, FEEDBACK_COLUMNS, Origin};
pub(crate) use cityserve_store_sql::rows::{case as case_from, feedback as feedback_from};

cityserve_store_sql::feedback_reads!();
cityserve_store_sql::feedback_store!(SqliteStore);

/// Reads the case to save. No row lock is needed: writes are serialised on the writer connection.
const LOCK_CASE: &str = cityserve_store_sql::feedback::SELECT_CASE;
/// Many cases' mutable fields at once.
const UPDATE_CASES: cityserve_store_sql::write::MultiRow = cityserve_store_sql::feedback::UPDATE_CASES;
/// [`LOCK_CASE`] for many cases at once (a batch of case changes).
const LOCK_CASES: cityserve_store_sql::write::MultiRow = cityserve_store_sql::feedback::SELECT_CASES;

/// Whether department `$1` exists and is active.
const DEPARTMENT_IS_ACTIVE: &str =
    "SELECT EXISTS (SELECT 1 FROM departments WHERE department_id = $1 AND status = 'active')";

/// A case's path as `cases.path` (a JSON array) binds it.
fn path_value(path: &[DepartmentId]) -> String {
    crate::text_list(path)
}

/// Adds each case's notes and recovery actions, in one query for the whole slice.
async fn attach_entries(conn: &mut SqliteConnection, cases: &mut [Case]) -> StoreResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "SELECT department_id, case_id, kind, text, actor, at, public FROM case_entries
         WHERE (department_id, case_id) IN ({}) ORDER BY entry_no",
        vec!["(?, ?)"; cases.len()].join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for c in cases.iter() {
        q = q.bind(c.department_id.as_str()).bind(c.id.as_str());
    }
    for row in &q.fetch_all(&mut *conn).await.map_err(db_err)? {
        cityserve_store_sql::feedback::attach_entry(cases, row)?;
    }
    Ok(())
}

/// A page (plus one) of the feedback in `scope` that `filter` admits, newest first.
async fn feedback_rows(
    conn: &mut SqliteConnection,
    scope: &TenantScope,
    filter: &FeedbackFilter,
    page: &PageRequest,
) -> StoreResult<Vec<SqliteRow>> {
    let mut sql = format!("SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE (? = '' OR feedback_id < ?)");
    let mut binds: Vec<String> = Vec::new();
    if let Some(d) = &filter.department {
        sql.push_str(" AND department_id = ?");
        binds.push(d.to_string());
    }
    if let Some(k) = filter.kind {
        sql.push_str(" AND kind = ?");
        binds.push(k.as_str().into());
    }
    if let Some(c) = filter.channel {
        sql.push_str(" AND channel = ?");
        binds.push(c.as_str().into());
    }
    if let Some(c) = &filter.category {
        sql.push_str(" AND category_id = ?");
        binds.push(c.to_string());
    }
    match filter.source {
        Some(Source::Residents) => sql.push_str(" AND internal_customer IS NULL"),
        Some(Source::InternalCustomers) => sql.push_str(" AND internal_customer IS NOT NULL"),
        None => {}
    }
    if let Some(clause) = scope_clause(scope, "department_id") {
        sql.push_str(&format!(" AND {clause}"));
    }
    if filter.occurred.is_some() {
        sql.push_str(" AND occurred_at >= ? AND occurred_at < ?");
    }
    sql.push_str(" ORDER BY feedback_id DESC LIMIT ?");
    let after = page.after.clone().unwrap_or_default();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.clone()).bind(after);
    for b in binds {
        q = q.bind(b);
    }
    for d in scope.departments().unwrap_or_default() {
        q = q.bind(d.as_str());
    }
    if let Some(p) = filter.occurred {
        q = q.bind(micros(p.start)).bind(micros(p.end));
    }
    q.bind(i64::from(page.size) + 1).fetch_all(&mut *conn).await.map_err(db_err)
}

/// Up to `limit` cases in `scope` that `filter` admits, in `order`, after `cursor`.
async fn case_rows(
    conn: &mut SqliteConnection,
    scope: &TenantScope,
    filter: &CaseFilter,
    order: CaseOrder,
    cursor: Option<&CaseCursor>,
    limit: i64,
) -> StoreResult<Vec<SqliteRow>> {
    let mut sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE 1 = 1");
    let mut binds: Vec<Bind> = Vec::new();
    if let Some(d) = &filter.department {
        sql.push_str(" AND department_id = ?");
        binds.push(Bind::Text(d.to_string()));
    }
    if let Some(s) = filter.status {
        sql.push_str(" AND status = ?");
        binds.push(Bind::Text(s.as_str().into()));
    }
    if let Some(a) = &filter.assignee {
        sql.push_str(" AND assignee = ?");
        binds.push(Bind::Text(a.to_string()));
    }
    if let Some(c) = &filter.category {
        sql.push_str(" AND category_id = ?");
        binds.push(Bind::Text(c.to_string()));
    }
    if let Some(clause) = scope_clause(scope, "department_id") {
        sql.push_str(&format!(" AND {clause}"));
        binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
    }
    // Same rule as Case::overdue.
    if let Some(at) = filter.overdue_at {
        sql.push_str(
            " AND waiting_since IS NULL AND ((status = 'open' AND acknowledge_due < ?)
               OR (status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < ?))",
        );
        binds.extend([Bind::Int(micros(at)), Bind::Int(micros(at))]);
    }
    if let Some(p) = filter.received {
        sql.push_str(" AND received_at >= ? AND received_at < ?");
        binds.extend([Bind::Int(micros(p.start)), Bind::Int(micros(p.end))]);
    }
    match cursor {
        Some(CaseCursor { id, resolve_due: Some(t) }) => {
            sql.push_str(" AND (resolve_due > ? OR (resolve_due = ? AND case_id > ?))");
            binds.extend([Bind::Int(micros(*t)), Bind::Int(micros(*t)), Bind::Text(id.clone())]);
        }
        Some(CaseCursor { id, resolve_due: None }) => {
            sql.push_str(" AND case_id < ?");
            binds.push(Bind::Text(id.clone()));
        }
        None => {}
    }
    sql.push_str(match order {
        CaseOrder::Newest => " ORDER BY case_id DESC LIMIT ?",
        CaseOrder::ResolveDue => " ORDER BY resolve_due, case_id LIMIT ?",
    });
    let q = crate::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
    q.bind(limit).fetch_all(&mut *conn).await.map_err(db_err)
}

/// A resident's timeline (`?1`) as two range scans in one statement, each side one JSON value
/// (see `resident_timeline_in`); texts cut to
/// [`cityserve_store_sql::feedback::TIMELINE_TEXT_CHARS`] characters. Unordered: `timeline_join`
/// puts the entries in time order for both backends.
const TIMELINE: &str =
    "SELECT (SELECT json_group_array(json_array(department_id, feedback_id, channel, occurred_at, case_status))
             FROM timeline_entries WHERE resident_key = ?1),
            (SELECT json_group_array(json_array(department_id, feedback_id, kind, substr(text, 1, 141)))
             FROM feedback WHERE resident_key = ?1)";

impl SqliteStore {
    /// A resident's timeline, read on a reader connection (so a long history does not hold up
    /// every writer), then audited ([`SqliteStore::audit_read`]: with group commit, in a batch
    /// with the other reads audited at the same moment): nothing is returned unless the audit
    /// rows commit.
    async fn resident_timeline_in(
        &self,
        ctx: &WriteCtx<'_>,
        audit_in: &[DepartmentId],
        resident_key: &str,
    ) -> StoreResult<Vec<TimelineRow>> {
        let mut conn = self.read_conn().await?;
        // Two range scans by resident in one statement, joined in Rust (`timeline_rows`); each
        // side is one row holding a JSON array: a thousand rows would each cross from SQLite's
        // thread to the runtime on their own (measured: a third of the call).
        let (entries, details): (String, String) =
            sqlx::query_as(TIMELINE).bind(resident_key).fetch_one(&mut *conn).await.map_err(db_err)?;
        drop(conn);
        let out = timeline_rows(&entries, &details, ctx.scope)?;
        self.audit_read(ctx, &timeline_audited(audit_in, &out), &resource::resident(resident_key)).await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_timeline_reads_as_much_text_as_a_summary_needs() {
        let cut = format!("substr(text, 1, {})", cityserve_store_sql::feedback::TIMELINE_TEXT_CHARS);
        assert!(super::TIMELINE.contains(&cut), "{cut} in {}", super::TIMELINE);
    }
}
