//! The event stream on PostgreSQL.
use crate::{PgStore, bump, db_err, scope_ids};
use cityserve_domain::TenantScope;
use cityserve_store::EventStore;
use cityserve_store::StoreResult;
use cityserve_store::coordination::{Event, EventCursor, EventFilter};
use std::time::Duration;

impl EventStore for PgStore {
    async fn events_after(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        cursor: EventCursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let after = match cursor {
            EventCursor::Start => None,
            EventCursor::After(s) => Some(s),
        };
        // Events that committed but wait behind an older, still running transaction (of any
        // database on the server: the snapshot's xmin is cluster-wide) are delivered once it
        // ends. Such waits are short; poll for a while so a read right after a commit sees it.
        let mut pause = Duration::from_millis(5);
        let mut waited = Duration::ZERO;
        loop {
            let (events, held) = self.read_events(scope, filter, after, limit).await?;
            if !held || events.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Ok(events);
            }
            if waited >= Duration::from_secs(2) {
                // Still held back: return the final part and wake subscribers again later,
                // since the transaction holding them up may commit no event (no notification).
                let signal = self.events.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    bump(&signal);
                });
                return Ok(events);
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    async fn latest_event(&self, scope: &TenantScope) -> StoreResult<Option<i64>> {
        let mut tx = self.read(scope).await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events
             WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
               AND ($1::text[] IS NULL OR department_id = ANY ($1))
             ORDER BY txid DESC, seq DESC LIMIT 1",
        )
        .bind(scope_ids(scope))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        Ok(latest)
    }

    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }
}
