//! Silo-coordination end to end: a case bounced Streets -> Water -> Streets counts one ping-pong
//! on both report cards; an overdue case is escalated once with two servers on one database; a
//! dumb rule's whole record; a Watch subscriber that reconnects misses nothing and sees nothing
//! twice.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::coordination_service_client::CoordinationServiceClient;
use std::time::Duration;
use tonic::Code;

async fn complaint(app: &TestApp, d: &str, id: &str) -> pb::Case {
    app.feedback()
        .submit_feedback(authed(
            pb::SubmitFeedbackRequest {
                parent: format!("departments/{d}"),
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Phone as i32,
                    kind: pb::FeedbackKind::Complaint as i32,
                    text: "The street cut outside my house was left open".into(),
                    csat: Some(2),
                    ..Default::default()
                }),
                resident: None,
                request_id: id.into(),
                survey_token: String::new(),
                resolved: None,
            },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .case
        .unwrap()
}

async fn send(app: &TestApp, token: &str, case: &str, to: &str, id: &str) -> pb::Handoff {
    app.coordination()
        .send_handoff(authed(
            pb::SendHandoffRequest {
                case: case.into(),
                to_department: format!("departments/{to}"),
                kind: pb::HandoffKind::Transfer as i32,
                reason: "The cut was made for a water main repair".into(),
                request_id: id.into(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .handoff
        .unwrap()
}

async fn accept(app: &TestApp, token: &str, name: &str) -> pb::AcceptHandoffResponse {
    app.coordination()
        .accept_handoff(authed(
            pb::AcceptHandoffRequest { name: name.into(), service_category_id: String::new(), etag: String::new() },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn card(app: &TestApp, token: &str, d: &str) -> pb::ReportCard {
    app.coordination()
        .get_report_card(authed(
            pb::GetReportCardRequest {
                department: format!("departments/{d}"),
                period: pb::ReportPeriod::Day as i32,
                date: String::new(),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .report_card
        .unwrap()
}

both_backends! {
    async fn a_case_bounced_back_counts_one_ping_pong_on_both_cards(app: &TestApp) {
        for d in ["streets", "water", "parks"] {
            create_department(app, d).await;
        }
        let (streets, water, parks) = (app.cso("streets").await, app.cso("water").await, app.cso("parks").await);
        let case = complaint(app, "streets", "c1").await;

        let h1 = send(app, &streets, &case.name, "water", "h1").await;
        assert_eq!(h1.state, pb::HandoffState::Pending as i32);
        assert!(!h1.ping_pong);
        // Only the receiver answers; a third department cannot even see it.
        let own = app
            .coordination()
            .accept_handoff(authed(pb::AcceptHandoffRequest { name: h1.name.clone(), ..Default::default() }, &streets))
            .await
            .unwrap_err();
        assert_eq!(own.code(), Code::NotFound, "{own:?}");
        let hidden = app
            .coordination()
            .get_handoff(authed(pb::GetHandoffRequest { name: h1.name.clone() }, &parks))
            .await
            .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound);

        let a1 = accept(app, &water, &h1.name).await;
        // A retry (the answer was recorded, the response lost) returns the same result.
        let again = accept(app, &water, &h1.name).await;
        assert_eq!(again.handoff, a1.handoff);
        assert_eq!(again.case.as_ref().map(|c| &c.name), a1.case.as_ref().map(|c| &c.name));
        let water_case = a1.case.unwrap();
        assert!(water_case.name.starts_with("departments/water/cases/"));
        assert_eq!(a1.handoff.unwrap().received_case, water_case.name);
        let origin = app
            .feedback()
            .get_case(authed(pb::GetCaseRequest { name: case.name.clone() }, &streets))
            .await
            .unwrap()
            .into_inner()
            .case
            .unwrap();
        assert_eq!(origin.state, pb::CaseState::Closed as i32);
        assert_eq!(origin.owner_department, "departments/water");

        // Water sends it back: Streets is a department the case already left.
        let h2 = send(app, &water, &water_case.name, "streets", "h2").await;
        assert!(h2.ping_pong);
        assert_eq!(h2.path, ["departments/streets", "departments/water"]);
        let back = accept(app, &streets, &h2.name).await.case.unwrap();

        let path = app
            .coordination()
            .get_case_path(authed(pb::GetCasePathRequest { case: back.name.clone() }, &streets))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(path.departments, ["departments/streets", "departments/water", "departments/streets"]);
        assert_eq!(path.ping_pongs, 1);

        let (s, w) = (card(app, &streets, "streets").await, card(app, &water, "water").await);
        assert_eq!((s.ping_pongs, w.ping_pongs), (1, 1), "one ping-pong on both report cards");
        assert_eq!((s.handoffs_out, s.handoffs_in), (1, 1));
        assert_eq!((w.handoffs_out, w.handoffs_in), (1, 1));
        assert_eq!(s.volume, 1, "the hand-off copy is not a new contact");
        assert_eq!(s.csat_average, Some(2.0));
        // Each department reads only its own card.
        let foreign = app
            .coordination()
            .get_report_card(authed(
                pb::GetReportCardRequest { department: "departments/water".into(), ..Default::default() },
                &streets,
            ))
            .await
            .unwrap_err();
        assert_eq!(foreign.code(), Code::NotFound);

        let dash = app
            .coordination()
            .get_city_dashboard(authed(
                pb::GetCityDashboardRequest { period: pb::ReportPeriod::Day as i32, date: String::new() },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(dash.city.unwrap().ping_pongs, 2, "the city total adds both sides");
        assert!(dash.departments.iter().any(|c| c.department == "departments/streets" && c.ping_pongs == 1));
        // Today is running: it is compared with the whole of yesterday (today counted whole).
        let secs = |t: Option<prost_types::Timestamp>| t.unwrap().seconds;
        assert!(dash.partial_period);
        assert_eq!(secs(dash.previous_end_time) - secs(dash.previous_start_time), 86_400);
        assert_eq!(secs(dash.compared_end_time), secs(dash.previous_end_time) + 86_400);
        // This month so far against as many days of last month.
        let month = app
            .coordination()
            .get_city_dashboard(authed(pb::GetCityDashboardRequest { period: pb::ReportPeriod::Month as i32, date: String::new() }, &chief()))
            .await
            .unwrap()
            .into_inner();
        let today = chrono::Utc::now().date_naive();
        let elapsed = i64::from(chrono::Datelike::day(&today));
        let prev_len = (secs(month.previous_end_time) - secs(month.previous_start_time)) / 86_400;
        assert_eq!(prev_len, elapsed.min(prev_len), "{prev_len} days of last month for {elapsed} of this one");
        assert!(prev_len == elapsed || elapsed > 28);
        let denied = app
            .coordination()
            .get_city_dashboard(authed(pb::GetCityDashboardRequest::default(), &streets))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
    }

    async fn a_dumb_rule_keeps_its_whole_record(app: &TestApp) {
        create_department(app, "streets").await;
        create_department(app, "water").await;
        let (streets, water) = (app.cso("streets").await, app.cso("water").await);
        let staff = app.staff("streets").await;
        let case = complaint(app, "streets", "c1").await;
        let evidence = case.feedback.clone();
        let reported = app
            .coordination()
            .report_dumb_rule(authed(
                pb::ReportDumbRuleRequest {
                    dumb_rule: Some(pb::DumbRule {
                        text: "Street-cut permits must be collected in person at two offices".into(),
                        affected_departments: vec!["departments/streets".into(), "departments/water".into()],
                        evidence: vec![evidence.clone()],
                        ..Default::default()
                    }),
                    request_id: "dr1".into(),
                },
                &staff,
            ))
            .await
            .unwrap()
            .into_inner()
            .dumb_rule
            .unwrap();
        assert_eq!(reported.state, pb::DumbRuleState::Open as i32);
        assert_eq!(reported.reporter_department, "departments/streets");

        let vote = |token: String, verdict: pb::RuleVerdict, comment: &str| {
            let mut client = app.coordination();
            let req = pb::VoteOnDumbRuleRequest {
                name: reported.name.clone(),
                department: String::new(),
                verdict: verdict as i32,
                comment: comment.into(),
            };
            async move { client.vote_on_dumb_rule(authed(req, &token)).await }
        };
        vote(streets.clone(), pb::RuleVerdict::Keep, "it protects the trench").await.unwrap();
        vote(streets.clone(), pb::RuleVerdict::Kill, "on reflection, no").await.unwrap();
        vote(water.clone(), pb::RuleVerdict::Revise, "do it online").await.unwrap();
        assert_eq!(vote(staff.clone(), pb::RuleVerdict::Kill, "").await.unwrap_err().code(), Code::PermissionDenied);

        let stale = app
            .coordination()
            .decide_dumb_rule(authed(
                pb::DecideDumbRuleRequest {
                    name: reported.name.clone(),
                    verdict: pb::RuleVerdict::Kill as i32,
                    rationale: "No one could say why".into(),
                    etag: reported.etag.clone(),
                },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::Aborted, "votes changed the rule since it was read");
        let decided = app
            .coordination()
            .decide_dumb_rule(authed(
                pb::DecideDumbRuleRequest {
                    name: reported.name.clone(),
                    verdict: pb::RuleVerdict::Kill as i32,
                    rationale: "No one could say why".into(),
                    etag: String::new(),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .dumb_rule
            .unwrap();
        let record = app
            .coordination()
            .get_dumb_rule(authed(pb::GetDumbRuleRequest { name: reported.name.clone() }, &water))
            .await
            .unwrap()
            .into_inner()
            .dumb_rule
            .unwrap();
        assert_eq!(record, decided);
        assert_eq!(record.state, pb::DumbRuleState::Decided as i32);
        assert_eq!(record.evidence, [evidence]);
        let votes: Vec<(String, i32)> = record.votes.iter().map(|v| (v.department.clone(), v.verdict)).collect();
        assert_eq!(votes, [
            ("departments/streets".to_owned(), pb::RuleVerdict::Kill as i32),
            ("departments/water".to_owned(), pb::RuleVerdict::Revise as i32)
        ]);
        let decision = record.decision.unwrap();
        assert_eq!(decision.verdict, pb::RuleVerdict::Kill as i32);
        assert_eq!(decision.rationale, "No one could say why");
        assert!(decision.decide_time.is_some());
        assert_eq!(card(app, &water, "water").await.dumb_rules_retired, 1);
    }

    async fn a_watch_subscriber_that_reconnects_misses_nothing(app: &TestApp) {
        create_department(app, "streets").await;
        create_department(app, "water").await;
        let water = app.cso("water").await;
        let watch = |after: Option<i64>, token: String| {
            let mut client = app.coordination();
            let req = pb::WatchRequest {
                departments: vec![],
                event_type_prefixes: vec!["feedback.".into()],
                after_sequence: after,
                from_start: after.is_none(),
            };
            async move { client.watch(authed(req, &token)).await.unwrap().into_inner() }
        };
        let mut stream = watch(None, chief()).await;
        let mut water_stream = watch(None, water.clone()).await;
        for i in 0..3 {
            complaint(app, if i % 2 == 0 { "streets" } else { "water" }, &format!("a{i}")).await;
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            let e = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
            seen.push(e);
        }
        drop(stream); // the subscriber goes away ...
        for i in 3..6 {
            complaint(app, if i % 2 == 0 { "streets" } else { "water" }, &format!("a{i}")).await;
        }
        // ... and resumes after the last event it saw.
        let mut resumed = watch(Some(seen.last().unwrap().sequence), chief()).await;
        for _ in 0..3 {
            let e = tokio::time::timeout(Duration::from_secs(10), resumed.message()).await.unwrap().unwrap().unwrap();
            seen.push(e);
        }
        let mut seqs: Vec<i64> = seen.iter().map(|e| e.sequence).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), 6, "nothing twice");
        let mut resources: Vec<&str> = seen.iter().map(|e| e.resource.as_str()).collect();
        resources.sort_unstable();
        resources.dedup();
        assert_eq!(resources.len(), 6, "every submission once: {resources:?}");
        assert!(seen.iter().all(|e| e.event_type == "feedback.submit" && e.payload.is_some()));
        // Nothing more is pending.
        assert!(tokio::time::timeout(Duration::from_millis(300), resumed.message()).await.is_err());
        // A department's CSO sees its own department's events only.
        for _ in 0..3 {
            let e = tokio::time::timeout(Duration::from_secs(10), water_stream.message()).await.unwrap().unwrap().unwrap();
            assert_eq!(e.department, "departments/water");
        }
        let foreign = app
            .coordination()
            .watch(authed(
                pb::WatchRequest { departments: vec!["departments/streets".into()], ..Default::default() },
                &water,
            ))
            .await
            .unwrap_err();
        assert_eq!(foreign.code(), Code::NotFound);
    }

    async fn initiatives_and_the_chiefs_escalation_desk(app: &TestApp) {
        for d in ["streets", "water", "parks"] {
            create_department(app, d).await;
        }
        let (streets, water, parks) = (app.cso("streets").await, app.cso("water").await, app.cso("parks").await);
        let created = app
            .coordination()
            .create_initiative(authed(
                pb::CreateInitiativeRequest {
                    parent: "departments/streets".into(),
                    initiative: Some(pb::Initiative {
                        title: "Close street cuts within 5 days".into(),
                        goal: "No open street cut older than five days".into(),
                        owner: "departments/streets/officers/cso-streets".into(),
                        member_departments: vec!["departments/water".into()],
                        milestones: vec![pb::Milestone { title: "Shared cut map".into(), ..Default::default() }],
                        ..Default::default()
                    }),
                    request_id: "i1".into(),
                },
                &streets,
            ))
            .await
            .unwrap()
            .into_inner()
            .initiative
            .unwrap();
        assert_eq!(created.state, pb::InitiativeState::Proposed as i32);
        assert_eq!(created.member_departments, ["departments/streets", "departments/water"]);
        let seen = app
            .coordination()
            .get_initiative(authed(pb::GetInitiativeRequest { name: created.name.clone() }, &water))
            .await
            .unwrap();
        assert_eq!(seen.into_inner().initiative.unwrap().title, created.title);
        let hidden = app
            .coordination()
            .get_initiative(authed(pb::GetInitiativeRequest { name: created.name.clone() }, &parks))
            .await
            .unwrap_err();
        assert_eq!(hidden.code(), Code::NotFound);
        let done_too_soon = app
            .coordination()
            .update_initiative(authed(
                pb::UpdateInitiativeRequest {
                    initiative: Some(pb::Initiative {
                        name: created.name.clone(),
                        state: pb::InitiativeState::Done as i32,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["state".into()] }),
                },
                &streets,
            ))
            .await
            .unwrap_err();
        assert_eq!(done_too_soon.code(), Code::FailedPrecondition);
        let active = app
            .coordination()
            .update_initiative(authed(
                pb::UpdateInitiativeRequest {
                    initiative: Some(pb::Initiative {
                        name: created.name.clone(),
                        state: pb::InitiativeState::Active as i32,
                        etag: created.etag.clone(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["state".into()] }),
                },
                &streets,
            ))
            .await
            .unwrap()
            .into_inner()
            .initiative
            .unwrap();
        assert_eq!(active.state, pb::InitiativeState::Active as i32);
        assert_eq!(active.title, created.title, "fields outside the mask are kept");

        // A CSO raises a case; the Chief works the desk.
        let case = complaint(app, "water", "c1").await;
        let esc = app
            .coordination()
            .escalate_case(authed(
                pb::EscalateCaseRequest { case: case.name.clone(), reason: "Third call".into(), request_id: "e1".into() },
                &water,
            ))
            .await
            .unwrap()
            .into_inner()
            .escalation
            .unwrap();
        assert_eq!(esc.trigger, pb::EscalationTrigger::Manual as i32);
        let desk = app
            .coordination()
            .list_escalations(authed(
                pb::ListEscalationsRequest {
                    parent: "departments/-".into(),
                    state: pb::EscalationState::Open as i32,
                    ..Default::default()
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(desk.escalations.len(), 1);
        let cso_ack = app
            .coordination()
            .acknowledge_escalation(authed(
                pb::AcknowledgeEscalationRequest { name: esc.name.clone(), etag: String::new() },
                &water,
            ))
            .await
            .unwrap_err();
        assert_eq!(cso_ack.code(), Code::PermissionDenied);
        let resolved = app
            .coordination()
            .resolve_escalation(authed(
                pb::ResolveEscalationRequest {
                    name: esc.name.clone(),
                    resolution: "Crew sent; resident called back".into(),
                    etag: esc.etag.clone(),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .escalation
            .unwrap();
        assert_eq!(resolved.state, pb::EscalationState::Resolved as i32);
        assert!(resolved.acknowledge_time.is_some() && resolved.resolve_time.is_some());
        assert_eq!(card(app, &water, "water").await.escalations, 1);
    }

    async fn bad_coordination_requests_name_their_fields(app: &TestApp) {
        let err = app
            .coordination()
            .send_handoff(authed(
                pb::SendHandoffRequest { case: "cases/1".into(), ..Default::default() },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let fields = bad_fields(&err);
        for f in ["case", "to_department", "kind", "reason", "request_id"] {
            assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
        }
        let err = app
            .coordination()
            .get_report_card(authed(
                pb::GetReportCardRequest { department: "departments/water".into(), period: 0, date: "yesterday".into() },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["date"]);
        let err = app
            .coordination()
            .list_dumb_rules(authed(pb::ListDumbRulesRequest { order_by: "votes".into(), ..Default::default() }, &chief()))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["order_by"]);
        let nobody = app
            .coordination()
            .list_escalations(authed(pb::ListEscalationsRequest { parent: "departments/-".into(), ..Default::default() }, &token(Role::Service, &["water"])))
            .await
            .unwrap_err();
        assert_eq!(nobody.code(), Code::PermissionDenied);
    }
}

/// Two servers scan one database every 100 ms: each breach is escalated exactly once.
async fn overdue_case_escalated_once_with_two_servers(db: Db) {
    let Some(app) = TestApp::start_with(db, |c| c.breach_scan_interval = Duration::from_millis(100)).await else {
        return;
    };
    let replica = app.replica().await;
    app.departments()
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: "streets".into(),
                department: Some(pb::Department {
                    display_name: "Streets".into(),
                    default_targets: Some(pb::ServiceTargets {
                        acknowledge_within: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
                        resolve_within: Some(prost_types::Duration { seconds: 1, nanos: 0 }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: "d1".into(),
            },
            &chief(),
        ))
        .await
        .unwrap();
    // Wait for the escalations through the event stream of the replica, not by sleeping.
    let mut events = CoordinationServiceClient::new(replica.channel.clone())
        .watch(authed(
            pb::WatchRequest { event_type_prefixes: vec!["escalation.".into()], ..Default::default() },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner();
    let case = complaint(&app, "streets", "c1").await;
    for _ in 0..2 {
        let e = tokio::time::timeout(Duration::from_secs(20), events.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(e.department, "departments/streets");
    }
    // Both servers keep scanning; give them several more rounds to (wrongly) escalate again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let all = app
        .coordination()
        .list_escalations(authed(
            pb::ListEscalationsRequest { parent: "departments/-".into(), ..Default::default() },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .escalations;
    let mut triggers: Vec<i32> = all.iter().map(|e| e.trigger).collect();
    triggers.sort_unstable();
    assert_eq!(
        triggers,
        [pb::EscalationTrigger::AcknowledgeBreach as i32, pb::EscalationTrigger::ResolveBreach as i32],
        "escalated once per breach: {all:?}"
    );
    assert!(all.iter().all(|e| e.case == case.name && e.creator == "system:breach-scan"));
    assert_eq!(card(&app, &chief(), "streets").await.escalations, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_case_escalated_once_with_two_servers_on_postgres() {
    overdue_case_escalated_once_with_two_servers(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_case_escalated_once_with_two_servers_on_sqlite() {
    overdue_case_escalated_once_with_two_servers(Db::Sqlite).await;
}
