//! Storage reads for the board report: a quarter's coordination records, city-wide.
use crate::StoreResult;
use chrono::{DateTime, Utc};
use cityserve_domain::TenantScope;
use cityserve_domain::board::BoardFacts;
use std::future::Future;

/// The board report's reads.
pub trait BoardStore: Clone + Send + Sync + 'static {
    /// The records of `[start, end)` in `scope` (city-wide for the Chief and auditors):
    /// initiatives started and finished, dumb rules killed or revised, the most recognised
    /// officers ([`cityserve_domain::board::HEROES`]) and panel findings recorded or resolved
    /// (at most [`cityserve_domain::board::FINDINGS`]), and the CSO seats vacant at `end` (or now,
    /// if sooner; the Chief's own office left out), in one read transaction.
    fn board_facts(
        &self,
        scope: &TenantScope,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<BoardFacts>> + Send;
}
