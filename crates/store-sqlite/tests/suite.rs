//! The shared store suite, plus SQLite-specific behaviour, against a real database file.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_store::DepartmentStore;
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};

async fn fresh_store() -> Option<(SqliteStore, tempfile::TempDir)> {
    Some(file_store().await)
}

async fn file_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("cityserve.db").display());
    (SqliteStore::connect(&url, SqliteOptions::default()).await.unwrap(), dir)
}

cityserve_store::backend_tests!(fresh_store);

#[tokio::test]
async fn creates_the_file_and_its_directory_and_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/city.db");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::connect(&url, SqliteOptions::default()).await.unwrap();
    assert!(path.exists());
    cityserve_store::suite::seed_department(&store, "water").await;
    store.close().await;
    let reopened = SqliteStore::connect(&url, SqliteOptions::default()).await.unwrap();
    let chief =
        cityserve_domain::Caller { subject: "c".into(), role: cityserve_domain::Role::Chief, departments: vec![] };
    let scope = cityserve_domain::authorize(&chief, cityserve_domain::Action::ReadDepartment, None).unwrap();
    let water = cityserve_domain::DepartmentId::parse("id", "water").unwrap();
    assert_eq!(reopened.get_department(&scope, &water).await.unwrap().id, water);
}

#[tokio::test]
async fn audit_log_is_append_only() {
    let (store, dir) = file_store().await;
    cityserve_store::suite::seed_department(&store, "water").await;
    let url = format!("sqlite://{}", dir.path().join("cityserve.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let update = sqlx::query("UPDATE audit_log SET action = 'forged'").execute(&pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log").execute(&pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn in_memory_databases_work() {
    let store = SqliteStore::connect("sqlite::memory:", SqliteOptions::default()).await.unwrap();
    cityserve_store::suite::department_crud_and_listing(&store).await;
}

#[tokio::test]
async fn seats_are_enforced_by_the_database_and_history_is_kept() {
    let (store, dir) = file_store().await;
    cityserve_store::suite::seed_department(&store, "water").await;
    cityserve_store::suite::seed_officer(&store, "water", "ann").await;
    cityserve_store::suite::seed_officer(&store, "water", "bob").await;
    let url = format!("sqlite://{}", dir.path().join("cityserve.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let insert = |id: &'static str, officer: &'static str| {
        sqlx::query(
            "INSERT INTO appointments (department_id, appointment_id, seat, officer_id, start_time, appointed_by)
             VALUES ('water', ?, 'cso', ?, 1, 'test')",
        )
        .bind(id)
        .bind(officer)
    };
    insert("ap-1", "ann").execute(&pool).await.unwrap();
    let second = insert("ap-2", "bob").execute(&pool).await.unwrap_err();
    assert!(second.to_string().contains("UNIQUE"), "{second}");
    sqlx::query("UPDATE appointments SET end_time = 2 WHERE appointment_id = 'ap-1'").execute(&pool).await.unwrap();
    insert("ap-2", "bob").execute(&pool).await.unwrap();
    let revive = sqlx::query("UPDATE appointments SET end_time = NULL WHERE appointment_id = 'ap-1'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(revive.to_string().contains("ended appointment"), "{revive}");
    let erase = sqlx::query("DELETE FROM appointments").execute(&pool).await.unwrap_err();
    assert!(erase.to_string().contains("history"), "{erase}");
}

#[tokio::test]
async fn erasure_leaves_no_contact_details_or_free_text_in_any_table() {
    let (store, dir) = file_store().await;
    cityserve_store::suite::seed_and_erase_resident(&store).await;
    let url = format!("sqlite://{}", dir.path().join("cityserve.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(tables.iter().any(|t| t == "resident_contact_details"));
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{table}')")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for needle in cityserve_store::suite::PII_NEEDLES {
            let clause = columns.iter().map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE ?")).collect::<Vec<_>>();
            let sql = format!("SELECT count(*) FROM \"{table}\" WHERE {}", clause.join(" OR "));
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql));
            for _ in &columns {
                q = q.bind(format!("%{needle}%"));
            }
            assert_eq!(q.fetch_one(&mut conn).await.unwrap(), 0, "{needle:?} survives in {table}");
        }
    }
    // Not in free pages of the file either (secure_delete), once the WAL is checkpointed.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    let bytes = std::fs::read(dir.path().join("cityserve.db")).unwrap();
    for needle in cityserve_store::suite::PII_NEEDLES {
        let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!found, "{needle:?} survives in the database file");
    }
}
