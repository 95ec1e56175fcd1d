//! Group commit: concurrent submissions share one transaction, and so do the audit rows of
//! concurrent audited reads ([`AuditQueue`]: a resident's timeline is answered only once its audit
//! rows are committed, and without a queue every read paid a transaction and a commit of its own),
//! and so do concurrent case changes ([`CaseQueue`]: transitions, assignments, notes).
//!
//! A submission's cost is mostly fixed per transaction (`BEGIN`, `COMMIT` and its log write, the
//! tenant settings, the department's intake, the audit and outbox statements), so a backend runs
//! the submissions waiting at the same moment as one batch: one transaction, one commit. A
//! [`GroupCommit`] is the queue in front of a backend's writers. A writer takes everything waiting
//! (at most `max_batch`) as soon as it is free: a batch closes when a writer is free, never on a
//! timer, so a lone submission waits for nobody. Each submission keeps its own answer, sent only
//! after its batch committed; how a backend keeps each request's own semantics inside a batch is
//! in `cityserve_store_sql::feedback_group_commit!`.
//!
//! The writers are tasks of their own, so a caller that goes away (a client cancelling its call)
//! never abandons a batch that others wait on: its submission is written anyway, and a retry
//! with the same request ID replays it.
use crate::feedback::Submitted;
use crate::{Idempotency, StoreError, StoreResult, WriteCtx};
use cityserve_domain::{Caller, Case, CaseEntry, DepartmentId, NewFeedback, TenantScope};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// A [`WriteCtx`] that owns what it names, so a submission can wait in the queue.
#[derive(Debug, Clone)]
pub struct OwnedWriteCtx {
    /// The authorized tenant scope.
    pub scope: TenantScope,
    /// The authenticated caller.
    pub actor: Caller,
    /// Audit action name and event type.
    pub action: &'static str,
    /// W3C trace id of the request.
    pub trace_id: Option<String>,
}

impl OwnedWriteCtx {
    /// Copies `ctx`.
    pub fn of(ctx: &WriteCtx<'_>) -> Self {
        Self { scope: ctx.scope.clone(), actor: ctx.actor.clone(), action: ctx.action, trace_id: ctx.trace_id.clone() }
    }

    /// The borrowed form the store's write path takes.
    pub fn ctx(&self) -> WriteCtx<'_> {
        WriteCtx { scope: &self.scope, actor: &self.actor, action: self.action, trace_id: self.trace_id.clone() }
    }
}

/// What a `SubmitFeedback` brings to its batch.
#[derive(Debug)]
pub struct SubmitFeedback {
    /// Who submits, under which scope.
    pub ctx: OwnedWriteCtx,
    /// The request's idempotency key and fingerprint.
    pub idem: Idempotency,
    /// What is submitted.
    pub new: NewFeedback,
}

/// A `SubmitFeedback` waiting for its batch.
pub type Submission = Pending<SubmitFeedback, StoreResult<Submitted>>;

/// The queue of `SubmitFeedback` calls in front of a backend's writers.
pub type SubmitQueue = GroupCommit<SubmitFeedback, StoreResult<Submitted>>;

/// A request waiting for its batch, with the way back to its caller.
#[derive(Debug)]
pub struct Pending<Q, A> {
    /// The request.
    pub request: Q,
    reply: oneshot::Sender<A>,
}

impl<Q, A> Pending<Q, A> {
    /// Answers the caller (who may have gone away: then nobody hears it, and the write stands).
    pub fn answer(self, answer: A) {
        let _ = self.reply.send(answer);
    }
}

/// The queue of requests in front of a backend's writer tasks. Cloning shares the queue.
#[derive(Debug)]
pub struct GroupCommit<Q, A> {
    queue: mpsc::Sender<Pending<Q, A>>,
}

impl<Q, A> Clone for GroupCommit<Q, A> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone() }
    }
}

/// How many requests may wait before a caller waits for room (back-pressure, so a burst queues
/// in callers' tasks rather than without bound).
const QUEUE: usize = 4096;

impl<Q: Send + 'static, A: Send + 'static> GroupCommit<Q, A> {
    /// Starts `writers` tasks, each running `write` on up to `max_batch` waiting requests at a
    /// time. `write` must answer every request it is given. The tasks end when every clone of the
    /// returned queue is dropped. `queue` names it in the batch-size metric's `queue` attribute.
    pub fn start<W, F>(queue: &'static str, writers: usize, max_batch: usize, write: W) -> Self
    where
        W: Fn(Vec<Pending<Q, A>>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let name = [opentelemetry::KeyValue::new("queue", queue)];
        let (queue, rx) = mpsc::channel(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let max_batch = max_batch.max(1);
        // What an operator tunes `max_batch` by: how full the batches run under the real load.
        let sizes = opentelemetry::global::meter("cityserve")
            .u64_histogram("cityserve.write.batch_size")
            .with_description("Requests written in one group-commit transaction")
            .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0])
            .build();
        for _ in 0..writers.max(1) {
            let rx = Arc::clone(&rx);
            let write = write.clone();
            let (sizes, name) = (sizes.clone(), name.clone());
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&rx, max_batch).await {
                    sizes.record(batch.len() as u64, &name);
                    write(batch).await;
                }
            });
        }
        Self { queue }
    }

    /// Queues a request and waits for its answer; `None` when the writers have stopped.
    pub async fn call(&self, request: Q) -> Option<A> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { request, reply }).await.ok()?;
        answer.await.ok()
    }
}

impl GroupCommit<SubmitFeedback, StoreResult<Submitted>> {
    /// Queues a submission and waits for its answer, sent after its batch committed.
    pub async fn submit(&self, ctx: &WriteCtx<'_>, idem: &Idempotency, new: &NewFeedback) -> StoreResult<Submitted> {
        let request = SubmitFeedback { ctx: OwnedWriteCtx::of(ctx), idem: idem.clone(), new: new.clone() };
        self.call(request)
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable("the store's writers have stopped".into())))
    }
}

/// The audit rows of a read that is audited (a resident's timeline): one per department, written
/// in a batch's transaction with the rows of the other reads waiting at the same moment.
#[derive(Debug)]
pub struct ReadAudit {
    /// Who read, under which scope (its action is the audit action).
    pub ctx: OwnedWriteCtx,
    /// The departments the read is audited in.
    pub departments: Vec<DepartmentId>,
    /// The resource read.
    pub resource: String,
}

/// An audited read waiting for its batch.
pub type AuditedRead = Pending<ReadAudit, StoreResult<()>>;

/// The queue of audited reads in front of a backend's writers.
pub type AuditQueue = GroupCommit<ReadAudit, StoreResult<()>>;

impl GroupCommit<ReadAudit, StoreResult<()>> {
    /// Queues a read's audit rows and waits until its batch committed them: the read's result
    /// may go out only then.
    pub async fn audit(&self, ctx: &WriteCtx<'_>, departments: &[&DepartmentId], resource: &str) -> StoreResult<()> {
        let request = ReadAudit {
            ctx: OwnedWriteCtx::of(ctx),
            departments: departments.iter().map(|&d| d.clone()).collect(),
            resource: resource.to_owned(),
        };
        self.call(request)
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable("the store's writers have stopped".into())))
    }
}

/// A case change (`FeedbackStore::save_case`: a transition, an assignment, a note) waiting for its
/// batch: saved only if the case is still at `expected_revision` when its turn in the batch comes.
#[derive(Debug)]
pub struct SaveCase {
    /// Who changes the case, under which scope.
    pub ctx: OwnedWriteCtx,
    /// The case as it should be saved.
    pub case: Case,
    /// The revision the change was made against.
    pub expected_revision: i64,
    /// The note or recovery action appended with it.
    pub entry: Option<CaseEntry>,
}

/// A case change waiting for its batch.
pub type CaseSave = Pending<SaveCase, StoreResult<Case>>;

/// The queue of case changes in front of a backend's writers.
pub type CaseQueue = GroupCommit<SaveCase, StoreResult<Case>>;

impl GroupCommit<SaveCase, StoreResult<Case>> {
    /// Queues a case change and waits for its answer (the case as saved), sent after its batch
    /// committed.
    pub async fn save(
        &self,
        ctx: &WriteCtx<'_>,
        case: &Case,
        expected_revision: i64,
        entry: Option<&CaseEntry>,
    ) -> StoreResult<Case> {
        let request =
            SaveCase { ctx: OwnedWriteCtx::of(ctx), case: case.clone(), expected_revision, entry: entry.cloned() };
        self.call(request)
            .await
            .unwrap_or_else(|| Err(StoreError::Unavailable("the store's writers have stopped".into())))
    }
}

/// Waits for one request, then takes whatever else is already waiting, up to `max_batch`. The
/// receiver is held only while taking, so another free writer takes the next batch.
async fn next_batch<Q, A>(rx: &Mutex<mpsc::Receiver<Pending<Q, A>>>, max_batch: usize) -> Option<Vec<Pending<Q, A>>> {
    let mut rx = rx.lock().await;
    let first = rx.recv().await?;
    let mut batch = Vec::with_capacity(max_batch.min(64));
    batch.push(first);
    while batch.len() < max_batch {
        match rx.try_recv() {
            Ok(s) => batch.push(s),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn waiting_requests_share_a_batch_and_each_gets_its_own_answer() {
        let batches = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = Arc::clone(&batches);
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let held = Arc::clone(&gate);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let group = GroupCommit::start("test", 1, 8, move |batch: Vec<Pending<u32, Result<u32, String>>>| {
            let seen = Arc::clone(&seen);
            let held = Arc::clone(&held);
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    // The first batch waits, so the next requests queue behind it.
                    held.acquire().await.expect("open").forget();
                }
                seen.lock().expect("lock").push(batch.len());
                for p in batch {
                    let n = p.request;
                    p.answer(if n == 5 { Err(format!("{n} refused")) } else { Ok(n * 10) });
                }
            }
        });
        let first = tokio::spawn({
            let group = group.clone();
            async move { group.call(0).await }
        });
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (1..=12)
            .map(|n| {
                let group = group.clone();
                tokio::spawn(async move { group.call(n).await })
            })
            .collect();
        // Let all twelve reach the queue before the first batch ends.
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1);
        assert_eq!(first.await.expect("task"), Some(Ok(0)));
        for (n, r) in (1..).zip(rest) {
            let want = if n == 5 { Err("5 refused".to_owned()) } else { Ok(n * 10) };
            assert_eq!(r.await.expect("task"), Some(want));
        }
        // One alone, then the twelve that waited, in batches of at most eight.
        assert_eq!(*batches.lock().expect("lock"), [1, 8, 4]);
    }

    #[tokio::test]
    async fn a_lone_request_is_written_at_once() {
        let group = GroupCommit::start("test", 2, 128, |batch: Vec<Pending<u32, u32>>| async move {
            for p in batch {
                let n = p.request;
                p.answer(n + 1);
            }
        });
        // No timer: the answer comes without any other request arriving.
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), group.call(41)).await;
        assert_eq!(answer.expect("answered at once"), Some(42));
    }
}
