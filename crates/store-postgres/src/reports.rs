//! Report-card figures on PostgreSQL.
use crate::coordination::*;
use crate::{PgStore, corrupt, db_err, id, in_scope, record, scope_ids};
use chrono::Datelike;
use cityserve_domain::officer::PlanContent;
use cityserve_domain::report::{FocusProgress, LiveFigures, Metrics, Period};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::ReportStore;
use cityserve_store::{StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::Row;
use sqlx::types::Json;

impl ReportStore for PgStore {
    async fn rollup_metrics(
        &self,
        scope: &TenantScope,
        departments: Option<&[DepartmentId]>,
        from_day: i64,
        to_day: i64,
    ) -> StoreResult<Vec<(DepartmentId, Metrics)>> {
        if departments.is_some_and(<[DepartmentId]>::is_empty) {
            return Ok(Vec::new());
        }
        let only: Option<Vec<&str>> = departments.map(|ds| ds.iter().map(DepartmentId::as_str).collect());
        // Sums over whole months (rollups_monthly) and the partial-month edges (rollups), and over
        // shards; only the non-empty ranges are queried.
        let mut branches = Vec::new();
        let mut bounds = Vec::new();
        for (table, column, (from, to)) in rollup_ranges(from_day, to_day) {
            if from < to {
                let n = 3 + bounds.len();
                branches.push(format!(
                    "SELECT department_id, metric, value FROM {table} WHERE {column} >= ${n} AND {column} < ${}
                       AND ($1::text[] IS NULL OR department_id = ANY ($1))
                       AND ($2::text[] IS NULL OR department_id = ANY ($2))",
                    n + 1
                ));
                bounds.extend([from, to]);
            }
        }
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT department_id, metric, sum(value)::bigint AS total FROM ({}) AS r
             GROUP BY department_id, metric ORDER BY department_id, metric",
            branches.join(" UNION ALL ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(only).bind(scope_ids(scope));
        for b in bounds {
            query = query.bind(b);
        }
        let mut tx = self.read(scope).await?;
        let rows = query.fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.finish().await?;
        let mut out: Vec<(DepartmentId, Metrics)> = Vec::new();
        for row in &rows {
            let d = id(row, "department_id", DepartmentId::parse)?;
            let metric: String = row.try_get("metric").map_err(db_err)?;
            let total: i64 = row.try_get("total").map_err(db_err)?;
            match out.last_mut() {
                Some((last, m)) if *last == d => {
                    m.insert(metric, total);
                }
                _ => out.push((d, Metrics::from([(metric, total)]))),
            }
        }
        Ok(out)
    }

    async fn live_figures_of(
        &self,
        scope: &TenantScope,
        departments: &[DepartmentId],
        period: &Period,
    ) -> StoreResult<Vec<LiveFigures>> {
        for d in departments {
            in_scope(scope, d)?;
        }
        if departments.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = departments.iter().map(DepartmentId::as_str).collect();
        let (from, to) = (period.start_time(), period.end_time());
        let year = period.start.year();
        let mut tx = self.read(scope).await?;
        // One row per department. A recognition counts for the recognised officer's department
        // (its department_id). A competency gap is an (active officer, competency of the
        // department) pair where the competency is required for a role the officer holds (the
        // officer's kind, or the seat of an active appointment: Officer::roles) and no training
        // record of it is valid now (no expiry, or a later one): officer::competency_gaps.
        let rows = sqlx::query(
            "SELECT d.department_id,
                 (SELECT count(*) FROM recognitions r
                  WHERE r.department_id = d.department_id AND r.create_time >= $2 AND r.create_time < $3)
                     AS recognitions,
                 (SELECT count(*) FROM dumb_rules r JOIN dumb_rule_affected a ON a.rule_id = r.rule_id
                  WHERE a.department_id = d.department_id AND r.verdict IN ('kill', 'revise')
                    AND r.decide_time >= $2 AND r.decide_time < $3) AS dumb_rules_retired,
                 (SELECT count(*) FROM officers o
                  JOIN competencies c ON c.department_id = o.department_id
                  WHERE o.department_id = d.department_id AND o.status = 'active'
                    AND (o.kind = ANY (string_to_array(c.required_for, ','))
                         OR (SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
                             ORDER BY a.seat LIMIT 1) = ANY (string_to_array(c.required_for, ',')))
                    AND NOT EXISTS (
                        SELECT 1 FROM training_records t
                        WHERE t.department_id = o.department_id AND t.officer_id = o.officer_id
                          AND t.competency_id = c.competency_id AND (t.expire_time IS NULL OR t.expire_time > $4)))
                     AS competency_gaps,
                 p.content,
                 (SELECT v.value FROM plan_progress v
                  WHERE p.content IS NOT NULL AND v.department_id = d.department_id AND v.year = $5
                    AND v.recorded_at < $3
                  ORDER BY v.recorded_at DESC LIMIT 1) AS current
             FROM departments d
             LEFT JOIN plans p ON p.department_id = d.department_id AND p.year = $5
             WHERE d.department_id = ANY ($1)",
        )
        .bind(&ids)
        .bind(from)
        .bind(to)
        .bind(now_micros())
        .bind(year)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let d: String = row.try_get("department_id").map_err(db_err)?;
            let content: Option<Json<PlanContent>> = row.try_get("content").map_err(|_| corrupt("content"))?;
            let focus = content.map(|Json(plan)| -> StoreResult<FocusProgress> {
                Ok(FocusProgress {
                    area: plan.focus_area,
                    metric: plan.focus_metric,
                    baseline: plan.focus_baseline,
                    target: plan.focus_target,
                    current: row.try_get("current").map_err(db_err)?,
                })
            });
            let figures = LiveFigures {
                recognitions: row.try_get("recognitions").map_err(db_err)?,
                competency_gaps: row.try_get("competency_gaps").map_err(db_err)?,
                dumb_rules_retired: row.try_get("dumb_rules_retired").map_err(db_err)?,
                focus: focus.transpose()?,
            };
            found.insert(d, figures);
        }
        departments.iter().map(|d| found.get(d.as_str()).cloned().ok_or(StoreError::NotFound)).collect()
    }

    async fn record_focus_progress(
        &self,
        ctx: &WriteCtx<'_>,
        d: &DepartmentId,
        year: i32,
        value: f64,
    ) -> StoreResult<()> {
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let plan: Option<i32> = sqlx::query_scalar("SELECT 1 FROM plans WHERE department_id = $1 AND year = $2")
            .bind(d.as_str())
            .bind(year)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if plan.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO plan_progress (department_id, year, recorded_at, value, recorded_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (department_id, year, recorded_at)
                 DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by",
        )
        .bind(d.as_str())
        .bind(year)
        .bind(now_micros())
        .bind(value)
        .bind(&ctx.actor.subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "plan": year, "focus_progress": true });
        record(&mut tx, ctx, d, &resource::plan(d, year), payload).await?;
        self.commit(tx).await
    }
}
