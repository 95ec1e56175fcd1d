//! The CSO network: officers, their appointments to the Chief's and the departments' CSO seats,
//! competencies and training, recognitions ("service heroes") and customer-service plans.
use crate::caller::{Caller, Role};
use crate::ids::{AppointmentId, CompetencyId, DepartmentId, OfficerId, RecognitionId, TrainingRecordId};
use crate::validation::{ValidationError, required_text};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

pub use crate::plan::{
    MAX_PLAN_TEXT, Plan, PlanChange, PlanContent, PlanRevision, PlanStatus, PlanTransitionError, plan_transition,
    plan_year,
};

string_enum!(
    /// Whether an officer is on the roster.
    OfficerStatus {
        /// Works for the city; may hold seats and sign in.
        Active = "active",
        /// Left or suspended: holds no seat, tokens are refused.
        Inactive = "inactive",
    }
);

string_enum!(
    /// What kind of person an officer is, apart from any seat they hold.
    OfficerKind {
        /// Frontline (and every CSO and the Chief are staff of their home department too).
        Staff = "staff",
        /// A read-only auditor.
        Auditor = "auditor",
    }
);

string_enum!(
    /// An appointed seat of the network.
    Seat {
        /// The Chief Customer Service Officer (one for the city).
        Chief = "chief",
        /// A department's Customer Service Officer (one per department).
        Cso = "cso",
    }
);

impl Seat {
    /// The token role that acting in this seat requires.
    pub fn role(self) -> Role {
        match self {
            Seat::Chief => Role::Chief,
            Seat::Cso => Role::Cso,
        }
    }
}

impl OfficerKind {
    /// The token role of the kind.
    pub fn role(self) -> Role {
        match self {
            OfficerKind::Staff => Role::Staff,
            OfficerKind::Auditor => Role::Auditor,
        }
    }
}

/// A person on a department's roster.
#[derive(Debug, Clone, PartialEq)]
pub struct Officer {
    /// Home department (the tenant that owns the record).
    pub department_id: DepartmentId,
    /// City-wide unique ID; also the `sub` of the officer's tokens.
    pub id: OfficerId,
    /// Full name.
    pub display_name: String,
    /// Work e-mail address.
    pub email: String,
    /// Job title.
    pub title: String,
    /// The city identity provider's subject for this officer (empty: none), so a provider token
    /// maps to them ([`identity_subject`]).
    pub identity_subject: String,
    /// Staff or auditor.
    pub kind: OfficerKind,
    /// Active or inactive.
    pub status: OfficerStatus,
    /// The seat currently held, if any (derived from active appointments).
    pub seat: Option<Seat>,
    /// How many recognitions the officer has received.
    pub recognition_count: i64,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision counter (etag).
    pub revision: i64,
}

impl Officer {
    /// The role the officer acts in by default: the seat's role if appointed, else the kind's.
    pub fn role(&self) -> Role {
        self.seat.map(Seat::role).unwrap_or(self.kind.role())
    }

    /// Every role the officer holds (competency requirements may name any of them).
    pub fn roles(&self) -> Vec<Role> {
        let mut roles = vec![self.kind.role()];
        if let Some(seat) = self.seat {
            roles.push(seat.role());
        }
        roles
    }
}

/// A validated request to add an officer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOfficer {
    /// Home department.
    pub department_id: DepartmentId,
    /// The officer's ID.
    pub id: OfficerId,
    /// Full name.
    pub display_name: String,
    /// Work e-mail address (normalised to lowercase).
    pub email: String,
    /// Job title.
    pub title: String,
    /// The identity provider's subject for the officer (empty: none yet).
    pub identity_subject: String,
    /// Staff or auditor.
    pub kind: OfficerKind,
}

/// Checks an identity provider's subject for an officer: empty (none), or 1 to 255 printable
/// characters without spaces, as providers issue them (Entra ID object IDs, Okta user IDs,
/// Keycloak UUIDs, Login.gov UUIDs).
pub fn identity_subject(field: &str, value: &str) -> Result<String, ValidationError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.len() > 255 {
        return Err(ValidationError::one(field, "must be at most 255 characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidationError::one(field, "must not contain spaces or control characters"));
    }
    Ok(value.to_owned())
}

/// The role an officer signing in through the identity provider acts in, from what they hold now
/// (never from the provider's groups): the Chief's seat, else their CSO seats, else an auditor's
/// kind, else staff of their home department. `None` for an inactive or unknown officer.
pub fn role_held(standing: &Standing) -> Option<(Role, Vec<DepartmentId>)> {
    let (home, kind, status) = standing.officer.as_ref()?;
    if *status != OfficerStatus::Active {
        return None;
    }
    if standing.seats.iter().any(|(s, _)| *s == Seat::Chief) {
        return Some((Role::Chief, Vec::new()));
    }
    let cso: Vec<DepartmentId> =
        standing.seats.iter().filter(|(s, _)| *s == Seat::Cso).map(|(_, d)| d.clone()).collect();
    if !cso.is_empty() {
        return Some((Role::Cso, cso));
    }
    match kind {
        OfficerKind::Auditor => Some((Role::Auditor, Vec::new())),
        OfficerKind::Staff => Some((Role::Staff, vec![home.clone()])),
    }
}

/// Checks a work e-mail address loosely (one `@`, a dot in the domain, no spaces) and lowercases it.
pub fn work_email(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_lowercase();
    let bad = || ValidationError::one(field, "must be an e-mail address like name@city.gov");
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok { Ok(v) } else { Err(bad()) }
}

/// Filters of a list of officers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfficerFilter {
    /// Only this department.
    pub department: Option<DepartmentId>,
    /// Only officers whose [`Officer::role`] is this.
    pub role: Option<Role>,
    /// Only this status.
    pub status: Option<OfficerStatus>,
}

/// A term of an officer in a seat. Ended appointments stay on record: they are the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    /// For a CSO seat, the department served; for the Chief's seat, the Chief's home department.
    /// Always the appointee's home department.
    pub department_id: DepartmentId,
    /// Time-ordered ID.
    pub id: AppointmentId,
    /// The seat.
    pub seat: Seat,
    /// The appointee.
    pub officer_id: OfficerId,
    /// Start of the term.
    pub start_time: DateTime<Utc>,
    /// End of the term; `None` while active.
    pub end_time: Option<DateTime<Utc>>,
    /// Subject of the caller who made the appointment.
    pub appointed_by: String,
    /// Subject of the caller who ended it (or who appointed the successor).
    pub ended_by: Option<String>,
    /// Why it ended (e.g. "replaced by ap-…", "officer deactivated").
    pub end_reason: String,
}

/// A validated appointment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAppointment {
    /// The appointee's home department (for a CSO seat: the department served).
    pub department_id: DepartmentId,
    /// The new appointment's ID.
    pub id: AppointmentId,
    /// The seat.
    pub seat: Seat,
    /// The appointee.
    pub officer_id: OfficerId,
    /// The seat's current appointment as the caller last saw it (`None`: the caller saw the seat
    /// vacant). If the seat's actual current appointment differs, nothing changes: two
    /// appointments made from the same view of a seat never both succeed.
    pub replaces: Option<AppointmentId>,
}

/// What the store knows about a token's subject, for [`check_standing`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Standing {
    /// The officer record, if the subject is an officer: (home department, kind, status).
    pub officer: Option<(DepartmentId, OfficerKind, OfficerStatus)>,
    /// Active appointments: (seat, department).
    pub seats: Vec<(Seat, DepartmentId)>,
}

/// Why a token's role is not honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandingError {
    /// The subject is not an officer on the roster (or not one the token's departments reach).
    #[error("the token's subject is not an active officer")]
    NotAnOfficer,
    /// The officer does not (or no longer) hold the role the token claims.
    #[error("the token's role {0} is not held by its subject at this time")]
    RoleNotHeld(Role),
    /// The token's departments do not match the officer's.
    #[error("the token's departments do not match the officer's appointment")]
    WrongDepartments,
}

/// Checks that a token's role matches what its subject holds right now: a CSO replaced at 10:00
/// cannot act as CSO at 10:01 with a token minted at 9:00. Service clients are not officers and
/// are not checked here (they are bound by their token's departments).
pub fn check_standing(caller: &Caller, standing: &Standing) -> Result<(), StandingError> {
    if caller.role == Role::Service {
        return Ok(());
    }
    let Some((home, kind, status)) = &standing.officer else { return Err(StandingError::NotAnOfficer) };
    if *status != OfficerStatus::Active {
        return Err(StandingError::NotAnOfficer);
    }
    match caller.role {
        Role::Chief => {
            if standing.seats.iter().any(|(s, _)| *s == Seat::Chief) {
                Ok(())
            } else {
                Err(StandingError::RoleNotHeld(Role::Chief))
            }
        }
        Role::Cso => {
            let held: Vec<&DepartmentId> =
                standing.seats.iter().filter(|(s, _)| *s == Seat::Cso).map(|(_, d)| d).collect();
            if held.is_empty() {
                return Err(StandingError::RoleNotHeld(Role::Cso));
            }
            if caller.departments.is_empty() || !caller.departments.iter().all(|d| held.contains(&d)) {
                return Err(StandingError::WrongDepartments);
            }
            Ok(())
        }
        Role::Staff => {
            // Every officer is staff of their home department (a CSO or the Chief included).
            if *kind != OfficerKind::Staff {
                return Err(StandingError::RoleNotHeld(Role::Staff));
            }
            if caller.departments.len() != 1 || caller.departments[0] != *home {
                return Err(StandingError::WrongDepartments);
            }
            Ok(())
        }
        Role::Auditor => {
            if *kind == OfficerKind::Auditor {
                Ok(())
            } else {
                Err(StandingError::RoleNotHeld(Role::Auditor))
            }
        }
        Role::Service => Ok(()),
    }
}

/// A must-have competency of a department's positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Competency {
    /// Owning department.
    pub department_id: DepartmentId,
    /// Slug ID, e.g. `de-escalation`.
    pub id: CompetencyId,
    /// Name.
    pub display_name: String,
    /// What it covers.
    pub description: String,
    /// Roles for which it is required (`staff`, `cso`, `chief`, `auditor`); empty: optional.
    pub required_for: Vec<Role>,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision counter (etag).
    pub revision: i64,
}

/// A validated request to define a competency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCompetency {
    /// Owning department.
    pub department_id: DepartmentId,
    /// Slug ID.
    pub id: CompetencyId,
    /// Name.
    pub display_name: String,
    /// What it covers.
    pub description: String,
    /// Roles for which it is required.
    pub required_for: Vec<Role>,
}

/// Encodes roles for storage, sorted and deduplicated (`"cso,staff"`).
pub fn roles_to_string(roles: &[Role]) -> String {
    let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// Decodes [`roles_to_string`]; `None` if a name is unknown.
pub fn roles_from_string(s: &str) -> Option<Vec<Role>> {
    s.split(',').filter(|p| !p.is_empty()).map(Role::parse).collect()
}

/// A completed training of an officer in a competency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRecord {
    /// The officer's home department.
    pub department_id: DepartmentId,
    /// The officer trained.
    pub officer_id: OfficerId,
    /// Time-ordered ID.
    pub id: TrainingRecordId,
    /// The competency (of the same department).
    pub competency_id: CompetencyId,
    /// When the training was completed.
    pub complete_time: DateTime<Utc>,
    /// When it lapses; `None`: never.
    pub expire_time: Option<DateTime<Utc>>,
    /// Evidence or notes (certificate number, trainer).
    pub notes: String,
    /// Subject of the caller who recorded it.
    pub recorded_by: String,
    /// When it was recorded.
    pub create_time: DateTime<Utc>,
}

/// A validated training record to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrainingRecord {
    /// The officer's home department.
    pub department_id: DepartmentId,
    /// The officer.
    pub officer_id: OfficerId,
    /// The new record's ID.
    pub id: TrainingRecordId,
    /// The competency.
    pub competency_id: CompetencyId,
    /// Completion time.
    pub complete_time: DateTime<Utc>,
    /// Expiry time, after the completion time.
    pub expire_time: Option<DateTime<Utc>>,
    /// Evidence or notes.
    pub notes: String,
}

/// Why an officer has a competency gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// No training on record.
    Missing,
    /// The latest training lapsed at this time.
    Expired(DateTime<Utc>),
}

/// One required competency an officer lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompetencyGap {
    /// The officer.
    pub officer_id: OfficerId,
    /// The required competency.
    pub competency_id: CompetencyId,
    /// Missing or expired.
    pub reason: GapReason,
}

/// Every (active officer, required competency) pair without valid training at `now`, ordered by
/// officer then competency. A competency applies to an officer when it is required for any role
/// the officer holds ([`Officer::roles`]). Training is valid when its expiry is absent or later
/// than `now`; the latest-expiring record counts.
pub fn competency_gaps(
    officers: &[Officer],
    competencies: &[Competency],
    records: &[TrainingRecord],
    now: DateTime<Utc>,
) -> Vec<CompetencyGap> {
    // For each (officer, competency): the best expiry seen; `None` inside means "never expires".
    let mut best: HashMap<(&OfficerId, &CompetencyId), Option<DateTime<Utc>>> = HashMap::new();
    for r in records {
        let slot = best.entry((&r.officer_id, &r.competency_id)).or_insert(r.expire_time);
        *slot = match (*slot, r.expire_time) {
            (None, _) | (_, None) => None,
            (Some(a), Some(b)) => Some(a.max(b)),
        };
    }
    let mut officers: Vec<&Officer> = officers.iter().filter(|o| o.status == OfficerStatus::Active).collect();
    officers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut competencies: Vec<&Competency> = competencies.iter().collect();
    competencies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut gaps = Vec::new();
    for o in officers {
        let roles: HashSet<Role> = o.roles().into_iter().collect();
        for c in &competencies {
            if !c.required_for.iter().any(|r| roles.contains(r)) {
                continue;
            }
            let reason = match best.get(&(&o.id, &c.id)) {
                None => Some(GapReason::Missing),
                Some(None) => None,
                Some(Some(exp)) if *exp > now => None,
                Some(Some(exp)) => Some(GapReason::Expired(*exp)),
            };
            if let Some(reason) = reason {
                gaps.push(CompetencyGap { officer_id: o.id.clone(), competency_id: c.id.clone(), reason });
            }
        }
    }
    gaps
}

/// A "service hero" recognition: one officer thanking another for a story worth telling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    /// The recognised officer's home department.
    pub department_id: DepartmentId,
    /// Time-ordered ID.
    pub id: RecognitionId,
    /// The recognised officer.
    pub officer_id: OfficerId,
    /// Subject of the officer who gave the recognition.
    pub recognized_by: String,
    /// What happened.
    pub story: String,
    /// Optional resource name of the feedback that prompted it.
    pub feedback: Option<String>,
    /// When it was given.
    pub create_time: DateTime<Utc>,
}

/// A validated recognition to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecognition {
    /// The recognised officer's home department.
    pub department_id: DepartmentId,
    /// The new record's ID.
    pub id: RecognitionId,
    /// The recognised officer.
    pub officer_id: OfficerId,
    /// The story.
    pub story: String,
    /// Optional linked feedback (resource name).
    pub feedback: Option<String>,
}

/// One department's row in the CSO network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSeat {
    /// The department (active departments only).
    pub department_id: DepartmentId,
    /// Its display name.
    pub department_name: String,
    /// The current CSO appointment and officer; `None` is a gap the Chief must fill.
    pub cso: Option<(Appointment, Officer)>,
    /// Status of the department's plan for the requested year; `None`: no plan yet.
    pub plan_status: Option<PlanStatus>,
}

/// The whole network in one view.
#[derive(Debug, Clone, PartialEq)]
pub struct CsoNetwork {
    /// The Chief's current appointment and officer; `None` only before bootstrap.
    pub chief: Option<(Appointment, Officer)>,
    /// Every active department, ordered by ID.
    pub departments: Vec<NetworkSeat>,
}

/// Validates a recognition story (1-4000 characters).
pub fn story(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, 4000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("id", s).unwrap()
    }

    fn officer(id: &str, kind: OfficerKind, seat: Option<Seat>, status: OfficerStatus) -> Officer {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Officer {
            department_id: d("water"),
            id: OfficerId::parse("id", id).unwrap(),
            display_name: id.into(),
            email: format!("{id}@city.gov"),
            title: String::new(),
            identity_subject: String::new(),
            kind,
            status,
            seat,
            recognition_count: 0,
            create_time: t,
            update_time: t,
            revision: 1,
        }
    }

    fn caller(role: Role, deps: &[&str]) -> Caller {
        Caller { subject: "x".into(), role, departments: deps.iter().map(|s| d(s)).collect() }
    }

    #[test]
    fn standing_follows_appointments() {
        let active_staff = Standing {
            officer: Some((d("water"), OfficerKind::Staff, OfficerStatus::Active)),
            seats: vec![(Seat::Cso, d("water"))],
        };
        assert_eq!(check_standing(&caller(Role::Cso, &["water"]), &active_staff), Ok(()));
        assert_eq!(check_standing(&caller(Role::Staff, &["water"]), &active_staff), Ok(()));
        assert_eq!(
            check_standing(&caller(Role::Cso, &["streets"]), &active_staff),
            Err(StandingError::WrongDepartments)
        );
        assert_eq!(
            check_standing(&caller(Role::Chief, &[]), &active_staff),
            Err(StandingError::RoleNotHeld(Role::Chief))
        );
        let replaced = Standing { seats: vec![], ..active_staff.clone() };
        assert_eq!(
            check_standing(&caller(Role::Cso, &["water"]), &replaced),
            Err(StandingError::RoleNotHeld(Role::Cso))
        );
        let gone = Standing {
            officer: Some((d("water"), OfficerKind::Staff, OfficerStatus::Inactive)),
            seats: vec![(Seat::Cso, d("water"))],
        };
        assert_eq!(check_standing(&caller(Role::Cso, &["water"]), &gone), Err(StandingError::NotAnOfficer));
        assert_eq!(
            check_standing(&caller(Role::Staff, &["water"]), &Standing::default()),
            Err(StandingError::NotAnOfficer)
        );
        assert_eq!(check_standing(&caller(Role::Service, &["water"]), &Standing::default()), Ok(()));
        let auditor =
            Standing { officer: Some((d("finance"), OfficerKind::Auditor, OfficerStatus::Active)), seats: vec![] };
        assert_eq!(check_standing(&caller(Role::Auditor, &[]), &auditor), Ok(()));
        assert_eq!(
            check_standing(&caller(Role::Staff, &["finance"]), &auditor),
            Err(StandingError::RoleNotHeld(Role::Staff))
        );
    }

    #[test]
    fn gaps_list_missing_and_expired_required_training_only() {
        let t = |m: u32| Utc.with_ymd_and_hms(2026, m, 1, 0, 0, 0).unwrap();
        let officers = vec![
            officer("ann", OfficerKind::Staff, None, OfficerStatus::Active),
            officer("bob", OfficerKind::Staff, Some(Seat::Cso), OfficerStatus::Active),
            officer("cat", OfficerKind::Staff, None, OfficerStatus::Inactive),
        ];
        let comp = |id: &str, roles: Vec<Role>| Competency {
            department_id: d("water"),
            id: CompetencyId::parse("id", id).unwrap(),
            display_name: id.into(),
            description: String::new(),
            required_for: roles,
            create_time: t(1),
            update_time: t(1),
            revision: 1,
        };
        let competencies = vec![
            comp("de-escalation", vec![Role::Staff]),
            comp("plan-writing", vec![Role::Cso]),
            comp("optional", vec![]),
        ];
        let rec = |o: &str, c: &str, exp: Option<DateTime<Utc>>| TrainingRecord {
            department_id: d("water"),
            officer_id: OfficerId::parse("id", o).unwrap(),
            id: TrainingRecordId::parse("id", "tr-1").unwrap(),
            competency_id: CompetencyId::parse("id", c).unwrap(),
            complete_time: t(1),
            expire_time: exp,
            notes: String::new(),
            recorded_by: "x".into(),
            create_time: t(1),
        };
        let records = vec![
            rec("ann", "de-escalation", Some(t(3))),
            rec("bob", "de-escalation", Some(t(2))),
            rec("bob", "de-escalation", None),
        ];
        let gaps = competency_gaps(&officers, &competencies, &records, t(6));
        let got: Vec<(String, String, GapReason)> =
            gaps.into_iter().map(|g| (g.officer_id.to_string(), g.competency_id.to_string(), g.reason)).collect();
        assert_eq!(
            got,
            vec![
                ("ann".into(), "de-escalation".into(), GapReason::Expired(t(3))),
                ("bob".into(), "plan-writing".into(), GapReason::Missing),
            ]
        );
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(work_email("email", " Ann.Lee@Phila.GOV ").unwrap(), "ann.lee@phila.gov");
        for bad in ["", "ann", "ann@", "@city.gov", "ann@city", "a b@city.gov", "ann@city.gov."] {
            assert_eq!(work_email("officer.email", bad).unwrap_err().violations[0].field, "officer.email", "{bad}");
        }
    }

    #[test]
    fn a_signed_in_officer_acts_in_the_highest_role_they_hold() {
        let standing = |kind, status, seats: &[(Seat, &str)]| Standing {
            officer: Some((d("water"), kind, status)),
            seats: seats.iter().map(|(s, x)| (*s, d(x))).collect(),
        };
        use OfficerKind::{Auditor, Staff};
        use OfficerStatus::{Active, Inactive};
        assert_eq!(role_held(&standing(Staff, Active, &[])), Some((Role::Staff, vec![d("water")])));
        assert_eq!(role_held(&standing(Auditor, Active, &[])), Some((Role::Auditor, vec![])));
        assert_eq!(
            role_held(&standing(Staff, Active, &[(Seat::Cso, "water"), (Seat::Cso, "streets")])),
            Some((Role::Cso, vec![d("water"), d("streets")]))
        );
        assert_eq!(
            role_held(&standing(Staff, Active, &[(Seat::Cso, "water"), (Seat::Chief, "mdo")])),
            Some((Role::Chief, vec![]))
        );
        assert_eq!(role_held(&standing(Staff, Inactive, &[(Seat::Chief, "mdo")])), None);
        assert_eq!(role_held(&Standing::default()), None);
        // Whatever it gives passes the standing check every call makes.
        for st in [
            standing(Staff, Active, &[]),
            standing(Auditor, Active, &[]),
            standing(Staff, Active, &[(Seat::Cso, "water")]),
        ] {
            let (role, departments) = role_held(&st).unwrap();
            let c = Caller { subject: "x".into(), role, departments };
            assert_eq!(check_standing(&c, &st), Ok(()));
        }
    }
}
