//! The report-card counters' upkeep: brought up to date when the server starts (a new version
//! of the counters' definitions, or a new city time zone, rebuilds them from the raw rows), and
//! `cityserve rollups rebuild` on demand.
use crate::config::Config;
use crate::{Backend, ServeError, backend_of};
use cityserve_domain::AuditAction;
use cityserve_store::{ReportStore, RollupRebuild, StoreResult, WriteCtx};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};
use std::sync::atomic::AtomicU64;

/// Rebuilds the counters on `store` as the server's own job: always (`only_if_stale` false), or
/// only when they were built under an older definition or another time zone. Logs what it did.
/// `read` counts the raw rows read so far (a progress display follows it).
pub async fn rebuild<S: ReportStore>(
    store: &S,
    only_if_stale: bool,
    read: &AtomicU64,
) -> StoreResult<Option<RollupRebuild>> {
    let (actor, scope) = cityserve_domain::policy::system_scope("cityserve-rollups");
    let ctx = WriteCtx { scope: &scope, actor: &actor, action: AuditAction::RollupsRebuild.as_str(), trace_id: None };
    let started = std::time::Instant::now();
    let done = store.rebuild_rollups(&ctx, only_if_stale, read).await?;
    if let Some(r) = &done {
        tracing::info!(
            time_zone = r.zone.name(),
            previous_time_zone = r.previous_zone.name(),
            counters = r.counters,
            rows = r.rows,
            seconds = started.elapsed().as_secs_f64(),
            "report-card counters rebuilt from the raw rows"
        );
    }
    Ok(done)
}

/// `cityserve rollups rebuild`: opens the configured database (migrating it) and rebuilds the
/// counters in the city calendar's time zone, counting the raw rows read in `read`.
pub async fn rebuild_configured(config: &Config, read: &AtomicU64) -> Result<RollupRebuild, ServeError> {
    let done = match backend_of(&config.database_url) {
        Backend::Sqlite => {
            let store =
                SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 1, migrate: true }).await?;
            let out = rebuild(&store, false, read).await;
            store.close().await;
            out?
        }
        Backend::Postgres => {
            let options = PgOptions { max_connections: 2, migrate: true, app_role: config.db_app_role.clone() };
            let store = PgStore::connect(&config.database_url, options).await?;
            let out = rebuild(&store, false, read).await;
            store.close().await;
            out?
        }
    };
    done.ok_or_else(|| ServeError::Store(cityserve_store::StoreError::Internal("the rebuild did not run".into())))
}
