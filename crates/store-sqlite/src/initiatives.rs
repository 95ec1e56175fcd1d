//! Initiatives on SQLite: the shared implementation ([`cityserve_store_sql::initiative_store!`]);
//! the member list lives in `initiative_members` only.
use crate::{SqliteStore, db_err};
use cityserve_domain::DepartmentId;
use cityserve_domain::coordination::Initiative;
use cityserve_store::StoreResult;
use cityserve_store_sql::initiatives::{INSERT_INITIATIVE, UPDATE_INITIATIVE};
use sqlx::SqliteConnection;
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};

/// Nothing to bind: the initiative's row keeps no copy of its members.
fn bind_members<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    _members: &[&DepartmentId],
) -> Query<'q, Sqlite, SqliteArguments> {
    q
}

/// Rewrites the `initiative_members` rows, one statement per member.
async fn write_members(conn: &mut SqliteConnection, i: &Initiative) -> StoreResult<()> {
    sqlx::query("DELETE FROM initiative_members WHERE lead_department = $1 AND initiative_id = $2")
        .bind(i.department_id.as_str())
        .bind(i.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for m in &i.members {
        sqlx::query(
            "INSERT INTO initiative_members (department_id, lead_department, initiative_id) VALUES ($1, $2, $3)",
        )
        .bind(m.as_str())
        .bind(i.department_id.as_str())
        .bind(i.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

cityserve_store_sql::initiative_store!(SqliteStore);
