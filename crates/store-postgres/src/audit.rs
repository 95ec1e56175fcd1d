//! [`AuditStore`] on PostgreSQL: refusals are appended like any audit record (row-level security
//! checks the department against the transaction's tenants); listings walk the log newest first.
//! The app role holds only SELECT and INSERT on `audit_log` (migration 0006).
use crate::{PgStore, db_err, id, in_scope, scope_ids};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope};
use cityserve_store::audit::{AuditEvent, AuditFilter, AuditStore, Refusal};
use cityserve_store::{StoreError, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn event_from(row: &PgRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("audit_id").map_err(db_err)?,
        department: id(row, "department_id", DepartmentId::parse)?,
        occurred_at: row.try_get("occurred_at").map_err(db_err)?,
        actor_subject: row.try_get("actor_subject").map_err(db_err)?,
        actor_role: row.try_get("actor_role").map_err(db_err)?,
        action: row.try_get("action").map_err(db_err)?,
        resource: row.try_get("resource").map_err(db_err)?,
        outcome: row.try_get("outcome").map_err(db_err)?,
        trace_id: row.try_get("trace_id").map_err(db_err)?,
    })
}

impl AuditStore for PgStore {
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
             VALUES ($1, now(), $2, $3, $4, $5, $6, $7)",
        )
        .bind(department.as_str())
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
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(
            "SELECT audit_id, department_id, occurred_at, actor_subject, actor_role, action, resource, outcome,
                    trace_id
             FROM audit_log
             WHERE ($1::text[] IS NULL OR department_id = ANY ($1))
               AND ($2::bigint IS NULL OR audit_id < $2)
               AND ($3::text IS NULL OR actor_subject = $3)
               AND ($4::text IS NULL OR starts_with(action, $4))
               AND ($5::text IS NULL OR outcome = $5)
               AND ($6::timestamptz IS NULL OR occurred_at >= $6)
               AND ($7::timestamptz IS NULL OR occurred_at < $7)
             ORDER BY audit_id DESC
             LIMIT $8",
        )
        .bind(scope_ids(scope))
        .bind(after)
        .bind(filter.actor_subject.as_deref())
        .bind(filter.action_prefix.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(filter.start)
        .bind(filter.end)
        .bind(i64::from(page.size) + 1)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(event_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |e| e.id.to_string()))
    }
}
