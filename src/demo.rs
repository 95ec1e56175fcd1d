//! `cityserve demo`: loads a realistic city so a newcomer sees a living system at once — seven
//! departments with CSOs, staff, categories and standards; months of feedback over every channel
//! (bulk-loaded with its own times, so report cards have history); cases in every state; and, on
//! top, live hand-offs (one ping-pong), escalations, a dumb rule with votes and a decision, an
//! initiative, recognitions and a plan with focus progress, all made through the normal store
//! paths. `--scale N` loads N contacts (millions for benchmarks).
//!
//! The city itself lives in crates/demo ([`cityserve_demo`]); this module opens the configured
//! database, appoints the first Chief, and loads it.
use crate::config::Config;
use crate::{Backend, ServeError, backend_of};
pub use cityserve_demo::{DemoError, DemoReport, DemoSpec, FREQUENT_CALLER, bulk_contacts, load_with};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

fn open(e: impl std::error::Error + Send + Sync + 'static) -> DemoError {
    DemoError::Open(Box::new(e))
}

/// Opens the configured database and loads the demo city.
pub async fn load(config: &Config, spec: &DemoSpec) -> Result<DemoReport, DemoError> {
    load_counting(config, spec, &Arc::default()).await
}

/// [`load`], counting the bulk contacts handed to the database in `progress` (up to
/// [`bulk_contacts`]), for `cityserve demo`'s progress bar.
pub async fn load_counting(
    config: &Config,
    spec: &DemoSpec,
    progress: &Arc<AtomicU64>,
) -> Result<DemoReport, DemoError> {
    let chief = crate::bootstrap::ChiefSpec {
        department_id: "chief-office".into(),
        department_name: "Office of the Chief Customer Service Officer".into(),
        officer_id: "chief-cso".into(),
        display_name: "Casey Chief".into(),
        email: "casey.chief@city.example".into(),
        title: "Chief Customer Service Officer".into(),
        identity_subject: String::new(),
    };
    match crate::bootstrap::bootstrap_chief(config, &chief).await {
        Ok(_) | Err(crate::bootstrap::BootstrapError::ChiefExists(_)) => {}
        Err(e) => return Err(open(e)),
    }
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 4, migrate: true })
                .await
                .map_err(|e| open(ServeError::from(e)))?;
            let out = load_with(&store, spec, 1, progress).await;
            store.close().await;
            out
        }
        Backend::Postgres => {
            let options = PgOptions { max_connections: 4, migrate: true, app_role: config.db_app_role.clone() };
            let store = PgStore::connect(&config.database_url, options).await.map_err(|e| open(ServeError::from(e)))?;
            let out = load_with(&store, spec, 2, progress).await;
            store.close().await;
            out
        }
    }
}
