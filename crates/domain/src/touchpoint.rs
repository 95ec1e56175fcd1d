//! Touchpoints: the places and channels where residents meet a department (a counter at the
//! Municipal Services Building, the billing phone line, the permit web form, a field crew). They
//! are where the moments of truth happen, so feedback and cases may name the touchpoint (and the
//! officer) that served the resident, and a CSO's figures and observations hang off them.
use crate::calendar::OpeningHours;
use crate::validation::{optional_text, required_text};
use crate::{Channel, DepartmentId, ValidationError};
use chrono::{DateTime, Utc};

pub use crate::ids::TouchpointId;

string_enum!(
    /// What kind of place or channel a touchpoint is.
    TouchpointKind {
        /// A counter or desk where residents come in person.
        Counter = "counter",
        /// A phone line.
        PhoneLine = "phone_line",
        /// A web form or online service.
        WebForm = "web_form",
        /// A crew or inspector working at residents' doors and streets.
        FieldCrew = "field_crew",
        /// An e-mail inbox.
        Mailbox = "mailbox",
        /// Anything else (a kiosk, a community meeting).
        Other = "other",
    }
);

string_enum!(
    /// Whether a touchpoint is in service.
    TouchpointStatus {
        /// In service: feedback may name it.
        Active = "active",
        /// Closed: kept on record with its history; new feedback may not name it.
        Retired = "retired",
    }
);

/// A touchpoint of a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touchpoint {
    /// The department.
    pub department_id: DepartmentId,
    /// Its ID within the department.
    pub id: TouchpointId,
    /// What residents call it, e.g. "Water Revenue counter, Municipal Services Building".
    pub display_name: String,
    /// Its kind.
    pub kind: TouchpointKind,
    /// The channel feedback from it usually comes by.
    pub channel: Channel,
    /// Where it is (an address, a phone number, a URL), or empty.
    pub location: String,
    /// Its own opening hours; empty: the department's calendar.
    pub hours: Vec<OpeningHours>,
    /// In service or retired.
    pub status: TouchpointStatus,
    /// Revision (etag).
    pub revision: i64,
    /// When created.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

/// The longest display name.
pub const NAME_MAX: usize = 200;
/// The longest location.
pub const LOCATION_MAX: usize = 500;

/// Checks a touchpoint's name.
pub fn display_name(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, NAME_MAX)
}

/// Checks a touchpoint's location.
pub fn location(field: &str, value: &str) -> Result<String, ValidationError> {
    optional_text(field, value, LOCATION_MAX)
}

/// The stored form of opening hours (JSON; `''` for none).
pub fn hours_column(hours: &[OpeningHours]) -> String {
    if hours.is_empty() { String::new() } else { serde_json::to_string(hours).unwrap_or_default() }
}

/// Opening hours from their stored form.
pub fn hours_from_column(s: &str) -> Option<Vec<OpeningHours>> {
    if s.is_empty() { Some(Vec::new()) } else { serde_json::from_str(s).ok() }
}

/// Why a submission naming touchpoint `name` is refused for department `department`: the same
/// words whether it is missing, retired or another department's, so the refusal reveals nothing.
pub fn not_active(name: &str, department: &DepartmentId) -> String {
    format!("touchpoint {name} is not an active touchpoint of department {department}")
}
