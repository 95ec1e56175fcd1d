//! The PostgreSQL backend of CityServe's [`Store`], with row-level security. All of its SQL lives
//! here.
//!
//! Tenant isolation holds three times over: the API's policy hands out a [`TenantScope`], every
//! method refuses departments outside it and filters by `department_id`, and the database's
//! row-level security admits only the scope's tenants. For the last one the server acts as a
//! non-owner role without `BYPASSRLS` (checked on every new connection), and each transaction
//! starts by setting `app.tenant_ids` and `app.role` transaction-locally.

mod audit;
mod coordination;
mod feedback_store;
mod import;
mod lease;
mod officer_store;
mod open311;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

pub(crate) use write::{WriteTx, audit, claim_key, record};

use cityserve_domain::{
    Channel, Department, DepartmentId, DepartmentStatus, NewDepartment, NewServiceCategory, NewServiceStandard, Page,
    PageRequest, ServiceCategory, ServiceCategoryId, ServiceCategoryStatus, ServiceStandard, ServiceStandardId,
    ServiceTargets, TenantScope,
};
use cityserve_store::{Idempotency, Store, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest wait for a pooled connection before a call fails with UNAVAILABLE.
const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

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
}

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

/// [`cityserve_domain::report::month_of`], for a day number read or computed by the store.
fn month_of(day: i64) -> StoreResult<i64> {
    cityserve_domain::report::month_of(day)
        .ok_or_else(|| StoreError::Internal(format!("day number {day} is out of range")))
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
    type Summed<'a> = std::collections::BTreeMap<(&'a str, i64, &'a str), i64>;
    let mut daily = Summed::new();
    let mut monthly = Summed::new();
    for d in deltas {
        *daily.entry((d.department.as_str(), d.day, d.metric.as_str())).or_default() += d.value;
        *monthly.entry((d.department.as_str(), month_of(d.day)?, d.metric.as_str())).or_default() += d.value;
    }
    #[allow(clippy::type_complexity)]
    fn columns(summed: Summed<'_>) -> (Vec<&str>, Vec<i64>, Vec<&str>, Vec<i64>) {
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

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

fn id<T>(
    row: &PgRow,
    col: &str,
    parse: fn(&str, &str) -> Result<T, cityserve_domain::ValidationError>,
) -> StoreResult<T> {
    let v: String = row.try_get(col).map_err(db_err)?;
    parse(col, &v).map_err(|_| corrupt(col))
}

fn department_from(row: &PgRow) -> StoreResult<Department> {
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
        create_time: row.try_get("create_time").map_err(db_err)?,
        update_time: row.try_get("update_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn category_from(row: &PgRow) -> StoreResult<ServiceCategory> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let Json(keywords): Json<Vec<String>> = row.try_get("keywords").map_err(|_| corrupt("keywords"))?;
    Ok(ServiceCategory {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "category_id", ServiceCategoryId::parse)?,
        display_name: row.try_get("display_name").map_err(db_err)?,
        description: row.try_get("description").map_err(db_err)?,
        keywords,
        status: ServiceCategoryStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        create_time: row.try_get("create_time").map_err(db_err)?,
        update_time: row.try_get("update_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn standard_from(row: &PgRow) -> StoreResult<ServiceStandard> {
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
        create_time: row.try_get("create_time").map_err(db_err)?,
        update_time: row.try_get("update_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

fn in_scope(scope: &TenantScope, department: &DepartmentId) -> StoreResult<()> {
    if scope.allows(department) { Ok(()) } else { Err(StoreError::NotFound) }
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

/// Fails with a precondition error unless `owner` is an active officer of `d`.
async fn require_active_officer(
    conn: &mut PgConnection,
    d: &DepartmentId,
    owner: &cityserve_domain::OfficerId,
) -> StoreResult<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM officers WHERE department_id = $1 AND officer_id = $2 AND status = 'active'")
            .bind(d.as_str())
            .bind(owner.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    if found.is_none() {
        return Err(StoreError::FailedPrecondition(format!("{owner} is not an active officer of department {d}")));
    }
    Ok(())
}

/// The scope's departments as one array parameter (`None`: city-wide). Row-level security
/// enforces the same, this keeps the query plan tenant-first.
fn scope_ids(scope: &TenantScope) -> Option<Vec<String>> {
    scope.departments().map(|ds| ds.iter().map(|d| d.as_str().to_owned()).collect())
}

/// Every service standard of a department, ordered by ID.
async fn read_standards(tx: &mut PgConnection, d: &DepartmentId) -> StoreResult<Vec<ServiceStandard>> {
    let sql = format!("SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = $1 ORDER BY standard_id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_all(&mut *tx).await.map_err(db_err)?;
    rows.iter().map(standard_from).collect()
}

const DEPARTMENT_COLUMNS: &str = "department_id, display_name, description, status, default_ack_secs, \
     default_resolve_secs, revision, create_time, update_time";
const CATEGORY_COLUMNS: &str =
    "department_id, category_id, display_name, description, keywords, status, revision, create_time, update_time";
const STANDARD_COLUMNS: &str =
    "department_id, standard_id, category_id, channel, ack_secs, resolve_secs, revision, create_time, update_time";

async fn read_department(tx: &mut PgConnection, d: &DepartmentId) -> StoreResult<Department> {
    let sql = format!("SELECT {DEPARTMENT_COLUMNS} FROM departments WHERE department_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_optional(&mut *tx).await.map_err(db_err)?;
    department_from(&row.ok_or(StoreError::NotFound)?)
}

async fn read_category(tx: &mut PgConnection, d: &DepartmentId, c: &str) -> StoreResult<ServiceCategory> {
    let sql =
        format!("SELECT {CATEGORY_COLUMNS} FROM service_categories WHERE department_id = $1 AND category_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(c)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    category_from(&row.ok_or(StoreError::NotFound)?)
}

async fn read_standard(tx: &mut PgConnection, d: &DepartmentId, s: &str) -> StoreResult<ServiceStandard> {
    let sql = format!("SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = $1 AND standard_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(s)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
    standard_from(&row.ok_or(StoreError::NotFound)?)
}

/// After a conditional write touched no row: stale revision if the row exists, else missing.
async fn conflict_or_missing(
    tx: &mut PgConnection,
    exists_sql: &'static str,
    d: &DepartmentId,
    key: &str,
) -> StoreError {
    let q = sqlx::query_scalar::<_, i32>(exists_sql).bind(d.as_str());
    let q = if key.is_empty() { q } else { q.bind(key) };
    match q.fetch_optional(&mut *tx).await {
        Ok(Some(_)) => StoreError::Conflict,
        Ok(None) => StoreError::NotFound,
        Err(e) => db_err(e),
    }
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
        Self { pool, events, listener, commits, publish_pool }
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

impl Store for PgStore {
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
        let now = now_micros();
        if claim_key(&mut tx, &new.id, idem, "department", new.id.as_str(), now).await?.is_some() {
            let d = read_department(&mut tx, &new.id).await?;
            self.commit(tx).await?;
            return Ok(d);
        }
        let sql = format!(
            "INSERT INTO departments (department_id, display_name, description, status, default_ack_secs,
                 default_resolve_secs, revision, create_time, update_time)
             VALUES ($1, $2, $3, 'active', $4, $5, 1, $6, $6) RETURNING {DEPARTMENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.id.as_str())
            .bind(&new.display_name)
            .bind(&new.description)
            .bind(new.default_targets.acknowledge_secs())
            .bind(new.default_targets.resolve_secs())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let d = department_from(&row)?;
        record(
            &mut tx,
            ctx,
            &new.id,
            &resource::department(&new.id),
            serde_json::json!({ "department": new.id.as_str() }),
        )
        .await?;
        self.commit(tx).await?;
        Ok(d)
    }

    async fn get_department(&self, scope: &TenantScope, id: &DepartmentId) -> StoreResult<Department> {
        in_scope(scope, id)?;
        let mut tx = self.read(scope).await?;
        let d = read_department(&mut tx, id).await?;
        tx.finish().await?;
        Ok(d)
    }

    async fn list_departments(
        &self,
        scope: &TenantScope,
        status: Option<DepartmentStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<Department>> {
        let sql = format!(
            "SELECT {DEPARTMENT_COLUMNS} FROM departments
             WHERE department_id > $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::text[] IS NULL OR department_id = ANY ($3))
             ORDER BY department_id LIMIT $4"
        );
        let only: Option<Vec<String>> = scope.departments().map(|ds| ds.iter().map(|d| d.to_string()).collect());
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(status.map(DepartmentStatus::as_str))
            .bind(only)
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
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
        let sql = format!(
            "UPDATE departments SET display_name = $1, description = $2, status = $3, default_ack_secs = $4,
                 default_resolve_secs = $5, revision = revision + 1, update_time = $6
             WHERE department_id = $7 AND revision = $8 RETURNING {DEPARTMENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&d.display_name)
            .bind(&d.description)
            .bind(d.status.as_str())
            .bind(d.default_targets.acknowledge_secs())
            .bind(d.default_targets.resolve_secs())
            .bind(now_micros())
            .bind(d.id.as_str())
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Err(
                conflict_or_missing(&mut tx, "SELECT 1 FROM departments WHERE department_id = $1", &d.id, "").await
            );
        };
        let updated = department_from(&row)?;
        let payload = serde_json::json!({ "department": d.id.as_str(), "status": d.status.as_str() });
        record(&mut tx, ctx, &d.id, &resource::department(&d.id), payload).await?;
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
        let now = now_micros();
        if let Some(id) = claim_key(&mut tx, &new.department_id, idem, "service_category", new.id.as_str(), now).await?
        {
            let c = read_category(&mut tx, &new.department_id, &id).await?;
            self.commit(tx).await?;
            return Ok(c);
        }
        let sql = format!(
            "INSERT INTO service_categories (department_id, category_id, display_name, description, keywords, status,
                 revision, create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, 'active', 1, $6, $6) RETURNING {CATEGORY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.department_id.as_str())
            .bind(new.id.as_str())
            .bind(&new.display_name)
            .bind(&new.description)
            .bind(Json(&new.keywords))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let c = category_from(&row)?;
        let payload =
            serde_json::json!({ "department": new.department_id.as_str(), "service_category": new.id.as_str() });
        record(&mut tx, ctx, &new.department_id, &resource::category(&new.department_id, &new.id), payload).await?;
        self.commit(tx).await?;
        Ok(c)
    }

    async fn get_service_category(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceCategoryId,
    ) -> StoreResult<ServiceCategory> {
        in_scope(scope, department)?;
        let mut tx = self.read(scope).await?;
        let c = read_category(&mut tx, department, id.as_str()).await?;
        tx.finish().await?;
        Ok(c)
    }

    async fn list_service_categories(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        status: Option<ServiceCategoryStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ServiceCategory>> {
        in_scope(scope, department)?;
        let sql = format!(
            "SELECT {CATEGORY_COLUMNS} FROM service_categories
             WHERE department_id = $1 AND category_id > $2 AND ($3::text IS NULL OR status = $3)
             ORDER BY category_id LIMIT $4"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(department.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(status.map(ServiceCategoryStatus::as_str))
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
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
        let sql = format!(
            "UPDATE service_categories SET display_name = $1, description = $2, keywords = $3, status = $4,
                 revision = revision + 1, update_time = $5
             WHERE department_id = $6 AND category_id = $7 AND revision = $8 RETURNING {CATEGORY_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&c.display_name)
            .bind(&c.description)
            .bind(Json(&c.keywords))
            .bind(c.status.as_str())
            .bind(now_micros())
            .bind(c.department_id.as_str())
            .bind(c.id.as_str())
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            let sql = "SELECT 1 FROM service_categories WHERE department_id = $1 AND category_id = $2";
            return Err(conflict_or_missing(&mut tx, sql, &c.department_id, c.id.as_str()).await);
        };
        let updated = category_from(&row)?;
        let payload = serde_json::json!({
            "department": c.department_id.as_str(), "service_category": c.id.as_str(), "status": c.status.as_str()
        });
        record(&mut tx, ctx, &c.department_id, &resource::category(&c.department_id, &c.id), payload).await?;
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
        let now = now_micros();
        if let Some(id) = claim_key(&mut tx, &new.department_id, idem, "service_standard", new.id.as_str(), now).await?
        {
            let s = read_standard(&mut tx, &new.department_id, &id).await?;
            self.commit(tx).await?;
            return Ok(s);
        }
        let sql = format!(
            "INSERT INTO service_standards (department_id, standard_id, category_id, channel, ack_secs, resolve_secs,
                 revision, create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING {STANDARD_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.department_id.as_str())
            .bind(new.id.as_str())
            .bind(new.category.as_ref().map(ServiceCategoryId::as_str))
            .bind(new.channel.map(Channel::as_str))
            .bind(new.targets.acknowledge_secs())
            .bind(new.targets.resolve_secs())
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let s = standard_from(&row)?;
        let payload =
            serde_json::json!({ "department": new.department_id.as_str(), "service_standard": new.id.as_str() });
        record(&mut tx, ctx, &new.department_id, &resource::standard(&new.department_id, &new.id), payload).await?;
        self.commit(tx).await?;
        Ok(s)
    }

    async fn get_service_standard(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &ServiceStandardId,
    ) -> StoreResult<ServiceStandard> {
        in_scope(scope, department)?;
        let mut tx = self.read(scope).await?;
        let s = read_standard(&mut tx, department, id.as_str()).await?;
        tx.finish().await?;
        Ok(s)
    }

    async fn list_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> StoreResult<Page<ServiceStandard>> {
        in_scope(scope, department)?;
        let sql = format!(
            "SELECT {STANDARD_COLUMNS} FROM service_standards WHERE department_id = $1 AND standard_id > $2
             ORDER BY standard_id LIMIT $3"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(department.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(standard_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |s| s.id.to_string()))
    }

    async fn all_service_standards(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> StoreResult<Vec<ServiceStandard>> {
        in_scope(scope, department)?;
        let mut tx = self.read(scope).await?;
        let standards = read_standards(&mut tx, department).await?;
        tx.finish().await?;
        Ok(standards)
    }

    async fn update_service_standard(
        &self,
        ctx: &WriteCtx<'_>,
        s: &ServiceStandard,
        expected_revision: i64,
    ) -> StoreResult<ServiceStandard> {
        in_scope(ctx.scope, &s.department_id)?;
        let mut tx = self.write(ctx).await?;
        let sql = format!(
            "UPDATE service_standards SET ack_secs = $1, resolve_secs = $2, revision = revision + 1, update_time = $3
             WHERE department_id = $4 AND standard_id = $5 AND revision = $6 RETURNING {STANDARD_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(s.targets.acknowledge_secs())
            .bind(s.targets.resolve_secs())
            .bind(now_micros())
            .bind(s.department_id.as_str())
            .bind(s.id.as_str())
            .bind(expected_revision)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            let sql = "SELECT 1 FROM service_standards WHERE department_id = $1 AND standard_id = $2";
            return Err(conflict_or_missing(&mut tx, sql, &s.department_id, s.id.as_str()).await);
        };
        let updated = standard_from(&row)?;
        let payload = serde_json::json!({ "department": s.department_id.as_str(), "service_standard": s.id.as_str() });
        record(&mut tx, ctx, &s.department_id, &resource::standard(&s.department_id, &s.id), payload).await?;
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
            "DELETE FROM service_standards
             WHERE department_id = $1 AND standard_id = $2 AND ($3::bigint IS NULL OR revision = $3)",
        )
        .bind(department.as_str())
        .bind(id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let sql = "SELECT 1 FROM service_standards WHERE department_id = $1 AND standard_id = $2";
            return Err(conflict_or_missing(&mut tx, sql, department, id.as_str()).await);
        }
        let payload = serde_json::json!({ "department": department.as_str(), "service_standard": id.as_str() });
        record(&mut tx, ctx, department, &resource::standard(department, id), payload).await?;
        self.commit(tx).await
    }

    async fn count_audit_records(&self, scope: &TenantScope, department: &DepartmentId) -> StoreResult<i64> {
        in_scope(scope, department)?;
        let mut tx = self.read(scope).await?;
        let n = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE department_id = $1")
            .bind(department.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        Ok(n)
    }

    async fn count_events(&self, scope: &TenantScope, department: &DepartmentId) -> StoreResult<i64> {
        in_scope(scope, department)?;
        let mut tx = self.read(scope).await?;
        let n = sqlx::query_scalar("SELECT count(*) FROM events WHERE department_id = $1")
            .bind(department.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        Ok(n)
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
