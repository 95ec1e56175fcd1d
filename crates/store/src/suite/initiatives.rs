//! Shared behaviour of the city's shared coordination records: cross-department initiatives
//! (visible to their member departments) and the dumb-rules register (votes and the Chief's
//! decision).
use super::coordination::{contact, fid, submit};
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::StoreError;
use crate::coordination::{CoordinationStore, DumbRuleFilter, DumbRuleOrder, InitiativeFilter};
use chrono::{Duration, Utc};
use cityserve_domain::coordination::{
    DumbRuleStatus, Initiative, InitiativeStatus, Milestone, NewDumbRule, RuleDecision, RuleVerdict, RuleVote, decide,
};
use cityserve_domain::report;
use cityserve_domain::{Action, Channel, DumbRuleId, FeedbackKind, InitiativeId, NewOfficer, OfficerId};

async fn seed_officer_in<S: CoordinationStore>(store: &S, d: &str, id: &str) -> OfficerId {
    let c = chief();
    let s = scope(&c, Action::ManageOfficers, Some(&dept(d)));
    let new = NewOfficer {
        department_id: dept(d),
        id: OfficerId::parse("id", id).unwrap(),
        display_name: "Pat Lead".into(),
        email: format!("{id}@city.example"),
        title: "Lead".into(),
        identity_subject: String::new(),
        kind: cityserve_domain::OfficerKind::Staff,
    };
    store.create_officer(&ctx(&s, &c, "officer.create"), &idem(id, "h"), &new).await.unwrap().id
}

pub async fn initiatives_are_visible_to_member_departments<S: CoordinationStore>(store: &S) {
    for d in ["streets", "water", "parks"] {
        seed_department(store, d).await;
    }
    let owner = seed_officer_in(store, "streets", "pat-lead").await;
    let now = crate::now_micros();
    let i = Initiative {
        department_id: dept("streets"),
        id: InitiativeId::parse("id", "in-1").unwrap(),
        title: "Street cuts closed in 5 days".into(),
        goal: "No open street cut older than 5 days".into(),
        owner,
        members: vec![dept("streets"), dept("water")],
        status: InitiativeStatus::Proposed,
        milestones: vec![Milestone {
            title: "Shared map".into(),
            due_time: Some(now + Duration::days(30)),
            done_time: None,
        }],
        cases: vec![],
        dumb_rules: vec![],
        create_time: now,
        update_time: now,
        revision: 1,
        lifecycle: Default::default(),
    };
    let c = cso("streets");
    let s = scope(&c, Action::ProposeInitiative, Some(&dept("streets")));
    let created = store.create_initiative(&ctx(&s, &c, "initiative.create"), &idem("i1", "h"), &i).await.unwrap();
    assert_eq!(created.members, [dept("streets"), dept("water")]);
    assert_eq!(created.milestones.len(), 1);
    let water = scope(&cso("water"), Action::ReadInitiatives, None);
    assert_eq!(store.get_initiative(&water, &dept("streets"), &i.id).await.unwrap().title, i.title);
    let listed = store.list_initiatives(&water, &InitiativeFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let parks = scope(&cso("parks"), Action::ReadInitiatives, None);
    assert_eq!(store.get_initiative(&parks, &dept("streets"), &i.id).await, Err(StoreError::NotFound));
    assert!(
        store.list_initiatives(&parks, &InitiativeFilter::default(), &page(10, None)).await.unwrap().items.is_empty()
    );

    let mut next = created.clone();
    next.status = InitiativeStatus::Active;
    next.members.push(dept("parks"));
    next.milestones[0].done_time = Some(now);
    let ms = scope(&c, Action::ManageInitiatives, Some(&dept("streets")));
    let saved = store.save_initiative(&ctx(&ms, &c, "initiative.manage"), &next, created.revision).await.unwrap();
    assert_eq!(saved.status, InitiativeStatus::Active);
    assert!(saved.milestones[0].done_time.is_some());
    assert_eq!(
        store.save_initiative(&ctx(&ms, &c, "initiative.manage"), &next, created.revision).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(store.get_initiative(&parks, &dept("streets"), &i.id).await.unwrap().status, InitiativeStatus::Active);
    let active = store
        .list_initiatives(
            &scope(&chief(), Action::ReadInitiatives, None),
            &InitiativeFilter { status: Some(InitiativeStatus::Active), member: Some(dept("parks")) },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(active.items.len(), 1);
}

pub async fn dumb_rules_take_votes_and_a_decision<S: CoordinationStore>(store: &S) {
    for d in ["streets", "water", "parks"] {
        seed_department(store, d).await;
    }
    for i in 0..3 {
        submit(store, &contact("streets", &format!("fb-{i}"), FeedbackKind::Complaint, Channel::Phone, None, None))
            .await;
    }
    let reporter = cso("streets");
    let s = scope(&reporter, Action::ReportDumbRule, Some(&dept("streets")));
    let rule = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-1").unwrap(),
        text: "Permits must be picked up in person".into(),
        affected: vec![dept("streets"), dept("water")],
        evidence: vec![(dept("streets"), fid("fb-0")), (dept("streets"), fid("fb-1"))],
        reporter_department: Some(dept("streets")),
    };
    let w = ctx(&s, &reporter, "dumb_rule.report");
    let reported = store.report_dumb_rule(&w, &idem("r1", "h"), &rule).await.unwrap();
    assert_eq!(reported.status, DumbRuleStatus::Open);
    assert_eq!(reported.evidence.len(), 2);
    assert_eq!(store.report_dumb_rule(&w, &idem("r1", "h"), &rule).await.unwrap(), reported);
    // Evidence must be feedback the reporter can see.
    let foreign = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-2").unwrap(),
        evidence: vec![(dept("water"), fid("fb-0"))],
        ..rule.clone()
    };
    assert!(matches!(
        store.report_dumb_rule(&w, &idem("r2", "h"), &foreign).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let little = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-3").unwrap(),
        evidence: vec![(dept("streets"), fid("fb-2"))],
        affected: vec![dept("parks")],
        ..rule.clone()
    };
    store.report_dumb_rule(&w, &idem("r3", "h"), &little).await.unwrap();

    let vote = |d: &str, verdict: RuleVerdict, comment: &str| RuleVote {
        department_id: dept(d),
        voter: OfficerId::parse("id", &format!("cso-{d}")).unwrap(),
        verdict,
        comment: comment.into(),
        update_time: Utc::now(),
    };
    let (sc, wc, pc) = (cso("streets"), cso("water"), cso("parks"));
    let ss = scope(&sc, Action::VoteDumbRule, Some(&dept("streets")));
    let ws = scope(&wc, Action::VoteDumbRule, Some(&dept("water")));
    let ps = scope(&pc, Action::VoteDumbRule, Some(&dept("parks")));
    store
        .vote_dumb_rule(&ctx(&ss, &sc, "dumb_rule.vote"), &rule.id, &vote("streets", RuleVerdict::Keep, "hm"))
        .await
        .unwrap();
    // One vote per department: a second one replaces the first.
    store
        .vote_dumb_rule(
            &ctx(&ss, &sc, "dumb_rule.vote"),
            &rule.id,
            &vote("streets", RuleVerdict::Kill, "on reflection"),
        )
        .await
        .unwrap();
    let voted = store
        .vote_dumb_rule(&ctx(&ws, &wc, "dumb_rule.vote"), &rule.id, &vote("water", RuleVerdict::Revise, "online form"))
        .await
        .unwrap();
    assert_eq!(
        voted.votes.iter().map(|v| (v.department_id.as_str(), v.verdict)).collect::<Vec<_>>(),
        [("streets", RuleVerdict::Kill), ("water", RuleVerdict::Revise)]
    );
    // Only affected departments vote.
    assert!(matches!(
        store.vote_dumb_rule(&ctx(&ps, &pc, "dumb_rule.vote"), &rule.id, &vote("parks", RuleVerdict::Kill, "")).await,
        Err(StoreError::FailedPrecondition(_))
    ));

    let chief = chief();
    let cs = scope(&chief, Action::DecideDumbRule, None);
    let decision = RuleDecision {
        verdict: RuleVerdict::Kill,
        rationale: "Nobody could say why".into(),
        decided_by: chief.subject.clone(),
        decide_time: crate::now_micros(),
    };
    let decided_rule = decide(&voted, decision.clone()).unwrap();
    let decided =
        store.decide_dumb_rule(&ctx(&cs, &chief, "dumb_rule.decide"), &decided_rule, voted.revision).await.unwrap();
    assert_eq!(decided.status, DumbRuleStatus::Decided);
    assert_eq!(decided.decision, Some(decision));
    assert_eq!(decided.votes.len(), 2, "the votes stay on record");
    assert!(matches!(
        store.vote_dumb_rule(&ctx(&ss, &sc, "dumb_rule.vote"), &rule.id, &vote("streets", RuleVerdict::Keep, "")).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert!(matches!(
        store.decide_dumb_rule(&ctx(&cs, &chief, "dumb_rule.decide"), &decided_rule, decided.revision).await,
        Err(StoreError::FailedPrecondition(_))
    ));

    let any = scope(&cso("parks"), Action::ReadDumbRules, None);
    let by_evidence = store
        .list_dumb_rules(&any, &DumbRuleFilter::default(), DumbRuleOrder::MostEvidence, &page(1, None))
        .await
        .unwrap();
    assert_eq!(by_evidence.items[0].id.as_str(), "dr-1");
    let rest = store
        .list_dumb_rules(
            &any,
            &DumbRuleFilter::default(),
            DumbRuleOrder::MostEvidence,
            &page(1, by_evidence.next_after),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["dr-3"]);
    let open = store
        .list_dumb_rules(
            &any,
            &DumbRuleFilter { status: Some(DumbRuleStatus::Open), affected: None },
            DumbRuleOrder::Newest,
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(open.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["dr-3"]);
    let live = store
        .live_figures(
            &scope(&chief, Action::ReadReportCards, Some(&dept("water"))),
            &dept("water"),
            &report::Period::containing(report::PeriodKind::Month, Utc::now().date_naive()),
        )
        .await
        .unwrap();
    assert_eq!(live.dumb_rules_retired, 1);
}
