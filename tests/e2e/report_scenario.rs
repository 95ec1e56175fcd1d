//! A small city in `America/New_York` across the end of daylight time (Sunday 1 November 2026,
//! a 25-hour day) and Veterans Day (Wednesday 11 November, a city holiday): two departments'
//! day, week, month and quarter report cards and the November city dashboard, read through the
//! server, with every figure computed by hand below.
//!
//! The history is loaded as the city's survey vendor and old case system would give it (the
//! store's bulk import, with the old system's times), while the counters are still keyed in UTC;
//! `cityserve rollups rebuild` then rekeys them in the city's days, and a few later case changes
//! (a reopen and re-resolution, a "not ours" closure, recovery actions) are written at their own
//! times on top. Times below are written with their New York offset (-04:00 until 1 November at
//! 02:00, -05:00 after).
use crate::both_backends;
use crate::harness::*;
use chrono::{DateTime, NaiveDate, Utc, Weekday};
use cityserve::{Backend, backend_of};
use cityserve_domain::calendar::{BusinessCalendar, CityCalendar, Holiday, OpeningHours};
use cityserve_domain::{
    Action, CaseEntry, CaseId, CaseStatus, CaseTransition, Channel, Clock, DepartmentId, FeedbackId, FeedbackKind,
    Location, NewFeedback, RecoveryAction, RecoveryKind, ServiceCategoryId,
};
use cityserve_proto::v1 as pb;
use cityserve_store::import::{ImportStore, ImportedCase, ImportedContact};
use cityserve_store::{FeedbackStore, WriteCtx};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};

const NEW_YORK: chrono_tz::Tz = chrono_tz::America::New_York;
/// One business day, and three: the targets the cases below were given.
const ACK_SECS: i64 = 86_400;
const RESOLVE_SECS: i64 = 3 * 86_400;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The city's calendar: open around the clock Monday to Friday, closed on Veterans Day.
fn veterans_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 11).unwrap()
}

fn city_calendar_pb() -> pb::CityCalendar {
    pb::CityCalendar {
        name: "calendar".into(),
        time_zone: "America/New_York".into(),
        opening_hours: (1..=5)
            .map(|d| pb::OpeningHours { day_of_week: d, open_time: "00:00".into(), close_time: "24:00".into() })
            .collect(),
        holidays: vec![pb::Holiday { date: "2026-11-11".into(), yearly: true, display_name: "Veterans Day".into() }],
        ..Default::default()
    }
}

fn business_calendar() -> BusinessCalendar {
    let hours = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
        .into_iter()
        .map(|day| OpeningHours { day, opens: 0, closes: 1440 })
        .collect();
    let holidays = vec![Holiday { date: veterans_day(), yearly: true, name: "Veterans Day".into() }];
    let city = CityCalendar { time_zone: NEW_YORK, hours, holidays, revision: 0, update_time: None };
    BusinessCalendar::effective(&city, None)
}

struct Contact<'a> {
    id: &'a str,
    channel: Channel,
    kind: FeedbackKind,
    csat: Option<i32>,
    nps: Option<i32>,
    category: Option<&'a str>,
    /// The department rating another's service (an internal customer).
    internal: Option<&'a str>,
    occurred: &'a str,
    received: &'a str,
}

fn contact(d: &str, c: Contact<'_>, case: Option<ImportedCase>) -> ImportedContact {
    ImportedContact {
        feedback: NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: dept(d),
            id: FeedbackId::parse("id", c.id).unwrap(),
            channel: c.channel,
            kind: c.kind,
            csat: c.csat,
            nps: c.nps,
            text: format!("contact {}", c.id),
            language: "en".into(),
            category: c.category.map(|x| ServiceCategoryId::parse("category", x).unwrap()),
            location: Location::default(),
            occurred_at: at(c.occurred),
            resident: None,
            internal_customer: c.internal.map(dept),
            survey: None,
            served: Default::default(),
            source: None,
        },
        resident_key: None,
        received_at: at(c.received),
        case,
    }
}

/// A complaint's case as the old system left it; its due times are checked against the city's
/// calendar: one and three business days from receipt, each due on that business day at the
/// local time of receipt.
fn case(
    received: &str,
    due: (&str, &str),
    status: CaseStatus,
    acknowledged: Option<&str>,
    resolved: Option<&str>,
    closed: Option<&str>,
) -> ImportedCase {
    let cal = business_calendar();
    assert_eq!(cal.due(at(received), ACK_SECS, Clock::Business), at(due.0), "acknowledge-by of {received}");
    assert_eq!(cal.due(at(received), RESOLVE_SECS, Clock::Business), at(due.1), "resolve-by of {received}");
    ImportedCase {
        status,
        acknowledge_due: at(due.0),
        resolve_due: at(due.1),
        acknowledged_at: acknowledged.map(at),
        resolved_at: resolved.map(at),
        closed_at: closed.map(at),
        reopen_count: 0,
        first_contact_at: None,
        assignee: None,
        follow_up: None,
        satisfied: None,
    }
}

fn fid(s: &str) -> FeedbackId {
    FeedbackId::parse("id", s).unwrap()
}

/// Water's history. Local days each contact counts on are in the comments.
fn water() -> Vec<ImportedContact> {
    use Channel::*;
    use FeedbackKind::*;
    let c = |id, channel, kind, csat, nps, category, internal, when| Contact {
        id,
        channel,
        kind,
        csat,
        nps,
        category,
        internal,
        occurred: when,
        received: when,
    };
    vec![
        // W1, Friday 30 Oct 17:30: a leak; acknowledged Monday 09:00 (on time: the weekend does
        // not count), resolved Wednesday 15:00 (on time), closed; the resident was satisfied.
        contact("water", c("w1", Phone, Complaint, None, None, Some("leak"), None, "2026-10-30T17:30:00-04:00"), {
            let mut k = case(
                "2026-10-30T17:30:00-04:00",
                ("2026-11-02T17:30:00-05:00", "2026-11-04T17:30:00-05:00"),
                CaseStatus::Closed,
                Some("2026-11-02T09:00:00-05:00"),
                Some("2026-11-04T15:00:00-05:00"),
                Some("2026-11-05T10:00:00-05:00"),
            );
            k.follow_up = Some(fid("w2"));
            k.satisfied = Some(true);
            Some(k)
        }),
        // W2, Thursday 5 Nov: W1's follow-up survey.
        contact(
            "water",
            c("w2", Survey, SurveyResponse, Some(5), Some(10), None, None, "2026-11-05T12:00:00-05:00"),
            None,
        ),
        // W3, Saturday 31 Oct 23:30 (already 1 Nov in UTC), due the next business day (Monday)
        // at the same local time: acknowledged late; resolved 4 Nov, reopened and resolved
        // again 6 Nov (late) below.
        contact("water", c("w3", Web, Complaint, None, None, None, None, "2026-10-31T23:30:00-04:00"), {
            Some(case(
                "2026-10-31T23:30:00-04:00",
                ("2026-11-02T23:30:00-05:00", "2026-11-04T23:30:00-05:00"),
                CaseStatus::Resolved,
                Some("2026-11-03T08:00:00-05:00"),
                Some("2026-11-04T12:00:00-05:00"),
                None,
            ))
        }),
        // W4: a compliment that occurred at the first 01:30 of 1 Nov (daylight time) and was
        // received at the second (standard time): both the 1st.
        contact(
            "water",
            Contact {
                received: "2026-11-01T01:30:00-05:00",
                ..c("w4", InPerson, Compliment, Some(4), None, Some("leak"), None, "2026-11-01T01:30:00-04:00")
            },
            None,
        ),
        // W5, Wednesday 30 Sep 22:00 (1 Oct in UTC): the third quarter, not the fourth.
        contact(
            "water",
            c("w5", Survey, SurveyResponse, Some(2), Some(3), None, None, "2026-09-30T22:00:00-04:00"),
            None,
        ),
        // W6, Monday 30 Nov 23:30 (1 Dec in UTC): still November.
        contact(
            "water",
            c("w6", Survey, SurveyResponse, Some(3), Some(9), None, None, "2026-11-30T23:30:00-05:00"),
            None,
        ),
        // W7, Tuesday 10 Nov 16:00: acknowledge by Thursday 16:00 (Veterans Day does not
        // count), acknowledged Thursday 10:00 (on time only because of the holiday), resolved
        // Friday 11:00 (on time); a remedy is recorded below.
        contact(
            "water",
            c("w7", ThreeOneOne, Complaint, None, None, Some("leak"), None, "2026-11-10T16:00:00-05:00"),
            {
                Some(case(
                    "2026-11-10T16:00:00-05:00",
                    ("2026-11-12T16:00:00-05:00", "2026-11-16T16:00:00-05:00"),
                    CaseStatus::Resolved,
                    Some("2026-11-12T10:00:00-05:00"),
                    Some("2026-11-13T11:00:00-05:00"),
                    None,
                ))
            },
        ),
        // W8, Friday 20 Nov: closed as Streets' below ("not ours").
        contact("water", c("w8", Phone, Complaint, None, None, None, None, "2026-11-20T10:00:00-05:00"), {
            Some(case(
                "2026-11-20T10:00:00-05:00",
                ("2026-11-23T10:00:00-05:00", "2026-11-25T10:00:00-05:00"),
                CaseStatus::Open,
                None,
                None,
                None,
            ))
        }),
        // W9-W11: Streets rating Water's service (internal customers): a survey, a suggestion,
        // and a complaint (a case of Water's, still open).
        contact(
            "water",
            c("w9", Survey, SurveyResponse, Some(2), Some(6), None, Some("streets"), "2026-11-03T14:00:00-05:00"),
            None,
        ),
        contact(
            "water",
            c("w10", Email, Suggestion, None, None, None, Some("streets"), "2026-11-04T09:00:00-05:00"),
            None,
        ),
        contact("water", c("w11", Email, Complaint, None, None, None, Some("streets"), "2026-11-05T09:00:00-05:00"), {
            Some(case(
                "2026-11-05T09:00:00-05:00",
                ("2026-11-06T09:00:00-05:00", "2026-11-10T09:00:00-05:00"),
                CaseStatus::Open,
                None,
                None,
                None,
            ))
        }),
    ]
}

/// Streets' history.
fn streets() -> Vec<ImportedContact> {
    use Channel::*;
    use FeedbackKind::*;
    let c = |id, channel, kind, csat, nps, category, internal, when| Contact {
        id,
        channel,
        kind,
        csat,
        nps,
        category,
        internal,
        occurred: when,
        received: when,
    };
    vec![
        // S1: the resident called Water on Monday 2 Nov 08:00; Streets received the case on
        // Tuesday 09:00, acknowledged it at 09:30, resolved it Thursday 17:00 (on time), closed
        // it; the resident was not satisfied. The resident waited from Monday 08:00.
        contact(
            "streets",
            Contact {
                received: "2026-11-03T09:00:00-05:00",
                ..c("s1", Phone, Complaint, None, None, None, None, "2026-11-02T08:00:00-05:00")
            },
            {
                let mut k = case(
                    "2026-11-03T09:00:00-05:00",
                    ("2026-11-04T09:00:00-05:00", "2026-11-06T09:00:00-05:00"),
                    CaseStatus::Closed,
                    Some("2026-11-03T09:30:00-05:00"),
                    Some("2026-11-05T17:00:00-05:00"),
                    Some("2026-11-06T10:00:00-05:00"),
                );
                k.first_contact_at = Some(at("2026-11-02T08:00:00-05:00"));
                k.follow_up = Some(fid("s2"));
                k.satisfied = Some(false);
                Some(k)
            },
        ),
        // S2, Saturday 7 Nov: S1's follow-up survey.
        contact(
            "streets",
            c("s2", Survey, SurveyResponse, Some(1), Some(0), None, None, "2026-11-07T10:00:00-05:00"),
            None,
        ),
        // S3, Sunday 1 Nov 23:30 (Monday 2 Nov in UTC): the week of 26 Oct.
        contact("streets", c("s3", Web, Compliment, Some(5), None, None, None, "2026-11-01T23:30:00-05:00"), None),
        // S4, Monday 26 Oct: a pothole, acknowledged within the hour, resolved a week later
        // (late); an apology and a call-back are recorded below.
        contact(
            "streets",
            c("s4", InPerson, Complaint, None, None, Some("pothole"), None, "2026-10-26T10:00:00-04:00"),
            {
                Some(case(
                    "2026-10-26T10:00:00-04:00",
                    ("2026-10-27T10:00:00-04:00", "2026-10-29T10:00:00-04:00"),
                    CaseStatus::Resolved,
                    Some("2026-10-26T11:00:00-04:00"),
                    Some("2026-11-02T10:00:00-05:00"),
                    None,
                ))
            },
        ),
        // S5, Thursday 12 Nov: Water rating Streets' service.
        contact(
            "streets",
            c("s5", Survey, SurveyResponse, Some(4), Some(9), None, Some("water"), "2026-11-12T12:00:00-05:00"),
            None,
        ),
    ]
}

fn chief_caller() -> cityserve_domain::Caller {
    cityserve_domain::Caller { subject: CHIEF.into(), role: cityserve_domain::Role::Chief, departments: vec![] }
}

/// Loads the history (counters keyed in whatever zone the rollups are in now).
async fn import_history<S: ImportStore>(store: &S) {
    let actor = chief_caller();
    for (d, items) in [("water", water()), ("streets", streets())] {
        let scope = cityserve_domain::policy::authorize(&actor, Action::SubmitFeedback, Some(&dept(d))).unwrap();
        let ctx = WriteCtx { scope: &scope, actor: &actor, action: "feedback.import", trace_id: None };
        assert_eq!(store.import_contacts(&ctx, &dept(d), &items).await.unwrap(), items.len() as u64);
    }
}

/// Later case work, at its own times.
async fn work_cases<S: FeedbackStore>(store: &S) {
    let actor = chief_caller();
    let change = |d: &'static str,
                  id: &'static str,
                  t: Option<CaseTransition>,
                  entry: Option<(RecoveryKind, &'static str)>,
                  when: &'static str| {
        let actor = actor.clone();
        async move {
            let d: DepartmentId = dept(d);
            let scope = cityserve_domain::policy::authorize(&actor, Action::ManageCases, Some(&d)).unwrap();
            let ctx = WriteCtx { scope: &scope, actor: &actor, action: "case.update", trace_id: None };
            let current = store.get_case(&scope, &d, &CaseId::from_feedback(&fid(id))).await.unwrap();
            let next = match &t {
                Some(t) => cityserve_domain::feedback::transition(&current, t, at(when)).unwrap(),
                None => current.clone(),
            };
            let entry = entry.map(|(kind, note)| {
                CaseEntry::Recovery(RecoveryAction {
                    kind,
                    note: note.into(),
                    actor: actor.subject.clone(),
                    at: at(when),
                })
            });
            store.save_case(&ctx, &next, current.revision, entry.as_ref()).await.unwrap();
        }
    };
    change("water", "w3", Some(CaseTransition::Reopen), None, "2026-11-05T09:00:00-05:00").await;
    change("water", "w3", Some(CaseTransition::Resolve), None, "2026-11-06T09:00:00-05:00").await;
    change("water", "w8", Some(CaseTransition::CloseNotOurs(dept("streets"))), None, "2026-11-20T11:00:00-05:00").await;
    change("water", "w7", None, Some((RecoveryKind::Remedy, "bill credit")), "2026-11-13T11:30:00-05:00").await;
    change("streets", "s4", None, Some((RecoveryKind::Apology, "sorry")), "2026-11-02T10:05:00-05:00").await;
    change("streets", "s4", None, Some((RecoveryKind::FollowUpCall, "called back")), "2026-11-03T12:00:00-05:00").await;
}

/// Runs `f` on a store of the server's own database.
macro_rules! with_store {
    ($app:expr, |$store:ident| $body:expr) => {
        match backend_of(&$app.database_url) {
            Backend::Sqlite => {
                let options = SqliteOptions { max_connections: 1, migrate: false };
                let $store = SqliteStore::connect(&$app.database_url, options).await.unwrap();
                $body.await;
                $store.close().await;
            }
            Backend::Postgres => {
                let options =
                    PgOptions { max_connections: 2, migrate: false, app_role: $app.config.db_app_role.clone() };
                let $store = PgStore::connect(&$app.database_url, options).await.unwrap();
                $body.await;
                $store.close().await;
            }
        }
    };
}

async fn card(app: &TestApp, d: &str, period: pb::ReportPeriod, date: &str) -> pb::ReportCard {
    let req =
        pb::GetReportCardRequest { department: format!("departments/{d}"), period: period as i32, date: date.into() };
    app.coordination().get_report_card(authed(req, &chief())).await.unwrap().into_inner().report_card.unwrap()
}

fn ts(s: &str) -> Option<prost_types::Timestamp> {
    let t = at(s);
    Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 })
}

fn secs(s: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds: s, nanos: 0 })
}

fn csat(counts: &[(usize, i64)]) -> Vec<i64> {
    let mut v = vec![0; 5];
    for (rating, n) in counts {
        v[rating - 1] = *n;
    }
    v
}

fn nps(counts: &[(usize, i64)]) -> Vec<i64> {
    let mut v = vec![0; 11];
    for (score, n) in counts {
        v[*score] = *n;
    }
    v
}

fn channels(counts: &[(pb::Channel, i64)]) -> Vec<pb::ChannelCount> {
    counts.iter().map(|(c, n)| pb::ChannelCount { channel: *c as i32, count: *n }).collect()
}

fn kinds(counts: &[(pb::FeedbackKind, i64)]) -> Vec<pb::KindCount> {
    counts.iter().map(|(k, n)| pb::KindCount { kind: *k as i32, count: *n }).collect()
}

fn recoveries(counts: &[(pb::RecoveryActionKind, i64)]) -> Vec<pb::RecoveryCount> {
    counts.iter().map(|(k, n)| pb::RecoveryCount { kind: *k as i32, count: *n }).collect()
}

fn population(
    volume: i64,
    complaints: i64,
    csat: Vec<i64>,
    csat_average: Option<f64>,
    nps: Vec<i64>,
    score: Option<f64>,
) -> pb::PopulationFigures {
    pb::PopulationFigures {
        volume,
        complaints,
        csat_distribution: csat,
        csat_average,
        nps_distribution: nps,
        nps: score,
    }
}

fn nobody() -> pb::PopulationFigures {
    population(0, 0, csat(&[]), None, nps(&[]), None)
}

/// The frame of a card: whose, which period, and its local dates and instants.
fn frame(d: &str, period: pb::ReportPeriod, dates: (&str, &str), times: (&str, &str)) -> pb::ReportCard {
    pb::ReportCard {
        department: if d.is_empty() { String::new() } else { format!("departments/{d}") },
        period: period as i32,
        start_time: ts(times.0),
        end_time: ts(times.1),
        time_zone: "America/New_York".into(),
        start_date: dates.0.into(),
        last_date: dates.1.into(),
        csat_distribution: csat(&[]),
        nps_distribution: nps(&[]),
        residents: Some(nobody()),
        internal_customers: Some(nobody()),
        ..Default::default()
    }
}

/// The residents' section repeats the card's top-level contact figures.
fn with_residents(mut c: pb::ReportCard) -> pb::ReportCard {
    let complaints =
        c.volume_by_kind.iter().find(|k| k.kind == pb::FeedbackKind::Complaint as i32).map_or(0, |k| k.count);
    c.residents = Some(population(
        c.volume,
        complaints,
        c.csat_distribution.clone(),
        c.csat_average,
        c.nps_distribution.clone(),
        c.nps,
    ));
    c
}

const DAY_1_NOV: (&str, &str) = ("2026-11-01", "2026-11-01");
/// 1 November is 25 hours long in New York.
const DAY_1_NOV_TIMES: (&str, &str) = ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z");
const WEEK_44: (&str, &str) = ("2026-10-26", "2026-11-01");
const WEEK_44_TIMES: (&str, &str) = ("2026-10-26T04:00:00Z", "2026-11-02T05:00:00Z");
const NOVEMBER: (&str, &str) = ("2026-11-01", "2026-11-30");
const NOVEMBER_TIMES: (&str, &str) = ("2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z");
const Q4: (&str, &str) = ("2026-10-01", "2026-12-31");
const Q4_TIMES: (&str, &str) = ("2026-10-01T04:00:00Z", "2027-01-01T05:00:00Z");

/// Bucket bounds the percentiles report (docs/api.md): 30 min, 1 h, 2 d, 3 d, 5 d, 7 d, 14 d.
const MIN_30: i64 = 1_800;
const HOUR_1: i64 = 3_600;
const DAYS_2: i64 = 172_800;
const DAYS_3: i64 = 259_200;
const DAYS_5: i64 = 432_000;
const DAYS_7: i64 = 604_800;
const DAYS_14: i64 = 1_209_600;

fn water_cards() -> Vec<(pb::ReportPeriod, &'static str, pb::ReportCard)> {
    use pb::Channel as Ch;
    use pb::FeedbackKind as K;
    use pb::ReportPeriod::*;
    // Water's internal customers in November (and so in Q4): W9 (CSAT 2, NPS 6), W10, W11 (a
    // complaint).
    let internal = || Some(population(3, 1, csat(&[(2, 1)]), Some(2.0), nps(&[(6, 1)]), Some(-100.0)));
    vec![
        // 1 Nov: only W4.
        (
            Day,
            "2026-11-01",
            with_residents(pb::ReportCard {
                volume: 1,
                volume_by_channel: channels(&[(Ch::InPerson, 1)]),
                volume_by_kind: kinds(&[(K::Compliment, 1)]),
                csat_distribution: csat(&[(4, 1)]),
                csat_average: Some(4.0),
                coverage: Some(1.0),
                ..frame("water", Day, DAY_1_NOV, DAY_1_NOV_TIMES)
            }),
        ),
        // 26 Oct - 1 Nov: W1 (30 Oct), W3 (31 Oct), W4 (1 Nov). Cases W1 and W3; W3 reopened
        // once (counted on the day it was received); W1's loop closed, resident satisfied;
        // coverage W1 (categorised and resolved) and W4 of 3 contacts.
        (
            Week,
            "2026-10-28",
            with_residents(pb::ReportCard {
                volume: 3,
                volume_by_channel: channels(&[(Ch::Phone, 1), (Ch::Web, 1), (Ch::InPerson, 1)]),
                volume_by_kind: kinds(&[(K::Complaint, 2), (K::Compliment, 1)]),
                csat_distribution: csat(&[(4, 1)]),
                csat_average: Some(4.0),
                cases_opened: 2,
                reopens: 1,
                closed_loop_share: Some(0.5),
                closed_loop_satisfied_percent: Some(100.0),
                coverage: Some(2.0 / 3.0),
                ..frame("water", Week, WEEK_44, WEEK_44_TIMES)
            }),
        ),
        // November: residents W4, W2, W7, W8, W6; cases W11, W7, W8. Acknowledged W1 (2d16h30,
        // on time), W3 (2d9h30, late), W7 (1d18h, on time); resolved W1 (4d22h30, on time), W3
        // (5d10h30 from receipt, late), W7 (2d19h, on time), each also the resident's wait.
        // Coverage W4 and W7 of 5; W8 redirected; W7's remedy.
        (
            Month,
            "2026-11-15",
            with_residents(pb::ReportCard {
                volume: 5,
                volume_by_channel: channels(&[(Ch::Survey, 2), (Ch::Phone, 1), (Ch::InPerson, 1), (Ch::Channel311, 1)]),
                volume_by_kind: kinds(&[(K::Complaint, 2), (K::Compliment, 1), (K::SurveyResponse, 2)]),
                csat_distribution: csat(&[(3, 1), (4, 1), (5, 1)]),
                csat_average: Some(4.0),
                nps_distribution: nps(&[(9, 1), (10, 1)]),
                nps: Some(100.0),
                cases_opened: 3,
                acknowledged: 3,
                acknowledge_p50: secs(DAYS_3),
                acknowledge_p90: secs(DAYS_3),
                acknowledge_sla_percent: Some(200.0 / 3.0),
                resolved: 3,
                resolve_p50: secs(DAYS_5),
                resolve_p90: secs(DAYS_7),
                resolve_sla_percent: Some(200.0 / 3.0),
                reopen_rate: Some(0.0),
                closed_loop_share: Some(0.0),
                redirected: 1,
                recovery_actions: recoveries(&[(pb::RecoveryActionKind::Remedy, 1)]),
                internal_customers: internal(),
                resident_waits: 3,
                resident_wait_p50: secs(DAYS_5),
                resident_wait_p90: secs(DAYS_7),
                coverage: Some(0.4),
                ..frame("water", Month, NOVEMBER, NOVEMBER_TIMES)
            }),
        ),
        // Q4: November plus W1 and W3 (W5 is September's in New York).
        (
            Quarter,
            "2026-12-31",
            with_residents(pb::ReportCard {
                volume: 7,
                volume_by_channel: channels(&[
                    (Ch::Survey, 2),
                    (Ch::Phone, 2),
                    (Ch::Web, 1),
                    (Ch::InPerson, 1),
                    (Ch::Channel311, 1),
                ]),
                volume_by_kind: kinds(&[(K::Complaint, 4), (K::Compliment, 1), (K::SurveyResponse, 2)]),
                csat_distribution: csat(&[(3, 1), (4, 1), (5, 1)]),
                csat_average: Some(4.0),
                nps_distribution: nps(&[(9, 1), (10, 1)]),
                nps: Some(100.0),
                cases_opened: 5,
                acknowledged: 3,
                acknowledge_p50: secs(DAYS_3),
                acknowledge_p90: secs(DAYS_3),
                acknowledge_sla_percent: Some(200.0 / 3.0),
                resolved: 3,
                resolve_p50: secs(DAYS_5),
                resolve_p90: secs(DAYS_7),
                resolve_sla_percent: Some(200.0 / 3.0),
                reopens: 1,
                reopen_rate: Some(1.0 / 3.0),
                closed_loop_share: Some(0.2),
                closed_loop_satisfied_percent: Some(100.0),
                redirected: 1,
                recovery_actions: recoveries(&[(pb::RecoveryActionKind::Remedy, 1)]),
                internal_customers: internal(),
                resident_waits: 3,
                resident_wait_p50: secs(DAYS_5),
                resident_wait_p90: secs(DAYS_7),
                coverage: Some(3.0 / 7.0),
                ..frame("water", Quarter, Q4, Q4_TIMES)
            }),
        ),
    ]
}

fn streets_cards() -> Vec<(pb::ReportPeriod, &'static str, pb::ReportCard)> {
    use pb::Channel as Ch;
    use pb::FeedbackKind as K;
    use pb::ReportPeriod::*;
    // Streets' internal customer in November: S5 (CSAT 4, NPS 9).
    let internal = || Some(population(1, 0, csat(&[(4, 1)]), Some(4.0), nps(&[(9, 1)]), Some(100.0)));
    vec![
        // 1 Nov: S3 (23:30 local; 2 Nov in UTC).
        (
            Day,
            "2026-11-01",
            with_residents(pb::ReportCard {
                volume: 1,
                volume_by_channel: channels(&[(Ch::Web, 1)]),
                volume_by_kind: kinds(&[(K::Compliment, 1)]),
                csat_distribution: csat(&[(5, 1)]),
                csat_average: Some(5.0),
                coverage: Some(0.0),
                ..frame("streets", Day, DAY_1_NOV, DAY_1_NOV_TIMES)
            }),
        ),
        // 26 Oct - 1 Nov: S4 (opened and acknowledged within the hour, on time; categorised and
        // resolved, so covered) and S3.
        (
            Week,
            "2026-11-01",
            with_residents(pb::ReportCard {
                volume: 2,
                volume_by_channel: channels(&[(Ch::Web, 1), (Ch::InPerson, 1)]),
                volume_by_kind: kinds(&[(K::Complaint, 1), (K::Compliment, 1)]),
                csat_distribution: csat(&[(5, 1)]),
                csat_average: Some(5.0),
                cases_opened: 1,
                acknowledged: 1,
                acknowledge_p50: secs(HOUR_1),
                acknowledge_p90: secs(HOUR_1),
                acknowledge_sla_percent: Some(100.0),
                closed_loop_share: Some(0.0),
                coverage: Some(0.5),
                ..frame("streets", Week, WEEK_44, WEEK_44_TIMES)
            }),
        ),
        // November: residents S3, S1 (occurred 2 Nov), S2; case S1 (acknowledged in 30 min).
        // Resolved S4 (7d1h, late) and S1 (2d8h, on time); the residents waited 7d1h and 3d9h
        // (S1's resident from the first call to Water). S1's loop closed, resident unsatisfied.
        (
            Month,
            "2026-11-30",
            with_residents(pb::ReportCard {
                volume: 3,
                volume_by_channel: channels(&[(Ch::Survey, 1), (Ch::Phone, 1), (Ch::Web, 1)]),
                volume_by_kind: kinds(&[(K::Complaint, 1), (K::Compliment, 1), (K::SurveyResponse, 1)]),
                csat_distribution: csat(&[(1, 1), (5, 1)]),
                csat_average: Some(3.0),
                nps_distribution: nps(&[(0, 1)]),
                nps: Some(-100.0),
                cases_opened: 1,
                acknowledged: 1,
                acknowledge_p50: secs(MIN_30),
                acknowledge_p90: secs(MIN_30),
                acknowledge_sla_percent: Some(100.0),
                resolved: 2,
                resolve_p50: secs(DAYS_3),
                resolve_p90: secs(DAYS_14),
                resolve_sla_percent: Some(50.0),
                reopen_rate: Some(0.0),
                closed_loop_share: Some(1.0),
                closed_loop_satisfied_percent: Some(0.0),
                recovery_actions: recoveries(&[
                    (pb::RecoveryActionKind::Apology, 1),
                    (pb::RecoveryActionKind::FollowUpCall, 1),
                ]),
                internal_customers: internal(),
                resident_waits: 2,
                resident_wait_p50: secs(DAYS_5),
                resident_wait_p90: secs(DAYS_14),
                coverage: Some(0.0),
                ..frame("streets", Month, NOVEMBER, NOVEMBER_TIMES)
            }),
        ),
        // Q4: November plus S4's contact, case, acknowledgement and coverage (26 Oct).
        (
            Quarter,
            "2026-10-01",
            with_residents(pb::ReportCard {
                volume: 4,
                volume_by_channel: channels(&[(Ch::Survey, 1), (Ch::Phone, 1), (Ch::Web, 1), (Ch::InPerson, 1)]),
                volume_by_kind: kinds(&[(K::Complaint, 2), (K::Compliment, 1), (K::SurveyResponse, 1)]),
                csat_distribution: csat(&[(1, 1), (5, 1)]),
                csat_average: Some(3.0),
                nps_distribution: nps(&[(0, 1)]),
                nps: Some(-100.0),
                cases_opened: 2,
                acknowledged: 2,
                acknowledge_p50: secs(MIN_30),
                acknowledge_p90: secs(HOUR_1),
                acknowledge_sla_percent: Some(100.0),
                resolved: 2,
                resolve_p50: secs(DAYS_3),
                resolve_p90: secs(DAYS_14),
                resolve_sla_percent: Some(50.0),
                reopen_rate: Some(0.0),
                closed_loop_share: Some(0.5),
                closed_loop_satisfied_percent: Some(0.0),
                recovery_actions: recoveries(&[
                    (pb::RecoveryActionKind::Apology, 1),
                    (pb::RecoveryActionKind::FollowUpCall, 1),
                ]),
                internal_customers: internal(),
                resident_waits: 2,
                resident_wait_p50: secs(DAYS_5),
                resident_wait_p90: secs(DAYS_14),
                coverage: Some(0.25),
                ..frame("streets", Quarter, Q4, Q4_TIMES)
            }),
        ),
    ]
}

/// The city's November: Water's and Streets' Novembers together (the Chief's office has none).
fn city_november() -> pb::ReportCard {
    use pb::Channel as Ch;
    use pb::FeedbackKind as K;
    with_residents(pb::ReportCard {
        volume: 8,
        volume_by_channel: channels(&[
            (Ch::Survey, 3),
            (Ch::Phone, 2),
            (Ch::Web, 1),
            (Ch::InPerson, 1),
            (Ch::Channel311, 1),
        ]),
        volume_by_kind: kinds(&[(K::Complaint, 3), (K::Compliment, 2), (K::SurveyResponse, 3)]),
        csat_distribution: csat(&[(1, 1), (3, 1), (4, 1), (5, 2)]),
        csat_average: Some(3.6),
        nps_distribution: nps(&[(0, 1), (9, 1), (10, 1)]),
        nps: Some(100.0 / 3.0),
        cases_opened: 4,
        // 30 min, 1d18h, 2d9h30, 2d16h30; three on time.
        acknowledged: 4,
        acknowledge_p50: secs(DAYS_2),
        acknowledge_p90: secs(DAYS_3),
        acknowledge_sla_percent: Some(75.0),
        // 2d8h, 2d19h, 4d22h30, 5d10h30, 7d1h; three on time.
        resolved: 5,
        resolve_p50: secs(DAYS_5),
        resolve_p90: secs(DAYS_14),
        resolve_sla_percent: Some(60.0),
        reopen_rate: Some(0.0),
        closed_loop_share: Some(0.25),
        closed_loop_satisfied_percent: Some(0.0),
        redirected: 1,
        recovery_actions: recoveries(&[
            (pb::RecoveryActionKind::Apology, 1),
            (pb::RecoveryActionKind::Remedy, 1),
            (pb::RecoveryActionKind::FollowUpCall, 1),
        ]),
        internal_customers: Some(population(
            4,
            1,
            csat(&[(2, 1), (4, 1)]),
            Some(3.0),
            nps(&[(6, 1), (9, 1)]),
            Some(0.0),
        )),
        // 2d19h, 3d9h, 4d22h30, 5d10h30, 7d1h.
        resident_waits: 5,
        resident_wait_p50: secs(DAYS_5),
        resident_wait_p90: secs(DAYS_14),
        coverage: Some(0.25),
        ..frame("", pb::ReportPeriod::Month, NOVEMBER, NOVEMBER_TIMES)
    })
}

both_backends! {
    async fn report_cards_count_the_citys_days_and_populations_apart(app: &TestApp) {
        for d in ["water", "streets"] {
            create_department(app, d).await;
        }
        create_category(app, "water", "leak").await;
        create_category(app, "streets", "pothole").await;
        let req = pb::UpdateCityCalendarRequest { city_calendar: Some(city_calendar_pb()), update_mask: None };
        app.departments().update_city_calendar(authed(req, &chief())).await.unwrap();

        // The history lands while the counters are still keyed in UTC days: W5 (30 Sep 22:00 in
        // New York, 1 Oct in UTC) is on a UTC fourth-quarter card.
        with_store!(app, |store| import_history(&store));
        let utc = card(app, "water", pb::ReportPeriod::Quarter, "2026-10-01").await;
        assert_eq!((utc.time_zone.as_str(), utc.volume, utc.start_time), ("UTC", 8, ts("2026-10-01T00:00:00Z")));

        // `cityserve rollups rebuild` rekeys them in the city's days.
        let read = std::sync::atomic::AtomicU64::new(0);
        let rebuilt = cityserve::rollups::rebuild_configured(&app.config, &read).await.unwrap();
        assert_eq!((rebuilt.zone, rebuilt.previous_zone), (NEW_YORK, chrono_tz::UTC));
        assert_eq!(read.into_inner(), rebuilt.rows, "the progress counted every raw row read");
        with_store!(app, |store| work_cases(&store));

        for (d, cards) in [("water", water_cards()), ("streets", streets_cards())] {
            for (period, date, want) in cards {
                let got = card(app, d, period, date).await;
                assert_eq!(got, want, "{d}'s {period:?} card of {date}");
            }
        }

        let req = pb::GetCityDashboardRequest { period: pb::ReportPeriod::Month as i32, date: "2026-11-15".into() };
        let board = app.coordination().get_city_dashboard(authed(req, &chief())).await.unwrap().into_inner();
        assert_eq!(board.city, Some(city_november()));
        let november = |d: &str| water_cards().into_iter().chain(streets_cards()).map(|(_, _, c)| c)
            .find(|c| c.department == format!("departments/{d}") && c.period == pb::ReportPeriod::Month as i32);
        let chief_office = frame(CHIEF_OFFICE, pb::ReportPeriod::Month, NOVEMBER, NOVEMBER_TIMES);
        assert_eq!(board.departments, vec![chief_office, november("streets").unwrap(), november("water").unwrap()]);
        // November is over: it is compared with the whole of October, when Streets opened one
        // case (S4) and Water two (W1, W3), none resolved, rated, bounced or escalated; nobody
        // got worse.
        assert!(!board.partial_period);
        assert_eq!(
            (board.previous_start_time, board.previous_end_time, board.compared_end_time),
            (ts("2026-10-01T04:00:00Z"), ts("2026-11-01T04:00:00Z"), ts("2026-12-01T05:00:00Z"))
        );
        let moved = |d: &str, rates: Option<f64>| pb::Movement {
            department: format!("departments/{d}"),
            ping_pong_rate_change: rates,
            escalation_rate_change: rates,
            ..Default::default()
        };
        assert_eq!(board.movements, vec![moved(CHIEF_OFFICE, None), moved("streets", Some(0.0)), moved("water", Some(0.0))]);
        assert_eq!(board.worst_movers, vec![]);

        // A card of zeros for a mistyped department would mislead: there is none.
        let req = pb::GetReportCardRequest {
            department: "departments/watr".into(),
            period: pb::ReportPeriod::Month as i32,
            date: "2026-11-15".into(),
        };
        let e = app.coordination().get_report_card(authed(req, &chief())).await.unwrap_err();
        assert_eq!((e.code(), e.message().contains("departments/watr")), (tonic::Code::NotFound, true), "{e:?}");
    }
}
