//! Report-card figures on SQLite.
use crate::coordination::*;
use crate::{Bind, SqliteStore, bind_all, corrupt, db_err, id, in_scope, micros, scope_clause};
use cityserve_domain::report::{FocusProgress, LiveFigures, Metrics, Period};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::ReportStore;
use cityserve_store::{StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::Row;

impl ReportStore for SqliteStore {
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
        // Sums over whole months (rollups_monthly) and the partial-month edges (rollups); only the
        // non-empty ranges are queried.
        let mut filter = String::new();
        let mut filter_binds = Vec::new();
        if let Some(ds) = departments {
            filter.push_str(&format!(" AND department_id IN ({})", vec!["?"; ds.len()].join(", ")));
            filter_binds.extend(ds.iter().map(|d| d.to_string()));
        }
        if let Some(c) = scope_clause(scope, "department_id") {
            filter.push_str(&format!(" AND {c}"));
            filter_binds.extend(scope.departments().unwrap_or_default().iter().map(|d| d.to_string()));
        }
        let mut branches = Vec::new();
        let mut binds = Vec::new();
        for (table, column, (from, to)) in rollup_ranges(from_day, to_day) {
            if from < to {
                branches.push(format!(
                    "SELECT department_id, metric, value FROM {table} WHERE {column} >= ? AND {column} < ?{filter}"
                ));
                binds.extend([Bind::Int(from), Bind::Int(to)]);
                binds.extend(filter_binds.iter().cloned().map(Bind::Text));
            }
        }
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT department_id, metric, SUM(value) AS total FROM ({}) GROUP BY department_id, metric
             ORDER BY department_id",
            branches.join(" UNION ALL ")
        );
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
        let (from, to) = (micros(period.start_time()), micros(period.end_time()));
        let year = period.start.format("%Y").to_string().parse::<i32>().unwrap_or(1970);
        // One row per department. A recognition counts for the recognised officer's department
        // (its department_id). A competency gap is an (active officer, competency of the
        // department) pair where the competency is required for a role the officer holds (the
        // officer's kind, or the seat of an active appointment: Officer::roles) and no training
        // record of it is valid now (no expiry, or a later one): officer::competency_gaps.
        let sql = format!(
            "SELECT d.department_id,
                 (SELECT COUNT(*) FROM recognitions r
                  WHERE r.department_id = d.department_id AND r.create_time >= ?1 AND r.create_time < ?2)
                     AS recognitions,
                 (SELECT COUNT(*) FROM dumb_rules r JOIN dumb_rule_affected a ON a.rule_id = r.rule_id
                  WHERE a.department_id = d.department_id AND r.verdict IN ('kill', 'revise')
                    AND r.decide_time >= ?1 AND r.decide_time < ?2) AS dumb_rules_retired,
                 (SELECT COUNT(*) FROM officers o
                  JOIN competencies c ON c.department_id = o.department_id
                  WHERE o.department_id = d.department_id AND o.status = 'active'
                    AND (instr(',' || c.required_for || ',', ',' || o.kind || ',') > 0
                         OR instr(',' || c.required_for || ',', ',' || (
                             SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
                             ORDER BY a.seat LIMIT 1) || ',') > 0)
                    AND NOT EXISTS (
                        SELECT 1 FROM training_records t
                        WHERE t.department_id = o.department_id AND t.officer_id = o.officer_id
                          AND t.competency_id = c.competency_id AND (t.expire_time IS NULL OR t.expire_time > ?3)))
                     AS competency_gaps,
                 p.content,
                 (SELECT v.value FROM plan_progress v
                  WHERE p.content IS NOT NULL AND v.department_id = d.department_id AND v.year = ?4
                    AND v.recorded_at < ?2
                  ORDER BY v.recorded_at DESC LIMIT 1) AS current
             FROM departments d
             LEFT JOIN plans p ON p.department_id = d.department_id AND p.year = ?4
             WHERE d.department_id IN ({})",
            (0..departments.len()).map(|i| format!("?{}", i + 5)).collect::<Vec<_>>().join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).bind(micros(now_micros())).bind(year);
        for d in departments {
            query = query.bind(d.as_str());
        }
        let mut conn = self.read_conn().await?;
        let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
        drop(conn);
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let d: String = row.try_get("department_id").map_err(db_err)?;
            let content: Option<String> = row.try_get("content").map_err(db_err)?;
            let focus = content.map(|json| -> StoreResult<FocusProgress> {
                let plan: cityserve_domain::officer::PlanContent =
                    serde_json::from_str(&json).map_err(|_| corrupt("content"))?;
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
        let plan: Option<i64> = sqlx::query_scalar("SELECT 1 FROM plans WHERE department_id = ? AND year = ?")
            .bind(d.as_str())
            .bind(year)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if plan.is_none() {
            return Err(StoreError::NotFound);
        }
        let now = micros(now_micros());
        sqlx::query(
            "INSERT INTO plan_progress (department_id, year, recorded_at, value, recorded_by) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by",
        )
        .bind(d.as_str())
        .bind(year)
        .bind(now)
        .bind(value)
        .bind(&ctx.actor.subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "plan": year, "focus_progress": true });
        crate::record(&mut tx, ctx, d, &resource::plan(d, year), payload).await?;
        self.commit(tx).await
    }
}
