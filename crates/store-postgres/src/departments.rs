//! Departments, service categories and service standards on PostgreSQL: the shared
//! implementation ([`cityserve_store_sql::department_store!`]) plus the one statement whose scope
//! filter is PostgreSQL's own (an array parameter).
use crate::{PgStore, db_err};
use cityserve_domain::{DepartmentStatus, PageRequest, TenantScope};
use cityserve_store::StoreResult;
use sqlx::postgres::PgRow;

cityserve_store_sql::department_reads!();
cityserve_store_sql::department_store!(PgStore);
cityserve_store_sql::calendar_store!(PgStore);

impl PgStore {
    /// A page (plus one) of the departments in `scope`, optionally of one status.
    async fn list_departments_in(
        &self,
        scope: &TenantScope,
        status: Option<DepartmentStatus>,
        page: &PageRequest,
    ) -> StoreResult<Vec<PgRow>> {
        let sql = format!(
            "SELECT {} FROM departments
             WHERE department_id > $1 AND ($2::text IS NULL OR status = $2)
               AND ($3::text[] IS NULL OR department_id = ANY ($3))
             ORDER BY department_id LIMIT $4",
            cityserve_store_sql::departments::DEPARTMENT_COLUMNS
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
        Ok(rows)
    }
}
