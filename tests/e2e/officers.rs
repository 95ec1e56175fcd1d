//! The CSO network end to end: appointments and their history, roles in tokens following
//! appointments, the network view, competency gaps, recognitions, plans and tenant isolation.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use tonic::Code;

both_backends! {
    async fn network_appointments_history_and_stale_tokens(app: &TestApp) {
        for d in ["parks", "streets", "water", "revenue"] {
            create_department(app, d).await;
        }
        let mut officers = app.officers();
        // The Chief appoints CSOs for three departments; revenue is left without one.
        let mut water_first = None;
        for d in ["parks", "streets", "water"] {
            app.create_officer(d, &format!("{d}-lead")).await;
            let a = app.appoint_cso(d, &format!("{d}-lead"), "").await;
            assert!(a.active);
            assert_eq!(a.appointed_by, CHIEF);
            if d == "water" {
                water_first = Some(a);
            }
        }
        let network = officers.get_cso_network(authed(pb::GetCsoNetworkRequest { year: 2026 }, &chief())).await.unwrap().into_inner();
        assert_eq!(network.chief.as_ref().unwrap().officer.as_ref().unwrap().name, format!("departments/{CHIEF_OFFICE}/officers/{CHIEF}"));
        let row = |n: &pb::GetCsoNetworkResponse, d: &str| n.departments.iter().find(|x| x.department == format!("departments/{d}")).cloned().unwrap();
        for d in ["parks", "streets", "water"] {
            let r = row(&network, d);
            assert!(!r.cso_missing, "{d}");
            assert_eq!(r.cso.unwrap().officer.unwrap().role, pb::Role::Cso as i32);
        }
        assert!(row(&network, "revenue").cso_missing, "the gap is flagged");
        assert!(row(&network, CHIEF_OFFICE).cso_missing);
        assert_eq!(network.vacant_cso_seats, 2);

        // The water CSO acts with their token; then the Chief replaces them.
        let old_token = token_for("water-lead", Role::Cso, &["water"]);
        let create_competency = |token: &str, id: &str| {
            let mut c = app.officers();
            let req = pb::CreateCompetencyRequest {
                parent: "departments/water".into(),
                competency_id: id.into(),
                competency: Some(pb::Competency { display_name: id.into(), required_for: vec![pb::Role::Staff as i32], ..Default::default() }),
                request_id: format!("comp-{id}"),
            };
            let req = authed(req, token);
            async move { c.create_competency(req).await }
        };
        create_competency(&old_token, "de-escalation").await.unwrap();

        app.create_officer("water", "wanda").await;
        let first = water_first.unwrap();
        // A concurrent view that still believes the seat vacant is refused.
        let stale = officers
            .appoint_cso(authed(
                pb::AppointCsoRequest { parent: "departments/water".into(), officer: "departments/water/officers/wanda".into(), replaces: String::new(), request_id: "stale".into() },
                &chief(),
            ))
            .await
            .unwrap_err();
        assert_eq!(stale.code(), Code::Aborted);
        let second = app.appoint_cso("water", "wanda", &first.name).await;

        let err = create_competency(&old_token, "plain-language").await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "the replaced CSO's token no longer acts as CSO");
        let new_token = token_for("wanda", Role::Cso, &["water"]);
        create_competency(&new_token, "plain-language").await.unwrap();
        // The old CSO is still staff of water and may act as such.
        let as_staff = token_for("water-lead", Role::Staff, &["water"]);
        officers.get_officer(authed(pb::GetOfficerRequest { name: "departments/water/officers/wanda".into() }, &as_staff)).await.unwrap();
        // A signed token whose subject is no officer is refused outright.
        let err = officers
            .list_officers(authed(pb::ListOfficersRequest { parent: "departments/water".into(), ..Default::default() }, &token(Role::Cso, &["water"])))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);

        // History is kept, newest first.
        let history = officers
            .list_appointments(authed(pb::ListAppointmentsRequest { parent: "departments/water".into(), ..Default::default() }, &chief()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(history.appointments.iter().map(|a| (a.name.clone(), a.active)).collect::<Vec<_>>(), vec![(second.name.clone(), true), (first.name.clone(), false)]);
        assert_eq!(history.appointments[1].end_reason, format!("replaced by {}", second.name.rsplit('/').next().unwrap()));
        assert_eq!(history.appointments[1].ended_by, CHIEF);

        // Only the Chief appoints.
        let err = officers
            .appoint_cso(authed(
                pb::AppointCsoRequest { parent: "departments/water".into(), officer: "departments/water/officers/water-lead".into(), replaces: second.name.clone(), request_id: "self".into() },
                &new_token,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);

        // Ending an appointment leaves a flagged gap.
        officers
            .end_appointment(authed(pb::EndAppointmentRequest { name: second.name.clone(), reason: "secondment".into() }, &chief()))
            .await
            .unwrap();
        let network = officers.get_cso_network(authed(pb::GetCsoNetworkRequest { year: 2026 }, &chief())).await.unwrap().into_inner();
        assert!(row(&network, "water").cso_missing);
        let err = officers.get_cso_network(authed(pb::GetCsoNetworkRequest { year: 2026 }, &as_staff)).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    async fn chief_hands_over_and_the_old_chief_is_refused(app: &TestApp) {
        app.create_officer(CHIEF_OFFICE, "next-chief").await;
        let mut officers = app.officers();
        let current = officers
            .list_appointments(authed(pb::ListAppointmentsRequest { parent: "departments/-".into(), seat: pb::Seat::Chief as i32, active_only: true, ..Default::default() }, &chief()))
            .await
            .unwrap()
            .into_inner()
            .appointments
            .remove(0);
        let handover = pb::AppointChiefRequest {
            officer: format!("departments/{CHIEF_OFFICE}/officers/next-chief"),
            replaces: current.name.clone(),
            request_id: "handover".into(),
        };
        let new = officers.appoint_chief(authed(handover.clone(), &chief())).await.unwrap().into_inner().appointment.unwrap();
        assert_eq!(new.seat, pb::Seat::Chief as i32);
        let err = officers.appoint_chief(authed(handover, &chief())).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "the retry comes too late: the old Chief is no longer Chief");
        let next = token_for("next-chief", Role::Chief, &[]);
        let network = officers.get_cso_network(authed(pb::GetCsoNetworkRequest::default(), &next)).await.unwrap().into_inner();
        assert_eq!(network.chief.unwrap().officer.unwrap().name, format!("departments/{CHIEF_OFFICE}/officers/next-chief"));
        let err = officers
            .deactivate_officer(authed(pb::DeactivateOfficerRequest { name: format!("departments/{CHIEF_OFFICE}/officers/next-chief"), etag: String::new() }, &next))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
    }

    async fn bootstrap_refuses_once_a_chief_exists(app: &TestApp) {
        let config = cityserve::config::Config { database_url: app.database_url.clone(), ..Default::default() };
        let spec = cityserve::bootstrap::ChiefSpec {
            department_id: "usurpers".into(),
            department_name: "Usurpers".into(),
            officer_id: "usurper".into(),
            display_name: "U. Surper".into(),
            email: "u@city.gov".into(),
            title: String::new(),
            identity_subject: String::new(),
        };
        let err = cityserve::bootstrap::bootstrap_chief(&config, &spec).await.unwrap_err();
        assert!(matches!(err, cityserve::bootstrap::BootstrapError::ChiefExists(_)), "{err}");
        let network = app.officers().get_cso_network(authed(pb::GetCsoNetworkRequest::default(), &chief())).await.unwrap().into_inner();
        assert!(network.departments.iter().all(|d| d.department != "departments/usurpers"), "nothing was created");
    }

    async fn competency_gaps_name_exactly_the_untrained(app: &TestApp) {
        create_department(app, "water").await;
        let cso = app.cso("water").await;
        for o in ["ann", "bob", "cat"] {
            app.create_officer("water", o).await;
        }
        let mut officers = app.officers();
        officers
            .create_competency(authed(
                pb::CreateCompetencyRequest {
                    parent: "departments/water".into(),
                    competency_id: "de-escalation".into(),
                    competency: Some(pb::Competency { display_name: "De-escalation".into(), required_for: vec![pb::Role::Staff as i32], ..Default::default() }),
                    request_id: "c1".into(),
                },
                &cso,
            ))
            .await
            .unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let ts = |s: i64| Some(prost_types::Timestamp { seconds: s, nanos: 0 });
        let record = |o: &str, expires: Option<i64>| pb::CreateTrainingRecordRequest {
            parent: format!("departments/water/officers/{o}"),
            training_record: Some(pb::TrainingRecord {
                competency: "departments/water/competencies/de-escalation".into(),
                complete_time: ts(now - 400 * 86_400),
                expire_time: expires.and_then(ts),
                notes: "certificate DE-1".into(),
                ..Default::default()
            }),
            request_id: format!("t-{o}"),
        };
        officers.create_training_record(authed(record("ann", None), &cso)).await.unwrap();
        officers.create_training_record(authed(record("cso-water", None), &cso)).await.unwrap();
        officers.create_training_record(authed(record("bob", Some(now - 86_400)), &cso)).await.unwrap();
        let gaps = officers
            .list_competency_gaps(authed(pb::ListCompetencyGapsRequest { parent: "departments/water".into() }, &cso))
            .await
            .unwrap()
            .into_inner()
            .gaps;
        let got: Vec<(String, i32)> = gaps.iter().map(|g| (g.officer.clone(), g.reason)).collect();
        assert_eq!(
            got,
            vec![
                ("departments/water/officers/bob".into(), pb::GapReason::Expired as i32),
                ("departments/water/officers/cat".into(), pb::GapReason::Missing as i32),
            ]
        );

        // Bad input names the field; expiry before completion is refused.
        let mut bad = record("cat", Some(now - 500 * 86_400));
        bad.request_id = "bad".into();
        let err = officers.create_training_record(authed(bad, &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["training_record.expire_time"]);

        // Staff see their own training, not a colleague's.
        let ann = token_for("ann", Role::Staff, &["water"]);
        let own = officers
            .list_training_records(authed(pb::ListTrainingRecordsRequest { parent: "departments/water/officers/ann".into(), ..Default::default() }, &ann))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(own.training_records.len(), 1);
        let err = officers
            .list_training_records(authed(pb::ListTrainingRecordsRequest { parent: "departments/water/officers/bob".into(), ..Default::default() }, &ann))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
    }

    async fn cso_of_one_department_cannot_touch_anothers_officers(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let water = app.cso("water").await;
        app.create_officer("streets", "sam").await;
        let mut officers = app.officers();
        let err = officers.get_officer(authed(pb::GetOfficerRequest { name: "departments/streets/officers/sam".into() }, &water)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = officers
            .list_officers(authed(pb::ListOfficersRequest { parent: "departments/streets".into(), ..Default::default() }, &water))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = officers
            .update_officer(authed(
                pb::UpdateOfficerRequest {
                    officer: Some(pb::Officer { name: "departments/streets/officers/sam".into(), title: "Hijacked".into(), ..Default::default() }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["title".into()] }),
                },
                &water,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = officers
            .deactivate_officer(authed(pb::DeactivateOfficerRequest { name: "departments/streets/officers/sam".into(), etag: String::new() }, &water))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let all = officers
            .list_officers(authed(pb::ListOfficersRequest { parent: "departments/-".into(), ..Default::default() }, &water))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(all.officers.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["departments/water/officers/cso-water"]);
        // Bad input is named.
        let err = officers
            .create_officer(authed(
                pb::CreateOfficerRequest {
                    parent: "departments/water".into(),
                    officer_id: "Bad Id".into(),
                    officer: Some(pb::Officer { display_name: String::new(), email: "nope".into(), ..Default::default() }),
                    request_id: "x".into(),
                },
                &water,
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&err), ["officer_id"]);
        let err = officers
            .create_officer(authed(
                pb::CreateOfficerRequest {
                    parent: "departments/water".into(),
                    officer_id: String::new(),
                    officer: Some(pb::Officer { display_name: String::new(), email: "nope".into(), ..Default::default() }),
                    request_id: "y".into(),
                },
                &water,
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["officer.display_name", "officer.email"]);
    }

    async fn recognitions_and_plan_review(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let water = app.cso("water").await;
        app.create_officer("streets", "sam").await;
        let sam_token = token_for("sam", Role::Staff, &["streets"]);
        let mut officers = app.officers();
        // Across silos: a streets staffer thanks the water CSO.
        let rec = officers
            .create_recognition(authed(
                pb::CreateRecognitionRequest {
                    recognition: Some(pb::Recognition { officer: "departments/water/officers/cso-water".into(), story: "Fixed a street-cut dispute in one call".into(), ..Default::default() }),
                    request_id: "thanks-1".into(),
                },
                &sam_token,
            ))
            .await
            .unwrap()
            .into_inner()
            .recognition
            .unwrap();
        assert_eq!(rec.recognized_by, "sam");
        let err = officers
            .create_recognition(authed(
                pb::CreateRecognitionRequest {
                    recognition: Some(pb::Recognition { officer: "departments/streets/officers/sam".into(), story: "me".into(), ..Default::default() }),
                    request_id: "self".into(),
                },
                &sam_token,
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["recognition.officer"]);
        // A former officer of another department answers exactly like one who never was.
        app.create_officer("water", "gone").await;
        officers
            .deactivate_officer(authed(pb::DeactivateOfficerRequest { name: "departments/water/officers/gone".into(), etag: String::new() }, &water))
            .await
            .unwrap();
        let mut refusals = Vec::new();
        for (who, id) in [("gone", "thanks-gone"), ("never-was", "thanks-never")] {
            let e = officers
                .create_recognition(authed(
                    pb::CreateRecognitionRequest {
                        recognition: Some(pb::Recognition { officer: format!("departments/water/officers/{who}"), story: "Kind on the phone".into(), ..Default::default() }),
                        request_id: id.into(),
                    },
                    &sam_token,
                ))
                .await
                .unwrap_err();
            refusals.push((e.code(), e.message().replace(who, "X")));
        }
        assert_eq!(refusals[0], refusals[1]);
        assert_eq!(refusals[0].0, tonic::Code::NotFound);
        let hero = officers.get_officer(authed(pb::GetOfficerRequest { name: "departments/water/officers/cso-water".into() }, &water)).await.unwrap().into_inner().officer.unwrap();
        assert_eq!(hero.recognition_count, 1);
        let city = officers.list_recognitions(authed(pb::ListRecognitionsRequest { parent: "departments/-".into(), ..Default::default() }, &chief())).await.unwrap().into_inner();
        assert_eq!(city.recognitions.len(), 1);

        // The plan: drafted by the CSO, sent back and approved by the Chief, every revision kept.
        let plan = officers
            .create_plan(authed(pb::CreatePlanRequest { parent: "departments/water".into(), year: 2026, plan: Some(pb::Plan { vision: "No wrong door".into(), ..Default::default() }), request_id: "plan".into() }, &water))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap();
        let err = officers.submit_plan(authed(pb::SubmitPlanRequest { name: plan.name.clone(), etag: String::new() }, &water)).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "incomplete plans cannot be submitted");
        let full = pb::Plan {
            name: plan.name.clone(),
            vision: "No wrong door".into(),
            mission: "Answer once".into(),
            voice_of_customer: "Quarterly surveys and comment cards".into(),
            training_programme: "De-escalation for all frontline staff".into(),
            engagement_plan: "Community meetings".into(),
            focus: Some(pb::FocusArea { area: "Billing calls".into(), metric: "first-call resolution (%)".into(), baseline: 61.0, target: 75.0 }),
            ..Default::default()
        };
        let edited = officers.update_plan(authed(pb::UpdatePlanRequest { plan: Some(full), update_mask: None, etag: plan.etag.clone() }, &water)).await.unwrap().into_inner().plan.unwrap();
        officers.submit_plan(authed(pb::SubmitPlanRequest { name: plan.name.clone(), etag: edited.etag }, &water)).await.unwrap();
        let err = officers
            .review_plan(authed(pb::ReviewPlanRequest { name: plan.name.clone(), decision: pb::PlanDecision::Approve as i32, ..Default::default() }, &water))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "a CSO cannot approve their own plan");
        let err = officers
            .review_plan(authed(pb::ReviewPlanRequest { name: plan.name.clone(), decision: pb::PlanDecision::RequestChanges as i32, ..Default::default() }, &chief()))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["comment"]);
        officers
            .review_plan(authed(pb::ReviewPlanRequest { name: plan.name.clone(), decision: pb::PlanDecision::RequestChanges as i32, comment: "Set a stretch target".into(), ..Default::default() }, &chief()))
            .await
            .unwrap();
        let back = officers.get_plan(authed(pb::GetPlanRequest { name: plan.name.clone() }, &water)).await.unwrap().into_inner().plan.unwrap();
        assert_eq!((back.status, back.review_comment.as_str()), (pb::PlanStatus::ChangesRequested as i32, "Set a stretch target"));
        officers
            .update_plan(authed(pb::UpdatePlanRequest { plan: Some(pb::Plan { name: plan.name.clone(), focus: Some(pb::FocusArea { target: 80.0, ..Default::default() }), ..Default::default() }), update_mask: Some(prost_types::FieldMask { paths: vec!["focus.target".into()] }), etag: String::new() }, &water))
            .await
            .unwrap();
        officers.submit_plan(authed(pb::SubmitPlanRequest { name: plan.name.clone(), etag: String::new() }, &water)).await.unwrap();
        let approved = officers
            .review_plan(authed(pb::ReviewPlanRequest { name: plan.name.clone(), decision: pb::PlanDecision::Approve as i32, comment: "Good".into(), ..Default::default() }, &chief()))
            .await
            .unwrap()
            .into_inner()
            .plan
            .unwrap();
        assert_eq!(approved.status, pb::PlanStatus::Approved as i32);
        assert_eq!(approved.focus.unwrap().target, 80.0);
        let revisions = officers.list_plan_revisions(authed(pb::ListPlanRevisionsRequest { parent: plan.name.clone(), ..Default::default() }, &chief())).await.unwrap().into_inner().revisions;
        assert_eq!(
            revisions.iter().map(|r| r.change.as_str()).collect::<Vec<_>>(),
            ["create", "edit", "submit", "request_changes", "edit", "submit", "approve"]
        );
        assert_eq!(revisions[3].author, CHIEF);
        let network = officers.get_cso_network(authed(pb::GetCsoNetworkRequest { year: 2026 }, &chief())).await.unwrap().into_inner();
        let water_row = network.departments.iter().find(|d| d.department == "departments/water").unwrap();
        assert_eq!(water_row.plan_status, pb::PlanStatus::Approved as i32);
    }
}
