//! Departments, service categories and service standards: statements and the whole
//! [`cityserve_store::DepartmentStore`] implementation, written once ([`department_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

macro_rules! department_columns {
    () => {
        "department_id, display_name, description, status, default_ack_secs, default_resolve_secs, default_clock, \
         revision, create_time, update_time"
    };
}
macro_rules! category_columns {
    () => {
        "department_id, category_id, display_name, description, keywords, status, revision, create_time, update_time, \
         attributes, public"
    };
}
macro_rules! standard_columns {
    () => {
        "department_id, standard_id, category_id, channel, ack_secs, resolve_secs, clock, revision, create_time, \
         update_time"
    };
}

/// The columns [`crate::rows::department`] reads.
pub const DEPARTMENT_COLUMNS: &str = department_columns!();
/// One department by ID.
pub const SELECT_DEPARTMENT: &str =
    concat!("SELECT ", department_columns!(), " FROM departments WHERE department_id = $1");
/// Creates a department: ID, name, description, targets, time.
pub const INSERT_DEPARTMENT: &str = concat!(
    "INSERT INTO departments (department_id, display_name, description, status, default_ack_secs,
         default_resolve_secs, revision, create_time, update_time, default_clock)
     VALUES ($1, $2, $3, 'active', $4, $5, 1, $6, $6, $7) RETURNING ",
    department_columns!()
);
/// Writes a department at an expected revision.
pub const UPDATE_DEPARTMENT: &str = concat!(
    "UPDATE departments SET display_name = $1, description = $2, status = $3, default_ack_secs = $4,
         default_resolve_secs = $5, revision = revision + 1, update_time = $6, default_clock = $9
     WHERE department_id = $7 AND revision = $8 RETURNING ",
    department_columns!()
);
/// Whether a department exists.
pub const DEPARTMENT_EXISTS: &str = "SELECT 1 FROM departments WHERE department_id = $1";

/// One category by department and ID.
pub const SELECT_CATEGORY: &str =
    concat!("SELECT ", category_columns!(), " FROM service_categories WHERE department_id = $1 AND category_id = $2");
/// A page of a department's categories, optionally of one status.
pub const LIST_CATEGORIES: &str = concat!(
    "SELECT ",
    category_columns!(),
    " FROM service_categories
     WHERE department_id = $1 AND category_id > $2 AND ($3 IS NULL OR status = $3)
     ORDER BY category_id LIMIT $4"
);
/// Creates a category.
pub const INSERT_CATEGORY: &str = concat!(
    "INSERT INTO service_categories (department_id, category_id, display_name, description, keywords, status,
         revision, create_time, update_time, attributes, public)
     VALUES ($1, $2, $3, $4, $5, 'active', 1, $6, $6, $7, $8) RETURNING ",
    category_columns!()
);
/// Writes a category at an expected revision.
pub const UPDATE_CATEGORY: &str = concat!(
    "UPDATE service_categories SET display_name = $1, description = $2, keywords = $3, status = $4,
         revision = revision + 1, update_time = $5, attributes = $9, public = $10
     WHERE department_id = $6 AND category_id = $7 AND revision = $8 RETURNING ",
    category_columns!()
);
/// Whether a category exists.
pub const CATEGORY_EXISTS: &str = "SELECT 1 FROM service_categories WHERE department_id = $1 AND category_id = $2";

/// One standard by department and ID.
pub const SELECT_STANDARD: &str =
    concat!("SELECT ", standard_columns!(), " FROM service_standards WHERE department_id = $1 AND standard_id = $2");
/// Every standard of a department.
pub const ALL_STANDARDS: &str =
    concat!("SELECT ", standard_columns!(), " FROM service_standards WHERE department_id = $1 ORDER BY standard_id");
/// A page of a department's standards.
pub const LIST_STANDARDS: &str = concat!(
    "SELECT ",
    standard_columns!(),
    " FROM service_standards WHERE department_id = $1 AND standard_id > $2 ORDER BY standard_id LIMIT $3"
);
/// Creates a standard.
pub const INSERT_STANDARD: &str = concat!(
    "INSERT INTO service_standards (department_id, standard_id, category_id, channel, ack_secs, resolve_secs,
         revision, create_time, update_time, clock)
     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8) RETURNING ",
    standard_columns!()
);
/// Writes a standard's targets at an expected revision.
pub const UPDATE_STANDARD: &str = concat!(
    "UPDATE service_standards SET ack_secs = $1, resolve_secs = $2, revision = revision + 1, update_time = $3,
         clock = $7
     WHERE department_id = $4 AND standard_id = $5 AND revision = $6 RETURNING ",
    standard_columns!()
);
/// Deletes a standard, at an expected revision if one is given.
pub const DELETE_STANDARD: &str =
    "DELETE FROM service_standards WHERE department_id = $1 AND standard_id = $2 AND ($3 IS NULL OR revision = $3)";
/// Whether a standard exists.
pub const STANDARD_EXISTS: &str = "SELECT 1 FROM service_standards WHERE department_id = $1 AND standard_id = $2";

/// Read helpers for departments, categories and standards, expanded in a backend module. They
/// run on `crate::Conn` (the backend's connection type) and map errors with `crate::db_err`.
#[macro_export]
macro_rules! department_reads {
    () => {
        /// Reads a department.
        pub(crate) async fn read_department(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<cityserve_domain::Department> {
            let row = sqlx::query($crate::departments::SELECT_DEPARTMENT)
                .bind(d.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::department(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Reads a service category.
        pub(crate) async fn read_category(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            c: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::ServiceCategory> {
            let row = sqlx::query($crate::departments::SELECT_CATEGORY)
                .bind(d.as_str())
                .bind(c)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::category(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Reads a service standard.
        pub(crate) async fn read_standard(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            s: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::ServiceStandard> {
            let row = sqlx::query($crate::departments::SELECT_STANDARD)
                .bind(d.as_str())
                .bind(s)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::standard(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Every service standard of a department, ordered by ID.
        pub(crate) async fn read_standards(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<Vec<cityserve_domain::ServiceStandard>> {
            let rows = sqlx::query($crate::departments::ALL_STANDARDS)
                .bind(d.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            rows.iter().map($crate::rows::standard).collect()
        }

        /// After a conditional write touched no row: stale revision if the row (`exists_sql`,
        /// keyed by `d` and `key` unless empty) exists, else missing.
        pub(crate) async fn conflict_or_missing(
            conn: &mut crate::Conn,
            exists_sql: &'static str,
            d: &cityserve_domain::DepartmentId,
            key: &str,
        ) -> cityserve_store::StoreError {
            let q = sqlx::query(exists_sql).bind(d.as_str());
            let q = if key.is_empty() { q } else { q.bind(key) };
            match q.fetch_optional(&mut *conn).await {
                Ok(Some(_)) => cityserve_store::StoreError::Conflict,
                Ok(None) => cityserve_store::StoreError::NotFound,
                Err(e) => crate::db_err(e),
            }
        }
    };
}

/// `impl DepartmentStore for $store`, written once. Expanded in a backend module that also
/// expands [`department_reads!`]; it uses the backend's one write path (`self.write(ctx)`,
/// `crate::claim_key`, `crate::record`, `self.commit(tx)`), its reads (`self.read(scope)`, then
/// `finish()`), `crate::at` (an instant as the backend stores it), `crate::in_scope`,
/// `crate::db_err`, and `self.list_departments_in(..)` (the one statement whose scope filter is
/// dialect: an array on PostgreSQL, an `IN` list on SQLite).
#[macro_export]
macro_rules! department_store {
    ($store:ty) => {
        impl cityserve_store::DepartmentStore for $store {
            async fn ping(&self) -> cityserve_store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await.map_err(crate::db_err).map(|_| ())
            }

            async fn create_department(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::NewDepartment,
            ) -> cityserve_store::StoreResult<cityserve_domain::Department> {
                crate::in_scope(ctx.scope, &new.id)?;
                let mut tx = self.write(ctx).await?;
                if crate::claim_key(&mut tx, &new.id, idem, "department", new.id.as_str()).await?.is_some() {
                    let d = read_department(&mut tx, &new.id).await?;
                    self.commit(tx).await?;
                    return Ok(d);
                }
                let row = sqlx::query($crate::departments::INSERT_DEPARTMENT)
                    .bind(new.id.as_str())
                    .bind(&new.display_name)
                    .bind(&new.description)
                    .bind(new.default_targets.acknowledge_secs())
                    .bind(new.default_targets.resolve_secs())
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(new.default_targets.clock.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let d = $crate::rows::department(&row)?;
                let name = cityserve_store::resource::department(&new.id);
                let payload = serde_json::json!({ "department": new.id.as_str() });
                crate::record(&mut tx, ctx, &new.id, &name, payload).await?;
                self.commit(tx).await?;
                Ok(d)
            }

            async fn get_department(
                &self,
                scope: &cityserve_domain::TenantScope,
                id: &cityserve_domain::DepartmentId,
            ) -> cityserve_store::StoreResult<cityserve_domain::Department> {
                crate::in_scope(scope, id)?;
                let rows = self.read_rows(scope, $crate::departments::SELECT_DEPARTMENT, &[id.as_str()]).await?;
                $crate::rows::department(rows.first().ok_or(cityserve_store::StoreError::NotFound)?)
            }

            async fn list_departments(
                &self,
                scope: &cityserve_domain::TenantScope,
                status: Option<cityserve_domain::DepartmentStatus>,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::Department>> {
                let rows = self.list_departments_in(scope, status, page).await?;
                let items = rows.iter().map($crate::rows::department).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |d| d.id.to_string()))
            }

            async fn update_department(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                d: &cityserve_domain::Department,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::Department> {
                crate::in_scope(ctx.scope, &d.id)?;
                let mut tx = self.write(ctx).await?;
                let row = sqlx::query($crate::departments::UPDATE_DEPARTMENT)
                    .bind(&d.display_name)
                    .bind(&d.description)
                    .bind(d.status.as_str())
                    .bind(d.default_targets.acknowledge_secs())
                    .bind(d.default_targets.resolve_secs())
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(d.id.as_str())
                    .bind(expected_revision)
                    .bind(d.default_targets.clock.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let Some(row) = row else {
                    return Err(conflict_or_missing(&mut tx, $crate::departments::DEPARTMENT_EXISTS, &d.id, "").await);
                };
                let updated = $crate::rows::department(&row)?;
                let payload = serde_json::json!({ "department": d.id.as_str(), "status": d.status.as_str() });
                crate::record(&mut tx, ctx, &d.id, &cityserve_store::resource::department(&d.id), payload).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn create_service_category(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::NewServiceCategory,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceCategory> {
                let d = &new.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "service_category", new.id.as_str()).await? {
                    let c = read_category(&mut tx, d, &id).await?;
                    self.commit(tx).await?;
                    return Ok(c);
                }
                let row = sqlx::query($crate::departments::INSERT_CATEGORY)
                    .bind(d.as_str())
                    .bind(new.id.as_str())
                    .bind(&new.display_name)
                    .bind(&new.description)
                    .bind(sqlx::types::Json(&new.keywords))
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind($crate::rows::json_column(&new.attributes))
                    .bind(new.public)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let c = $crate::rows::category(&row)?;
                let payload = serde_json::json!({ "department": d.as_str(), "service_category": new.id.as_str() });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::category(d, &new.id), payload).await?;
                self.commit(tx).await?;
                Ok(c)
            }

            async fn get_service_category(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::ServiceCategoryId,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceCategory> {
                crate::in_scope(scope, department)?;
                let rows =
                    self.read_rows(scope, $crate::departments::SELECT_CATEGORY, &[department.as_str(), id.as_str()]).await?;
                $crate::rows::category(rows.first().ok_or(cityserve_store::StoreError::NotFound)?)
            }

            async fn list_service_categories(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                status: Option<cityserve_domain::ServiceCategoryStatus>,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::ServiceCategory>> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query($crate::departments::LIST_CATEGORIES)
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(status.map(cityserve_domain::ServiceCategoryStatus::as_str))
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::rows::category).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |c| c.id.to_string()))
            }

            async fn update_service_category(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                c: &cityserve_domain::ServiceCategory,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceCategory> {
                let d = &c.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let row = sqlx::query($crate::departments::UPDATE_CATEGORY)
                    .bind(&c.display_name)
                    .bind(&c.description)
                    .bind(sqlx::types::Json(&c.keywords))
                    .bind(c.status.as_str())
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(d.as_str())
                    .bind(c.id.as_str())
                    .bind(expected_revision)
                    .bind($crate::rows::json_column(&c.attributes))
                    .bind(c.public)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let Some(row) = row else {
                    let sql = $crate::departments::CATEGORY_EXISTS;
                    return Err(conflict_or_missing(&mut tx, sql, d, c.id.as_str()).await);
                };
                let updated = $crate::rows::category(&row)?;
                let payload = serde_json::json!({
                    "department": d.as_str(), "service_category": c.id.as_str(), "status": c.status.as_str()
                });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::category(d, &c.id), payload).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn create_service_standard(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::NewServiceStandard,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceStandard> {
                let d = &new.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "service_standard", new.id.as_str()).await? {
                    let s = read_standard(&mut tx, d, &id).await?;
                    self.commit(tx).await?;
                    return Ok(s);
                }
                let row = sqlx::query($crate::departments::INSERT_STANDARD)
                    .bind(d.as_str())
                    .bind(new.id.as_str())
                    .bind(new.category.as_ref().map(cityserve_domain::ServiceCategoryId::as_str))
                    .bind(new.channel.map(cityserve_domain::Channel::as_str))
                    .bind(new.targets.acknowledge_secs())
                    .bind(new.targets.resolve_secs())
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(new.targets.clock.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let s = $crate::rows::standard(&row)?;
                let payload = serde_json::json!({ "department": d.as_str(), "service_standard": new.id.as_str() });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::standard(d, &new.id), payload).await?;
                self.commit(tx).await?;
                Ok(s)
            }

            async fn get_service_standard(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::ServiceStandardId,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceStandard> {
                crate::in_scope(scope, department)?;
                let rows =
                    self.read_rows(scope, $crate::departments::SELECT_STANDARD, &[department.as_str(), id.as_str()]).await?;
                $crate::rows::standard(rows.first().ok_or(cityserve_store::StoreError::NotFound)?)
            }

            async fn list_service_standards(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::ServiceStandard>> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query($crate::departments::LIST_STANDARDS)
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::rows::standard).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |s| s.id.to_string()))
            }

            async fn all_service_standards(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::ServiceStandard>> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let standards = read_standards(&mut tx, department).await?;
                tx.finish().await?;
                Ok(standards)
            }

            async fn update_service_standard(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                s: &cityserve_domain::ServiceStandard,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::ServiceStandard> {
                let d = &s.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let row = sqlx::query($crate::departments::UPDATE_STANDARD)
                    .bind(s.targets.acknowledge_secs())
                    .bind(s.targets.resolve_secs())
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(d.as_str())
                    .bind(s.id.as_str())
                    .bind(expected_revision)
                    .bind(s.targets.clock.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let Some(row) = row else {
                    let sql = $crate::departments::STANDARD_EXISTS;
                    return Err(conflict_or_missing(&mut tx, sql, d, s.id.as_str()).await);
                };
                let updated = $crate::rows::standard(&row)?;
                let payload = serde_json::json!({ "department": d.as_str(), "service_standard": s.id.as_str() });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::standard(d, &s.id), payload).await?;
                self.commit(tx).await?;
                Ok(updated)
            }

            async fn delete_service_standard(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::ServiceStandardId,
                expected_revision: Option<i64>,
            ) -> cityserve_store::StoreResult<()> {
                crate::in_scope(ctx.scope, department)?;
                let mut tx = self.write(ctx).await?;
                let done = sqlx::query($crate::departments::DELETE_STANDARD)
                    .bind(department.as_str())
                    .bind(id.as_str())
                    .bind(expected_revision)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    let sql = $crate::departments::STANDARD_EXISTS;
                    return Err(conflict_or_missing(&mut tx, sql, department, id.as_str()).await);
                }
                let payload = serde_json::json!({ "department": department.as_str(), "service_standard": id.as_str() });
                let name = cityserve_store::resource::standard(department, id);
                crate::record(&mut tx, ctx, department, &name, payload).await?;
                self.commit(tx).await
            }

            async fn count_audit_records(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
            ) -> cityserve_store::StoreResult<i64> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let n = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE department_id = $1")
                    .bind(department.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                Ok(n)
            }

            async fn count_events(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
            ) -> cityserve_store::StoreResult<i64> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let n = sqlx::query_scalar("SELECT count(*) FROM events WHERE department_id = $1")
                    .bind(department.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                Ok(n)
            }
        }
    };
}
