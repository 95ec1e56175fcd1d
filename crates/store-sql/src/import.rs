//! Bulk imports: the pipeline both backends run ([`Pipeline`]: the next batch is received and
//! prepared on a blocking thread while the previous one is written) and the steps around it
//! ([`crate::import_steps!`]). How a batch is prepared and written (column arrays on PostgreSQL,
//! multi-row INSERTs on SQLite) stays each backend's own.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use cityserve_store::import::{ImportCounters, ImportRules, ImportedContact};
use cityserve_store::{StoreError, StoreResult};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The IDs of a department's officers (a case's assignee must be one of them).
pub const DEPARTMENT_OFFICERS: &str = "SELECT officer_id FROM officers WHERE department_id = $1";

/// How a backend prepares a batch (its contacts numbered from `first`) for writing: validated,
/// and whatever else can be done off the database's task, with the counters the batch adds.
pub type Prepare<P> = fn(&ImportRules, usize, Vec<ImportedContact>) -> StoreResult<(P, ImportCounters)>;

/// `items` as a stream of batches of `size` contacts (for [`cityserve_store::ImportStore::import_contacts`],
/// which feeds a slice to `import_stream`).
pub fn batches(items: &[ImportedContact], size: usize) -> StoreResult<mpsc::Receiver<Vec<ImportedContact>>> {
    let chunks = items.chunks(size);
    let (tx, rx) = mpsc::channel(chunks.len().max(1));
    for chunk in chunks {
        tx.try_send(chunk.to_vec()).map_err(|_| StoreError::Internal("import channel full".into()))?;
    }
    Ok(rx)
}

/// An import's batches on their way to the database: each is received and prepared on a
/// blocking thread while the previous one is written, so the producer, the preparation and the
/// database all work at once.
///
/// The import's running counters travel with the jobs: each batch's job adds its counters to
/// those of the batches before it, on its blocking thread. Summed on the import's own task, they
/// held up the database between batches: SQLite's one database thread waited for that task to
/// send the next statement, and the SQLite demo load gained a tenth when they moved
/// (docs/write-path-benchmarks.md, "Bulk loads").
pub struct Pipeline<P> {
    rules: Arc<ImportRules>,
    prepare: Prepare<P>,
    next: Option<JoinHandle<StoreResult<(P, ImportCounters)>>>,
    received: usize,
    /// The counters of every batch prepared so far; lent to the job preparing the next one.
    counters: Option<ImportCounters>,
}

impl<P: Send + 'static> Pipeline<P> {
    /// Receives the first batch and starts preparing it.
    pub async fn start(
        rules: Arc<ImportRules>,
        prepare: Prepare<P>,
        batches: &mut mpsc::Receiver<Vec<ImportedContact>>,
    ) -> Self {
        let mut pipeline = Self { rules, prepare, next: None, received: 0, counters: Some(ImportCounters::default()) };
        pipeline.next = pipeline.receive(batches.recv().await);
        pipeline
    }

    fn receive(&mut self, items: Option<Vec<ImportedContact>>) -> Option<JoinHandle<StoreResult<(P, ImportCounters)>>> {
        let items = items?;
        let (rules, prepare, first) = (Arc::clone(&self.rules), self.prepare, self.received);
        // The previous job has been awaited (`next` comes first), so its counters are back.
        let mut counters = self.counters.take().unwrap_or_default();
        self.received += items.len();
        Some(tokio::task::spawn_blocking(move || {
            let (prepared, added) = prepare(&rules, first, items)?;
            counters.merge(added);
            Ok((prepared, counters))
        }))
    }

    /// The next prepared batch (`None` after the last), its counters counted.
    pub async fn next(&mut self) -> StoreResult<Option<P>> {
        let Some(job) = self.next.take() else { return Ok(None) };
        let (prepared, counters) =
            job.await.map_err(|e| StoreError::Internal(format!("import preparation failed: {e}")))??;
        self.counters = Some(counters);
        Ok(Some(prepared))
    }

    /// Runs `write` (of the batch [`Pipeline::next`] returned) while the following batch is
    /// received and its preparation started.
    pub async fn write_while_receiving(
        &mut self,
        batches: &mut mpsc::Receiver<Vec<ImportedContact>>,
        write: impl Future<Output = StoreResult<()>>,
    ) -> StoreResult<()> {
        // The following batch's preparation starts as soon as it arrives, not after the write.
        let (next, written) = tokio::join!(async { self.receive(batches.recv().await) }, write);
        written?;
        self.next = next;
        Ok(())
    }

    /// How many contacts were received, and the counters they add.
    pub fn finish(self) -> (usize, ImportCounters) {
        (self.received, self.counters.unwrap_or_default())
    }
}

/// The steps of an import around its [`Pipeline`], expanded in a backend's import module: the
/// rules its batches are validated against (`import_rules`), and its end (`import_done`: the
/// counters, the audit record and the event, in the import's transaction). They use
/// `crate::feedback::intake`, `crate::apply_deltas`, `crate::record` and `crate::db_err`.
#[macro_export]
macro_rules! import_steps {
    () => {
        /// What an import into `department` is validated against: its active categories and its
        /// officers.
        async fn import_rules(
            conn: &mut crate::Conn,
            department: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<std::sync::Arc<cityserve_store::import::ImportRules>> {
            let intake = crate::feedback::intake(conn, department).await?;
            let officers: Vec<String> = sqlx::query_scalar($crate::import::DEPARTMENT_OFFICERS)
                .bind(department.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            Ok(std::sync::Arc::new(cityserve_store::import::ImportRules {
                department: department.clone(),
                active_categories: intake.active_categories,
                attributes: intake.attributes,
                officers: officers.into_iter().collect(),
                zone: intake.rollup_zone,
            }))
        }

        /// Ends an import of `received` contacts: adds their counters, records it; returns how
        /// many were imported.
        async fn import_done(
            tx: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            department: &cityserve_domain::DepartmentId,
            (received, counters): (usize, cityserve_store::import::ImportCounters),
        ) -> cityserve_store::StoreResult<u64> {
            crate::apply_deltas(tx, &counters.into_deltas(department)).await?;
            let payload = serde_json::json!({ "imported": received });
            crate::record(tx, ctx, department, &cityserve_store::resource::department(department), payload).await?;
            Ok(u64::try_from(received).unwrap_or(u64::MAX))
        }
    };
}
