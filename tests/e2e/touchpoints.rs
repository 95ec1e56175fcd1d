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

fn rubric(items: &[(&str, &str)]) -> Vec<pb::RubricItem> {
    items.iter().map(|(c, l)| pb::RubricItem { code: (*c).into(), label: (*l).into() }).collect()
}

fn observe(parent: &str, touchpoint: &str, scores: &[(&str, i32)], id: &str) -> pb::CreateObservationRequest {
    pb::CreateObservationRequest {
        parent: parent.into(),
        observation: Some(pb::Observation {
            touchpoint: touchpoint.into(),
            rubric: "departments/water/rubrics/counter".into(),
            scores: scores.iter().map(|(c, s)| pb::Score { code: (*c).into(), score: *s }).collect(),
            notes: "Queue of six; clerk explained the bill clearly".into(),
            coaching_actions: vec![pb::CoachingAction {
                action: "Greet the queue when it passes five".into(),
                owner: "departments/water/officers/staff-water".into(),
                due_date: "2027-01-15".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        request_id: id.into(),
    }
}

both_backends! {
    async fn observations_are_scored_on_their_rubric_version_and_coached_to_done(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let cso = app.cso("water").await;
        let staff = app.staff("water").await;
        let streets_cso = app.cso("streets").await;
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());
        cw.create_touchpoint(authed(counter("departments/water", "msb-counter"), &cso)).await.unwrap();
        cw.create_touchpoint(authed(counter("departments/streets", "crew-a"), &streets_cso)).await.unwrap();
        let v1 = pb::CreateRubricRequest {
            parent: "departments/water".into(),
            rubric_id: "counter".into(),
            rubric: Some(pb::Rubric {
                display_name: "Counter service".into(),
                items: rubric(&[("greeting", "Greeted within 30 seconds"), ("clarity", "Explained clearly")]),
                ..Default::default()
            }),
            request_id: "rb-1".into(),
        };
        let v1 = cw.create_rubric(authed(v1, &cso)).await.unwrap().into_inner().rubric.unwrap();
        assert_eq!(v1.version, 1);

        // Staff (to whom the CSO delegates the watching) record an observation with coaching.
        let tp = "departments/water/touchpoints/msb-counter";
        let first = cw.create_observation(authed(observe("departments/water", tp, &[("greeting", 2), ("clarity", 5)], "ob-1"), &staff)).await.unwrap().into_inner().observation.unwrap();
        assert_eq!((first.rubric_version, first.scores.len(), first.coaching_actions.len()), (1, 2, 1));
        assert_eq!(first.coaching_actions[0].state, pb::CoachingActionState::Open as i32);

        // Water's CSO observing a Streets touchpoint: it does not exist for them, either way.
        let e = cw.create_observation(authed(observe("departments/water", "departments/streets/touchpoints/crew-a", &[("greeting", 3)], "ob-x"), &cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        let mut theirs = observe("departments/streets", "departments/streets/touchpoints/crew-a", &[("greeting", 3)], "ob-y");
        if let Some(o) = theirs.observation.as_mut() {
            o.rubric = "departments/streets/rubrics/counter".into();
            o.coaching_actions.clear();
        }
        let e = cw.create_observation(authed(theirs, &cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        // Scores name items of the rubric, 1-5.
        let e = cw.create_observation(authed(observe("departments/water", tp, &[("courtesy", 3), ("greeting", 9)], "ob-z"), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["observation.scores[0].code", "observation.scores[1].score"]);

        // The rubric is revised: the old observation keeps version 1 and its scores.
        let v2 = pb::ReviseRubricRequest {
            rubric: Some(pb::Rubric {
                name: v1.name.clone(),
                display_name: "Counter service".into(),
                items: rubric(&[("greeting", "Greeted within 30 seconds"), ("courtesy", "Courteous throughout")]),
                version: 1,
                ..Default::default()
            }),
        };
        let v2 = cw.revise_rubric(authed(v2.clone(), &cso)).await.unwrap().into_inner().rubric.unwrap();
        assert_eq!(v2.version, 2);
        let stale = pb::ReviseRubricRequest { rubric: Some(pb::Rubric { version: 1, ..v2.clone() }) };
        assert_eq!(cw.revise_rubric(authed(stale, &cso)).await.unwrap_err().code(), Code::Aborted);
        let old = cw.get_observation(authed(pb::GetObservationRequest { name: first.name.clone() }, &cso)).await.unwrap().into_inner().observation.unwrap();
        assert_eq!((old.rubric_version, old.scores[1].code.as_str()), (1, "clarity"));
        let kept = cw.get_rubric(authed(pb::GetRubricRequest { name: v1.name.clone(), version: 1 }, &staff)).await.unwrap().into_inner().rubric.unwrap();
        assert_eq!(kept.items[1].code, "clarity");
        let e = cw.create_observation(authed(observe("departments/water", tp, &[("clarity", 4)], "ob-2"), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["observation.scores[0].code"]);
        let second = cw.create_observation(authed(observe("departments/water", tp, &[("courtesy", 4)], "ob-3"), &cso)).await.unwrap().into_inner().observation.unwrap();
        assert_eq!(second.rubric_version, 2);
        let listed = cw.list_observations(authed(pb::ListObservationsRequest { parent: "departments/water".into(), touchpoint: tp.into(), ..Default::default() }, &cso)).await.unwrap().into_inner();
        assert_eq!(listed.observations.iter().map(|o| o.name.clone()).collect::<Vec<_>>(), [second.name.clone(), first.name.clone()]);

        // Coaching is followed to done; doing it again changes nothing.
        let action = first.coaching_actions[0].name.clone();
        let done = cw.complete_coaching_action(authed(pb::CompleteCoachingActionRequest { name: action.clone(), etag: first.etag.clone() }, &staff)).await.unwrap().into_inner().observation.unwrap();
        assert_eq!(done.coaching_actions[0].state, pb::CoachingActionState::Done as i32);
        assert!(done.coaching_actions[0].done_time.is_some());
        let again = cw.complete_coaching_action(authed(pb::CompleteCoachingActionRequest { name: action, etag: String::new() }, &staff)).await.unwrap().into_inner().observation.unwrap();
        assert_eq!(again.etag, done.etag);
        let e = cw.get_observation(authed(pb::GetObservationRequest { name: first.name.clone() }, &streets_cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
    }
}

both_backends! {
    async fn figures_per_touchpoint_and_officer_follow_who_may_see_them(app: &TestApp) {
        create_department(app, "water").await;
        let cso = app.cso("water").await;
        let staff = app.staff("water").await;
        app.create_officer("water", "dana").await;
        let dana = token_for("dana", cityserve_domain::Role::Staff, &["water"]);
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());
        let tp = cw.create_touchpoint(authed(counter("departments/water", "msb-counter"), &cso)).await.unwrap().into_inner().touchpoint.unwrap().name;
        let dana_name = "departments/water/officers/dana";
        let rate = |n: usize, csat: i32| {
            let mut r = compliment(&tp, dana_name);
            r.request_id = format!("rate-{n}");
            if let Some(f) = r.feedback.as_mut() {
                f.csat = Some(csat);
                if n == 0 {
                    f.kind = pb::FeedbackKind::Complaint as i32;
                }
            }
            r
        };
        for (n, csat) in [5, 4, 5, 2].into_iter().enumerate() {
            app.feedback().submit_feedback(authed(rate(n, csat), &staff)).await.unwrap();
        }
        let reader = cw.clone();
        let officer = |token: &str, name: &str| {
            let r = pb::GetOfficerFiguresRequest { officer: name.into(), period: pb::ReportPeriod::Day as i32, date: String::new() };
            let mut cw = reader.clone();
            let token = token.to_owned();
            async move { cw.get_officer_figures(authed(r, &token)).await.map(|r| r.into_inner().figures.unwrap()) }
        };
        // Four responses: the officer's own mean is withheld, the counts are there.
        let four = officer(&dana, dana_name).await.unwrap();
        assert_eq!((four.contact_count, four.complaint_count, four.compliment_count), (4, 1, 3));
        assert_eq!((four.csat_response_count, four.csat_average, four.csat_withheld), (4, None, true));
        app.feedback().submit_feedback(authed(rate(4, 4), &staff)).await.unwrap();
        // Five: shown, to Dana and to the CSO.
        let five = officer(&cso, dana_name).await.unwrap();
        assert_eq!((five.csat_response_count, five.csat_average, five.csat_withheld), (5, Some(4.0), false));
        // Another staff member: NOT_FOUND; the Chief and auditors: officers only in aggregate.
        assert_eq!(officer(&staff, dana_name).await.unwrap_err().code(), Code::NotFound);
        assert_eq!(officer(&chief(), dana_name).await.unwrap_err().code(), Code::PermissionDenied);
        // Every read of an officer's figures is audited.
        let reads = app.count("SELECT count(*) FROM audit_log WHERE action = 'officer_figures.read' AND outcome = 'ok'").await;
        assert_eq!(reads, 2);

        // The touchpoint's figures: the same contacts, an observation's score, for the Chief too.
        let rb = pb::CreateRubricRequest {
            parent: "departments/water".into(),
            rubric_id: "counter".into(),
            rubric: Some(pb::Rubric { display_name: "Counter".into(), items: rubric(&[("greeting", "Greeted"), ("clarity", "Clear")]), ..Default::default() }),
            request_id: "rb".into(),
        };
        cw.create_rubric(authed(rb, &cso)).await.unwrap();
        let mut ob = observe("departments/water", &tp, &[("greeting", 2), ("clarity", 5)], "ob");
        if let Some(o) = ob.observation.as_mut() {
            o.served_by = dana_name.into();
        }
        cw.create_observation(authed(ob, &cso)).await.unwrap();
        let r = pb::GetTouchpointFiguresRequest { touchpoint: tp.clone(), period: pb::ReportPeriod::Day as i32, date: String::new() };
        let t = cw.get_touchpoint_figures(authed(r, &chief())).await.unwrap().into_inner().figures.unwrap();
        assert_eq!((t.contact_count, t.csat_response_count, t.csat_average), (5, 5, Some(4.0)));
        assert_eq!((t.observation_count, t.observation_score_average), (1, Some(3.5)));
        // A colleague recognises Dana as a service hero: it counts on her figures.
        let r = pb::CreateRecognitionRequest {
            recognition: Some(pb::Recognition {
                officer: dana_name.into(),
                story: "Stayed late to sort a billing mix-up".into(),
                ..Default::default()
            }),
            request_id: "hero-1".into(),
        };
        app.officers().create_recognition(authed(r, &cso)).await.unwrap();
        let d = officer(&dana, dana_name).await.unwrap();
        assert_eq!((d.observation_count, d.observation_score_average, d.recognition_count), (1, Some(3.5), 1));
    }
}
