//! JetStream helpers shared by the end-to-end and fault tests (included with `#[path]`): a stream
//! of each test's own, reading it back, and the check that every outbox event was published once,
//! in order per department.
#![allow(dead_code)]
use std::collections::HashMap;
use std::time::Duration;

/// The NATS server the tests publish to.
pub const NATS: &str = "nats://127.0.0.1:4222";

/// A stream and subject prefix of this test's own, so tests running at once never share one.
pub fn unique_stream() -> (String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    (format!("CS_TEST_{}", &id[..12]), format!("cstest{}", &id[..12]))
}

/// Every message of `stream`, in stream order: `(subject, event sequence)`.
pub async fn messages(stream: &str) -> Vec<(String, i64)> {
    let client = async_nats::connect(NATS)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream must run at {NATS} (see README, .ci/run): {e}"));
    let js = async_nats::jetstream::new(client);
    // The publisher creates the stream when it first connects.
    let Ok(mut s) = js.get_stream(stream).await else { return Vec::new() };
    let info = s.info().await.unwrap().state.clone();
    let mut out = Vec::with_capacity(info.messages as usize);
    if info.messages == 0 {
        return out;
    }
    for seq in info.first_sequence..=info.last_sequence {
        let m = s.get_raw_message(seq).await.unwrap();
        let sequence = m.headers.get(cityserve_publish::SEQUENCE_HEADER).unwrap().as_str().parse().unwrap();
        out.push((m.subject.to_string(), sequence));
    }
    out
}

/// Deletes a test's stream.
pub async fn drop_stream(stream: &str) {
    if let Ok(client) = async_nats::connect(NATS).await {
        let _ = async_nats::jetstream::new(client).delete_stream(stream).await;
    }
}

/// Waits (bounded) until `stream` holds `n` messages; returns them.
pub async fn until_published(stream: &str, n: usize) -> Vec<(String, i64)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let got = messages(stream).await;
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event sequence exactly once, and within each department in ascending order (writes of
/// one department here come one after another, so ascending is commit order).
pub fn assert_once_in_order(got: &[(String, i64)], expected: usize) {
    let mut seen = std::collections::HashSet::new();
    for (_, seq) in got {
        assert!(seen.insert(*seq), "event {seq} published twice");
    }
    assert_eq!(got.len(), expected, "one message per event");
    let mut last: HashMap<String, i64> = HashMap::new();
    for (subject, seq) in got {
        let department = subject.split('.').nth(1).unwrap().to_owned();
        if let Some(before) = last.insert(department.clone(), *seq) {
            assert!(before < *seq, "{department}: event {seq} after {before}");
        }
    }
}

/// Outbox events in the database (as its owner).
pub async fn outbox_events(database_url: &str) -> usize {
    use sqlx::Connection;
    let sql = "SELECT count(*) FROM events";
    let n: i64 = if database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
    };
    usize::try_from(n).unwrap()
}
