//! Departments, service categories and service standards on SQLite: the shared implementation
//! ([`cityserve_store_sql::department_store!`]) plus the one statement whose scope filter is
//! SQLite's own (an `IN` list of bound values).
use crate::{SqliteStore, db_err};
use cityserve_domain::{DepartmentStatus, PageRequest, TenantScope};
use cityserve_store::StoreResult;
use sqlx::sqlite::SqliteRow;

cityserve_store_sql::department_reads!();
cityserve_store_sql::department_store!(SqliteStore);
cityserve_store_sql::calendar_store!(SqliteStore);

impl SqliteStore {
    /// A page (plus one) of the departments in `scope`, optionally of one status.
    async fn list_departments_in(
        &self,
        scope: &TenantScope,
        status: Option<DepartmentStatus>,
        page: &PageRequest,
    ) -> StoreResult<Vec<SqliteRow>> {
        let mut sql = format!(
            "SELECT {} FROM departments WHERE department_id > ?",
            cityserve_store_sql::departments::DEPARTMENT_COLUMNS
        );
        if status.is_some() {
            sql.push_str(" AND status = ?");
        }
        if let Some(ds) = scope.departments() {
            if ds.is_empty() {
                return Ok(Vec::new());
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
        q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)
    }
}
