//! Touchpoints through the real server, on both backends: a CSO records where residents meet the
//! department, staff and intake name it (and the officer who served) on feedback, and a retired,
//! missing or other department's touchpoint, or another department's officer, is refused in the
//! same words.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_client::CsoWorkServiceClient;
use tonic::Code;

fn counter(parent: &str, id: &str) -> pb::CreateTouchpointRequest {
    pb::CreateTouchpointRequest {
        parent: parent.into(),
        touchpoint_id: id.into(),
        touchpoint: Some(pb::Touchpoint {
            display_name: "Water Revenue counter, Municipal Services Building".into(),
            kind: pb::TouchpointKind::Counter as i32,
            channel: pb::Channel::InPerson as i32,
            location: "1401 John F. Kennedy Blvd".into(),
            ..Default::default()
        }),
        request_id: format!("tp-{parent}-{id}"),
    }
}

fn compliment(touchpoint: &str, served_by: &str) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        parent: "departments/water".into(),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::InPerson as i32,
            kind: pb::FeedbackKind::Compliment as i32,
            csat: Some(5),
            touchpoint: touchpoint.into(),
            served_by: served_by.into(),
            ..Default::default()
        }),
        request_id: format!("c-{touchpoint}-{served_by}"),
        ..Default::default()
    }
}

both_backends! {
    async fn touchpoints_are_named_by_feedback_and_refused_alike(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let cso = app.cso("water").await;
        let staff = app.staff("water").await;
        let streets_cso = app.cso("streets").await;
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());

        // The CSO records the counter; staff may not; a bad request names its fields.
        let made = cw.create_touchpoint(authed(counter("departments/water", "msb-counter"), &cso)).await.unwrap().into_inner().touchpoint.unwrap();
        assert_eq!(made.name, "departments/water/touchpoints/msb-counter");
        assert_eq!(made.state, pb::TouchpointState::Active as i32);
        let e = cw.create_touchpoint(authed(counter("departments/water", "phone"), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let mut bad = counter("departments/water", "X");
        bad.touchpoint = Some(pb::Touchpoint::default());
        let e = cw.create_touchpoint(authed(bad, &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["touchpoint_id", "touchpoint.display_name", "touchpoint.kind", "touchpoint.channel"]);
        cw.create_touchpoint(authed(counter("departments/streets", "crew-a"), &streets_cso)).await.unwrap();
        // Streets' CSO does not see Water's counter.
        let e = cw.get_touchpoint(authed(pb::GetTouchpointRequest { name: made.name.clone() }, &streets_cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let listed = cw.list_touchpoints(authed(pb::ListTouchpointsRequest { parent: "departments/water".into(), ..Default::default() }, &staff)).await.unwrap().into_inner();
        assert_eq!(listed.touchpoints.len(), 1);

        // Staff name the counter and themselves on a compliment.
        let me = "departments/water/officers/staff-water";
        let f = app.feedback().submit_feedback(authed(compliment(&made.name, me), &staff)).await.unwrap().into_inner().feedback.unwrap();
        assert_eq!((f.touchpoint.as_str(), f.served_by.as_str()), (made.name.as_str(), me));
        let read = app.feedback().get_feedback(authed(pb::GetFeedbackRequest { name: f.name.clone() }, &cso)).await.unwrap().into_inner().feedback.unwrap();
        assert_eq!(read.served_by, me);

        // Another department's touchpoint is refused in the words a missing one is.
        let foreign = app.feedback().submit_feedback(authed(compliment("departments/streets/touchpoints/crew-a", ""), &staff)).await.unwrap_err();
        let missing = app.feedback().submit_feedback(authed(compliment("departments/water/touchpoints/crew-a", ""), &staff)).await.unwrap_err();
        assert_eq!((foreign.code(), missing.code()), (Code::FailedPrecondition, Code::FailedPrecondition));
        assert_eq!(
            foreign.message().replace("departments/streets/", "departments/water/"),
            missing.message(),
            "the same words for another department's touchpoint and a missing one"
        );
        // Another department's officer is refused like a missing one.
        let other_officer = app.feedback().submit_feedback(authed(compliment("", "departments/water/officers/cso-streets"), &staff)).await.unwrap_err();
        let nobody = app.feedback().submit_feedback(authed(compliment("", "departments/water/officers/nobody"), &staff)).await.unwrap_err();
        assert_eq!(other_officer.code(), Code::FailedPrecondition);
        assert_eq!(other_officer.message().replace("cso-streets", "nobody"), nobody.message());
        let e = app.feedback().submit_feedback(authed(compliment("", "departments/streets/officers/cso-streets"), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);

        // Retired, the counter keeps its history and takes no new feedback.
        let retire = pb::UpdateTouchpointRequest {
            touchpoint: Some(pb::Touchpoint { name: made.name.clone(), state: pb::TouchpointState::Retired as i32, etag: made.etag.clone(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["state".into()] }),
        };
        let retired = cw.update_touchpoint(authed(retire.clone(), &cso)).await.unwrap().into_inner().touchpoint.unwrap();
        assert_eq!(retired.state, pb::TouchpointState::Retired as i32);
        let stale = cw.update_touchpoint(authed(retire, &cso)).await.unwrap_err();
        assert_eq!(stale.code(), Code::Aborted);
        let late = app.feedback().submit_feedback(authed(compliment(&made.name, ""), &cso)).await.unwrap_err();
        assert_eq!(late.message(), missing.message().replace("crew-a", "msb-counter"));
    }
}
