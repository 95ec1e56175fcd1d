//! Bad input through the real server (SQLite): oversized fields, bytes in `authorization` that are
//! not visible ASCII, negative and huge page sizes, malformed and foreign page tokens, update masks
//! naming unknown fields and protobuf bodies that do not decode. Each gets a clear status naming
//! the field where there is one — never a panic, never INTERNAL — and the server keeps serving.
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::api_key_service_client::ApiKeyServiceClient;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

async fn start() -> TestApp {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    create_department(&app, "water").await;
    app
}

fn api_keys(app: &TestApp) -> ApiKeyServiceClient<Channel> {
    ApiKeyServiceClient::new(app.channel.clone())
}

/// Asserts INVALID_ARGUMENT whose BadRequest details name exactly `fields`.
#[track_caller]
fn assert_invalid(r: Result<impl std::fmt::Debug, tonic::Status>, fields: &[&str], what: &str) {
    let status = r.expect_err(what);
    assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    assert_eq!(bad_fields(&status), fields, "{what}: {}", status.message());
}

/// The server still answers an ordinary call.
async fn still_serving(app: &TestApp) {
    let get = pb::GetDepartmentRequest { name: "departments/water".into() };
    let r = app.departments().get_department(authed(get, &chief())).await;
    assert!(r.is_ok(), "the server stopped serving: {r:?}");
}

const MB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_fields_are_invalid_argument_naming_the_field() {
    let app = start().await;
    let big = "x".repeat(MB);
    let c = chief();

    let mut departments = app.departments();
    let r = departments
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: "roads".into(),
                department: Some(pb::Department { display_name: big.clone(), ..Default::default() }),
                request_id: "big-1".into(),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["department.display_name"], "1 MB display_name");
    let r = departments
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: "roads".into(),
                department: Some(pb::Department { display_name: "Roads".into(), ..Default::default() }),
                request_id: big.clone(),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["request_id"], "1 MB request_id");
    let r = departments.get_department(authed(pb::GetDepartmentRequest { name: big.clone() }, &c)).await;
    assert_invalid(r, &["name"], "1 MB name");
    let r = departments
        .update_department(authed(
            pb::UpdateDepartmentRequest {
                department: Some(pb::Department {
                    name: "departments/water".into(),
                    description: big.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["description".into()] }),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["department.description"], "1 MB description");

    let r = app
        .officers()
        .create_officer(authed(
            pb::CreateOfficerRequest {
                parent: "departments/water".into(),
                officer_id: "o-big".into(),
                officer: Some(pb::Officer {
                    display_name: big.clone(),
                    email: "big@city.gov".into(),
                    title: "Clerk".into(),
                    ..Default::default()
                }),
                request_id: "big-officer".into(),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["officer.display_name"], "1 MB officer display_name");

    let r = app
        .feedback()
        .submit_feedback(authed(
            pb::SubmitFeedbackRequest {
                parent: "departments/water".into(),
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Web as i32,
                    kind: pb::FeedbackKind::Complaint as i32,
                    text: big.clone(),
                    ..Default::default()
                }),
                resident: None,
                request_id: "big-feedback".into(),
                survey_token: String::new(),
                resolved: None,
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["feedback.text"], "1 MB feedback text");

    let r = app
        .coordination()
        .report_dumb_rule(authed(
            pb::ReportDumbRuleRequest {
                dumb_rule: Some(pb::DumbRule {
                    text: big.clone(),
                    affected_departments: vec!["departments/water".into()],
                    ..Default::default()
                }),
                request_id: "big-rule".into(),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["dumb_rule.text"], "1 MB dumb rule text");

    let r = api_keys(&app)
        .create_api_key(authed(
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey { client_name: big.clone(), ..Default::default() }),
                request_id: "big-key".into(),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["api_key.client_name"], "1 MB client_name");

    // Over the server's max message size (4 MiB by default): tonic refuses the frame before
    // decoding it, with OUT_OF_RANGE ("decoded message length too large").
    let huge = "x".repeat(5 * MB);
    let r = departments
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: "roads".into(),
                department: Some(pb::Department { display_name: huge, ..Default::default() }),
                request_id: "huge".into(),
            },
            &c,
        ))
        .await;
    let status = r.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("message length too large"), "{}", status.message());
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_metadata_that_is_not_visible_ascii_is_unauthenticated() {
    let app = start().await;
    let valid = chief();
    let mut cases: Vec<Vec<u8>> = vec![
        b"Bearer \xff\xfe\xfd".to_vec(),
        "Bearer ünïcödé".as_bytes().to_vec(),
        b"\x80\x81 garbage".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer not.a.jwt".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
    ];
    // A valid token with one byte past ASCII appended: refused as malformed, not verified.
    let mut tainted = format!("Bearer {valid}").into_bytes();
    tainted.push(0xe9);
    cases.push(tainted);
    for raw in &cases {
        // obs-text bytes (0x80-0xff) are legal in an HTTP/2 field value, so tonic sends them.
        let value = MetadataValue::<Ascii>::try_from(raw.as_slice()).unwrap();
        let call = |mut req: tonic::Request<pb::GetDepartmentRequest>| {
            req.metadata_mut().insert("authorization", value.clone());
            req
        };
        let get = pb::GetDepartmentRequest { name: "departments/water".into() };
        let status = app.departments().get_department(call(tonic::Request::new(get))).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{raw:?}: {status:?}");
        if !raw.is_ascii() {
            assert!(status.message().contains("malformed authorization"), "{}", status.message());
        }
        let mut req = tonic::Request::new(pb::ListApiKeysRequest::default());
        req.metadata_mut().insert("authorization", value.clone());
        assert_eq!(api_keys(&app).list_api_keys(req).await.unwrap_err().code(), Code::Unauthenticated);
    }
    // Control bytes cannot be sent at all: the client's HeaderValue refuses them (and the server's
    // HPACK decoder would refuse the header block before any CityServe code ran).
    assert!(MetadataValue::<Ascii>::try_from(&b"Bearer \x00\n"[..]).is_err());

    // A token over the 8 KiB the authenticator decodes, still under HTTP/2's 16 KiB header limit.
    let status = app
        .departments()
        .get_department(authed(pb::GetDepartmentRequest { name: "departments/water".into() }, &"A".repeat(12_000)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("too large"), "{}", status.message());
    // Over hyper's 16 KiB header-list limit the HTTP/2 layer answers HTTP 431 before any CityServe
    // code runs; tonic's client reports that as UNKNOWN ("mapped from HTTP status code 431").
    let r = app
        .departments()
        .get_department(authed(pb::GetDepartmentRequest { name: "departments/water".into() }, &"A".repeat(40_000)))
        .await;
    let status = r.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(status.message().contains("431"), "{}", status.message());
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_and_huge_page_sizes() {
    let app = start().await;
    let c = chief();
    for size in [-1, -500, i32::MIN] {
        let r = app
            .departments()
            .list_departments(authed(pb::ListDepartmentsRequest { page_size: size, ..Default::default() }, &c))
            .await;
        assert_invalid(r, &["page_size"], "ListDepartments");
        let r = app
            .departments()
            .list_service_categories(authed(
                pb::ListServiceCategoriesRequest {
                    parent: "departments/water".into(),
                    page_size: size,
                    ..Default::default()
                },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_size"], "ListServiceCategories");
        let r = app
            .officers()
            .list_officers(authed(
                pb::ListOfficersRequest { parent: "departments/water".into(), page_size: size, ..Default::default() },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_size"], "ListOfficers");
        let r = app
            .feedback()
            .list_feedback(authed(
                pb::ListFeedbackRequest { parent: "departments/water".into(), page_size: size, ..Default::default() },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_size"], "ListFeedback");
        let r = app
            .coordination()
            .list_handoffs(authed(
                pb::ListHandoffsRequest { parent: "departments/water".into(), page_size: size, ..Default::default() },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_size"], "ListHandoffs");
        let r = api_keys(&app)
            .list_api_keys(authed(pb::ListApiKeysRequest { page_size: size, ..Default::default() }, &c))
            .await;
        assert_invalid(r, &["page_size"], "ListApiKeys");
    }
    // Huge sizes are capped (500), not refused.
    for size in [501, 1_000_000, i32::MAX] {
        let r = app
            .departments()
            .list_departments(authed(pb::ListDepartmentsRequest { page_size: size, ..Default::default() }, &c))
            .await;
        assert_eq!(r.unwrap().into_inner().departments.len(), 2);
        let r = app
            .officers()
            .list_officers(authed(
                pb::ListOfficersRequest { parent: "departments/-".into(), page_size: size, ..Default::default() },
                &c,
            ))
            .await;
        assert!(r.is_ok(), "{r:?}");
        assert!(
            api_keys(&app)
                .list_api_keys(authed(pb::ListApiKeysRequest { page_size: size, ..Default::default() }, &c))
                .await
                .is_ok()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_foreign_page_tokens_name_page_token() {
    use base64::Engine;
    let app = start().await;
    let c = chief();
    // A genuine token, from the first page of all departments (chief-office, water).
    let first = app
        .departments()
        .list_departments(authed(pb::ListDepartmentsRequest { page_size: 1, ..Default::default() }, &c))
        .await
        .unwrap()
        .into_inner();
    let genuine = first.next_page_token;
    assert!(!genuine.is_empty());
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let mut tampered = genuine.clone().into_bytes();
    tampered[3] ^= 0x01;
    let malformed = [
        "!!!".to_owned(),
        "%%%%".to_owned(),
        "A".repeat(5000),
        b64("not json"),
        b64(r#"{"a":1,"f":2}"#),
        b64(r#"{"a":"water"}"#),
        b64(r#"{"a":"water","f":"forged-fingerprint"}"#),
        String::from_utf8_lossy(&tampered).into_owned(),
        "ünïcödé".to_owned(),
    ];
    for token in &malformed {
        let r = app
            .departments()
            .list_departments(authed(
                pb::ListDepartmentsRequest { page_token: token.clone(), ..Default::default() },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_token"], &format!("malformed token {token:.40}"));
    }
    // The genuine token with another filter, or on another list call of each service: foreign.
    let r = app
        .departments()
        .list_departments(authed(
            pb::ListDepartmentsRequest {
                page_token: genuine.clone(),
                status: pb::DepartmentStatus::Archived as i32,
                ..Default::default()
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["page_token"], "token of another filter");
    let r = app
        .departments()
        .list_service_categories(authed(
            pb::ListServiceCategoriesRequest {
                parent: "departments/water".into(),
                page_token: genuine.clone(),
                ..Default::default()
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["page_token"], "ListServiceCategories");
    for token in [genuine.clone(), malformed[0].clone()] {
        let r = app
            .officers()
            .list_officers(authed(
                pb::ListOfficersRequest {
                    parent: "departments/water".into(),
                    page_token: token.clone(),
                    ..Default::default()
                },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_token"], "ListOfficers");
        let r = app
            .feedback()
            .list_feedback(authed(
                pb::ListFeedbackRequest {
                    parent: "departments/water".into(),
                    page_token: token.clone(),
                    ..Default::default()
                },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_token"], "ListFeedback");
        let r = app
            .coordination()
            .list_handoffs(authed(
                pb::ListHandoffsRequest {
                    parent: "departments/water".into(),
                    page_token: token.clone(),
                    ..Default::default()
                },
                &c,
            ))
            .await;
        assert_invalid(r, &["page_token"], "ListHandoffs");
        let r = api_keys(&app)
            .list_api_keys(authed(pb::ListApiKeysRequest { page_token: token.clone(), ..Default::default() }, &c))
            .await;
        assert_invalid(r, &["page_token"], "ListApiKeys");
    }
    // A token of the right shape whose cursor was changed (the MAC no longer matches), and one
    // made up from scratch: refused before any query, not INTERNAL.
    let decoded: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&genuine).unwrap()).unwrap();
    let mac = decoded["m"].as_str().unwrap();
    for token in [
        b64(&format!(r#"{{"a":"not-a-number","m":"{mac}"}}"#)),
        b64(r#"{"a":"water","m":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#),
    ] {
        let r = app
            .departments()
            .list_departments(authed(pb::ListDepartmentsRequest { page_token: token, ..Default::default() }, &c))
            .await;
        assert_invalid(r, &["page_token"], "forged cursor");
    }
    // The genuine token presented by another caller (the water CSO may list departments too).
    let other = app.cso("water").await;
    let r = app
        .departments()
        .list_departments(authed(
            pb::ListDepartmentsRequest { page_size: 1, page_token: genuine.clone(), ..Default::default() },
            &other,
        ))
        .await;
    assert_invalid(r, &["page_token"], "token of another caller");
    // The genuine token still works where it belongs.
    let next = app
        .departments()
        .list_departments(authed(
            pb::ListDepartmentsRequest { page_size: 1, page_token: genuine, ..Default::default() },
            &c,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.departments.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_masks_naming_unknown_fields_name_each_path() {
    let app = start().await;
    let c = chief();
    create_category(&app, "water", "leak").await;
    let mask = |paths: &[&str]| Some(prost_types::FieldMask { paths: paths.iter().map(|p| (*p).to_owned()).collect() });

    let r = app
        .departments()
        .update_department(authed(
            pb::UpdateDepartmentRequest {
                department: Some(pb::Department {
                    name: "departments/water".into(),
                    display_name: "W".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name", "budget", "name"]),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["update_mask.paths[1]", "update_mask.paths[2]"], "UpdateDepartment");
    let r = app
        .departments()
        .update_service_category(authed(
            pb::UpdateServiceCategoryRequest {
                service_category: Some(pb::ServiceCategory {
                    name: "departments/water/serviceCategories/leak".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["émoji😀", "keywords"]),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["update_mask.paths[0]"], "UpdateServiceCategory");
    let r = app
        .officers()
        .update_officer(authed(
            pb::UpdateOfficerRequest {
                officer: Some(pb::Officer {
                    name: format!("departments/{CHIEF_OFFICE}/officers/{CHIEF}"),
                    ..Default::default()
                }),
                update_mask: mask(&["salary"]),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["update_mask.paths[0]"], "UpdateOfficer");
    let cso = app.cso("water").await;
    let initiative = app
        .coordination()
        .create_initiative(authed(
            pb::CreateInitiativeRequest {
                parent: "departments/water".into(),
                initiative: Some(pb::Initiative {
                    title: "Fewer leaks".into(),
                    goal: "Fix leaks within a day".into(),
                    owner: "departments/water/officers/cso-water".into(),
                    ..Default::default()
                }),
                request_id: "bad-input-initiative".into(),
            },
            &cso,
        ))
        .await
        .unwrap()
        .into_inner()
        .initiative
        .unwrap();
    let long = "p".repeat(100_000);
    let r = app
        .coordination()
        .update_initiative(authed(
            pb::UpdateInitiativeRequest {
                initiative: Some(pb::Initiative { name: initiative.name.clone(), ..Default::default() }),
                update_mask: mask(&["title", &long]),
            },
            &c,
        ))
        .await;
    assert_invalid(r, &["update_mask.paths[1]"], "UpdateInitiative");
    still_serving(&app).await;
}

/// A codec that sends and receives raw bytes, to put undecodable bodies on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut tonic::codec::EncodeBuf<'_>) -> Result<(), tonic::Status> {
        use prost::bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut tonic::codec::DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        use prost::bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bodies_are_invalid_argument_on_every_service() {
    let app = start().await;
    let token = chief();
    let methods = [
        "DepartmentService/CreateDepartment",
        "DepartmentService/GetDepartment",
        "DepartmentService/ListDepartments",
        "DepartmentService/UpdateServiceCategory",
        "OfficerService/CreateOfficer",
        "OfficerService/GetOfficer",
        "OfficerService/ListOfficers",
        "OfficerService/UpdateOfficer",
        "FeedbackService/SubmitFeedback",
        "FeedbackService/ListFeedback",
        "FeedbackService/GetCase",
        "CoordinationService/SendHandoff",
        "CoordinationService/ListHandoffs",
        "CoordinationService/GetReportCard",
        "CoordinationService/Watch",
        "ApiKeyService/CreateApiKey",
        "ApiKeyService/ListApiKeys",
        "ApiKeyService/RevokeApiKey",
    ];
    let bodies: [&[u8]; 5] = [
        // Wire type 7 does not exist.
        &[0x0f, 0x01],
        // A varint that never ends.
        &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // Field 1 (a string in every request here) with invalid UTF-8.
        &[0x0a, 0x03, 0xff, 0xfe, 0xc3],
        // A length past the end of the body.
        &[0x0a, 0x7f, b'x'],
        // Field number 0.
        &[0x00, 0x01],
    ];
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    for method in methods {
        for body in bodies {
            grpc.ready().await.unwrap();
            let path: http::uri::PathAndQuery = format!("/cityserve.v1.{method}").parse().unwrap();
            let status = grpc.unary(authed(body.to_vec(), &token), path, RawCodec).await.unwrap_err();
            assert_eq!(status.code(), Code::InvalidArgument, "{method} {body:x?}: {status:?}");
            assert!(status.message().contains("not a valid protobuf message"), "{}", status.message());
        }
    }
    // Without credentials the body is never read: UNAUTHENTICATED first.
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/cityserve.v1.DepartmentService/GetDepartment");
    let status = grpc.unary(tonic::Request::new(vec![0x0f]), path, RawCodec).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    still_serving(&app).await;
}
