//! Shared behaviour of [`crate::CoordinationStore`] backends.
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::coordination::{
    CoordinationStore, Direction, EscalationFilter, EventCursor, EventFilter, HandoffFilter, NewEscalation,
};
use crate::{StoreError, WriteCtx};
use chrono::{Duration, Utc};
use cityserve_domain::coordination::{
    EscalationChange, EscalationStatus, EscalationTrigger, HandoffKind, HandoffResponse, HandoffStatus, NewHandoff,
    change_escalation,
};
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::policy::{handoff_scope, system_scope};
use cityserve_domain::report::{self, LiveFigures, Metrics, ReportCard};
use cityserve_domain::{
    Action, CaseId, Channel, DepartmentId, EscalationId, FeedbackId, FeedbackKind, HandoffId, Location, NewFeedback,
    ServiceCategoryId, TenantScope,
};

pub(super) fn fid(id: &str) -> FeedbackId {
    FeedbackId::parse("id", id).unwrap()
}

fn hid(id: &str) -> HandoffId {
    HandoffId::parse("id", id).unwrap()
}

pub(super) fn contact(
    d: &str,
    id: &str,
    kind: FeedbackKind,
    channel: Channel,
    csat: Option<i32>,
    nps: Option<i32>,
) -> NewFeedback {
    NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: dept(d),
        id: fid(id),
        channel,
        kind,
        csat,
        nps,
        text: "The street cut was left open".into(),
        language: "en".into(),
        category: None,
        location: Location::default(),
        // Now: report cards count a contact in the period it occurred.
        occurred_at: crate::now_micros(),
        resident: None,
        internal_customer: None,
        survey: None,
        served: Default::default(),
        source: None,
    }
}

pub(super) async fn submit<S: CoordinationStore>(store: &S, f: &NewFeedback) {
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&f.department_id));
    store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(f.id.as_str(), "h"), f).await.unwrap();
}

fn today_metrics(rows: &[(DepartmentId, Metrics)], d: &str) -> Metrics {
    rows.iter().find(|(x, _)| x.as_str() == d).map(|(_, m)| m.clone()).unwrap_or_default()
}

async fn metrics_today<S: CoordinationStore>(store: &S, d: &str) -> Metrics {
    let day = report::day_of(Utc::now());
    let all = scope(&chief(), Action::ReadReportCards, None);
    let rows = store.rollup_metrics(&all, None, day - 1, day + 2).await.unwrap();
    today_metrics(&rows, d)
}

/// Sends a hand-off as `from`'s CSO and returns it.
async fn send<S: CoordinationStore>(
    store: &S,
    from: &str,
    case: &str,
    to: &str,
    kind: HandoffKind,
    id: &str,
) -> Result<cityserve_domain::coordination::Handoff, StoreError> {
    let c = cso(from);
    let s = handoff_scope(&c, Action::SendHandoff, &dept(from), &dept(to)).unwrap();
    let new = NewHandoff {
        department_id: dept(from),
        id: hid(id),
        case_id: CaseId::parse("c", case).unwrap(),
        to_department: dept(to),
        kind,
        reason: "The street cut was made by Water".into(),
    };
    store.send_handoff(&ctx(&s, &c, "handoff.send"), &idem(id, "h"), &new).await
}

async fn answer<S: CoordinationStore>(
    store: &S,
    from: &str,
    id: &str,
    to: &str,
    response: HandoffResponse,
) -> Result<cityserve_domain::coordination::Handoff, StoreError> {
    let c = cso(to);
    let s = handoff_scope(&c, Action::RespondHandoff, &dept(to), &dept(from)).unwrap();
    store.respond_handoff(&ctx(&s, &c, "handoff.respond"), &dept(from), &hid(id), &response, None).await
}

fn accept(new_case: &str) -> HandoffResponse {
    HandoffResponse::Accept { new_case: fid(new_case), category: None }
}

pub async fn handoff_path_and_ping_pong_count_on_both_cards<S: CoordinationStore>(store: &S) {
    for d in ["streets", "water", "parks"] {
        seed_department(store, d).await;
    }
    submit(store, &contact("streets", "fb-1", FeedbackKind::Complaint, Channel::Phone, None, None)).await;

    // Streets -> Water (transfer): Streets' case closes as Water's, Water opens its own.
    let h1 = send(store, "streets", "fb-1", "water", HandoffKind::Transfer, "ho-1").await.unwrap();
    assert_eq!(h1.status, HandoffStatus::Pending);
    assert!(!h1.ping_pong);
    assert_eq!(h1.path, [dept("streets")]);
    assert!(h1.accept_due > h1.create_time);
    // One pending answer per case.
    let again = send(store, "streets", "fb-1", "parks", HandoffKind::Referral, "ho-x").await;
    assert!(matches!(again, Err(StoreError::FailedPrecondition(_))), "{again:?}");
    // Retrying the same request returns the same hand-off.
    assert_eq!(send(store, "streets", "fb-1", "water", HandoffKind::Transfer, "ho-1").await.unwrap(), h1);

    let accepted = answer(store, "streets", "ho-1", "water", accept("fb-w1")).await.unwrap();
    assert_eq!(accepted.status, HandoffStatus::Accepted);
    assert_eq!(accepted.received_case, Some(CaseId::parse("c", "fb-w1").unwrap()));
    // Answered once only.
    let twice = answer(store, "streets", "ho-1", "water", accept("fb-w9")).await;
    assert!(matches!(twice, Err(StoreError::FailedPrecondition(_))), "{twice:?}");

    let all = scope(&chief(), Action::ReadCases, None);
    let origin = store.get_case(&all, &dept("streets"), &CaseId::parse("c", "fb-1").unwrap()).await.unwrap();
    assert_eq!(origin.owner_department, Some(dept("water")), "a transfer closes the sender's case as the receiver's");
    let water_case = store.get_case(&all, &dept("water"), &CaseId::parse("c", "fb-w1").unwrap()).await.unwrap();
    assert_eq!(water_case.status, cityserve_domain::CaseStatus::Open);
    let water_fb = store.get_feedback(&all, &dept("water"), &fid("fb-w1")).await.unwrap();
    assert_eq!(water_fb.text, "The street cut was left open", "the receiver sees the complaint");
    assert_eq!(
        store.case_path(&all, &dept("water"), &CaseId::parse("c", "fb-w1").unwrap()).await.unwrap(),
        [dept("streets"), dept("water")]
    );

    // Water -> Streets: the case returns to a department it left: a ping-pong.
    let h2 = send(store, "water", "fb-w1", "streets", HandoffKind::Transfer, "ho-2").await.unwrap();
    assert!(h2.ping_pong);
    answer(store, "water", "ho-2", "streets", accept("fb-s2")).await.unwrap();
    assert_eq!(
        store.case_path(&all, &dept("streets"), &CaseId::parse("c", "fb-s2").unwrap()).await.unwrap(),
        [dept("streets"), dept("water"), dept("streets")]
    );

    // A declined referral leaves the case with its sender.
    send(store, "streets", "fb-s2", "parks", HandoffKind::Referral, "ho-3").await.unwrap();
    let declined = answer(store, "streets", "ho-3", "parks", HandoffResponse::Decline { reason: "Not a park".into() })
        .await
        .unwrap();
    assert_eq!(declined.status, HandoffStatus::Declined);
    assert_eq!(declined.decline_reason, "Not a park");
    let s2 = store.get_case(&all, &dept("streets"), &CaseId::parse("c", "fb-s2").unwrap()).await.unwrap();
    assert_eq!(s2.status, cityserve_domain::CaseStatus::Open);
    // The resident's first contact travels with the case across both hand-offs.
    assert_eq!(s2.first_contact_at, origin.received_at);
    assert!(s2.received_at > origin.received_at, "each department's own clock starts when it accepts");
    // Streets finally resolves it: the resident's wait counts from the first contact, on the card
    // of the department that resolved it.
    let boss = chief();
    let manage = scope(&boss, Action::ManageCases, Some(&dept("streets")));
    let w = ctx(&manage, &boss, "case.manage");
    let started = transition(&s2, &CaseTransition::Start, Utc::now()).unwrap();
    let s2 = store.save_case(&w, &started, s2.revision, None).await.unwrap();
    let resolved_at = Utc::now();
    let resolved = transition(&s2, &CaseTransition::Resolve, resolved_at).unwrap();
    store.save_case(&w, &resolved, s2.revision, None).await.unwrap();
    let card = ReportCard::from_metrics(&metrics_today(store, "streets").await, LiveFigures::default());
    let waited = (resolved_at - origin.received_at).num_seconds();
    assert_eq!(card.resident_waits, 1);
    let bound = card.resident_wait_p50_secs.unwrap();
    assert!(bound >= waited && bound == report::BUCKETS_SECS[0], "{bound} for {waited} s");

    let streets = metrics_today(store, "streets").await;
    let water = metrics_today(store, "water").await;
    assert_eq!(streets.get("ho.pingpong"), Some(&1), "{streets:?}");
    assert_eq!(water.get("ho.pingpong"), Some(&1), "{water:?}");
    assert_eq!((streets.get("ho.out"), streets.get("ho.in")), (Some(&2), Some(&1)));
    assert_eq!((water.get("ho.out"), water.get("ho.in")), (Some(&1), Some(&1)));
    assert_eq!(streets.get("fb"), Some(&1), "hand-off copies are not new contacts");

    // Each side lists what it sent and received; a third department sees none of it.
    let w = cso("water");
    let ws = scope(&w, Action::ReadHandoffs, None);
    let incoming = store
        .list_handoffs(
            &ws,
            &HandoffFilter { department: Some(dept("water")), direction: Direction::Incoming, ..Default::default() },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(incoming.items.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["ho-1"]);
    let any = store.list_handoffs(&ws, &HandoffFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(any.items.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["ho-2", "ho-1"]);
    let p = cso("parks");
    let ps = scope(&p, Action::ReadHandoffs, None);
    assert_eq!(store.get_handoff(&ps, &dept("streets"), &hid("ho-1")).await, Err(StoreError::NotFound));
    assert_eq!(store.get_handoff(&ws, &dept("streets"), &hid("ho-1")).await.unwrap().id, hid("ho-1"));
    let parks_list = store.list_handoffs(&ps, &HandoffFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(parks_list.items.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), ["ho-3"]);
}

fn system() -> (cityserve_domain::Caller, TenantScope) {
    system_scope(cityserve_domain::coordination::BREACH_SCAN_ACTOR)
}

pub async fn breach_scan_escalates_exactly_once_with_racing_scanners<S: CoordinationStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    for i in 0..6 {
        submit(store, &contact("streets", &format!("fb-{i}"), FeedbackKind::Complaint, Channel::Web, None, None)).await;
    }
    send(store, "streets", "fb-0", "water", HandoffKind::Referral, "ho-1").await.unwrap();
    let (caller, s) = system();
    let w = WriteCtx { scope: &s, actor: &caller, action: "escalation.create", trace_id: None };
    // Nothing is due yet.
    assert!(store.scan_breaches(&w, Utc::now(), 100).await.unwrap().is_empty());
    // Eleven days on, every case missed both targets (1 day, 10 days) and the hand-off timed out.
    let later = Utc::now() + Duration::days(11);
    let (a, b, c) = tokio::join!(
        store.scan_breaches(&w, later, 100),
        store.scan_breaches(&w, later, 100),
        store.scan_breaches(&w, later, 100)
    );
    let raised = a.unwrap().len() + b.unwrap().len() + c.unwrap().len();
    assert_eq!(raised, 6 * 2 + 1, "each breach is escalated exactly once");
    assert!(store.scan_breaches(&w, later, 100).await.unwrap().is_empty());
    let all = scope(&chief(), Action::ReadEscalations, None);
    let listed = store.list_escalations(&all, &EscalationFilter::default(), &page(100, None)).await.unwrap();
    assert_eq!(listed.items.len(), 13);
    let timeout: Vec<_> = listed.items.iter().filter(|e| e.trigger == EscalationTrigger::HandoffTimeout).collect();
    assert_eq!(timeout.len(), 1);
    assert_eq!(timeout[0].department_id, dept("water"), "the receiver that did not answer is accountable");
    assert_eq!(timeout[0].handoff, Some((dept("streets"), hid("ho-1"))));
    assert_eq!(metrics_today(store, "streets").await.get("esc"), Some(&12));
    assert_eq!(metrics_today(store, "water").await.get("esc"), Some(&1));
    // A limit bounds one scan's work; the rest follow in the next.
    submit(store, &contact("water", "fb-w", FeedbackKind::Complaint, Channel::Web, None, None)).await;
    assert_eq!(store.scan_breaches(&w, later, 1).await.unwrap().len(), 1);
    assert_eq!(store.scan_breaches(&w, later, 10).await.unwrap().len(), 1);
}

pub async fn a_flood_of_breaches_arrives_as_one_digest<S: CoordinationStore>(store: &S) {
    use cityserve_domain::coordination::{DIGEST_OLDEST, DIGEST_THRESHOLD};
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    // An import of old open cases: Streets has many past both due times, Water a few.
    let many = DIGEST_THRESHOLD + 5;
    for i in 0..many {
        submit(store, &contact("streets", &format!("old-{i:03}"), FeedbackKind::Complaint, Channel::Web, None, None))
            .await;
    }
    for i in 0..2 {
        submit(store, &contact("water", &format!("w-{i}"), FeedbackKind::Complaint, Channel::Web, None, None)).await;
    }
    let (caller, s) = system();
    let w = WriteCtx { scope: &s, actor: &caller, action: "escalation.create", trace_id: None };
    let later = Utc::now() + Duration::days(11);
    let raised = store.scan_breaches(&w, later, 500).await.unwrap();
    let streets: Vec<_> = raised.iter().filter(|e| e.department_id == dept("streets")).collect();
    assert_eq!(streets.len(), 1, "one digest, not {} escalations", many * 2);
    let digest = streets[0];
    assert_eq!(digest.breach_count, i32::try_from(many * 2).unwrap());
    assert_eq!(digest.digest_cases.len(), DIGEST_OLDEST);
    assert_eq!(digest.digest_cases[0], "departments/streets/cases/old-000");
    assert_eq!(digest.case_id, CaseId::parse("c", "old-000").unwrap());
    // Water's few breaches go case by case.
    let water = raised.iter().filter(|e| e.department_id == dept("water")).count();
    assert_eq!(water, 4);
    assert!(raised.iter().filter(|e| e.department_id == dept("water")).all(|e| e.breach_count == 1));
    // The digest covers its breaches: the next scan finds none of them again.
    assert!(store.scan_breaches(&w, later, 500).await.unwrap().is_empty());
    // A new breach later is escalated on its own.
    submit(store, &contact("streets", "new-1", FeedbackKind::Complaint, Channel::Web, None, None)).await;
    let next = store.scan_breaches(&w, later, 500).await.unwrap();
    assert_eq!((next.len(), next[0].breach_count), (2, 1), "acknowledge and resolve breaches of new-1");
    // The card counts one escalation for the digest.
    assert_eq!(metrics_today(store, "streets").await.get("esc"), Some(&3));
}

pub async fn escalations_are_raised_and_settled<S: CoordinationStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    submit(store, &contact("streets", "fb-1", FeedbackKind::Complaint, Channel::Phone, None, None)).await;
    let c = cso("streets");
    let s = scope(&c, Action::Escalate, Some(&dept("streets")));
    let new = NewEscalation {
        department_id: dept("streets"),
        id: EscalationId::parse("id", "es-1").unwrap(),
        case_id: CaseId::parse("c", "fb-1").unwrap(),
        reason: "Resident called five times".into(),
    };
    let e = store.escalate_case(&ctx(&s, &c, "escalation.create"), &idem("e1", "h"), &new).await.unwrap();
    assert_eq!((e.trigger, e.status), (EscalationTrigger::Manual, EscalationStatus::Open));
    assert_eq!(store.escalate_case(&ctx(&s, &c, "escalation.create"), &idem("e1", "h"), &new).await.unwrap(), e);
    // A case of another department is not found.
    let foreign = NewEscalation { department_id: dept("water"), ..new.clone() };
    let ws = scope(&chief(), Action::Escalate, Some(&dept("water")));
    let chief = chief();
    assert_eq!(
        store.escalate_case(&ctx(&ws, &chief, "escalation.create"), &idem("e2", "h"), &foreign).await,
        Err(StoreError::NotFound)
    );
    let cs = scope(&chief, Action::ManageEscalations, Some(&dept("streets")));
    let acked = change_escalation(&e, &EscalationChange::Acknowledge, Utc::now()).unwrap();
    let saved = store.save_escalation(&ctx(&cs, &chief, "escalation.manage"), &acked, e.revision).await.unwrap();
    assert_eq!(saved.status, EscalationStatus::Acknowledged);
    assert_eq!(
        store.save_escalation(&ctx(&cs, &chief, "escalation.manage"), &acked, e.revision).await,
        Err(StoreError::Conflict)
    );
    let done = change_escalation(&saved, &EscalationChange::Resolve("Crew sent".into()), Utc::now()).unwrap();
    let saved = store.save_escalation(&ctx(&cs, &chief, "escalation.manage"), &done, saved.revision).await.unwrap();
    assert_eq!((saved.status, saved.resolution.as_str()), (EscalationStatus::Resolved, "Crew sent"));
    let open = store
        .list_escalations(
            &scope(&chief, Action::ReadEscalations, None),
            &EscalationFilter { status: Some(EscalationStatus::Open), ..Default::default() },
            &page(10, None),
        )
        .await
        .unwrap();
    assert!(open.items.is_empty());
    let water_cso = cso("water");
    let wscope = scope(&water_cso, Action::ReadEscalations, None);
    assert!(
        store.list_escalations(&wscope, &EscalationFilter::default(), &page(10, None)).await.unwrap().items.is_empty()
    );
    assert_eq!(
        store
            .get_escalation(&scope(&water_cso, Action::ReadEscalations, Some(&dept("water"))), &dept("water"), &e.id)
            .await,
        Err(StoreError::NotFound)
    );
}

pub async fn report_card_figures_match_a_hand_computed_data_set<S: CoordinationStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    // Ten contacts: 7 phone, 3 web; 4 complaints; CSAT 1,5,5,5; NPS 10,10,8,3; 2 with a category.
    let cat = ServiceCategoryId::parse("id", "leak").unwrap();
    let c = chief();
    let s = scope(&c, Action::ManageServiceCatalog, Some(&dept("water")));
    store
        .create_service_category(
            &ctx(&s, &c, "catalog.create"),
            &idem("cat", "h"),
            &cityserve_domain::NewServiceCategory {
                department_id: dept("water"),
                id: cat.clone(),
                display_name: "Leak".into(),
                description: String::new(),
                keywords: vec![],
                attributes: Vec::new(),
                public: false,
            },
        )
        .await
        .unwrap();
    let ratings = [(Some(1), Some(10)), (Some(5), Some(10)), (Some(5), Some(8)), (Some(5), Some(3))];
    for i in 0..10 {
        let kind = if i < 4 { FeedbackKind::Complaint } else { FeedbackKind::Compliment };
        let channel = if i % 2 == 0 || i == 9 || i == 7 { Channel::Phone } else { Channel::Web };
        let (csat, nps) = ratings.get(i).copied().unwrap_or((None, None));
        let mut f = contact("water", &format!("fb-{i}"), kind, channel, csat, nps);
        if i == 0 || i == 5 {
            f.category = Some(cat.clone());
        }
        submit(store, &f).await;
    }
    // Work the four cases: resolve two (one reopened), follow up one.
    let all = scope(&c, Action::ManageCases, Some(&dept("water")));
    let w = ctx(&all, &c, "case.manage");
    let now = Utc::now();
    for i in 0..2 {
        let id = CaseId::parse("c", &format!("fb-{i}")).unwrap();
        let case = store.get_case(&all, &dept("water"), &id).await.unwrap();
        let started = transition(&case, &CaseTransition::Start, now).unwrap();
        let case = store.save_case(&w, &started, case.revision, None).await.unwrap();
        let resolved = transition(&case, &CaseTransition::Resolve, now).unwrap();
        store.save_case(&w, &resolved, case.revision, None).await.unwrap();
    }
    let id = CaseId::parse("c", "fb-0").unwrap();
    let case = store.get_case(&all, &dept("water"), &id).await.unwrap();
    let reopened = transition(&case, &CaseTransition::Reopen, now).unwrap();
    store.save_case(&w, &reopened, case.revision, None).await.unwrap();
    submit(store, &contact("water", "fb-survey", FeedbackKind::SurveyResponse, Channel::Email, None, None)).await;
    let case = store.get_case(&all, &dept("water"), &CaseId::parse("c", "fb-1").unwrap()).await.unwrap();
    let mut followed = case.clone();
    followed.follow_up = Some(fid("fb-survey"));
    followed.satisfied = Some(true);
    store.save_case(&w, &followed, case.revision, None).await.unwrap();

    // An apology on fb-2; fb-3 was another department's ("not ours"): redirected, not acknowledged.
    let case = store.get_case(&all, &dept("water"), &CaseId::parse("c", "fb-2").unwrap()).await.unwrap();
    let apology = cityserve_domain::RecoveryAction {
        kind: cityserve_domain::RecoveryKind::Apology,
        note: String::new(),
        actor: "chief-1".into(),
        at: now,
    };
    let entry = cityserve_domain::CaseEntry::Recovery(apology.clone());
    let mut with_apology = case.clone();
    with_apology.recovery.push(apology);
    store.save_case(&w, &with_apology, case.revision, Some(&entry)).await.unwrap();
    let case = store.get_case(&all, &dept("water"), &CaseId::parse("c", "fb-3").unwrap()).await.unwrap();
    let not_ours = transition(&case, &CaseTransition::CloseNotOurs(dept("streets")), now).unwrap();
    store.save_case(&w, &not_ours, case.revision, None).await.unwrap();
    // Two internal customers (Streets rating Water's service) are reported apart: a complaint
    // rated 2 and a compliment rated 4 (NPS 9 and 6).
    for (i, kind, csat, nps) in [(0, FeedbackKind::Complaint, 2, 9), (1, FeedbackKind::Compliment, 4, 6)] {
        let mut f = contact("water", &format!("int-{i}"), kind, Channel::Email, Some(csat), Some(nps));
        f.internal_customer = Some(dept("streets"));
        submit(store, &f).await;
    }
    // Last quarter's survey card, received today, counts in its own period.
    let mut old = contact("water", "fb-old", FeedbackKind::Compliment, Channel::CommentCard, Some(5), None);
    old.occurred_at = now - Duration::days(100);
    submit(store, &old).await;

    let m = metrics_today(store, "water").await;
    let card = ReportCard::from_metrics(&m, LiveFigures::default());
    assert_eq!(card.volume, 11);
    assert_eq!(card.closed_loop_satisfied_percent, Some(100.0));
    assert_eq!(card.redirected, 1);
    assert_eq!(card.recovery_actions, vec![(cityserve_domain::RecoveryKind::Apology, 1)]);
    let internal = &card.internal;
    assert_eq!((internal.volume, internal.complaints), (2, 1));
    assert_eq!((internal.csat_distribution, internal.csat_average), ([0, 1, 0, 1, 0], Some(3.0)));
    assert_eq!(internal.nps, Some(0.0)); // 1 promoter, 1 detractor of 2
    assert_eq!((card.residents().volume, card.residents().complaints), (11, 4));
    assert_eq!(card.by_channel, vec![(Channel::Phone, 7), (Channel::Web, 3), (Channel::Email, 1)]);
    assert_eq!(
        card.by_kind,
        vec![(FeedbackKind::Complaint, 4), (FeedbackKind::Compliment, 6), (FeedbackKind::SurveyResponse, 1)]
    );
    assert_eq!(card.csat_distribution, [1, 0, 0, 0, 3]);
    assert_eq!(card.csat_average, Some(4.0));
    assert_eq!(card.nps, Some(25.0)); // 2 promoters, 1 detractor of 4
    // A case is work whoever complained: the internal customer's complaint opened one too.
    assert_eq!(card.cases_opened, 5);
    assert_eq!((card.acknowledged, card.resolved), (2, 2), "the redirected case was never acknowledged");
    assert_eq!(card.acknowledge_sla_percent, Some(100.0));
    assert_eq!(card.resolve_sla_percent, Some(100.0));
    assert_eq!(card.resolve_p50_secs, Some(60), "resolved within the first minute bucket");
    assert_eq!(card.reopen_rate, Some(0.5));
    assert_eq!(card.closed_loop_share, Some(0.2));
    // Covered: the categorised compliment (fb-5) and the categorised complaint once resolved (fb-0).
    assert_eq!(card.coverage, Some(2.0 / 11.0));
    // Nothing outside the period.
    let all = scope(&c, Action::ReadReportCards, None);
    let day = report::day_of(now);
    assert!(store.rollup_metrics(&all, None, day - 10, day - 1).await.unwrap().is_empty());
    // Only the named counters, when asked for a few.
    let named = store.rollup_metrics_named(&all, None, day - 1, day + 2, &["fb", "esc", "int.fb"]).await.unwrap();
    let water = today_metrics(&named, "water");
    assert_eq!(water.keys().map(String::as_str).collect::<Vec<_>>(), ["fb", "int.fb"], "{water:?}");
    assert_eq!((water.get("fb"), water.get("int.fb")), (Some(&11), Some(&2)));
    let then = report::day_of(now - Duration::days(100));
    let old_day = store.rollup_metrics(&all, None, then, then + 1).await.unwrap();
    let mut old_card = report::Metrics::new();
    for (_, m) in &old_day {
        report::merge(&mut old_card, m);
    }
    assert_eq!((old_card.get("fb"), old_card.get("csat.5")), (Some(&1), Some(&1)), "{old_day:?}");
}

pub async fn watch_resumes_without_gaps_or_duplicates<S: CoordinationStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    let all = scope(&chief(), Action::WatchEvents, None);
    let start = store.latest_event(&all).await.unwrap();
    let mut signal = store.event_signal();
    signal.borrow_and_update();
    // Concurrent writers in two departments.
    let writer = |d: &'static str, first: usize| async move {
        for i in (first..10).step_by(2) {
            submit(store, &contact(d, &format!("fb-{i}"), FeedbackKind::Compliment, Channel::Web, Some(5), None)).await;
        }
    };
    tokio::join!(writer("streets", 0), writer("water", 1));
    assert!(signal.has_changed().unwrap_or(false), "committed writes wake subscribers");

    let filter = EventFilter { departments: None, type_prefixes: vec!["feedback.".into()] };
    let mut seen = Vec::new();
    let mut cursor = start.map_or(EventCursor::Start, EventCursor::After);
    // On PostgreSQL a committed event is held back while any older transaction of the cluster
    // runs (other tests' migrations, on a busy machine for seconds): like a real subscriber,
    // keep reading rather than take an empty batch for the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while seen.len() < 10 && std::time::Instant::now() < deadline {
        // A subscriber that reads three at a time and "reconnects" after each batch.
        let batch = store.events_after(&all, &filter, cursor, 3).await.unwrap();
        let Some(last) = batch.last() else { continue };
        cursor = EventCursor::After(last.sequence);
        seen.extend(batch);
    }
    assert!(store.events_after(&all, &filter, cursor, 3).await.unwrap().is_empty(), "nothing after the tenth");
    assert_eq!(seen.len(), 10, "{seen:?}");
    let mut seqs: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 10, "no event twice");
    assert!(seen.iter().all(|e| e.event_type == "feedback.submit"));

    // A department-bound subscriber sees its own department only, and cannot resume from
    // another department's event.
    let w = cso("water");
    let ws = scope(&w, Action::WatchEvents, None);
    let mine = store.events_after(&ws, &filter, EventCursor::Start, 100).await.unwrap();
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|e| e.department_id == dept("water")));
    let streets_event = seen.iter().find(|e| e.department_id == dept("streets")).unwrap();
    assert_eq!(
        store.events_after(&ws, &filter, EventCursor::After(streets_event.sequence), 10).await,
        Err(StoreError::NotFound)
    );
    let only = EventFilter { departments: Some(vec![dept("streets")]), type_prefixes: vec![] };
    let streets_only = store.events_after(&all, &only, EventCursor::Start, 100).await.unwrap();
    assert!(streets_only.iter().all(|e| e.department_id == dept("streets")));
}

pub async fn coordination_scope_hides_other_tenants<S: CoordinationStore>(store: &S) {
    for d in ["streets", "water", "parks"] {
        seed_department(store, d).await;
    }
    submit(store, &contact("streets", "fb-1", FeedbackKind::Complaint, Channel::Phone, None, None)).await;
    // Parks cannot hand off Streets' case, even naming itself as the receiver.
    let p = cso("parks");
    let denied = handoff_scope(&p, Action::SendHandoff, &dept("streets"), &dept("parks"));
    assert!(denied.is_err());
    let own = scope(&p, Action::SendHandoff, Some(&dept("parks")));
    let new = NewHandoff {
        department_id: dept("streets"),
        id: hid("ho-1"),
        case_id: CaseId::parse("c", "fb-1").unwrap(),
        to_department: dept("parks"),
        kind: HandoffKind::Transfer,
        reason: "mine now".into(),
    };
    assert_eq!(
        store.send_handoff(&ctx(&own, &p, "handoff.send"), &idem("x", "h"), &new).await,
        Err(StoreError::NotFound)
    );
    // Nor read another department's rollups or case path.
    let ps = scope(&p, Action::ReadReportCards, None);
    let day = report::day_of(Utc::now());
    let rows = store.rollup_metrics(&ps, None, day - 1, day + 2).await.unwrap();
    assert!(rows.iter().all(|(d, _)| d.as_str() == "parks"), "{rows:?}");
    assert_eq!(
        store.case_path(&ps, &dept("streets"), &CaseId::parse("c", "fb-1").unwrap()).await,
        Err(StoreError::NotFound)
    );
    let es = scope(&p, Action::Escalate, Some(&dept("parks")));
    let esc = NewEscalation {
        department_id: dept("streets"),
        id: EscalationId::parse("id", "es-1").unwrap(),
        case_id: CaseId::parse("c", "fb-1").unwrap(),
        reason: "x".into(),
    };
    assert_eq!(
        store.escalate_case(&ctx(&es, &p, "escalation.create"), &idem("e", "h"), &esc).await,
        Err(StoreError::NotFound)
    );
}
