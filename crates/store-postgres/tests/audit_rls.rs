//! The audit log is append-only for the app role on PostgreSQL: it holds SELECT and INSERT on
//! `audit_log` and nothing else, so UPDATE, DELETE and TRUNCATE fail whatever the session says.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_store_postgres::testing::{TestDatabase, postgres_tests_skipped};
use cityserve_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, PgConnection};

async fn seeded() -> Option<(PgStore, TestDatabase)> {
    if postgres_tests_skipped() {
        eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
        return None;
    }
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 2, ..PgOptions::default() }).await.unwrap();
    cityserve_store::suite::seed_department(&store, "water").await;
    Some((store, db))
}

/// Runs `sql` as `cityserve_app` in a transaction acting as `role` for `tenants`; the error text.
async fn fails_as(db: &TestDatabase, role: &str, tenants: &str, sql: &str) -> String {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SET ROLE cityserve_app").execute(&mut conn).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', $2, true)")
        .bind(tenants)
        .bind(role)
        .execute(&mut *tx)
        .await
        .unwrap();
    let err = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *tx).await.unwrap_err().to_string();
    tx.rollback().await.unwrap();
    err
}

#[tokio::test]
async fn the_app_role_may_only_read_and_append_the_audit_log() {
    let Some((_store, db)) = seeded().await else { return };
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    for (privilege, held) in
        [("SELECT", true), ("INSERT", true), ("UPDATE", false), ("DELETE", false), ("TRUNCATE", false)]
    {
        let has: bool = sqlx::query_scalar("SELECT has_table_privilege('cityserve_app', 'audit_log', $1)")
            .bind(privilege)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(has, held, "{privilege} on audit_log");
    }
    // Even the Chief's session, which row-level security lets see and write every department.
    for role in ["chief", "cso"] {
        for sql in [
            "UPDATE audit_log SET outcome = 'ok' WHERE outcome <> 'ok'",
            "UPDATE audit_log SET action = 'forged'",
            "DELETE FROM audit_log",
            "DELETE FROM audit_log WHERE department_id = 'water'",
            "TRUNCATE audit_log",
        ] {
            let err = fails_as(&db, role, "water", sql).await;
            assert!(err.contains("permission denied"), "{role}: {sql}: {err}");
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&mut admin).await.unwrap();
    assert_eq!(rows, 1, "the seed's record is intact");
    let outcome: String = sqlx::query_scalar("SELECT outcome FROM audit_log").fetch_one(&mut admin).await.unwrap();
    assert_eq!(outcome, "ok", "successful writes default to outcome ok");
}

#[tokio::test]
async fn a_refusal_is_appended_only_within_the_sessions_tenants() {
    let Some((_store, db)) = seeded().await else { return };
    let insert = "INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource,
                      outcome) VALUES ('streets', now(), 'x', 'auditor', 'case.acknowledge', '', 'not_found')";
    for role in ["auditor", "cso"] {
        let err = fails_as(&db, role, "water", insert).await;
        assert!(err.contains("row-level security"), "{role}: {err}");
    }
}
