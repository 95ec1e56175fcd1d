//! [`AuditStore`] on SQLite: refusals are appended like any audit record; listings walk the log
//! newest first. The log is append-only (triggers of migration 0001).
use crate::{SqliteStore, db_err, id, in_scope, micros, scope_clause, time};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope};
use cityserve_store::audit::{AuditEvent, AuditFilter, AuditStore, Refusal};
use cityserve_store::{StoreError, StoreResult, now_micros};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

const AUDIT_COLUMNS: &str =
    "audit_id, department_id, occurred_at, actor_subject, actor_role, action, resource, outcome, trace_id";

fn event_from(row: &SqliteRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("audit_id").map_err(db_err)?,
        department: id(row, "department_id", DepartmentId::parse)?,
        occurred_at: time(row, "occurred_at")?,
        actor_subject: row.try_get("actor_subject").map_err(db_err)?,
        actor_role: row.try_get("actor_role").map_err(db_err)?,
        action: row.try_get("action").map_err(db_err)?,
        resource: row.try_get("resource").map_err(db_err)?,
        outcome: row.try_get("outcome").map_err(db_err)?,
        trace_id: row.try_get("trace_id").map_err(db_err)?,
    })
}

impl AuditStore for SqliteStore {
    async fn record_refusal(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        refusal: &Refusal<'_>,
    ) -> StoreResult<()> {
        in_scope(scope, department)?;
        let mut tx = self.write_as(scope, refusal.actor).await?;
        sqlx::query(
            "INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id,
                 outcome)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(department.as_str())
        .bind(micros(now_micros()))
        .bind(&refusal.actor.subject)
        .bind(refusal.actor.role.as_str())
        .bind(refusal.action)
        .bind(refusal.resource)
        .bind(refusal.trace_id)
        .bind(refusal.outcome)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self.commit(tx).await
    }

    async fn list_audit_events(
        &self,
        scope: &TenantScope,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditEvent>> {
        let after = match page.after.as_deref() {
            Some(a) => Some(a.parse::<i64>().map_err(|_| StoreError::Internal("bad page key".into()))?),
            None => None,
        };
        let mut sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log
             WHERE (? IS NULL OR audit_id < ?)
               AND (? IS NULL OR actor_subject = ?)
               AND (? IS NULL OR substr(action, 1, length(?)) = ?)
               AND (? IS NULL OR outcome = ?)
               AND (? IS NULL OR occurred_at >= ?)
               AND (? IS NULL OR occurred_at < ?)"
        );
        if let Some(clause) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {clause}"));
        }
        sql.push_str(" ORDER BY audit_id DESC LIMIT ?");
        let (start, end) = (filter.start.map(micros), filter.end.map(micros));
        let prefix = filter.action_prefix.as_deref();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(after)
            .bind(filter.actor_subject.as_deref())
            .bind(filter.actor_subject.as_deref())
            .bind(prefix)
            .bind(prefix)
            .bind(prefix)
            .bind(filter.outcome.as_deref())
            .bind(filter.outcome.as_deref())
            .bind(start)
            .bind(start)
            .bind(end)
            .bind(end);
        for d in scope.departments().unwrap_or_default() {
            q = q.bind(d.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(event_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |e| e.id.to_string()))
    }
}
