//! Live coordination on top of the loaded history, made through the normal store paths.
use crate::{DemoError, chief_caller, cso, did, key, scope, store_err, wctx};
use chrono::{Datelike, Duration};
use cityserve_domain::coordination::{
    HandoffKind, HandoffResponse, Initiative, InitiativeStatus, Milestone, NewDumbRule, NewHandoff, RuleDecision,
    RuleVerdict, RuleVote,
};
use cityserve_domain::policy::handoff_scope;
use cityserve_domain::{
    Action, AuditAction, CaseId, Channel, DumbRuleId, FeedbackId, FeedbackKind, HandoffId, InitiativeId, Location,
    NewFeedback, NewRecognition, OfficerId, PlanContent, RecognitionId,
};
use cityserve_store::coordination::{CoordinationStore, NewEscalation};
use cityserve_store::{StoreError, now_micros};

/// Live activity through the normal paths: hand-offs (with a ping-pong), escalations, a dumb
/// rule, an initiative, recognitions and a plan.
pub(crate) async fn live_coordination<S: CoordinationStore>(store: &S) -> Result<(), DemoError> {
    let chief = chief_caller();
    let submit = |d: &str, n: &str, text: &str| NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: did(d),
        id: FeedbackId::parse("id", &format!("fb-live-{n}")).unwrap_or_else(|_| unreachable!("slug")),
        channel: Channel::Phone,
        kind: FeedbackKind::Complaint,
        csat: Some(1),
        nps: None,
        text: text.into(),
        language: "en".into(),
        category: None,
        location: Location::default(),
        occurred_at: now_micros(),
        resident: None,
        internal_customer: None,
        survey: None,
        served: Default::default(),
        source: None,
    };
    let mut ids = Vec::new();
    for (d, n, text) in [
        ("streets", "1", "The street cut outside 12 Elm St was left open after the water main repair"),
        ("streets", "2", "Sidewalk caved in where a pipe was replaced"),
        ("sanitation", "3", "Bulk pickup was refused because of a permit I never heard of"),
    ] {
        let s = scope(&chief, Action::SubmitFeedback, Some(&did(d)))?;
        let f = submit(d, n, text);
        f.check_measures()?;
        store
            .submit_feedback(&wctx(&s, &chief, AuditAction::FeedbackSubmit), &key(&format!("live-{n}")), &f)
            .await
            .map_err(store_err("feedback"))?;
        ids.push(f.id);
    }
    // Streets -> Water -> Streets: one ping-pong on both report cards.
    let handoff = |from: &'static str, to: &'static str, case: &CaseId, n: &str, kind: HandoffKind| NewHandoff {
        department_id: did(from),
        id: HandoffId::parse("id", &format!("ho-demo-{n}")).unwrap_or_else(|_| unreachable!("slug")),
        case_id: case.clone(),
        to_department: did(to),
        kind,
        reason: "The work was done by the other department".into(),
    };
    let send = |from: &'static str, to: &'static str| {
        let c = cso(from);
        handoff_scope(&c, Action::SendHandoff, &did(from), &did(to)).map(|s| (c, s))
    };
    let respond = |from: &'static str, to: &'static str| {
        let c = cso(to);
        handoff_scope(&c, Action::RespondHandoff, &did(to), &did(from)).map(|s| (c, s))
    };
    let deny = |_| DemoError::Store("authorize", StoreError::NotFound);
    let first = CaseId::from_feedback(&ids[0]);
    let (c, s) = send("streets", "water").map_err(deny)?;
    let h1 = handoff("streets", "water", &first, "1", HandoffKind::Transfer);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-1"), &h1)
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = respond("streets", "water").map_err(deny)?;
    let water_case = FeedbackId::parse("id", "fb-live-water-1").unwrap_or_else(|_| unreachable!("slug"));
    store
        .respond_handoff(
            &wctx(&s, &c, AuditAction::HandoffRespond),
            &did("streets"),
            &h1.id,
            &HandoffResponse::Accept { new_case: water_case.clone(), category: None },
            None,
        )
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = send("water", "streets").map_err(deny)?;
    let h2 = handoff("water", "streets", &CaseId::from_feedback(&water_case), "2", HandoffKind::Transfer);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-2"), &h2)
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = respond("water", "streets").map_err(deny)?;
    let back = FeedbackId::parse("id", "fb-live-streets-2").unwrap_or_else(|_| unreachable!("slug"));
    store
        .respond_handoff(
            &wctx(&s, &c, AuditAction::HandoffRespond),
            &did("water"),
            &h2.id,
            &HandoffResponse::Accept { new_case: back, category: None },
            None,
        )
        .await
        .map_err(store_err("hand-off"))?;
    // A pending referral, waiting for Water's answer.
    let (c, s) = send("streets", "water").map_err(deny)?;
    let h3 = handoff("streets", "water", &CaseId::from_feedback(&ids[1]), "3", HandoffKind::Referral);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-3"), &h3)
        .await
        .map_err(store_err("hand-off"))?;
    // Sanitation escalates the bulk-pickup complaint to the Chief.
    let c = cso("sanitation");
    let s = scope(&c, Action::Escalate, Some(&did("sanitation")))?;
    let esc = NewEscalation {
        department_id: did("sanitation"),
        id: cityserve_domain::EscalationId::parse("id", "es-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        case_id: CaseId::from_feedback(&ids[2]),
        reason: "Resident caught between a permit rule and a missed pickup".into(),
    };
    store
        .escalate_case(&wctx(&s, &c, AuditAction::EscalationCreate), &key("es-1"), &esc)
        .await
        .map_err(store_err("escalation"))?;
    // The dumb rule behind it, voted on and decided.
    let c = cso("sanitation");
    let s = scope(&c, Action::ReportDumbRule, Some(&did("sanitation")))?;
    let rule = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        text: "Bulk pickup requires a paper permit collected in person from Licenses & Inspections".into(),
        affected: vec![did("licenses-inspections"), did("sanitation")],
        evidence: vec![(did("sanitation"), ids[2].clone())],
        reporter_department: Some(did("sanitation")),
    };
    store
        .report_dumb_rule(&wctx(&s, &c, AuditAction::DumbRuleReport), &key("dr-1"), &rule)
        .await
        .map_err(store_err("dumb rule"))?;
    let mut current = None;
    for (d, verdict) in [("sanitation", RuleVerdict::Kill), ("licenses-inspections", RuleVerdict::Revise)] {
        let c = cso(d);
        let s = scope(&c, Action::VoteDumbRule, Some(&did(d)))?;
        let vote = RuleVote {
            department_id: did(d),
            voter: OfficerId::parse("id", &format!("cso-{d}")).unwrap_or_else(|_| unreachable!("slug")),
            verdict,
            comment: "Residents should not need a second trip".into(),
            update_time: now_micros(),
        };
        current = Some(
            store
                .vote_dumb_rule(&wctx(&s, &c, AuditAction::DumbRuleVote), &rule.id, &vote)
                .await
                .map_err(store_err("vote"))?,
        );
    }
    if let Some(r) = current {
        let s = scope(&chief, Action::DecideDumbRule, None)?;
        let decision = RuleDecision {
            verdict: RuleVerdict::Kill,
            rationale: "The permit check moves online and into the pickup booking".into(),
            decided_by: chief.subject.clone(),
            decide_time: now_micros(),
        };
        if let Ok(next) = cityserve_domain::coordination::decide(&r, decision) {
            store
                .decide_dumb_rule(&wctx(&s, &chief, AuditAction::DumbRuleDecide), &next, r.revision)
                .await
                .map_err(store_err("decision"))?;
        }
    }
    // An initiative across Streets and Water.
    let c = cso("streets");
    let s = scope(&c, Action::ProposeInitiative, Some(&did("streets")))?;
    let now = now_micros();
    let initiative = Initiative {
        department_id: did("streets"),
        id: InitiativeId::parse("id", "in-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        title: "Street cuts closed within five days".into(),
        goal: "No street cut left open more than five days after a utility repair".into(),
        owner: OfficerId::parse("id", "cso-streets").unwrap_or_else(|_| unreachable!("slug")),
        members: vec![did("streets"), did("water")],
        status: InitiativeStatus::Active,
        milestones: vec![
            Milestone {
                title: "Shared map of open cuts".into(),
                due_time: Some(now + Duration::days(30)),
                done_time: None,
            },
            Milestone {
                title: "Joint crew schedule".into(),
                due_time: Some(now + Duration::days(60)),
                done_time: None,
            },
        ],
        cases: vec![(did("streets"), first)],
        dumb_rules: vec![],
        create_time: now,
        update_time: now,
        revision: 1,
        lifecycle: cityserve_domain::coordination::lifecycle_after(None, InitiativeStatus::Active, String::new(), now),
    };
    store
        .create_initiative(&wctx(&s, &c, AuditAction::InitiativeCreate), &key("in-1"), &initiative)
        .await
        .map_err(store_err("initiative"))?;
    // Service heroes, and Water's plan with progress on its focus area.
    for (n, (who, d)) in [("staff-water-1", "water"), ("staff-streets-2", "streets")].into_iter().enumerate() {
        let c = cso(if d == "water" { "streets" } else { "water" });
        let s = scope(&c, Action::RecognizeOfficer, Some(&did(d)))?;
        let r = NewRecognition {
            department_id: did(d),
            id: RecognitionId::parse("id", &format!("rc-demo-{n}")).unwrap_or_else(|_| unreachable!("slug")),
            officer_id: OfficerId::parse("id", who).unwrap_or_else(|_| unreachable!("slug")),
            story: "Walked a resident through three departments' forms and called back the same day".into(),
            feedback: None,
        };
        store
            .create_recognition(&wctx(&s, &c, AuditAction::RecognitionCreate), &key(&format!("rc-{n}")), &r)
            .await
            .map_err(store_err("recognition"))?;
    }
    let c = cso("water");
    let s = scope(&c, Action::DraftPlan, Some(&did("water")))?;
    let year = now.year();
    let content = PlanContent {
        vision: "Every resident gets one clear answer".into(),
        mission: "Safe water, fair bills, fast repairs".into(),
        voice_of_customer: "Post-contact surveys on every channel".into(),
        training_programme: "De-escalation and billing literacy for all frontline staff".into(),
        engagement_plan: "Quarterly community meetings".into(),
        focus_area: "Billing questions answered on first contact".into(),
        focus_metric: "first-contact resolution rate".into(),
        focus_baseline: 0.55,
        focus_target: 0.8,
    };
    store
        .create_plan(&wctx(&s, &c, AuditAction::PlanDraft), &key("plan-water"), &did("water"), year, &content)
        .await
        .map_err(store_err("plan"))?;
    store
        .record_focus_progress(&wctx(&s, &c, AuditAction::PlanDraft), &did("water"), year, 0.63)
        .await
        .map_err(store_err("focus"))?;
    Ok(())
}
