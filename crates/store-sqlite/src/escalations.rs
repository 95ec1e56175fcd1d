//! Escalations on SQLite: the shared implementation ([`cityserve_store_sql::escalation_store!`]).
use crate::{SqliteStore, WriteTx};
use cityserve_store::StoreResult;

/// No row locks: the scan's write transaction already excludes every other writer.
const SKIP_LOCKED: Option<&str> = None;

/// Always: `BEGIN IMMEDIATE` holds SQLite's single write lock for the whole scan, so scanners in
/// other processes wait, then see these escalations, and the unique index backs that up.
async fn lock_scan(_tx: &mut WriteTx<'_>) -> StoreResult<bool> {
    Ok(true)
}

cityserve_store_sql::escalation_store!(SqliteStore);
