//! The parts of each backend's one write path that are the same on both databases: idempotency
//! keys ([`crate::claim_key!`]) and the way operation code reaches a transaction's connection
//! ([`crate::transaction_access!`]). Beginning and committing a transaction, and the audit and outbox
//! rows, stay each backend's own.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::SqlRow;
use cityserve_store::{Idempotency, StoreError, StoreResult};

/// Claims key `$3` in key space `$2` of department `$1` for operation `$4` on a request hashed
/// `$5`, creating resource `$6`, at `$7`; inserts nothing if the key is taken.
pub const CLAIM_KEY: &str =
    "INSERT INTO idempotency_keys (department_id, caller, request_id, operation, request_hash, resource_id,
         create_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";
/// What a taken key was claimed for.
pub const SELECT_KEY: &str = "SELECT operation, request_hash, resource_id FROM idempotency_keys
     WHERE department_id = $1 AND caller = $2 AND request_id = $3";

/// Records what the request that claimed key `$3` (key space `$2`, department `$1`) made, `$4`,
/// when that is only known after the operation (an item-by-item batch's refusals).
pub const RECORD_KEY: &str = "UPDATE idempotency_keys SET resource_id = $4
     WHERE department_id = $1 AND caller = $2 AND request_id = $3";

/// A taken key ([`SELECT_KEY`]'s row): `Some(id)` for a retry of the same request (the same
/// operation and hash) that created `id`, else [`StoreError::IdempotencyMismatch`].
pub fn retried(row: &impl SqlRow, operation: &str, idem: &Idempotency) -> StoreResult<Option<String>> {
    if row.text("operation")? == operation && row.text("request_hash")? == idem.request_hash {
        Ok(Some(row.text("resource_id")?))
    } else {
        Err(StoreError::IdempotencyMismatch)
    }
}

/// What a batch's transaction (group commit) writes once, at its commit, instead of statement by
/// statement: every submission's report-card increments, summed (one upsert per table) and its
/// audit row and outbox event (one multi-row insert each, in submission order, so events keep
/// commit order).
#[derive(Debug, Default)]
pub struct Deferred {
    /// Report-card counter increments.
    pub deltas: Vec<cityserve_domain::report::Delta>,
    /// Audit rows with their events.
    pub records: Vec<Recorded>,
}

/// One write's audit row and outbox event, waiting for its batch's commit.
#[derive(Debug)]
pub struct Recorded {
    /// The department both rows belong to.
    pub department: String,
    /// Audit: the acting subject.
    pub actor_subject: String,
    /// Audit: the acting role.
    pub actor_role: &'static str,
    /// The audit action, also the event type.
    pub action: &'static str,
    /// The resource written.
    pub resource: String,
    /// The request's trace id.
    pub trace_id: Option<String>,
    /// The event's payload (JSON text).
    pub payload: String,
    /// When it was written, in microseconds since the epoch.
    pub at: i64,
}

impl Recorded {
    /// The audit row and event of a write by `ctx` to `resource` of `department`.
    pub fn of(
        ctx: &cityserve_store::WriteCtx<'_>,
        department: &cityserve_domain::DepartmentId,
        resource: &str,
        payload: &serde_json::Value,
    ) -> Self {
        Self {
            department: department.as_str().to_owned(),
            actor_subject: ctx.actor.subject.clone(),
            actor_role: ctx.actor.role.as_str(),
            action: ctx.action,
            resource: resource.to_owned(),
            trace_id: ctx.trace_id.clone(),
            payload: payload.to_string(),
            at: cityserve_store::now_micros().timestamp_micros(),
        }
    }
}

/// `claim_key`, expanded in a backend's write module, whose `WriteTx` (`crate::Tx`) has the
/// fields `tx` (the transaction) and `key_space` (whose keys it claims). It binds the time with
/// `crate::at` and maps errors with `crate::db_err`.
#[macro_export]
macro_rules! claim_key {
    () => {
        /// Claims an idempotency key in the caller's key space, before the operation. `Ok(None)`:
        /// first use, go on and create. `Ok(Some(id))`: a retry of the request that created `id`.
        /// A concurrent retry waits for the first transaction (for its key's row, or for the one
        /// writer) and then sees its key.
        pub(crate) async fn claim_key(
            tx: &mut crate::Tx<'_>,
            department: &cityserve_domain::DepartmentId,
            idem: &cityserve_store::Idempotency,
            operation: &str,
            resource_id: &str,
        ) -> cityserve_store::StoreResult<Option<String>> {
            let inserted = sqlx::query($crate::write::CLAIM_KEY)
                .bind(department.as_str())
                .bind(&tx.key_space)
                .bind(&idem.request_id)
                .bind(operation)
                .bind(&idem.request_hash)
                .bind(resource_id)
                .bind(crate::at(cityserve_store::now_micros()))
                .execute(&mut *tx.tx)
                .await
                .map_err(crate::db_err)?;
            if inserted.rows_affected() == 1 {
                return Ok(None);
            }
            let row = sqlx::query($crate::write::SELECT_KEY)
                .bind(department.as_str())
                .bind(&tx.key_space)
                .bind(&idem.request_id)
                .fetch_one(&mut *tx.tx)
                .await
                .map_err(crate::db_err)?;
            $crate::write::retried(&row, operation, idem)
        }

        /// What a taken key answers, without claiming a free one: `Ok(None)` when the key is
        /// free, else as [`claim_key`]. A batch asks this for a submission it must refuse, so a
        /// retry of an accepted request still replays and a refusal leaves no key behind.
        pub(crate) async fn existing_key(
            tx: &mut crate::Tx<'_>,
            department: &cityserve_domain::DepartmentId,
            idem: &cityserve_store::Idempotency,
            operation: &str,
        ) -> cityserve_store::StoreResult<Option<String>> {
            let row = sqlx::query($crate::write::SELECT_KEY)
                .bind(department.as_str())
                .bind(&tx.key_space)
                .bind(&idem.request_id)
                .fetch_optional(&mut *tx.tx)
                .await
                .map_err(crate::db_err)?;
            match row {
                Some(row) => $crate::write::retried(&row, operation, idem),
                None => Ok(None),
            }
        }

        /// Replaces what the key this transaction claimed records, once the operation knows it.
        pub(crate) async fn record_key(
            tx: &mut crate::Tx<'_>,
            department: &cityserve_domain::DepartmentId,
            idem: &cityserve_store::Idempotency,
            resource_id: &str,
        ) -> cityserve_store::StoreResult<()> {
            sqlx::query($crate::write::RECORD_KEY)
                .bind(department.as_str())
                .bind(&tx.key_space)
                .bind(&idem.request_id)
                .bind(resource_id)
                .execute(&mut *tx.tx)
                .await
                .map_err(crate::db_err)?;
            Ok(())
        }
    };
}

/// `Deref` and `DerefMut` to the connection (`crate::Conn`) for `$ty`, whose field `$field` holds
/// the transaction or pooled connection: operation code runs statements on `&mut *tx`. With
/// `finish`, also `finish()`, which ends a read (commits: a read has nothing to persist); with
/// `rollback`, `rollback()`, which abandons a write (also what dropping it does).
#[macro_export]
macro_rules! transaction_access {
    ($ty:ty, $field:ident) => {
        impl std::ops::Deref for $ty {
            type Target = crate::Conn;
            fn deref(&self) -> &crate::Conn {
                &self.$field
            }
        }

        impl std::ops::DerefMut for $ty {
            fn deref_mut(&mut self) -> &mut crate::Conn {
                &mut self.$field
            }
        }
    };
    ($ty:ty, $field:ident, finish) => {
        $crate::transaction_access!($ty, $field);

        impl $ty {
            /// Ends the read (nothing to persist).
            pub(crate) async fn finish(self) -> cityserve_store::StoreResult<()> {
                self.$field.commit().await.map_err(crate::db_err)
            }
        }
    };
    ($ty:ty, $field:ident, rollback) => {
        $crate::transaction_access!($ty, $field);

        impl $ty {
            /// Abandons the write (also what dropping it does, without waiting for the database).
            pub(crate) async fn rollback(self) -> cityserve_store::StoreResult<()> {
                self.$field.rollback().await.map_err(crate::db_err)
            }
        }
    };
}
