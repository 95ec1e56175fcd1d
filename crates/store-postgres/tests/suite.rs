//! The shared store suite against PostgreSQL (row-level security on), plus PostgreSQL-specific
//! checks that RLS holds even for SQL that bypasses the store.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_store_postgres::testing::{TestDatabase, postgres_tests_skipped};
use cityserve_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, PgConnection};

async fn fresh_store() -> Option<(PgStore, TestDatabase)> {
    if postgres_tests_skipped() {
        eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
        return None;
    }
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 4, ..PgOptions::default() }).await.unwrap();
    Some((store, db))
}

cityserve_store::backend_tests!(fresh_store);

/// A raw connection acting as the app role, as the server does.
async fn app_connection(db: &TestDatabase) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SET ROLE cityserve_app").execute(&mut conn).await.unwrap();
    conn
}

async fn seeded() -> Option<(PgStore, TestDatabase)> {
    let (store, db) = fresh_store().await?;
    cityserve_store::suite::seed_department(&store, "water").await;
    cityserve_store::suite::seed_department(&store, "streets").await;
    Some((store, db))
}

/// Counts rows of `sql` in a transaction with `tenants` set (or nothing set when `None`).
async fn count_as(conn: &mut PgConnection, tenants: Option<&str>, sql: &'static str) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    if let Some(t) = tenants {
        sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', 'cso', true)")
            .bind(t)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

#[tokio::test]
async fn rls_shows_only_the_transactions_tenants() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    assert_eq!(count_as(&mut conn, Some("water"), "SELECT count(*) FROM departments").await, 1);
    assert_eq!(
        count_as(&mut conn, Some("water"), "SELECT count(*) FROM departments WHERE department_id = 'streets'").await,
        0
    );
    assert_eq!(count_as(&mut conn, Some("water,streets"), "SELECT count(*) FROM departments").await, 2);
    assert_eq!(count_as(&mut conn, Some("water"), "SELECT count(*) FROM audit_log").await, 1);
}

#[tokio::test]
async fn rls_fails_closed_and_settings_do_not_leak() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    for table in [
        "SELECT count(*) FROM departments",
        "SELECT count(*) FROM idempotency_keys",
        "SELECT count(*) FROM audit_log",
        "SELECT count(*) FROM events",
    ] {
        assert_eq!(count_as(&mut conn, None, table).await, 0, "{table} with no tenant set");
    }
    // A committed transaction's settings are gone for the next one on the same connection.
    assert_eq!(count_as(&mut conn, Some("water"), "SELECT count(*) FROM departments").await, 1);
    assert_eq!(count_as(&mut conn, None, "SELECT count(*) FROM departments").await, 0);
}

#[tokio::test]
async fn rls_rejects_writes_into_other_tenants_and_audit_is_append_only() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', 'water', true), set_config('app.role', 'cso', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let foreign = sqlx::query(
        "INSERT INTO service_categories (department_id, category_id, display_name, description, status, revision,
             create_time, update_time) VALUES ('streets', 'x', 'X', '', 'active', 1, now(), now())",
    )
    .execute(&mut *tx)
    .await;
    assert!(foreign.unwrap_err().to_string().contains("row-level security"), "WITH CHECK rejects it");
    tx.rollback().await.unwrap();

    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', 'water', true)").execute(&mut *tx).await.unwrap();
    let hijack = sqlx::query("UPDATE departments SET display_name = 'x' WHERE department_id = 'streets'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(hijack.rows_affected(), 0, "other tenants' rows are invisible to UPDATE");
    let forge = sqlx::query("UPDATE audit_log SET action = 'forged'").execute(&mut *tx).await;
    assert!(forge.unwrap_err().to_string().contains("permission denied"));
    tx.rollback().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    let erase = sqlx::query("DELETE FROM audit_log").execute(&mut *tx).await;
    assert!(erase.unwrap_err().to_string().contains("permission denied"));
}

#[tokio::test]
async fn refuses_to_run_as_a_role_that_bypasses_rls() {
    let Some((_store, db)) = fresh_store().await else { return };
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    // Roles are cluster-wide: tolerate a concurrent or earlier run having created it.
    sqlx::query(
        "DO $$ BEGIN CREATE ROLE cityserve_bypass_probe LOGIN BYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let options = PgOptions { app_role: "cityserve_bypass_probe".into(), migrate: false, ..PgOptions::default() };
    let err = PgStore::connect(&db.url, options).await.unwrap_err();
    assert!(err.to_string().contains("BYPASSRLS"), "{err}");
}

#[tokio::test]
async fn officers_are_isolated_by_rls_and_seats_are_enforced_by_the_database() {
    let Some((store, db)) = seeded().await else { return };
    cityserve_store::suite::seed_officer(&store, "water", "ann").await;
    cityserve_store::suite::seed_officer(&store, "water", "bob").await;
    cityserve_store::suite::seed_officer(&store, "streets", "sam").await;
    let mut conn = app_connection(&db).await;
    for sql in ["SELECT count(*) FROM officers", "SELECT count(*) FROM appointments", "SELECT count(*) FROM plans"] {
        assert_eq!(count_as(&mut conn, None, sql).await, 0, "{sql} with no tenant set");
    }
    assert_eq!(count_as(&mut conn, Some("water"), "SELECT count(*) FROM officers").await, 2);
    assert_eq!(count_as(&mut conn, Some("streets"), "SELECT count(*) FROM officers").await, 1);

    // As the owner (no RLS), bypassing the store: a second active CSO for one department is refused
    // by the unique index, whatever the code does.
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    let insert = |id: &'static str, officer: &'static str| {
        sqlx::query(
            "INSERT INTO appointments (department_id, appointment_id, seat, officer_id, start_time, appointed_by)
             VALUES ('water', $1, 'cso', $2, now(), 'test')",
        )
        .bind(id)
        .bind(officer)
    };
    insert("ap-1", "ann").execute(&mut admin).await.unwrap();
    let second = insert("ap-2", "bob").execute(&mut admin).await.unwrap_err();
    assert!(second.to_string().contains("appointments_one_active_cso"), "{second}");
    // Ending the first frees the seat; the ended one cannot be revived or rewritten.
    sqlx::query("UPDATE appointments SET end_time = now(), end_reason = 'test' WHERE appointment_id = 'ap-1'")
        .execute(&mut admin)
        .await
        .unwrap();
    insert("ap-2", "bob").execute(&mut admin).await.unwrap();
    let revive = sqlx::query("UPDATE appointments SET end_time = NULL WHERE appointment_id = 'ap-1'")
        .execute(&mut admin)
        .await
        .unwrap_err();
    assert!(revive.to_string().contains("ended appointment"), "{revive}");
    // The app role cannot delete history at all.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', 'water', true), set_config('app.role', 'cso', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let erase = sqlx::query("DELETE FROM appointments").execute(&mut *tx).await.unwrap_err();
    assert!(erase.to_string().contains("permission denied"), "{erase}");
}

#[tokio::test]
async fn erasure_leaves_no_contact_details_or_free_text_in_any_table() {
    let Some((store, db)) = fresh_store().await else { return };
    cityserve_store::suite::seed_and_erase_resident(&store).await;
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(&mut admin)
        .await
        .unwrap();
    assert!(tables.iter().any(|t| t == "resident_contact_details"));
    for table in tables {
        for needle in cityserve_store::suite::PII_NEEDLES {
            // The owner is not subject to RLS here: this sees every tenant's rows.
            let sql = format!("SELECT count(*) FROM \"{table}\" t WHERE t::text LIKE $1");
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(format!("%{needle}%"))
                .fetch_one(&mut admin)
                .await
                .unwrap();
            assert_eq!(n, 0, "{needle:?} survives in {table}");
        }
    }
}

#[tokio::test]
async fn feedback_is_isolated_by_rls_but_timeline_metadata_is_shared() {
    let Some((store, db)) = fresh_store().await else { return };
    cityserve_store::suite::seed_resident_complaints(&store).await;
    let mut conn = app_connection(&db).await;
    for table in ["feedback", "resident_contact_details", "cases", "case_entries"] {
        let sql: &'static str = Box::leak(format!("SELECT count(*) FROM {table}").into_boxed_str());
        assert_eq!(count_as(&mut conn, None, sql).await, 0, "{table} with no tenant set");
        assert_eq!(count_as(&mut conn, Some("water"), sql).await, 1, "{table} as water");
    }
    // Every department-bound caller sees that the resident contacted both departments.
    assert_eq!(count_as(&mut conn, Some("water"), "SELECT count(*) FROM timeline_entries").await, 2);
    assert_eq!(count_as(&mut conn, None, "SELECT count(*) FROM timeline_entries").await, 0, "fails closed");
    // ...but cannot change another department's entries or read its contact details.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', 'water', true), set_config('app.role', 'cso', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let changed = sqlx::query("UPDATE timeline_entries SET case_status = 'closed' WHERE department_id = 'streets'")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    tx.commit().await.unwrap();
}
