//! Report-card figures: statements, their conversions and the whole
//! [`cityserve_store::ReportStore`] implementation, written once ([`crate::report_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::SqlRow;
use crate::args::{Lists, Select};
use chrono::{DateTime, Datelike, Utc};
use cityserve_domain::officer::PlanContent;
use cityserve_domain::report::{FocusProgress, LiveFigures, Metrics, Period};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::{StoreError, StoreResult};

/// Whether a department has a plan for a year.
pub const PLAN_EXISTS: &str = "SELECT 1 FROM plans WHERE department_id = $1 AND year = $2";
/// Records the progress of a plan's focus area at an instant (replacing one recorded then).
pub const UPSERT_PROGRESS: &str = "INSERT INTO plan_progress (department_id, year, recorded_at, value, recorded_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (department_id, year, recorded_at)
         DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by";

/// The sums of the counters of `departments` (`None`: all) in `scope` over the days
/// `[from_day, to_day)`, per department and metric (only those in `names`, if given): over whole months (`rollups_monthly`) and the
/// partial-month edges (`rollups`), and over a backend's shards; only the non-empty ranges are
/// read. `None` when nothing can match: no range, no department, or no name.
pub fn rollups(
    lists: Lists,
    scope: &TenantScope,
    departments: Option<&[DepartmentId]>,
    from_day: i64,
    to_day: i64,
    names: Option<&[&str]>,
) -> Option<Select> {
    if departments.is_some_and(<[DepartmentId]>::is_empty) || names.is_some_and(<[&str]>::is_empty) {
        return None;
    }
    let mut q = Select::new(lists, "");
    let mut filter = String::new();
    if let Some(names) = names {
        let only = q.list(names.iter().copied());
        filter.push_str(&format!(" AND {}", only.has("metric")));
    }
    if let Some(ds) = departments {
        let only = q.list(ds.iter().map(DepartmentId::as_str));
        filter.push_str(&format!(" AND {}", only.has("department_id")));
    }
    if let Some(ds) = scope.departments() {
        let scoped = q.list(ds.iter().map(DepartmentId::as_str));
        filter.push_str(&format!(" AND {}", scoped.has("department_id")));
    }
    let mut branches = Vec::new();
    for (table, column, (from, to)) in crate::coordination::rollup_ranges(from_day, to_day) {
        if from < to {
            let (from, to) = (q.arg(from), q.arg(to));
            branches.push(format!(
                "SELECT department_id, metric, value FROM {table} WHERE {column} >= {from} AND {column} < {to}{filter}"
            ));
        }
    }
    if branches.is_empty() {
        return None;
    }
    q.push(&format!(
        "SELECT department_id, metric, CAST(sum(value) AS bigint) AS total FROM ({}) AS r
         GROUP BY department_id, metric ORDER BY department_id, metric",
        branches.join(" UNION ALL ")
    ));
    Some(q)
}

/// [`rollups`]' rows, one entry per department.
pub fn metrics(rows: &[impl SqlRow]) -> StoreResult<Vec<(DepartmentId, Metrics)>> {
    let mut out: Vec<(DepartmentId, Metrics)> = Vec::new();
    for row in rows {
        let d = row.id("department_id", DepartmentId::parse)?;
        let (metric, total) = (row.text("metric")?, row.int("total")?);
        match out.last_mut() {
            Some((last, m)) if *last == d => {
                m.insert(metric, total);
            }
            _ => out.push((d, Metrics::from([(metric, total)]))),
        }
    }
    Ok(out)
}

/// The live figures of `departments` (not empty) over `period`, one row per department, with
/// competency gaps as of `now`. `listed_in(list, value)` is the backend's condition that the SQL
/// text `value` is one of the comma-separated words in the SQL text `list`.
///
/// A recognition counts for the recognised officer's department (its department_id). A
/// competency gap is an (active officer, competency of the department) pair where the competency
/// is required for a role the officer holds (the officer's kind, or the seat of an active
/// appointment: Officer::roles) and no training record of it is valid now (no expiry, or a later
/// one): officer::competency_gaps.
pub fn live_figures(
    lists: Lists,
    listed_in: fn(&str, &str) -> String,
    departments: &[DepartmentId],
    period: &Period,
    now: DateTime<Utc>,
) -> Select {
    let mut q = Select::new(lists, "");
    let ids = q.list(departments.iter().map(DepartmentId::as_str));
    let (from, to, now) = (q.arg(period.start_time()), q.arg(period.end_time()), q.arg(now));
    let year = q.arg(i64::from(period.start.year()));
    let seat = "(SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
                 ORDER BY a.seat LIMIT 1)";
    let (kind_listed, seat_listed) = (listed_in("c.required_for", "o.kind"), listed_in("c.required_for", seat));
    q.push(&format!(
        "SELECT d.department_id,
             (SELECT count(*) FROM recognitions r
              WHERE r.department_id = d.department_id AND r.create_time >= {from} AND r.create_time < {to})
                 AS recognitions,
             (SELECT count(*) FROM dumb_rules r JOIN dumb_rule_affected a ON a.rule_id = r.rule_id
              WHERE a.department_id = d.department_id AND r.verdict IN ('kill', 'revise')
                AND r.decide_time >= {from} AND r.decide_time < {to}) AS dumb_rules_retired,
             (SELECT count(*) FROM officers o
              JOIN competencies c ON c.department_id = o.department_id
              WHERE o.department_id = d.department_id AND o.status = 'active'
                AND ({kind_listed} OR {seat_listed})
                AND NOT EXISTS (
                    SELECT 1 FROM training_records t
                    WHERE t.department_id = o.department_id AND t.officer_id = o.officer_id
                      AND t.competency_id = c.competency_id AND (t.expire_time IS NULL OR t.expire_time > {now})))
                 AS competency_gaps,
             p.content,
             (SELECT v.value FROM plan_progress v
              WHERE p.content IS NOT NULL AND v.department_id = d.department_id AND v.year = {year}
                AND v.recorded_at < {to}
              ORDER BY v.recorded_at DESC LIMIT 1) AS current
         FROM departments d
         LEFT JOIN plans p ON p.department_id = d.department_id AND p.year = {year}
         WHERE {}",
        ids.has("d.department_id")
    ));
    q
}

/// [`live_figures`]' rows, in the order of `departments` ([`StoreError::NotFound`] for one
/// without a row).
pub fn figures(rows: &[impl SqlRow], departments: &[DepartmentId]) -> StoreResult<Vec<LiveFigures>> {
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let focus = row.opt_json::<PlanContent>("content")?.map(|plan| -> StoreResult<FocusProgress> {
            Ok(FocusProgress {
                area: plan.focus_area,
                metric: plan.focus_metric,
                baseline: plan.focus_baseline,
                target: plan.focus_target,
                current: row.opt_real("current")?,
            })
        });
        let figures = LiveFigures {
            recognitions: row.int("recognitions")?,
            competency_gaps: row.int("competency_gaps")?,
            dumb_rules_retired: row.int("dumb_rules_retired")?,
            focus: focus.transpose()?,
        };
        found.insert(row.text("department_id")?, figures);
    }
    departments.iter().map(|d| found.get(d.as_str()).cloned().ok_or(StoreError::NotFound)).collect()
}

/// `impl ReportStore for $store`, written once and expanded in a backend's reports module. It
/// writes through the backend's one write path (`self.write(ctx)`, `crate::record`,
/// `self.commit(tx)`), reads in `self.read(scope)` (then `finish()`), uses `crate::at`,
/// `crate::LISTS` and `crate::bind_args`, and what is dialect in the module itself:
/// `listed_in(list, value)` (see [`live_figures`]).
#[macro_export]
macro_rules! report_store {
    ($store:ty) => {
        impl cityserve_store::ReportStore for $store {
            async fn rollup_metrics(
                &self,
                scope: &cityserve_domain::TenantScope,
                departments: Option<&[cityserve_domain::DepartmentId]>,
                from_day: i64,
                to_day: i64,
            ) -> cityserve_store::StoreResult<Vec<(cityserve_domain::DepartmentId, cityserve_domain::report::Metrics)>>
            {
                let Some(q) = $crate::reports::rollups(crate::LISTS, scope, departments, from_day, to_day, None) else {
                    return Ok(Vec::new());
                };
                $crate::reports::metrics(&$crate::read_rows!(self, scope, q))
            }

            async fn rollup_metrics_named(
                &self,
                scope: &cityserve_domain::TenantScope,
                departments: Option<&[cityserve_domain::DepartmentId]>,
                from_day: i64,
                to_day: i64,
                names: &[&str],
            ) -> cityserve_store::StoreResult<Vec<(cityserve_domain::DepartmentId, cityserve_domain::report::Metrics)>>
            {
                let q = $crate::reports::rollups(crate::LISTS, scope, departments, from_day, to_day, Some(names));
                let Some(q) = q else {
                    return Ok(Vec::new());
                };
                $crate::reports::metrics(&$crate::read_rows!(self, scope, q))
            }

            async fn rollup_zone(
                &self,
                scope: &cityserve_domain::TenantScope,
            ) -> cityserve_store::StoreResult<$crate::rollups::Tz> {
                let mut tx = self.read(scope).await?;
                let zone = crate::rollup_zone(&mut tx).await?;
                tx.finish().await?;
                Ok(zone)
            }

            async fn rebuild_rollups(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                only_if_stale: bool,
                read: &std::sync::atomic::AtomicU64,
            ) -> cityserve_store::StoreResult<Option<cityserve_store::RollupRebuild>> {
                use $crate::SqlRow;
                if ctx.scope.departments().is_some() {
                    return Err(cityserve_store::StoreError::FailedPrecondition(
                        "rebuilding the report-card counters needs a city-wide scope".into(),
                    ));
                }
                let mut tx = self.write(ctx).await?;
                // Counter writes wait until the rebuild commits (reads go on).
                if let Some(lock) = crate::LOCK_ROLLUPS {
                    sqlx::query(lock).execute(&mut *tx).await.map_err(crate::db_err)?;
                }
                let (previous_zone, version) = crate::rollup_state(&mut tx).await?;
                let city = sqlx::query($crate::calendar::SELECT_CITY_CALENDAR)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let zone = match city {
                    Some(row) => $crate::calendar::city_row(&row)?.time_zone,
                    None => cityserve_domain::CityCalendar::default().time_zone,
                };
                if only_if_stale && version == cityserve_domain::report::ROLLUP_VERSION && zone == previous_zone {
                    return Ok(None);
                }
                let rebuilt = crate::rebuild_rollups(&mut tx, zone, read).await?;
                let departments = sqlx::query($crate::calendar::ALL_DEPARTMENT_IDS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let payload = serde_json::json!({
                    "time_zone": zone.name(),
                    "previous_time_zone": previous_zone.name(),
                    "counters": rebuilt.counters,
                });
                for row in &departments {
                    let d = row.id("department_id", cityserve_domain::DepartmentId::parse)?;
                    let name = format!("{}/reportCards", cityserve_store::resource::department(&d));
                    crate::record(&mut tx, ctx, &d, &name, payload.clone()).await?;
                }
                self.commit(tx).await?;
                Ok(Some(cityserve_store::RollupRebuild {
                    zone,
                    previous_zone,
                    counters: rebuilt.counters,
                    rows: rebuilt.rows,
                }))
            }

            async fn live_figures_of(
                &self,
                scope: &cityserve_domain::TenantScope,
                departments: &[cityserve_domain::DepartmentId],
                period: &cityserve_domain::report::Period,
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::report::LiveFigures>> {
                for d in departments {
                    crate::in_scope(scope, d)?;
                }
                if departments.is_empty() {
                    return Ok(Vec::new());
                }
                let now = cityserve_store::now_micros();
                let q = $crate::reports::live_figures(crate::LISTS, listed_in, departments, period, now);
                $crate::reports::figures(&$crate::read_rows!(self, scope, q), departments)
            }

            async fn record_focus_progress(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                d: &cityserve_domain::DepartmentId,
                year: i32,
                value: f64,
            ) -> cityserve_store::StoreResult<()> {
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let plan = sqlx::query($crate::reports::PLAN_EXISTS)
                    .bind(d.as_str())
                    .bind(year)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if plan.is_none() {
                    return Err(cityserve_store::StoreError::NotFound);
                }
                sqlx::query($crate::reports::UPSERT_PROGRESS)
                    .bind(d.as_str())
                    .bind(year)
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(value)
                    .bind(&ctx.actor.subject)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let payload = serde_json::json!({ "plan": year, "focus_progress": true });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::plan(d, year), payload).await?;
                self.commit(tx).await
            }
        }
    };
}
