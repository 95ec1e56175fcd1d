//! Initiatives on SQLite: the shared implementation ([`cityserve_store_sql::initiative_store!`]);
//! the member list lives in `initiative_members` only.
use crate::SqliteStore;
use cityserve_domain::DepartmentId;
use cityserve_store_sql::initiatives::{INSERT_INITIATIVE, UPDATE_INITIATIVE};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments};

/// One member per statement.
const INSERT_MEMBERS: &str =
    "INSERT INTO initiative_members (department_id, lead_department, initiative_id) VALUES ($1, $2, $3)";

/// The members, one [`INSERT_MEMBERS`] each.
fn member_values<'a>(members: &[&'a DepartmentId]) -> Vec<&'a str> {
    members.iter().map(|m| m.as_str()).collect()
}

/// Nothing to bind: the initiative's row keeps no copy of its members.
fn bind_members<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    _members: &[&DepartmentId],
) -> Query<'q, Sqlite, SqliteArguments> {
    q
}

cityserve_store_sql::initiative_store!(SqliteStore);
