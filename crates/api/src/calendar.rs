//! City time in `DepartmentService`: the city's calendar (the Chief's) and departments'
//! overrides (their CSOs'). Conversions and validation are here; the RPCs are wired in
//! [`crate::departments`].
use crate::convert::timestamp;
use crate::departments::DepartmentsApi;
use crate::error::ApiError;
use crate::kit::{ctx, expected_revision, mask_paths, scope_for};
use crate::names;
use chrono::Weekday;
use cityserve_domain::calendar::{self, check_holidays, check_hours, format_minute, minute_of_day};
use cityserve_domain::{
    Action, AuditAction, Caller, CityCalendar, DepartmentCalendar, Holiday, OpeningHours, ValidationError, authorize,
    etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_store::{CalendarStore, DepartmentStore};

fn day_to_pb(d: Weekday) -> pb::DayOfWeek {
    match d {
        Weekday::Mon => pb::DayOfWeek::Monday,
        Weekday::Tue => pb::DayOfWeek::Tuesday,
        Weekday::Wed => pb::DayOfWeek::Wednesday,
        Weekday::Thu => pb::DayOfWeek::Thursday,
        Weekday::Fri => pb::DayOfWeek::Friday,
        Weekday::Sat => pb::DayOfWeek::Saturday,
        Weekday::Sun => pb::DayOfWeek::Sunday,
    }
}

fn day_from_pb(field: &str, v: i32) -> Result<Weekday, ValidationError> {
    match pb::DayOfWeek::try_from(v) {
        Ok(pb::DayOfWeek::Monday) => Ok(Weekday::Mon),
        Ok(pb::DayOfWeek::Tuesday) => Ok(Weekday::Tue),
        Ok(pb::DayOfWeek::Wednesday) => Ok(Weekday::Wed),
        Ok(pb::DayOfWeek::Thursday) => Ok(Weekday::Thu),
        Ok(pb::DayOfWeek::Friday) => Ok(Weekday::Fri),
        Ok(pb::DayOfWeek::Saturday) => Ok(Weekday::Sat),
        Ok(pb::DayOfWeek::Sunday) => Ok(Weekday::Sun),
        Ok(pb::DayOfWeek::Unspecified) => Err(ValidationError::one(field, "is required")),
        Err(_) => Err(ValidationError::one(field, "is not a known DayOfWeek")),
    }
}

pub(crate) fn hours_to_pb(hours: &[OpeningHours]) -> Vec<pb::OpeningHours> {
    hours
        .iter()
        .map(|h| pb::OpeningHours {
            day_of_week: day_to_pb(h.day) as i32,
            open_time: format_minute(h.opens),
            close_time: format_minute(h.closes),
        })
        .collect()
}

fn holidays_to_pb(holidays: &[Holiday]) -> Vec<pb::Holiday> {
    holidays
        .iter()
        .map(|h| pb::Holiday {
            date: h.date.format("%Y-%m-%d").to_string(),
            yearly: h.yearly,
            display_name: h.name.clone(),
        })
        .collect()
}

/// Validated opening hours of `field` (at least one range when `required`).
pub(crate) fn hours_from_pb(
    field: &str,
    hours: &[pb::OpeningHours],
    required: bool,
) -> Result<Vec<OpeningHours>, ValidationError> {
    let mut errors = ValidationError::default();
    let mut out = Vec::new();
    for (i, h) in hours.iter().enumerate() {
        let day = errors.check(day_from_pb(&format!("{field}[{i}].day_of_week"), h.day_of_week));
        let opens = errors.check(minute_of_day(&format!("{field}[{i}].open_time"), &h.open_time, false));
        let closes = errors.check(minute_of_day(&format!("{field}[{i}].close_time"), &h.close_time, true));
        if let (Some(day), Some(opens), Some(closes)) = (day, opens, closes) {
            out.push(OpeningHours { day, opens, closes });
        }
    }
    errors.into_result()?;
    check_hours(field, &out, required)?;
    Ok(out)
}

/// Validated holidays of `field`.
fn holidays_from_pb(field: &str, holidays: &[pb::Holiday]) -> Result<Vec<Holiday>, ValidationError> {
    let mut errors = ValidationError::default();
    let mut out = Vec::new();
    for (i, h) in holidays.iter().enumerate() {
        if let Some(date) = errors.check(calendar::date(&format!("{field}[{i}].date"), &h.date)) {
            out.push(Holiday { date, yearly: h.yearly, name: h.display_name.clone() });
        }
    }
    errors.into_result()?;
    check_holidays(field, &out)?;
    Ok(out)
}

fn etag(revision: i64) -> String {
    if revision == 0 { String::new() } else { etag_for(revision) }
}

pub(crate) fn city_to_pb(c: &CityCalendar) -> pb::CityCalendar {
    pb::CityCalendar {
        name: cityserve_store::resource::CITY_CALENDAR.to_owned(),
        time_zone: c.time_zone.name().to_owned(),
        opening_hours: hours_to_pb(&c.hours),
        holidays: holidays_to_pb(&c.holidays),
        update_time: c.update_time.map(timestamp),
        etag: etag(c.revision),
    }
}

pub(crate) fn department_to_pb(c: &DepartmentCalendar) -> pb::DepartmentCalendar {
    pb::DepartmentCalendar {
        name: cityserve_store::resource::department_calendar(&c.department_id),
        opening_hours: hours_to_pb(&c.hours),
        open_on_city_holidays: c.open_on_city_holidays,
        holidays: holidays_to_pb(&c.holidays),
        update_time: c.update_time.map(timestamp),
        etag: etag(c.revision),
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl<S: DepartmentStore + CalendarStore> DepartmentsApi<S> {
    pub(crate) async fn get_city_calendar(&self, caller: Caller, name: &str) -> Result<pb::CityCalendar, ApiError> {
        names::city_calendar("name", name)?;
        let scope = authorize(&caller, Action::ReadDepartment, None)
            .map_err(|d| ApiError::from_denied(d, "the city calendar"))?;
        let c = self.store.get_city_calendar(&scope).await.map_err(|e| ApiError::from_store(e, "the city calendar"))?;
        Ok(city_to_pb(&c))
    }

    pub(crate) async fn update_city_calendar(
        &self,
        caller: Caller,
        r: pb::UpdateCityCalendarRequest,
    ) -> Result<pb::UpdateCityCalendarResponse, ApiError> {
        let body = r.city_calendar.ok_or_else(|| ValidationError::one("city_calendar", "is required"))?;
        names::city_calendar("city_calendar.name", &body.name)?;
        let label = "the city calendar";
        let scope =
            authorize(&caller, Action::ManageCityCalendar, None).map_err(|d| ApiError::from_denied(d, label))?;
        let all = ["time_zone", "opening_hours", "holidays"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let current = self.store.get_city_calendar(&scope).await.map_err(|e| ApiError::from_store(e, label))?;
        let expected = expected_revision("city_calendar.etag", &body.etag, current.revision)?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "time_zone" => {
                    if let Some(tz) = errors.check(calendar::time_zone("city_calendar.time_zone", &body.time_zone)) {
                        next.time_zone = tz;
                    }
                }
                "opening_hours" => {
                    let f = "city_calendar.opening_hours";
                    if let Some(h) = errors.check(hours_from_pb(f, &body.opening_hours, true)) {
                        next.hours = h;
                    }
                }
                "holidays" => {
                    if let Some(h) = errors.check(holidays_from_pb("city_calendar.holidays", &body.holidays)) {
                        next.holidays = h;
                    }
                }
                _ => {}
            }
        }
        errors.into_result()?;
        let saved = self
            .store
            .update_city_calendar(&ctx(&scope, &caller, AuditAction::CityCalendarUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, label))?;
        tracing::info!(rescheduled = saved.rescheduled, "city calendar changed");
        Ok(pb::UpdateCityCalendarResponse {
            city_calendar: Some(city_to_pb(&saved.calendar)),
            rescheduled_count: count(saved.rescheduled),
        })
    }

    pub(crate) async fn get_department_calendar(
        &self,
        caller: Caller,
        name: &str,
    ) -> Result<pb::DepartmentCalendar, ApiError> {
        let d = names::department_calendar("name", name)?;
        let label = crate::kit::label("department calendar", name);
        let scope = scope_for(&caller, Action::ReadServiceCatalog, &d, &label)?;
        let c = self.store.get_department_calendar(&scope, &d).await.map_err(|e| ApiError::from_store(e, &label))?;
        Ok(department_to_pb(&c))
    }

    pub(crate) async fn update_department_calendar(
        &self,
        caller: Caller,
        r: pb::UpdateDepartmentCalendarRequest,
    ) -> Result<pb::UpdateDepartmentCalendarResponse, ApiError> {
        let body = r.department_calendar.ok_or_else(|| ValidationError::one("department_calendar", "is required"))?;
        let d = names::department_calendar("department_calendar.name", &body.name)?;
        let label = crate::kit::label("department calendar", &body.name);
        let scope = scope_for(&caller, Action::ManageServiceCatalog, &d, &label)?;
        let all = ["opening_hours", "open_on_city_holidays", "holidays"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let current =
            self.store.get_department_calendar(&scope, &d).await.map_err(|e| ApiError::from_store(e, &label))?;
        let expected = expected_revision("department_calendar.etag", &body.etag, current.revision)?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "opening_hours" => {
                    let f = "department_calendar.opening_hours";
                    if let Some(h) = errors.check(hours_from_pb(f, &body.opening_hours, false)) {
                        next.hours = h;
                    }
                }
                "open_on_city_holidays" => next.open_on_city_holidays = body.open_on_city_holidays,
                "holidays" => {
                    if let Some(h) = errors.check(holidays_from_pb("department_calendar.holidays", &body.holidays)) {
                        next.holidays = h;
                    }
                }
                _ => {}
            }
        }
        errors.into_result()?;
        let saved = self
            .store
            .update_department_calendar(&ctx(&scope, &caller, AuditAction::DepartmentCalendarUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &label))?;
        tracing::info!(department = %d, rescheduled = saved.rescheduled, "department calendar changed");
        Ok(pb::UpdateDepartmentCalendarResponse {
            department_calendar: Some(department_to_pb(&saved.calendar)),
            rescheduled_count: count(saved.rescheduled),
        })
    }
}
