//! The parts of each backend's one write path that are the same on both databases: idempotency
//! keys ([`crate::claim_key!`]) and the way operation code reaches a transaction's connection
//! ([`crate::transaction_access!`]). Beginning and committing a transaction, and the audit and outbox
//! rows, stay each backend's own.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::SqlRow;
use cityserve_store::{Idempotency, StoreError, StoreResult};

/// Claims key `$3` in key space `$2` of department `$1` for operation `$4` on a request hashed
/// `$5`, creating resource `$6`, at `$7`; inserts nothing if the key is taken.
/// [`CLAIM_KEYS`] has the statement around it: one row per key, [`multi_row`] numbers them.
pub const CLAIM_KEY_ROW: &str = "($1, $2, $3, $4, $5, $6, $7)";
/// Claims the keys of [`CLAIM_KEY_ROW`]s, returning those it inserted (a key taken before, or by
/// an earlier row of the same statement, is not).
pub const CLAIM_KEYS: MultiRow = MultiRow {
    head: "INSERT INTO idempotency_keys (department_id, caller, request_id, operation, request_hash, resource_id,
         create_time) VALUES ",
    row: CLAIM_KEY_ROW,
    width: 7,
    tail: " ON CONFLICT DO NOTHING RETURNING department_id, caller, request_id",
};
/// What a taken key was claimed for.
pub const SELECT_KEY: &str = "SELECT operation, request_hash, resource_id FROM idempotency_keys
     WHERE department_id = $1 AND caller = $2 AND request_id = $3";

/// Records what the request that claimed key `$3` (key space `$2`, department `$1`) made, `$4`,
/// when that is only known after the operation (an item-by-item batch's refusals).
pub const RECORD_KEY: &str = "UPDATE idempotency_keys SET resource_id = $4
     WHERE department_id = $1 AND caller = $2 AND request_id = $3";

/// One idempotency key to claim ([`claim_key!`]'s `claim_keys`).
#[derive(Debug)]
pub struct KeyClaim<'a> {
    /// The department whose keys it is among.
    pub department: &'a cityserve_domain::DepartmentId,
    /// The caller's key space.
    pub key_space: String,
    /// The request ID and the hash of the request.
    pub idem: &'a Idempotency,
    /// The operation claiming it.
    pub operation: &'a str,
    /// The resource the operation creates.
    pub resource_id: &'a str,
}

/// A multi-row statement: `head`, then `row` once per row with its parameters (`$1` to
/// `$width`) numbered on after the previous row's, then `tail`. A batch writes its rows in chunks
/// of a few lengths ([`chunks`]), so each statement has one of a few texts that the connection
/// prepares once and keeps. A row's parameters appear once each, in order, so the statement can
/// also be written with anonymous `?`s ([`Placeholders::Anonymous`]).
#[derive(Debug, Clone, Copy)]
pub struct MultiRow {
    /// Up to and including `VALUES `.
    pub head: &'static str,
    /// One row's tuple, with parameters `$1` to `$width`, each once and in order.
    pub row: &'static str,
    /// How many parameters a row has.
    pub width: usize,
    /// After the rows (`ON CONFLICT`, `RETURNING`), or empty.
    pub tail: &'static str,
}

/// How a backend's statements assembled at run time write their parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholders {
    /// `$1`, `$2`…: PostgreSQL's only form.
    Numbered,
    /// `?`, bound in order of appearance. On SQLite a numbered parameter costs a search of the
    /// statement's parameter names for each bind (sqlx looks up every parameter's name), so a
    /// statement of n numbered parameters binds in O(n²): 24% of the writer thread in a
    /// group-commit batch (docs/write-path-benchmarks.md). Anonymous ones have no name to search.
    Anonymous,
}

impl MultiRow {
    /// The statement for `rows` rows, its parameters written as `placeholders`.
    pub fn sql(&self, rows: usize, placeholders: Placeholders) -> String {
        let mut sql = String::with_capacity(self.head.len() + rows * (self.row.len() + 16) + self.tail.len());
        sql.push_str(self.head);
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            let mut rest = self.row;
            while let Some(at) = rest.find('$') {
                sql.push_str(&rest[..at]);
                rest = &rest[at + 1..];
                let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                let n: usize = rest[..digits].parse().unwrap_or(0);
                match placeholders {
                    Placeholders::Numbered => {
                        sql.push('$');
                        sql.push_str(&(n + r * self.width).to_string());
                    }
                    Placeholders::Anonymous => sql.push('?'),
                }
                rest = &rest[digits..];
            }
            sql.push_str(rest);
        }
        sql.push_str(self.tail);
        sql
    }

    /// Whether `row` holds `$1` to `$width` once each, in order, as [`Placeholders::Anonymous`]
    /// needs.
    pub fn in_order(&self) -> bool {
        let mut expected = 1;
        let mut rest = self.row;
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if rest[..digits].parse() != Ok(expected) {
                return false;
            }
            expected += 1;
            rest = &rest[digits..];
        }
        expected == self.width + 1
    }
}

/// The most rows one multi-row statement writes: 64 rows of 23 parameters stay far below both
/// databases' limits (SQLite 32,766, PostgreSQL 65,535).
pub const MAX_ROWS_PER_STATEMENT: usize = 64;

/// How a backend splits a batch's rows into multi-row statements ([`chunks`]): fewer
/// statements a batch, or fewer texts for its connections to prepare and keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Powers of two, largest first: 100 rows are written as 64, 32 and 4. At most 7 texts a
    /// statement, up to 7 statements for a batch of 64.
    PowersOfTwo,
    /// Multiples of 8, then the rest: 100 rows are written as 64, 32 and 4, 31 rows as 24 and 7.
    /// At most 15 texts a statement, at most 2 statements for a batch of 64.
    Eighths,
}

/// Splits `0..len` into ranges of at most [`MAX_ROWS_PER_STATEMENT`], largest first, as `split`
/// says.
pub fn chunks(len: usize, split: Split) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = len - start;
        if left == 0 {
            return None;
        }
        let n = match split {
            _ if left >= MAX_ROWS_PER_STATEMENT => MAX_ROWS_PER_STATEMENT,
            Split::PowersOfTwo => 1 << left.ilog2(),
            Split::Eighths if left >= 8 => left & !7,
            Split::Eighths => left,
        };
        start += n;
        Some(start - n..start)
    })
}

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
    /// Audit rows without an event: audited reads' ([`Recorded::payload`] empty).
    pub audits: Vec<Recorded>,
}

/// `batch` split into groups that may share a transaction: by tenant scope where the backend
/// sets its row-level-security settings per transaction (`scoped`), else one group. Each group
/// keeps the batch's order.
pub fn scope_groups<T>(
    batch: Vec<T>,
    scoped: bool,
    scope: impl Fn(&T) -> &cityserve_domain::TenantScope,
) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = Vec::new();
    for item in batch {
        match groups.iter_mut().find(|g| !scoped || scope(&g[0]) == scope(&item)) {
            Some(g) => g.push(item),
            None => groups.push(vec![item]),
        }
    }
    groups
}

/// A group-commit writer for requests `Q` answered with `A`: how a group of them is written in
/// one transaction, and how one is written alone. A store implements it once per queue, and
/// [`start_writers`] runs it.
pub trait GroupWriter<Q, A> {
    /// What the log says when a batch fails and its requests are written again alone.
    const FAILED: &'static str;

    /// The tenant scope `request` writes under (see [`scope_groups`]).
    fn scope(request: &Q) -> &cityserve_domain::TenantScope;

    /// Writes `group` in one transaction: an answer per request, in order, or the error that
    /// undid them all.
    fn batch(
        &self,
        group: &[cityserve_store::group_commit::Pending<Q, A>],
    ) -> impl std::future::Future<Output = StoreResult<Vec<A>>> + Send;

    /// Writes one request in a transaction of its own.
    fn alone(&self, request: &Q) -> impl std::future::Future<Output = A> + Send;
}

/// Starts `queue`'s group commit with `writers` tasks writing through `writer`: each takes the
/// requests waiting (at most `max_batch`), splits them by tenant scope where the backend sets
/// its row-level-security settings per transaction (`scoped`, see [`scope_groups`]), and answers
/// each group with [`batch_or_alone`].
pub fn start_writers<Q, A, W>(
    queue: &'static str,
    writers: usize,
    max_batch: usize,
    scoped: bool,
    writer: W,
) -> cityserve_store::group_commit::GroupCommit<Q, A>
where
    Q: Send + Sync + 'static,
    A: Send + 'static,
    W: GroupWriter<Q, A> + Clone + Send + Sync + 'static,
{
    cityserve_store::group_commit::GroupCommit::start(queue, writers, max_batch, move |batch| {
        let writer = writer.clone();
        async move {
            for group in scope_groups(batch, scoped, |p| W::scope(&p.request)) {
                batch_or_alone(&writer, group).await;
            }
        }
    })
}

/// Answers one group of waiting requests that may share a transaction (a group of
/// [`scope_groups`]): with [`GroupWriter::batch`]'s answers when the group holds more than one
/// request and its transaction commits; else each with [`GroupWriter::alone`]'s. A batch that
/// fails is logged ([`GroupWriter::FAILED`]) and undone, and each of its requests is written
/// again alone, so a request fails only for a reason of its own. The one fallback of every
/// group-commit writer.
async fn batch_or_alone<Q, A, W: GroupWriter<Q, A>>(
    writer: &W,
    group: Vec<cityserve_store::group_commit::Pending<Q, A>>,
) {
    if group.len() > 1 {
        match writer.batch(&group).await {
            Ok(answers) => {
                for (pending, answer) in group.into_iter().zip(answers) {
                    pending.answer(answer);
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, requests = group.len(), "{}", W::FAILED),
        }
    }
    for pending in group {
        let answer = writer.alone(&pending.request).await;
        pending.answer(answer);
    }
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
    /// The audit rows, without events, of a read by `ctx` of `resource`, one per department,
    /// stamped `at` (microseconds since the epoch).
    pub fn audits(
        ctx: &cityserve_store::WriteCtx<'_>,
        departments: &[&cityserve_domain::DepartmentId],
        resource: &str,
        at: i64,
    ) -> Vec<Self> {
        departments
            .iter()
            .map(|d| Self {
                department: d.as_str().to_owned(),
                actor_subject: ctx.actor.subject.clone(),
                actor_role: ctx.actor.role.as_str(),
                action: ctx.action,
                resource: resource.to_owned(),
                trace_id: ctx.trace_id.clone(),
                payload: String::new(),
                at,
            })
            .collect()
    }

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
            let key_space = tx.key_space.clone();
            let claim = $crate::write::KeyClaim { department, key_space, idem, operation, resource_id };
            let mut claimed = claim_keys(tx, std::slice::from_ref(&claim)).await?;
            claimed.pop().unwrap_or(Err(cityserve_store::StoreError::Internal("a claim went unanswered".into())))
        }

        /// Claims several keys at once, in multi-row statements ([`$crate::write::CLAIM_KEYS`]):
        /// for each, what [`claim_key`] would answer for it alone, in order. Of two claims of
        /// one key the first claims it and the second is its retry (or its mismatch).
        pub(crate) async fn claim_keys(
            tx: &mut crate::Tx<'_>,
            claims: &[$crate::write::KeyClaim<'_>],
        ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<Option<String>>>> {
            use $crate::SqlRow as _;
            let mut inserted = std::collections::HashSet::new();
            for range in $crate::write::chunks(claims.len(), crate::SPLIT) {
                let sql = $crate::write::CLAIM_KEYS.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for c in &claims[range] {
                    q = q
                        .bind(c.department.as_str())
                        .bind(&c.key_space)
                        .bind(&c.idem.request_id)
                        .bind(c.operation)
                        .bind(&c.idem.request_hash)
                        .bind(c.resource_id)
                        .bind(crate::at(cityserve_store::now_micros()));
                }
                for row in q.fetch_all(&mut *tx.tx).await.map_err(crate::db_err)? {
                    inserted.insert((row.text("department_id")?, row.text("caller")?, row.text("request_id")?));
                }
            }
            let mut out = Vec::with_capacity(claims.len());
            for c in claims {
                let key = (c.department.as_str().to_owned(), c.key_space.clone(), c.idem.request_id.clone());
                if inserted.remove(&key) {
                    out.push(Ok(None));
                    continue;
                }
                let row = sqlx::query($crate::write::SELECT_KEY)
                    .bind(c.department.as_str())
                    .bind(&c.key_space)
                    .bind(&c.idem.request_id)
                    .fetch_one(&mut *tx.tx)
                    .await
                    .map_err(crate::db_err)?;
                out.push($crate::write::retried(&row, c.operation, c.idem));
            }
            Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_on() {
        let m =
            MultiRow { head: "INSERT INTO t (a, b, c) VALUES ", row: "($1, $2, 0)", width: 2, tail: " RETURNING a" };
        assert_eq!(m.sql(1, Placeholders::Numbered), "INSERT INTO t (a, b, c) VALUES ($1, $2, 0) RETURNING a");
        assert_eq!(
            m.sql(3, Placeholders::Numbered),
            "INSERT INTO t (a, b, c) VALUES ($1, $2, 0), ($3, $4, 0), ($5, $6, 0) RETURNING a"
        );
        assert_eq!(
            m.sql(2, Placeholders::Anonymous),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0) RETURNING a"
        );
        assert!(m.in_order());
        assert!(!MultiRow { row: "($1, $2, $1)", ..m }.in_order(), "a parameter twice");
        assert!(!MultiRow { row: "($2, $1)", ..m }.in_order(), "out of order");
        assert!(!MultiRow { row: "($1)", ..m }.in_order(), "fewer than width");
    }

    /// Every multi-row statement can be written with anonymous placeholders (SQLite's).
    #[test]
    fn every_multi_row_statement_holds_its_parameters_in_order() {
        use crate::feedback::*;
        for m in [
            CLAIM_KEYS,
            SELECT_RESIDENT_KEYS,
            INSERT_IDENTIFIERS,
            INSERT_FEEDBACK,
            UPSERT_CONTACTS,
            INSERT_CASE,
            INSERT_TIMELINE_ENTRY,
            SELECT_CASES,
            SELECT_CASES_FOR_UPDATE,
            INSERT_CASE_ENTRIES,
            UPDATE_CASES,
            UPDATE_TIMELINE_STATUSES,
        ] {
            assert!(m.in_order(), "{}", m.head);
        }
    }

    #[test]
    fn chunks_are_powers_of_two() {
        let lens = |n| chunks(n, Split::PowersOfTwo).map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(lens(0), Vec::<usize>::new());
        assert_eq!(lens(1), vec![1]);
        assert_eq!(lens(100), vec![64, 32, 4]);
        assert_eq!(lens(135), vec![64, 64, 4, 2, 1]);
        assert_eq!(chunks(7, Split::PowersOfTwo).last(), Some(6..7));
    }

    #[test]
    fn chunks_are_eighths_then_the_rest() {
        let lens = |n| chunks(n, Split::Eighths).map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(lens(0), Vec::<usize>::new());
        assert_eq!(lens(7), vec![7]);
        assert_eq!(lens(31), vec![24, 7]);
        assert_eq!(lens(64), vec![64]);
        assert_eq!(lens(100), vec![64, 32, 4]);
        assert_eq!(chunks(135, Split::Eighths).last(), Some(128..135));
        // Every batch of up to 64 rows takes at most two statements, of 15 lengths in all.
        let mut seen = std::collections::BTreeSet::new();
        for n in 1..=MAX_ROWS_PER_STATEMENT {
            let l = lens(n);
            assert!(l.len() <= 2 && l.iter().sum::<usize>() == n, "{n}: {l:?}");
            seen.extend(l);
        }
        assert_eq!(seen.len(), 15);
    }
}
