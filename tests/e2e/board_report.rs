//! The board report through the real server, on both backends: a quarter in which departments
//! took feedback and shared a theme, a touchpoint was observed, an initiative started and another
//! was dropped with its lessons, a dumb rule was killed, an officer was recognised and a panel's
//! finding led to an outcome; the Chief reads it (the authorization matrix adds auditors), a CSO may not.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_client::CsoWorkServiceClient;
use tonic::Code;

async fn complaint(app: &TestApp, d: &str, id: &str, csat: i32, token: &str) -> String {
    let r = pb::SubmitFeedbackRequest {
        parent: format!("departments/{d}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Phone as i32,
            kind: pb::FeedbackKind::Complaint as i32,
            csat: Some(csat),
            text: "My bill doubled and nobody called back".into(),
            ..Default::default()
        }),
        request_id: id.into(),
        ..Default::default()
    };
    app.feedback().submit_feedback(authed(r, token)).await.unwrap().into_inner().feedback.unwrap().name
}

async fn initiative(app: &TestApp, title: &str, token: &str) -> pb::Initiative {
    app.coordination()
        .create_initiative(authed(
            pb::CreateInitiativeRequest {
                parent: "departments/streets".into(),
                initiative: Some(pb::Initiative {
                    title: title.into(),
                    goal: "Residents are not bounced between Streets and Water".into(),
                    owner: "departments/streets/officers/cso-streets".into(),
                    member_departments: vec!["departments/water".into()],
                    ..Default::default()
                }),
                request_id: title.replace(" ", "-"),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .initiative
        .unwrap()
}

fn move_to(name: &str, state: pb::InitiativeState, lessons: &str) -> pb::UpdateInitiativeRequest {
    pb::UpdateInitiativeRequest {
        initiative: Some(pb::Initiative {
            name: name.into(),
            state: state as i32,
            lessons: lessons.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["state".into(), "lessons".into()] }),
    }
}

both_backends! {
    async fn the_board_report_tells_the_quarter(app: &TestApp) {
        for d in ["water", "streets", "parks"] {
            create_department(app, d).await;
        }
        // Parks has no CSO: a vacant seat.
        let (water, streets) = (app.cso("water").await, app.cso("streets").await);
        let water_staff = app.staff("water").await;
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());

        // Feedback in both departments, one theme on both: a shared need.
        cw.create_theme(authed(
            pb::CreateThemeRequest {
                theme_id: "billing-confusion".into(),
                theme: Some(pb::Theme { display_name: "Billing confusion".into(), keywords: vec!["bill".into()], ..Default::default() }),
                request_id: "th".into(),
            },
            &chief(),
        ))
        .await
        .unwrap();
        for (d, token, csat) in [("water", &water, 2), ("water", &water, 4), ("streets", &streets, 3)] {
            let fb = complaint(app, d, &format!("{d}-{csat}"), csat, token).await;
            let tag = pb::TagFeedbackRequest { feedback: fb, add_themes: vec!["themes/billing-confusion".into()], remove_themes: vec![] };
            cw.tag_feedback(authed(tag, token)).await.unwrap();
        }

        // A touchpoint observed with low scores.
        cw.create_touchpoint(authed(
            pb::CreateTouchpointRequest {
                parent: "departments/water".into(),
                touchpoint_id: "msb-counter".into(),
                touchpoint: Some(pb::Touchpoint {
                    display_name: "Counter".into(),
                    kind: pb::TouchpointKind::Counter as i32,
                    channel: pb::Channel::InPerson as i32,
                    ..Default::default()
                }),
                request_id: "tp".into(),
            },
            &water,
        ))
        .await
        .unwrap();
        cw.create_rubric(authed(
            pb::CreateRubricRequest {
                parent: "departments/water".into(),
                rubric_id: "counter".into(),
                rubric: Some(pb::Rubric {
                    display_name: "Counter".into(),
                    items: vec![
                        pb::RubricItem { code: "greeting".into(), label: "Greeted".into() },
                        pb::RubricItem { code: "clarity".into(), label: "Clear".into() },
                    ],
                    ..Default::default()
                }),
                request_id: "rb".into(),
            },
            &water,
        ))
        .await
        .unwrap();
        cw.create_observation(authed(
            pb::CreateObservationRequest {
                parent: "departments/water".into(),
                observation: Some(pb::Observation {
                    touchpoint: "departments/water/touchpoints/msb-counter".into(),
                    rubric: "departments/water/rubrics/counter".into(),
                    scores: vec![pb::Score { code: "greeting".into(), score: 2 }, pb::Score { code: "clarity".into(), score: 3 }],
                    ..Default::default()
                }),
                request_id: "ob".into(),
            },
            &water_staff,
        ))
        .await
        .unwrap();

        // One initiative starts; another is dropped, which needs its lessons.
        let started = initiative(app, "Joint street-cut crews", &streets).await;
        app.coordination().update_initiative(authed(move_to(&started.name, pb::InitiativeState::Active, ""), &streets)).await.unwrap();
        let dropped = initiative(app, "One phone line for cuts", &streets).await;
        let e = app
            .coordination()
            .update_initiative(authed(move_to(&dropped.name, pb::InitiativeState::Dropped, ""), &streets))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&e), ["initiative.lessons"]);
        let lesson = "Residents wanted one case, not one phone number";
        let d = app.coordination().update_initiative(authed(move_to(&dropped.name, pb::InitiativeState::Dropped, lesson), &streets)).await.unwrap();
        let d = d.into_inner().initiative.unwrap();
        assert!(d.end_time.is_some() && d.start_time.is_none(), "dropped before it started");

        // A dumb rule killed, a service hero, a panel finding with its outcome.
        let rule = app
            .coordination()
            .report_dumb_rule(authed(
                pb::ReportDumbRuleRequest {
                    dumb_rule: Some(pb::DumbRule {
                        text: "Bills must be disputed in person".into(),
                        affected_departments: vec!["departments/water".into()],
                        ..Default::default()
                    }),
                    request_id: "rule".into(),
                },
                &water,
            ))
            .await
            .unwrap()
            .into_inner()
            .dumb_rule
            .unwrap();
        app.coordination()
            .decide_dumb_rule(authed(
                pb::DecideDumbRuleRequest {
                    name: rule.name.clone(),
                    verdict: pb::RuleVerdict::Kill as i32,
                    rationale: "No one could say why".into(),
                    etag: String::new(),
                },
                &chief(),
            ))
            .await
            .unwrap();
        app.officers()
            .create_recognition(authed(
                pb::CreateRecognitionRequest {
                    recognition: Some(pb::Recognition {
                        officer: "departments/water/officers/staff-water".into(),
                        story: "Stayed late to fix a resident's bill".into(),
                        ..Default::default()
                    }),
                    request_id: "rec".into(),
                },
                &water,
            ))
            .await
            .unwrap();
        cw.create_panel(authed(
            pb::CreatePanelRequest {
                parent: "departments/water".into(),
                panel_id: "customers".into(),
                panel: Some(pb::Panel { display_name: "Customers".into(), audience: pb::PanelAudience::Residents as i32, ..Default::default() }),
                request_id: "pn".into(),
            },
            &water,
        ))
        .await
        .unwrap();
        let finding = cw
            .create_panel_finding(authed(
                pb::CreatePanelFindingRequest {
                    parent: "departments/water/panels/customers".into(),
                    finding_id: "dispute-in-person".into(),
                    finding: Some(pb::PanelFinding { summary: "Disputing a bill means a trip downtown".into(), ..Default::default() }),
                    request_id: "pf".into(),
                },
                &water,
            ))
            .await
            .unwrap()
            .into_inner()
            .finding
            .unwrap();
        cw.resolve_panel_finding(authed(
            pb::ResolvePanelFindingRequest {
                name: finding.name.clone(),
                outcome: pb::FindingOutcome::DumbRule as i32,
                outcome_resource: rule.name.clone(),
                ..Default::default()
            },
            &water,
        ))
        .await
        .unwrap();

        // The board reads it; a CSO may not.
        let e = cw.get_board_report(authed(pb::GetBoardReportRequest::default(), &water)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = cw.get_board_report(authed(pb::GetBoardReportRequest { date: "2026-13-01".into() }, &chief())).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["date"]);
        let r = cw.get_board_report(authed(pb::GetBoardReportRequest::default(), &chief())).await.unwrap();
        let r = r.into_inner().board_report.unwrap();
        let city = r.city.unwrap();
        assert_eq!((city.period, city.volume), (pb::ReportPeriod::Quarter as i32, 3));
        assert_eq!(city.csat_average, Some(3.0));
        assert_eq!(r.previous_city.unwrap().volume, 0, "nothing happened last quarter");
        assert!(r.partial_quarter);
        let shared: Vec<(String, i64)> = r.shared_themes.iter().map(|t| (t.theme.clone(), t.count)).collect();
        assert_eq!(shared, [("themes/billing-confusion".to_owned(), 3)]);
        let started: Vec<&str> = r.initiatives_started.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(started, ["Joint street-cut crews"]);
        assert_eq!(r.initiatives_finished.len(), 1);
        assert_eq!((r.initiatives_finished[0].state, r.initiatives_finished[0].lessons.as_str()), (pb::InitiativeState::Dropped as i32, lesson));
        assert_eq!(r.dumb_rules_retired.len(), 1);
        assert_eq!(r.dumb_rules_retired[0].verdict, pb::RuleVerdict::Kill as i32);
        assert_eq!(r.service_heroes.len(), 1);
        assert_eq!((r.service_heroes[0].officer.as_str(), r.service_heroes[0].recognitions), ("departments/water/officers/staff-water", 1));
        assert_eq!(r.panel_findings.len(), 1);
        assert_eq!((r.panel_findings[0].outcome, r.panel_findings[0].outcome_resource.as_str()), (pb::FindingOutcome::DumbRule as i32, rule.name.as_str()));
        assert_eq!(r.vacant_cso_seats, ["departments/parks"]);
        // Last quarter's seats are those at its end: none of these departments existed then.
        let earlier = (chrono::Utc::now() - chrono::Duration::days(100)).format("%Y-%m-%d").to_string();
        let last = cw.get_board_report(authed(pb::GetBoardReportRequest { date: earlier }, &chief())).await.unwrap();
        let last = last.into_inner().board_report.unwrap();
        assert!(last.vacant_cso_seats.is_empty(), "{:?}", last.vacant_cso_seats);
        assert!(!last.partial_quarter);
        assert_eq!(r.lowest_touchpoints.len(), 1);
        let tp = &r.lowest_touchpoints[0];
        assert_eq!((tp.touchpoint.as_str(), tp.observation_count, tp.observation_score_average), ("departments/water/touchpoints/msb-counter", 1, 2.5));
    }
}
