//! The SQLite backend of CityServe's [`Store`]: the embedded default. All of its SQL lives here.
//!
//! The database runs in WAL mode with `synchronous = NORMAL` (an acknowledged write survives a
//! process crash) and a busy timeout. Every write transaction runs on one dedicated writer
//! connection, so writers queue in the pool (fairly, without sleeping) rather than on SQLite's
//! busy handler; it starts with `BEGIN IMMEDIATE`, which takes the write lock up front, so a
//! migration or another process writing the same file makes it wait instead of failing with
//! "database is locked". Reads use a separate pool and never wait for writers (WAL).

mod audit;
mod coordination;
mod feedback;
mod import;
mod lease;
mod officers;
mod open311;
mod write;

pub(crate) use write::{WriteTx, audit, claim_key, record};

use chrono::{DateTime, Utc};
use cityserve_domain::{
    Channel, Department, DepartmentId, DepartmentStatus, NewDepartment, NewServiceCategory, NewServiceStandard, Page,
    PageRequest, ServiceCategory, ServiceCategoryId, ServiceCategoryStatus, ServiceStandard, ServiceStandardId,
    ServiceTargets, TenantScope,
};
use cityserve_store::{Idempotency, Store, StoreError, StoreResult, WriteCtx, now_micros, resource};
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
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

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

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn time(row: &SqliteRow, col: &str) -> StoreResult<DateTime<Utc>> {
    let v: i64 = row.try_get(col).map_err(db_err)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))
}

fn id<T>(
    row: &SqliteRow,
    col: &str,
    parse: fn(&str, &str) -> Result<T, cityserve_domain::ValidationError>,
) -> StoreResult<T> {
    let v: String = row.try_get(col).map_err(db_err)?;
    parse(col, &v).map_err(|_| corrupt(col))
}

fn department_from(row: &SqliteRow) -> StoreResult<Department> {
    let status: String = row.try_get("status").map_err(db_err)?;
    Ok(Department {
        id: id(row, "department_id", DepartmentId::parse)?,
        display_name: row.try_get("display_name").map_err(db_err)?,
        description: row.try_get("description").map_err(db_err)?,
        status: DepartmentStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        default_targets: ServiceTargets::new(
            row.try_get("default_ack_secs").map_err(db_err)?,
            row.try_get("default_resolve_secs").map_err(db_err)?,
        )
        .map_err(|_| corrupt("default targets"))?,
        create_time: time(row, "create_time")?,
        update_time: time(row, "update_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn category_from(row: &SqliteRow) -> StoreResult<ServiceCategory> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let keywords: String = row.try_get("keywords").map_err(db_err)?;
    Ok(ServiceCategory {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "category_id", ServiceCategoryId::parse)?,
        display_name: row.try_get("display_name").map_err(db_err)?,
        description: row.try_get("description").map_err(db_err)?,
        keywords: serde_json::from_str(&keywords).map_err(|_| corrupt("keywords"))?,
        status: ServiceCategoryStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        create_time: time(row, "create_time")?,
        update_time: time(row, "update_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn standard_from(row: &SqliteRow) -> StoreResult<ServiceStandard> {
    let category: Option<String> = row.try_get("category_id").map_err(db_err)?;
    let channel: Option<String> = row.try_get("channel").map_err(db_err)?;
    Ok(ServiceStandard {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "standard_id", ServiceStandardId::parse)?,
        category: category
            .map(|c| ServiceCategoryId::parse("category_id", &c).map_err(|_| corrupt("category_id")))
            .transpose()?,
        channel: channel.map(|c| Channel::parse(&c).ok_or_else(|| corrupt("channel"))).transpose()?,
        targets: ServiceTargets::new(
            row.try_get("ack_secs").map_err(db_err)?,
            row.try_get("resolve_secs").map_err(db_err)?,
        )
        .map_err(|_| corrupt("targets"))?,
        create_time: time(row, "create_time")?,
        update_time: time(row, "update_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn in_scope(scope: &TenantScope, department: &DepartmentId) -> StoreResult<()> {
    if scope.allows(department) { Ok(()) } else { Err(StoreError::NotFound) }
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

/// Every service standard of a department, ordered by ID.
async fn read_standards(conn: &mut SqliteConnection, d: &DepartmentId) -> StoreResult<Vec<ServiceStandard>> {
    let sql = format!("SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = ? ORDER BY standard_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_all(&mut *conn).await.map_err(db_err)?;
    rows.iter().map(standard_from).collect()
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

/// Fails with a precondition error unless `officer` is an active officer of `department`.
async fn require_active_officer(
    conn: &mut SqliteConnection,
    department: &DepartmentId,
    officer: &cityserve_domain::OfficerId,
) -> StoreResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM officers WHERE department_id = ? AND officer_id = ? AND status = 'active'")
            .bind(department.as_str())
            .bind(officer.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if found.is_none() {
        return Err(StoreError::FailedPrecondition(format!(
            "{officer} is not an active officer of department {department}"
        )));
    }
    Ok(())
}

/// [`cityserve_domain::report::month_of`], for a day number read or computed by the store.
fn month_of(day: i64) -> StoreResult<i64> {
    cityserve_domain::report::month_of(day)
        .ok_or_else(|| StoreError::Internal(format!("day number {day} is out of range")))
}

/// Adds report-card counter increments to the daily rollups and to their months'
/// `rollups_monthly` rows, in the caller's transaction: increments are summed per key first, then
/// written with one multi-row upsert per table (per 250 keys).
async fn apply_deltas(conn: &mut SqliteConnection, deltas: &[cityserve_domain::report::Delta]) -> StoreResult<()> {
    type Summed<'a> = std::collections::BTreeMap<(&'a str, i64, &'a str), i64>;
    const ROWS_PER_STATEMENT: usize = 250;
    let mut daily = Summed::new();
    let mut monthly = Summed::new();
    for d in deltas {
        *daily.entry((d.department.as_str(), d.day, d.metric.as_str())).or_default() += d.value;
        *monthly.entry((d.department.as_str(), month_of(d.day)?, d.metric.as_str())).or_default() += d.value;
    }
    for (table, key, summed) in [("rollups", "day", daily), ("rollups_monthly", "month", monthly)] {
        let rows: Vec<_> = summed.into_iter().collect();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO {table} (department_id, {key}, metric, value) VALUES {}
                 ON CONFLICT (department_id, {key}, metric) DO UPDATE SET value = value + excluded.value",
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for ((d, k, m), v) in chunk {
                q = q.bind(*d).bind(*k).bind(*m).bind(*v);
            }
            q.execute(&mut *conn).await.map_err(db_err)?;
        }
    }
    Ok(())
}

const DEPARTMENT_COLUMNS: &str = "department_id, display_name, description, status, default_ack_secs, \
     default_resolve_secs, revision, create_time, update_time";
const CATEGORY_COLUMNS: &str =
    "department_id, category_id, display_name, description, keywords, status, revision, create_time, update_time";
const STANDARD_COLUMNS: &str =
    "department_id, standard_id, category_id, channel, ack_secs, resolve_secs, revision, create_time, update_time";

async fn read_department(conn: &mut SqliteConnection, d: &DepartmentId) -> StoreResult<Department> {
    let sql = format!("SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE department_id = ?");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_optional(&mut *conn).await.map_err(db_err)?;
    department_from(&row.ok_or(StoreError::NotFound)?)
}

async fn read_category(conn: &mut SqliteConnection, d: &DepartmentId, c: &str) -> StoreResult<ServiceCategory> {
    let sql = format!("SELECT {CATEGORY_COLUMNS} FROM service_categories WHERE department_id = ? AND category_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(c)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    category_from(&row.ok_or(StoreError::NotFound)?)
}

async fn read_standard(conn: &mut SqliteConnection, d: &DepartmentId, s: &str) -> StoreResult<ServiceStandard> {
    let sql = format!("SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = ? AND standard_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(s)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    standard_from(&row.ok_or(StoreError::NotFound)?)
}

/// After a conditional UPDATE touched no row: stale revision if the row exists, else missing.
async fn conflict_or_missing(
    conn: &mut SqliteConnection,
    exists_sql: &'static str,
    d: &DepartmentId,
    key: &str,
) -> StoreError {
    let q = sqlx::query_scalar::<_, i64>(exists_sql).bind(d.as_str());
    let q = if key.is_empty() { q } else { q.bind(key) };
    match q.fetch_optional(&mut *conn).await {
        Ok(Some(_)) => StoreError::Conflict,
        Ok(None) => StoreError::NotFound,
        Err(e) => db_err(e),
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
                .connect_with(connect)
                .await
                .map_err(db_err)?
        };
        let store = Self { pool, writer, events: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)) };
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
    }

    async fn read_conn(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Sqlite>> {
        self.pool.acquire().await.map_err(db_err)
    }
}

impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err).map(|_| ())
    }

    async fn create_department(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDepartment,
    ) -> StoreResult<Department> {
        in_scope(ctx.scope, &new.id)?;
        let mut tx = self.write(ctx).await?;
        if claim_key(&mut tx, &new.id, idem, "department", new.id.as_str(), micros(now_micros())).await?.is_some() {
            let d = read_department(&mut tx, &new.id).await?;
            self.commit(tx).await?;
            return Ok(d);
        }
        let now = now_micros();
        sqlx::query(
            "INSERT INTO departments (department_id, display_name, description, status, default_ack_secs,
                 default_resolve_secs, revision, create_time, update_time)
             VALUES (?, ?, ?, 'active', ?, ?, 1, ?, ?)",
        )
        .bind(new.id.as_str())
        .bind(&new.display_name)
        .bind(&new.description)
        .bind(new.default_targets.acknowledge_secs())
        .bind(new.default_targets.resolve_secs())
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::department(&new.id);
        record(&mut tx, ctx, &new.id, &name, serde_json::json!({ "department": new.id.as_str() }), micros(now)).await?;
        self.commit(tx).await?;
        Ok(Department {
            id: new.id.clone(),
            display_name: new.display_name.clone(),
            description: new.description.clone(),
            status: DepartmentStatus::Active,
            default_targets: new.default_targets,
            create_time: now,
            update_time: now,
            revision: 1,
        })
    }

    async fn get_department(&self, scope: &TenantScope, id: &DepartmentId) -> StoreResult<Department> {
        in_scope(scope, id)?;
        read_department(&mut *self.read_conn().await?, id).await
    }

    async fn list_departments(
        &self,
        scope: &TenantScope,
        status: Option<DepartmentStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<Department>> {
        let mut sql = format!("SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE department_id > ?");
        if status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if let Some(ds) = scope.departments() {
            if ds.is_empty() {
                return Ok(Page { items: Vec::new(), next_after: None });
            }
            sql.push_str(&format!(" AND department_id IN ({})", vec!["?"; ds.len()].join(", ")));
        }
        sql.push_str(" ORDER BY department_id LIMIT ?");
        // Only placeholders are formatted into the SQL; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(page.after.clone().unwrap_or_default());
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        for d in scope.departments().unwrap_or_default() {
            q = q.bind(d.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(department_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |d| d.id.to_string()))
    }

    async fn update_department(
        &self,
        ctx: &WriteCtx<'_>,
        d: &Department,
        expected_revision: i64,
    ) -> StoreResult<Department> {
        in_scope(ctx.scope, &d.id)?;
        let mut tx = self.write(ctx).await?;
        let now = micros(now_micros());
        let done = sqlx::query(
            "UPDATE departments SET display_name = ?, description = ?, status = ?, default_ack_secs = ?,
                 default_resolve_secs = ?, revision = revision + 1, update_time = ?
             WHERE department_id = ? AND revision = ?",
        )
        .bind(&d.display_name)
        .bind(&d.description)
        .bind(d.status.as_str())
        .bind(d.default_targets.acknowledge_secs())
        .bind(d.default_targets.resolve_secs())
        .bind(now)
        .bind(d.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(
                conflict_or_missing(&mut tx, "SELECT 1 FROM departments WHERE department_id = ?", &d.id, "").await
            );
        }
        let payload = serde_json::json!({ "department": d.id.as_str(), "status": d.status.as_str() });
        record(&mut tx, ctx, &d.id, &resource::department(&d.id), payload, now).await?;
        let updated = read_department(&mut tx, &d.id).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn create_service_category(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewServiceCategory,
    ) -> StoreResult<ServiceCategory> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(id) =
            claim_key(&mut tx, &new.department_id, idem, "service_category", new.id.as_str(), micros(now_micros()))
                .await?
        {
            let c = read_category(&mut tx, &new.department_id, &id).await?;
            self.commit(tx).await?;
            return Ok(c);
        }
        read_department(&mut tx, &new.department_id).await?;
        let now = now_micros();
        let keywords = serde_json::to_string(&new.keywords).map_err(|e| StoreError::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO service_categories (department_id, category_id, display_name, description, keywords, status,
                 revision, create_time, update_time)
             VALUES (?, ?, ?, ?, ?, 'active', 1, ?, ?)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(&new.display_name)
        .bind(&new.description)
        .bind(keywords)
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::category(&new.department_id, &new.id);
        let payload =
            serde_json::json!({ "department": new.department_id.as_str(), "service_category": new.id.as_str() });
        record(&mut tx, ctx, &new.department_id, &name, payload, micros(now)).await?;
        self.commit(tx).await?;
        Ok(ServiceCategory {
            department_id: new.department_id.clone(),
            id: new.id.clone(),
            display_name: new.display_name.clone(),
            description: new.description.clone(),
            keywords: new.keywords.clone(),
            status: ServiceCategoryStatus::Active,
            create_time: now,
            update_time: now,
            revision: 1,
        })
    }

    async fn get_service_category(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceCategoryId,
    ) -> StoreResult<ServiceCategory> {
        in_scope(scope, department)?;
        read_category(&mut *self.read_conn().await?, department, id.as_str()).await
    }

    async fn list_service_categories(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        status: Option<ServiceCategoryStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ServiceCategory>> {
        in_scope(scope, department)?;
        let status_filter = if status.is_some() { " AND status = ?" } else { "" };
        let sql = format!(
            "SELECT {CATEGORY_COLUMNS} FROM service_categories WHERE department_id = ? AND category_id > ?{status_filter}
             ORDER BY category_id LIMIT ?"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(department.as_str())
            .bind(page.after.clone().unwrap_or_default());
        if let Some(s) = status {
            q = q.bind(s.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(category_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |c| c.id.to_string()))
    }

    async fn update_service_category(
        &self,
        ctx: &WriteCtx<'_>,
        c: &ServiceCategory,
        expected_revision: i64,
    ) -> StoreResult<ServiceCategory> {
        in_scope(ctx.scope, &c.department_id)?;
        let mut tx = self.write(ctx).await?;
        let now = micros(now_micros());
        let keywords = serde_json::to_string(&c.keywords).map_err(|e| StoreError::Internal(e.to_string()))?;
        let done = sqlx::query(
            "UPDATE service_categories SET display_name = ?, description = ?, keywords = ?, status = ?,
                 revision = revision + 1, update_time = ?
             WHERE department_id = ? AND category_id = ? AND revision = ?",
        )
        .bind(&c.display_name)
        .bind(&c.description)
        .bind(keywords)
        .bind(c.status.as_str())
        .bind(now)
        .bind(c.department_id.as_str())
        .bind(c.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let sql = "SELECT 1 FROM service_categories WHERE department_id = ? AND category_id = ?";
            return Err(conflict_or_missing(&mut tx, sql, &c.department_id, c.id.as_str()).await);
        }
        let payload = serde_json::json!({
            "department": c.department_id.as_str(), "service_category": c.id.as_str(), "status": c.status.as_str()
        });
        record(&mut tx, ctx, &c.department_id, &resource::category(&c.department_id, &c.id), payload, now).await?;
        let updated = read_category(&mut tx, &c.department_id, c.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn create_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewServiceStandard,
    ) -> StoreResult<ServiceStandard> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(id) =
            claim_key(&mut tx, &new.department_id, idem, "service_standard", new.id.as_str(), micros(now_micros()))
                .await?
        {
            let s = read_standard(&mut tx, &new.department_id, &id).await?;
            self.commit(tx).await?;
            return Ok(s);
        }
        read_department(&mut tx, &new.department_id).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO service_standards (department_id, standard_id, category_id, channel, ack_secs, resolve_secs,
                 revision, create_time, update_time)
             VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(new.category.as_ref().map(|c| c.as_str()))
        .bind(new.channel.map(Channel::as_str))
        .bind(new.targets.acknowledge_secs())
        .bind(new.targets.resolve_secs())
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::standard(&new.department_id, &new.id);
        let payload =
            serde_json::json!({ "department": new.department_id.as_str(), "service_standard": new.id.as_str() });
        record(&mut tx, ctx, &new.department_id, &name, payload, micros(now)).await?;
        self.commit(tx).await?;
        Ok(ServiceStandard {
            department_id: new.department_id.clone(),
            id: new.id.clone(),
            category: new.category.clone(),
            channel: new.channel,
            targets: new.targets,
            create_time: now,
            update_time: now,
            revision: 1,
        })
    }

    async fn get_service_standard(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceStandardId,
    ) -> StoreResult<ServiceStandard> {
        in_scope(scope, department)?;
        read_standard(&mut *self.read_conn().await?, department, id.as_str()).await
    }

    async fn list_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> StoreResult<Page<ServiceStandard>> {
        in_scope(scope, department)?;
        let sql = format!(
            "SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = ? AND standard_id > ?
             ORDER BY standard_id LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(department.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(standard_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |s| s.id.to_string()))
    }

    async fn all_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> StoreResult<Vec<ServiceStandard>> {
        in_scope(scope, department)?;
        let mut conn = self.read_conn().await?;
        read_standards(&mut conn, department).await
    }

    async fn update_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        s: &ServiceStandard,
        expected_revision: i64,
    ) -> StoreResult<ServiceStandard> {
        in_scope(ctx.scope, &s.department_id)?;
        let mut tx = self.write(ctx).await?;
        let now = micros(now_micros());
        let done = sqlx::query(
            "UPDATE service_standards SET ack_secs = ?, resolve_secs = ?, revision = revision + 1, update_time = ?
             WHERE department_id = ? AND standard_id = ? AND revision = ?",
        )
        .bind(s.targets.acknowledge_secs())
        .bind(s.targets.resolve_secs())
        .bind(now)
        .bind(s.department_id.as_str())
        .bind(s.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let sql = "SELECT 1 FROM service_standards WHERE department_id = ? AND standard_id = ?";
            return Err(conflict_or_missing(&mut tx, sql, &s.department_id, s.id.as_str()).await);
        }
        let payload = serde_json::json!({ "department": s.department_id.as_str(), "service_standard": s.id.as_str() });
        record(&mut tx, ctx, &s.department_id, &resource::standard(&s.department_id, &s.id), payload, now).await?;
        let updated = read_standard(&mut tx, &s.department_id, s.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn delete_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        id: &ServiceStandardId,
        expected_revision: Option<i64>,
    ) -> StoreResult<()> {
        in_scope(ctx.scope, department)?;
        let mut tx = self.write(ctx).await?;
        let done = sqlx::query(
            "DELETE FROM service_standards WHERE department_id = ? AND standard_id = ? AND (? IS NULL OR revision = ?)",
        )
        .bind(department.as_str())
        .bind(id.as_str())
        .bind(expected_revision)
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let sql = "SELECT 1 FROM service_standards WHERE department_id = ? AND standard_id = ?";
            return Err(conflict_or_missing(&mut tx, sql, department, id.as_str()).await);
        }
        let payload = serde_json::json!({ "department": department.as_str(), "service_standard": id.as_str() });
        record(&mut tx, ctx, department, &resource::standard(department, id), payload, micros(now_micros())).await?;
        self.commit(tx).await
    }

    async fn count_audit_records(&self, scope: &TenantScope, department: &DepartmentId) -> StoreResult<i64> {
        in_scope(scope, department)?;
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE department_id = ?")
            .bind(department.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn count_events(&self, scope: &TenantScope, department: &DepartmentId) -> StoreResult<i64> {
        in_scope(scope, department)?;
        sqlx::query_scalar("SELECT count(*) FROM events WHERE department_id = ?")
            .bind(department.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }
}
