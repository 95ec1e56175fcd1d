//! Customer feedback panels: residents, businesses or internal customers a CSO meets with the
//! executives in the room. Members' contact details are resident data (keyed like a resident's,
//! erasable, never logged); sessions record who attended; findings end in an outcome the panel
//! can be told about: an initiative, a dumb-rule report, a plan's focus, or closed with a reason.
use crate::validation::{optional_text, required_text, single_line};
use crate::{DepartmentId, ValidationError};
use chrono::{DateTime, NaiveDate, Utc};

pub use crate::ids::{PanelFindingId, PanelId, PanelMemberId, PanelSessionId};

string_enum!(
    /// Who sits on a panel.
    PanelAudience {
        /// Residents.
        Residents = "residents",
        /// Businesses.
        Businesses = "businesses",
        /// Other departments' staff, as internal customers.
        InternalCustomers = "internal_customers",
    }
);

string_enum!(
    /// What became of a finding.
    FindingOutcome {
        /// No outcome yet.
        Open = "open",
        /// Taken up by a cross-department initiative.
        Initiative = "initiative",
        /// Reported as a dumb rule.
        DumbRule = "dumb_rule",
        /// Made the focus of the department's plan.
        PlanFocus = "plan_focus",
        /// Closed without action, for a reason.
        Closed = "closed",
    }
);

/// A feedback panel, held under its host department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panel {
    /// The host department.
    pub department_id: DepartmentId,
    /// Its ID.
    pub id: PanelId,
    /// Its name.
    pub display_name: String,
    /// Who sits on it.
    pub audience: PanelAudience,
    /// Whether it speaks for the whole city (convened by the Chief).
    pub city_wide: bool,
    /// What it is for.
    pub purpose: String,
    /// Members not erased (read with the panel).
    pub member_count: i64,
    /// Sessions held (read with the panel).
    pub session_count: i64,
    /// When created.
    pub create_time: DateTime<Utc>,
}

/// A panel member's details as given: resident data.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberDetails {
    /// Their name.
    pub display_name: String,
    /// Lowercased e-mail, or empty.
    pub email: String,
    /// Normalised phone, or empty.
    pub phone: String,
    /// The business or department they speak for, or empty.
    pub organization: String,
}

// Contact details never reach a log line, even through `{:?}`.
impl std::fmt::Debug for MemberDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemberDetails(..)")
    }
}

/// A panel member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelMember {
    /// The host department.
    pub department_id: DepartmentId,
    /// The panel.
    pub panel_id: PanelId,
    /// Its ID.
    pub id: PanelMemberId,
    /// Contact details; `None` once erased.
    pub details: Option<MemberDetails>,
    /// The resident key the details are held under (the same as their feedback's); `None`
    /// without an e-mail or phone, or once erased.
    pub resident_key: Option<String>,
    /// When they consented.
    pub consent_time: DateTime<Utc>,
    /// When added.
    pub create_time: DateTime<Utc>,
    /// When erased.
    pub erase_time: Option<DateTime<Utc>>,
}

/// A session of a panel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelSession {
    /// The host department.
    pub department_id: DepartmentId,
    /// The panel.
    pub panel_id: PanelId,
    /// Its ID.
    pub id: PanelSessionId,
    /// The local date it was held.
    pub held_on: NaiveDate,
    /// What was discussed.
    pub agenda: String,
    /// Executives in the room, by title and name.
    pub executives: Vec<String>,
    /// Officers who attended, as resource names.
    pub officers: Vec<String>,
    /// Members who attended (stays when a member is erased).
    pub members: Vec<PanelMemberId>,
    /// When recorded.
    pub create_time: DateTime<Utc>,
}

/// A finding and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelFinding {
    /// The host department.
    pub department_id: DepartmentId,
    /// The panel.
    pub panel_id: PanelId,
    /// Its ID.
    pub id: PanelFindingId,
    /// The session it came from.
    pub session_id: Option<PanelSessionId>,
    /// What the panel said.
    pub summary: String,
    /// Its outcome.
    pub outcome: FindingOutcome,
    /// The initiative, dumb rule or plan it led to (resource name), or empty.
    pub outcome_resource: String,
    /// Why it was closed, or a note.
    pub outcome_note: String,
    /// When the outcome was recorded.
    pub outcome_time: Option<DateTime<Utc>>,
    /// Revision (etag).
    pub revision: i64,
    /// When recorded.
    pub create_time: DateTime<Utc>,
}

/// The longest panel, member or organization name.
pub const NAME_MAX: usize = 200;
/// The longest purpose, summary or note.
pub const TEXT_MAX: usize = 2_000;
/// The longest agenda.
pub const AGENDA_MAX: usize = 4_000;
/// The most executives, officers and members a session lists.
pub const MAX_EXECUTIVES: usize = 20;
/// See [`MAX_EXECUTIVES`].
pub const MAX_OFFICERS: usize = 50;
/// See [`MAX_EXECUTIVES`].
pub const MAX_MEMBERS: usize = 200;

/// Checks a panel's (or a member's) name.
pub fn display_name(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, NAME_MAX)
}

/// Checks a purpose, a note or a closing reason.
pub fn text(field: &str, value: &str) -> Result<String, ValidationError> {
    optional_text(field, value, TEXT_MAX)
}

/// Checks a finding's summary.
pub fn summary(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, TEXT_MAX)
}

/// Checks an agenda.
pub fn agenda(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, AGENDA_MAX)
}

/// Checks an organization.
pub fn organization(field: &str, value: &str) -> Result<String, ValidationError> {
    single_line(field, value, NAME_MAX)
}

/// Checks the executives in the room: up to [`MAX_EXECUTIVES`] one-line names, none empty.
pub fn executives(field: &str, values: &[String]) -> Result<Vec<String>, ValidationError> {
    if values.len() > MAX_EXECUTIVES {
        return Err(ValidationError::one(field, format!("may list at most {MAX_EXECUTIVES}")));
    }
    let mut errors = ValidationError::default();
    let out: Vec<String> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| errors.check(required_text(&format!("{field}[{i}]"), v, NAME_MAX)))
        .collect();
    errors.into_result()?;
    Ok(out)
}

/// Checks a consent time: given, and not in the future (a minute's clock skew allowed).
pub fn consent_time(
    field: &str,
    at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ValidationError> {
    match at {
        None => Err(ValidationError::one(field, "is required: when the member consented")),
        Some(t) if t > now + chrono::Duration::minutes(1) => Err(ValidationError::one(field, "is in the future")),
        Some(t) => Ok(t),
    }
}

/// Checks an outcome against what it names: a link for an initiative, a dumb rule or a plan;
/// a reason to close.
pub fn outcome(
    field: &str,
    outcome: FindingOutcome,
    resource_field: &str,
    resource: &str,
    note_field: &str,
    note: &str,
) -> Result<(), ValidationError> {
    match outcome {
        FindingOutcome::Open => Err(ValidationError::one(field, "must be an outcome, not OPEN")),
        FindingOutcome::Closed if note.trim().is_empty() => {
            Err(ValidationError::one(note_field, "is required when closing: why nothing is done"))
        }
        FindingOutcome::Closed if !resource.is_empty() => {
            Err(ValidationError::one(resource_field, "must be empty when closing"))
        }
        FindingOutcome::Closed => Ok(()),
        _ if resource.is_empty() => {
            Err(ValidationError::one(resource_field, "is required: the initiative, dumb rule or plan it led to"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn outcomes_need_their_link_or_reason() {
        let check = |o, r: &str, n: &str| outcome("outcome", o, "outcome_resource", r, "outcome_note", n);
        assert_eq!(check(FindingOutcome::Open, "", "").unwrap_err().violations[0].field, "outcome");
        assert_eq!(check(FindingOutcome::Closed, "", " ").unwrap_err().violations[0].field, "outcome_note");
        assert_eq!(
            check(FindingOutcome::Closed, "dumbRules/x", "no").unwrap_err().violations[0].field,
            "outcome_resource"
        );
        assert!(check(FindingOutcome::Closed, "", "Out of the city's hands").is_ok());
        assert_eq!(check(FindingOutcome::Initiative, "", "").unwrap_err().violations[0].field, "outcome_resource");
        assert!(check(FindingOutcome::DumbRule, "dumbRules/x", "").is_ok());
    }

    #[test]
    fn consent_is_required_and_not_in_the_future() {
        let now = Utc::now();
        assert!(consent_time("c", None, now).is_err());
        assert!(consent_time("c", Some(now + chrono::Duration::hours(1)), now).is_err());
        assert_eq!(consent_time("c", Some(now), now).unwrap(), now);
    }

    #[test]
    fn details_never_print() {
        let d = MemberDetails {
            display_name: "Ana".into(),
            email: "ana@example.org".into(),
            phone: "+12155550142".into(),
            organization: String::new(),
        };
        assert_eq!(format!("{d:?}"), "MemberDetails(..)");
    }
}
