//! Escalations on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::escalation_store!`]) and the breach scan's locks.
use crate::{PgStore, WriteTx, db_err};
use cityserve_store::StoreResult;

/// Transaction-level advisory lock key of the breach scan ("CSBREACH"): one scanner at a time
/// across replicas.
const BREACH_SCAN_LOCK: i64 = 0x4353_4252_4541_4348;

/// The scan locks its candidates, skipping rows a concurrent write holds.
const SKIP_LOCKED: Option<&str> = Some("FOR NO KEY UPDATE SKIP LOCKED");

/// One scanner at a time across replicas; the others leave the work to it. The lock is released
/// at commit, and a later scanner's statements see what this one committed.
async fn lock_scan(tx: &mut WriteTx) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(BREACH_SCAN_LOCK)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)
}

cityserve_store_sql::escalation_store!(PgStore);
