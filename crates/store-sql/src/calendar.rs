//! City time: the city's calendar and departments' overrides (statements, row conversions, and
//! the whole [`cityserve_store::CalendarStore`] implementation, [`calendar_store!`], written once).
//! A calendar is one JSON document in a text column; its format is the domain's
//! ([`CityCalendar::to_stored`]), so both backends read and write it the same way.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::{SqlRow, corrupt};
use cityserve_domain::{BusinessCalendar, CityCalendar, DepartmentCalendar, DepartmentId};
use cityserve_store::StoreResult;

/// The city's calendar row (there is at most one).
pub const SELECT_CITY_CALENDAR: &str = "SELECT body, revision, update_time FROM city_calendar WHERE calendar_id = 1";
/// Saves the city's calendar for the first time; no row when another save came first.
pub const INSERT_CITY_CALENDAR: &str = "INSERT INTO city_calendar (calendar_id, body, revision, update_time)
     VALUES (1, $1, 1, $2) ON CONFLICT (calendar_id) DO NOTHING RETURNING body, revision, update_time";
/// Saves the city's calendar at an expected revision; no row when it is stale.
pub const UPDATE_CITY_CALENDAR: &str = "UPDATE city_calendar SET body = $1, revision = revision + 1, update_time = $2
     WHERE calendar_id = 1 AND revision = $3 RETURNING body, revision, update_time";
/// A department's override row.
pub const SELECT_DEPARTMENT_CALENDAR: &str =
    "SELECT body, revision, update_time FROM department_calendars WHERE department_id = $1";
/// Saves a department's override for the first time; no row when another save came first.
pub const INSERT_DEPARTMENT_CALENDAR: &str =
    "INSERT INTO department_calendars (department_id, body, revision, update_time)
     VALUES ($1, $2, 1, $3) ON CONFLICT (department_id) DO NOTHING RETURNING body, revision, update_time";
/// Saves a department's override at an expected revision; no row when it is stale.
pub const UPDATE_DEPARTMENT_CALENDAR: &str =
    "UPDATE department_calendars SET body = $2, revision = revision + 1, update_time = $3
     WHERE department_id = $1 AND revision = $4 RETURNING body, revision, update_time";
/// Every department (a city calendar change reschedules each).
pub const ALL_DEPARTMENT_IDS: &str = "SELECT department_id FROM departments ORDER BY department_id";
/// A department's cases whose clocks still run, with what their due times derive from.
pub const RUNNING_CASES: &str =
    "SELECT case_id, received_at, waited_secs, category_id, channel, acknowledge_due, resolve_due, acknowledged_at,
            resolved_at FROM cases
     WHERE department_id = $1 AND status IN ('open', 'acknowledged', 'in_progress') AND waiting_since IS NULL";
/// Moves a case's due times (a new revision: a client holding the old etag re-reads).
pub const RESCHEDULE_CASE: &str =
    "UPDATE cases SET acknowledge_due = $3, resolve_due = $4, revision = revision + 1, update_time = $5
     WHERE department_id = $1 AND case_id = $2";

/// A [`SELECT_CITY_CALENDAR`] row.
pub fn city_row(row: &impl SqlRow) -> StoreResult<CityCalendar> {
    CityCalendar::from_stored(&row.text("body")?, row.int("revision")?, row.time("update_time")?)
        .ok_or_else(|| corrupt("city calendar"))
}

/// A [`SELECT_DEPARTMENT_CALENDAR`] row of department `d`.
pub fn department_row(d: &DepartmentId, row: &impl SqlRow) -> StoreResult<DepartmentCalendar> {
    DepartmentCalendar::from_stored(d.clone(), &row.text("body")?, row.int("revision")?, row.time("update_time")?)
        .ok_or_else(|| corrupt("department calendar"))
}

/// The calendar a department's clocks run on, from the stored bodies (either may be missing:
/// the defaults apply) as [`crate::feedback::SELECT_INTAKE`] reads them.
pub fn business_calendar(city: Option<&str>, department: Option<&str>) -> StoreResult<BusinessCalendar> {
    BusinessCalendar::from_stored(city, department).ok_or_else(|| corrupt("calendar"))
}

/// `impl CalendarStore for $store`, written once, with its helpers. Expanded in a backend's
/// departments module (next to [`crate::department_reads!`], whose `read_department` it uses);
/// it uses the backend's one write path (`self.write(ctx)`, `crate::record`, `self.commit(tx)`),
/// its reads (`self.read(scope)`, then `finish()`), `crate::at`, `crate::in_scope` and
/// `crate::db_err`.
#[macro_export]
macro_rules! calendar_store {
    ($store:ty) => {
        /// The city's calendar, or the default before one is saved.
        pub(crate) async fn read_city_calendar(
            conn: &mut crate::Conn,
        ) -> cityserve_store::StoreResult<cityserve_domain::CityCalendar> {
            let row = sqlx::query($crate::calendar::SELECT_CITY_CALENDAR)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            Ok(row.as_ref().map($crate::calendar::city_row).transpose()?.unwrap_or_default())
        }

        /// A department's override, or the city's calendar unchanged before one is saved.
        pub(crate) async fn read_department_calendar(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<cityserve_domain::DepartmentCalendar> {
            let row = sqlx::query($crate::calendar::SELECT_DEPARTMENT_CALENDAR)
                .bind(d.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            match row {
                Some(row) => $crate::calendar::department_row(d, &row),
                None => Ok(cityserve_domain::DepartmentCalendar::city_default(d.clone())),
            }
        }

        /// Recomputes the due times of `d`'s running cases on its calendar (`city` with `dept`
        /// on top) from their receipt and the targets that apply to them now; returns how many
        /// moved.
        pub(crate) async fn reschedule(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            city: &cityserve_domain::CityCalendar,
            dept: &cityserve_domain::DepartmentCalendar,
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<u32> {
            use $crate::SqlRow;
            let cal = cityserve_domain::BusinessCalendar::effective(city, Some(dept));
            let department = read_department(conn, d).await?;
            let standards = read_standards(conn, d).await?;
            let rows = sqlx::query($crate::calendar::RUNNING_CASES)
                .bind(d.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            let mut moved = 0u32;
            for row in &rows {
                let category = row.opt_id("category_id", cityserve_domain::ServiceCategoryId::parse)?;
                let channel = row.word("channel", cityserve_domain::Channel::parse)?;
                // The clocks start at the receipt plus every wait on the resident so far (a case
                // waiting now is rescheduled when the wait ends).
                let start = cityserve_domain::feedback::clock_start(row.time("received_at")?, row.int("waited_secs")?);
                let computed = cityserve_domain::feedback::due_times_under(
                    start,
                    category.as_ref(),
                    channel,
                    department.default_targets,
                    &standards,
                    &cal,
                );
                let current = (row.time("acknowledge_due")?, row.time("resolve_due")?);
                let (ack, res) = cityserve_domain::feedback::settled_due_times(
                    current,
                    computed,
                    row.opt_time("acknowledged_at")?.is_some(),
                    row.opt_time("resolved_at")?.is_some(),
                );
                if (ack, res) == current {
                    continue;
                }
                sqlx::query($crate::calendar::RESCHEDULE_CASE)
                    .bind(d.as_str())
                    .bind(row.text("case_id")?)
                    .bind(crate::at(ack))
                    .bind(crate::at(res))
                    .bind(crate::at(now))
                    .execute(&mut *conn)
                    .await
                    .map_err(crate::db_err)?;
                moved += 1;
            }
            Ok(moved)
        }

        impl cityserve_store::CalendarStore for $store {
            async fn get_city_calendar(
                &self,
                scope: &cityserve_domain::TenantScope,
            ) -> cityserve_store::StoreResult<cityserve_domain::CityCalendar> {
                let mut tx = self.read(scope).await?;
                let c = read_city_calendar(&mut tx).await?;
                tx.finish().await?;
                Ok(c)
            }

            async fn update_city_calendar(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                calendar: &cityserve_domain::CityCalendar,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_store::calendar::Saved<cityserve_domain::CityCalendar>> {
                if ctx.scope.departments().is_some() {
                    return Err(cityserve_store::StoreError::NotFound);
                }
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                let q = if expected_revision == 0 {
                    sqlx::query($crate::calendar::INSERT_CITY_CALENDAR).bind(calendar.to_stored()).bind(crate::at(now))
                } else {
                    sqlx::query($crate::calendar::UPDATE_CITY_CALENDAR)
                        .bind(calendar.to_stored())
                        .bind(crate::at(now))
                        .bind(expected_revision)
                };
                let row = q.fetch_optional(&mut *tx).await.map_err(crate::db_err)?;
                let saved = $crate::calendar::city_row(&row.ok_or(cityserve_store::StoreError::Conflict)?)?;
                let ids: Vec<String> = sqlx::query_scalar($crate::calendar::ALL_DEPARTMENT_IDS)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let mut rescheduled = 0;
                for id in ids {
                    let d = cityserve_domain::DepartmentId::parse("department_id", &id)
                        .map_err(|_| $crate::corrupt("department_id"))?;
                    let dept = read_department_calendar(&mut tx, &d).await?;
                    let moved = reschedule(&mut tx, &d, &saved, &dept, now).await?;
                    rescheduled += moved;
                    let payload = serde_json::json!({ "calendar": "calendar", "department": d.as_str(), "rescheduled": moved });
                    crate::record(&mut tx, ctx, &d, cityserve_store::resource::CITY_CALENDAR, payload).await?;
                }
                self.commit(tx).await?;
                Ok(cityserve_store::calendar::Saved { calendar: saved, rescheduled })
            }

            async fn get_department_calendar(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
            ) -> cityserve_store::StoreResult<cityserve_domain::DepartmentCalendar> {
                crate::in_scope(scope, department)?;
                let mut tx = self.read(scope).await?;
                read_department(&mut tx, department).await?;
                let c = read_department_calendar(&mut tx, department).await?;
                tx.finish().await?;
                Ok(c)
            }

            async fn update_department_calendar(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                calendar: &cityserve_domain::DepartmentCalendar,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_store::calendar::Saved<cityserve_domain::DepartmentCalendar>>
            {
                let d = &calendar.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                read_department(&mut tx, d).await?;
                let now = cityserve_store::now_micros();
                let q = if expected_revision == 0 {
                    sqlx::query($crate::calendar::INSERT_DEPARTMENT_CALENDAR)
                        .bind(d.as_str())
                        .bind(calendar.to_stored())
                        .bind(crate::at(now))
                } else {
                    sqlx::query($crate::calendar::UPDATE_DEPARTMENT_CALENDAR)
                        .bind(d.as_str())
                        .bind(calendar.to_stored())
                        .bind(crate::at(now))
                        .bind(expected_revision)
                };
                let row = q.fetch_optional(&mut *tx).await.map_err(crate::db_err)?;
                let saved = $crate::calendar::department_row(d, &row.ok_or(cityserve_store::StoreError::Conflict)?)?;
                let city = read_city_calendar(&mut tx).await?;
                let rescheduled = reschedule(&mut tx, d, &city, &saved, now).await?;
                let payload = serde_json::json!({ "department": d.as_str(), "rescheduled": rescheduled });
                let name = cityserve_store::resource::department_calendar(d);
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                self.commit(tx).await?;
                Ok(cityserve_store::calendar::Saved { calendar: saved, rescheduled })
            }
        }
    };
}
