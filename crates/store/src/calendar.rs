//! Storage for city time: the city's calendar and departments' overrides of it.
use crate::{StoreResult, WriteCtx};
use cityserve_domain::{CityCalendar, DepartmentCalendar, DepartmentId, TenantScope};
use std::future::Future;

/// A saved calendar and how many due times the save moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved<T> {
    /// The calendar as stored (new revision and update time).
    pub calendar: T,
    /// Running cases whose due times changed, in the same transaction.
    pub rescheduled: u32,
}

/// Storage for the city's calendar and departments' overrides.
///
/// Saving a calendar recomputes, in the same transaction, the due times (acknowledge and resolve)
/// of every running case (open, acknowledged, in progress) that runs on it: the whole city's for
/// the city calendar, one department's for an override. A pending hand-off keeps the accept-by
/// time set when it was sent. Each department touched gets
/// the save's audit row and event, whose payload says how many of its due times moved.
/// `expected_revision` is the revision read (0 for a calendar never saved); a stale one fails
/// with [`crate::StoreError::Conflict`].
pub trait CalendarStore: Clone + Send + Sync + 'static {
    /// The city's calendar, or [`CityCalendar::default`] (revision 0) before the Chief saves one.
    fn get_city_calendar(&self, scope: &TenantScope) -> impl Future<Output = StoreResult<CityCalendar>> + Send;

    /// Saves the city's calendar (the scope must be city-wide) and reschedules every department.
    fn update_city_calendar(
        &self,
        ctx: &WriteCtx<'_>,
        calendar: &CityCalendar,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Saved<CityCalendar>>> + Send;

    /// A department's override, or [`DepartmentCalendar::city_default`] (revision 0) before its
    /// CSO saves one. A department outside `scope` or missing is [`crate::StoreError::NotFound`].
    fn get_department_calendar(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> impl Future<Output = StoreResult<DepartmentCalendar>> + Send;

    /// Saves a department's override and reschedules that department.
    fn update_department_calendar(
        &self,
        ctx: &WriteCtx<'_>,
        calendar: &DepartmentCalendar,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Saved<DepartmentCalendar>>> + Send;
}
