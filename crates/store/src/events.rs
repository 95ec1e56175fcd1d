//! Storage for the outbox event stream that `Watch` reads.
use crate::coordination::*;
use crate::{FeedbackStore, StoreResult};
use cityserve_domain::TenantScope;
use std::future::Future;

/// Storage for the outbox event stream that `Watch` reads. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait EventStore: FeedbackStore {
    /// Up to `limit` events after `cursor` in delivery order, as the scope and filter allow.
    /// Delivery order is commit order, so a subscriber that resumes after the last event it saw
    /// misses nothing and sees nothing twice. [`crate::StoreError::NotFound`] if `cursor` names
    /// an event the scope does not see.
    fn events_after(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        cursor: EventCursor,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Event>>> + Send;

    /// The newest event in scope (`None` if there is none), to start a subscription at "now".
    fn latest_event(&self, scope: &TenantScope) -> impl Future<Output = StoreResult<Option<i64>>> + Send;

    /// A signal that changes whenever new events may have been committed (by this process, or on
    /// PostgreSQL by any replica). Subscribers re-read after it changes.
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64>;
}
