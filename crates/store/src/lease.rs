//! Leases: which replica runs a job that must run on exactly one at a time (the NATS publisher).
//! A lease is held until it expires; its holder renews it well before, and a replica that dies
//! stops renewing, so another takes over within the lease's time. A lease also keeps the job's
//! position (how far it got), written only by the holder, so the next holder resumes there.
use crate::StoreResult;
use cityserve_domain::TenantScope;
use std::future::Future;
use std::time::Duration;

/// A lease just taken or renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// How far the job got, as its last holder saved it (`None`: never saved).
    pub position: Option<i64>,
}

/// Storage of leases. City-wide: `scope` must be the server's own system scope.
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` until `ttl` from now when it is free, expired or
    /// already `holder`'s (a renewal). `None` while another holder has it.
    fn acquire_lease(
        &self,
        scope: &TenantScope,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> impl Future<Output = StoreResult<Option<Lease>>> + Send;

    /// Saves `position` and renews the lease until `ttl` from now, only while `holder` holds
    /// it. `false`: the lease was lost (expired and taken), and nothing was saved.
    fn advance_lease(
        &self,
        scope: &TenantScope,
        name: &str,
        holder: &str,
        position: i64,
        ttl: Duration,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Gives the lease up at once if `holder` holds it (on shutdown), so another replica need not
    /// wait for it to expire.
    fn release_lease(
        &self,
        scope: &TenantScope,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
