//! Storage for report-card figures: rollup counters, live figures, plan focus progress.
use crate::{FeedbackStore, StoreResult, WriteCtx};
use cityserve_domain::report::{LiveFigures, Metrics, Period};
use cityserve_domain::{DepartmentId, TenantScope};
use std::future::Future;

/// Storage for report-card figures: rollup counters, live figures, plan focus progress. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait ReportStore: FeedbackStore {
    /// Summed rollup counters per department over `[from_day, to_day)` (UTC day numbers), for
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
