//! [`crate::touchpoint_store!`]: the whole `TouchpointStore` implementation, written once.
use crate::{SqlRow, corrupt};
use cityserve_domain::touchpoint::hours_from_column;
use cityserve_domain::{Touchpoint, TouchpointKind, TouchpointStatus};
use cityserve_store::StoreResult;

/// The columns [`touchpoint`] reads.
pub const TOUCHPOINT_COLUMNS: &str = "department_id, touchpoint_id, display_name, kind, channel, location, hours, status, revision, create_time, update_time";

/// A touchpoint row ([`TOUCHPOINT_COLUMNS`]).
pub fn touchpoint(row: &impl SqlRow) -> StoreResult<Touchpoint> {
    Ok(Touchpoint {
        department_id: row.id("department_id", cityserve_domain::DepartmentId::parse)?,
        id: row.id("touchpoint_id", cityserve_domain::TouchpointId::parse)?,
        display_name: row.text("display_name")?,
        kind: row.word("kind", TouchpointKind::parse)?,
        channel: row.word("channel", cityserve_domain::Channel::parse)?,
        location: row.text("location")?,
        hours: hours_from_column(&row.text("hours")?).ok_or_else(|| corrupt("touchpoints.hours"))?,
        status: row.word("status", TouchpointStatus::parse)?,
        revision: row.int("revision")?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
    })
}

/// `impl TouchpointStore for $store`, expanded in a backend's module, which provides
/// `claim_key`, `record`, `db_err`, `at`, `self.write(ctx)`, `self.read(scope)` and
/// `self.commit(tx)` as for the other stores.
#[macro_export]
macro_rules! touchpoint_store {
    ($store:ty) => {
        impl cityserve_store::TouchpointStore for $store {
            async fn create_touchpoint(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                t: &cityserve_domain::Touchpoint,
            ) -> cityserve_store::StoreResult<cityserve_domain::Touchpoint> {
                let d = &t.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "touchpoint", t.id.as_str()).await? {
                    let found = read_touchpoint(&mut tx, d, &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                let now = cityserve_store::now_micros();
                sqlx::query(
                    "INSERT INTO touchpoints (department_id, touchpoint_id, display_name, kind, channel, location, hours,
                         status, created_by, revision, create_time, update_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)",
                )
                .bind(d.as_str())
                .bind(t.id.as_str())
                .bind(&t.display_name)
                .bind(t.kind.as_str())
                .bind(t.channel.as_str())
                .bind(&t.location)
                .bind(cityserve_domain::touchpoint::hours_column(&t.hours))
                .bind(t.status.as_str())
                .bind(&ctx.actor.subject)
                .bind(crate::at(now))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::touchpoint(d, &t.id);
                crate::record(&mut tx, ctx, d, &name, serde_json::json!({ "touchpoint": t.id.as_str() })).await?;
                let saved = read_touchpoint(&mut tx, d, t.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_touchpoint(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::TouchpointId,
            ) -> cityserve_store::StoreResult<cityserve_domain::Touchpoint> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let t = read_touchpoint(&mut tx, department, id.as_str()).await?;
                tx.finish().await?;
                Ok(t)
            }

            async fn list_touchpoints(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                status: Option<cityserve_domain::TouchpointStatus>,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::Touchpoint>> {
                crate::in_scope(scope, department)?;
                let sql = format!(
                    "SELECT {} FROM touchpoints WHERE department_id = $1 AND touchpoint_id > $2
                       AND ($3 = '' OR status = $3) ORDER BY touchpoint_id LIMIT $4",
                    $crate::touchpoints::TOUCHPOINT_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(status.map_or("", |s| s.as_str()))
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items =
                    rows.iter().map($crate::touchpoints::touchpoint).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |t| t.id.to_string()))
            }

            async fn update_touchpoint(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                t: &cityserve_domain::Touchpoint,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::Touchpoint> {
                let d = &t.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                let done = sqlx::query(
                    "UPDATE touchpoints SET display_name = $1, kind = $2, channel = $3, location = $4, hours = $5,
                         status = $6, revision = revision + 1, update_time = $7
                     WHERE department_id = $8 AND touchpoint_id = $9 AND revision = $10",
                )
                .bind(&t.display_name)
                .bind(t.kind.as_str())
                .bind(t.channel.as_str())
                .bind(&t.location)
                .bind(cityserve_domain::touchpoint::hours_column(&t.hours))
                .bind(t.status.as_str())
                .bind(crate::at(now))
                .bind(d.as_str())
                .bind(t.id.as_str())
                .bind(expected_revision)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    read_touchpoint(&mut tx, d, t.id.as_str()).await?;
                    return Err(cityserve_store::StoreError::Conflict);
                }
                let name = cityserve_store::resource::touchpoint(d, &t.id);
                let payload = serde_json::json!({ "touchpoint": t.id.as_str(), "status": t.status.as_str() });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_touchpoint(&mut tx, d, t.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }
        }

        /// One touchpoint ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_touchpoint(
            conn: &mut crate::Conn,
            department: &cityserve_domain::DepartmentId,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::Touchpoint> {
            let sql = format!(
                "SELECT {} FROM touchpoints WHERE department_id = $1 AND touchpoint_id = $2",
                $crate::touchpoints::TOUCHPOINT_COLUMNS
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(department.as_str())
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::touchpoints::touchpoint(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }
    };
}
