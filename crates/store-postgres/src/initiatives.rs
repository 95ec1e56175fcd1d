//! Initiatives on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::initiative_store!`]), with the member list also kept in the
//! initiative's row (row-level security shows every member the whole list from there).
use crate::PgStore;
use cityserve_domain::DepartmentId;
use cityserve_store_sql::initiatives::{
    INSERT_INITIATIVE_AND_MEMBERS as INSERT_INITIATIVE, UPDATE_INITIATIVE_AND_MEMBERS as UPDATE_INITIATIVE,
};
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;

/// All members in one statement, from an array.
const INSERT_MEMBERS: &str = "INSERT INTO initiative_members (department_id, lead_department, initiative_id)
     SELECT m, $2, $3 FROM unnest($1::text[]) AS m";

/// The members as one array, for [`INSERT_MEMBERS`].
fn member_values<'a>(members: &[&'a DepartmentId]) -> [Vec<&'a str>; 1] {
    [members.iter().map(|m| m.as_str()).collect()]
}

/// Binds the row's copy of the (sorted) member list.
fn bind_members<'q>(
    q: Query<'q, Postgres, PgArguments>,
    members: &[&DepartmentId],
) -> Query<'q, Postgres, PgArguments> {
    q.bind(members.iter().map(|m| m.as_str().to_owned()).collect::<Vec<_>>())
}

cityserve_store_sql::initiative_store!(PgStore);
