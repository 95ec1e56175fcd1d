//! [`ImportStore`] on SQLite: multi-row INSERTs of up to [`ROWS_PER_STATEMENT`] rows, all of an
//! import in one transaction on a connection of its own (see [`SqliteStore::load_connection`]);
//! each batch is validated and bound on a blocking thread while the previous one is written, and
//! the counters are aggregated in memory and added once per import. The import holds SQLite's
//! single write lock from its first batch to its commit: other writers wait (busy timeout) meanwhile.
use crate::{SqliteStore, db_err, in_scope, micros};
use cityserve_domain::DepartmentId;
use cityserve_store::import::{ImportCounters, ImportRules, ImportStore, ImportedContact, validate_batch};
use cityserve_store::{StoreResult, WriteCtx};
use cityserve_store_sql::import::{Pipeline, batches};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteSynchronous;
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows per INSERT statement (SQLite allows 32,766 bound values; a row binds at most 18).
const ROWS_PER_STATEMENT: usize = 1_000;

/// Contacts per batch when [`ImportStore::import_contacts`] feeds a slice to the stream.
const ITEMS_PER_BATCH: usize = 10_000;

/// Page cache of the load connection, in KiB (`PRAGMA cache_size` takes KiB as a negative
/// number): large enough that a big department's indexes stay in memory during its transaction.
const LOAD_CACHE_KIB: i64 = 262_144;

/// A bound value.
enum Val<'a> {
    /// Text, bound as a copy.
    Text(Option<&'a str>),
    /// Text shared between rows (see [`Interner`]), bound without a copy.
    Shared(Option<Arc<str>>),
    Int(Option<i64>),
    Real(Option<f64>),
}

/// Distinct values an [`Interner`] keeps; beyond that, values are bound as copies.
const INTERNED_MAX: usize = 32;

/// Shares the few distinct values of a low-cardinality column (channel, kind, category, ...)
/// within a batch: binding a shared `Arc<str>` copies no text, where binding a `&str` allocates
/// a copy that the database thread must free again, which was a large part of its work.
#[derive(Default)]
struct Interner(Vec<Arc<str>>);

impl Interner {
    fn val(&mut self, s: Option<&str>) -> Val<'static> {
        let Some(s) = s else { return Val::Shared(None) };
        if let Some(a) = self.0.iter().find(|a| &***a == s) {
            return Val::Shared(Some(Arc::clone(a)));
        }
        let a: Arc<str> = Arc::from(s);
        if self.0.len() < INTERNED_MAX {
            self.0.push(Arc::clone(&a));
        }
        Val::Shared(Some(a))
    }
}

/// One [`Interner`] per low-cardinality column of a batch.
#[derive(Default)]
struct Interners {
    department: Interner,
    channel: Interner,
    kind: Interner,
    language: Interner,
    category: Interner,
    status: Interner,
    assignee: Interner,
}

/// A statement with its values bound, ready to run.
type Statement = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// Binds `rows` (each `cols.len()` values) into INSERTs of `table`, many rows per statement (all
/// full statements share one SQL text, so SQLite prepares it once per connection).
///
/// `OR FAIL`: a row that breaks a constraint stops its statement with the same error as a plain
/// `INSERT` (the default, `ABORT`), but SQLite need not undo the statement's earlier rows, so it
/// keeps no statement journal: under `ABORT` a multi-row statement copied every page it touched
/// into one first (a tenth of the load's database thread). Any error fails the whole import,
/// whose transaction is then rolled back, so the rows that did go in never stand (store suite
/// `history_imports_in_bulk_with_its_counters`).
fn insert_statements(table: &str, cols: &[&str], rows: Vec<Vec<Val<'_>>>) -> Vec<Statement> {
    let placeholders = format!("({})", vec!["?"; cols.len()].join(", "));
    let mut out = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_STATEMENT));
    let empty: Arc<str> = Arc::from("");
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val<'_>>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let sql = format!(
            "INSERT OR FAIL INTO {table} ({}) VALUES {}",
            cols.join(", "),
            vec![placeholders.as_str(); chunk.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    // Many optional texts are empty (device, account, address ID, media): bound
                    // shared, they cost no copy to make and none to free on the database thread.
                    Val::Text(Some("")) => q.bind(Some(Arc::clone(&empty))),
                    Val::Text(t) => q.bind(t),
                    Val::Shared(t) => q.bind(t),
                    Val::Int(i) => q.bind(i),
                    Val::Real(r) => q.bind(r),
                };
            }
        }
        out.push(q);
    }
    out
}

/// Validates `items` (numbered from `first`) and binds their rows: feedback first, then the
/// cases and timeline entries that refer to it. Runs on a blocking thread.
fn prepare(
    rules: &ImportRules,
    first: usize,
    items: Vec<ImportedContact>,
) -> StoreResult<(Vec<Statement>, ImportCounters)> {
    let batch = validate_batch(rules, first, items)?;
    let department = rules.department.as_str();
    let mut shared = Interners::default();
    let mut feedback_rows = Vec::with_capacity(batch.items.len());
    let mut case_rows = Vec::new();
    let mut timeline_rows = Vec::new();
    // One line per media reference (the column's format); owned here, borrowed by the rows.
    let media: Vec<String> =
        batch.items.iter().map(|item| cityserve_store_sql::feedback::media_column(&item.feedback.media)).collect();
    let answers: Vec<String> =
        batch.items.iter().map(|item| cityserve_store_sql::rows::json_column(&item.feedback.attributes)).collect();
    for (((item, case), media), answers) in batch.items.iter().zip(&batch.cases).zip(&media).zip(&answers) {
        let f = &item.feedback;
        feedback_rows.push(vec![
            shared.department.val(Some(department)),
            Val::Text(Some(f.id.as_str())),
            shared.channel.val(Some(f.channel.as_str())),
            shared.kind.val(Some(f.kind.as_str())),
            Val::Int(f.csat.map(i64::from)),
            Val::Int(f.nps.map(i64::from)),
            Val::Text(Some(&f.text)),
            shared.language.val(Some(&f.language)),
            shared.category.val(f.category.as_ref().map(|c| c.as_str())),
            Val::Text(Some(&f.location.address)),
            Val::Real(f.location.latitude),
            Val::Real(f.location.longitude),
            Val::Int(Some(micros(f.occurred_at))),
            Val::Int(Some(micros(item.received_at))),
            Val::Text(item.resident_key.as_deref()),
            Val::Text(f.internal_customer.as_ref().map(|c| c.as_str())),
            Val::Text(f.source.as_deref()),
            Val::Text(Some(media)),
            Val::Text(Some(&f.location.address_id)),
            Val::Text(Some(answers)),
            Val::Text(Some(&f.client_ids.device_id)),
            Val::Text(Some(&f.client_ids.account_id)),
        ]);
        if let Some(c) = case {
            case_rows.push(vec![
                shared.department.val(Some(c.department_id.as_str())),
                Val::Text(Some(c.id.as_str())),
                shared.status.val(Some(c.status.as_str())),
                shared.assignee.val(c.assignee.as_ref().map(|a| a.as_str())),
                shared.category.val(c.category.as_ref().map(|x| x.as_str())),
                shared.channel.val(Some(c.channel.as_str())),
                Val::Int(Some(micros(c.received_at))),
                Val::Int(Some(micros(c.acknowledge_due))),
                Val::Int(Some(micros(c.resolve_due))),
                Val::Int(c.acknowledged_at.map(micros)),
                Val::Int(c.resolved_at.map(micros)),
                Val::Int(c.closed_at.map(micros)),
                Val::Int(Some(i64::from(c.reopen_count))),
                Val::Text(c.follow_up.as_ref().map(|x| x.as_str())),
                Val::Int(c.satisfied.map(i64::from)),
                Val::Text(c.resident_key.as_deref()),
                Val::Int(Some(1)),
                Val::Int(Some(micros(c.update_time))),
                Val::Int(Some(micros(c.first_contact_at))),
            ]);
        }
        if let Some(key) = &item.resident_key {
            timeline_rows.push(vec![
                shared.department.val(Some(department)),
                Val::Text(Some(f.id.as_str())),
                Val::Text(Some(key)),
                shared.channel.val(Some(f.channel.as_str())),
                Val::Int(Some(micros(f.occurred_at))),
                shared.status.val(case.as_ref().map(|c| c.status.as_str())),
            ]);
        }
    }
    let mut statements = insert_statements(
        "feedback",
        &[
            "department_id",
            "feedback_id",
            "channel",
            "kind",
            "csat",
            "nps",
            "text",
            "language",
            "category_id",
            "address",
            "latitude",
            "longitude",
            "occurred_at",
            "received_at",
            "resident_key",
            "internal_customer",
            "source",
            "media_urls",
            "address_id",
            "attributes",
            "device_id",
            "account_id",
        ],
        feedback_rows,
    );
    statements.extend(insert_statements(
        "cases",
        &[
            "department_id",
            "case_id",
            "status",
            "assignee",
            "category_id",
            "channel",
            "received_at",
            "acknowledge_due",
            "resolve_due",
            "acknowledged_at",
            "resolved_at",
            "closed_at",
            "reopen_count",
            "follow_up",
            "satisfied",
            "resident_key",
            "revision",
            "update_time",
            "first_contact_at",
        ],
        case_rows,
    ));
    statements.extend(insert_statements(
        "timeline_entries",
        &["department_id", "feedback_id", "resident_key", "channel", "occurred_at", "case_status"],
        timeline_rows,
    ));
    Ok((statements, batch.counters))
}

/// The connection a bulk load writes on.
enum LoadConnection {
    /// A connection of its own, outside the pool, tuned for the load and closed after it.
    Own(SqliteConnection),
    /// A pooled connection as it is (an in-memory database exists only on the pool's connection).
    Pooled(PoolConnection<Sqlite>),
}

impl LoadConnection {
    fn conn(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Own(c) => c,
            Self::Pooled(c) => c,
        }
    }
}

impl SqliteStore {
    /// The connection for a bulk load. For a database file: a fresh connection with the pool's
    /// options plus `synchronous = OFF` (the load's commits are not synced; WAL keeps the file
    /// consistent, and a load cut by a power loss is simply run again), a [`LOAD_CACHE_KIB`]
    /// page cache, and no foreign-key lookups (every reference an import writes is checked before:
    /// the department is read and active in the same transaction, categories are among its
    /// active ones, and cases and timeline entries refer to feedback of the same import; primary
    /// keys, `CHECK`s and `NOT NULL` are still enforced). It is closed after the load, so these
    /// settings never reach the pool, whose connections (the server's) keep WAL with
    /// `synchronous = NORMAL` and foreign keys on.
    async fn load_connection(&self) -> StoreResult<LoadConnection> {
        let file: String = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        if file.is_empty() {
            return Ok(LoadConnection::Pooled(self.pool.acquire().await.map_err(db_err)?));
        }
        let options = (*self.pool.connect_options())
            .clone()
            .synchronous(SqliteSynchronous::Off)
            .foreign_keys(false)
            .pragma("cache_size", format!("-{LOAD_CACHE_KIB}"))
            .pragma("temp_store", "memory");
        Ok(LoadConnection::Own(options.connect().await.map_err(db_err)?))
    }
}

cityserve_store_sql::import_steps!();

impl ImportStore for SqliteStore {
    async fn import_contacts(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        items: &[ImportedContact],
    ) -> StoreResult<u64> {
        self.import_stream(ctx, department, batches(items, ITEMS_PER_BATCH)?).await
    }

    async fn import_stream(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        mut batches: mpsc::Receiver<Vec<ImportedContact>>,
    ) -> StoreResult<u64> {
        in_scope(ctx.scope, department)?;
        let mut load = self.load_connection().await?;
        let mut tx = self.write_on(load.conn(), ctx).await?;
        let rules = import_rules(&mut tx, department).await?;
        // Each batch is validated and bound on a blocking thread. On any error the transaction
        // is rolled back (dropped).
        let mut pipeline = Pipeline::start(rules, prepare, &mut batches).await;
        while let Some(statements) = pipeline.next().await? {
            let write = async {
                for q in statements {
                    q.execute(&mut *tx).await.map_err(db_err)?;
                }
                StoreResult::Ok(())
            };
            pipeline.write_while_receiving(&mut batches, write).await?;
        }
        let imported = import_done(&mut tx, ctx, department, pipeline.finish()).await?;
        self.commit(tx).await?;
        if let LoadConnection::Own(conn) = load {
            conn.close().await.map_err(db_err)?;
        }
        Ok(imported)
    }
}
