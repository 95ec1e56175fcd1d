//! [`Open311Store`] on SQLite.
use crate::feedback::{CASE_COLUMNS, FEEDBACK_COLUMNS, case_from, feedback_from};
use crate::{Bind, SqliteStore, claim_key, db_err, micros, opt_time, time};
use cityserve_domain::{Page, PageRequest, TenantScope};
use cityserve_store::open311::{ApiKey, Open311Store, RequestQuery, RequestStatus, ServiceRequestRow};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

const KEY_COLUMNS: &str = "key_id, client_name, key_hash, created_by, create_time, revoked_by, revoke_time";

fn key_from(row: &SqliteRow) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("key_id").map_err(db_err)?,
        client_name: row.try_get("client_name").map_err(db_err)?,
        key_hash: row.try_get("key_hash").map_err(db_err)?,
        created_by: row.try_get("created_by").map_err(db_err)?,
        create_time: time(row, "create_time")?,
        revoked_by: row.try_get("revoked_by").map_err(db_err)?,
        revoke_time: opt_time(row, "revoke_time")?,
    })
}

async fn read_key(conn: &mut SqliteConnection, id: &str) -> StoreResult<ApiKey> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await.map_err(db_err)?;
    key_from(&row.ok_or(StoreError::NotFound)?)
}

impl Open311Store for SqliteStore {
    async fn create_api_key(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        home: &cityserve_domain::DepartmentId,
        key: &ApiKey,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.write(ctx).await?;
        if let Some(id) = claim_key(&mut tx, home, idem, "api_key", &key.id).await? {
            let k = read_key(&mut tx, &id).await?;
            self.commit(tx).await?;
            return Ok(k);
        }
        let now = now_micros();
        sqlx::query(
            "INSERT INTO api_keys (key_id, client_name, key_hash, created_by, create_time) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&key.id)
        .bind(&key.client_name)
        .bind(&key.key_hash)
        .bind(&ctx.actor.subject)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "api_key": key.id, "client": key.client_name });
        crate::record(&mut tx, ctx, home, &resource::api_key(&key.id), payload).await?;
        let k = read_key(&mut tx, &key.id).await?;
        self.commit(tx).await?;
        Ok(k)
    }

    async fn get_api_key(&self, _scope: &TenantScope, id: &str) -> StoreResult<ApiKey> {
        let mut conn = self.read_conn().await?;
        read_key(&mut conn, id).await
    }

    async fn list_api_keys(&self, _scope: &TenantScope, page: &PageRequest) -> StoreResult<Page<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_id > ? ORDER BY key_id LIMIT ?");
        let mut conn = self.read_conn().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(key_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |k| k.id.clone()))
    }

    async fn revoke_api_key(
        &self,
        ctx: &WriteCtx<'_>,
        home: &cityserve_domain::DepartmentId,
        id: &str,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.write(ctx).await?;
        let current = read_key(&mut tx, id).await?;
        if current.revoke_time.is_some() {
            self.commit(tx).await?;
            return Ok(current);
        }
        let now = micros(now_micros());
        sqlx::query("UPDATE api_keys SET revoked_by = ?, revoke_time = ? WHERE key_id = ?")
            .bind(&ctx.actor.subject)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let payload = serde_json::json!({ "api_key": id, "revoked": true });
        crate::record(&mut tx, ctx, home, &resource::api_key(id), payload).await?;
        let k = read_key(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(k)
    }

    async fn service_requests(&self, _scope: &TenantScope, q: &RequestQuery) -> StoreResult<Vec<ServiceRequestRow>> {
        // Shared column names (department, channel, category, times, resident key) hold equal
        // values in both tables, so reading either is right.
        let qualify =
            |cols: &str, t: &str| cols.split(',').map(|c| format!("{t}.{}", c.trim())).collect::<Vec<_>>().join(", ");
        let (fc, cc) = (qualify(FEEDBACK_COLUMNS, "f"), qualify(CASE_COLUMNS, "c"));
        let mut sql = format!(
            "SELECT {fc}, {cc},
                 (SELECT e.text FROM case_entries e WHERE e.department_id = c.department_id AND e.case_id = c.case_id
                    AND e.public = 1 AND e.text <> '' ORDER BY e.entry_no DESC LIMIT 1) AS status_note
             FROM feedback f JOIN cases c ON c.department_id = f.department_id AND c.case_id = f.feedback_id
             WHERE {public}",
            public = cityserve_store_sql::feedback::PUBLIC_REQUEST
        );
        let mut binds = Vec::new();
        match &q.ids {
            Some(ids) => {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                sql.push_str(&format!(
                    " AND (f.department_id, f.feedback_id) IN ({})",
                    vec!["(?, ?)"; ids.len()].join(", ")
                ));
                for (d, c) in ids {
                    binds.extend([Bind::Text(d.to_string()), Bind::Text(c.to_string())]);
                }
            }
            None => {
                sql.push_str(" AND f.received_at >= ? AND f.received_at <= ?");
                binds.extend([Bind::Int(micros(q.from)), Bind::Int(micros(q.to))]);
                if !q.services.is_empty() {
                    sql.push_str(&format!(
                        " AND (f.department_id, f.category_id) IN ({})",
                        vec!["(?, ?)"; q.services.len()].join(", ")
                    ));
                    for (d, c) in &q.services {
                        binds.extend([Bind::Text(d.to_string()), Bind::Text(c.to_string())]);
                    }
                }
                let open = q.statuses.contains(&RequestStatus::Open);
                let closed = q.statuses.contains(&RequestStatus::Closed);
                if open != closed {
                    sql.push_str(if open {
                        " AND c.status IN ('open', 'acknowledged', 'in_progress')"
                    } else {
                        " AND c.status IN ('resolved', 'closed')"
                    });
                }
            }
        }
        sql.push_str(" ORDER BY f.received_at DESC, f.department_id, f.feedback_id LIMIT ? OFFSET ?");
        binds.extend([Bind::Int(i64::from(q.limit)), Bind::Int(i64::from(q.offset))]);
        let query = crate::bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds);
        let mut conn = self.read_conn().await?;
        let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
        rows.iter()
            .map(|row| {
                Ok(ServiceRequestRow {
                    feedback: feedback_from(row)?,
                    case: case_from(row)?,
                    status_note: row.try_get("status_note").map_err(db_err)?,
                })
            })
            .collect()
    }
}
