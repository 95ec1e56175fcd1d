//! [`cityserve_store::audit::AuditStore`] on SQLite: the shared implementation
//! ([`cityserve_store_sql::audit_store!`]). Refusals are appended like any audit record;
//! listings walk the log newest first. The log is append-only (triggers of migration 0001).
use crate::SqliteStore;
use cityserve_store_sql::audit::INSERT_REFUSAL_AT as INSERT_REFUSAL;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};

/// Binds the instant of the refusal (now, in microseconds).
fn bind_time(q: Query<'_, Sqlite, SqliteArguments>) -> Query<'_, Sqlite, SqliteArguments> {
    q.bind(crate::at(cityserve_store::now_micros()))
}

cityserve_store_sql::audit_store!(SqliteStore);
