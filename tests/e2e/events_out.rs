//! Events out to NATS JetStream (the server at 127.0.0.1:4222, as `.ci/run` starts it): every
//! outbox event becomes one message, in order per department, and a second server taking over the
//! publisher lease resumes where the first stopped, with nothing lost or doubled.
use crate::harness::*;
use crate::jetstream::*;
use cityserve_proto::v1 as pb;
use std::time::Duration;

async fn feedback_batch(app_channel: &tonic::transport::Channel, dept: &str, n: usize, tag: &str) {
    let requests = (0..n)
        .map(|i| pb::SubmitFeedbackRequest {
            feedback: Some(pb::Feedback {
                channel: pb::Channel::Survey as i32,
                kind: pb::FeedbackKind::SurveyResponse as i32,
                csat: Some(4),
                text: format!("{tag} {i}"),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    cityserve_proto::v1::feedback_service_client::FeedbackServiceClient::new(app_channel.clone())
        .batch_submit_feedback(authed(
            pb::BatchSubmitFeedbackRequest {
                parent: format!("departments/{dept}"),
                requests,
                request_id: format!("{tag}-{dept}"),
                allow_partial_success: false,
            },
            &chief(),
        ))
        .await
        .unwrap();
}

/// A server on `app`'s database that publishes to `stream`; it stops (gracefully) when the
/// returned sender is dropped or sent to.
async fn publishing_server(
    app: &TestApp,
    stream: &str,
    prefix: &str,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), cityserve::ServeError>>) {
    let mut config = app.config.clone();
    config.nats_url = Some(NATS.into());
    config.nats_stream = stream.into();
    config.nats_subject_prefix = prefix.into();
    config.nats_lease_ttl = Duration::from_secs(2);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cityserve::serve(config, listener, async {
        let _ = stopped.await;
    }));
    (stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_jetstream_once_and_a_second_server_resumes() {
    let (stream, prefix) = unique_stream();
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    // Two servers publish-capable on one database: the first to take the lease publishes.
    let (stop_first, first) = publishing_server(&app, &stream, &prefix).await;
    create_department(&app, "water").await;
    create_department(&app, "streets").await;
    for round in 0..3 {
        feedback_batch(&app.channel, "water", 50, &format!("w{round}")).await;
        feedback_batch(&app.channel, "streets", 50, &format!("s{round}")).await;
    }
    let expected = outbox_events(&app.database_url).await;
    assert!(expected >= 300, "{expected}");
    let got = until_published(&stream, expected).await;
    assert_once_in_order(&got, expected);
    assert!(got.iter().any(|(s, _)| s.starts_with(&format!("{prefix}.water."))), "{:?}", &got[..3]);

    // A second one waits for the lease; the first stops (handing it back); the second resumes
    // after the last event the first published.
    let (_stop_second, _second) = publishing_server(&app, &stream, &prefix).await;
    stop_first.send(()).unwrap();
    first.await.unwrap().unwrap();
    for round in 3..5 {
        feedback_batch(&app.channel, "water", 50, &format!("w{round}")).await;
    }
    let expected = outbox_events(&app.database_url).await;
    let got = until_published(&stream, expected).await;
    assert_once_in_order(&got, expected);
    drop_stream(&stream).await;
}
