//! Leases on SQLite: one row per lease, taken with an upsert that only succeeds when the lease is
//! free, expired or already the holder's.
use crate::{SqliteStore, db_err, micros};
use chrono::Utc;
use cityserve_domain::{Caller, TenantScope};
use cityserve_store::{Lease, LeaseStore, StoreError, StoreResult};
use std::time::Duration;

/// The system scope only: a lease is city-wide.
fn system(scope: &TenantScope, holder: &str) -> StoreResult<Caller> {
    match scope.departments() {
        None if scope.role().is_city_wide() => {
            Ok(Caller { subject: holder.to_owned(), role: scope.role(), departments: Vec::new() })
        }
        _ => Err(StoreError::NotFound),
    }
}

/// `(now, now + ttl)` in microseconds.
fn window(ttl: Duration) -> StoreResult<(i64, i64)> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(ttl).map_err(|e| StoreError::Internal(format!("lease ttl: {e}")))?;
    Ok((micros(now), micros(until)))
}

impl LeaseStore for SqliteStore {
    async fn acquire_lease(
        &self,
        scope: &TenantScope,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> StoreResult<Option<Lease>> {
        let actor = system(scope, holder)?;
        let (now, until) = window(ttl)?;
        let mut tx = self.write_as(&actor).await?;
        let held: Option<Option<i64>> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4 \
             RETURNING position",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        self.commit(tx).await?;
        Ok(held.map(|position| Lease { position }))
    }

    async fn advance_lease(
        &self,
        scope: &TenantScope,
        name: &str,
        holder: &str,
        position: i64,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let actor = system(scope, holder)?;
        let (_, until) = window(ttl)?;
        let mut tx = self.write_as(&actor).await?;
        let done = sqlx::query("UPDATE leases SET position = $3, expires_at = $4 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(position)
            .bind(until)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit(tx).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, scope: &TenantScope, name: &str, holder: &str) -> StoreResult<()> {
        let actor = system(scope, holder)?;
        let mut tx = self.write_as(&actor).await?;
        // Expired at once, position kept for the next holder.
        sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit(tx).await
    }
}
