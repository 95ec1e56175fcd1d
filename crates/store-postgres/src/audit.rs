//! [`cityserve_store::audit::AuditStore`] on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::audit_store!`]). Refusals are appended like any audit record, at the
//! database's clock (row-level security checks the department against the transaction's
//! tenants); listings walk the log newest first. The app role holds only SELECT and INSERT on
//! `audit_log` (migration 0006).
use crate::PgStore;
use cityserve_store_sql::audit::INSERT_REFUSAL_NOW as INSERT_REFUSAL;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

/// Nothing to bind: the statement takes the database's clock.
fn bind_time(q: Query<'_, Postgres, PgArguments>) -> Query<'_, Postgres, PgArguments> {
    q
}

cityserve_store_sql::audit_store!(PgStore);
