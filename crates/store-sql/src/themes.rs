//! [`crate::theme_store!`]: the whole `ThemeStore` implementation, written once.
use crate::SqlRow;
use cityserve_domain::theme::{Theme, ThemeId};
use cityserve_store::StoreResult;

/// The columns [`theme`] reads.
pub const THEME_COLUMNS: &str = "theme_id, display_name, keywords, created_by, create_time";

/// A theme row.
pub fn theme(row: &impl SqlRow) -> StoreResult<Theme> {
    Ok(Theme {
        id: row.id("theme_id", ThemeId::parse)?,
        display_name: row.text("display_name")?,
        keywords: row.text("keywords")?.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect(),
        created_by: row.text("created_by")?,
        create_time: row.time("create_time")?,
    })
}

/// `impl ThemeStore for $store`, expanded in a backend's module.
#[macro_export]
macro_rules! theme_store {
    ($store:ty) => {
        impl cityserve_store::ThemeStore for $store {
            async fn create_theme(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                home: &cityserve_domain::DepartmentId,
                t: &cityserve_domain::theme::Theme,
            ) -> cityserve_store::StoreResult<cityserve_domain::theme::Theme> {
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, home, idem, "theme", t.id.as_str()).await? {
                    let found = read_theme(&mut tx, &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                sqlx::query(
                    "INSERT INTO themes (theme_id, display_name, keywords, created_by, revision, create_time)
                     VALUES ($1, $2, $3, $4, 1, $5)",
                )
                .bind(t.id.as_str())
                .bind(&t.display_name)
                .bind(t.keywords.join(","))
                .bind(&ctx.actor.subject)
                .bind(crate::at(cityserve_store::now_micros()))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::theme(t.id.as_str());
                crate::record(&mut tx, ctx, home, &name, serde_json::json!({ "theme": t.id.as_str() })).await?;
                let saved = read_theme(&mut tx, t.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn list_themes(
                &self,
                scope: &cityserve_domain::TenantScope,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::theme::Theme>> {
                let sql = format!(
                    "SELECT {} FROM themes WHERE theme_id > $1 ORDER BY theme_id LIMIT $2",
                    $crate::themes::THEME_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::themes::theme).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |t| t.id.to_string()))
            }

            async fn tag_feedback(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                d: &cityserve_domain::DepartmentId,
                f: &cityserve_domain::FeedbackId,
                add: &[cityserve_domain::theme::ThemeId],
                remove: &[cityserve_domain::theme::ThemeId],
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::theme::ThemeId>> {
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let found = sqlx::query(
                    "SELECT occurred_at, received_at FROM feedback WHERE department_id = $1 AND feedback_id = $2",
                )
                .bind(d.as_str())
                .bind(f.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(crate::db_err)?
                .ok_or(cityserve_store::StoreError::NotFound)?;
                use $crate::SqlRow as _;
                let (occurred, received) = (found.time("occurred_at")?, found.time("received_at")?);
                let zone = crate::rollup_zone(&mut tx).await?;
                // The theme counts on the report card change with the tags, in this transaction.
                let mut deltas = Vec::new();
                for t in add {
                    let exists: Option<String> = sqlx::query_scalar("SELECT theme_id FROM themes WHERE theme_id = $1")
                        .bind(t.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    if exists.is_none() {
                        return Err(cityserve_store::StoreError::FailedPrecondition(format!("theme {t} does not exist")));
                    }
                    let added = sqlx::query(
                        "INSERT INTO feedback_themes (department_id, feedback_id, theme_id, tagged_by, create_time)
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(d.as_str())
                    .bind(f.as_str())
                    .bind(t.as_str())
                    .bind(&ctx.actor.subject)
                    .bind(crate::at(cityserve_store::now_micros()))
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                    if added.rows_affected() > 0 {
                        deltas.extend(cityserve_domain::report::theme_deltas(d, t.as_str(), occurred, received, 1, zone));
                    }
                }
                for t in remove {
                    let removed = sqlx::query(
                        "DELETE FROM feedback_themes WHERE department_id = $1 AND feedback_id = $2 AND theme_id = $3",
                    )
                    .bind(d.as_str())
                    .bind(f.as_str())
                    .bind(t.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                    if removed.rows_affected() > 0 {
                        deltas.extend(cityserve_domain::report::theme_deltas(d, t.as_str(), occurred, received, -1, zone));
                    }
                }
                crate::apply_deltas(&mut tx, &cityserve_domain::report::aggregate(deltas)).await?;
                let now: Vec<String> = sqlx::query_scalar(
                    "SELECT theme_id FROM feedback_themes WHERE department_id = $1 AND feedback_id = $2 ORDER BY theme_id",
                )
                .bind(d.as_str())
                .bind(f.as_str())
                .fetch_all(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::feedback(d, f);
                crate::record(&mut tx, ctx, d, &name, serde_json::json!({ "feedback": f.as_str(), "themes": now })).await?;
                self.commit(tx).await?;
                now.iter()
                    .map(|t| cityserve_domain::theme::ThemeId::parse("theme_id", t).map_err(|_| $crate::corrupt("theme_id")))
                    .collect()
            }
        }

        /// One theme ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_theme(
            conn: &mut crate::Conn,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::theme::Theme> {
            let sql = format!("SELECT {} FROM themes WHERE theme_id = $1", $crate::themes::THEME_COLUMNS);
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::themes::theme(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }
    };
}
