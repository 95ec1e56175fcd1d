//! Shared behaviour of [`crate::CalendarStore`] backends: due times follow the city's calendar
//! and a department's override, a calendar change reschedules open cases in its own
//! transaction with an event, and the breach scan follows the moved due times.
use super::feedback::item;
use super::{chief, cso, ctx, dept, idem, scope, seed_department};
use crate::coordination::{EventCursor, EventFilter};
use crate::{CalendarStore, CoordinationStore, StoreError, WriteCtx};
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use cityserve_domain::calendar::OpeningHours;
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::{Action, Channel, CityCalendar, Clock, DepartmentCalendar, FeedbackKind, Holiday, TenantScope};

fn all_day(day: Weekday) -> OpeningHours {
    OpeningHours { day, opens: 0, closes: 24 * 60 }
}

pub async fn calendar_changes_reschedule_open_cases<S: CoordinationStore + CalendarStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    let chief = chief();
    let city_read = scope(&chief, Action::ReadDepartment, None);
    assert_eq!(store.get_city_calendar(&city_read).await.unwrap(), CityCalendar::default());

    // Streets promises to acknowledge within one business day; Water keeps wall-clock targets.
    let s = scope(&chief, Action::UpdateDepartment, Some(&dept("streets")));
    let mut streets = store.get_department(&s, &dept("streets")).await.unwrap();
    streets.default_targets = streets.default_targets.on(Clock::Business);
    let rev = streets.revision;
    let streets = store.update_department(&ctx(&s, &chief, "department.update"), &streets, rev).await.unwrap();
    assert_eq!(streets.default_targets.clock, Clock::Business);

    let mut cases = Vec::new();
    for d in ["streets", "water"] {
        let sc = scope(&chief, Action::SubmitFeedback, Some(&dept(d)));
        let f = item(d, &format!("cal-{d}"), FeedbackKind::Complaint, Channel::Phone);
        let key = idem(&format!("cal-{d}"), "h");
        let done = store.submit_feedback(&ctx(&sc, &chief, "feedback.submit"), &key, &f).await.unwrap();
        cases.push(done.case.unwrap());
    }
    let (streets_case, water_case) = (cases[0].clone(), cases[1].clone());
    let tz = chrono_tz::America::New_York;
    let received = streets_case.received_at.with_timezone(&tz);
    let today = received.date_naive();

    // New York, open all day on today's weekday and three days later only: today is a "Friday",
    // three days on its "Monday".
    let monday = today + Duration::days(3);
    let city = CityCalendar {
        time_zone: tz,
        hours: vec![all_day(today.weekday()), all_day(monday.weekday())],
        holidays: Vec::new(),
        revision: 0,
        update_time: None,
    };
    let manage = scope(&chief, Action::ManageCityCalendar, None);
    let w = ctx(&manage, &chief, "city_calendar.update");
    let saved = store.update_city_calendar(&w, &city, 0).await.unwrap();
    assert_eq!(saved.rescheduled, 1, "only the business-clock case moves");
    assert_eq!(saved.calendar.revision, 1);
    assert_eq!(saved.calendar.time_zone, tz);
    assert_eq!(store.update_city_calendar(&w, &city, 0).await.map(|_| ()), Err(StoreError::Conflict));

    let read_cases = |d: &'static str| scope(&chief, Action::ReadCases, Some(&dept(d)));
    let due = store.get_case(&read_cases("streets"), &dept("streets"), &streets_case.id).await.unwrap();
    let local = due.acknowledge_due.with_timezone(&tz);
    assert_eq!(local.date_naive(), monday, "one business day after the 'Friday' is the 'Monday'");
    assert_eq!(local.time(), received.time(), "at the same local time");
    assert!(due.revision > streets_case.revision, "a moved case has a new etag");
    let water = store.get_case(&read_cases("water"), &dept("water"), &water_case.id).await.unwrap();
    assert_eq!(water.acknowledge_due, water_case.acknowledge_due, "wall-clock targets do not move");

    // The "Saturday": Water's wall-clock target has passed, Streets' business day has not.
    let (scanner, system) = cityserve_domain::policy::system_scope(cityserve_domain::coordination::BREACH_SCAN_ACTOR);
    let scan = WriteCtx { scope: &system, actor: &scanner, action: "escalation.create", trace_id: None };
    let saturday = water_case.acknowledge_due + Duration::hours(1);
    let raised = store.scan_breaches(&scan, saturday, 100).await.unwrap();
    assert!(raised.iter().any(|e| e.department_id == dept("water")), "the scan ran: {raised:?}");
    assert!(raised.iter().all(|e| e.department_id != dept("streets")), "nothing of Streets is due: {raised:?}");

    // A snow day on the "Monday": the case is due a week after its receipt (the next open day).
    let snow = CityCalendar {
        holidays: vec![Holiday { date: monday, yearly: false, name: "Snow day".into() }],
        ..saved.calendar.clone()
    };
    let moved = store.update_city_calendar(&w, &snow, saved.calendar.revision).await.unwrap();
    assert_eq!(moved.rescheduled, 1);
    assert_eq!(moved.calendar.holidays.len(), 1);
    let due = store.get_case(&read_cases("streets"), &dept("streets"), &streets_case.id).await.unwrap();
    assert_eq!(due.acknowledge_due.with_timezone(&tz).date_naive(), today + Duration::days(7));
    assert!(store.scan_breaches(&scan, due.acknowledge_due - Duration::seconds(1), 100).await.unwrap().is_empty());
    assert_eq!(store.scan_breaches(&scan, due.acknowledge_due + Duration::seconds(1), 100).await.unwrap().len(), 1);

    // Each department's stream tells of the change, with how many of its due times moved.
    let streets_read = scope(&chief, Action::WatchEvents, Some(&dept("streets")));
    let events = store.events_after(&streets_read, &EventFilter::default(), EventCursor::Start, 100).await.unwrap();
    let changes: Vec<_> = events.iter().filter(|e| e.event_type == "city_calendar.update").collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[1].resource, "calendar");
    assert!(changes[1].payload.replace(' ', "").contains(r#""rescheduled":1"#), "{}", changes[1].payload);

    // Water's CSO runs the emergency line all week and through city holidays; Water's own
    // override is its alone.
    let water_cso = cso("water");
    let ws = scope(&water_cso, Action::ManageServiceCatalog, Some(&dept("water")));
    let default = store.get_department_calendar(&ws, &dept("water")).await.unwrap();
    assert_eq!(default, DepartmentCalendar::city_default(dept("water")));
    let always = DepartmentCalendar {
        hours: [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun]
            .into_iter()
            .map(all_day)
            .collect(),
        open_on_city_holidays: true,
        holidays: vec![Holiday {
            date: NaiveDate::from_ymd_opt(2026, 7, 4).unwrap(),
            yearly: true,
            name: "Independence Day".into(),
        }],
        ..default
    };
    let saved = store.update_department_calendar(&ctx(&ws, &water_cso, "calendar.update"), &always, 0).await.unwrap();
    assert_eq!(saved.rescheduled, 0, "Water's case runs on the wall clock");
    assert_eq!(store.get_department_calendar(&ws, &dept("water")).await.unwrap(), saved.calendar);
    let streets_calendar = DepartmentCalendar { department_id: dept("streets"), ..always.clone() };
    let w = ctx(&ws, &water_cso, "calendar.update");
    let denied = store.update_department_calendar(&w, &streets_calendar, 0).await;
    assert_eq!(denied.map(|_| ()), Err(StoreError::NotFound));
    let outside: TenantScope = scope(&water_cso, Action::ReadServiceCatalog, Some(&dept("water")));
    assert_eq!(store.get_department_calendar(&outside, &dept("streets")).await.map(|_| ()), Err(StoreError::NotFound));
    // Only a city-wide scope saves the city's calendar.
    let w = ctx(&ws, &water_cso, "city_calendar.update");
    assert_eq!(store.update_city_calendar(&w, &city, 2).await.map(|_| ()), Err(StoreError::NotFound));
    assert!(Utc::now() > streets_case.received_at);
}

pub async fn a_case_waiting_on_the_resident_stops_its_clocks<S: CoordinationStore + CalendarStore>(store: &S) {
    seed_department(store, "streets").await;
    let chief = chief();
    let sc = scope(&chief, Action::SubmitFeedback, Some(&dept("streets")));
    let f = item("streets", "held-1", FeedbackKind::Complaint, Channel::Phone);
    let key = idem("held-1", "h");
    let case = store.submit_feedback(&ctx(&sc, &chief, "feedback.submit"), &key, &f).await.unwrap().case.unwrap();
    let manage = scope(&chief, Action::ManageCases, Some(&dept("streets")));
    let w = ctx(&manage, &chief, "case.update");
    // On hold for two days (the city waits for the resident's photos).
    let held_at = case.received_at + Duration::hours(1);
    let held = transition(&case, &CaseTransition::WaitOnResident, held_at).unwrap();
    let held = store.save_case(&w, &held, case.revision, None).await.unwrap();
    assert_eq!(held.waiting_since, Some(held_at));
    let (scanner, system) = cityserve_domain::policy::system_scope(cityserve_domain::coordination::BREACH_SCAN_ACTOR);
    let scan = WriteCtx { scope: &system, actor: &scanner, action: "escalation.create", trace_id: None };
    let past_due = case.acknowledge_due + Duration::hours(1);
    assert!(store.scan_breaches(&scan, past_due, 100).await.unwrap().is_empty(), "a held case is not escalated");
    // A calendar change leaves a held case alone; its due times move when it resumes.
    let resumed_at = held_at + Duration::days(2);
    let back = transition(&held, &CaseTransition::Resume, resumed_at).unwrap();
    let back = store.save_case(&w, &back, held.revision, None).await.unwrap();
    assert_eq!((back.waiting_since, back.waited_secs), (None, 2 * 86_400));
    assert_eq!(back.acknowledge_due, case.acknowledge_due + Duration::days(2));
    assert_eq!(back.resolve_due, case.resolve_due + Duration::days(2));
    assert!(store.scan_breaches(&scan, past_due, 100).await.unwrap().is_empty());
    let raised = store.scan_breaches(&scan, back.acknowledge_due + Duration::seconds(1), 100).await.unwrap();
    assert_eq!(raised.len(), 1);
}
