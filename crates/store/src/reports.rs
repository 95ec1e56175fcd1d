//! Storage for report-card figures: rollup counters, live figures, plan focus progress.
use crate::{FeedbackStore, StoreResult, WriteCtx};
use cityserve_domain::report::{LiveFigures, Metrics, Period};
use cityserve_domain::{DepartmentId, TenantScope};
use std::future::Future;

/// What a rollup rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollupRebuild {
    /// The time zone the counters are now keyed in.
    pub zone: chrono_tz::Tz,
    /// The zone they were keyed in before.
    pub previous_zone: chrono_tz::Tz,
    /// Daily counter rows written.
    pub counters: usize,
    /// Raw rows read (contacts, cases, recovery actions, hand-offs, escalations).
    pub rows: u64,
}

/// Storage for report-card figures: rollup counters, live figures, plan focus progress. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait ReportStore: FeedbackStore {
    /// The time zone the counters are keyed in: report periods are local dates of it (the city
    /// calendar's zone as of the last rebuild).
    fn rollup_zone(&self, scope: &TenantScope) -> impl Future<Output = StoreResult<chrono_tz::Tz>> + Send;

    /// Rewrites every counter from the raw rows, keyed by local days of the city calendar's
    /// time zone, in one transaction (writes of counters wait for it), audited and announced as
    /// `rollups.rebuild` on every department. With `only_if_stale`, does nothing (`None`) unless
    /// the counters were built under an older [`cityserve_domain::report::ROLLUP_VERSION`] or
    /// another time zone. Needs a city-wide scope (the Chief's, or the server's own). `read`
    /// counts the raw rows read so far, for a progress display.
    fn rebuild_rollups(
        &self,
        ctx: &WriteCtx<'_>,
        only_if_stale: bool,
        read: &std::sync::atomic::AtomicU64,
    ) -> impl Future<Output = StoreResult<Option<RollupRebuild>>> + Send;

    /// Summed rollup counters per department over `[from_day, to_day)` (local day numbers), for
    /// `departments` (`None`: every department in scope). Departments without counters are absent.
    fn rollup_metrics(
        &self,
        scope: &TenantScope,
        departments: Option<&[DepartmentId]>,
        from_day: i64,
        to_day: i64,
    ) -> impl Future<Output = StoreResult<Vec<(DepartmentId, Metrics)>>> + Send;

    /// [`ReportStore::rollup_metrics`] of only the metrics named in `names` (the dashboard's
    /// comparison span needs a few of a card's hundred).
    fn rollup_metrics_named(
        &self,
        scope: &TenantScope,
        departments: Option<&[DepartmentId]>,
        from_day: i64,
        to_day: i64,
        names: &[&str],
    ) -> impl Future<Output = StoreResult<Vec<(DepartmentId, Metrics)>>> + Send;

    /// The figures of a report card read live: recognitions and retired dumb rules in the period,
    /// current competency gaps, and the plan's focus-area progress. The department must exist and
    /// be in scope ([`crate::StoreError::NotFound`] otherwise). One department's
    /// [`ReportStore::live_figures_of`].
    fn live_figures(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        period: &Period,
    ) -> impl Future<Output = StoreResult<LiveFigures>> + Send {
        async move {
            let mut figures = self.live_figures_of(scope, std::slice::from_ref(department), period).await?;
            figures.pop().ok_or(crate::StoreError::NotFound)
        }
    }

    /// [`ReportStore::live_figures`] of several departments at once, in the order of
    /// `departments`, read in one transaction with one set-based query (the city dashboard needs
    /// every department's). Every department must exist and be in scope
    /// ([`crate::StoreError::NotFound`] otherwise).
    fn live_figures_of(
        &self,
        scope: &TenantScope,
        departments: &[DepartmentId],
        period: &Period,
    ) -> impl Future<Output = StoreResult<Vec<LiveFigures>>> + Send;

    /// Records the current value of the focus metric of a department's plan for `year`.
    fn record_focus_progress(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        year: i32,
        value: f64,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
