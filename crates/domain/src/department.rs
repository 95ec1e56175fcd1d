//! Departments (tenants), their service categories and their service standards.
use crate::ids::{DepartmentId, ServiceCategoryId, ServiceStandardId};
use crate::validation::ValidationError;
use chrono::{DateTime, Utc};
use std::time::Duration;

string_enum!(
    /// Whether a department is in service.
    DepartmentStatus {
        /// In service.
        Active = "active",
        /// Archived: readable, takes no new work.
        Archived = "archived",
    }
);

string_enum!(
    /// Whether a service category takes new feedback.
    ServiceCategoryStatus {
        /// Takes new feedback.
        Active = "active",
        /// Kept on record, takes no new feedback.
        Retired = "retired",
    }
);

string_enum!(
    /// A way a resident reaches the city.
    Channel {
        /// A survey.
        Survey = "survey",
        /// An intercept questionnaire.
        Intercept = "intercept",
        /// A phone call.
        Phone = "phone",
        /// A comment card.
        CommentCard = "comment_card",
        /// A web form.
        Web = "web",
        /// An e-mail.
        Email = "email",
        /// A social-media message.
        Social = "social",
        /// A visit in person.
        InPerson = "in_person",
        /// The 311 contact centre.
        ThreeOneOne = "311",
    }
);

/// The longest target a standard may set.
pub const MAX_TARGET: Duration = Duration::from_secs(366 * 24 * 3600);

/// How fast a department promises to acknowledge and resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceTargets {
    /// Time from receipt to acknowledgement.
    pub acknowledge_within: Duration,
    /// Time from receipt to resolution.
    pub resolve_within: Duration,
    /// Whether the targets count wall-clock time or business time on the department's calendar.
    pub clock: crate::calendar::Clock,
}

impl ServiceTargets {
    /// Validates targets given in whole seconds. Field names are `acknowledge_within` and
    /// `resolve_within`; callers prefix them with [`ValidationError::within`].
    pub fn new(acknowledge_secs: i64, resolve_secs: i64) -> Result<Self, ValidationError> {
        let mut errors = ValidationError::default();
        let max = MAX_TARGET.as_secs() as i64;
        for (field, secs) in [("acknowledge_within", acknowledge_secs), ("resolve_within", resolve_secs)] {
            if secs <= 0 {
                errors.push(field, "must be positive");
            } else if secs > max {
                errors.push(field, "must be at most 366 days");
            }
        }
        if errors.violations.is_empty() && resolve_secs < acknowledge_secs {
            errors.push("resolve_within", "must not be shorter than acknowledge_within");
        }
        errors.into_result()?;
        Ok(Self {
            acknowledge_within: Duration::from_secs(acknowledge_secs as u64),
            resolve_within: Duration::from_secs(resolve_secs as u64),
            clock: crate::calendar::Clock::Calendar,
        })
    }

    /// The same targets counted on `clock`.
    pub fn on(self, clock: crate::calendar::Clock) -> Self {
        Self { clock, ..self }
    }

    /// Acknowledge target in whole seconds (for storage).
    pub fn acknowledge_secs(&self) -> i64 {
        self.acknowledge_within.as_secs() as i64
    }

    /// Resolve target in whole seconds (for storage).
    pub fn resolve_secs(&self) -> i64 {
        self.resolve_within.as_secs() as i64
    }
}

/// A department as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// The department's ID.
    pub id: DepartmentId,
    /// Human-readable name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// In service or archived.
    pub status: DepartmentStatus,
    /// Targets used where no standard is more specific.
    pub default_targets: ServiceTargets,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change; the etag is derived from it.
    pub revision: i64,
}

/// A department to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    /// The new department's ID.
    pub id: DepartmentId,
    /// Human-readable name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Default targets.
    pub default_targets: ServiceTargets,
}

/// A service category as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCategory {
    /// Owning department.
    pub department_id: DepartmentId,
    /// The category's ID within its department.
    pub id: ServiceCategoryId,
    /// Human-readable name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Lower-cased search keywords.
    pub keywords: Vec<String>,
    /// The questions it asks beyond the description (Open311 attributes), in form order.
    pub attributes: Vec<crate::attributes::ServiceAttribute>,
    /// Whether its complaints are public service requests (listed by Open311 whatever channel
    /// they came in by).
    pub public: bool,
    /// Active or retired.
    pub status: ServiceCategoryStatus,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change.
    pub revision: i64,
}

/// A service category to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceCategory {
    /// Owning department.
    pub department_id: DepartmentId,
    /// The new category's ID.
    pub id: ServiceCategoryId,
    /// Human-readable name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Lower-cased search keywords.
    pub keywords: Vec<String>,
    /// The questions it asks, checked by [`crate::attributes::check_definitions`].
    pub attributes: Vec<crate::attributes::ServiceAttribute>,
    /// Whether its complaints are public service requests.
    pub public: bool,
}

/// A service standard as stored: targets for a category and/or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStandard {
    /// Owning department.
    pub department_id: DepartmentId,
    /// The standard's ID within its department.
    pub id: ServiceStandardId,
    /// The category it applies to; `None` for every category.
    pub category: Option<ServiceCategoryId>,
    /// The channel it applies to; `None` for every channel.
    pub channel: Option<Channel>,
    /// The promised targets.
    pub targets: ServiceTargets,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Bumped on every change.
    pub revision: i64,
}

/// A service standard to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServiceStandard {
    /// Owning department.
    pub department_id: DepartmentId,
    /// The new standard's ID.
    pub id: ServiceStandardId,
    /// The category it applies to; `None` for every category.
    pub category: Option<ServiceCategoryId>,
    /// The channel it applies to; `None` for every channel.
    pub channel: Option<Channel>,
    /// The promised targets.
    pub targets: ServiceTargets,
}

impl NewServiceStandard {
    /// A standard must narrow something: the department default covers "any category, any
    /// channel".
    pub fn check_scope(&self) -> Result<(), ValidationError> {
        if self.category.is_none() && self.channel.is_none() {
            return Err(ValidationError::one(
                "service_standard.service_category_id",
                "set a category and/or a channel; the department's default_targets cover the rest",
            ));
        }
        Ok(())
    }
}

/// Picks the targets for a category and channel: a standard for both, else for the category, else
/// for the channel, else the department default. Returns the standard used, if any.
pub fn resolve_targets<'a>(
    default: ServiceTargets,
    standards: &'a [ServiceStandard],
    category: Option<&ServiceCategoryId>,
    channel: Option<Channel>,
) -> (ServiceTargets, Option<&'a ServiceStandard>) {
    let rank = |s: &ServiceStandard| -> Option<u8> {
        let cat = match (&s.category, category) {
            (None, _) => Some(false),
            (Some(a), Some(b)) if a == b => Some(true),
            _ => None,
        }?;
        let chan = match (s.channel, channel) {
            (None, _) => Some(false),
            (Some(a), Some(b)) if a == b => Some(true),
            _ => None,
        }?;
        Some(match (cat, chan) {
            (true, true) => 3,
            (true, false) => 2,
            (false, true) => 1,
            (false, false) => 0,
        })
    };
    standards
        .iter()
        .filter_map(|s| rank(s).map(|r| (r, s)))
        .max_by_key(|(r, _)| *r)
        .map_or((default, None), |(_, s)| (s.targets, Some(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_validated_per_field() {
        assert!(ServiceTargets::new(3600, 86400).is_ok());
        let e = ServiceTargets::new(0, -1).unwrap_err();
        let fields: Vec<_> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["acknowledge_within", "resolve_within"]);
        let e = ServiceTargets::new(7200, 3600).unwrap_err();
        assert_eq!(e.violations[0].field, "resolve_within");
        assert!(ServiceTargets::new(1, 367 * 86400).is_err());
    }

    #[test]
    fn enums_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(*c));
        }
        assert_eq!(Channel::parse("fax"), None);
    }

    fn std_(id: &str, cat: Option<&str>, chan: Option<Channel>, ack: i64) -> ServiceStandard {
        let t = chrono::DateTime::<Utc>::UNIX_EPOCH;
        ServiceStandard {
            department_id: DepartmentId::parse("d", "water").unwrap(),
            id: ServiceStandardId::parse("s", id).unwrap(),
            category: cat.map(|c| ServiceCategoryId::parse("c", c).unwrap()),
            channel: chan,
            targets: ServiceTargets::new(ack, ack * 10).unwrap(),
            create_time: t,
            update_time: t,
            revision: 1,
        }
    }

    #[test]
    fn most_specific_standard_wins() {
        let default = ServiceTargets::new(100, 1000).unwrap();
        let all = [
            std_("phone", None, Some(Channel::Phone), 1),
            std_("pothole", Some("pothole"), None, 2),
            std_("pothole-phone", Some("pothole"), Some(Channel::Phone), 3),
        ];
        let pothole = ServiceCategoryId::parse("c", "pothole").unwrap();
        let leak = ServiceCategoryId::parse("c", "leak").unwrap();
        let pick = |cat: Option<&ServiceCategoryId>, ch| resolve_targets(default, &all, cat, ch).0.acknowledge_secs();
        assert_eq!(pick(Some(&pothole), Some(Channel::Phone)), 3);
        assert_eq!(pick(Some(&pothole), Some(Channel::Web)), 2);
        assert_eq!(pick(Some(&leak), Some(Channel::Phone)), 1);
        assert_eq!(pick(Some(&leak), Some(Channel::Web)), 100);
        assert_eq!(pick(None, None), 100);
    }
}
