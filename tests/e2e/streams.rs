//! Streams keep checking: a stream opened while its caller held a seat ends with
//! PERMISSION_DENIED within the standing TTL once the seat is lost, and delivers nothing after.
use crate::harness::*;
use cityserve_proto::v1 as pb;
use std::time::{Duration, Instant};

/// The standing TTL of these servers: short, so the test waits little.
const TTL: Duration = Duration::from_millis(300);

async fn app(db: Db) -> Option<TestApp> {
    TestApp::start_with(db, |c| c.standing_cache_ttl = TTL).await
}

async fn compliment(app: &TestApp, id: &str) {
    let r = pb::SubmitFeedbackRequest {
        parent: "departments/water".into(),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Web as i32,
            kind: pb::FeedbackKind::Compliment as i32,
            text: format!("thanks {id}"),
            ..Default::default()
        }),
        resident: None,
        request_id: id.into(),
        survey_token: String::new(),
        resolved: None,
    };
    app.feedback().submit_feedback(authed(r, &chief())).await.unwrap();
}

/// A CSO watches Water; the Chief appoints another CSO in their place; the watch ends with
/// PERMISSION_DENIED within a few TTLs, and nothing follows the refusal.
async fn a_watch_ends_when_its_cso_is_replaced(app: &TestApp) {
    create_department(app, "water").await;
    let first = app.create_officer("water", "cso-first").await;
    let seat = app.appoint_cso("water", "cso-first", "").await;
    let token = token_for("cso-first", cityserve_domain::Role::Cso, &["water"]);
    assert!(!first.name.is_empty());
    let req = pb::WatchRequest {
        departments: vec!["departments/water".into()],
        event_type_prefixes: vec!["feedback.".into()],
        after_sequence: None,
        from_start: false,
    };
    let mut stream = app.coordination().watch(authed(req, &token)).await.unwrap().into_inner();
    compliment(app, "before").await;
    let seen = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(seen.event_type, "feedback.submit", "the stream works while the seat is held");

    app.create_officer("water", "cso-second").await;
    app.appoint_cso("water", "cso-second", &seat.name).await;
    let replaced = Instant::now();
    compliment(app, "after").await;
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap() {
            // An event written before the next check may still arrive; the refusal must follow.
            Ok(Some(e)) => assert_eq!(e.event_type, "feedback.submit"),
            Ok(None) => panic!("the stream ended without a refusal"),
            Err(status) => break status,
        }
    };
    assert_eq!(ended.code(), tonic::Code::PermissionDenied, "{ended:?}");
    assert!(replaced.elapsed() < TTL * 4, "ended {:?} after the replacement", replaced.elapsed());
    compliment(app, "later").await;
    let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap();
    assert!(matches!(next, Ok(None)), "nothing after the refusal: {next:?}");
}

/// A Chief's stream goes on: the check passes every TTL.
async fn a_held_seat_keeps_its_stream(app: &TestApp) {
    create_department(app, "water").await;
    let req = pb::WatchRequest { from_start: false, ..Default::default() };
    let mut stream = app.coordination().watch(authed(req, &chief())).await.unwrap().into_inner();
    compliment(app, "c1").await;
    let e = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(e.event_type, "feedback.submit");
    // Across two checks or more, nothing arrives: no refusal.
    assert!(tokio::time::timeout(TTL * 3, stream.message()).await.is_err(), "the stream stays open and quiet");
    compliment(app, "c2").await;
    let e = tokio::time::timeout(Duration::from_secs(10), stream.message()).await.unwrap().unwrap().unwrap();
    assert_eq!(e.event_type, "feedback.submit", "and still delivers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_when_its_cso_is_replaced_sqlite() {
    a_watch_ends_when_its_cso_is_replaced(&app(Db::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_when_its_cso_is_replaced_postgres() {
    if let Some(app) = app(Db::Postgres).await {
        a_watch_ends_when_its_cso_is_replaced(&app).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_seat_keeps_its_stream_sqlite() {
    a_held_seat_keeps_its_stream(&app(Db::Sqlite).await.unwrap()).await;
}
