//! Test fixtures: a fresh, migrated PostgreSQL database per test, dropped afterwards. Enabled by
//! the `testing` feature (used by this crate's tests and the server's end-to-end tests).
use sqlx::{Connection, PgConnection};

/// The default server for tests: the CI machines' local PostgreSQL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether PostgreSQL tests were explicitly opted out with `CITYSERVE_SKIP_POSTGRES_TESTS=1`.
pub fn postgres_tests_skipped() -> bool {
    std::env::var("CITYSERVE_SKIP_POSTGRES_TESTS").is_ok_and(|v| v == "1")
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let head = match base.rsplit_once('/') {
        Some((head, _)) if head.contains("://") && head.len() > head.find("://").unwrap_or(0) + 3 => head,
        _ => base,
    };
    format!("{head}/{name}{query}")
}

/// A database created for one test and migrated; dropped (with its connections) on drop.
pub struct TestDatabase {
    /// URL of the new database, as the admin (owner) user of `DATABASE_URL`.
    pub url: String,
    name: String,
    admin: String,
}

impl TestDatabase {
    /// Creates and migrates a fresh database. Panics with a clear message if PostgreSQL is
    /// unreachable: PostgreSQL tests are never skipped silently.
    pub async fn create() -> TestDatabase {
        let admin = admin_url();
        let mut conn = match PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => panic!(
                "PostgreSQL tests need a server at DATABASE_URL ({admin}): {e}. Start it \
                 (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or opt out \
                 explicitly with CITYSERVE_SKIP_POSTGRES_TESTS=1"
            ),
        };
        let name = format!("cityserve_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        if let Err(e) = crate::PgStore::migrate(&url).await {
            panic!("migrating test database {name}: {e}");
        }
        TestDatabase { url, name, admin }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop cannot await; a short-lived runtime on its own thread does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
