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
use cityserve_store::{StoreResult, WriteCtx, key_space};
use cityserve_store_sql::write::{Deferred, Recorded};
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};

/// A write transaction; committed only by [`PgStore::commit`].
pub(crate) struct WriteTx {
    tx: Transaction<'static, Postgres>,
    /// Whose idempotency keys [`claim_key`] reads and writes (see [`key_space`]).
    pub(crate) key_space: String,
    /// Whether an outbox event was appended, so the commit must wake watchers.
    events: bool,
    /// A batch's audit rows, events and counter increments, written at its commit.
    deferred: Option<Deferred>,
}

impl WriteTx {
    /// Makes the next idempotency keys `actor`'s: a batch's submissions come from several callers.
    pub(crate) fn act_as(&mut self, actor: &Caller) {
        self.key_space = key_space(actor);
    }
}

cityserve_store_sql::transaction_access!(WriteTx, tx, rollback);

/// A read-only transaction under a scope's row-level-security settings.
pub(crate) struct ReadTx {
    tx: Transaction<'static, Postgres>,
}

cityserve_store_sql::transaction_access!(ReadTx, tx, finish);

impl PgStore {
    /// Starts a write transaction for `ctx`: its scope's tenant settings, its caller's key space.
    pub(crate) async fn write(&self, ctx: &WriteCtx<'_>) -> StoreResult<WriteTx> {
        self.write_as(ctx.scope, ctx.actor).await
    }

    /// Starts a write transaction under `scope` on behalf of `actor`.
    pub(crate) async fn write_as(&self, scope: &TenantScope, actor: &Caller) -> StoreResult<WriteTx> {
        let tx = self.begin(scope, false).await?;
        Ok(WriteTx { tx, key_space: key_space(actor), events: false, deferred: None })
    }

    /// Starts a batch's write transaction (group commit) under `scope`: its audit rows, events
    /// and counter increments wait for [`PgStore::commit`], which writes them in one statement
    /// each. Each submission sets its own key space.
    pub(crate) async fn write_batch(&self, scope: &TenantScope, actor: &Caller) -> StoreResult<WriteTx> {
        let mut tx = self.write_as(scope, actor).await?;
        tx.deferred = Some(Deferred::default());
        Ok(tx)
    }

    /// Commits a write, then (if it appended events) tells this process's event subscribers to
    /// look and the other replicas, through [`crate::publish_commits`], to do the same.
    pub(crate) async fn commit(&self, tx: WriteTx) -> StoreResult<()> {
        let WriteTx { mut tx, events, deferred, .. } = tx;
        if let Some(deferred) = deferred {
            crate::apply_deltas(&mut tx, &deferred.deltas).await?;
            write_records(&mut tx, &deferred.records).await?;
        }
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

cityserve_store_sql::claim_key!();

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
    if let Some(deferred) = tx.deferred.as_mut() {
        deferred.records.push(Recorded::of(ctx, department, resource, &payload));
        tx.events = true;
        return Ok(());
    }
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

/// Adds report-card counter increments: now, or at the commit of a batch.
pub(crate) async fn add_deltas(tx: &mut WriteTx, deltas: Vec<cityserve_domain::report::Delta>) -> StoreResult<()> {
    match tx.deferred.as_mut() {
        Some(deferred) => {
            deferred.deltas.extend(deltas);
            Ok(())
        }
        None => crate::apply_deltas(&mut tx.tx, &deltas).await,
    }
}

/// Writes a batch's audit rows and events in one statement, in submission order (the events'
/// sequence numbers follow it), stamped with the transaction's time as [`record`] does.
async fn write_records(conn: &mut sqlx::PgConnection, records: &[Recorded]) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Recorded) -> Option<&str>| records.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "WITH batch AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                 WITH ORDINALITY AS t (department_id, actor_subject, actor_role, action, resource, trace_id, payload, n)
         ),
         audit AS (
             INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id)
             SELECT department_id, now(), actor_subject, actor_role, action, resource, trace_id FROM batch ORDER BY n
         )
         INSERT INTO events (department_id, event_type, resource, payload, occurred_at)
         SELECT department_id, action, resource, payload::jsonb, now() FROM batch ORDER BY n",
    )
    .bind(column(|r| Some(&r.department)))
    .bind(column(|r| Some(&r.actor_subject)))
    .bind(column(|r| Some(r.actor_role)))
    .bind(column(|r| Some(r.action)))
    .bind(column(|r| Some(&r.resource)))
    .bind(column(|r| r.trace_id.as_deref()))
    .bind(column(|r| Some(&r.payload)))
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Appends one audit record per department, stamped now, with no event: a read that must be
/// audited (an export), in the shape both backends share.
pub(crate) async fn audit_now(
    tx: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    departments: &[&DepartmentId],
    resource: &str,
) -> StoreResult<()> {
    audit(tx, ctx, departments, resource).await
}
