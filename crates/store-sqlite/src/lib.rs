//! The SQLite backend of CityServe's [`Store`]: the embedded default. All of its SQL lives here.
//!
//! The database runs in WAL mode with `synchronous = NORMAL` (an acknowledged write survives a
//! process crash) and a busy timeout. Every write transaction runs on one dedicated writer
//! connection, so writers queue in the pool (fairly, without sleeping) rather than on SQLite's
//! busy handler; it starts with `BEGIN IMMEDIATE`, which takes the write lock up front, so a
//! migration or another process writing the same file makes it wait instead of failing with
//! "database is locked". Reads use a separate pool and never wait for writers (WAL).

mod audit;
mod board;
mod checkpoint;
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
mod script;
mod themes;
mod touchpoints;
mod write;

pub(crate) use cityserve_store_sql::{corrupt, in_scope};
pub(crate) use departments::{read_department, read_standards};
pub(crate) use write::{WriteTx, add_deltas, audit_now, claim_key, claim_keys, existing_key, record, record_key};

/// A write transaction as the shared statements name it.
pub(crate) type Tx<'c> = WriteTx<'c>;

/// The connection the shared statements run on.
pub(crate) type Conn = SqliteConnection;

/// An instant as this backend binds it (microseconds since the epoch).
pub(crate) fn at(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// What a rollup rebuild takes first so that counter writes wait for it (reads go on): none on
/// SQLite, whose one writer connection serialises every write already.
pub(crate) const LOCK_ROLLUPS: Option<&str> = None;

/// No row locks: a write transaction (`BEGIN IMMEDIATE` on the one writer connection) already
/// excludes every other writer.
pub(crate) const ROW_LOCK: Option<&str> = None;

/// Lists bind one parameter per value (`column IN ($n, $n+1, …)`).
pub(crate) const LISTS: Lists = Lists::Expanded;

/// How multi-row statements write their parameters: `?`s: numbered ones cost SQLite a search
/// per bind ([`cityserve_store_sql::write::Placeholders::Anonymous`]).
pub(crate) const PLACEHOLDERS: cityserve_store_sql::write::Placeholders =
    cityserve_store_sql::write::Placeholders::Anonymous;

/// How a batch's rows are split into multi-row statements: each statement is a crossing to
/// SQLite's thread and back, which the one writer waits for, so at most two statements a table
/// for a batch of up to 64 ([`cityserve_store_sql::write::Split::Eighths`]); the writer
/// connection keeps their texts ([`WRITER_STATEMENTS`]).
pub(crate) const SPLIT: cityserve_store_sql::write::Split = cityserve_store_sql::write::Split::Eighths;

/// Prepared statements the writer connection keeps: each multi-row statement in up to 15
/// lengths ([`SPLIT`]), and the rest of the write path's statements, without evicting one
/// another under a steady load (sqlx's default is 100).
const WRITER_STATEMENTS: usize = 1024;

/// Binds the values of a statement assembled at run time, in order (a list, which
/// [`Lists::Expanded`] never makes into one value, as JSON text).
pub(crate) fn bind_args(q: SqliteQuery<'_>, args: Vec<Arg>) -> SqliteQuery<'_> {
    cityserve_store_sql::args::bind(q, args, at, |list| serde_json::Value::from(list).to_string())
}

/// A statement with its values.
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// A list of IDs as this backend stores a list (a JSON array in text).
pub(crate) fn text_list(ids: &[DepartmentId]) -> String {
    serde_json::Value::from(ids.iter().map(DepartmentId::as_str).collect::<Vec<_>>()).to_string()
}

/// A JSON document as this backend stores it (text).
pub(crate) fn json_value<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(format!("cannot encode JSON: {e}")))
}

use chrono::{DateTime, Utc};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::{StoreError, StoreResult};
use cityserve_store_sql::args::{Arg, Lists};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Pool size (forced to 1 for in-memory databases, which are per connection).
    pub max_connections: u32,
    /// Apply pending migrations on connect.
    pub migrate: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { max_connections: 8, migrate: true }
    }
}

/// A [`Store`] on an SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection that writes. SQLite admits one writer at a time anyway; queueing
    /// writers here (fairly, without sleeping) beats letting them race for the lock on
    /// `busy_timeout`, whose retry sleeps grow to 100 ms, and the writer's page cache stays warm
    /// because no other connection changes the file under it.
    writer: SqlitePool,
    /// Bumped after every committed write, so `Watch` subscribers in this process re-read.
    events: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// The WAL checkpoint task, told of every commit ([`checkpoint`]); `None` in memory, where
    /// there is no log.
    checkpoints: Option<checkpoint::Commits>,
    /// Group commit of `SubmitFeedback` ([`SqliteStore::with_group_commit`]); `None`: each
    /// submission is its own transaction.
    submits: Option<cityserve_store::group_commit::SubmitQueue>,
    /// Group commit of audited reads' audit rows (a resident's timeline), started with
    /// `submits`; `None`: each read's rows in a transaction of their own.
    audits: Option<cityserve_store::group_commit::AuditQueue>,
    /// Group commit of case changes (`save_case`), started with `submits`; `None`: each change
    /// in a transaction of its own.
    cases: Option<cityserve_store::group_commit::CaseQueue>,
}

/// Whether a batch must share one tenant scope: no, SQLite's scoping is in the statements.
const SCOPED_WRITES: bool = false;

/// Whether audited reads (a resident's timeline) queue their audit rows for group commit: yes.
/// Each read's own write transaction took the one writer connection and a commit; batched, 64
/// timelines in flight went from 184-215 to 235-314/s (docs/write-path-benchmarks.md, "Timeline
/// audits in batches").
const GROUPED_READ_AUDITS: bool = true;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// How many migrations this build applies (for `cityserve migrate`'s progress).
pub fn migration_count() -> u64 {
    MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()).count() as u64
}

/// How many migrations the database at `url` has applied so far, read on a connection of its
/// own while another applies them; `None` when that cannot be read now (no database yet).
pub async fn applied_migrations(url: &str) -> Option<u64> {
    use sqlx::Connection;
    let options = SqliteConnectOptions::from_str(url).ok()?.create_if_missing(false).read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.ok()?;
    let n: Option<i64> =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut conn).await.ok();
    let _ = conn.close().await;
    n.and_then(|n| u64::try_from(n).ok())
}

/// Maps a sqlx error; the only place this backend classifies database failures.
fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::AlreadyExists,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    let v: i64 = row.try_get(col).map_err(db_err)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))
}

fn opt_time(row: &SqliteRow, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let v: Option<i64> = row.try_get(col).map_err(db_err)?;
    v.map(|v| DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))).transpose()
}

/// Binds the departments of a scope into an `IN (...)` clause, or nothing for a city-wide scope.
fn scope_clause(scope: &TenantScope, column: &str) -> Option<String> {
    scope.departments().map(|ds| {
        if ds.is_empty() { "1 = 0".to_owned() } else { format!("{column} IN ({})", vec!["?"; ds.len()].join(", ")) }
    })
}

/// A value bound to a query assembled at run time (filters that are present or not).
pub(crate) enum Bind {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
}

/// Binds `binds` in order.
pub(crate) fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for b in binds {
        q = match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

cityserve_store_sql::backend_helpers!();
cityserve_store_sql::rollup_rebuild!();

/// Adds report-card counter increments to the daily rollups and to their months'
/// `rollups_monthly` rows, in the caller's transaction ([`each_upsert`]), a query per upsert. Not
/// joined as [`deltas_into`] joins them: a bulk load's counters run to hundreds of statements, and
/// a joined text is prepared, and kept, whole.
async fn apply_deltas(conn: &mut SqliteConnection, deltas: &[cityserve_domain::report::Delta]) -> StoreResult<()> {
    let mut upserts = Vec::new();
    each_upsert(deltas, |table, key, rows| {
        let mut script = script::Script::default();
        upsert_into(&mut script, table, key, rows);
        upserts.push(script);
    })?;
    for script in upserts {
        script.run(conn).await?;
    }
    Ok(())
}

/// The upserts of [`apply_deltas`], joined in `script`: a batch's counters at its commit.
fn deltas_into(script: &mut script::Script, deltas: &[cityserve_domain::report::Delta]) -> StoreResult<()> {
    each_upsert(deltas, |table, key, rows| upsert_into(script, table, key, rows))
}

/// Calls `upsert` with each multi-row upsert that `deltas` make: increments summed per key first,
/// then one upsert per table (its name, its period column) per 250 keys.
fn each_upsert(
    deltas: &[cityserve_domain::report::Delta],
    mut upsert: impl FnMut(&str, &str, &[((&str, i64, &str), i64)]),
) -> StoreResult<()> {
    const KEYS_PER_STATEMENT: usize = 250;
    let (daily, monthly) = cityserve_store_sql::sum_deltas(deltas)?;
    for (table, key, summed) in [("rollups", "day", daily), ("rollups_monthly", "month", monthly)] {
        let rows: Vec<_> = summed.into_iter().collect();
        for chunk in rows.chunks(KEYS_PER_STATEMENT) {
            upsert(table, key, chunk);
        }
    }
    Ok(())
}

/// The upsert that adds summed increments `rows` to `table`, whose period column is `key`.
fn upsert_into(script: &mut script::Script, table: &str, key: &str, rows: &[((&str, i64, &str), i64)]) {
    script.statement(&format!(
        "INSERT INTO {table} (department_id, {key}, metric, value) VALUES {}
         ON CONFLICT (department_id, {key}, metric) DO UPDATE SET value = value + excluded.value",
        vec!["(?, ?, ?, ?)"; rows.len()].join(", ")
    ));
    for ((d, k, m), v) in rows {
        script.bind(*d).bind(*k).bind(*m).bind(*v);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db` or
    /// `sqlite::memory:`), and applies migrations when `options.migrate` is set.
    pub async fn connect(url: &str, options: SqliteOptions) -> StoreResult<Self> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Erased residents' data is overwritten, not left in free pages of the file.
            .pragma("secure_delete", "on")
            .busy_timeout(Duration::from_secs(5));
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        if !memory && let Some(dir) = connect.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { options.max_connections.max(1) })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(connect.clone())
            .await
            .map_err(db_err)?;
        // An in-memory database lives in its one connection: reads and writes must share it.
        let writer = if memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(
                    connect
                        .statement_cache_capacity(WRITER_STATEMENTS)
                        .pragma("wal_autocheckpoint", checkpoint::WRITER_FALLBACK_PAGES.to_string()),
                )
                .await
                .map_err(db_err)?
        };
        let checkpoints = (!memory).then(|| checkpoint::start(pool.clone()));
        let store = Self {
            pool,
            writer,
            events: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
            checkpoints,
            submits: None,
            audits: None,
            cases: None,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        // rustc cannot prove the migrator's future `Send` (a higher-ranked lifetime limitation),
        // which would make every caller's future non-`Send`. Driving it on a blocking thread
        // needs no such proof.
        let pool = self.pool.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(async move { MIGRATOR.run(&pool).await }))
            .await
            .map_err(|e| StoreError::Internal(format!("migration task failed: {e}")))?
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
        if let Some(c) = &self.checkpoints {
            c.closed();
        }
    }

    async fn read_conn(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        self.pool.acquire().await.map_err(db_err)
    }
}
