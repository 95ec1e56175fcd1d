//! The PostgreSQL backend of CityServe's [`Store`], with row-level security. All of its SQL lives
//! here.
//!
//! Tenant isolation holds three times over: the API's policy hands out a [`TenantScope`], every
//! method refuses departments outside it and filters by `department_id`, and the database's
//! row-level security admits only the scope's tenants. For the last one the server acts as a
//! non-owner role without `BYPASSRLS` (checked on every new connection), and each transaction
//! starts by setting `app.tenant_ids` and `app.role` transaction-locally.

mod audit;
mod board;
mod coordination;
mod departments;
mod dumb_rules;
mod escalations;
mod events;
mod feedback;
mod handoffs;
mod import;
mod initiatives;
mod lease;
mod notices;
mod observations;
mod officers;
mod open311;
mod panels;
mod reports;
#[cfg(feature = "testing")]
pub mod testing;
mod themes;
mod touchpoints;
mod write;

pub(crate) use cityserve_store_sql::{corrupt, in_scope};
pub(crate) use departments::{read_department, read_standards};
pub(crate) use write::{
    WriteTx, add_deltas, audit, audit_now, claim_key, claim_keys, existing_key, record, record_key,
};

/// A write transaction as the shared statements name it ([`WriteTx`]; the lifetime is
/// SQLite's, whose bulk loads write on a connection of their own).
pub(crate) type Tx<'c> = WriteTx;

/// The connection the shared statements run on.
pub(crate) type Conn = PgConnection;

/// An instant as this backend binds it (`timestamptz`).
pub(crate) fn at(t: DateTime<Utc>) -> DateTime<Utc> {
    t
}

/// What a rollup rebuild takes first so that counter writes wait for it (reads go on).
pub(crate) const LOCK_ROLLUPS: Option<&str> = Some("LOCK TABLE rollups, rollups_monthly IN EXCLUSIVE MODE");

/// The row lock a locking read appends: concurrent writers of the row wait for this transaction.
pub(crate) const ROW_LOCK: Option<&str> = Some("FOR UPDATE");

/// Lists bind as one array parameter (`column = ANY ($n)`).
pub(crate) const LISTS: Lists = Lists::Array;

/// How multi-row statements write their parameters: `$1`, `$2`…: the only form PostgreSQL knows.
pub(crate) const PLACEHOLDERS: cityserve_store_sql::write::Placeholders =
    cityserve_store_sql::write::Placeholders::Numbered;

/// How a batch's rows are split into multi-row statements: powers of two, so each of the pool's
/// connections prepares at most 7 texts of each statement.
pub(crate) const SPLIT: cityserve_store_sql::write::Split = cityserve_store_sql::write::Split::PowersOfTwo;

/// Binds the values of a statement assembled at run time, in order (a list as an array).
pub(crate) fn bind_args(q: PgQuery<'_>, args: Vec<Arg>) -> PgQuery<'_> {
    cityserve_store_sql::args::bind(q, args, at, |list| list)
}

/// A statement with its values.
type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// A list of IDs as an array column (`text[]`) binds it.
pub(crate) fn text_list(ids: &[DepartmentId]) -> Vec<&str> {
    ids.iter().map(DepartmentId::as_str).collect()
}

/// A JSON document as a `jsonb` column binds it.
pub(crate) fn json_value<T: serde::Serialize>(v: &T) -> StoreResult<Json<&T>> {
    Ok(Json(v))
}

use chrono::{DateTime, Utc};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::{StoreError, StoreResult};
use cityserve_store_sql::args::{Arg, Lists};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest wait for a pooled connection before a call fails with UNAVAILABLE.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a pooled connection may sit idle before it is pinged on its way out of the pool.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Connection settings.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Pool size.
    pub max_connections: u32,
    /// Apply pending migrations (as the URL's user, the schema owner) before opening the pool.
    pub migrate: bool,
    /// The role the server acts as; row-level security applies to it.
    pub app_role: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self { max_connections: 16, migrate: true, app_role: "cityserve_app".into() }
    }
}

/// A [`Store`] on PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Bumped after this process commits a write, and on every `cityserve_events` notification
    /// (any replica's commit of an event), so `Watch` subscribers re-read.
    events: Arc<tokio::sync::watch::Sender<u64>>,
    /// The background task relaying notifications into `events`; stopped by [`PgStore::close`].
    listener: tokio::task::AbortHandle,
    /// Bumped after this process commits a write; [`publish_commits`] turns bumps into
    /// notifications for the other replicas.
    commits: Arc<tokio::sync::watch::Sender<u64>>,
    /// The connection [`publish_commits`] notifies on.
    publish_pool: PgPool,
    /// Group commit of `SubmitFeedback` ([`PgStore::with_group_commit`]); `None`: each submission
    /// is its own transaction.
    submits: Option<cityserve_store::group_commit::SubmitQueue>,
    /// Group commit of audited reads' audit rows: never started here ([`GROUPED_READ_AUDITS`]).
    audits: Option<cityserve_store::group_commit::AuditQueue>,
    /// Group commit of case changes (`save_case`), started with `submits`; `None`: each change
    /// in a transaction of its own.
    cases: Option<cityserve_store::group_commit::CaseQueue>,
}

/// Whether a batch must share one tenant scope: yes, a transaction runs under one row-level
/// security setting.
const SCOPED_WRITES: bool = true;

/// Whether audited reads (a resident's timeline) queue their audit rows for group commit: no.
/// PostgreSQL commits are cheap next to a transaction of their own for the read, so a timeline
/// reads and audits in one transaction (measured: docs/write-path-benchmarks.md, "Timeline audits
/// in batches").
const GROUPED_READ_AUDITS: bool = false;

/// The channel replicas notify each other on after committing a write.
const EVENTS_CHANNEL: &str = "cityserve_events";

/// Tells the other replicas (by `NOTIFY cityserve_events`) that this process committed, once per
/// burst of commits, from its own connection, after the commits. NOTIFY inside the writing
/// transaction (the trigger of migration 0004, dropped in 0009) takes a cluster-wide lock from
/// commit until the commit is durable, which serialised every write's WAL flush: measured with
/// pgbench at 64 clients, 4,760 single-row-insert transactions/s without it, 450-650 with it
/// (docs/benchmarks.md). Watchers lose nothing if a notification is lost: they re-read every 2 s.
async fn publish_commits(pool: PgPool, mut commits: tokio::sync::watch::Receiver<u64>) {
    // Ends when every store handle (and so the sender) is gone.
    while commits.changed().await.is_ok() {
        commits.borrow_and_update();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(&pool).await {
            tracing::warn!(error = %e, "cannot notify other replicas of a commit; they re-read within 2 s");
        }
    }
}

fn bump(signal: &tokio::sync::watch::Sender<u64>) {
    signal.send_modify(|n| *n = n.wrapping_add(1));
}

/// Relays `cityserve_events` notifications into `signal` until every store handle is gone (or
/// the task is aborted). On a lost connection it logs, waits a second, reconnects and bumps once,
/// since notifications sent in between are lost.
async fn relay_notifications(pool: PgPool, signal: std::sync::Weak<tokio::sync::watch::Sender<u64>>) {
    let bump_weak = || match signal.upgrade() {
        Some(s) => {
            bump(&s);
            true
        }
        None => false,
    };
    let mut reconnecting = false;
    loop {
        if signal.strong_count() == 0 {
            return;
        }
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
            l.ignore_pool_close_event(true);
            l.listen(EVENTS_CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for event notifications; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                reconnecting = true;
                continue;
            }
        };
        if reconnecting && !bump_weak() {
            return;
        }
        reconnecting = true;
        loop {
            match listener.try_recv().await {
                // A notification, or a lost-and-reestablished connection that may have missed some.
                Ok(_) => {
                    if !bump_weak() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "event notifications interrupted; reconnecting in 1 s");
                    break;
                }
            }
        }
        drop(listener);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Adds report-card counter increments to the daily rollups and to their months'
/// `rollups_monthly` rows, in the caller's transaction, in one statement (the daily upsert is a
/// data-modifying CTE). Each transaction adds to one shard of each counter (its transaction id
/// modulo 8, the same for both tables), so concurrent writers rarely wait on each other's row
/// locks; rows of each table are locked in key order.
async fn apply_deltas(conn: &mut PgConnection, deltas: &[cityserve_domain::report::Delta]) -> StoreResult<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    // One row per key and table: ON CONFLICT DO UPDATE cannot touch a row twice in one statement.
    let (daily, monthly) = cityserve_store_sql::sum_deltas(deltas)?;
    #[allow(clippy::type_complexity)]
    fn columns(summed: cityserve_store_sql::Summed<'_>) -> (Vec<&str>, Vec<i64>, Vec<&str>, Vec<i64>) {
        let mut departments = Vec::with_capacity(summed.len());
        let mut days = Vec::with_capacity(summed.len());
        let mut metrics = Vec::with_capacity(summed.len());
        let mut values = Vec::with_capacity(summed.len());
        for ((d, day, m), v) in summed {
            departments.push(d);
            days.push(day);
            metrics.push(m);
            values.push(v);
        }
        (departments, days, metrics, values)
    }
    let (d_departments, d_days, d_metrics, d_values) = columns(daily);
    let (m_departments, m_months, m_metrics, m_values) = columns(monthly);
    sqlx::query(
        "WITH daily AS (
             INSERT INTO rollups (department_id, day, metric, shard, value)
             SELECT d, day, m, (pg_current_xact_id()::text::bigint % 8)::smallint, v
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS t (d, day, m, v)
             ORDER BY d, day, m
             ON CONFLICT (department_id, day, metric, shard) DO UPDATE SET value = rollups.value + excluded.value
         )
         INSERT INTO rollups_monthly (department_id, month, metric, shard, value)
         SELECT d, month, m, (pg_current_xact_id()::text::bigint % 8)::smallint, v
         FROM unnest($5::text[], $6::bigint[], $7::text[], $8::bigint[]) AS t (d, month, m, v)
         ORDER BY d, month, m
         ON CONFLICT (department_id, month, metric, shard)
             DO UPDATE SET value = rollups_monthly.value + excluded.value",
    )
    .bind(&d_departments)
    .bind(&d_days)
    .bind(&d_metrics)
    .bind(&d_values)
    .bind(&m_departments)
    .bind(&m_months)
    .bind(&m_metrics)
    .bind(&m_values)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// How many migrations this build applies (for `cityserve migrate`'s progress).
pub fn migration_count() -> u64 {
    MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count() as u64
}

/// How many migrations the database at `url` has applied so far, read on a connection of its
/// own while another applies them (each commits on its own); `None` when that cannot be read
/// now (before the first).
pub async fn applied_migrations(url: &str) -> Option<u64> {
    let mut conn = PgConnection::connect(url).await.ok()?;
    let n: Option<i64> =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.ok();
    let _ = conn.close().await;
    n.and_then(|n| u64::try_from(n).ok())
}

/// Maps a sqlx error; the only place this backend classifies database failures.
fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        let code = d.code().unwrap_or_default();
        return match code.as_ref() {
            "23505" => StoreError::AlreadyExists,
            "23503" => StoreError::NotFound,
            // Serialization failures, deadlocks, shutdowns and lost connections can be retried.
            "40001" | "40P01" | "57P01" | "57P02" | "57P03" => StoreError::Unavailable(e.to_string()),
            c if c.starts_with("08") => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Internal(e.to_string()),
        };
    }
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn valid_role_name(role: &str) -> bool {
    let mut chars = role.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && role.len() <= 63
}

/// Makes `conn` act as `role` (session-level `SET ROLE` when connected as another user: every
/// pooled connection should act as the app role; tenant settings, in contrast, are always
/// transaction-local) and refuses a role that would bypass row-level security. Returns whether
/// `SET ROLE` was needed.
async fn act_as_app_role(conn: &mut PgConnection, role: &str) -> Result<bool, sqlx::Error> {
    let user: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut *conn).await?;
    let switched = user != role;
    if switched {
        sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE \"{role}\""))).execute(&mut *conn).await?;
    }
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    if superuser || bypass {
        return Err(sqlx::Error::Configuration(
            format!(
                "role {role} is a superuser or has BYPASSRLS: row-level security would not apply; refusing to start"
            )
            .into(),
        ));
    }
    Ok(switched)
}

cityserve_store_sql::backend_helpers!();
cityserve_store_sql::rollup_rebuild!();

/// The scope's departments as one array parameter (`None`: city-wide). Row-level security
/// enforces the same, this keeps the query plan tenant-first.
fn scope_ids(scope: &TenantScope) -> Option<Vec<String>> {
    scope.departments().map(|ds| ds.iter().map(|d| d.as_str().to_owned()).collect())
}

impl PgStore {
    /// Applies migrations (as `url`'s user, which should own the schema), then opens a pool acting
    /// as `options.app_role`. Refuses to start when that role would bypass row-level security.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<Self> {
        let connect = Self::check_options(url, &options)?;
        Self::prepare(url, &options).await?;
        let pool = Self::pool_options(&options).connect_with(connect.clone()).await.map_err(|e| match e {
            sqlx::Error::Configuration(msg) => StoreError::Internal(msg.to_string()),
            other => db_err(other),
        })?;
        Ok(Self::with_pool(pool, connect))
    }

    /// Like [`PgStore::connect`] without touching the database: checks the URL and the role name
    /// and returns at once, with a pool that connects on first use (every pooled connection still
    /// acts as the app role and refuses one that bypasses row-level security). Until the database
    /// answers, calls fail with [`StoreError::Unavailable`]. Migrations are not applied: run
    /// [`PgStore::prepare`] until it succeeds before relying on the schema.
    pub fn connect_lazy(url: &str, options: PgOptions) -> StoreResult<Self> {
        let connect = Self::check_options(url, &options)?;
        let pool = Self::pool_options(&options).connect_lazy_with(connect.clone());
        Ok(Self::with_pool(pool, connect))
    }

    /// What [`PgStore::connect`] does before opening its pool: applies pending migrations (if
    /// `options.migrate`) and checks, on one connection, that `options.app_role` is subject to
    /// row-level security. [`StoreError::Unavailable`] when the database cannot be reached (try
    /// again later); [`StoreError::Internal`] for a role that bypasses row-level security.
    pub async fn prepare(url: &str, options: &PgOptions) -> StoreResult<()> {
        let connect = Self::check_options(url, options)?;
        if options.migrate {
            Self::migrate(url).await?;
        }
        // Checked once up front for a clear error (a failing `after_connect` only shows up as a
        // pool timeout), and again on every pooled connection.
        let mut probe = PgConnection::connect_with(&connect).await.map_err(db_err)?;
        act_as_app_role(&mut probe, &options.app_role).await.map_err(|e| match e {
            sqlx::Error::Configuration(msg) => StoreError::Internal(msg.to_string()),
            other => db_err(other),
        })?;
        probe.close().await.map_err(db_err)
    }

    fn check_options(url: &str, options: &PgOptions) -> StoreResult<PgConnectOptions> {
        if !valid_role_name(&options.app_role) {
            return Err(StoreError::Internal(format!("invalid app role name {:?}", options.app_role)));
        }
        PgConnectOptions::from_str(url).map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))
    }

    fn pool_options(options: &PgOptions) -> PgPoolOptions {
        let role = Arc::new(options.app_role.clone());
        let warned = Arc::new(AtomicBool::new(false));
        PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            // A call that cannot get a connection for this long (the database is gone, and the
            // pool keeps retrying to connect) fails with UNAVAILABLE well inside usual client
            // deadlines, which also makes the health watcher re-check and close the gate.
            .acquire_timeout(POOL_ACQUIRE_TIMEOUT)
            // A connection in use a moment ago is alive: pinging it before every acquire cost a
            // round trip per request (a sixth of the server's time in `GetDepartment`). Only one
            // that sat idle, and may have been cut meanwhile, is checked first.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                let role = role.clone();
                let warned = warned.clone();
                Box::pin(async move {
                    if act_as_app_role(&mut *conn, &role).await? && !warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            acting_as = %role,
                            "connected as another user; acting as the app role with SET ROLE \
                             (in production, connect as the app role directly)"
                        );
                    }
                    Ok(())
                })
            })
    }

    fn with_pool(pool: PgPool, listen_options: PgConnectOptions) -> Self {
        let events = Arc::new(tokio::sync::watch::Sender::new(0));
        // LISTEN holds its own connection (as the URL's user: notifications need no tenant
        // settings), outside the pool the store's transactions use.
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(listen_options.clone());
        let listener = tokio::spawn(relay_notifications(listen_pool, Arc::downgrade(&events))).abort_handle();
        let commits = Arc::new(tokio::sync::watch::Sender::new(0));
        let publish_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(listen_options);
        tokio::spawn(publish_commits(publish_pool.clone(), commits.subscribe()));
        Self { pool, events, listener, commits, publish_pool, submits: None, audits: None, cases: None }
    }

    /// Applies pending migrations as `url`'s user (the schema owner).
    pub async fn migrate(url: &str) -> StoreResult<()> {
        // rustc cannot prove the migrator's future `Send` (a higher-ranked lifetime limitation),
        // which would make every caller's future non-`Send`. Driving it on a blocking thread
        // needs no such proof.
        let url = url.to_owned();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let mut conn = PgConnection::connect(&url).await.map_err(db_err)?;
                MIGRATOR.run(&mut conn).await.map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
                conn.close().await.map_err(db_err)
            })
        })
        .await
        .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
    }

    /// Closes the pool and stops relaying event notifications.
    pub async fn close(&self) {
        self.listener.abort();
        // A command-line process may close right after its last commit, before the publisher
        // ran: one last notification so the replicas' watchers see it now, not on their re-read.
        let _ = sqlx::query("SELECT pg_notify($1, '')").bind(EVENTS_CHANNEL).execute(&self.publish_pool).await;
        self.publish_pool.close().await;
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_checked_before_being_quoted() {
        assert!(valid_role_name("cityserve_app"));
        for bad in ["", "App", "x\"; DROP TABLE y; --", "1abc", &"a".repeat(64)] {
            assert!(!valid_role_name(bad), "{bad}");
        }
    }
}
