//! [`Open311Store`] on PostgreSQL. API keys are city-wide: row-level security lets the Chief and
//! the auditor read them and only the Chief issue and revoke them (see
//! migrations/postgres/0005_open311.sql).
use crate::feedback::{CASE_COLUMNS, FEEDBACK_COLUMNS, case_from, feedback_from};
use crate::{PgStore, claim_key, corrupt, db_err, in_scope, record, scope_ids};
use cityserve_domain::{DepartmentId, Page, PageRequest, TenantScope};
use cityserve_store::open311::{ApiKey, Open311Store, RequestQuery, RequestStatus, ServiceRequestRow};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

const KEY_COLUMNS: &str = "key_id, client_name, key_hash, created_by, create_time, revoked_by, revoke_time";

fn key_from(row: &PgRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("key_id").map_err(db_err)?,
        client_name: row.try_get("client_name").map_err(db_err)?,
        key_hash: row.try_get("key_hash").map_err(db_err)?,
        created_by: row.try_get("created_by").map_err(db_err)?,
        create_time: row.try_get("create_time").map_err(db_err)?,
        revoked_by: row.try_get("revoked_by").map_err(db_err)?,
        revoke_time: row.try_get("revoke_time").map_err(db_err)?,
    })
}

async fn read_key(conn: &mut PgConnection, id: &str) -> StoreResult<ApiKey> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await.map_err(db_err)?;
    key_from(&row.ok_or(StoreError::NotFound)?)
}

/// `FEEDBACK_COLUMNS` qualified with the table alias `f`.
fn qualified_feedback_columns() -> String {
    FEEDBACK_COLUMNS.split(',').map(|c| format!("f.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

impl Open311Store for PgStore {
    async fn create_api_key(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        home: &DepartmentId,
        key: &ApiKey,
    ) -> StoreResult<ApiKey> {
        in_scope(ctx.scope, home)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(id) = claim_key(&mut tx, home, idem, "api_key", &key.id).await? {
            let k = read_key(&mut tx, &id).await?;
            self.commit(tx).await?;
            return Ok(k);
        }
        let sql = format!(
            "INSERT INTO api_keys (key_id, client_name, key_hash, created_by, create_time)
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&key.id)
            .bind(&key.client_name)
            .bind(&key.key_hash)
            .bind(&ctx.actor.subject)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let k = key_from(&row)?;
        let payload = serde_json::json!({ "api_key": key.id, "client": key.client_name });
        record(&mut tx, ctx, home, &resource::api_key(&key.id), payload).await?;
        self.commit(tx).await?;
        Ok(k)
    }

    async fn get_api_key(&self, scope: &TenantScope, id: &str) -> StoreResult<ApiKey> {
        let mut tx = self.read(scope).await?;
        let k = read_key(&mut tx, id).await?;
        tx.finish().await?;
        Ok(k)
    }

    async fn list_api_keys(&self, scope: &TenantScope, page: &PageRequest) -> StoreResult<Page<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id > $1 ORDER BY key_id LIMIT $2");
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(key_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |k| k.id.clone()))
    }

    async fn revoke_api_key(&self, ctx: &WriteCtx<'_>, home: &DepartmentId, id: &str) -> StoreResult<ApiKey> {
        in_scope(ctx.scope, home)?;
        let mut tx = self.write(ctx).await?;
        // Only a live key changes; of concurrent revocations exactly one updates (and is audited).
        let sql = format!(
            "UPDATE api_keys SET revoked_by = $1, revoke_time = $2 WHERE key_id = $3 AND revoke_time IS NULL
             RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&ctx.actor.subject)
            .bind(now_micros())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            // Missing (NotFound) or already revoked (returned unchanged).
            let current = read_key(&mut tx, id).await?;
            self.commit(tx).await?;
            return Ok(current);
        };
        let k = key_from(&row)?;
        let payload = serde_json::json!({ "api_key": id, "revoked": true });
        record(&mut tx, ctx, home, &resource::api_key(id), payload).await?;
        self.commit(tx).await?;
        Ok(k)
    }

    async fn service_requests(&self, scope: &TenantScope, q: &RequestQuery) -> StoreResult<Vec<ServiceRequestRow>> {
        // `ids` overrides every other filter: then the others are passed as NULL.
        let (id_departments, id_cases, services, statuses) = match &q.ids {
            Some(ids) => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let departments: Vec<&str> = ids.iter().map(|(d, _)| d.as_str()).collect();
                let cases: Vec<&str> = ids.iter().map(|(_, c)| c.as_str()).collect();
                (Some(departments), Some(cases), None, None)
            }
            None => {
                let services = (!q.services.is_empty()).then(|| {
                    let departments: Vec<&str> = q.services.iter().map(|(d, _)| d.as_str()).collect();
                    let categories: Vec<&str> = q.services.iter().map(|(_, c)| c.as_str()).collect();
                    (departments, categories)
                });
                let open = q.statuses.contains(&RequestStatus::Open);
                let closed = q.statuses.contains(&RequestStatus::Closed);
                let statuses = (open != closed).then(|| {
                    if open { vec!["open", "acknowledged", "in_progress"] } else { vec!["resolved", "closed"] }
                });
                (None, None, services, statuses)
            }
        };
        let (service_departments, service_categories) = services.unzip();
        let filtered = id_departments.is_none();
        let fc = qualified_feedback_columns();
        let sql = format!(
            "SELECT {fc},
                 (SELECT e.text FROM case_entries e
                  WHERE e.department_id = c.department_id AND e.case_id = c.case_id AND e.public AND e.text <> ''
                  ORDER BY e.entry_no DESC LIMIT 1) AS status_note
             FROM feedback f
             JOIN cases c ON c.department_id = f.department_id AND c.case_id = f.feedback_id
             WHERE {public}
               AND ($1::text[] IS NULL OR f.department_id = ANY ($1))
               AND ($2::text[] IS NULL OR (f.department_id, f.feedback_id) IN
                    (SELECT d, i FROM unnest($2::text[], $3::text[]) AS k (d, i)))
               AND (NOT $4 OR f.received_at BETWEEN $5 AND $6)
               AND ($7::text[] IS NULL OR (f.department_id, f.category_id) IN
                    (SELECT d, s FROM unnest($7::text[], $8::text[]) AS s (d, s)))
               AND ($9::text[] IS NULL OR c.status = ANY ($9))
             ORDER BY f.received_at DESC, f.department_id, f.feedback_id
             LIMIT $10 OFFSET $11",
            public = cityserve_store_sql::feedback::PUBLIC_REQUEST
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scope_ids(scope))
            .bind(id_departments)
            .bind(id_cases)
            .bind(filtered)
            .bind(q.from)
            .bind(q.to)
            .bind(service_departments)
            .bind(service_categories)
            .bind(statuses)
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let status_note: Option<String> = row.try_get("status_note").map_err(db_err)?;
            found.push((feedback_from(row)?, status_note));
        }
        // The cases in a second query: feedback and cases share column names (department,
        // channel, category, times, resident key), which one result row could not tell apart.
        let departments: Vec<&str> = found.iter().map(|(f, _)| f.department_id.as_str()).collect();
        let ids: Vec<&str> = found.iter().map(|(f, _)| f.id.as_str()).collect();
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases
             WHERE (department_id, case_id) IN (SELECT d, i FROM unnest($1::text[], $2::text[]) AS k (d, i))"
        );
        let case_rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&departments)
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let mut cases = case_rows.iter().map(case_from).collect::<StoreResult<Vec<_>>>()?;
        found
            .into_iter()
            .map(|(feedback, status_note)| {
                let at = cases
                    .iter()
                    .position(|c| c.department_id == feedback.department_id && c.id.as_str() == feedback.id.as_str())
                    .ok_or_else(|| corrupt("case of an Open311 request"))?;
                Ok(ServiceRequestRow { case: cases.swap_remove(at), feedback, status_note })
            })
            .collect()
    }
}
