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
use cityserve_store::{StoreError, StoreResult, WriteCtx, key_space};
use cityserve_store_sql::write::{Deferred, Recorded};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
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

    /// The rows of one `SELECT` under `scope`'s row-level-security settings, in one round trip.
    ///
    /// A read in a [`ReadTx`] takes three: `BEGIN` with the settings, the statement, `COMMIT`.
    /// Here the settings, a `READ ONLY` mark and an `EXECUTE` of the statement travel in one
    /// simple-query message, which PostgreSQL runs as one implicit transaction: the settings are
    /// local to it and end with it (an error ends it too, leaving the connection idle). The
    /// statement is prepared once per connection with SQL's `PREPARE` (when an `EXECUTE` finds
    /// it missing), so its plan is cached as a bound statement's would be. `args` travel inline
    /// as quoted literals; an argument holding anything but [a-z0-9,-] is never spliced into SQL:
    /// the read then takes a [`ReadTx`] with bound parameters.
    pub(crate) async fn read_rows(
        &self,
        scope: &TenantScope,
        select: &'static str,
        args: &[&str],
    ) -> StoreResult<Vec<PgRow>> {
        let (tenants, role) = settings(scope);
        if let Some(literals) = literals(args).filter(|_| plain(&tenants) && plain(role)) {
            let name = statement_name(select);
            let sql = format!("SET TRANSACTION READ ONLY; {}; EXECUTE {name}{literals}", set_inline(&tenants, role));
            let mut conn = self.pool.acquire().await.map_err(db_err)?;
            return match execute_third(&mut conn, &sql).await {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_STATEMENT) => {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("PREPARE {name} AS {select}")))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    execute_third(&mut conn, &sql).await.map_err(db_err)
                }
                rows => rows.map_err(db_err),
            };
        }
        let mut tx = self.read(scope).await?;
        let rows =
            args.iter().fold(sqlx::query(select), |q, a| q.bind(*a)).fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.finish().await?;
        Ok(rows)
    }

    /// Starts a transaction whose row-level-security settings are those of `scope`.
    async fn begin(&self, scope: &TenantScope, read_only: bool) -> StoreResult<Transaction<'static, Postgres>> {
        let (tenants, role) = settings(scope);
        let begin = if read_only { "BEGIN READ ONLY" } else { "BEGIN" };
        // Department IDs are slugs and roles fixed words, so the settings can travel inline with
        // the BEGIN: one round trip per transaction instead of two. Checked again here so nothing
        // but [a-z0-9,-] is ever spliced into SQL; anything else takes the bound-parameter path.
        if plain(&tenants) && plain(role) {
            return self.begin_whole(format!("{begin}; {}", set_inline(&tenants, role))).await;
        }
        let mut tx = self.begin_whole(begin.to_owned()).await?;
        sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', $2, true)")
            .bind(tenants)
            .bind(role)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Ok(tx)
    }

    /// Runs `begin` on a pooled connection to its answer, even if the caller goes away first.
    ///
    /// sqlx 0.9 counts a transaction only once PostgreSQL has answered its `BEGIN`; a caller
    /// cancelled in between (a client that hangs up) would hand the pool a connection still
    /// inside that transaction, and the next caller's statements would run in it: a write in a
    /// stale `READ ONLY` transaction fails with `INTERNAL`. In a task of its own the `BEGIN`
    /// always finishes, and a transaction nobody collects is dropped, so rolled back.
    async fn begin_whole(&self, begin: String) -> StoreResult<Transaction<'static, Postgres>> {
        let pool = self.pool.clone();
        tokio::spawn(async move { pool.begin_with(sqlx::AssertSqlSafe(begin)).await })
            .await
            .map_err(|e| StoreError::Unavailable(format!("BEGIN did not finish: {e}")))?
            .map_err(db_err)
    }
}

/// `scope`'s row-level-security settings: its departments, comma-separated (empty: all), and
/// its role.
fn settings(scope: &TenantScope) -> (String, &'static str) {
    let tenants = scope
        .departments()
        .map(|ds| ds.iter().map(DepartmentId::as_str).collect::<Vec<_>>().join(","))
        .unwrap_or_default();
    (tenants, scope.role().as_str())
}

/// Whether `s` may be spliced into SQL between single quotes: nothing but [a-z0-9,-], so it can
/// neither end the literal nor hold an escape.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b',')
}

/// The statement that sets the tenant settings for the current transaction, its values inline
/// (both already [`plain`]).
fn set_inline(tenants: &str, role: &str) -> String {
    format!("SELECT set_config('app.tenant_ids', '{tenants}', true), set_config('app.role', '{role}', true)")
}

/// SQLSTATE `invalid_sql_statement_name`: an `EXECUTE` of a statement this session has not
/// prepared.
const UNDEFINED_STATEMENT: &str = "26000";

/// The rows of the third statement of the simple-query message `sql` ([`PgStore::read_rows`]'s
/// `EXECUTE`): each statement's end arrives before the next one's rows.
async fn execute_third(conn: &mut sqlx::PgConnection, sql: &str) -> Result<Vec<PgRow>, sqlx::Error> {
    let mut ended = 0;
    let mut rows = Vec::new();
    let mut results = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).fetch_many(&mut *conn);
    while let Some(result) = results.try_next().await? {
        match result {
            sqlx::Either::Left(_) => ended += 1,
            sqlx::Either::Right(row) if ended == 2 => rows.push(row),
            sqlx::Either::Right(_) => {}
        }
    }
    Ok(rows)
}

/// The name [`PgStore::read_rows`] prepares `select` under in each session: the same statement
/// text, the same name, for the life of the process.
fn statement_name(select: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    select.hash(&mut hasher);
    format!("cityserve_read_{:016x}", hasher.finish())
}

/// `args` as an `EXECUTE`'s argument list of quoted literals (`('a', 'b')`, nothing for none);
/// `None` if one is not [`plain`].
fn literals(args: &[&str]) -> Option<String> {
    if args.is_empty() {
        return Some(String::new());
    }
    if !args.iter().all(|a| plain(a)) {
        return None;
    }
    Some(format!("('{}')", args.join("', '")))
}

#[cfg(test)]
mod tests {
    use super::literals;

    #[test]
    fn literals_quote_plain_arguments_and_refuse_the_rest() {
        assert_eq!(literals(&["water", "c-1"]).as_deref(), Some("('water', 'c-1')"));
        assert_eq!(literals(&[]).as_deref(), Some(""));
        assert_eq!(literals(&["water", "o'brien"]), None, "a quote never reaches SQL");
        assert_eq!(literals(&["water", "a\\b"]), None);
        assert_eq!(literals(&["Water"]), None);
        assert_eq!(literals(&["a b"]), None);
    }

    /// A store on a fresh database with one pooled connection (so every statement meets the one
    /// a previous caller left behind), `departments` created, and the scope of Water's CSO;
    /// `None` where PostgreSQL tests are opted out.
    async fn one_connection_store(
        departments: &[&str],
    ) -> Option<(crate::PgStore, crate::testing::TestDatabase, cityserve_domain::TenantScope)> {
        use cityserve_domain::{Action, Caller, DepartmentId, Role, authorize};
        if crate::testing::postgres_tests_skipped() {
            return None;
        }
        let db = crate::testing::TestDatabase::create().await;
        let store = crate::PgStore::connect(&db.url, crate::PgOptions { max_connections: 1, ..Default::default() })
            .await
            .unwrap();
        for d in departments {
            cityserve_store::suite::seed_department(&store, d).await;
        }
        let water = DepartmentId::parse("d", "water").unwrap();
        let cso = Caller { subject: "cso-1".into(), role: Role::Cso, departments: vec![water.clone()] };
        let scope = authorize(&cso, Action::ReadDepartment, Some(&water)).unwrap();
        Some((store, db, scope))
    }

    /// The one-round-trip read keeps row-level security (another department's row is not there
    /// even to SQL that asks for it), its settings end with it, and an error leaves the
    /// connection usable.
    #[tokio::test]
    async fn a_read_in_one_round_trip_is_scoped_and_leaves_nothing_behind() {
        let Some((store, _db, water)) = one_connection_store(&["water", "streets"]).await else { return };
        let select = "SELECT department_id FROM departments WHERE department_id = $1";
        let own = store.read_rows(&water, select, &["water"]).await.unwrap();
        assert_eq!(own.len(), 1);
        let other = store.read_rows(&water, select, &["streets"]).await.unwrap();
        assert!(other.is_empty(), "row-level security hides Streets from Water's scope");
        let all = store.read_rows(&water, "SELECT department_id FROM departments", &[]).await.unwrap();
        assert_eq!(all.len(), 1);
        // The pool's one connection: its settings ended with the implicit transaction.
        let left: Option<String> =
            sqlx::query_scalar("SELECT current_setting('app.tenant_ids', true)").fetch_one(&store.pool).await.unwrap();
        assert_eq!(left.unwrap_or_default(), "");
        let refused = store
            .read_rows(&water, "SELECT 1 / (length(department_id) - length($1)) FROM departments", &["water"])
            .await;
        assert!(refused.is_err());
        assert_eq!(store.read_rows(&water, select, &["water"]).await.unwrap().len(), 1, "the connection is usable");
        let write = store
            .read_rows(&water, "UPDATE departments SET display_name = 'x' WHERE department_id = $1", &["water"])
            .await;
        assert!(format!("{:?}", write.unwrap_err()).contains("read-only"), "a write slipped into a read fails loudly");
    }

    /// A caller that goes away while its `BEGIN` is on the wire (a client that hangs up) leaves no
    /// transaction open on the pooled connection: the next caller's write is not run inside a
    /// stale `READ ONLY` transaction (sqlx 0.9 forgets a `BEGIN` cancelled before its answer).
    #[tokio::test]
    async fn a_begin_cancelled_in_flight_leaves_no_transaction_behind() {
        let Some((store, db, water)) = one_connection_store(&["water"]).await else { return };
        // The server's view: a session whose read's BEGIN has been run and answered.
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        let begun = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                     AND state = 'idle in transaction' AND query LIKE 'BEGIN READ ONLY%'";
        let mut cancelled_in_flight = 0;
        for round in 0..10 {
            let mut read = Box::pin(store.read(&water));
            // Poll the read until PostgreSQL has answered its BEGIN, then hang up before the
            // answer is read (unless a poll got that far first: then this round tests nothing).
            let mut answered = false;
            'wait: for _ in 0..200 {
                if futures::poll!(&mut read).is_ready() {
                    break;
                }
                for _ in 0..5 {
                    if sqlx::query_scalar::<_, i64>(begun).fetch_one(&mut admin).await.unwrap() > 0 {
                        answered = true;
                        break 'wait;
                    }
                }
            }
            drop(read);
            cancelled_in_flight += usize::from(answered);
            let read_only: String = sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(read_only, "off", "round {round}: the pooled connection is still inside the cancelled read");
        }
        assert!(cancelled_in_flight > 0, "no read was cancelled in flight, so nothing was tested");
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
/// audited (an export, a timeline), in the shape both backends share. Written at once, in a batch's
/// transaction too: PostgreSQL does not batch audited reads (`GROUPED_READ_AUDITS`).
pub(crate) async fn audit_now(
    tx: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    departments: &[&DepartmentId],
    resource: &str,
) -> StoreResult<()> {
    audit(tx, ctx, departments, resource).await
}
