//! The shared store suite, plus SQLite-specific behaviour, against a real database file.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_store::Store;
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
