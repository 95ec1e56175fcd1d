//! Leases (one holder at a time per name, e.g. the NATS publisher): the whole
//! [`cityserve_store::LeaseStore`] implementation, written once ([`lease_store!`]).
//!
//! One row per lease, taken with an upsert that succeeds only when the lease is free, expired or
//! already the holder's. Expiry times are microseconds since the epoch (`bigint`) on both
//! databases, so the statements and their binds are the same.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use chrono::Utc;
use cityserve_domain::{Caller, TenantScope};
use cityserve_store::{StoreError, StoreResult};
use std::time::Duration;

/// Takes the lease `$1` for holder `$2` until `$3`, if it is free, expired (before `$4`) or
/// already `$2`'s; answers the saved position (a row) or nothing (held by another).
pub const ACQUIRE: &str = "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE leases.holder = excluded.holder OR leases.expires_at < $4 \
     RETURNING position";
/// Saves position `$3` and renews until `$4`, if `$2` still holds lease `$1`.
pub const ADVANCE: &str = "UPDATE leases SET position = $3, expires_at = $4 WHERE name = $1 AND holder = $2";
/// Expires lease `$1` at once if `$2` holds it, keeping its position for the next holder.
pub const RELEASE: &str = "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2";

/// The system scope only (a lease is city-wide): the actor the lease's writes are made as.
pub fn system_actor(scope: &TenantScope, holder: &str) -> StoreResult<Caller> {
    match scope.departments() {
        None if scope.role().is_city_wide() => {
            Ok(Caller { subject: holder.to_owned(), role: scope.role(), departments: Vec::new() })
        }
        _ => Err(StoreError::NotFound),
    }
}

/// `(now, now + ttl)` in microseconds since the epoch.
pub fn window(ttl: Duration) -> StoreResult<(i64, i64)> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(ttl).map_err(|e| StoreError::Internal(format!("lease ttl: {e}")))?;
    Ok((now.timestamp_micros(), until.timestamp_micros()))
}

/// `impl LeaseStore for $store`, expanded in a backend. Uses the backend's
/// `self.write_as(scope, actor)` and `self.commit(tx)` (its one write path) and `crate::db_err`.
#[macro_export]
macro_rules! lease_store {
    ($store:ty) => {
        impl cityserve_store::LeaseStore for $store {
            async fn acquire_lease(
                &self,
                scope: &cityserve_domain::TenantScope,
                name: &str,
                holder: &str,
                ttl: std::time::Duration,
            ) -> cityserve_store::StoreResult<Option<cityserve_store::Lease>> {
                let actor = $crate::lease::system_actor(scope, holder)?;
                let (now, until) = $crate::lease::window(ttl)?;
                let mut tx = self.write_as(scope, &actor).await?;
                let held: Option<Option<i64>> = sqlx::query_scalar($crate::lease::ACQUIRE)
                    .bind(name)
                    .bind(holder)
                    .bind(until)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                self.commit(tx).await?;
                Ok(held.map(|position| cityserve_store::Lease { position }))
            }

            async fn advance_lease(
                &self,
                scope: &cityserve_domain::TenantScope,
                name: &str,
                holder: &str,
                position: i64,
                ttl: std::time::Duration,
            ) -> cityserve_store::StoreResult<bool> {
                let actor = $crate::lease::system_actor(scope, holder)?;
                let (_, until) = $crate::lease::window(ttl)?;
                let mut tx = self.write_as(scope, &actor).await?;
                let done = sqlx::query($crate::lease::ADVANCE)
                    .bind(name)
                    .bind(holder)
                    .bind(position)
                    .bind(until)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                self.commit(tx).await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(
                &self,
                scope: &cityserve_domain::TenantScope,
                name: &str,
                holder: &str,
            ) -> cityserve_store::StoreResult<()> {
                let actor = $crate::lease::system_actor(scope, holder)?;
                let mut tx = self.write_as(scope, &actor).await?;
                sqlx::query($crate::lease::RELEASE)
                    .bind(name)
                    .bind(holder)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                self.commit(tx).await
            }
        }
    };
}
