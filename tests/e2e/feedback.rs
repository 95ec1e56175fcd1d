//! Feedback end to end: intake from every channel, the resident timeline across departments with
//! its redaction, the complaint lifecycle with due times from the standards, the closed loop, and
//! erasure that keeps the statistics.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use tonic::Code;

const EMAIL: &str = "Maria.Lopez@Example.org";
const PHONE: &str = "(215) 555-0142";
const ADDRESS: &str = "2200 Fairmount Ave";

fn contact(email: &str, phone: &str) -> Option<pb::ResidentContact> {
    Some(pb::ResidentContact { email: email.into(), phone: phone.into(), ..Default::default() })
}

fn submit(
    parent: &str,
    fb: pb::Feedback,
    resident: Option<pb::ResidentContact>,
    id: &str,
) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        parent: format!("departments/{parent}"),
        feedback: Some(fb),
        resident,
        request_id: id.into(),
        survey_token: String::new(),
        resolved: None,
    }
}

fn feedback(channel: pb::Channel, kind: pb::FeedbackKind, text: &str) -> pb::Feedback {
    pb::Feedback { channel: channel as i32, kind: kind as i32, text: text.into(), ..Default::default() }
}

fn secs(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().unwrap().seconds
}

async fn create_standard(app: &TestApp, d: &str, category: &str, channel: pb::Channel, ack_h: i64, resolve_h: i64) {
    app.departments()
        .create_service_standard(authed(
            pb::CreateServiceStandardRequest {
                parent: format!("departments/{d}"),
                service_standard_id: format!("{category}-{}", channel.as_str_name().to_lowercase().replace('_', "-")),
                service_standard: Some(pb::ServiceStandard {
                    service_category_id: category.into(),
                    channel: channel as i32,
                    targets: Some(pb::ServiceTargets {
                        acknowledge_within: Some(hours(ack_h)),
                        resolve_within: Some(hours(resolve_h)),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                request_id: format!("std-{d}-{category}"),
            },
            &chief(),
        ))
        .await
        .unwrap();
}

both_backends! {
    async fn resident_contacts_two_departments_timeline_lifecycle_and_erasure(app: &TestApp) {
        create_department(app, "streets").await;
        create_department(app, "water").await;
        create_category(app, "streets", "street-cut").await;
        create_standard(app, "streets", "street-cut", pb::Channel::Phone, 2, 72).await;
        let streets_staff = app.staff("streets").await;
        let streets_cso = app.cso("streets").await;
        let water_cso = app.cso("water").await;
        let mut client = app.feedback();

        // 1. A resident phones Streets about a street cut, giving only a phone number.
        let mut call = feedback(pb::Channel::Phone, pb::FeedbackKind::Complaint, &format!("Trench outside {ADDRESS} left open for a week"));
        call.csat = Some(1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        call.occur_time = Some(prost_types::Timestamp { seconds: now - 3 * 86_400, nanos: 0 });
        call.service_category_id = "street-cut".into();
        call.location = Some(pb::Location { address: ADDRESS.into(), latitude: Some(39.967), longitude: Some(-75.172), address_id: "REG-Fairmount-2210".into() });
        let first = client.submit_feedback(authed(submit("streets", call, contact("", PHONE), "call-1"), &streets_staff)).await.unwrap().into_inner();
        let complaint = first.feedback.unwrap();
        let case = first.case.unwrap();
        assert_eq!(case.state, pb::CaseState::Open as i32);
        assert_eq!(secs(&case.acknowledge_due_time) - secs(&case.receive_time), 2 * 3600, "the street-cut/phone standard");
        assert_eq!(secs(&case.resolve_due_time) - secs(&case.receive_time), 72 * 3600);
        assert!(complaint.resident_key.starts_with("r-"));

        // 2. Two days later they write to Water, with their e-mail and the same phone.
        let mut mail = feedback(pb::Channel::Email, pb::FeedbackKind::Question, "Is my water bill higher because of the street works?");
        mail.occur_time = Some(prost_types::Timestamp { seconds: secs(&complaint.occur_time) + 2 * 86_400, nanos: 0 });
        let second = client.submit_feedback(authed(submit("water", mail, contact(EMAIL, PHONE), "mail-1"), &water_cso)).await.unwrap().into_inner();
        let water_feedback = second.feedback.unwrap();
        assert_eq!(water_feedback.resident_key, complaint.resident_key, "one resident across departments");

        // 3. Water's CSO sees that the resident already spoke to Streets, but not what they said.
        let timeline_req = || pb::GetResidentTimelineRequest { resident: String::new(), contact: contact(" maria.lopez@example.ORG ", "") };
        let seen = client.get_resident_timeline(authed(timeline_req(), &water_cso)).await.unwrap().into_inner();
        assert_eq!(seen.resident, format!("residents/{}", complaint.resident_key));
        assert_eq!(seen.entries.len(), 2);
        let streets_entry = &seen.entries[0];
        assert_eq!(streets_entry.department, "departments/streets");
        assert_eq!((streets_entry.channel, streets_entry.case_state), (pb::Channel::Phone as i32, pb::CaseState::Open as i32));
        assert!(streets_entry.redacted && streets_entry.summary.is_empty());
        assert_eq!(streets_entry.kind, pb::FeedbackKind::Unspecified as i32);
        assert_eq!(streets_entry.feedback, "", "a redacted entry names no record of another department");
        let water_entry = &seen.entries[1];
        assert!(!water_entry.redacted && water_entry.summary.starts_with("Is my water bill"));
        assert_eq!(water_entry.feedback, water_feedback.name, "the caller's own entry names its record");
        // The Chief sees both in full.
        let full = client.get_resident_timeline(authed(timeline_req(), &chief())).await.unwrap().into_inner();
        assert!(full.entries.iter().all(|e| !e.redacted && !e.summary.is_empty()));
        assert!(full.entries[0].summary.contains("Trench"));

        // 4. Streets works the case through its lifecycle.
        let name = case.name.clone();
        // Streets' CSO escalates it in the resident's words: the reason is theirs to forget too.
        let escalation = pb::EscalateCaseRequest { case: name.clone(), reason: "Trench still open, she calls daily".into(), request_id: "esc-1".into() };
        app.coordination().escalate_case(authed(escalation, &streets_cso)).await.unwrap();
        let stale_etag = case.etag.clone();
        let acked = client.acknowledge_case(authed(pb::AcknowledgeCaseRequest { name: name.clone(), etag: case.etag.clone(), note: "Called back".into() }, &streets_cso)).await.unwrap().into_inner().case.unwrap();
        assert_eq!(acked.state, pb::CaseState::Acknowledged as i32);
        let stale = client.start_case(authed(pb::StartCaseRequest { name: name.clone(), etag: stale_etag, note: String::new() }, &streets_cso)).await.unwrap_err();
        assert_eq!(stale.code(), Code::Aborted);
        let invalid = client.resolve_case(authed(pb::ResolveCaseRequest { name: name.clone(), ..Default::default() }, &streets_cso)).await.unwrap_err();
        assert_eq!(invalid.code(), Code::FailedPrecondition, "{invalid:?}");
        client.assign_case(authed(pb::AssignCaseRequest { name: name.clone(), etag: String::new(), assignee: "staff-streets".into() }, &streets_cso)).await.unwrap();
        client.start_case(authed(pb::StartCaseRequest { name: name.clone(), ..Default::default() }, &streets_staff)).await.unwrap();
        client.record_recovery_action(authed(pb::RecordRecoveryActionRequest { name: name.clone(), etag: String::new(), kind: pb::RecoveryActionKind::Apology as i32, note: format!("Apology letter to {ADDRESS}") }, &streets_staff)).await.unwrap();
        let resolved = client.resolve_case(authed(pb::ResolveCaseRequest { name: name.clone(), etag: String::new(), note: "Trench filled".into() }, &streets_staff)).await.unwrap().into_inner().case.unwrap();
        assert_eq!(resolved.state, pb::CaseState::Resolved as i32);
        assert_eq!(resolved.assignee, "staff-streets");
        assert_eq!(resolved.recovery_actions.len(), 1);
        assert_eq!(resolved.notes.len(), 2);
        // The closed loop: the follow-up survey says the resident is satisfied.
        let mut survey = feedback(pb::Channel::Survey, pb::FeedbackKind::SurveyResponse, "Fixed quickly, thanks");
        survey.csat = Some(5);
        survey.nps = Some(9);
        survey.media_urls = vec!["https://photos.example.org/maria-trench-7781.jpg".into()];
        let named = Some(pb::ResidentContact { phone: PHONE.into(), name: "Maria Lopez-Quintana".into(), ..Default::default() });
        let survey = client.submit_feedback(authed(submit("streets", survey, named, "survey-1"), &streets_staff)).await.unwrap().into_inner().feedback.unwrap();
        assert_eq!(app.rows_containing("Lopez-Quintana").await, [("resident_contact_details".to_owned(), 1)], "the name is kept with the contact details only");
        assert_eq!(survey.media_urls, ["https://photos.example.org/maria-trench-7781.jpg"]);
        let linked = client.link_follow_up(authed(pb::LinkFollowUpRequest { name: name.clone(), etag: String::new(), follow_up: survey.name.clone(), resident_satisfied: true }, &streets_cso)).await.unwrap().into_inner().case.unwrap();
        assert_eq!((linked.follow_up.as_str(), linked.resident_satisfied), (survey.name.as_str(), Some(true)));
        let closed = client.close_case(authed(pb::CloseCaseRequest { name: name.clone(), ..Default::default() }, &streets_cso)).await.unwrap().into_inner().case.unwrap();
        assert_eq!(closed.state, pb::CaseState::Closed as i32);
        let reopen = client.reopen_case(authed(pb::ReopenCaseRequest { name: name.clone(), ..Default::default() }, &streets_cso)).await.unwrap_err();
        assert_eq!(bad_fields(&reopen), ["note"], "a reopen says why");
        // Water sees the case state move on in its redacted view.
        let seen = client.get_resident_timeline(authed(timeline_req(), &water_cso)).await.unwrap().into_inner();
        assert_eq!(seen.entries[0].case_state, pb::CaseState::Closed as i32);

        // 5. Erasure: only the Chief; afterwards no e-mail, phone or free text anywhere, same counts.
        let all = |c: &mut cityserve_proto::v1::feedback_service_client::FeedbackServiceClient<tonic::transport::Channel>| {
            let req = authed(pb::ListFeedbackRequest { parent: "departments/-".into(), page_size: 100, ..Default::default() }, &chief());
            let mut c = c.clone();
            async move { c.list_feedback(req).await.unwrap().into_inner().feedback }
        };
        let before: Vec<_> = all(&mut client).await.iter().map(|f| (f.name.clone(), f.kind, f.channel, f.csat, f.nps)).collect();
        assert_eq!(before.len(), 3);
        let erase = || pb::EraseResidentRequest { resident: String::new(), contact: contact("", "+1 215 555 0142") };
        let denied = client.erase_resident(authed(erase(), &water_cso)).await.unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        let erased = client.erase_resident(authed(erase(), &chief())).await.unwrap().into_inner();
        assert_eq!(erased.erased_feedback_count, 3);
        assert_eq!(erased.departments, ["departments/streets", "departments/water"]);
        let after: Vec<_> = all(&mut client).await.iter().map(|f| (f.name.clone(), f.kind, f.channel, f.csat, f.nps)).collect();
        assert_eq!(after, before, "report counts and ratings are unchanged");
        for needle in ["maria.lopez", "2155550142", "12155550142", "Fairmount", "Trench", "water bill", "Fixed quickly", "Called back", "maria-trench-7781", "Lopez-Quintana", "REG-Fairmount"] {
            assert_eq!(app.rows_containing(needle).await, Vec::<(String, i64)>::new(), "{needle:?} survives");
        }
        let gone = client.get_resident_timeline(authed(timeline_req(), &chief())).await.unwrap().into_inner();
        assert!(gone.entries.is_empty());
        // The same resident writing again starts a new, unlinked history: a new key, and the old
        // one is named only by the audit trail and the event log, where it leads to no row.
        let old_key = complaint.resident_key.clone();
        let again = feedback(pb::Channel::Email, pb::FeedbackKind::Question, "Hello again");
        let back = client.submit_feedback(authed(submit("water", again, contact(EMAIL, PHONE), "mail-2"), &water_cso)).await.unwrap().into_inner().feedback.unwrap();
        assert!(back.resident_key.starts_with("r-"));
        assert_ne!(back.resident_key, old_key, "erasure forgets who: the same contact gets a new key");
        let tables: Vec<String> = app.rows_containing(&old_key).await.into_iter().map(|(t, _)| t).collect();
        assert!(tables.iter().all(|t| t == "audit_log" || t == "events"), "the old key survives in {tables:?}");
    }

    async fn intake_validation_idempotency_and_batches(app: &TestApp) {
        create_department(app, "parks").await;
        create_category(app, "parks", "playgrounds").await;
        let staff = app.staff("parks").await;
        let mut client = app.feedback();

        let mut bad = feedback(pb::Channel::Unspecified, pb::FeedbackKind::Compliment, "");
        bad.csat = Some(6);
        bad.nps = Some(11);
        bad.location = Some(pb::Location { address: String::new(), latitude: Some(95.0), longitude: Some(10.0), address_id: String::new() });
        bad.media_urls = vec!["https://photos.example.org/ok.jpg".into(), "javascript:alert(1)".into()];
        let err = client.submit_feedback(authed(submit("parks", bad, contact("not-an-email", "call me"), "bad-1"), &staff)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        let mut fields = bad_fields(&err);
        fields.sort();
        assert_eq!(fields, ["feedback.channel", "feedback.csat", "feedback.location.latitude", "feedback.media_urls[1]", "feedback.nps", "resident.email", "resident.phone"]);
        assert!(!err.message().contains("not-an-email") && !err.message().contains("call me"), "no PII echoed: {}", err.message());

        // Retries with one request_id create one record, also when sent concurrently.
        let good = || submit("parks", feedback(pb::Channel::CommentCard, pb::FeedbackKind::Compliment, "Lovely new swings"), contact(EMAIL, ""), "card-1");
        let mut calls = Vec::new();
        for _ in 0..6 {
            let mut c = client.clone();
            let req = authed(good(), &staff);
            calls.push(tokio::spawn(async move { c.submit_feedback(req).await.map(|r| r.into_inner().feedback.unwrap().name) }));
        }
        let mut names = Vec::new();
        for c in calls {
            names.push(c.await.unwrap().unwrap());
        }
        names.dedup();
        assert_eq!(names.len(), 1, "one feedback for six retries");
        let mut changed = good();
        changed.feedback.as_mut().unwrap().text = "Different".into();
        assert_eq!(client.submit_feedback(authed(changed, &staff)).await.unwrap_err().code(), Code::AlreadyExists);

        // A batch with a bad item stores nothing and names the item.
        let item = |text: &str| pb::SubmitFeedbackRequest {
            feedback: Some(pb::Feedback { csat: Some(4), ..feedback(pb::Channel::Survey, pb::FeedbackKind::SurveyResponse, text) }),
            ..Default::default()
        };
        let mut items = vec![item("a"), item("b"), item("c")];
        items[1].feedback.as_mut().unwrap().kind = 0;
        let batch = |items: Vec<pb::SubmitFeedbackRequest>, id: &str| authed(pb::BatchSubmitFeedbackRequest { parent: "departments/parks".into(), requests: items, request_id: id.into(), allow_partial_success: false }, &staff);
        let err = client.batch_submit_feedback(batch(items.clone(), "import-1")).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["requests[1].feedback.kind"]);
        items[1].feedback.as_mut().unwrap().kind = pb::FeedbackKind::SurveyResponse as i32;
        items[2].feedback.as_mut().unwrap().service_category_id = "no-such-category".into();
        let err = client.batch_submit_feedback(batch(items.clone(), "import-2")).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        assert!(err.message().contains("requests[2]"), "{}", err.message());
        let listed = client.list_feedback(authed(pb::ListFeedbackRequest { parent: "departments/parks".into(), ..Default::default() }, &staff)).await.unwrap().into_inner();
        assert_eq!(listed.feedback.len(), 1, "only the comment card: failed batches left nothing");
        items[2].feedback.as_mut().unwrap().service_category_id = "playgrounds".into();
        let done = client.batch_submit_feedback(batch(items.clone(), "import-3")).await.unwrap().into_inner();
        assert_eq!(done.results.len(), 3);
        let again = client.batch_submit_feedback(batch(items, "import-3")).await.unwrap().into_inner();
        assert_eq!(again, done, "a retried batch returns the same results");
        // Item by item: the good items are filed, each bad one answers its own status.
        let mut mixed = vec![item("d"), item("e"), item("f"), item("g")];
        mixed[1].feedback.as_mut().unwrap().csat = Some(7);
        mixed[2].feedback.as_mut().unwrap().service_category_id = "no-such-category".into();
        mixed[3].feedback.as_mut().unwrap().internal_customer = "departments/water".into();
        let each = |items: Vec<pb::SubmitFeedbackRequest>, id: &str| authed(pb::BatchSubmitFeedbackRequest { parent: "departments/parks".into(), requests: items, request_id: id.into(), allow_partial_success: true }, &staff);
        let partial = client.batch_submit_feedback(each(mixed.clone(), "import-5")).await.unwrap().into_inner();
        let codes: Vec<i32> = partial.statuses.iter().map(|s| s.code).collect();
        assert_eq!(codes, [0, Code::InvalidArgument as i32, Code::FailedPrecondition as i32, Code::InvalidArgument as i32]);
        assert_eq!(partial.results.len(), 4);
        assert_eq!(partial.results[0].feedback.as_ref().unwrap().text, "d", "the good item is filed");
        assert!(partial.results[1].feedback.is_none(), "a refused item has no result");
        let details = tonic::Status::with_details(Code::InvalidArgument, "", prost::Message::encode_to_vec(&partial.statuses[1]).into());
        assert_eq!(bad_fields(&details), ["requests[1].feedback.csat"], "the item's field is named");
        assert!(partial.statuses[2].message.starts_with("requests[2]: "), "{}", partial.statuses[2].message);
        let after = client.list_feedback(authed(pb::ListFeedbackRequest { parent: "departments/parks".into(), ..Default::default() }, &staff)).await.unwrap().into_inner();
        assert_eq!(after.feedback.len(), 5, "the comment card, the three of the batch before and one of this one");
        let replay = client.batch_submit_feedback(each(mixed, "import-5")).await.unwrap().into_inner();
        assert_eq!(replay, partial, "a retry answers the same statuses and filings");
        let too_many = vec![item("x"); 1001];
        assert_eq!(bad_fields(&client.batch_submit_feedback(batch(too_many, "import-4")).await.unwrap_err()), ["requests"]);
        let surveys = client.list_feedback(authed(pb::ListFeedbackRequest { parent: "departments/parks".into(), kind: pb::FeedbackKind::SurveyResponse as i32, page_size: 2, ..Default::default() }, &staff)).await.unwrap().into_inner();
        assert_eq!(surveys.feedback.len(), 2);
        assert!(!surveys.next_page_token.is_empty());
    }

    async fn tenants_internal_customers_and_case_queues(app: &TestApp) {
        for d in ["streets", "water", "parks"] {
            create_department(app, d).await;
        }
        let water_staff = app.staff("water").await;
        let streets_cso = app.cso("streets").await;
        let mut client = app.feedback();
        // Water rates Streets' service as an internal customer.
        let mut rating = feedback(pb::Channel::Email, pb::FeedbackKind::Complaint, "Permit review took three weeks");
        rating.internal_customer = "departments/water".into();
        rating.csat = Some(2);
        let internal = client.submit_feedback(authed(submit("streets", rating.clone(), None, "int-1"), &water_staff)).await.unwrap().into_inner();
        assert_eq!(internal.feedback.as_ref().unwrap().internal_customer, "departments/water");
        rating.internal_customer = "departments/parks".into();
        let err = client.submit_feedback(authed(submit("streets", rating, None, "int-2"), &water_staff)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["feedback.internal_customer"], "one rates on behalf of one's own department");
        // Water staff cannot read Streets' feedback or cases: they do not exist for them.
        let name = internal.feedback.unwrap().name;
        let err = client.get_feedback(authed(pb::GetFeedbackRequest { name: name.clone() }, &water_staff)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let case_name = internal.case.unwrap().name;
        let err = client.get_case(authed(pb::GetCaseRequest { name: case_name.clone() }, &water_staff)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        // Streets tells internal from residents' feedback.
        let list = |source: pb::FeedbackSource| authed(pb::ListFeedbackRequest { parent: "departments/streets".into(), source: source as i32, ..Default::default() }, &streets_cso);
        assert_eq!(client.list_feedback(list(pb::FeedbackSource::InternalCustomers)).await.unwrap().into_inner().feedback.len(), 1);
        assert!(client.list_feedback(list(pb::FeedbackSource::Residents)).await.unwrap().into_inner().feedback.is_empty());
        // A service client (a survey importer) is bound to its departments.
        app.register_service("e2e-service", &["streets"], "").await;
        let importer = token(Role::Service, &["streets"]);
        let card = feedback(pb::Channel::CommentCard, pb::FeedbackKind::Suggestion, "More benches");
        client.submit_feedback(authed(submit("streets", card.clone(), None, "svc-1"), &importer)).await.unwrap();
        let err = client.submit_feedback(authed(submit("water", card, None, "svc-2"), &importer)).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound);

        // "No wrong door": closing as not ours needs a real owner and a reason.
        let err = client.close_case(authed(pb::CloseCaseRequest { name: case_name.clone(), owner_department: "departments/nowhere".into(), note: "Permits are L&I".into(), ..Default::default() }, &streets_cso)).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition);
        let err = client.close_case(authed(pb::CloseCaseRequest { name: case_name.clone(), owner_department: "departments/parks".into(), ..Default::default() }, &streets_cso)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["note"]);
        let closed = client.close_case(authed(pb::CloseCaseRequest { name: case_name.clone(), owner_department: "departments/parks".into(), note: "Park permits are Parks'".into(), ..Default::default() }, &streets_cso)).await.unwrap().into_inner().case.unwrap();
        assert_eq!((closed.state, closed.owner_department.as_str()), (pb::CaseState::Closed as i32, "departments/parks"));
        // Streets' card keeps the two populations apart, and the "not ours" closure is a
        // redirection, never an acknowledgement.
        let req = pb::GetReportCardRequest { department: "departments/streets".into(), period: pb::ReportPeriod::Day as i32, date: String::new() };
        let card = app.coordination().get_report_card(authed(req, &chief())).await.unwrap().into_inner().report_card.unwrap();
        let internal = card.internal_customers.unwrap();
        assert_eq!((internal.volume, internal.complaints, internal.csat_average), (1, 1, Some(2.0)));
        let residents = card.residents.unwrap();
        assert_eq!((residents.volume, residents.complaints, card.volume), (1, 0, 1), "the importer's comment card only");
        assert_eq!((card.redirected, card.acknowledged, card.acknowledge_sla_percent), (1, 0, None));
        // A single submission may date itself at most 31 days back; history goes through a batch.
        let mut late = feedback(pb::Channel::CommentCard, pb::FeedbackKind::Compliment, "Thanks for the new bench");
        late.occur_time = Some(prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() - 40 * 86_400, nanos: 0 });
        let err = client.submit_feedback(authed(submit("streets", late, None, "late-1"), &streets_cso)).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["feedback.occur_time"]);

        // Case queues: by state, and soonest due first.
        for i in 0..3 {
            let c = feedback(pb::Channel::Web, pb::FeedbackKind::Complaint, &format!("Pothole {i}"));
            client.submit_feedback(authed(submit("streets", c, None, &format!("web-{i}")), &streets_cso)).await.unwrap();
        }
        let open = client.list_cases(authed(pb::ListCasesRequest { parent: "departments/streets".into(), state: pb::CaseState::Open as i32, order: pb::CaseOrder::ResolveDue as i32, ..Default::default() }, &streets_cso)).await.unwrap().into_inner();
        assert_eq!(open.cases.len(), 3);
        assert!(open.cases.windows(2).all(|w| secs(&w[0].resolve_due_time) <= secs(&w[1].resolve_due_time)));
        let overdue = client.list_cases(authed(pb::ListCasesRequest { parent: "departments/-".into(), overdue_only: true, ..Default::default() }, &streets_cso)).await.unwrap().into_inner();
        assert!(overdue.cases.is_empty(), "nothing is overdue yet (default targets are a day and more)");
    }
}
