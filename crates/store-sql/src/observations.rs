//! [`crate::observation_store!`]: the whole `ObservationStore` implementation, written once.
//! Rubric items, scores and coaching actions are JSON in text columns (read back whole, never
//! queried inside), so the statements are the same on both databases.
use crate::{SqlRow, corrupt};
use cityserve_domain::observation::{Observation, ObservationId, Rubric, RubricId};
use cityserve_store::StoreResult;

/// The columns [`rubric`] reads.
pub const RUBRIC_COLUMNS: &str = "department_id, rubric_id, version, display_name, items, author, create_time";
/// The columns [`observation`] reads.
pub const OBSERVATION_COLUMNS: &str = "department_id, observation_id, touchpoint_id, rubric_id, rubric_version, \
     observer, served_by, observe_time, scores, notes, coaching, revision, create_time, update_time";

fn json<T: serde::de::DeserializeOwned>(row: &impl SqlRow, col: &str) -> StoreResult<T> {
    serde_json::from_str(&row.text(col)?).map_err(|_| corrupt(col))
}

/// A rubric version row.
pub fn rubric(row: &impl SqlRow) -> StoreResult<Rubric> {
    Ok(Rubric {
        department_id: row.id("department_id", cityserve_domain::DepartmentId::parse)?,
        id: row.id("rubric_id", RubricId::parse)?,
        version: row.int32("version")?,
        display_name: row.text("display_name")?,
        items: json(row, "items")?,
        author: row.text("author")?,
        create_time: row.time("create_time")?,
    })
}

/// An observation row.
pub fn observation(row: &impl SqlRow) -> StoreResult<Observation> {
    Ok(Observation {
        department_id: row.id("department_id", cityserve_domain::DepartmentId::parse)?,
        id: row.id("observation_id", ObservationId::parse)?,
        touchpoint: row.id("touchpoint_id", cityserve_domain::TouchpointId::parse)?,
        rubric: row.id("rubric_id", RubricId::parse)?,
        rubric_version: row.int32("rubric_version")?,
        observer: row.text("observer")?,
        served_by: row.opt_id("served_by", cityserve_domain::OfficerId::parse)?,
        observe_time: row.time("observe_time")?,
        scores: json(row, "scores")?,
        notes: row.text("notes")?,
        coaching: json(row, "coaching")?,
        revision: row.int("revision")?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
    })
}

/// JSON text of `v` for a column.
pub fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| cityserve_store::StoreError::Internal(format!("json: {e}")))
}

/// `impl ObservationStore for $store`, expanded in a backend's module, which provides
/// `claim_key`, `record`, `db_err`, `at`, `require_active_officer`, `self.write(ctx)`,
/// `self.read(scope)` and `self.commit(tx)` as for the other stores.
#[macro_export]
macro_rules! observation_store {
    ($store:ty) => {
        impl cityserve_store::ObservationStore for $store {
            async fn create_rubric(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                r: &cityserve_domain::observation::Rubric,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Rubric> {
                let d = &r.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "rubric", r.id.as_str()).await? {
                    let found = read_rubric(&mut tx, d, &id, Some(1)).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                insert_version(&mut tx, ctx, r, 1).await?;
                let saved = read_rubric(&mut tx, d, r.id.as_str(), Some(1)).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn revise_rubric(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                r: &cityserve_domain::observation::Rubric,
                expected_version: i32,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Rubric> {
                let d = &r.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let latest = read_rubric(&mut tx, d, r.id.as_str(), None).await?;
                if latest.version != expected_version {
                    return Err(cityserve_store::StoreError::Conflict);
                }
                // A concurrent revision inserts the same version: the primary key makes one lose.
                insert_version(&mut tx, ctx, r, expected_version + 1).await.map_err(|e| match e {
                    cityserve_store::StoreError::AlreadyExists => cityserve_store::StoreError::Conflict,
                    e => e,
                })?;
                let saved = read_rubric(&mut tx, d, r.id.as_str(), Some(expected_version + 1)).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_rubric(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::observation::RubricId,
                version: Option<i32>,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Rubric> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let r = read_rubric(&mut tx, department, id.as_str(), version).await?;
                tx.finish().await?;
                Ok(r)
            }

            async fn list_rubrics(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::observation::Rubric>> {
                crate::in_scope(scope, department)?;
                let sql = format!(
                    "SELECT {} FROM rubric_versions v WHERE department_id = $1 AND rubric_id > $2
                       AND version = (SELECT max(version) FROM rubric_versions l
                                      WHERE l.department_id = v.department_id AND l.rubric_id = v.rubric_id)
                     ORDER BY rubric_id LIMIT $3",
                    $crate::observations::RUBRIC_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items =
                    rows.iter().map($crate::observations::rubric).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |r| r.id.to_string()))
            }

            async fn create_observation(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                o: &cityserve_domain::observation::Observation,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Observation> {
                let d = &o.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "observation", o.id.as_str()).await? {
                    let found = read_observation(&mut tx, d, &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                let touchpoint: Option<String> = sqlx::query_scalar(
                    "SELECT touchpoint_id FROM touchpoints WHERE department_id = $1 AND touchpoint_id = $2",
                )
                        .bind(d.as_str())
                        .bind(o.touchpoint.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                if touchpoint.is_none() {
                    return Err(cityserve_store::StoreError::NotFound);
                }
                let officers = o.served_by.iter().chain(o.coaching.iter().map(|a| &a.owner));
                for officer in officers {
                    crate::require_active_officer(&mut tx, d, officer).await?;
                }
                let now = cityserve_store::now_micros();
                sqlx::query(
                    "INSERT INTO observations (department_id, observation_id, touchpoint_id, rubric_id, rubric_version,
                         observer, served_by, observe_time, scores, notes, coaching, revision, create_time, update_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)",
                )
                .bind(d.as_str())
                .bind(o.id.as_str())
                .bind(o.touchpoint.as_str())
                .bind(o.rubric.as_str())
                .bind(o.rubric_version)
                .bind(&o.observer)
                .bind(o.served_by.as_ref().map(|s| s.as_str()))
                .bind(crate::at(o.observe_time))
                .bind($crate::observations::to_json(&o.scores)?)
                .bind(&o.notes)
                .bind($crate::observations::to_json(&o.coaching)?)
                .bind(crate::at(now))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::observation(d, &o.id);
                let payload = serde_json::json!({
                    "observation": o.id.as_str(),
                    "touchpoint": o.touchpoint.as_str(),
                    "rubric": o.rubric.as_str(),
                    "rubric_version": o.rubric_version,
                });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let zone = crate::rollup_zone(&mut tx).await?;
                crate::apply_deltas(&mut tx, &cityserve_domain::report::observation_deltas(o, zone)).await?;
                let saved = read_observation(&mut tx, d, o.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_observation(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::observation::ObservationId,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Observation> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                let o = read_observation(&mut tx, department, id.as_str()).await?;
                tx.finish().await?;
                Ok(o)
            }

            async fn list_observations(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                touchpoint: Option<&cityserve_domain::TouchpointId>,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::observation::Observation>> {
                crate::in_scope(scope, department)?;
                let sql = format!(
                    "SELECT {} FROM observations WHERE department_id = $1 AND ($2 = '' OR observation_id < $2)
                       AND ($3 = '' OR touchpoint_id = $3) ORDER BY observation_id DESC LIMIT $4",
                    $crate::observations::OBSERVATION_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(department.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(touchpoint.map_or("", |t| t.as_str()))
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows
                    .iter()
                    .map($crate::observations::observation)
                    .collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |o| o.id.to_string()))
            }

            async fn save_coaching(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                o: &cityserve_domain::observation::Observation,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::observation::Observation> {
                let d = &o.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                let done = sqlx::query(
                    "UPDATE observations SET coaching = $1, revision = revision + 1, update_time = $2
                     WHERE department_id = $3 AND observation_id = $4 AND revision = $5",
                )
                .bind($crate::observations::to_json(&o.coaching)?)
                .bind(crate::at(now))
                .bind(d.as_str())
                .bind(o.id.as_str())
                .bind(expected_revision)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    read_observation(&mut tx, d, o.id.as_str()).await?;
                    return Err(cityserve_store::StoreError::Conflict);
                }
                let open = o.coaching.iter().filter(|a| !a.is_done()).count();
                let name = cityserve_store::resource::observation(d, &o.id);
                let payload = serde_json::json!({ "observation": o.id.as_str(), "open_coaching_actions": open });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_observation(&mut tx, d, o.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }
        }

        /// Inserts version `version` of `r`, audited.
        async fn insert_version(
            tx: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            r: &cityserve_domain::observation::Rubric,
            version: i32,
        ) -> cityserve_store::StoreResult<()> {
            let d = &r.department_id;
            sqlx::query(
                "INSERT INTO rubric_versions (department_id, rubric_id, version, display_name, items, author, create_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(d.as_str())
            .bind(r.id.as_str())
            .bind(version)
            .bind(&r.display_name)
            .bind($crate::observations::to_json(&r.items)?)
            .bind(&ctx.actor.subject)
            .bind(crate::at(cityserve_store::now_micros()))
            .execute(&mut **tx)
            .await
            .map_err(crate::db_err)?;
            let name = cityserve_store::resource::rubric(d, &r.id);
            crate::record(tx, ctx, d, &name, serde_json::json!({ "rubric": r.id.as_str(), "version": version })).await
        }

        /// A rubric at `version`, or its latest ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_rubric(
            conn: &mut crate::Conn,
            department: &cityserve_domain::DepartmentId,
            id: &str,
            version: Option<i32>,
        ) -> cityserve_store::StoreResult<cityserve_domain::observation::Rubric> {
            let sql = format!(
                "SELECT {} FROM rubric_versions WHERE department_id = $1 AND rubric_id = $2
                   AND ($3 = 0 OR version = $3) ORDER BY version DESC LIMIT 1",
                $crate::observations::RUBRIC_COLUMNS
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(department.as_str())
                .bind(id)
                .bind(version.unwrap_or(0))
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::observations::rubric(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// One observation ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_observation(
            conn: &mut crate::Conn,
            department: &cityserve_domain::DepartmentId,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::observation::Observation> {
            let sql = format!(
                "SELECT {} FROM observations WHERE department_id = $1 AND observation_id = $2",
                $crate::observations::OBSERVATION_COLUMNS
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(department.as_str())
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::observations::observation(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }
    };
}
