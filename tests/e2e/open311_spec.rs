//! The Open311 gateway as a 311 vendor's app and a public tracker use it: the spec's limits,
//! filters and error documents, with nothing dropped on the way (issue "Open311 without
//! asterisks").
use crate::both_backends;
use crate::harness::*;
use crate::open311::{city, get, post};
use cityserve_proto::v1 as pb;

/// Files a pothole report with `extra` fields; returns its `service_request_id`.
async fn file(app: &TestApp, key: &str, extra: &[(&str, &str)]) -> String {
    let mut fields = vec![("api_key", key), ("service_code", "streets.pothole"), ("address_string", "1400 JFK Blvd")];
    fields.extend_from_slice(extra);
    let r = post(app, "json", &fields, &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()[0]["service_request_id"].as_str().unwrap().to_owned()
}

both_backends! {
    async fn open311_filters_follow_the_spec(app: &TestApp) {
        let key = city(app, "tracker").await;
        let open = file(app, &key, &[]).await;
        let closed = file(app, &key, &[]).await;
        let cso = app.cso("streets").await;
        let case = format!("departments/streets/cases/{}", closed.trim_start_matches("streets."));
        let mut f = app.feedback();
        f.start_case(authed(pb::StartCaseRequest { name: case.clone(), ..Default::default() }, &cso)).await.unwrap();
        f.resolve_case(authed(pb::ResolveCaseRequest { name: case, ..Default::default() }, &cso)).await.unwrap();

        // Repeated parameters are all honoured, in either order.
        for q in ["status=closed&status=open", "status=open,closed"] {
            let both = get(app, &format!("/open311/v2/requests.json?{q}")).await;
            assert_eq!(both.json().as_array().unwrap().len(), 2, "{q}: {}", both.body);
        }
        // service_request_id overrides every other filter, even ones that would fail alone.
        let by_id = get(app, &format!("/open311/v2/requests.json?service_request_id={open}&status=closed&service_code=streets.nothing&start_date=never")).await;
        assert_eq!(by_id.status, 200, "{}", by_id.body);
        assert_eq!(by_id.json()[0]["service_request_id"], open.as_str());
        let ids = get(app, &format!("/open311/v2/requests.json?service_request_id={open}&service_request_id={closed}")).await;
        assert_eq!(ids.json().as_array().unwrap().len(), 2, "{}", ids.body);
        // A poller whose clock runs ahead gets an empty list, not an error naming end_date.
        let ahead = (chrono::Utc::now() + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ");
        let future = get(app, &format!("/open311/v2/requests.json?start_date={ahead}")).await;
        assert_eq!((future.status, future.json()), (200, serde_json::json!([])), "{}", future.body);
        // W3C dates with minute precision and a zone offset, and whole days.
        let since = (chrono::Utc::now() - chrono::Duration::hours(2)).with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).unwrap());
        let minutes = since.format("%Y-%m-%dT%H:%M%:z").to_string();
        let by_minute = get(app, &format!("/open311/v2/requests.json?start_date={}", minutes.replace('+', "%2B"))).await;
        assert_eq!(by_minute.json().as_array().map(Vec::len), Some(2), "{minutes}: {}", by_minute.body);
        let day = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
        assert_eq!(get(app, &format!("/open311/v2/requests.json?start_date={day}")).await.json().as_array().map(Vec::len), Some(2));
        // service_notice is in every GET, as in the POST answer.
        let one = get(app, &format!("/open311/v2/requests/{open}.json")).await.json();
        assert!(one[0]["service_notice"].as_str().unwrap().starts_with("Expected to be resolved by"), "{one}");
        assert_eq!(one[0]["address_id"], serde_json::Value::Null, "no address_id sent, none returned");
    }

    async fn open311_address_id_comes_back_as_sent(app: &TestApp) {
        let key = city(app, "crm").await;
        // A location by the city's address register alone: kept as the ID, not folded into the address.
        let fields = [("api_key", key.as_str()), ("service_code", "streets.pothole"), ("address_id", "PWD-0042-117")];
        let r = post(app, "json", &fields, &[]).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()[0]["service_request_id"].as_str().unwrap().to_owned();
        let one = get(app, &format!("/open311/v2/requests/{id}.json")).await.json();
        assert_eq!(one[0]["address_id"], "PWD-0042-117", "{one}");
        assert_eq!(one[0]["address"], "", "{one}");
        let xml = get(app, &format!("/open311/v2/requests/{id}.xml")).await;
        assert!(xml.body.contains("<address_id>PWD-0042-117</address_id>"), "{}", xml.body);
        // gRPC sees it on the feedback's location.
        let cso = app.cso("streets").await;
        let name = format!("departments/streets/feedback/{}", id.trim_start_matches("streets."));
        let fb = app.feedback().get_feedback(authed(pb::GetFeedbackRequest { name }, &cso)).await.unwrap().into_inner().feedback.unwrap();
        assert_eq!(fb.location.unwrap().address_id, "PWD-0042-117");
    }

    async fn open311_limits_and_text_survive_the_round_trip(app: &TestApp) {
        let key = city(app, "kiosk").await;
        // The spec's 4,000 characters: at the limit filed, past it refused naming the field.
        let longest = "é".repeat(4_000);
        file(app, &key, &[("description", &longest)]).await;
        let over = "é".repeat(4_001);
        let refused = post(app, "json", &[("api_key", &key), ("service_code", "streets.pothole"), ("address_string", "x"), ("description", &over)], &[]).await;
        assert_eq!(refused.status, 400);
        assert!(refused.json()[0]["description"].as_str().unwrap().starts_with("description"), "{}", refused.body);
        // CRLF comes back byte for byte from XML (as a character reference the parser keeps).
        let id = file(app, &key, &[("description", "line one\r\nline two")]).await;
        let xml = get(app, &format!("/open311/v2/requests/{id}.xml")).await;
        assert!(xml.body.contains("<description>line one&#xD;\nline two</description>"), "{}", xml.body);
        assert_eq!(get(app, &format!("/open311/v2/requests/{id}.json")).await.json()[0]["description"], "line one\r\nline two");
        // Phone numbers as residents type them, extension and all.
        for phone in ["215-555-0142 ext. 12", "(215) 555-0142 x3"] {
            file(app, &key, &[("phone", phone)]).await;
        }
    }

    async fn open311_errors_are_the_spec_document_for_every_status(app: &TestApp) {
        let key = city(app, "vendor").await;
        // 405 in the format the path names, with Allow.
        let put = http(app.open311, "PUT", "/open311/v2/requests.xml", &[], Some("a=b")).await;
        assert_eq!(put.status, 405);
        assert_eq!(put.content_type, "text/xml; charset=utf-8");
        assert!(put.body.contains("<errors><error><code>405</code><description>"), "{}", put.body);
        assert_eq!(put.header("allow"), Some("GET, POST"));
        let delete = http(app.open311, "DELETE", "/open311/v2/services/streets.pothole.json", &[], None).await;
        crate::open311::conforms("DELETE", "/open311/v2/services/streets.pothole.json", &delete);
        assert_eq!((delete.status, delete.json()[0]["code"].as_i64()), (405, Some(405)));
        assert_eq!(delete.header("allow"), Some("GET"));
        // 413 as the spec's list, not text/plain.
        let huge = "x".repeat(70 * 1024);
        let big = post(app, "xml", &[("api_key", &key), ("description", &huge)], &[]).await;
        assert_eq!(big.status, 413);
        assert!(big.body.contains("<errors><error><code>413</code>"), "{}", big.body);
        // Unknown nested paths answer in the format they ask for.
        let nested = get(app, "/open311/v2/a/b/c.xml").await;
        assert_eq!((nested.status, nested.content_type.as_str()), (404, "text/xml; charset=utf-8"));
        assert!(nested.body.contains("<errors><error><code>404</code>"), "{}", nested.body);
        assert_eq!(get(app, "/open311/v2/a/b/c.json").await.json()[0]["code"], 404);
    }

    async fn open311_lists_every_public_request_whatever_its_channel(app: &TestApp) {
        let key = city(app, "tracker").await;
        create_department(app, "water").await;
        // Streets marks potholes public; graffiti stays private.
        let cso = app.cso("streets").await;
        let pothole = app
            .departments()
            .get_service_category(authed(pb::GetServiceCategoryRequest { name: "departments/streets/serviceCategories/pothole".into() }, &cso))
            .await
            .unwrap()
            .into_inner()
            .service_category
            .unwrap();
        assert!(!pothole.public, "off by default");
        let publish = |public: bool, current: &pb::ServiceCategory| pb::UpdateServiceCategoryRequest {
            service_category: Some(pb::ServiceCategory { public, ..current.clone() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["public".into()] }),
        };
        let updated = app.departments().update_service_category(authed(publish(true, &pothole), &cso)).await.unwrap().into_inner().service_category.unwrap();
        assert!(updated.public);
        // The contact centre enters calls and web forms over gRPC.
        let staff = app.staff("streets").await;
        let mut n = 0;
        let mut submit = |channel: pb::Channel, kind: pb::FeedbackKind, category: &str, text: &str, who: &str| {
            n += 1;
            let request = pb::SubmitFeedbackRequest {
                parent: "departments/streets".into(),
                feedback: Some(pb::Feedback {
                    channel: channel as i32,
                    kind: kind as i32,
                    service_category_id: category.into(),
                    text: text.into(),
                    location: Some(pb::Location { address: "5th St & Market St".into(), ..Default::default() }),
                    ..Default::default()
                }),
                resident: Some(pb::ResidentContact { email: format!("{who}@example.org"), ..Default::default() }),
                request_id: format!("public-{n}"),
                survey_token: String::new(),
                resolved: None,
            };
            let token = staff.clone();
            let mut client = app.feedback();
            async move { client.submit_feedback(authed(request, &token)).await.unwrap().into_inner().feedback.unwrap().name }
        };
        let phone = submit(pb::Channel::Channel311, pb::FeedbackKind::Complaint, "pothole", "Called 311: pothole by the bus stop", "caller").await;
        let web = submit(pb::Channel::Web, pb::FeedbackKind::Complaint, "pothole", "Web form: pothole", "webber").await;
        submit(pb::Channel::Channel311, pb::FeedbackKind::Complaint, "graffiti", "Graffiti on my own garage", "private").await;
        submit(pb::Channel::Web, pb::FeedbackKind::Compliment, "pothole", "Thanks for the quick fix", "happy").await;
        // An internal customer's complaint is never public.
        let water_staff = app.staff("water").await;
        app.feedback()
            .submit_feedback(authed(
                pb::SubmitFeedbackRequest {
                    parent: "departments/streets".into(),
                    feedback: Some(pb::Feedback {
                        channel: pb::Channel::Email as i32,
                        kind: pb::FeedbackKind::Complaint as i32,
                        service_category_id: "pothole".into(),
                        internal_customer: "departments/water".into(),
                        text: "Your crew cut our main".into(),
                        ..Default::default()
                    }),
                    resident: None,
                    request_id: "public-internal".into(),
                    survey_token: String::new(),
                    resolved: None,
                },
                &water_staff,
            ))
            .await
            .unwrap();
        let filed = file(app, &key, &[]).await;

        let request_id = |name: &str| format!("streets.{}", name.rsplit('/').next().unwrap());
        let list = get(app, "/open311/v2/requests.json").await;
        let listed = list.json();
        let mut listed_ids: Vec<String> = listed.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_owned()).collect();
        listed_ids.sort();
        let mut want = vec![request_id(&phone), request_id(&web), filed.clone()];
        want.sort();
        assert_eq!(listed_ids, want, "{listed}");
        for needle in ["caller@", "webber@", "private", "Graffiti on my own garage", "Your crew", "Thanks"] {
            assert!(!list.body.contains(needle), "{needle} is published: {}", list.body);
        }
        let one = get(app, &format!("/open311/v2/requests/{}.json", request_id(&phone))).await.json();
        assert_eq!(one[0]["service_code"], "streets.pothole");
        assert_eq!(one[0]["description"], "Called 311: pothole by the bus stop");
        assert_eq!(one[0]["status"], "open");
        assert!(one[0]["expected_datetime"].is_string(), "{one}");
        // Unpublished again: the category's calls and web forms leave the list; the Open311 filing stays.
        app.departments().update_service_category(authed(publish(false, &updated), &cso)).await.unwrap();
        let after = get(app, "/open311/v2/requests.json").await.json();
        let left: Vec<&str> = after.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
        assert_eq!(left, [filed.as_str()]);
    }

    async fn open311_discovery_is_absolute_and_dated_by_the_catalogue(app: &TestApp) {
        city(app, "portal").await;
        let d = get(app, "/open311/v2/discovery.json").await.json();
        let url = d["endpoints"][0]["url"].as_str().unwrap();
        assert_eq!(url, format!("http://{}/open311/v2", app.open311), "{d}");
        assert_ne!(d["changeset"], "2026-11-26T00:00:00Z", "not a hard-coded date");
        // The changeset is the newest change of any department or category: a new service moves it.
        let newest = create_category(app, "streets", "streetlight").await;
        let t = newest.update_time.unwrap();
        let at = chrono::DateTime::from_timestamp(t.seconds, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let after = get(app, "/open311/v2/discovery.xml").await;
        assert!(after.body.contains(&format!("<changeset>{at}</changeset>")), "{at}: {}", after.body);
        assert!(after.body.contains("<url>http://"), "{}", after.body);
    }
}

/// Only filed requests spend a key's budget; refusals spend their own allowance; 429 says when
/// to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_refusals_do_not_spend_the_budget() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.open311_requests_per_minute = 2).await.unwrap();
    let key = city(&app, "clumsy").await;
    let bad = [("api_key", key.as_str()), ("service_code", "streets.pothole")];
    for _ in 0..3 {
        assert_eq!(post(&app, "json", &bad, &[]).await.status, 400, "no location");
    }
    let good = [("api_key", key.as_str()), ("service_code", "streets.graffiti"), ("address_string", "Broad St")];
    assert_eq!(post(&app, "json", &good, &[]).await.status, 200);
    assert_eq!(post(&app, "json", &good, &[]).await.status, 200);
    let limited = post(&app, "xml", &good, &[]).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("<errors><error><code>429</code>"), "{}", limited.body);
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // A client sending only bad requests is stopped too (5x its budget of refusals).
    let flood = TestApp::start_with(Db::Sqlite, |c| c.open311_requests_per_minute = 2).await.unwrap();
    let key = city(&flood, "broken").await;
    let bad = [("api_key", key.as_str()), ("service_code", "streets.pothole")];
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post(&flood, "json", &bad, &[]).await.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 10, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429));
}

/// The configured public URL is what discovery publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_discovery_publishes_the_configured_url() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.open311_public_url = "https://311.city.gov/".into()).await.unwrap();
    let d = get(&app, "/open311/v2/discovery.json").await.json();
    assert_eq!(d["endpoints"][0]["url"], "https://311.city.gov/open311/v2");
}
