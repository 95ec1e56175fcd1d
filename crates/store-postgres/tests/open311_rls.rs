//! Row-level security of the city-wide `api_keys` and `service_accounts` tables, checked with SQL
//! that bypasses the store: a raw connection acting as the app role with another role's session settings.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_domain::{Action, Caller, DepartmentId, Role, authorize};
use cityserve_store::open311::{ApiKey, Open311Store};
use cityserve_store::{Idempotency, WriteCtx};
use cityserve_store_postgres::testing::{TestDatabase, postgres_tests_skipped};
use cityserve_store_postgres::{PgOptions, PgStore};
use sqlx::{Connection, PgConnection};

/// Streets and the Chief's office; one API key issued by the Chief.
async fn seeded() -> Option<(PgStore, TestDatabase)> {
    if postgres_tests_skipped() {
        eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
        return None;
    }
    let db = TestDatabase::create().await;
    let store = PgStore::connect(&db.url, PgOptions { max_connections: 4, ..PgOptions::default() }).await.unwrap();
    for d in ["streets", "chief-office"] {
        cityserve_store::suite::seed_department(&store, d).await;
    }
    let chief = Caller { subject: "chief-1".into(), role: Role::Chief, departments: vec![] };
    let s = authorize(&chief, Action::CreateDepartment, None).unwrap();
    let w = WriteCtx { scope: &s, actor: &chief, action: "api_key.manage", trace_id: None };
    let key = ApiKey {
        id: "k-1".into(),
        client_name: "fixmystreet".into(),
        key_hash: "ab".repeat(32),
        created_by: String::new(),
        create_time: chrono::Utc::now(),
        revoked_by: None,
        revoke_time: None,
    };
    let home = DepartmentId::parse("id", "chief-office").unwrap();
    let idem = Idempotency { request_id: "k1".into(), request_hash: "h".into() };
    store.create_api_key(&w, &idem, &home, &key).await.unwrap();
    Some((store, db))
}

/// A raw connection acting as the app role, as the server does.
async fn app_connection(db: &TestDatabase) -> PgConnection {
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SET ROLE cityserve_app").execute(&mut conn).await.unwrap();
    conn
}

/// Runs `sql` (a count) in a transaction with `role` and `tenants` set (nothing set when `None`).
async fn count_as(conn: &mut PgConnection, session: Option<(&str, &str)>, sql: &str) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    if let Some((role, tenants)) = session {
        sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', $2, true)")
            .bind(tenants)
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

/// Runs `sql` as `role` of `tenants` and returns the error it fails with.
async fn fails_as(conn: &mut PgConnection, role: &str, tenants: &str, sql: &str) -> String {
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

const FORGE: &str = "INSERT INTO api_keys (key_id, client_name, key_hash, created_by, create_time)
     VALUES ('k-forged', 'x', 'x', 'x', now())";

#[tokio::test]
async fn api_keys_are_readable_by_chief_and_auditor_only_and_issued_by_the_chief_only() {
    let Some((_store, db)) = seeded().await else { return };
    let mut conn = app_connection(&db).await;
    let keys = "SELECT count(*) FROM api_keys";
    assert_eq!(count_as(&mut conn, None, keys).await, 0, "nothing set fails closed");
    for role in ["chief", "auditor"] {
        assert_eq!(count_as(&mut conn, Some((role, "")), keys).await, 1, "{role}");
    }
    for role in ["cso", "staff", "service"] {
        assert_eq!(count_as(&mut conn, Some((role, "streets")), keys).await, 0, "{role} reads no key");
        assert_eq!(count_as(&mut conn, Some((role, "chief-office")), keys).await, 0, "{role} of the home department");
        let forged = fails_as(&mut conn, role, "streets", FORGE).await;
        assert!(forged.contains("row-level security"), "{role}: {forged}");
    }
    // The auditor reads keys but neither issues nor revokes them.
    let forged = fails_as(&mut conn, "auditor", "", FORGE).await;
    assert!(forged.contains("row-level security"), "{forged}");
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', '', true), set_config('app.role', 'auditor', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let revoke = sqlx::query("UPDATE api_keys SET revoked_by = 'auditor-1', revoke_time = now()")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(revoke.rows_affected(), 0);
    tx.commit().await.unwrap();
    // Keys are never deleted, not even by the Chief.
    let erase = fails_as(&mut conn, "chief", "", "DELETE FROM api_keys").await;
    assert!(erase.contains("permission denied"), "{erase}");
    assert_eq!(
        count_as(&mut conn, Some(("chief", "")), "SELECT count(*) FROM api_keys WHERE revoke_time IS NULL").await,
        1
    );
}

const FORGE_ACCOUNT: &str = "INSERT INTO service_accounts (account_id, display_name, departments, client_id, status,
         created_by, revision, create_time, update_time)
     VALUES ('forged', 'x', 'streets', '', 'active', 'x', 1, now(), now())";

/// Service accounts decide which departments an application may act for: like API keys, only the
/// Chief registers or changes them, and only the Chief and auditors (the standing check reads as
/// one) see them.
#[tokio::test]
async fn service_accounts_are_the_chiefs_to_register_and_change() {
    let Some((store, db)) = seeded().await else { return };
    use cityserve_domain::{ServiceAccount, ServiceAccountId, ServiceAccountStatus};
    use cityserve_store::ServiceAccountStore;
    let chief = Caller { subject: "chief-1".into(), role: Role::Chief, departments: vec![] };
    let s = authorize(&chief, Action::ManageServiceAccounts, None).unwrap();
    let w = WriteCtx { scope: &s, actor: &chief, action: "service_account.manage", trace_id: None };
    let account = ServiceAccount {
        id: ServiceAccountId::parse("id", "crm").unwrap(),
        display_name: "CRM".into(),
        departments: vec![DepartmentId::parse("id", "streets").unwrap()],
        client_id: String::new(),
        status: ServiceAccountStatus::Active,
        create_time: chrono::Utc::now(),
        update_time: chrono::Utc::now(),
        revision: 1,
    };
    let home = DepartmentId::parse("id", "chief-office").unwrap();
    let idem = Idempotency { request_id: "sa1".into(), request_hash: "h".into() };
    store.create_service_account(&w, &idem, &home, &account).await.unwrap();

    let mut conn = app_connection(&db).await;
    let accounts = "SELECT count(*) FROM service_accounts";
    assert_eq!(count_as(&mut conn, None, accounts).await, 0, "nothing set fails closed");
    for role in ["chief", "auditor"] {
        assert_eq!(count_as(&mut conn, Some((role, "")), accounts).await, 1, "{role}");
    }
    for role in ["cso", "staff", "service", "auditor"] {
        let forged = fails_as(&mut conn, role, "streets", FORGE_ACCOUNT).await;
        assert!(forged.contains("row-level security"), "{role}: {forged}");
    }
    for role in ["cso", "staff", "service"] {
        assert_eq!(count_as(&mut conn, Some((role, "streets")), accounts).await, 0, "{role} reads no account");
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.tenant_ids', 'streets', true), set_config('app.role', $1, true)")
            .bind(role)
            .execute(&mut *tx)
            .await
            .unwrap();
        let widened = sqlx::query("UPDATE service_accounts SET departments = 'streets,chief-office'")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(widened.rows_affected(), 0, "{role} cannot widen an account");
        tx.commit().await.unwrap();
    }
}
