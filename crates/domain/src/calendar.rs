//! City time: the city's time zone and business calendar (weekly opening hours, holidays), a
//! department's override of it, and the clock arithmetic every due time uses.
//!
//! A service target runs on one of two [`Clock`]s. On the calendar clock a target is wall-clock
//! time: receipt plus the target. On the business clock a target counts
//! - whole days as **business days**: the due time is the same local time of day that many
//!   business days later (a day is a business day when it has opening hours and is no holiday),
//!   so a complaint received on Friday at 17:30 with a one-day target is due on Monday at 17:30,
//!   or on Tuesday when Monday is a holiday;
//! - the rest (under a day) as **opening hours**: a four-hour target received on Friday at 16:00
//!   with opening hours until 17:00 is due three opening hours into Monday.
//!
//! Local times are the city's (an IANA zone, DST-correct): a business day lands on the same wall
//! clock time across a DST change, and opening hours are local hours on each day.
use crate::department::MAX_TARGET;
use crate::ids::DepartmentId;
use crate::validation::ValidationError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

string_enum!(
    /// Which clock a service target counts on.
    Clock {
        /// Wall-clock time: nights, weekends and holidays count.
        Calendar = "calendar",
        /// Business days and opening hours of the department's calendar.
        Business = "business",
    }
);

/// The most holidays one calendar lists.
pub const MAX_HOLIDAYS: usize = 200;
/// The most opening-hours ranges one calendar lists.
pub const MAX_OPENING_HOURS: usize = 50;
/// The longest holiday name.
pub const HOLIDAY_NAME_MAX: usize = 100;
/// How far (in days) the arithmetic looks for business time before it gives up and falls back
/// to wall-clock time (a calendar always has opening hours, so this is only a guard).
const SEARCH_DAYS: i64 = 3 * 366 + 31;

/// Opening hours on one weekday: `[opens, closes)` in minutes after local midnight (`closes`
/// may be 1440: open until midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningHours {
    /// The weekday.
    pub day: Weekday,
    /// Opening minute (0..1440).
    pub opens: u32,
    /// Closing minute (opens+1..=1440).
    pub closes: u32,
}

/// A day the office is closed: one date, or the same month and day every year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// The date (for a yearly holiday, its year is the first year it applies).
    pub date: NaiveDate,
    /// Whether it recurs on the same month and day every year.
    pub yearly: bool,
    /// What it is called ("Thanksgiving Day").
    pub name: String,
}

impl Holiday {
    fn falls_on(&self, d: NaiveDate) -> bool {
        if self.yearly {
            d.year() >= self.date.year() && d.month() == self.date.month() && d.day() == self.date.day()
        } else {
            d == self.date
        }
    }
}

/// The city's calendar, kept by the Chief.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CityCalendar {
    /// The city's IANA time zone: local days, opening hours and report periods are in it.
    pub time_zone: Tz,
    /// Weekly opening hours (at least one range).
    pub hours: Vec<OpeningHours>,
    /// Holidays every department observes unless it opts out.
    pub holidays: Vec<Holiday>,
    /// Optimistic-concurrency counter (0 before the Chief first saves one).
    pub revision: i64,
    /// Last change (`None` for the default calendar).
    pub update_time: Option<DateTime<Utc>>,
}

impl Default for CityCalendar {
    /// What a city that has not set its calendar runs on: UTC, Monday to Friday 09:00–17:00,
    /// no holidays.
    fn default() -> Self {
        let hours = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
            .into_iter()
            .map(|day| OpeningHours { day, opens: 9 * 60, closes: 17 * 60 })
            .collect();
        CityCalendar { time_zone: Tz::UTC, hours, holidays: Vec::new(), revision: 0, update_time: None }
    }
}

/// A department's override of the city calendar, kept by its CSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepartmentCalendar {
    /// The department.
    pub department_id: DepartmentId,
    /// Its own opening hours; empty: the city's.
    pub hours: Vec<OpeningHours>,
    /// Whether it stays open on the city's holidays (an emergency line).
    pub open_on_city_holidays: bool,
    /// Its own closures on top of the city's holidays.
    pub holidays: Vec<Holiday>,
    /// Optimistic-concurrency counter (0 before the CSO first saves one).
    pub revision: i64,
    /// Last change (`None` for the default: the city's calendar unchanged).
    pub update_time: Option<DateTime<Utc>>,
}

/// How a calendar is stored: one JSON document per calendar (the city's, or a department's
/// override), so both backends keep it in one text column and read it with one function.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<Tz>,
    hours: Vec<OpeningHours>,
    #[serde(default)]
    open_on_city_holidays: bool,
    holidays: Vec<Holiday>,
}

/// What a calendar (the city's, or an override) says about open time, borrowed from either a
/// domain calendar or its stored form.
struct Rules<'a> {
    hours: &'a [OpeningHours],
    open_on_city_holidays: bool,
    holidays: &'a [Holiday],
}

impl Stored {
    fn rules(&self) -> Rules<'_> {
        Rules { hours: &self.hours, open_on_city_holidays: self.open_on_city_holidays, holidays: &self.holidays }
    }
}

impl CityCalendar {
    /// The stored form (see [`CityCalendar::from_stored`]).
    pub fn to_stored(&self) -> String {
        let s = Stored {
            time_zone: Some(self.time_zone),
            hours: self.hours.clone(),
            open_on_city_holidays: false,
            holidays: self.holidays.clone(),
        };
        serde_json::to_string(&s).unwrap_or_default()
    }

    /// Reads the stored form; `None` when it is not one.
    pub fn from_stored(body: &str, revision: i64, update_time: DateTime<Utc>) -> Option<Self> {
        let s: Stored = serde_json::from_str(body).ok()?;
        Some(CityCalendar {
            time_zone: s.time_zone?,
            hours: s.hours,
            holidays: s.holidays,
            revision,
            update_time: Some(update_time),
        })
    }
}

impl DepartmentCalendar {
    /// The stored form (see [`DepartmentCalendar::from_stored`]).
    pub fn to_stored(&self) -> String {
        let s = Stored {
            time_zone: None,
            hours: self.hours.clone(),
            open_on_city_holidays: self.open_on_city_holidays,
            holidays: self.holidays.clone(),
        };
        serde_json::to_string(&s).unwrap_or_default()
    }

    /// Reads the stored form; `None` when it is not one.
    pub fn from_stored(d: DepartmentId, body: &str, revision: i64, update_time: DateTime<Utc>) -> Option<Self> {
        let s: Stored = serde_json::from_str(body).ok()?;
        Some(DepartmentCalendar {
            department_id: d,
            hours: s.hours,
            open_on_city_holidays: s.open_on_city_holidays,
            holidays: s.holidays,
            revision,
            update_time: Some(update_time),
        })
    }
}

impl DepartmentCalendar {
    /// The override a department that has set none runs on: the city's calendar unchanged.
    pub fn city_default(department_id: DepartmentId) -> Self {
        DepartmentCalendar {
            department_id,
            hours: Vec::new(),
            open_on_city_holidays: false,
            holidays: Vec::new(),
            revision: 0,
            update_time: None,
        }
    }
}

/// The calendar a department's clocks run on: the city's zone, the department's hours (or the
/// city's), and the holidays it observes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    tz: Tz,
    /// Opening ranges per weekday (Monday first), sorted.
    week: [Vec<(u32, u32)>; 7],
    holidays: Vec<Holiday>,
}

impl BusinessCalendar {
    /// The calendar of a department with override `dept` (or none) in `city`.
    pub fn effective(city: &CityCalendar, dept: Option<&DepartmentCalendar>) -> Self {
        let city_rules = Rules { hours: &city.hours, open_on_city_holidays: false, holidays: &city.holidays };
        let dept_rules = dept.map(|d| Rules {
            hours: &d.hours,
            open_on_city_holidays: d.open_on_city_holidays,
            holidays: &d.holidays,
        });
        Self::build(city.time_zone, &city_rules, dept_rules.as_ref())
    }

    /// The calendar of the stored forms ([`CityCalendar::to_stored`],
    /// [`DepartmentCalendar::to_stored`]) of the city's calendar and a department's override,
    /// either missing (the defaults apply); `None` when a form is not one.
    pub fn from_stored(city: Option<&str>, department: Option<&str>) -> Option<Self> {
        let default = CityCalendar::default();
        let city: Option<Stored> = city.map(serde_json::from_str).transpose().ok()?;
        let dept: Option<Stored> = department.map(serde_json::from_str).transpose().ok()?;
        let (tz, city_rules) = match &city {
            Some(c) => (c.time_zone?, c.rules()),
            None => (default.time_zone, Rules { hours: &default.hours, open_on_city_holidays: false, holidays: &[] }),
        };
        Some(Self::build(tz, &city_rules, dept.as_ref().map(Stored::rules).as_ref()))
    }

    fn build(tz: Tz, city: &Rules<'_>, dept: Option<&Rules<'_>>) -> Self {
        let hours = match dept {
            Some(d) if !d.hours.is_empty() => d.hours,
            _ => city.hours,
        };
        let mut week: [Vec<(u32, u32)>; 7] = Default::default();
        for h in hours {
            week[h.day.num_days_from_monday() as usize].push((h.opens, h.closes));
        }
        for day in &mut week {
            day.sort_unstable();
        }
        let mut holidays = Vec::new();
        if !dept.is_some_and(|d| d.open_on_city_holidays) {
            holidays.extend(city.holidays.iter().cloned());
        }
        if let Some(d) = dept {
            holidays.extend(d.holidays.iter().cloned());
        }
        BusinessCalendar { tz, week, holidays }
    }

    /// The city's time zone.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// Whether `d` (a local date) is a holiday.
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.iter().any(|h| h.falls_on(d))
    }

    /// Whether `d` (a local date) has opening hours and is no holiday.
    pub fn is_business_day(&self, d: NaiveDate) -> bool {
        !self.week[d.weekday().num_days_from_monday() as usize].is_empty() && !self.is_holiday(d)
    }

    /// The instant of local wall time `t`: the earlier one when a DST change repeats it, the first
    /// instant after the gap when a DST change skips it.
    fn instant(&self, t: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&t).earliest() {
            Some(x) => x.with_timezone(&Utc),
            None => {
                // Inside a spring-forward gap (at most a few hours): the first local time after it.
                let mut probe = t;
                for _ in 0..(4 * 60) {
                    probe += Duration::minutes(1);
                    if let Some(x) = self.tz.from_local_datetime(&probe).earliest() {
                        return x.with_timezone(&Utc);
                    }
                }
                t.and_utc()
            }
        }
    }

    fn at_minute(&self, d: NaiveDate, minute: u32) -> DateTime<Utc> {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.instant(midnight + Duration::minutes(i64::from(minute)))
    }

    /// The first instant at or after `t` when the department is open: `t` itself during opening
    /// hours, else the next opening (a week with no hours at all, or a year of holidays, gives
    /// `t`: there is no opening to wait for).
    pub fn open_at_or_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let mut d = t.with_timezone(&self.tz).naive_local().date();
        for _ in 0..SEARCH_DAYS {
            if self.is_business_day(d) {
                for &(opens, closes) in &self.week[d.weekday().num_days_from_monday() as usize] {
                    let (from, to) = (self.at_minute(d, opens), self.at_minute(d, closes));
                    if t < from {
                        return from;
                    }
                    if t < to {
                        return t;
                    }
                }
            }
            d = match d.succ_opt() {
                Some(next) => next,
                None => return t,
            };
        }
        t
    }

    /// When a target of `secs` seconds on `clock`, started at `start`, falls due.
    pub fn due(&self, start: DateTime<Utc>, secs: i64, clock: Clock) -> DateTime<Utc> {
        let wall = start + Duration::seconds(secs);
        if clock == Clock::Calendar || secs <= 0 {
            return wall;
        }
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let mut at = start;
        if days > 0 {
            let local = start.with_timezone(&self.tz).naive_local();
            let mut d = local.date();
            let mut left = days;
            let mut looked = 0;
            while left > 0 {
                d = d.succ_opt().unwrap_or(d);
                looked += 1;
                if looked > SEARCH_DAYS {
                    return wall;
                }
                if self.is_business_day(d) {
                    left -= 1;
                }
            }
            at = self.instant(d.and_time(local.time()));
        }
        if rest == 0 {
            return at;
        }
        self.add_open_time(at, rest).unwrap_or(wall)
    }

    /// `start` plus `secs` seconds of opening hours; `None` when none are found in the search span.
    fn add_open_time(&self, start: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
        let mut left = Duration::seconds(secs);
        let mut d = start.with_timezone(&self.tz).date_naive();
        for _ in 0..SEARCH_DAYS {
            if self.is_business_day(d) {
                for &(opens, closes) in &self.week[d.weekday().num_days_from_monday() as usize] {
                    let (from, to) = (self.at_minute(d, opens), self.at_minute(d, closes));
                    let from = from.max(start);
                    if from >= to {
                        continue;
                    }
                    if left <= to - from {
                        return Some(from + left);
                    }
                    left -= to - from;
                }
            }
            d = d.succ_opt()?;
        }
        None
    }

    /// The local date of instant `t`.
    pub fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }
}

/// Parses an IANA time zone name (`America/New_York`).
pub fn time_zone(field: &str, value: &str) -> Result<Tz, ValidationError> {
    value.parse::<Tz>().map_err(|_| {
        ValidationError::one(field, format!("'{value}' is not an IANA time zone name (e.g. America/New_York)"))
    })
}

/// Parses a local time of day `HH:MM` into minutes after midnight; `24:00` only when `end`.
pub fn minute_of_day(field: &str, value: &str, end: bool) -> Result<u32, ValidationError> {
    let bad = || ValidationError::one(field, format!("'{value}' is not a time of day HH:MM (00:00 to 24:00)"));
    let (h, m) = value.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let minute = h * 60 + m;
    if m >= 60 || minute > 1440 || (minute == 1440 && !end) {
        return Err(bad());
    }
    Ok(minute)
}

/// Formats minutes after midnight as `HH:MM`.
pub fn format_minute(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Parses a calendar date `YYYY-MM-DD`.
pub fn date(field: &str, value: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ValidationError::one(field, format!("'{value}' is not a date YYYY-MM-DD")))
}

/// Checks a list of opening hours (field `field`, e.g. `city_calendar.opening_hours`): ranges
/// that open before they close and do not overlap on the same day; at least one when `required`.
pub fn check_hours(field: &str, hours: &[OpeningHours], required: bool) -> Result<(), ValidationError> {
    let mut errors = ValidationError::default();
    if required && hours.is_empty() {
        errors.push(field, "must list at least one opening-hours range: business clocks need open time to run");
    }
    if hours.len() > MAX_OPENING_HOURS {
        errors.push(field, format!("lists at most {MAX_OPENING_HOURS} ranges"));
    }
    for (i, h) in hours.iter().enumerate() {
        if h.opens >= h.closes {
            errors.push(format!("{field}[{i}].close_time"), "must be after open_time");
            continue;
        }
        let overlaps = hours[..i].iter().any(|o| o.day == h.day && o.opens < h.closes && h.opens < o.closes);
        if overlaps {
            errors.push(format!("{field}[{i}]"), "overlaps another range on the same day");
        }
    }
    errors.into_result()
}

/// Checks a list of holidays (count and names).
pub fn check_holidays(field: &str, holidays: &[Holiday]) -> Result<(), ValidationError> {
    let mut errors = ValidationError::default();
    if holidays.len() > MAX_HOLIDAYS {
        errors.push(field, format!("lists at most {MAX_HOLIDAYS} holidays"));
    }
    for (i, h) in holidays.iter().enumerate() {
        if h.name.chars().count() > HOLIDAY_NAME_MAX {
            errors.push(format!("{field}[{i}].display_name"), format!("must be at most {HOLIDAY_NAME_MAX} characters"));
        }
        if h.name.chars().any(char::is_control) {
            errors.push(format!("{field}[{i}].display_name"), "must not contain control characters");
        }
    }
    errors.into_result()
}

/// The longest a business-clock target may be, in seconds (the same bound as wall-clock ones).
pub fn max_target_secs() -> i64 {
    MAX_TARGET.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_york() -> CityCalendar {
        let hours = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
            .into_iter()
            .map(|day| OpeningHours { day, opens: 8 * 60, closes: 17 * 60 })
            .collect();
        CityCalendar { time_zone: chrono_tz::America::New_York, hours, ..CityCalendar::default() }
    }

    fn local(cal: &BusinessCalendar, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        cal.instant(NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap())
    }

    #[test]
    fn a_business_day_after_friday_evening_is_monday_evening_or_tuesday_after_a_holiday() {
        let mut city = new_york();
        let cal = BusinessCalendar::effective(&city, None);
        // Friday 2026-12-04 17:30 New York.
        let received = local(&cal, 2026, 12, 4, 17, 30);
        assert_eq!(cal.due(received, 86_400, Clock::Business), local(&cal, 2026, 12, 7, 17, 30));
        assert_eq!(cal.due(received, 86_400, Clock::Calendar), local(&cal, 2026, 12, 5, 17, 30));
        city.holidays.push(Holiday {
            date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
            yearly: false,
            name: "Snow day".into(),
        });
        let cal = BusinessCalendar::effective(&city, None);
        assert_eq!(cal.due(received, 86_400, Clock::Business), local(&cal, 2026, 12, 8, 17, 30));
    }

    #[test]
    fn hours_under_a_day_count_opening_hours_only() {
        let cal = BusinessCalendar::effective(&new_york(), None);
        // Friday 16:00 + 4 opening hours: one on Friday, three on Monday from 08:00.
        let received = local(&cal, 2026, 12, 4, 16, 0);
        assert_eq!(cal.due(received, 4 * 3600, Clock::Business), local(&cal, 2026, 12, 7, 11, 0));
        // Received on Saturday: the clock starts on Monday at opening.
        let saturday = local(&cal, 2026, 12, 5, 10, 0);
        assert_eq!(cal.due(saturday, 3600, Clock::Business), local(&cal, 2026, 12, 7, 9, 0));
    }

    #[test]
    fn business_days_keep_the_local_time_across_the_dst_change() {
        let cal = BusinessCalendar::effective(&new_york(), None);
        // Friday 2026-10-30 10:00 EDT (UTC-4); Monday 2026-11-02 10:00 EST (UTC-5).
        let received = local(&cal, 2026, 10, 30, 10, 0);
        let due = cal.due(received, 86_400, Clock::Business);
        assert_eq!(due, local(&cal, 2026, 11, 2, 10, 0));
        assert_eq!(due - received, Duration::hours(3 * 24 + 1));
    }

    #[test]
    fn a_department_override_replaces_hours_and_may_ignore_city_holidays() {
        let mut city = new_york();
        city.holidays.push(Holiday {
            date: NaiveDate::from_ymd_opt(2020, 12, 25).unwrap(),
            yearly: true,
            name: "Christmas Day".into(),
        });
        let always =
            (0..7).map(|i| OpeningHours { day: Weekday::try_from(i as u8).unwrap(), opens: 0, closes: 1440 }).collect();
        let water = DepartmentCalendar {
            hours: always,
            open_on_city_holidays: true,
            ..DepartmentCalendar::city_default(DepartmentId::parse("id", "water").unwrap())
        };
        let cal = BusinessCalendar::effective(&city, Some(&water));
        let christmas = local(&cal, 2026, 12, 25, 10, 0);
        assert_eq!(cal.due(christmas, 3600, Clock::Business), christmas + Duration::hours(1));
        let city_cal = BusinessCalendar::effective(&city, None);
        assert!(!city_cal.is_business_day(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()));
        assert!(city_cal.is_business_day(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap()));
    }

    #[test]
    fn stored_forms_read_back() {
        let mut city = new_york();
        city.holidays.push(Holiday {
            date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            yearly: true,
            name: "New Year".into(),
        });
        let t = Utc::now();
        let back = CityCalendar::from_stored(&city.to_stored(), 3, t).unwrap();
        assert_eq!(back, CityCalendar { revision: 3, update_time: Some(t), ..city.clone() });
        let d = DepartmentId::parse("id", "water").unwrap();
        let dept = DepartmentCalendar { open_on_city_holidays: true, ..DepartmentCalendar::city_default(d.clone()) };
        let back = DepartmentCalendar::from_stored(d, &dept.to_stored(), 2, t).unwrap();
        assert_eq!(back, DepartmentCalendar { revision: 2, update_time: Some(t), ..dept.clone() });
        // The stored forms read straight into the calendar the clocks run on.
        let both = BusinessCalendar::from_stored(Some(&city.to_stored()), Some(&dept.to_stored()));
        assert_eq!(both, Some(BusinessCalendar::effective(&city, Some(&dept))));
        assert_eq!(
            BusinessCalendar::from_stored(None, None),
            Some(BusinessCalendar::effective(&CityCalendar::default(), None))
        );
        assert_eq!(BusinessCalendar::from_stored(Some("{}"), None), None);
    }

    #[test]
    fn validation_names_the_field() {
        assert!(time_zone("tz", "America/New_York").is_ok());
        assert_eq!(time_zone("tz", "Mars/Olympus").unwrap_err().violations[0].field, "tz");
        assert_eq!(minute_of_day("t", "08:30", false).unwrap(), 510);
        assert_eq!(minute_of_day("t", "24:00", true).unwrap(), 1440);
        assert!(minute_of_day("t", "24:00", false).is_err());
        assert!(minute_of_day("t", "8:30", false).is_err());
        let bad = [OpeningHours { day: Weekday::Mon, opens: 600, closes: 540 }];
        assert_eq!(check_hours("h", &bad, true).unwrap_err().violations[0].field, "h[0].close_time");
        assert!(check_hours("h", &[], true).is_err());
        assert!(check_hours("h", &[], false).is_ok());
    }
}
