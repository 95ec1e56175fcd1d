//! Newtype identifiers. Every ID is a lowercase slug, so it is safe in resource names, URLs and
//! log lines and cannot smuggle in PII.
use crate::validation::ValidationError;
use std::fmt;

/// Checks a slug: 2-63 characters of `[a-z0-9-]`, starting with a letter, not ending with `-`.
pub fn check_slug(field: &str, value: &str) -> Result<(), ValidationError> {
    let ok_len = (2..=63).contains(&value.len());
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(ok_len && first_ok && rest_ok && !value.ends_with('-')) {
        return Err(ValidationError::one(
            field,
            "must be 2-63 characters of a-z, 0-9 and '-', start with a letter and not end with '-'",
        ));
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates `value`; `field` names the request field in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
                check_slug(field, value)?;
                Ok(Self(value.to_owned()))
            }

            /// The ID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                check_slug("id", &value)?;
                Ok(Self(value))
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

slug_id!(
    /// A department (tenant) ID, e.g. `streets`.
    DepartmentId
);
slug_id!(
    /// A service category ID within a department, e.g. `pothole`.
    ServiceCategoryId
);
slug_id!(
    /// A service standard ID within a department, e.g. `pothole-phone`.
    ServiceStandardId
);

slug_id!(
    /// An officer ID, city-wide unique; also the `sub` claim of the officer's tokens.
    OfficerId
);
slug_id!(
    /// A service account ID, city-wide unique; also the `sub` of the account's service tokens.
    ServiceAccountId
);
slug_id!(
    /// A theme ID, city-wide, e.g. `billing-confusion`.
    ThemeId
);
slug_id!(
    /// A rubric ID within a department, e.g. `counter-service` (what observers score).
    RubricId
);
slug_id!(
    /// An observation ID (server-generated, time-ordered).
    ObservationId
);
slug_id!(
    /// A touchpoint ID within a department, e.g. `msb-counter` (a place or channel where
    /// residents meet the department).
    TouchpointId
);
slug_id!(
    /// An appointment ID (server-generated, time-ordered).
    AppointmentId
);
slug_id!(
    /// A competency ID within a department, e.g. `de-escalation`.
    CompetencyId
);
slug_id!(
    /// A training record ID (server-generated, time-ordered).
    TrainingRecordId
);
slug_id!(
    /// A recognition ID (server-generated, time-ordered).
    RecognitionId
);
slug_id!(
    /// A feedback ID (server-generated, time-ordered).
    FeedbackId
);
slug_id!(
    /// A complaint case ID: the ID of the complaint that opened it.
    CaseId
);

slug_id!(
    /// A hand-off ID (server-generated, time-ordered).
    HandoffId
);
slug_id!(
    /// An escalation ID (server-generated, time-ordered).
    EscalationId
);
slug_id!(
    /// An initiative ID (server-generated, time-ordered).
    InitiativeId
);
slug_id!(
    /// A dumb rule ID (server-generated, time-ordered).
    DumbRuleId
);

impl CaseId {
    /// The case of a complaint shares the complaint's ID.
    pub fn from_feedback(f: &FeedbackId) -> Self {
        Self(f.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["streets", "l-and-i", "w2", "a1-b"] {
            assert!(DepartmentId::parse("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "s", "Streets", "1streets", "streets-", "str eets", "stréets", &"a".repeat(64)] {
            let e = DepartmentId::parse("department_id", bad).unwrap_err();
            assert_eq!(e.violations[0].field, "department_id", "{bad}");
        }
    }
}
slug_id!(
    /// A feedback panel ID within a department, e.g. `water-customers`.
    PanelId
);
slug_id!(
    /// A panel member ID (server-generated, time-ordered: a client's could carry a name).
    PanelMemberId
);
slug_id!(
    /// A panel session ID within a panel, e.g. `2026-q4`.
    PanelSessionId
);
slug_id!(
    /// A panel finding ID within a panel, e.g. `bills-unreadable`.
    PanelFindingId
);
