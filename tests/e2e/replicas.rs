//! Two servers on one PostgreSQL database: a change committed through one reaches a `Watch`
//! stream on the other at once (LISTEN/NOTIFY after every committing write), not on the stream's
//! 2-second re-read. Every write goes through the store's one write path, so department and
//! officer changes notify like every other.
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::coordination_service_client::CoordinationServiceClient;
use std::time::{Duration, Instant};
use tonic::Streaming;

/// Within this the event must arrive: well under the 2 s re-read, so several changes in a row
/// arriving in time cannot be the re-read's luck.
const PROMPT: Duration = Duration::from_millis(200);

async fn next_event(stream: &mut Streaming<pb::WatchResponse>, within: Duration) -> Option<pb::WatchResponse> {
    tokio::time::timeout(within, stream.message()).await.ok().map(|m| m.unwrap().unwrap())
}

/// The next event, which must be `event_type` on `department` and arrive within [`PROMPT`] of
/// `written`.
async fn arrives_promptly(
    stream: &mut Streaming<pb::WatchResponse>,
    written: Instant,
    event_type: &str,
    department: &str,
) {
    let e = next_event(stream, PROMPT.saturating_sub(written.elapsed()))
        .await
        .unwrap_or_else(|| panic!("{event_type} on {department} did not reach the other server within {PROMPT:?}"));
    assert_eq!((e.event_type.as_str(), e.department.as_str()), (event_type, department));
    assert!(written.elapsed() <= PROMPT, "{event_type} took {:?}", written.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn department_and_officer_changes_reach_watch_on_another_server_promptly_on_postgres() {
    let Some(app) = TestApp::start(Db::Postgres).await else { return };
    let replica = app.replica().await;
    let mut stream = CoordinationServiceClient::new(replica.channel.clone())
        .watch(authed(pb::WatchRequest::default(), &chief()))
        .await
        .unwrap()
        .into_inner();
    // A first change, untimed, so the replica's stream is surely past its start.
    create_department(&app, "warmup").await;
    // Events of the test's own setup (its officers) may still be in flight when the stream starts:
    // skip them until the warm-up's own event.
    loop {
        let e = next_event(&mut stream, Duration::from_secs(10)).await.expect("the warm-up event arrives");
        if e.event_type == "department.create" && e.department == "departments/warmup" {
            break;
        }
    }

    let mut departments = app.departments();
    for i in 0..3 {
        let id = format!("d{i}");
        let written = Instant::now();
        create_department(&app, &id).await;
        arrives_promptly(&mut stream, written, "department.create", &format!("departments/{id}")).await;

        let written = Instant::now();
        departments
            .update_department(authed(
                pb::UpdateDepartmentRequest {
                    department: Some(pb::Department {
                        name: format!("departments/{id}"),
                        description: "renamed on one server, watched on the other".into(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["description".into()] }),
                },
                &chief(),
            ))
            .await
            .unwrap();
        arrives_promptly(&mut stream, written, "department.update", &format!("departments/{id}")).await;

        let written = Instant::now();
        app.create_officer("warmup", &format!("officer-{i}")).await;
        arrives_promptly(&mut stream, written, "officer.create", "departments/warmup").await;
    }
}
