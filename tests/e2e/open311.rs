//! The Open311 GeoReport v2 gateway end to end, over plain HTTP: services and definitions, a POST
//! that becomes a complaint through SubmitFeedback's path, its status change showing up in
//! `GET requests`, JSON and XML, keys issued and revoked by the Chief, and the spec's errors.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::api_key_service_client::ApiKeyServiceClient;
use tonic::Code;

/// Streets with two services; returns a fresh API key for `client`.
pub(crate) async fn city(app: &TestApp, client: &str) -> String {
    create_department(app, "streets").await;
    create_category(app, "streets", "pothole").await;
    create_category(app, "streets", "graffiti").await;
    issue_key(app, client, &format!("key-{client}")).await.1
}

async fn issue_key(app: &TestApp, client: &str, request_id: &str) -> (pb::ApiKey, String) {
    let r = ApiKeyServiceClient::new(app.channel.clone())
        .create_api_key(authed(
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey { client_name: client.into(), ..Default::default() }),
                request_id: request_id.into(),
            },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner();
    (r.api_key.unwrap(), r.key)
}

/// POSTs `fields` to `requests.{fmt}`; a JSON answer is checked against the GeoReport v2 schemas.
pub(crate) async fn post(app: &TestApp, fmt: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> HttpResponse {
    let path = format!("/open311/v2/requests.{fmt}");
    let r = http(app.open311, "POST", &path, headers, Some(&form(fields))).await;
    conforms("POST", &path, &r);
    r
}

/// GETs `path`; a JSON answer is checked against the GeoReport v2 schemas.
pub(crate) async fn get(app: &TestApp, path: &str) -> HttpResponse {
    let r = http(app.open311, "GET", path, &[], None).await;
    conforms("GET", path, &r);
    r
}

/// The GeoReport v2 JSON Schemas the stock-client test validates against
/// (`tests/open311-client/schemas`), compiled once.
fn schemas() -> &'static (boon::Schemas, Vec<(&'static str, boon::SchemaIndex)>) {
    static SCHEMAS: std::sync::OnceLock<(boon::Schemas, Vec<(&'static str, boon::SchemaIndex)>)> =
        std::sync::OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/open311-client/schemas");
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let names = [
            "common",
            "errors",
            "services",
            "service-definition",
            "post-request-response",
            "service-requests",
            "token-response",
        ];
        for name in names {
            let text = std::fs::read_to_string(dir.join(format!("{name}.schema.json"))).unwrap();
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            compiler.add_resource(&format!("urn:cityserve:open311:georeport-v2:{name}"), doc).unwrap();
        }
        let mut schemas = boon::Schemas::new();
        let compiled = names
            .iter()
            .filter(|n| **n != "common")
            .map(|n| (*n, compiler.compile(&format!("urn:cityserve:open311:georeport-v2:{n}"), &mut schemas).unwrap()))
            .collect();
        (schemas, compiled)
    })
}

/// Checks a JSON answer of the gateway against the spec's schema for what was asked (an error
/// list for every status but 200); `discovery` has no schema.
pub(crate) fn conforms(method: &str, path: &str, r: &HttpResponse) {
    if !r.content_type.starts_with("application/json") {
        return;
    }
    let route = path.split('?').next().unwrap_or_default().trim_start_matches("/open311/v2/");
    let name = match (r.status, method) {
        (200, "POST") => "post-request-response",
        (200, _) if route == "services.json" => "services",
        (200, _) if route.starts_with("services/") => "service-definition",
        (200, _) if route.starts_with("requests") => "service-requests",
        (200, _) if route.starts_with("tokens/") => "token-response",
        (200, _) => return,
        _ => "errors",
    };
    let (schemas, compiled) = schemas();
    let index = compiled.iter().find(|(n, _)| *n == name).map(|(_, i)| *i).unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {}", r.body));
    if let Err(e) = schemas.validate(&doc, index) {
        panic!("{method} {path} ({}) does not validate against {name}.schema.json: {e}\n{}", r.status, r.body);
    }
}

both_backends! {
    async fn open311_services_and_definitions_in_json_and_xml(app: &TestApp) {
        city(app, "fixmystreet").await;
        let r = get(app, "/open311/v2/services.json").await;
        assert_eq!((r.status, r.content_type.as_str()), (200, "application/json; charset=utf-8"));
        let services = r.json();
        let codes: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["streets.graffiti", "streets.pothole"]);
        let pothole = &services[1];
        assert_eq!(pothole["service_name"], "POTHOLE");
        assert_eq!(pothole["group"], "Department of streets");
        assert_eq!(pothole["keywords"], "pothole");
        assert_eq!((pothole["metadata"].as_bool(), pothole["type"].as_str()), (Some(false), Some("realtime")));

        let x = get(app, "/open311/v2/services.xml").await;
        assert_eq!((x.status, x.content_type.as_str()), (200, "text/xml; charset=utf-8"));
        assert!(x.body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>streets.graffiti</service_code>"), "{}", x.body);

        let d = get(app, "/open311/v2/services/streets.pothole.json").await;
        assert_eq!(d.status, 200);
        assert_eq!(d.json(), serde_json::json!({"service_code": "streets.pothole", "attributes": []}));
        let dx = get(app, "/open311/v2/services/streets.pothole.xml").await;
        assert!(dx.body.ends_with("<service_definition><service_code>streets.pothole</service_code><attributes/></service_definition>"), "{}", dx.body);

        let missing = get(app, "/open311/v2/services/streets.nothing.json").await;
        assert_eq!(missing.status, 404);
        assert_eq!(missing.json()[0]["code"], 404);
        assert!(missing.json()[0]["description"].as_str().unwrap().contains("streets.nothing"));
        let xml_err = get(app, "/open311/v2/services/nothing.xml").await;
        assert_eq!(xml_err.status, 404);
        assert!(xml_err.body.contains("<errors><error><code>404</code><description>"), "{}", xml_err.body);
        assert_eq!(get(app, "/open311/v2/services.html").await.status, 404);
        assert_eq!(get(app, "/elsewhere").await.status, 404);
    }

    async fn open311_request_round_trip(app: &TestApp) {
        let key = city(app, "kiosk").await;
        let fields = [
            ("api_key", key.as_str()),
            ("service_code", "streets.pothole"),
            ("lat", "39.9526"),
            ("long", "-75.1652"),
            ("address_string", "1400 John F Kennedy Blvd"),
            ("email", "pat.resident@example.org"),
            ("first_name", "Pat"),
            ("last_name", "Quennell-Moss"),
            ("description", "Deep pothole in the bike lane"),
            ("media_url", "https://img.example.org/p.jpg"),
            ("device_id", "ios-7f3a9c"),
            ("account_id", "acct-99127"),
        ];
        let created = post(app, "json", &fields, &[("Idempotency-Key", "kiosk-0001")]).await;
        assert_eq!(created.status, 200, "{}", created.body);
        let id = created.json()[0]["service_request_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("streets.fb-"), "{id}");
        assert!(created.json()[0]["service_notice"].as_str().unwrap().starts_with("Expected to be resolved by"));
        assert_eq!(created.json()[0]["account_id"], "acct-99127", "the account is answered as sent");
        // A retry with the same Idempotency-Key files nothing new.
        let again = post(app, "json", &fields, &[("Idempotency-Key", "kiosk-0001")]).await;
        assert_eq!(again.json()[0]["service_request_id"], id.as_str());

        let one = get(app, &format!("/open311/v2/requests/{id}.json")).await;
        assert_eq!(one.status, 200);
        let r = &one.json()[0];
        assert_eq!(r["status"], "open");
        assert_eq!(r["service_code"], "streets.pothole");
        assert_eq!(r["service_name"], "POTHOLE");
        assert_eq!(r["agency_responsible"], "Department of streets");
        assert_eq!(r["address"], "1400 John F Kennedy Blvd");
        assert_eq!(r["lat"], 39.9526);
        assert_eq!(r["description"], "Deep pothole in the bike lane", "the media reference is not folded into the text");
        assert_eq!(r["media_url"], "https://img.example.org/p.jpg");
        assert!(r["expected_datetime"].as_str().unwrap().ends_with('Z'));
        assert!(!one.body.contains("pat.resident"), "contact details are never published");
        assert!(!one.body.contains("Quennell-Moss"), "nor the resident's name");
        assert!(!one.body.contains("ios-7f3a9c") && !one.body.contains("acct-99127"), "nor the app's identifiers");
        assert_eq!(app.rows_containing("Quennell-Moss").await, [("resident_contact_details".to_owned(), 1)], "first and last name are kept as contact data");

        // The complaint is a case like any other: Streets works it through gRPC.
        let case_name = format!("departments/streets/cases/{}", id.trim_start_matches("streets."));
        let cso = app.cso("streets").await;
        let mut f = app.feedback();
        let fb = f
            .get_feedback(authed(pb::GetFeedbackRequest { name: format!("departments/streets/feedback/{}", id.trim_start_matches("streets.")) }, &cso))
            .await
            .unwrap()
            .into_inner()
            .feedback
            .unwrap();
        assert_eq!(fb.channel, pb::Channel::Channel311 as i32);
        assert_eq!(fb.kind, pb::FeedbackKind::Complaint as i32);
        assert!(!fb.resident_key.is_empty(), "the e-mail became the resident's contact details");
        assert_eq!(fb.media_urls, ["https://img.example.org/p.jpg"], "gRPC sees the media reference too");
        assert_eq!((fb.device_id.as_str(), fb.account_id.as_str()), ("ios-7f3a9c", "acct-99127"), "and the app's identifiers");
        let mut bad_media = fields;
        bad_media[9] = ("media_url", "file:///etc/passwd");
        let refused = post(app, "json", &bad_media, &[]).await;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains("media_url"), "{}", refused.body);
        f.add_case_note(authed(pb::AddCaseNoteRequest { name: case_name.clone(), etag: String::new(), text: "Crew scheduled for Friday".into(), public: true }, &cso)).await.unwrap();
        f.add_case_note(authed(pb::AddCaseNoteRequest { name: case_name.clone(), etag: String::new(), text: "internal: overtime approved".into(), public: false }, &cso)).await.unwrap();
        f.start_case(authed(pb::StartCaseRequest { name: case_name.clone(), ..Default::default() }, &cso)).await.unwrap();
        f.resolve_case(authed(pb::ResolveCaseRequest { name: case_name.clone(), ..Default::default() }, &cso)).await.unwrap();

        let closed = get(app, "/open311/v2/requests.json?status=closed&service_code=streets.pothole").await;
        let list = closed.json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        assert_eq!(list[0]["service_request_id"], id.as_str());
        assert_eq!(list[0]["status"], "closed");
        assert_eq!(list[0]["status_notes"], "Crew scheduled for Friday", "the public note only");
        assert_eq!(get(app, "/open311/v2/requests.json?status=open").await.json(), serde_json::json!([]));
        let xml = get(app, &format!("/open311/v2/requests/{id}.xml")).await;
        assert!(xml.body.contains("<service_requests><request><service_request_id>"), "{}", xml.body);
        assert!(xml.body.contains("<status>closed</status><status_notes>Crew scheduled for Friday</status_notes>"), "{}", xml.body);
        let token = get(app, &format!("/open311/v2/tokens/{id}.json")).await;
        assert_eq!(token.json(), serde_json::json!([{"service_request_id": id, "token": id}]));
        // Paging extension.
        let page2 = get(app, "/open311/v2/requests.json?page=2&page_size=1").await;
        assert_eq!(page2.json(), serde_json::json!([]));
        assert_eq!(get(app, "/open311/v2/requests.json?page_size=0").await.status, 400);
        assert_eq!(get(app, "/open311/v2/requests/streets.fb-nothing.json").await.status, 404);
    }

    async fn open311_errors_follow_the_spec(app: &TestApp) {
        let key = city(app, "vendor").await;
        let ok = [("api_key", key.as_str()), ("service_code", "streets.pothole"), ("address_string", "5th & Market")];
        let no_key = post(app, "json", &ok[1..], &[]).await;
        assert_eq!(no_key.status, 403);
        assert_eq!(no_key.json()[0]["code"], 403);
        let bad_key = post(app, "xml", &[("api_key", "k-1.wrong"), ok[1], ok[2]], &[]).await;
        assert_eq!(bad_key.status, 403);
        assert!(bad_key.body.contains("<errors><error><code>403</code>"), "{}", bad_key.body);
        let no_location = post(app, "json", &ok[..2], &[]).await;
        assert_eq!(no_location.status, 400);
        assert!(no_location.json()[0]["description"].as_str().unwrap().contains("location"));
        let no_code = post(app, "json", &[ok[0], ok[2]], &[]).await;
        assert_eq!(no_code.status, 400);
        let unknown = post(app, "json", &[ok[0], ("service_code", "streets.unicorns"), ok[2]], &[]).await;
        assert_eq!(unknown.status, 404);
        let bad_email = post(app, "json", &[ok[0], ok[1], ok[2], ("email", "not-an-email")], &[]).await;
        assert_eq!(bad_email.status, 400);
        assert!(bad_email.json()[0]["description"].as_str().unwrap().starts_with("email:"), "{}", bad_email.body);
        let bad_dates = get(app, "/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z").await;
        assert_eq!(bad_dates.status, 400);
        assert_eq!(get(app, "/open311/v2/requests.json?start_date=yesterday").await.status, 400);
        assert_eq!(get(app, "/open311/v2/requests.json?status=pending").await.status, 400);
        assert_eq!(post(app, "json", &ok, &[]).await.status, 200);

        // Keys: only the Chief issues and revokes; a revoked key is refused at once.
        let keys = ApiKeyServiceClient::new(app.channel.clone());
        let cso = app.cso("streets").await;
        let denied = keys
            .clone()
            .create_api_key(authed(pb::CreateApiKeyRequest { api_key: Some(pb::ApiKey { client_name: "x".into(), ..Default::default() }), request_id: "x".into() }, &cso))
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied);
        let (meta, _) = issue_key(app, "vendor", "key-vendor").await;
        let again = issue_key(app, "vendor", "key-vendor").await;
        assert_eq!(again.0.name, meta.name, "a retried CreateApiKey returns the same key");
        assert_eq!(again.1, key);
        let listed = keys.clone().list_api_keys(authed(pb::ListApiKeysRequest::default(), &chief())).await.unwrap().into_inner();
        assert_eq!(listed.api_keys.len(), 1);
        keys.clone().revoke_api_key(authed(pb::RevokeApiKeyRequest { name: meta.name.clone() }, &chief())).await.unwrap();
        assert_eq!(post(app, "json", &ok, &[]).await.status, 403, "revoked");
        // Keys are stored hashed: the secret is nowhere in the database.
        let secret = key.split_once('.').unwrap().1;
        assert!(app.rows_containing(secret).await.is_empty());
    }
}

/// A key past its rate gets 429 with the spec's error list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_keys_are_rate_limited() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.open311_requests_per_minute = 2).await.unwrap();
    let key = city(&app, "busy").await;
    let fields = [("api_key", key.as_str()), ("service_code", "streets.graffiti"), ("address_string", "Broad St")];
    assert_eq!(post(&app, "json", &fields, &[]).await.status, 200);
    assert_eq!(post(&app, "json", &fields, &[]).await.status, 200);
    let limited = post(&app, "json", &fields, &[]).await;
    assert_eq!(limited.status, 429);
    assert!(limited.json()[0]["description"].as_str().unwrap().contains("rate limit"));
}

/// `jurisdiction_id` is checked against the configured city.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open311_checks_the_jurisdiction() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.open311_jurisdiction_id = "city.gov".into()).await.unwrap();
    create_department(&app, "streets").await;
    assert_eq!(get(&app, "/open311/v2/services.json?jurisdiction_id=city.gov").await.status, 200);
    assert_eq!(get(&app, "/open311/v2/services.json").await.status, 200);
    let other = get(&app, "/open311/v2/services.json?jurisdiction_id=elsewhere.gov").await;
    assert_eq!(other.status, 404);
    assert!(other.json()[0]["description"].as_str().unwrap().contains("elsewhere.gov"));
}
