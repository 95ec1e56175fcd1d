//! The one write path of the PostgreSQL backend, and the read transaction.
//!
//! Every mutation goes: [`PgStore::write`] (BEGIN with the tenant settings inline) ->
//! [`claim_key`] (the idempotency key, scoped by the calling tenant and subject) -> the operation
//! -> [`record`] (audit row + outbox event) -> [`PgStore::commit`] (COMMIT, then wake this
//! process's watchers and notify the other replicas). A [`WriteTx`] owns its sqlx transaction
//! privately: operation code gets the connection (`&mut *tx`) but no way to commit except
//! [`PgStore::commit`]; dropping it rolls back. Reads run in a [`ReadTx`], a `READ ONLY`
//! transaction with the same tenant settings, so a write slipped into a read fails loudly.
use crate::{PgStore, db_err};
use cityserve_domain::{Caller, DepartmentId, TenantScope};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, key_space, now_micros};
use sqlx::types::Json;
use sqlx::{PgConnection, Postgres, Row, Transaction};
use std::ops::{Deref, DerefMut};

/// A write transaction; committed only by [`PgStore::commit`].
pub(crate) struct WriteTx {
    tx: Transaction<'static, Postgres>,
    /// Whose idempotency keys [`claim_key`] reads and writes (see [`key_space`]).
    key_space: String,
    /// Whether an outbox event was appended, so the commit must wake watchers.
    events: bool,
}

impl WriteTx {
    /// Abandons the write (also what dropping it does, without waiting for the server).
    pub(crate) async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await.map_err(db_err)
    }
}

impl Deref for WriteTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// A read-only transaction under a scope's row-level-security settings.
pub(crate) struct ReadTx {
    tx: Transaction<'static, Postgres>,
}

impl ReadTx {
    /// Ends the transaction (nothing to persist: it is read-only).
    pub(crate) async fn finish(self) -> StoreResult<()> {
        self.tx.commit().await.map_err(db_err)
    }
}

impl Deref for ReadTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for ReadTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl PgStore {
    /// Starts a write transaction for `ctx`: its scope's tenant settings, its caller's key space.
    pub(crate) async fn write(&self, ctx: &WriteCtx<'_>) -> StoreResult<WriteTx> {
        self.write_as(ctx.scope, ctx.actor).await
    }

    /// Starts a write transaction under `scope` on behalf of `actor`.
    pub(crate) async fn write_as(&self, scope: &TenantScope, actor: &Caller) -> StoreResult<WriteTx> {
        let tx = self.begin(scope, false).await?;
        Ok(WriteTx { tx, key_space: key_space(actor), events: false })
    }

    /// Commits a write, then (if it appended events) tells this process's event subscribers to
    /// look and the other replicas, through [`crate::publish_commits`], to do the same.
    pub(crate) async fn commit(&self, tx: WriteTx) -> StoreResult<()> {
        let WriteTx { tx, events, .. } = tx;
        tx.commit().await.map_err(db_err)?;
        if events {
            crate::bump(&self.events);
            crate::bump(&self.commits);
        }
        Ok(())
    }

    /// A read over several statements: on PostgreSQL every read is one transaction already.
    pub(crate) async fn snapshot(&self, scope: &TenantScope) -> StoreResult<ReadTx> {
        self.read(scope).await
    }

    /// Starts a read-only transaction whose row-level-security settings are those of `scope`.
    pub(crate) async fn read(&self, scope: &TenantScope) -> StoreResult<ReadTx> {
        Ok(ReadTx { tx: self.begin(scope, true).await? })
    }

    /// Starts a transaction whose row-level-security settings are those of `scope`.
    async fn begin(&self, scope: &TenantScope, read_only: bool) -> StoreResult<Transaction<'static, Postgres>> {
        let tenants = scope
            .departments()
            .map(|ds| ds.iter().map(DepartmentId::as_str).collect::<Vec<_>>().join(","))
            .unwrap_or_default();
        let role = scope.role().as_str();
        let begin = if read_only { "BEGIN READ ONLY" } else { "BEGIN" };
        // Department IDs are slugs and roles fixed words, so the settings can travel inline with
        // the BEGIN: one round trip per transaction instead of two. Checked again here so nothing
        // but [a-z0-9,-] is ever spliced into SQL; anything else takes the bound-parameter path.
        let plain = |s: &str| s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b',');
        if plain(&tenants) && plain(role) {
            let sql = format!(
                "{begin}; SELECT set_config('app.tenant_ids', '{tenants}', true), set_config('app.role', '{role}', true)"
            );
            return self.pool.begin_with(sqlx::AssertSqlSafe(sql)).await.map_err(db_err);
        }
        let mut tx = self.pool.begin_with(begin).await.map_err(db_err)?;
        sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', $2, true)")
            .bind(tenants)
            .bind(role)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(tx)
    }
}

/// Claims an idempotency key in the caller's key space. `Ok(None)`: first use, go on and create.
/// `Ok(Some(id))`: a retry of the request that created `id`. Inserting the key first makes a
/// concurrent retry wait for the first transaction and then see its key.
pub(crate) async fn claim_key(
    tx: &mut WriteTx,
    department: &DepartmentId,
    idem: &Idempotency,
    operation: &str,
    resource_id: &str,
) -> StoreResult<Option<String>> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (department_id, caller, request_id, operation, request_hash, resource_id,
             create_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(department.as_str())
    .bind(&tx.key_space)
    .bind(&idem.request_id)
    .bind(operation)
    .bind(&idem.request_hash)
    .bind(resource_id)
    .bind(now_micros())
    .execute(&mut *tx.tx)
    .await
    .map_err(db_err)?;
    if inserted.rows_affected() == 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT operation, request_hash, resource_id FROM idempotency_keys
         WHERE department_id = $1 AND caller = $2 AND request_id = $3",
    )
    .bind(department.as_str())
    .bind(&tx.key_space)
    .bind(&idem.request_id)
    .fetch_one(&mut *tx.tx)
    .await
    .map_err(db_err)?;
    let (op, hash, id): (String, String, String) = (
        row.try_get("operation").map_err(db_err)?,
        row.try_get("request_hash").map_err(db_err)?,
        row.try_get("resource_id").map_err(db_err)?,
    );
    if op == operation && hash == idem.request_hash { Ok(Some(id)) } else { Err(StoreError::IdempotencyMismatch) }
}

/// Appends one audit record per department without an event (reads that must be audited), in one
/// statement.
pub(crate) async fn audit(
    tx: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    departments: &[&DepartmentId],
    resource: &str,
) -> StoreResult<()> {
    let departments: Vec<&str> = departments.iter().map(|d| d.as_str()).collect();
    sqlx::query(
        "INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id)
         SELECT d, now(), $2, $3, $4, $5, $6 FROM unnest($1::text[]) AS d",
    )
    .bind(&departments)
    .bind(&ctx.actor.subject)
    .bind(ctx.actor.role.as_str())
    .bind(ctx.action)
    .bind(resource)
    .bind(ctx.trace_id.as_deref())
    .execute(&mut *tx.tx)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Appends the audit record and the outbox event of a write, in the write's transaction.
pub(crate) async fn record(
    tx: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    department: &DepartmentId,
    resource: &str,
    payload: serde_json::Value,
) -> StoreResult<()> {
    sqlx::query(
        "WITH audit AS (
             INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id)
             VALUES ($1, now(), $2, $3, $4, $5, $6)
         )
         INSERT INTO events (department_id, event_type, resource, payload, occurred_at)
         VALUES ($1, $4, $5, $7, now())",
    )
    .bind(department.as_str())
    .bind(&ctx.actor.subject)
    .bind(ctx.actor.role.as_str())
    .bind(ctx.action)
    .bind(resource)
    .bind(ctx.trace_id.as_deref())
    .bind(Json(payload))
    .execute(&mut *tx.tx)
    .await
    .map_err(db_err)?;
    tx.events = true;
    Ok(())
}
