//! Initiatives on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::initiative_store!`]), with the member list also kept in the
//! initiative's row (row-level security shows every member the whole list from there).
use crate::{PgStore, db_err};
use cityserve_domain::DepartmentId;
use cityserve_domain::coordination::Initiative;
use cityserve_store::StoreResult;
use cityserve_store_sql::initiatives::{
    INSERT_INITIATIVE_AND_MEMBERS as INSERT_INITIATIVE, UPDATE_INITIATIVE_AND_MEMBERS as UPDATE_INITIATIVE,
};
use sqlx::PgConnection;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

/// Binds the row's copy of the (sorted) member list.
fn bind_members<'q>(
    q: Query<'q, Postgres, PgArguments>,
    members: &[&DepartmentId],
) -> Query<'q, Postgres, PgArguments> {
    q.bind(members.iter().map(|m| m.as_str().to_owned()).collect::<Vec<_>>())
}

/// Rewrites the `initiative_members` rows, in one statement.
async fn write_members(conn: &mut PgConnection, i: &Initiative) -> StoreResult<()> {
    sqlx::query("DELETE FROM initiative_members WHERE lead_department = $1 AND initiative_id = $2")
        .bind(i.department_id.as_str())
        .bind(i.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let members: Vec<&str> =
        cityserve_store_sql::coordination::sorted_members(&i.members).into_iter().map(DepartmentId::as_str).collect();
    sqlx::query(
        "INSERT INTO initiative_members (department_id, lead_department, initiative_id)
         SELECT m, $2, $3 FROM unnest($1::text[]) AS m",
    )
    .bind(members)
    .bind(i.department_id.as_str())
    .bind(i.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

cityserve_store_sql::initiative_store!(PgStore);
