//! WAL checkpoints off the writer's thread.
//!
//! In WAL mode a commit appends pages to the write-ahead log, and a checkpoint copies them back
//! into the database file and syncs both files. By default the committing connection runs one
//! whenever the log holds 1,000 pages: here that is the one writer, whose every statement the
//! whole write path waits for. Under the `submit` load the writer's thread spent 8% of its CPU in
//! checkpoints, and waited for their `fsync`s besides (docs/write-path-benchmarks.md, "SQLite:
//! fewer crossings per batch"). So a task of its own checkpoints instead, on a reader connection,
//! after commits: `PASSIVE`, which never waits for the writer or readers, copying what it can. The
//! writer keeps a checkpoint of its own at [`WRITER_FALLBACK_PAGES`], should this task fall behind.
//!
//! Durability does not change: a commit is in the log when it is acknowledged, as before
//! (`synchronous = NORMAL`), and a checkpoint only moves committed pages.
//!
//! The log file grows larger under a sustained load: SQLite rewinds the log only when a write
//! transaction begins with all of it copied, and a writer that is never idle begins its next
//! transaction before this task's checkpoint ends. The log then grows to
//! [`WRITER_FALLBACK_PAGES`], where the writer's own checkpoint, with only the last interval's
//! pages left to copy, lets it rewind: a file of up to 64 MiB, where it was about 4 MiB.

use sqlx::SqlitePool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The least time between two checkpoints: a checkpoint copies every page committed since the
/// last, so under a steady load a page rewritten by every batch (an index's root, a day's
/// counters) is copied once per interval, not once per 1,000 pages of log.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

/// Log pages past which the writer checkpoints itself (`wal_autocheckpoint`; SQLite's default is
/// 1,000): about 64 MiB, far more than [`EVERY`]'s worth of commits (about 2,000 pages under the
/// `submit` benchmark), so reached only under a sustained load (see above) or if the task falls
/// behind.
pub(crate) const WRITER_FALLBACK_PAGES: u32 = 16_384;

/// Starts the task that checkpoints `pool`'s database: after a commit ([`Commits::committed`]), at
/// most once per [`EVERY`]. It ends when the pool is closed ([`Commits::closed`]).
pub(crate) fn start(pool: SqlitePool) -> Commits {
    let notify = Arc::new(Notify::new());
    let commits = notify.clone();
    tokio::spawn(async move {
        loop {
            notify.notified().await;
            // Commits that land meanwhile are in this checkpoint.
            tokio::time::sleep(EVERY).await;
            // (busy, pages in the log, pages of it now in the database file).
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await {
                Ok((_, log, copied)) => tracing::debug!(log, copied, "WAL checkpoint"),
                Err(sqlx::Error::PoolClosed) => break,
                Err(e) => tracing::warn!(
                    error = %e,
                    "WAL checkpoint failed; the writer checkpoints itself past {WRITER_FALLBACK_PAGES} pages of log"
                ),
            }
        }
    });
    Commits(commits)
}

/// Tells the checkpoint task ([`start`]) that the log has grown.
#[derive(Clone, Debug)]
pub(crate) struct Commits(Arc<Notify>);

impl Commits {
    /// A write committed: a checkpoint follows within [`EVERY`].
    pub(crate) fn committed(&self) {
        self.0.notify_one();
    }

    /// The pool was closed: the task wakes, finds it closed and ends.
    pub(crate) fn closed(&self) {
        self.0.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use sqlx::{ConnectOptions as _, Connection as _};

    /// Pages committed to the log reach the database file without the writer checkpointing:
    /// the writer here never does (`wal_autocheckpoint = 0`), so only the task can move them.
    #[tokio::test]
    async fn a_commit_is_checkpointed_by_the_task_not_the_writer() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("c.db");
        let options =
            SqliteConnectOptions::new().filename(&file).create_if_missing(true).journal_mode(SqliteJournalMode::Wal);
        let mut writer = options.clone().pragma("wal_autocheckpoint", "0").connect().await.expect("writer");
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.expect("readers");
        let commits = start(pool.clone());
        let before = std::fs::metadata(&file).expect("database file").len();

        let mut tx = writer.begin().await.expect("begin");
        sqlx::query("CREATE TABLE t (x TEXT NOT NULL)").execute(&mut *tx).await.expect("table");
        for _ in 0..100 {
            sqlx::query("INSERT INTO t (x) VALUES (?)").bind("x".repeat(1_000)).execute(&mut *tx).await.expect("row");
        }
        tx.commit().await.expect("commit");
        assert_eq!(std::fs::metadata(&file).expect("database file").len(), before, "the writer checkpointed");
        commits.committed();

        // The task waits EVERY, then copies the log's pages into the file.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&file).expect("database file").len() <= before {
            assert!(std::time::Instant::now() < deadline, "no checkpoint within 10 s");
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        pool.close().await;
        commits.closed();
    }
}
