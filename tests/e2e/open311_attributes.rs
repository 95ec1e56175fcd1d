//! Service attributes end to end: a CSO gives a service its questions over gRPC, the Open311
//! gateway publishes them (`metadata`, the definition in JSON and XML), answers posted by a 311 app
//! or submitted over gRPC are checked against them (a 400 or INVALID_ARGUMENT naming the
//! attribute), kept with the feedback, replayed the same by a retried batch, never rewritten by a
//! later change of the questions, and erased with the resident; undeclared answers follow the
//! city's setting.
use crate::both_backends;
use crate::harness::*;
use crate::open311::{city, get, post};
use cityserve_proto::v1 as pb;
use tonic::Code;

fn choice(key: &str, name: &str) -> pb::AttributeChoice {
    pb::AttributeChoice { key: key.into(), name: name.into() }
}

/// One question of every datatype (orders left unset for two: they follow the others).
pub(crate) fn hydrant_questions() -> Vec<pb::ServiceAttribute> {
    use pb::AttributeDatatype as T;
    let q = |code: &str, datatype: T, required, order, values| pb::ServiceAttribute {
        code: code.into(),
        datatype: datatype as i32,
        required,
        variable: true,
        description: format!("{code}?"),
        datatype_description: String::new(),
        order,
        values,
    };
    vec![
        q("notes", T::Text, false, 0, vec![]),
        q("state", T::SingleValueList, true, 2, vec![choice("open", "Open"), choice("leaking", "Leaking")]),
        q("water_going", T::MultiValueList, false, 3, vec![choice("street", "Street"), choice("sidewalk", "Sidewalk")]),
        q("flow", T::Number, false, 4, vec![]),
        q("since", T::Datetime, false, 5, vec![]),
        q("cap_number", T::String, false, 0, vec![]),
        pb::ServiceAttribute {
            variable: false,
            datatype_description: String::new(),
            description: "Keep away from an open hydrant.".into(),
            ..q("safety", T::String, false, 1, vec![])
        },
    ]
}

/// Creates `dept`'s category `id` asking `questions`, as the department's CSO.
pub(crate) async fn create_asking(
    app: &TestApp,
    dept: &str,
    id: &str,
    questions: Vec<pb::ServiceAttribute>,
) -> pb::ServiceCategory {
    let category =
        pb::ServiceCategory { display_name: "Fire hydrant".into(), attributes: questions, ..Default::default() };
    create_category_as(app, dept, id, category, &app.cso(dept).await).await
}

fn answer(code: &str, values: &[&str]) -> pb::AttributeAnswer {
    pb::AttributeAnswer { code: code.into(), values: values.iter().map(|v| (*v).to_owned()).collect() }
}

async fn feedback_of(app: &TestApp, service_request_id: &str) -> pb::Feedback {
    let (d, id) = service_request_id.split_once('.').unwrap();
    app.feedback()
        .get_feedback(authed(pb::GetFeedbackRequest { name: format!("departments/{d}/feedback/{id}") }, &chief()))
        .await
        .unwrap()
        .into_inner()
        .feedback
        .unwrap()
}

both_backends! {
    async fn service_attributes_are_published_checked_and_kept(app: &TestApp) {
        let key = city(app, "hydrant-app").await;
        // Definitions are checked, each violation named.
        let mut bad = hydrant_questions();
        bad[1].values.clear();
        bad[2].code = "state".into();
        bad[3].datatype = 0;
        let cso = app.cso("streets").await;
        let refused = app
            .departments()
            .create_service_category(authed(
                pb::CreateServiceCategoryRequest {
                    parent: "departments/streets".into(),
                    service_category_id: "hydrant".into(),
                    service_category: Some(pb::ServiceCategory { display_name: "Fire hydrant".into(), attributes: bad, ..Default::default() }),
                    request_id: "cat-bad".into(),
                },
                &cso,
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(
            bad_fields(&refused),
            ["service_category.attributes[3].datatype", "service_category.attributes[1].values", "service_category.attributes[2].code"]
        );
        let created = create_asking(app, "streets", "hydrant", hydrant_questions()).await;
        let order: Vec<(&str, i32)> = created.attributes.iter().map(|a| (a.code.as_str(), a.order)).collect();
        assert_eq!(order, [("safety", 1), ("state", 2), ("water_going", 3), ("flow", 4), ("since", 5), ("notes", 6), ("cap_number", 7)]);

        // Published: metadata, and the definition in both formats.
        let services = get(app, "/open311/v2/services.json").await.json();
        let metadata: Vec<(&str, bool)> = services.as_array().unwrap().iter().map(|s| (s["service_code"].as_str().unwrap(), s["metadata"].as_bool().unwrap())).collect();
        assert_eq!(metadata, [("streets.graffiti", false), ("streets.hydrant", true), ("streets.pothole", false)]);
        let definition = get(app, "/open311/v2/services/streets.hydrant.json").await.json();
        assert_eq!(definition["attributes"].as_array().unwrap().len(), 7);
        assert_eq!(
            definition["attributes"][0],
            serde_json::json!({"variable": false, "code": "safety", "datatype": "string", "required": false, "datatype_description": null, "order": 1, "description": "Keep away from an open hydrant.", "values": []})
        );
        assert_eq!(
            definition["attributes"][1],
            serde_json::json!({"variable": true, "code": "state", "datatype": "singlevaluelist", "required": true, "datatype_description": null, "order": 2, "description": "state?", "values": [{"key": "open", "name": "Open"}, {"key": "leaking", "name": "Leaking"}]})
        );
        let xml = get(app, "/open311/v2/services/streets.hydrant.xml").await.body;
        assert!(
            xml.contains("<attribute><variable>true</variable><code>state</code><datatype>singlevaluelist</datatype><required>true</required><datatype_description/><order>2</order><description>state?</description><values><value><key>open</key><name>Open</name></value><value><key>leaking</key><name>Leaking</name></value></values></attribute>"),
            "{xml}"
        );

        // A 311 app's POST: every datatype, a list written two ways, an app's own attribute.
        let fields = [
            ("api_key", key.as_str()),
            ("service_code", "streets.hydrant"),
            ("address_string", "5th St & Market St"),
            ("email", "hydrant.reporter@example.org"),
            ("attribute[state]", " open "),
            ("attribute[water_going][]", "street"),
            ("attribute[water_going][]", "sidewalk"),
            ("attribute[flow]", "40.5"),
            ("attribute[since]", "2026-12-04T11:30:00-05:00"),
            ("attribute[notes]", "Kids opened it\r\nwith a wrench"),
            ("attribute[cap_number]", ""),
            ("attribute[app_version]", "4.2.1"),
            ("media_url", "https://photos.example.org/hydrant.jpg"),
            ("device_id", "hydrant-device-42"),
        ];
        let filed = post(app, "json", &fields, &[]).await;
        assert_eq!(filed.status, 200, "{}", filed.body);
        let id = filed.json()[0]["service_request_id"].as_str().unwrap().to_owned();
        let stored = feedback_of(app, &id).await;
        assert_eq!(
            stored.attributes,
            [
                answer("state", &["open"]),
                answer("water_going", &["street", "sidewalk"]),
                answer("flow", &["40.5"]),
                answer("since", &["2026-12-04T11:30:00-05:00"]),
                answer("notes", &["Kids opened it\r\nwith a wrench"]),
                answer("app_version", &["4.2.1"]),
            ],
            "trimmed, the empty answer dropped, the app's own kept"
        );
        assert_eq!(stored.media_urls, ["https://photos.example.org/hydrant.jpg"]);

        // Wrong answers: a 400 naming the attribute as the client sent it; nothing filed.
        let count = || async {
            app.feedback()
                .list_feedback(authed(pb::ListFeedbackRequest { parent: "departments/streets".into(), page_size: 100, ..Default::default() }, &chief()))
                .await
                .unwrap()
                .into_inner()
                .feedback
                .len()
        };
        let before = count().await;
        for (field, value, named) in [
            ("attribute[state]", "", "attribute[state]: is required"),
            ("attribute[state]", "closed", "attribute[state]: \"closed\" is not one of its choices (open, leaking)"),
            ("attribute[flow]", "lots", "attribute[flow]: must be a number"),
            ("attribute[since]", "yesterday", "attribute[since]: must be a date and time"),
            ("attribute[water_going][]", "basement", "attribute[water_going]: \"basement\" is not one of its choices"),
            ("attribute[safety]", "ok", "attribute[safety]: takes no answer"),
        ] {
            let mut wrong = vec![("api_key", key.as_str()), ("service_code", "streets.hydrant"), ("address_string", "5th St")];
            if field != "attribute[state]" {
                wrong.push(("attribute[state]", "leaking"));
            }
            wrong.push((field, value));
            let r = post(app, "json", &wrong, &[]).await;
            assert_eq!(r.status, 400, "{field}={value}: {}", r.body);
            assert_eq!(r.json()[0]["code"], 400);
            let description = r.json()[0]["description"].as_str().unwrap().to_owned();
            assert!(description.starts_with(named), "{field}={value}: {description}");
            let x = crate::open311::post(app, "xml", &wrong, &[]).await;
            assert!(x.body.contains(&format!("<description>{}", named.split(':').next().unwrap())), "{}", x.body);
        }
        assert_eq!(count().await, before, "a refused report files nothing");

        // The same checks over gRPC, in a batch item by item, and in a retry of that batch.
        let n = std::sync::atomic::AtomicU32::new(0);
        let submit = |answers: Vec<pb::AttributeAnswer>| pb::SubmitFeedbackRequest {
            parent: "departments/streets".into(),
            feedback: Some(pb::Feedback {
                channel: pb::Channel::Phone as i32,
                kind: pb::FeedbackKind::Complaint as i32,
                service_category_id: "hydrant".into(),
                attributes: answers,
                ..Default::default()
            }),
            request_id: format!("hydrant-{}", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)),
            ..Default::default()
        };
        let staff = app.staff("streets").await;
        let e = app.feedback().submit_feedback(authed(submit(vec![answer("flow", &["x"])]), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert_eq!(bad_fields(&e), ["feedback.attributes[flow]", "feedback.attributes[state]"]);
        let e = app.feedback().submit_feedback(authed(submit(vec![answer("state", &["open"]), answer("state", &["leaking"])]), &staff)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["feedback.attributes[state]"], "answered twice");
        let batch = pb::BatchSubmitFeedbackRequest {
            parent: "departments/streets".into(),
            requests: vec![submit(vec![answer("state", &["leaking"])]), submit(vec![answer("state", &["gone"])])],
            request_id: "hydrant-batch-1".into(),
            allow_partial_success: true,
        };
        for attempt in ["first", "retry"] {
            let r = app.feedback().batch_submit_feedback(authed(batch.clone(), &staff)).await.unwrap().into_inner();
            assert_eq!(r.statuses[0].code, 0, "{attempt}");
            assert_eq!(r.statuses[1].code, Code::InvalidArgument as i32, "{attempt}: {:?}", r.statuses[1]);
            assert!(r.statuses[1].message.contains("feedback.attributes[state]"), "{attempt}: {:?}", r.statuses[1]);
            assert_eq!(r.results[0].feedback.as_ref().unwrap().attributes, [answer("state", &["leaking"])]);
        }
        let all_or_nothing = pb::BatchSubmitFeedbackRequest { request_id: "hydrant-batch-2".into(), allow_partial_success: false, ..batch };
        let e = app.feedback().batch_submit_feedback(authed(all_or_nothing, &staff)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["requests[1].feedback.attributes[state]"]);

        // Changing the questions never rewrites earlier answers, and applies to the next report.
        let mut fewer = created.clone();
        fewer.attributes.retain(|a| a.code != "state");
        app.departments()
            .update_service_category(authed(
                pb::UpdateServiceCategoryRequest { service_category: Some(fewer), update_mask: Some(prost_types::FieldMask { paths: vec!["attributes".into()] }) },
                &cso,
            ))
            .await
            .unwrap();
        assert_eq!(feedback_of(app, &id).await.attributes[0], answer("state", &["open"]));
        let now_optional = post(app, "json", &[("api_key", key.as_str()), ("service_code", "streets.hydrant"), ("address_string", "5th St")], &[]).await;
        assert_eq!(now_optional.status, 200, "{}", now_optional.body);
        // The former question is an undeclared answer now: kept as sent.
        let kept = post(app, "json", &[("api_key", key.as_str()), ("service_code", "streets.hydrant"), ("address_string", "5th St"), ("attribute[state]", "closed")], &[]).await;
        assert_eq!(kept.status, 200, "{}", kept.body);

        // Erasure forgets the answers with the rest of the resident's report.
        assert!(!app.rows_containing("with a wrench").await.is_empty());
        assert!(!app.rows_containing("hydrant-device-42").await.is_empty());
        let erase = pb::EraseResidentRequest { resident: String::new(), contact: Some(pb::ResidentContact { email: "hydrant.reporter@example.org".into(), ..Default::default() }) };
        app.feedback().erase_resident(authed(erase, &chief())).await.unwrap();
        assert_eq!(app.rows_containing("with a wrench").await, Vec::<(String, i64)>::new());
        assert_eq!(app.rows_containing("hydrant-device-42").await, Vec::<(String, i64)>::new(), "the app's identifiers go too");
        assert!(feedback_of(app, &id).await.attributes.is_empty());
    }
}

/// Answers to codes the service does not define, under each setting of
/// `open311_undeclared_attributes` (kept is the default, above).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_answers_follow_the_city_setting() {
    for (setting, status) in [("ignore", 200), ("refuse", 400)] {
        let app = TestApp::start_with(Db::Sqlite, |c| {
            c.open311_undeclared_attributes = cityserve_open311::UndeclaredAttributes::parse(setting).unwrap()
        })
        .await
        .unwrap();
        let key = city(&app, "app").await;
        create_asking(&app, "streets", "hydrant", hydrant_questions()).await;
        let fields = [
            ("api_key", key.as_str()),
            ("service_code", "streets.hydrant"),
            ("address_string", "5th St"),
            ("attribute[state]", "open"),
            ("attribute[app_version]", "4.2.1"),
        ];
        let r = post(&app, "json", &fields, &[]).await;
        assert_eq!(r.status, status, "{setting}: {}", r.body);
        if setting == "refuse" {
            assert_eq!(
                r.json()[0]["description"],
                "attribute[app_version]: service streets.hydrant does not define it"
            );
        } else {
            let id = r.json()[0]["service_request_id"].as_str().unwrap().to_owned();
            assert_eq!(feedback_of(&app, &id).await.attributes, [answer("state", &["open"])], "{setting}");
        }
    }
}
