//! Coordination on SQLite: the shared read helpers ([`cityserve_store_sql::coordination_reads!`])
//! and what is SQLite's own (an initiative's members read from `initiative_members`).
use crate::db_err;
use cityserve_domain::DepartmentId;
use cityserve_domain::coordination::Initiative;
use cityserve_store::StoreResult;
use cityserve_store_sql::SqlRow;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

pub(crate) use cityserve_store_sql::coordination::INITIATIVE_COLUMNS as INITIATIVE_SELECT;
pub(crate) use cityserve_store_sql::rows::event as event_from;

/// The status of a department (no row when there is no such department).
const DEPARTMENT_STATUS: &str = "SELECT status FROM departments WHERE department_id = $1";

cityserve_store_sql::coordination_reads!();

/// Initiative rows as initiatives, each with its members (sorted).
pub(crate) async fn initiatives_from(conn: &mut SqliteConnection, rows: &[SqliteRow]) -> StoreResult<Vec<Initiative>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT department_id FROM initiative_members WHERE lead_department = $1 AND initiative_id = $2
             ORDER BY department_id",
        )
        .bind(row.text("department_id")?)
        .bind(row.text("initiative_id")?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let members = cityserve_store_sql::parse_ids("department_id", &ids, DepartmentId::parse)?;
        out.push(cityserve_store_sql::rows::initiative(row, members)?);
    }
    Ok(out)
}
