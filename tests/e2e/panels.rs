//! Customer feedback panels through the real server, on both backends: a CSO convenes a panel,
//! adds members with their consent, records a session with the executives in the room and a
//! finding with its outcome; members' contact details stay with the CSO, and erasing a member
//! leaves no contact data anywhere in the database while the session keeps its attendance.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_client::CsoWorkServiceClient;
use tonic::Code;

fn panel(parent: &str, id: &str, city_wide: bool) -> pb::CreatePanelRequest {
    pb::CreatePanelRequest {
        parent: parent.into(),
        panel_id: id.into(),
        panel: Some(pb::Panel {
            display_name: "Water customers' panel".into(),
            audience: pb::PanelAudience::Residents as i32,
            city_wide,
            purpose: "Hear billing and service problems first hand".into(),
            ..Default::default()
        }),
        request_id: format!("pn-{parent}-{id}"),
    }
}

/// A member to add; `key` is the request ID (never the details: idempotency keys are stored).
fn member(key: &str, name: &str, email: &str, phone: &str) -> pb::AddPanelMemberRequest {
    pb::AddPanelMemberRequest {
        parent: "departments/water/panels/customers".into(),
        member: Some(pb::PanelMember {
            display_name: name.into(),
            email: email.into(),
            phone: phone.into(),
            consent_time: Some(prost_types::Timestamp { seconds: 1_790_000_000, nanos: 0 }),
            ..Default::default()
        }),
        request_id: key.into(),
    }
}

both_backends! {
    async fn a_panel_meets_records_findings_and_forgets_an_erased_member(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let cso = app.cso("water").await;
        let staff = app.staff("water").await;
        let streets_cso = app.cso("streets").await;
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());

        // The CSO convenes the department's panel; staff may not, nor may a CSO speak for the
        // whole city (the Chief convenes that one).
        let e = cw.create_panel(authed(panel("departments/water", "customers", false), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = cw.create_panel(authed(panel("departments/water", "city", true), &cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        cw.create_panel(authed(panel("departments/water", "city", true), &chief())).await.unwrap();
        let p = cw.create_panel(authed(panel("departments/water", "customers", false), &cso)).await.unwrap().into_inner();
        assert_eq!(p.panel.unwrap().name, "departments/water/panels/customers");

        // Members join with their consent; bad details are named, never echoed.
        let mut bad = member("pm-0", "Ana Ortiz", "not-an-email", "");
        bad.member.as_mut().unwrap().consent_time = None;
        let e = cw.add_panel_member(authed(bad, &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["member.email", "member.consent_time"]);
        assert!(!e.message().contains("not-an-email"));
        let ana = cw.add_panel_member(authed(member("pm-1", "Ana Ortiz", "ana.ortiz@example.org", "215-555-0142"), &cso)).await.unwrap();
        let ana = ana.into_inner().member.unwrap();
        assert!(ana.resident.starts_with("residents/r-"), "keyed like a resident: {}", ana.resident);
        assert_eq!(ana.state, pb::PanelMemberState::Active as i32);
        // A retry answers the same member.
        let again = cw.add_panel_member(authed(member("pm-1", "Ana Ortiz", "ana.ortiz@example.org", "215-555-0142"), &cso)).await.unwrap();
        assert_eq!(again.into_inner().member.unwrap().name, ana.name);
        let ben = cw.add_panel_member(authed(member("pm-2", "Ben Lee", "ben@example.org", ""), &cso)).await.unwrap().into_inner().member.unwrap();

        // Contact details stay with those who run the panel; another department sees nothing.
        let list = |parent: &str| pb::ListPanelMembersRequest { parent: parent.into(), ..Default::default() };
        let e = cw.list_panel_members(authed(list("departments/water/panels/customers"), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let get = pb::GetPanelRequest { name: "departments/water/panels/customers".into() };
        let e = cw.get_panel(authed(get.clone(), &streets_cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let seen = cw.get_panel(authed(get.clone(), &staff)).await.unwrap().into_inner().panel.unwrap();
        assert_eq!(seen.member_count, 2);

        // A session with the executives in the room and both members.
        let session = |id: &str, members: Vec<String>| pb::CreatePanelSessionRequest {
            parent: "departments/water/panels/customers".into(),
            session_id: id.into(),
            session: Some(pb::PanelSession {
                held_on: "2026-11-12".into(),
                agenda: "Estimated bills; call backs that never came".into(),
                executives: vec!["Water Commissioner".into(), "Deputy Revenue Commissioner".into()],
                officers: vec!["departments/water/officers/cso-water".into()],
                members,
                ..Default::default()
            }),
            request_id: format!("ps-{id}"),
        };
        let s1 = cw.create_panel_session(authed(session("q4-2026", vec![ana.name.clone(), ben.name.clone()]), &cso)).await.unwrap();
        let s1 = s1.into_inner().session.unwrap();
        assert_eq!(s1.member_attendance, 2);
        let e = cw
            .create_panel_session(authed(session("bad", vec!["departments/streets/panels/customers/members/m-1".into()]), &cso))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&e), ["session.members[0]"]);

        // A finding, closed without a reason → named; led to a dumb rule that does not exist →
        // refused; then to a real one.
        let f = cw
            .create_panel_finding(authed(
                pb::CreatePanelFindingRequest {
                    parent: "departments/water/panels/customers".into(),
                    finding_id: "estimated-bills".into(),
                    finding: Some(pb::PanelFinding {
                        session: s1.name.clone(),
                        summary: "Estimated bills arrive without saying they are estimates".into(),
                        ..Default::default()
                    }),
                    request_id: "pf-1".into(),
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner()
            .finding
            .unwrap();
        assert_eq!(f.outcome, pb::FindingOutcome::Open as i32);
        let resolve = |outcome: pb::FindingOutcome, resource: &str, note: &str| pb::ResolvePanelFindingRequest {
            name: f.name.clone(),
            outcome: outcome as i32,
            outcome_resource: resource.into(),
            outcome_note: note.into(),
            etag: String::new(),
        };
        let e = cw.resolve_panel_finding(authed(resolve(pb::FindingOutcome::Closed, "", ""), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["outcome_note"]);
        let e = cw
            .resolve_panel_finding(authed(resolve(pb::FindingOutcome::DumbRule, "dumbRules/nothing-like-it", ""), &cso))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        let rule = app
            .coordination()
            .report_dumb_rule(authed(
                pb::ReportDumbRuleRequest {
                    dumb_rule: Some(pb::DumbRule {
                        text: "Estimated bills must not say they are estimates".into(),
                        affected_departments: vec!["departments/water".into()],
                        ..Default::default()
                    }),
                    request_id: "rule-1".into(),
                },
                &cso,
            ))
            .await
            .unwrap()
            .into_inner()
            .dumb_rule
            .unwrap();
        let done = cw.resolve_panel_finding(authed(resolve(pb::FindingOutcome::DumbRule, &rule.name, ""), &cso)).await.unwrap();
        let done = done.into_inner().finding.unwrap();
        assert_eq!((done.outcome, done.outcome_resource.as_str()), (pb::FindingOutcome::DumbRule as i32, rule.name.as_str()));
        let listed = cw
            .list_panel_findings(authed(
                pb::ListPanelFindingsRequest {
                    parent: "departments/water/panels/customers".into(),
                    outcome: pb::FindingOutcome::DumbRule as i32,
                    ..Default::default()
                },
                &staff,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.findings.len(), 1);

        // Ana asks to be forgotten: no contact data of hers is left anywhere in the database;
        // the session still counts her attendance.
        assert!(app.rows_containing("ana.ortiz@example.org").await.iter().any(|(_, n)| *n > 0));
        let erased = cw.erase_panel_member(authed(pb::ErasePanelMemberRequest { name: ana.name.clone() }, &cso)).await.unwrap();
        let erased = erased.into_inner().member.unwrap();
        assert_eq!(erased.state, pb::PanelMemberState::Erased as i32);
        assert!(erased.display_name.is_empty() && erased.email.is_empty() && erased.phone.is_empty() && erased.resident.is_empty());
        for needle in ["ana.ortiz@example.org", "Ana Ortiz", "2155550142"] {
            let hits: Vec<_> = app.rows_containing(needle).await.into_iter().filter(|(_, n)| *n > 0).collect();
            assert!(hits.is_empty(), "{needle} is still stored: {hits:?}");
        }
        // Her add, retried, does not bring her back (its stored fingerprint is gone too).
        let retry = cw.add_panel_member(authed(member("pm-1", "Ana Ortiz", "ana.ortiz@example.org", "215-555-0142"), &cso)).await;
        assert!(retry.is_err(), "{retry:?}");
        for needle in ["ana.ortiz@example.org", "Ana Ortiz"] {
            assert!(app.rows_containing(needle).await.iter().all(|(_, n)| *n == 0));
        }
        let again = cw.erase_panel_member(authed(pb::ErasePanelMemberRequest { name: ana.name.clone() }, &cso)).await.unwrap();
        assert_eq!(again.into_inner().member.unwrap().state, pb::PanelMemberState::Erased as i32);
        let sessions = cw
            .list_panel_sessions(authed(
                pb::ListPanelSessionsRequest { parent: "departments/water/panels/customers".into(), ..Default::default() },
                &staff,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(sessions.sessions[0].member_attendance, 2, "the attendance she gave still counts");
        let seen = cw.get_panel(authed(get, &cso)).await.unwrap().into_inner().panel.unwrap();
        assert_eq!((seen.member_count, seen.session_count), (1, 1));
        // An erased member cannot be marked present at a later session.
        let e = cw.create_panel_session(authed(session("q1-2027", vec![ana.name.clone()]), &cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        let members = cw.list_panel_members(authed(list("departments/water/panels/customers"), &cso)).await.unwrap().into_inner();
        assert_eq!(members.members.len(), 2, "the erased member stays as a blank row");
    }
}
