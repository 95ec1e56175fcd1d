//! CityServe's domain: identifiers, states, validation, the authorization policy and pagination.
//!
//! Pure code: nothing here knows about SQL, gRPC or the clock's source. The store and API crates
//! build on these types so that a rule lives in exactly one place.

#[macro_use]
mod macros;

pub mod attributes;
pub mod audit_action;
pub mod board;
pub mod calendar;
pub mod caller;
pub mod coordination;
pub mod department;
pub mod error;
pub mod feedback;
pub mod ids;
pub mod measures;
pub mod notice;
pub mod observation;
pub mod officer;
pub mod open_data;
pub mod page;
pub mod panel;
pub mod plan;
pub mod policy;
pub mod report;
pub mod service_account;
pub mod survey;
pub mod theme;
pub mod touchpoint;
pub mod validation;

pub use attributes::{AttributeAnswer, AttributeChoice, AttributeDatatype, ServiceAttribute};
pub use audit_action::AuditAction;
pub use calendar::{BusinessCalendar, CityCalendar, Clock, DepartmentCalendar, Holiday, OpeningHours};
pub use caller::{Caller, Role};
pub use department::{
    Channel, Department, DepartmentStatus, NewDepartment, NewServiceCategory, NewServiceStandard, ServiceCategory,
    ServiceCategoryStatus, ServiceStandard, ServiceTargets, resolve_targets,
};
pub use error::DomainError;
pub use feedback::{
    Case, CaseEntry, CaseNote, CaseStatus, CaseTransition, ClientIds, Contact, Feedback, FeedbackKind, Location,
    NewFeedback, RecoveryAction, RecoveryKind, ResidentKeyer, ResidentRef, TimelineEntry,
};
pub use ids::{
    AppointmentId, CaseId, CompetencyId, DepartmentId, DumbRuleId, EscalationId, FeedbackId, HandoffId, InitiativeId,
    OfficerId, RecognitionId, ServiceCategoryId, ServiceStandardId, TrainingRecordId,
};
pub use measures::{Coordinates, Csat, LanguageTag, Nps};
pub use officer::{
    Appointment, Competency, CompetencyGap, CsoNetwork, GapReason, NetworkSeat, NewAppointment, NewCompetency,
    NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerKind, OfficerStatus, Plan,
    PlanChange, PlanContent, PlanRevision, PlanStatus, Recognition, Seat, Standing, StandingError, TrainingRecord,
};
pub use page::{Page, PageKey, PageRequest, PageToken};
pub use policy::{Action, Denied, TenantScope, authorize};
pub use service_account::{ServiceAccount, ServiceAccountId, ServiceAccountStatus};
pub use touchpoint::{Touchpoint, TouchpointId, TouchpointKind, TouchpointStatus};
pub use validation::{FieldViolation, ValidationError};

/// An optimistic-concurrency tag derived from a row's revision counter.
pub fn etag_for(revision: i64) -> String {
    format!("W/\"{revision}\"")
}

/// Parses an etag produced by [`etag_for`]. Returns `None` for anything else.
pub fn revision_from_etag(etag: &str) -> Option<i64> {
    etag.strip_prefix("W/\"")?.strip_suffix('"')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_round_trips_and_rejects_garbage() {
        assert_eq!(revision_from_etag(&etag_for(42)), Some(42));
        assert_eq!(revision_from_etag("42"), None);
        assert_eq!(revision_from_etag("W/\"x\""), None);
    }
}
