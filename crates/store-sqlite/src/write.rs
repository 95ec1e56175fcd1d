//! The one write path of the SQLite backend, and the read snapshot.
//!
//! Every mutation goes: [`SqliteStore::write`] (`BEGIN IMMEDIATE` on the writer connection) ->
//! [`claim_key`] (the idempotency key, scoped by the calling tenant and subject) -> the operation
//! -> [`record`] (audit row + outbox event) -> [`SqliteStore::commit`] (COMMIT, then wake this
//! process's watchers). A [`WriteTx`] owns its sqlx transaction privately: operation code gets the
//! connection (`&mut *tx`) but no way to commit except [`SqliteStore::commit`]; dropping it rolls
//! back. A bulk import runs the same path on its own load connection ([`SqliteStore::write_on`]).
use crate::script::Script;
use crate::{SqliteStore, db_err};
use cityserve_domain::{Caller, DepartmentId, TenantScope};
use cityserve_store::{StoreResult, WriteCtx, key_space, now_micros};
use cityserve_store_sql::write::{Deferred, Recorded};
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Sqlite, SqliteConnection, Transaction};

/// A write transaction; committed only by [`SqliteStore::commit`].
pub(crate) struct WriteTx<'c> {
    tx: Transaction<'c, Sqlite>,
    /// Whose idempotency keys [`claim_key`] reads and writes (see [`key_space`]).
    pub(crate) key_space: String,
    /// Whether an outbox event was appended, so the commit must wake watchers.
    events: bool,
    /// A batch's audit rows, events and counter increments, written at its commit.
    deferred: Option<Deferred>,
}

impl WriteTx<'_> {
    /// Makes the next idempotency keys `actor`'s: a batch's submissions come from several callers.
    pub(crate) fn act_as(&mut self, actor: &Caller) {
        self.key_space = key_space(actor);
    }
}

cityserve_store_sql::transaction_access!(WriteTx<'_>, tx, rollback);

/// A read transaction (one consistent snapshot across several statements) on a reader connection.
pub(crate) struct ReadTx {
    tx: Transaction<'static, Sqlite>,
}

cityserve_store_sql::transaction_access!(ReadTx, tx, finish);

/// A reader connection for a single-statement read (no transaction needed: each statement is its
/// own consistent snapshot).
pub(crate) struct ReadConn {
    conn: PoolConnection<Sqlite>,
}

cityserve_store_sql::transaction_access!(ReadConn, conn);

impl ReadConn {
    /// Returns the connection to the pool.
    pub(crate) async fn finish(self) -> StoreResult<()> {
        Ok(())
    }
}

impl SqliteStore {
    /// A reader connection. Scoping is the callers' (every statement filters by department);
    /// `_scope` keeps the signature of PostgreSQL's, which sets row-level security from it.
    pub(crate) async fn read(&self, _scope: &TenantScope) -> StoreResult<ReadConn> {
        Ok(ReadConn { conn: self.pool.acquire().await.map_err(db_err)? })
    }

    /// The rows of one `SELECT` (placeholders `$1`, `$2`… bound to `args`) on a reader
    /// connection: PostgreSQL's `read_rows` saves round trips
    /// there; here there are none to save.
    pub(crate) async fn read_rows(
        &self,
        scope: &TenantScope,
        select: &'static str,
        args: &[&str],
    ) -> StoreResult<Vec<sqlx::sqlite::SqliteRow>> {
        let mut conn = self.read(scope).await?;
        let rows =
            args.iter().fold(sqlx::query(select), |q, a| q.bind(*a)).fetch_all(&mut *conn).await.map_err(db_err)?;
        conn.finish().await?;
        Ok(rows)
    }

    /// Starts a write transaction for `ctx` on the writer connection.
    pub(crate) async fn write(&self, ctx: &WriteCtx<'_>) -> StoreResult<WriteTx<'static>> {
        self.write_as(ctx.scope, ctx.actor).await
    }

    /// Starts a write transaction on behalf of `actor` on the writer connection. `_scope` is
    /// PostgreSQL's row-level-security setting; here the store checks scopes in code, so the
    /// signature is the same on both backends and shared code can call either.
    pub(crate) async fn write_as(&self, _scope: &TenantScope, actor: &Caller) -> StoreResult<WriteTx<'static>> {
        let tx = self.writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        Ok(WriteTx { tx, key_space: key_space(actor), events: false, deferred: None })
    }

    /// Starts a batch's write transaction (group commit) on the writer connection: its audit rows,
    /// events and counter increments wait for [`SqliteStore::commit`], which writes each kind in
    /// one statement. Each submission sets its own key space.
    pub(crate) async fn write_batch(&self, scope: &TenantScope, actor: &Caller) -> StoreResult<WriteTx<'static>> {
        let mut tx = self.write_as(scope, actor).await?;
        tx.deferred = Some(Deferred::default());
        Ok(tx)
    }

    /// Starts a write transaction for `ctx` on a connection of the caller's own (a bulk load's).
    pub(crate) async fn write_on<'c>(
        &self,
        conn: &'c mut SqliteConnection,
        ctx: &WriteCtx<'_>,
    ) -> StoreResult<WriteTx<'c>> {
        let tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        Ok(WriteTx { tx, key_space: key_space(ctx.actor), events: false, deferred: None })
    }

    /// Commits a write, then (if it appended events) tells this process's event subscribers to
    /// look. Before the `COMMIT`, a batch's counters go to SQLite's thread in one crossing
    /// ([`Script`]), its audit rows and events in another. Two, not one: a joined text is prepared
    /// once for each combination of its statements' row counts, and the counters' count (the days
    /// and metrics the batch touched) moves apart from the others' (its requests), whose row counts
    /// move together.
    pub(crate) async fn commit(&self, tx: WriteTx<'_>) -> StoreResult<()> {
        let WriteTx { mut tx, events, deferred, .. } = tx;
        if let Some(deferred) = deferred {
            let mut counters = Script::default();
            crate::deltas_into(&mut counters, &deferred.deltas)?;
            counters.run(&mut tx).await?;
            let mut rows = Script::default();
            records_into(&mut rows, &deferred.records);
            audit_rows_into(&mut rows, &deferred.audits);
            rows.run(&mut tx).await?;
        }
        tx.commit().await.map_err(db_err)?;
        if let Some(c) = &self.checkpoints {
            c.committed();
        }
        if events {
            self.events.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// A read transaction: one consistent snapshot across several statements.
    pub(crate) async fn snapshot(&self, _scope: &TenantScope) -> StoreResult<ReadTx> {
        self.read_tx().await
    }

    /// Starts a read transaction on a reader connection.
    pub(crate) async fn read_tx(&self) -> StoreResult<ReadTx> {
        Ok(ReadTx { tx: self.pool.begin().await.map_err(db_err)? })
    }
}

cityserve_store_sql::claim_key!();

/// Appends one audit record per department, in one statement (alone for reads that must be
/// audited; with an event via [`record`]).
pub(crate) async fn audit(
    tx: &mut WriteTx<'_>,
    ctx: &WriteCtx<'_>,
    departments: &[&DepartmentId],
    resource: &str,
    now: i64,
) -> StoreResult<()> {
    let mut script = Script::default();
    audit_rows_into(&mut script, &Recorded::audits(ctx, departments, resource, now));
    script.run(&mut tx.tx).await
}

/// Appends the audit record and the outbox event of a write, in the write's transaction.
pub(crate) async fn record(
    tx: &mut WriteTx<'_>,
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
    let now = now_micros().timestamp_micros();
    audit(tx, ctx, &[department], resource, now).await?;
    sqlx::query(
        "INSERT INTO events (department_id, event_type, resource, payload, occurred_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(department.as_str())
    .bind(ctx.action)
    .bind(resource)
    .bind(payload.to_string())
    .bind(now)
    .execute(&mut *tx.tx)
    .await
    .map_err(db_err)?;
    tx.events = true;
    Ok(())
}

/// Adds report-card counter increments: now, or at the commit of a batch.
pub(crate) async fn add_deltas(tx: &mut WriteTx<'_>, deltas: Vec<cityserve_domain::report::Delta>) -> StoreResult<()> {
    match tx.deferred.as_mut() {
        Some(deferred) => {
            deferred.deltas.extend(deltas);
            Ok(())
        }
        None => crate::apply_deltas(&mut tx.tx, &deltas).await,
    }
}

/// 7 and 5 parameters a row: far below SQLite's 32,766 per statement.
const ROWS_PER_STATEMENT: usize = 500;

/// The statements that append the audit rows of `records` (their payloads unused), multi-row, in
/// order.
fn audit_rows_into(script: &mut Script, records: &[Recorded]) {
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        script.statement(&format!(
            "INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id)
             VALUES {}",
            vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
        ));
        for r in chunk {
            script
                .bind(r.department.as_str())
                .bind(r.at)
                .bind(r.actor_subject.as_str())
                .bind(r.actor_role)
                .bind(r.action)
                .bind(r.resource.as_str())
                .bind(r.trace_id.as_deref());
        }
    }
}

/// The statements that append a batch's audit rows and events, each kind multi-row, in order.
fn records_into(script: &mut Script, records: &[Recorded]) {
    audit_rows_into(script, records);
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        script.statement(&format!(
            "INSERT INTO events (department_id, event_type, resource, payload, occurred_at) VALUES {}",
            vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ")
        ));
        for r in chunk {
            script
                .bind(r.department.as_str())
                .bind(r.action)
                .bind(r.resource.as_str())
                .bind(r.payload.as_str())
                .bind(r.at);
        }
    }
}

/// Appends one audit record per department, stamped now, with no event: a read that must be
/// audited (an export, a timeline), in the shape both backends share. In a batch's transaction
/// the rows wait for its commit, which writes them in one statement.
pub(crate) async fn audit_now(
    tx: &mut WriteTx<'_>,
    ctx: &WriteCtx<'_>,
    departments: &[&DepartmentId],
    resource: &str,
) -> StoreResult<()> {
    let now = now_micros().timestamp_micros();
    if let Some(deferred) = tx.deferred.as_mut() {
        deferred.audits.extend(Recorded::audits(ctx, departments, resource, now));
        return Ok(());
    }
    audit(tx, ctx, departments, resource, now).await
}
