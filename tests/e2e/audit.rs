//! The audit log end to end: a successful change, a refused change and a resident-timeline read
//! all appear in ListAuditEvents with their outcome and the trace id the client sent; only the
//! Chief and auditors may list it.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::audit_service_client::AuditServiceClient;
use tonic::Code;

/// `msg` with a bearer token and a W3C `traceparent` of trace `trace`.
fn traced<T>(msg: T, token: &str, trace: &str) -> tonic::Request<T> {
    let mut req = authed(msg, token);
    req.metadata_mut().insert("traceparent", format!("00-{trace}-00f067aa0ba902b7-01").parse().unwrap());
    req
}

fn list_req(parent: &str) -> pb::ListAuditEventsRequest {
    pb::ListAuditEventsRequest { parent: parent.into(), ..Default::default() }
}

async fn list(app: &TestApp, token: &str, req: pb::ListAuditEventsRequest) -> Vec<pb::AuditEvent> {
    AuditServiceClient::new(app.channel.clone())
        .list_audit_events(authed(req, token))
        .await
        .unwrap()
        .into_inner()
        .audit_events
}

/// The one event recorded with `trace`.
fn by_trace<'a>(events: &'a [pb::AuditEvent], trace: &str) -> &'a pb::AuditEvent {
    let hits: Vec<&pb::AuditEvent> = events.iter().filter(|e| e.trace_id == trace).collect();
    assert_eq!(hits.len(), 1, "one event with trace {trace}: {events:#?}");
    hits[0]
}

const UPDATE: &str = "4bf92f3577b34da6a3ce929d0e0e4701";
const REFUSED: &str = "4bf92f3577b34da6a3ce929d0e0e4702";
const TIMELINE: &str = "4bf92f3577b34da6a3ce929d0e0e4703";
const BAD_TIMELINE: &str = "4bf92f3577b34da6a3ce929d0e0e4704";
const PLAIN_READ: &str = "4bf92f3577b34da6a3ce929d0e0e4705";

both_backends! {
    async fn changes_refusals_and_timeline_reads_are_listed_with_outcome_and_trace(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let cso = app.cso("water").await;

        // A successful change.
        let update = pb::UpdateDepartmentRequest {
            department: Some(pb::Department {
                name: "departments/water".into(),
                display_name: "Water Department".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into()] }),
        };
        app.departments().update_department(traced(update, &cso, UPDATE)).await.unwrap();
        // A refused change: the water CSO acting on a streets case.
        let ack = pb::AcknowledgeCaseRequest {
            name: "departments/streets/cases/c-1".into(),
            etag: String::new(),
            note: String::new(),
        };
        let err = app.feedback().acknowledge_case(traced(ack, &cso, REFUSED)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        // The Chief's refusals go to the target department if it exists, else the Chief's own.
        const CHIEF_IN_STREETS: &str = "4bf92f3577b34da6a3ce929d0e0e4706";
        const CHIEF_NOWHERE: &str = "4bf92f3577b34da6a3ce929d0e0e4707";
        for (department, trace) in [("streets", CHIEF_IN_STREETS), ("nowhere", CHIEF_NOWHERE)] {
            let name = format!("departments/{department}/cases/c-9");
            let ack = pb::AcknowledgeCaseRequest { name, ..Default::default() };
            let err = app.feedback().acknowledge_case(traced(ack, &chief(), trace)).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound);
        }
        // A read of resident data (by contact details, which must never reach the log) ...
        let timeline = pb::GetResidentTimelineRequest {
            resident: String::new(),
            contact: Some(pb::ResidentContact { email: "jo.resident@example.org".into(), ..Default::default() }),
        };
        let resident =
            app.feedback().get_resident_timeline(traced(timeline, &cso, TIMELINE)).await.unwrap().into_inner().resident;
        // ... a refused one, and a plain read, which is not audited.
        let bad = pb::GetResidentTimelineRequest { resident: "residents/".into(), contact: None };
        let err = app.feedback().get_resident_timeline(traced(bad, &cso, BAD_TIMELINE)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let get = pb::GetDepartmentRequest { name: "departments/water".into() };
        app.departments().get_department(traced(get, &cso, PLAIN_READ)).await.unwrap();

        let all = list(app, &chief(), list_req("departments/-")).await;
        let updated = by_trace(&all, UPDATE);
        assert_eq!(
            (updated.department.as_str(), updated.actor.as_str(), updated.role.as_str()),
            ("departments/water", "cso-water", "cso")
        );
        assert_eq!(
            (updated.action.as_str(), updated.resource.as_str(), updated.outcome.as_str()),
            ("department.update", "departments/water", "ok")
        );
        assert!(updated.occur_time.is_some() && updated.name.starts_with("departments/water/auditEvents/"));
        let refused = by_trace(&all, REFUSED);
        assert_eq!(refused.department, "departments/water", "recorded in the caller's own department");
        assert_eq!(
            (refused.actor.as_str(), refused.action.as_str(), refused.outcome.as_str()),
            ("cso-water", "case.update", "not_found")
        );
        assert_eq!(refused.resource, "departments/streets/cases/c-1");
        let in_streets = by_trace(&all, CHIEF_IN_STREETS);
        assert_eq!((in_streets.department.as_str(), in_streets.role.as_str()), ("departments/streets", "chief"));
        let nowhere = by_trace(&all, CHIEF_NOWHERE);
        assert_eq!(nowhere.department, format!("departments/{CHIEF_OFFICE}"));
        assert_eq!(nowhere.resource, "departments/nowhere/cases/c-9");
        let read = by_trace(&all, TIMELINE);
        assert_eq!((read.action.as_str(), read.outcome.as_str()), ("timeline.read", "ok"));
        assert_eq!(read.resource, resident, "the resident by key");
        let bad_read = by_trace(&all, BAD_TIMELINE);
        assert_eq!((bad_read.action.as_str(), bad_read.outcome.as_str()), ("timeline.read", "invalid_argument"));
        assert!(all.iter().all(|e| e.trace_id != PLAIN_READ), "plain reads are not audited");
        assert!(all.iter().all(|e| !format!("{e:?}").contains("jo.resident")), "no contact details in the log");
        let rank = |t: &str| all.iter().position(|e| e.trace_id == t).unwrap();
        let ranks = [BAD_TIMELINE, TIMELINE, REFUSED, UPDATE].map(rank);
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "newest first: {ranks:?}");

        // Filters and one department's log.
        let not_found = pb::ListAuditEventsRequest { outcome: "not_found".into(), ..list_req("departments/-") };
        let refusals = list(app, &chief(), not_found).await;
        let traces: Vec<&str> = refusals.iter().map(|e| e.trace_id.as_str()).collect();
        assert_eq!(traces, [CHIEF_NOWHERE, CHIEF_IN_STREETS, REFUSED]);
        let cases = pb::ListAuditEventsRequest {
            action_prefix: "case.".into(),
            actor: "cso-water".into(),
            ..list_req("departments/water")
        };
        let cases = list(app, &chief(), cases).await;
        assert_eq!(cases.len(), 1);
        let streets = list(app, &chief(), list_req("departments/streets")).await;
        assert!(streets.iter().all(|e| e.department == "departments/streets"));
        let page = AuditServiceClient::new(app.channel.clone())
            .list_audit_events(authed(
                pb::ListAuditEventsRequest { page_size: 2, ..list_req("departments/-") },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.audit_events, all[..2]);
        let next = pb::ListAuditEventsRequest { page_token: page.next_page_token, ..list_req("departments/-") };
        let rest = list(app, &chief(), next).await;
        assert_eq!(rest[..], all[2..]);

        // Auditors read it too; CSOs may not.
        app.officers()
            .create_officer(authed(
                pb::CreateOfficerRequest {
                    parent: format!("departments/{CHIEF_OFFICE}"),
                    officer_id: "ada-auditor".into(),
                    officer: Some(pb::Officer {
                        display_name: "Ada Auditor".into(),
                        email: "ada@city.gov".into(),
                        kind: pb::OfficerKind::Auditor as i32,
                        ..Default::default()
                    }),
                    request_id: "officer-ada".into(),
                },
                &chief(),
            ))
            .await
            .unwrap();
        let auditor = token_for("ada-auditor", Role::Auditor, &[]);
        let seen = list(app, &auditor, list_req("departments/-")).await;
        assert_eq!(seen.len(), all.len() + 1, "the same log, and the auditor's creation");
        for parent in ["departments/-", "departments/water"] {
            let err = AuditServiceClient::new(app.channel.clone())
                .list_audit_events(authed(list_req(parent), &cso))
                .await
                .unwrap_err();
            assert_eq!(err.code(), Code::PermissionDenied, "{parent}");
        }
    }
}
