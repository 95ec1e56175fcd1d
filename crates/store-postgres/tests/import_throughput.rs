//! Bulk-import throughput on PostgreSQL: imports 200,000 historical contacts (20% complaints with
//! closed cases, 5% with a resident key, so timelines are written too) into a fresh test database
//! in one `import_contacts` call and prints records per second. Ignored by default; run it in
//! release mode against the local server (or `DATABASE_URL`):
//!
//! ```sh
//! cargo test --release -p cityserve-store-postgres --test import_throughput -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use chrono::{Duration, TimeZone, Utc};
use cityserve_domain::{
    Action, Caller, CaseStatus, Channel, DepartmentId, FeedbackId, FeedbackKind, Location, NewFeedback, Role, authorize,
};
use cityserve_store::WriteCtx;
use cityserve_store::import::{ImportStore, ImportedCase, ImportedContact};
use cityserve_store_postgres::testing::TestDatabase;
use cityserve_store_postgres::{PgOptions, PgStore};
use std::time::Instant;

const RECORDS: usize = 200_000;

fn items(department: &DepartmentId) -> Vec<ImportedContact> {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 8, 0, 0).unwrap();
    let channels = [Channel::Phone, Channel::Web, Channel::Email];
    (0..RECORDS)
        .map(|i| {
            let received = start + Duration::seconds(i64::try_from(i).unwrap() * 97);
            let complaint = i % 5 == 0;
            let case = complaint.then(|| ImportedCase {
                status: CaseStatus::Closed,
                acknowledge_due: received + Duration::hours(24),
                resolve_due: received + Duration::hours(240),
                acknowledged_at: Some(received + Duration::hours(2)),
                resolved_at: Some(received + Duration::hours(100)),
                closed_at: Some(received + Duration::hours(101)),
                reopen_count: 0,
                first_contact_at: None,
                assignee: None,
                follow_up: None,
                satisfied: Some(i % 3 != 0),
            });
            ImportedContact {
                feedback: NewFeedback {
                    media: Vec::new(),
                    attributes: Vec::new(),
                    client_ids: Default::default(),
                    department_id: department.clone(),
                    id: FeedbackId::parse("id", &format!("hist-{i:07}")).unwrap(),
                    channel: channels[i % channels.len()],
                    kind: if complaint { FeedbackKind::Complaint } else { FeedbackKind::SurveyResponse },
                    csat: Some(i32::try_from(i % 5).unwrap() + 1),
                    nps: (i % 2 == 0).then(|| i32::try_from(i % 11).unwrap()),
                    text: format!("Historical contact number {i} about the water supply in the north district"),
                    language: "en".into(),
                    category: None,
                    location: Location::default(),
                    occurred_at: received - Duration::minutes(5),
                    resident: None,
                    internal_customer: None,
                    survey: None,
                    served: Default::default(),
                    source: None,
                },
                resident_key: (i % 20 == 0).then(|| format!("r-{}", i % 5_000)),
                received_at: received,
                case,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "measurement: run in release mode with --ignored --nocapture"]
async fn import_throughput() {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 2, ..PgOptions::default() }).await.unwrap();
    cityserve_store::suite::seed_department(&store, "water").await;
    let water = DepartmentId::parse("id", "water").unwrap();
    let chief = Caller { subject: "chief-1".into(), role: Role::Chief, departments: vec![] };
    let scope = authorize(&chief, Action::SubmitFeedback, Some(&water)).unwrap();
    let ctx = WriteCtx { scope: &scope, actor: &chief, action: "feedback.import", trace_id: None };
    let batch = items(&water);

    let started = Instant::now();
    let n = store.import_contacts(&ctx, &water, &batch).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(n, u64::try_from(RECORDS).unwrap());
    #[allow(clippy::cast_precision_loss)]
    let rate = RECORDS as f64 / elapsed.as_secs_f64();
    println!(
        "imported {RECORDS} contacts ({} complaints with cases) in {elapsed:.2?}: {rate:.0} records/s",
        RECORDS / 5
    );
    store.close().await;
}
