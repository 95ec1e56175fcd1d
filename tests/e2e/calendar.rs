//! City time through the server: the Chief sets the city's calendar, a CSO its department's
//! override; a complaint on a business-day target is due on the next business day at the same
//! local time, and declaring that day a holiday moves it (with an event on the department's
//! stream). Bad calendars are refused naming the field; other departments' calendars stay hidden.
use crate::both_backends;
use crate::harness::*;
use chrono::{DateTime, Datelike, Duration, Utc};
use cityserve_proto::v1 as pb;
use tonic::Code;

const NEW_YORK: chrono_tz::Tz = chrono_tz::America::New_York;

fn all_day(day: chrono::Weekday) -> pb::OpeningHours {
    pb::OpeningHours {
        day_of_week: day.number_from_monday() as i32,
        open_time: "00:00".into(),
        close_time: "24:00".into(),
    }
}

fn time(t: Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let t = t.expect("a timestamp");
    DateTime::from_timestamp(t.seconds, t.nanos as u32).unwrap()
}

async fn update_city(
    app: &TestApp,
    calendar: pb::CityCalendar,
    token: &str,
) -> Result<pb::UpdateCityCalendarResponse, tonic::Status> {
    let req = pb::UpdateCityCalendarRequest { city_calendar: Some(calendar), update_mask: None };
    app.departments().update_city_calendar(authed(req, token)).await.map(tonic::Response::into_inner)
}

async fn ack_due(app: &TestApp, case: &str) -> (DateTime<Utc>, String) {
    let req = pb::GetCaseRequest { name: case.into() };
    let c = app.feedback().get_case(authed(req, &chief())).await.unwrap().into_inner().case.unwrap();
    (time(c.acknowledge_due_time), c.etag)
}

both_backends! {
    async fn a_business_day_target_follows_the_city_calendar_and_its_holidays(app: &TestApp) {
        create_department(app, "streets").await;
        let mut departments = app.departments();
        // Until the Chief saves one, the city runs on the documented default.
        let get = pb::GetCityCalendarRequest { name: "calendar".into() };
        let default = departments.get_city_calendar(authed(get, &chief())).await.unwrap().into_inner().city_calendar.unwrap();
        assert_eq!((default.time_zone.as_str(), default.opening_hours.len(), default.etag.as_str()), ("UTC", 5, ""));

        // Streets promises to acknowledge within one business day.
        let targets = pb::ServiceTargets { clock: pb::Clock::Business as i32, ..Default::default() };
        let req = pb::UpdateDepartmentRequest {
            department: Some(pb::Department { name: "departments/streets".into(), default_targets: Some(targets), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["default_targets.clock".into()] }),
        };
        let d = departments.update_department(authed(req, &chief())).await.unwrap().into_inner().department.unwrap();
        let t = d.default_targets.unwrap();
        assert_eq!((t.clock, t.acknowledge_within.unwrap().seconds), (pb::Clock::Business as i32, 86_400));

        let submitted = app.feedback().submit_feedback(authed(pb::SubmitFeedbackRequest {
            parent: "departments/streets".into(),
            feedback: Some(pb::Feedback {
                channel: pb::Channel::Phone as i32,
                kind: pb::FeedbackKind::Complaint as i32,
                text: "The street cut outside my house was left open".into(),
                ..Default::default()
            }),
            resident: None,
            request_id: "cal-1".into(),
            survey_token: String::new(),
            resolved: None,
        }, &chief())).await.unwrap().into_inner();
        let case = submitted.case.unwrap();
        let received = time(submitted.feedback.unwrap().receive_time).with_timezone(&NEW_YORK);
        let today = received.date_naive();

        // New York, open only on today's weekday (the "Friday") and three days later (its
        // "Monday"): one business day after today is that "Monday", at the same local time.
        let monday = today + Duration::days(3);
        let city = pb::CityCalendar {
            name: "calendar".into(),
            time_zone: "America/New_York".into(),
            opening_hours: vec![all_day(today.weekday()), all_day(monday.weekday())],
            ..Default::default()
        };
        let saved = update_city(app, city.clone(), &chief()).await.unwrap();
        assert_eq!(saved.rescheduled_count, 1);
        let saved = saved.city_calendar.unwrap();
        assert_eq!(saved.time_zone, "America/New_York");
        assert!(!saved.etag.is_empty());
        let (due, etag) = ack_due(app, &case.name).await;
        assert_ne!(etag, case.etag, "a rescheduled case has a new etag");
        assert_eq!(due.with_timezone(&NEW_YORK).date_naive(), monday);
        assert_eq!(due.with_timezone(&NEW_YORK).time(), received.time());

        // A snow day on the "Monday" moves the case to the next open day, a week after receipt.
        let snow = pb::CityCalendar {
            holidays: vec![pb::Holiday { date: monday.format("%Y-%m-%d").to_string(), yearly: false, display_name: "Snow day".into() }],
            etag: saved.etag.clone(),
            ..city.clone()
        };
        assert_eq!(update_city(app, snow.clone(), &chief()).await.unwrap().rescheduled_count, 1);
        let (due, _) = ack_due(app, &case.name).await;
        assert_eq!(due.with_timezone(&NEW_YORK).date_naive(), today + Duration::days(7));
        // The old etag is stale now.
        assert_eq!(update_city(app, snow, &chief()).await.unwrap_err().code(), Code::Aborted);

        // The department's stream tells of both changes.
        let mut stream = app.coordination().watch(authed(pb::WatchRequest {
            departments: vec!["departments/streets".into()],
            event_type_prefixes: vec!["city_calendar.".into()],
            from_start: true,
            ..Default::default()
        }, &chief())).await.unwrap().into_inner();
        for _ in 0..2 {
            let e = stream.message().await.unwrap().unwrap();
            assert_eq!((e.event_type.as_str(), e.resource.as_str()), ("city_calendar.update", "calendar"));
        }
    }

    async fn calendars_refuse_bad_input_and_stay_with_their_keepers(app: &TestApp) {
        create_department(app, "streets").await;
        create_department(app, "water").await;
        let cso = app.cso("water").await;
        let good = pb::CityCalendar {
            name: "calendar".into(),
            time_zone: "America/New_York".into(),
            opening_hours: vec![all_day(chrono::Weekday::Mon)],
            ..Default::default()
        };
        let cases = [
            (pb::CityCalendar { time_zone: "Mars/Olympus_Mons".into(), ..good.clone() }, "city_calendar.time_zone"),
            (pb::CityCalendar { opening_hours: vec![], ..good.clone() }, "city_calendar.opening_hours"),
            (
                pb::CityCalendar {
                    opening_hours: vec![pb::OpeningHours { day_of_week: 1, open_time: "25:00".into(), close_time: "17:00".into() }],
                    ..good.clone()
                },
                "city_calendar.opening_hours[0].open_time",
            ),
            (
                pb::CityCalendar {
                    opening_hours: vec![pb::OpeningHours { day_of_week: 1, open_time: "17:00".into(), close_time: "09:00".into() }],
                    ..good.clone()
                },
                "city_calendar.opening_hours[0].close_time",
            ),
            (
                pb::CityCalendar {
                    holidays: vec![pb::Holiday { date: "2026-02-30".into(), ..Default::default() }],
                    ..good.clone()
                },
                "city_calendar.holidays[0].date",
            ),
            (pb::CityCalendar { name: "calendars/city".into(), ..good.clone() }, "city_calendar.name"),
        ];
        for (calendar, field) in cases {
            let err = update_city(app, calendar, &chief()).await.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
            assert_eq!(bad_fields(&err), [field]);
        }
        // Only the Chief keeps the city's calendar; every role reads it.
        assert_eq!(update_city(app, good.clone(), &cso).await.unwrap_err().code(), Code::PermissionDenied);
        let get = pb::GetCityCalendarRequest { name: "calendar".into() };
        let staff = app.staff("water").await;
        assert!(app.departments().get_city_calendar(authed(get, &staff)).await.is_ok());

        // Water's CSO keeps Water's override, not Streets'.
        let water = pb::DepartmentCalendar {
            name: "departments/water/calendar".into(),
            opening_hours: [chrono::Weekday::Mon, chrono::Weekday::Sat].into_iter().map(all_day).collect(),
            open_on_city_holidays: true,
            holidays: vec![pb::Holiday { date: "2026-07-04".into(), yearly: true, display_name: "Independence Day".into() }],
            ..Default::default()
        };
        let req = pb::UpdateDepartmentCalendarRequest { department_calendar: Some(water.clone()), update_mask: None };
        let saved = app.departments().update_department_calendar(authed(req, &cso)).await.unwrap().into_inner();
        let saved = saved.department_calendar.unwrap();
        assert_eq!((saved.opening_hours, saved.holidays, saved.open_on_city_holidays), (water.opening_hours.clone(), water.holidays.clone(), true));
        let get = pb::GetDepartmentCalendarRequest { name: "departments/water/calendar".into() };
        let read = app.departments().get_department_calendar(authed(get, &cso)).await.unwrap().into_inner();
        assert_eq!(read.department_calendar.unwrap().etag, saved.etag);
        let streets = pb::DepartmentCalendar { name: "departments/streets/calendar".into(), ..water };
        let req = pb::UpdateDepartmentCalendarRequest { department_calendar: Some(streets), update_mask: None };
        let err = app.departments().update_department_calendar(authed(req, &cso)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        assert!(!err.message().contains("streets/calendar exists"));
        let get = pb::GetDepartmentCalendarRequest { name: "departments/nowhere/calendar".into() };
        assert_eq!(app.departments().get_department_calendar(authed(get, &chief())).await.unwrap_err().code(), Code::NotFound);
    }

    async fn a_case_on_hold_waits_on_the_resident_and_resumes(app: &TestApp) {
        create_department(app, "streets").await;
        let cso = app.cso("streets").await;
        let submitted = app.feedback().submit_feedback(authed(pb::SubmitFeedbackRequest {
            parent: "departments/streets".into(),
            feedback: Some(pb::Feedback {
                channel: pb::Channel::Web as i32,
                kind: pb::FeedbackKind::Complaint as i32,
                text: "Water pooling at the curb after the repair".into(),
                ..Default::default()
            }),
            resident: None,
            request_id: "hold-1".into(),
            survey_token: String::new(),
            resolved: None,
        }, &cso)).await.unwrap().into_inner();
        let case = submitted.case.unwrap();
        let mut feedback = app.feedback();
        let hold = |note: &str| pb::HoldCaseRequest { name: case.name.clone(), etag: String::new(), note: note.into() };
        let err = feedback.hold_case(authed(hold(""), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["note"], "what the city waits for is required");
        let held = feedback.hold_case(authed(hold("Waiting for the resident's photos"), &cso)).await.unwrap().into_inner().case.unwrap();
        assert!(held.hold_time.is_some());
        assert!(!held.overdue);
        // A held case only resumes.
        let ack = pb::AcknowledgeCaseRequest { name: case.name.clone(), ..Default::default() };
        assert_eq!(feedback.acknowledge_case(authed(ack.clone(), &cso)).await.unwrap_err().code(), Code::FailedPrecondition);
        assert_eq!(feedback.hold_case(authed(hold("again"), &cso)).await.unwrap_err().code(), Code::FailedPrecondition);
        let resume = pb::ResumeCaseRequest { name: case.name.clone(), etag: held.etag.clone(), note: "Photos received".into() };
        let back = feedback.resume_case(authed(resume.clone(), &cso)).await.unwrap().into_inner().case.unwrap();
        assert!(back.hold_time.is_none());
        assert!(time(back.acknowledge_due_time) >= time(case.acknowledge_due_time), "the due time moves by the hold");
        assert_eq!(feedback.resume_case(authed(pb::ResumeCaseRequest { etag: String::new(), ..resume }, &cso)).await.unwrap_err().code(), Code::FailedPrecondition);
        assert!(feedback.acknowledge_case(authed(ack, &cso)).await.is_ok());
    }
}
