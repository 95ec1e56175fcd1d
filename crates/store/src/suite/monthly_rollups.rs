//! Shared behaviour of the monthly rollups behind [`crate::CoordinationStore::rollup_metrics`]:
//! whole months are read from per-month counters and the partial-month edges from per-day ones,
//! and the sum must not depend on that split.
use super::{chief, ctx, dept, idem, scope, seed_department};
use crate::coordination::CoordinationStore;
use crate::import::{ImportStore, ImportedCase, ImportedContact};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use cityserve_domain::report::{self, LiveFigures, Metrics, Period, PeriodKind, ReportCard};
use cityserve_domain::{Action, CaseStatus, Channel, FeedbackId, FeedbackKind, Location, NewFeedback};

fn day(y: i32, m: u32, d: u32) -> i64 {
    report::day_of(Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap())
}

fn contact(d: &str, id: &str, channel: Channel, csat: Option<i32>, at: DateTime<Utc>) -> ImportedContact {
    ImportedContact {
        feedback: NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: dept(d),
            id: FeedbackId::parse("id", id).unwrap(),
            channel,
            kind: if csat.is_none() { FeedbackKind::Complaint } else { FeedbackKind::Compliment },
            csat,
            nps: None,
            text: format!("historical {id}"),
            language: "en".into(),
            category: None,
            location: Location::default(),
            occurred_at: at,
            resident: None,
            internal_customer: None,
            survey: None,
            served: Default::default(),
            source: None,
        },
        resident_key: None,
        received_at: at,
        case: csat.is_none().then(|| ImportedCase {
            status: CaseStatus::Resolved,
            acknowledge_due: at + Duration::hours(24),
            resolve_due: at + Duration::hours(240),
            acknowledged_at: Some(at + Duration::hours(2)),
            // Acknowledged and resolved in a later day (and often a later month) than received.
            resolved_at: Some(at + Duration::hours(100)),
            closed_at: None,
            reopen_count: 0,
            first_contact_at: None,
            assignee: None,
            follow_up: None,
            satisfied: None,
        }),
    }
}

/// The sum of single-day reads (which never touch the monthly counters) over `[from, to)`.
async fn day_by_day<S: CoordinationStore>(
    store: &S,
    departments: Option<&[cityserve_domain::DepartmentId]>,
    from: i64,
    to: i64,
) -> Vec<(String, Metrics)> {
    let all = scope(&chief(), Action::ReadReportCards, None);
    let mut sums: std::collections::BTreeMap<String, Metrics> = std::collections::BTreeMap::new();
    for d in from..to {
        for (department, m) in store.rollup_metrics(&all, departments, d, d + 1).await.unwrap() {
            report::merge(sums.entry(department.to_string()).or_default(), &m);
        }
    }
    sums.into_iter().collect()
}

async fn summed<S: CoordinationStore>(
    store: &S,
    departments: Option<&[cityserve_domain::DepartmentId]>,
    from: i64,
    to: i64,
) -> Vec<(String, Metrics)> {
    let all = scope(&chief(), Action::ReadReportCards, None);
    let rows = store.rollup_metrics(&all, departments, from, to).await.unwrap();
    rows.into_iter().map(|(d, m)| (d.to_string(), m)).collect()
}

pub async fn monthly_rollups_sum_like_the_days_they_cover<S: ImportStore + CoordinationStore>(store: &S) {
    for d in ["water", "parks"] {
        seed_department(store, d).await;
    }
    let c = chief();
    // Contacts from 2025-12-20 to 2026-05-10, every 2 days and 7 hours, in separate batches
    // (separate transactions, so separate shards on PostgreSQL), alternating departments.
    let start = Utc.with_ymd_and_hms(2025, 12, 20, 5, 0, 0).unwrap();
    let mut batch: Vec<(&str, Vec<ImportedContact>)> = vec![("water", Vec::new()), ("parks", Vec::new())];
    let mut expected_phone = 0;
    for i in 0..60_i64 {
        let at = start + Duration::hours(55 * i);
        let (d, channel, csat) = match i % 4 {
            0 => ("water", Channel::Phone, None),
            1 => ("parks", Channel::Web, Some(5)),
            2 => ("water", Channel::Web, Some(3)),
            _ => ("parks", Channel::Phone, None),
        };
        let q1 = at >= Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
            && at < Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        if d == "water" && channel == Channel::Phone && q1 {
            expected_phone += 1;
        }
        let slot = batch.iter_mut().find(|(x, _)| *x == d).unwrap();
        slot.1.push(contact(d, &format!("fb-{i}"), channel, csat, at));
        if slot.1.len() == 5 {
            let items = std::mem::take(&mut slot.1);
            let s = scope(&c, Action::SubmitFeedback, Some(&dept(d)));
            store.import_contacts(&ctx(&s, &c, "feedback.import"), &dept(d), &items).await.unwrap();
        }
    }
    for (d, items) in batch {
        if !items.is_empty() {
            let s = scope(&c, Action::SubmitFeedback, Some(&dept(d)));
            store.import_contacts(&ctx(&s, &c, "feedback.import"), &dept(d), &items).await.unwrap();
        }
    }

    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let quarter = Period::containing(PeriodKind::Quarter, date(2026, 2, 14));
    // The week of Monday 2026-01-26 ends in February.
    let week = Period::containing(PeriodKind::Week, date(2026, 1, 29));
    assert!(week.start.format("%m").to_string() != (week.end - Duration::days(1)).format("%m").to_string());
    let month = Period::containing(PeriodKind::Month, date(2026, 2, 3));
    let ranges = [
        (quarter.start_day(), quarter.end_day()),
        (week.start_day(), week.end_day()),
        (month.start_day(), month.end_day()),
        // Partial month, whole months, partial month.
        (day(2025, 12, 27), day(2026, 4, 19)),
        // From a 1st to mid-month; from mid-month to a 1st.
        (day(2026, 1, 1), day(2026, 3, 17)),
        (day(2025, 12, 9), day(2026, 3, 1)),
        // Inside one month; one day; empty; reversed; everything.
        (day(2026, 3, 3), day(2026, 3, 29)),
        (day(2026, 2, 1), day(2026, 2, 2)),
        (day(2026, 2, 1), day(2026, 2, 1)),
        (day(2026, 3, 1), day(2026, 2, 1)),
        (day(2025, 11, 1), day(2026, 6, 1)),
    ];
    let both = [dept("parks"), dept("water")];
    for (from, to) in ranges {
        let expected = day_by_day(store, None, from, to).await;
        assert_eq!(summed(store, None, from, to).await, expected, "all departments, days {from}..{to}");
        assert_eq!(summed(store, Some(&both), from, to).await, expected, "both departments, days {from}..{to}");
        let water = summed(store, Some(&[dept("water")]), from, to).await;
        assert_eq!(water, expected.into_iter().filter(|(d, _)| d == "water").collect::<Vec<_>>());
    }

    // And the figures themselves, by hand: water's Q1 phone contacts are its complaints, each
    // opened, acknowledged and resolved (resolved up to 4 days later, so a complaint received at
    // the end of March may resolve in April).
    let all = scope(&c, Action::ReadReportCards, None);
    let rows =
        store.rollup_metrics(&all, Some(&[dept("water")]), quarter.start_day(), quarter.end_day()).await.unwrap();
    let card = ReportCard::from_metrics(&rows[0].1, LiveFigures::default());
    assert!(expected_phone > 0);
    assert_eq!(card.cases_opened, expected_phone);
    assert_eq!(card.by_channel.iter().find(|(ch, _)| *ch == Channel::Phone).map(|(_, n)| *n), Some(expected_phone));
    assert_eq!(card.acknowledge_sla_percent, Some(100.0));
    assert_eq!(card.resolve_sla_percent, Some(100.0));
}

pub async fn live_writes_reach_the_month_of_their_day<S: CoordinationStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    for i in 0..3 {
        let f = NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: dept("water"),
            id: FeedbackId::parse("id", &format!("fb-live-{i}")).unwrap(),
            channel: Channel::Phone,
            kind: FeedbackKind::Compliment,
            csat: Some(4),
            nps: Some(9),
            text: "Quick and kind".into(),
            language: "en".into(),
            category: None,
            location: Location::default(),
            occurred_at: Utc::now(),
            resident: None,
            internal_customer: None,
            survey: None,
            served: Default::default(),
            source: None,
        };
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(f.id.as_str(), "h"), &f).await.unwrap();
    }
    // This month as a whole month (monthly counters only) and as its days.
    let month = Period::containing(PeriodKind::Month, Utc::now().date_naive());
    let (from, to) = (month.start_day(), month.end_day());
    let expected = day_by_day(store, None, from, to).await;
    assert_eq!(summed(store, None, from, to).await, expected);
    let card = ReportCard::from_metrics(&expected[0].1, LiveFigures::default());
    assert_eq!(card.volume, 3);
    assert_eq!(card.csat_average, Some(4.0));
    // The quarter and the year around it: whole months only.
    let quarter = Period::containing(PeriodKind::Quarter, Utc::now().date_naive());
    assert_eq!(summed(store, None, quarter.start_day(), quarter.end_day()).await, expected);
    let year_start = day(month.start.format("%Y").to_string().parse().unwrap(), 1, 1);
    assert_eq!(summed(store, None, year_start, year_start + 366).await, expected);
}

pub async fn live_figures_of_many_departments_match_one_by_one<S: CoordinationStore>(store: &S) {
    use cityserve_domain::officer::{NewAppointment, NewCompetency, PlanContent, Seat, competency_gaps};
    use cityserve_domain::{AppointmentId, CompetencyId, OfficerId, Role};
    // Water: three staff officers, two competencies, training missing and expired (5 gaps).
    super::competency_gaps_list_missing_and_expired(store).await;
    for d in ["streets", "parks"] {
        seed_department(store, d).await;
    }
    let c = chief();
    // A competency required of the CSO seat only, and Ann in that seat: one more gap.
    let s = scope(&c, Action::ManageCompetencies, Some(&dept("water")));
    let leadership = NewCompetency {
        department_id: dept("water"),
        id: CompetencyId::parse("id", "leadership").unwrap(),
        display_name: "Leadership".into(),
        description: String::new(),
        required_for: vec![Role::Cso],
    };
    store.create_competency(&ctx(&s, &c, "competency.create"), &idem("c-lead", "h"), &leadership).await.unwrap();
    let a = scope(&c, Action::AppointCso, Some(&dept("water")));
    let appointment = NewAppointment {
        department_id: dept("water"),
        id: AppointmentId::parse("id", &format!("ap-{:020}-000001", Utc::now().timestamp_micros())).unwrap(),
        seat: Seat::Cso,
        officer_id: OfficerId::parse("id", "ann").unwrap(),
        replaces: None,
    };
    store.appoint(&ctx(&a, &c, "appointment.cso"), &idem("ap", "h"), &appointment).await.unwrap();
    // A plan with a focus area for this year, and progress on it.
    let period = Period::containing(PeriodKind::Month, Utc::now().date_naive());
    let year: i32 = period.start.format("%Y").to_string().parse().unwrap();
    let p = scope(&c, Action::DraftPlan, Some(&dept("streets")));
    let content = PlanContent {
        focus_area: "first contact resolution".into(),
        focus_metric: "share resolved on first contact".into(),
        focus_baseline: 0.4,
        focus_target: 0.6,
        ..PlanContent::default()
    };
    store.create_plan(&ctx(&p, &c, "plan.create"), &idem("plan", "h"), &dept("streets"), year, &content).await.unwrap();
    store.record_focus_progress(&ctx(&p, &c, "plan.focus"), &dept("streets"), year, 0.45).await.unwrap();

    let all = scope(&c, Action::ReadCityDashboard, None);
    let ds = [dept("water"), dept("streets"), dept("parks")];
    let many = store.live_figures_of(&all, &ds, &period).await.unwrap();
    assert_eq!(many.len(), 3);
    for (d, figures) in ds.iter().zip(&many) {
        let one = store.live_figures(&scope(&c, Action::ReadReportCards, Some(d)), d, &period).await.unwrap();
        assert_eq!(&one, figures, "{d}");
    }
    let rs = scope(&c, Action::ReadTraining, Some(&dept("water")));
    let snap = store.competency_snapshot(&rs, &dept("water")).await.unwrap();
    let gaps = competency_gaps(&snap.officers, &snap.competencies, &snap.records, Utc::now());
    assert_eq!(gaps.len(), 6);
    assert_eq!(many[0].competency_gaps, 6);
    assert_eq!(many[0].focus, None);
    let focus = many[1].focus.clone().unwrap();
    assert_eq!(
        (focus.area.as_str(), focus.baseline, focus.target, focus.current),
        ("first contact resolution", 0.4, 0.6, Some(0.45))
    );
    assert_eq!(many[2], LiveFigures::default());

    assert!(store.live_figures_of(&all, &[], &period).await.unwrap().is_empty());
    // A department that does not exist, or is out of scope, is not found.
    assert_eq!(
        store.live_figures_of(&all, &[dept("water"), dept("nowhere")], &period).await,
        Err(crate::StoreError::NotFound)
    );
    let water_only = scope(&super::cso("water"), Action::ReadReportCards, Some(&dept("water")));
    assert_eq!(store.live_figures_of(&water_only, &ds, &period).await, Err(crate::StoreError::NotFound));
}
