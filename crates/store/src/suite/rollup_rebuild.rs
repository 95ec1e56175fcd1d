//! Shared behaviour of the report-card counters: what the writes maintain change by change
//! equals a rebuild from the raw rows, after a random workload (submissions of both
//! populations, imports with old occurrence times, case transitions and holds, recovery actions,
//! follow-ups and changed answers, hand-offs and ping-pongs, erasures, breach scans), keyed by
//! local days of the city's time zone.
use super::feedback::{item, resident};
use super::{chief, ctx, dept, idem, scope, seed_department};
use crate::import::{ImportStore, ImportedCase, ImportedContact};
use crate::{CalendarStore, CoordinationStore, ReportStore, ThemeStore, WriteCtx};
use chrono::{DateTime, Duration, Utc};
use cityserve_domain::coordination::{HandoffKind, HandoffResponse, NewHandoff};
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::policy::{handoff_scope, system_scope};
use cityserve_domain::report::{self, Metrics};
use cityserve_domain::theme::{Theme, ThemeId};
use cityserve_domain::{
    Action, Case, CaseEntry, CaseId, CaseStatus, Channel, CityCalendar, FeedbackId, FeedbackKind, HandoffId,
    RecoveryAction, RecoveryKind,
};
use std::collections::{BTreeMap, BTreeSet};

/// A small deterministic generator (xorshift64*): the same seed, the same workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[usize::try_from(self.below(items.len() as u64)).unwrap()]
    }

    fn minutes(&mut self, max: u64) -> Duration {
        Duration::minutes(i64::try_from(self.below(max) + 1).unwrap())
    }
}

const DEPARTMENTS: [&str; 3] = ["water", "streets", "parks"];
const CHANNELS: [Channel; 4] = [Channel::Phone, Channel::Web, Channel::Email, Channel::InPerson];
const KINDS: [FeedbackKind; 5] = [
    FeedbackKind::Complaint,
    FeedbackKind::Complaint,
    FeedbackKind::Compliment,
    FeedbackKind::Question,
    FeedbackKind::SurveyResponse,
];

/// Every counter, non-zero, by day (daily counters) and by whole month (monthly counters).
async fn counters<S: ReportStore>(store: &S, from: i64, to: i64) -> BTreeMap<(String, i64, String), Metrics> {
    let all = scope(&chief(), Action::ReadReportCards, None);
    let mut out = BTreeMap::new();
    let mut keep = |span: &str, day: i64, rows: Vec<(cityserve_domain::DepartmentId, Metrics)>| {
        for (d, m) in rows {
            let m: Metrics = m.into_iter().filter(|(_, v)| *v != 0).collect();
            if !m.is_empty() {
                out.insert((span.to_owned(), day, d.to_string()), m);
            }
        }
    };
    for day in from..to {
        keep("day", day, store.rollup_metrics(&all, None, day, day + 1).await.unwrap());
    }
    let mut month = report::month_of(from).unwrap();
    while month < to {
        let next = report::month_of(month + 31).unwrap();
        keep("month", month, store.rollup_metrics(&all, None, month, next).await.unwrap());
        month = next;
    }
    out
}

/// The transitions a random step tries (the domain refuses those the case's state forbids).
fn transitions(other: &str) -> Vec<CaseTransition> {
    vec![
        CaseTransition::Acknowledge,
        CaseTransition::Start,
        CaseTransition::Resolve,
        CaseTransition::Resolve,
        CaseTransition::Close,
        CaseTransition::CloseNotOurs(dept(other)),
        CaseTransition::Reopen,
        CaseTransition::WaitOnResident,
        CaseTransition::Resume,
    ]
}

pub async fn rollups_kept_by_writes_equal_a_rebuild<
    S: ImportStore + CoordinationStore + CalendarStore + ReportStore + ThemeStore,
>(
    store: &S,
) {
    for d in DEPARTMENTS {
        seed_department(store, d).await;
    }
    let chief = chief();
    let ny = chrono_tz::America::New_York;
    // The city moves to New York time: the counters follow with a rebuild, once.
    let manage = scope(&chief, Action::ManageCityCalendar, None);
    let city = CityCalendar { time_zone: ny, ..CityCalendar::default() };
    store.update_city_calendar(&ctx(&manage, &chief, "city_calendar.update"), &city, 0).await.unwrap();
    let (system, system_wide) = system_scope("rollups-suite");
    let rebuild = WriteCtx { scope: &system_wide, actor: &system, action: "rollups.rebuild", trace_id: None };
    let first = store
        .rebuild_rollups(&rebuild, true, &Default::default())
        .await
        .unwrap()
        .expect("a new time zone rebuilds the counters");
    assert_eq!((first.zone, first.previous_zone), (ny, chrono_tz::UTC));
    assert!(
        store.rebuild_rollups(&rebuild, true, &Default::default()).await.unwrap().is_none(),
        "current counters are left alone"
    );
    let all = scope(&chief, Action::ReadReportCards, None);
    assert_eq!(store.rollup_zone(&all).await.unwrap(), ny);

    // Two customer themes, applied to some contacts (and taken off some again) below.
    let themes: Vec<ThemeId> =
        ["billing", "no-call-back"].iter().map(|t| ThemeId::parse("theme", t).unwrap()).collect();
    let manage_themes = scope(&chief, Action::ManageThemes, None);
    for t in &themes {
        let theme = Theme {
            id: t.clone(),
            display_name: t.to_string(),
            keywords: vec![t.to_string()],
            created_by: String::new(),
            create_time: crate::now_micros(),
        };
        let w = ctx(&manage_themes, &chief, "theme.create");
        store.create_theme(&w, &idem(&format!("theme-{t}"), "h"), &dept("water"), &theme).await.unwrap();
    }

    let mut rng = Rng(0x0c17_5e4e_u64);
    // Theme tags draw from their own generator, so the rest of the workload stays as it was.
    let mut tags = Rng(0x7e3e_5eed_u64);
    let now = crate::now_micros();
    let mut cases: Vec<Case> = Vec::new();
    let mut surveys: Vec<(String, FeedbackId)> = Vec::new();
    let mut residents: Vec<String> = Vec::new();
    let manage_cases = |d: &str| scope(&chief, Action::ManageCases, Some(&dept(d)));
    for n in 0..300_u32 {
        match rng.below(20) {
            // A live submission, dated up to 20 days back.
            0..=6 => {
                let d = *rng.pick(&DEPARTMENTS);
                let kind = *rng.pick(&KINDS);
                let mut f = item(d, &format!("fb-{n}"), kind, *rng.pick(&CHANNELS));
                f.occurred_at = now - rng.minutes(20 * 24 * 60);
                f.csat = rng.chance(60).then(|| i32::try_from(rng.below(5) + 1).unwrap());
                f.nps = rng.chance(40).then(|| i32::try_from(rng.below(11)).unwrap());
                f.resident = None;
                if rng.chance(20) {
                    f.internal_customer = Some(dept(DEPARTMENTS.iter().find(|x| **x != d).unwrap()));
                } else if rng.chance(40) {
                    f.resident = Some(resident(&format!("resident{}@example.org", rng.below(4)), ""));
                }
                let s = scope(&chief, Action::SubmitFeedback, Some(&dept(d)));
                let done = store
                    .submit_feedback(&ctx(&s, &chief, "feedback.submit"), &idem(&format!("k-{n}"), "h"), &f)
                    .await
                    .unwrap();
                if kind == FeedbackKind::SurveyResponse {
                    surveys.push((d.to_owned(), f.id.clone()));
                }
                // Tagged with a theme or two, sometimes untagged again: counted on its day.
                if tags.chance(50) {
                    let tag = scope(&chief, Action::TagFeedback, Some(&dept(d)));
                    let w = ctx(&tag, &chief, "feedback.tag");
                    store
                        .tag_feedback(&w, &dept(d), &f.id, &themes[..=usize::from(tags.chance(50))], &[])
                        .await
                        .unwrap();
                    if tags.chance(30) {
                        store.tag_feedback(&w, &dept(d), &f.id, &[], &themes[..1]).await.unwrap();
                    }
                }
                // The key the store holds (a returning resident keeps their first one).
                residents.extend(done.feedback.resident_key.clone());
                cases.extend(done.case);
            }
            // History: a batch with old occurrence times, complaints with their case histories.
            7..=8 => {
                let d = *rng.pick(&DEPARTMENTS);
                let mut items = Vec::new();
                for i in 0..=rng.below(3) {
                    let received = now - Duration::days(30) - rng.minutes(170 * 24 * 60);
                    let kind = *rng.pick(&KINDS);
                    let mut f = item(d, &format!("old-{n}-{i}"), kind, *rng.pick(&CHANNELS));
                    f.resident = None;
                    f.occurred_at = received - rng.minutes(3 * 24 * 60);
                    let resolved = rng.chance(70);
                    let case = (kind == FeedbackKind::Complaint).then(|| ImportedCase {
                        status: if resolved { CaseStatus::Resolved } else { CaseStatus::Open },
                        acknowledge_due: received + Duration::hours(24),
                        resolve_due: received + Duration::hours(72),
                        acknowledged_at: resolved.then(|| received + rng.minutes(48 * 60)),
                        resolved_at: resolved.then(|| received + Duration::hours(48) + rng.minutes(96 * 60)),
                        closed_at: None,
                        reopen_count: if resolved { i32::try_from(rng.below(3)).unwrap() } else { 0 },
                        first_contact_at: None,
                        assignee: None,
                        follow_up: None,
                        satisfied: None,
                    });
                    items.push(ImportedContact { feedback: f, resident_key: None, received_at: received, case });
                }
                let s = scope(&chief, Action::SubmitFeedback, Some(&dept(d)));
                store.import_contacts(&ctx(&s, &chief, "feedback.import"), &dept(d), &items).await.unwrap();
            }
            // A case moves (or waits, or resumes), takes a recovery action, or gets its follow-up.
            9..=15 if !cases.is_empty() => {
                let i = usize::try_from(rng.below(cases.len() as u64)).unwrap();
                let c = cases[i].clone();
                let d = c.department_id.to_string();
                let at: DateTime<Utc> = c.update_time.max(c.received_at) + rng.minutes(3 * 24 * 60);
                let w_scope = manage_cases(&d);
                let w = ctx(&w_scope, &chief, "case.update");
                let saved = match rng.below(10) {
                    0 => {
                        let r = RecoveryAction {
                            kind: *rng.pick(&[RecoveryKind::Apology, RecoveryKind::Remedy, RecoveryKind::FollowUpCall]),
                            note: "Called back".into(),
                            actor: chief.subject.clone(),
                            at,
                        };
                        let mut next = c.clone();
                        next.recovery.push(r.clone());
                        Some(store.save_case(&w, &next, c.revision, Some(&CaseEntry::Recovery(r))).await.unwrap())
                    }
                    1 if matches!(c.status, CaseStatus::Resolved | CaseStatus::Closed)
                        && c.owner_department.is_none() =>
                    {
                        // A follow-up of the department, or a changed answer to the linked one.
                        let mut next = c.clone();
                        if next.follow_up.is_none() {
                            next.follow_up = surveys.iter().find(|(x, _)| *x == d).map(|(_, f)| f.clone());
                        }
                        next.satisfied = Some(rng.chance(50));
                        match next.follow_up {
                            Some(_) => Some(store.save_case(&w, &next, c.revision, None).await.unwrap()),
                            None => None,
                        }
                    }
                    _ => {
                        let other = *DEPARTMENTS.iter().find(|x| **x != d).unwrap();
                        // Mostly the natural next step, sometimes anything (the domain refuses what
                        // the state forbids).
                        let natural = match c.status {
                            CaseStatus::Open | CaseStatus::Acknowledged => CaseTransition::Start,
                            CaseStatus::InProgress => CaseTransition::Resolve,
                            CaseStatus::Resolved if rng.chance(50) => CaseTransition::Close,
                            CaseStatus::Resolved | CaseStatus::Closed => CaseTransition::Reopen,
                        };
                        let t = if c.waiting_since.is_none() && rng.chance(60) {
                            natural
                        } else {
                            rng.pick(&transitions(other)).clone()
                        };
                        match transition(&c, &t, at) {
                            Ok(next) => Some(store.save_case(&w, &next, c.revision, None).await.unwrap()),
                            Err(_) => None,
                        }
                    }
                };
                if let Some(s) = saved {
                    cases[i] = s;
                }
            }
            // A hand-off, accepted or declined; an accepted one is sometimes sent straight back
            // (a ping-pong).
            16..=17 if !cases.is_empty() => {
                let i = usize::try_from(rng.below(cases.len() as u64)).unwrap();
                let c = cases[i].clone();
                let running = matches!(c.status, CaseStatus::Open | CaseStatus::Acknowledged | CaseStatus::InProgress);
                if !running || c.waiting_since.is_some() {
                    continue;
                }
                let from = c.department_id.to_string();
                let to = *DEPARTMENTS.iter().filter(|x| **x != from).nth(usize::from(rng.chance(50))).unwrap();
                let accept = rng.chance(70);
                let received = handoff(store, &from, c.id.as_str(), to, &format!("ho-{n}"), accept).await;
                cases[i] = reread(store, &c).await;
                if let Some(copy) = received {
                    if rng.chance(50) {
                        let back = handoff(store, to, copy.id.as_str(), &from, &format!("hb-{n}"), true).await;
                        cases.push(reread(store, &copy).await);
                        cases.extend(back);
                    } else {
                        cases.push(copy);
                    }
                }
            }
            // A resident asks to be forgotten: the figures stay.
            18 if !residents.is_empty() => {
                let key = rng.pick(&residents).clone();
                let es = scope(&chief, Action::EraseResident, None);
                store.erase_resident(&ctx(&es, &chief, "resident.erase"), &key).await.unwrap();
                for c in &mut cases {
                    *c = reread(store, c).await;
                }
            }
            // A breach scan, some days on.
            _ => {
                let (scanner, s) = system_scope(cityserve_domain::coordination::BREACH_SCAN_ACTOR);
                let w = WriteCtx { scope: &s, actor: &scanner, action: "escalation.create", trace_id: None };
                store.scan_breaches(&w, now + Duration::days(i64::try_from(rng.below(12)).unwrap()), 50).await.unwrap();
            }
        }
    }

    let (from, to) =
        (report::local_day(now - Duration::days(230), ny), report::local_day(now + Duration::days(60), ny));
    let kept = counters(store, from, to).await;
    let metrics: BTreeSet<&str> = kept.values().flat_map(|m| m.keys().map(String::as_str)).collect();
    for m in ["fb", "int.fb", "case", "ack.n", "res.sla", "wait.n", "reopen", "redirect", "loop", "loop.sat", "ho.in"] {
        assert!(metrics.contains(m), "the workload exercised {m}: {metrics:?}");
    }
    for m in ["rec.apology", "ho.pingpong", "esc", "theme.billing", "theme.no-call-back"] {
        assert!(metrics.contains(m), "the workload exercised {m}: {metrics:?}");
    }
    let again =
        store.rebuild_rollups(&rebuild, false, &Default::default()).await.unwrap().expect("an asked-for rebuild runs");
    assert_eq!(again.zone, ny);
    let rebuilt = counters(store, from, to).await;
    for (key, m) in &kept {
        assert_eq!(Some(m), rebuilt.get(key), "counters of {key:?}: kept by the writes, then rebuilt");
    }
    assert_eq!(kept.len(), rebuilt.len(), "the rebuild adds no counters the writes did not keep");
}

/// Sends a hand-off of `case` from `from` to `to` as the Chief and answers it; the receiving
/// department's new case when accepted.
async fn handoff<S: CoordinationStore>(
    store: &S,
    from: &str,
    case: &str,
    to: &str,
    id: &str,
    accept: bool,
) -> Option<Case> {
    let chief = chief();
    let s = handoff_scope(&chief, Action::SendHandoff, &dept(from), &dept(to)).unwrap();
    let new = NewHandoff {
        department_id: dept(from),
        id: HandoffId::parse("id", id).unwrap(),
        case_id: CaseId::parse("c", case).unwrap(),
        to_department: dept(to),
        kind: HandoffKind::Transfer,
        reason: "Theirs".into(),
    };
    store.send_handoff(&ctx(&s, &chief, "handoff.send"), &idem(id, "h"), &new).await.unwrap();
    let r = handoff_scope(&chief, Action::RespondHandoff, &dept(to), &dept(from)).unwrap();
    let copy = format!("{id}-case");
    let response = if accept {
        HandoffResponse::Accept { new_case: FeedbackId::parse("id", &copy).unwrap(), category: None }
    } else {
        HandoffResponse::Decline { reason: "Not ours either".into() }
    };
    let w = ctx(&r, &chief, "handoff.respond");
    store.respond_handoff(&w, &dept(from), &HandoffId::parse("id", id).unwrap(), &response, None).await.unwrap();
    if !accept {
        return None;
    }
    let read = scope(&chief, Action::ReadCases, Some(&dept(to)));
    Some(store.get_case(&read, &dept(to), &CaseId::parse("c", &copy).unwrap()).await.unwrap())
}

async fn reread<S: CoordinationStore>(store: &S, c: &Case) -> Case {
    let read = scope(&chief(), Action::ReadCases, Some(&c.department_id));
    store.get_case(&read, &c.department_id, &c.id).await.unwrap()
}
