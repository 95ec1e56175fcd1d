//! Feedback from every channel, residents' pseudonymous keys, complaint cases with their recovery
//! clock, and the rules of the cross-department resident timeline.
use crate::caller::{Caller, Role};
use crate::department::{Channel, ServiceTargets};
use crate::ids::{CaseId, DepartmentId, FeedbackId, OfficerId, ServiceCategoryId};
use crate::validation::ValidationError;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

string_enum!(
    /// What a piece of feedback is.
    FeedbackKind {
        /// Something went wrong; opens a case.
        Complaint = "complaint",
        /// Praise.
        Compliment = "compliment",
        /// An idea.
        Suggestion = "suggestion",
        /// A question.
        Question = "question",
        /// An answer to a survey (including follow-up surveys after a complaint).
        SurveyResponse = "survey_response",
    }
);

string_enum!(
    /// Where a complaint case is in its lifecycle.
    CaseStatus {
        /// Received, not yet acknowledged.
        Open = "open",
        /// The resident has been told it is being handled.
        Acknowledged = "acknowledged",
        /// Someone is working on it.
        InProgress = "in_progress",
        /// Fixed (or answered); waiting to be closed.
        Resolved = "resolved",
        /// Done.
        Closed = "closed",
    }
);

string_enum!(
    /// A service-recovery step taken for a complaint.
    RecoveryKind {
        /// An apology was sent.
        Apology = "apology",
        /// A remedy was offered (refund, priority repair, …).
        Remedy = "remedy",
        /// Someone called the resident back.
        FollowUpCall = "follow_up_call",
    }
);

/// A validated location: an address and/or coordinates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Location {
    /// Street address (may identify a resident's home: erased with the resident).
    pub address: String,
    /// Latitude, -90..90.
    pub latitude: Option<f64>,
    /// Longitude, -180..180.
    pub longitude: Option<f64>,
    /// The city's identifier of the address, as sent (erased with the resident), or empty.
    pub address_id: String,
}

/// A resident's contact details as submitted (normalised). Stored apart from feedback.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Lowercased e-mail address, or empty.
    pub email: String,
    /// Phone number as digits with an optional leading `+`, or empty.
    pub phone: String,
    /// The resident's name as they gave it (an Open311 client's first and last name), or empty.
    /// Kept with the e-mail and phone, never published, erased with them; it neither keys nor
    /// identifies the resident.
    pub name: String,
    /// How they want to hear about their cases; `None` keeps what they chose before (nothing,
    /// at first contact).
    pub notice_channel: Option<crate::notice::NoticeChannel>,
}

impl Contact {
    /// Whether neither an e-mail nor a phone is given (a name alone names no resident).
    pub fn is_empty(&self) -> bool {
        self.email.is_empty() && self.phone.is_empty()
    }
}

/// Normalises and checks a resident's e-mail (`field` names it in errors; the value is never echoed).
pub fn normalise_email(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().to_lowercase();
    if v.is_empty() {
        return Ok(v);
    }
    let ok = v.len() <= 254
        && v.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.ends_with('.'))
        && !v.chars().any(char::is_whitespace);
    if ok { Ok(v) } else { Err(ValidationError::one(field, "is not a valid e-mail address")) }
}

/// Normalises a phone number to `+digits` / `digits` (spaces, dashes, dots and brackets dropped).
pub fn normalise_phone(field: &str, value: &str) -> Result<String, ValidationError> {
    normalise_phone_in(field, value, "")
}

/// Like [`normalise_phone`], and with a city's calling code (`country_code`, e.g. `1`) a number
/// written without `+` becomes international: `(215) 555-0142`, `1 215 555 0142` and
/// `+1 215 555 0142` are one number. `00…` is read as an international prefix and a leading `0`
/// as a trunk prefix.
///
/// An extension as residents type it (`215-555-0142 ext. 12`, `(215) 555-0142 x3`, `… #12`,
/// `… extension 12`) is kept, written the RFC 3966 way: `+12155550142;ext=12`.
pub fn normalise_phone_in(field: &str, value: &str, country_code: &str) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let (v, extension) = split_extension(field, v)?;
    let plus = v.starts_with('+');
    let mut digits = String::new();
    for c in v.chars().skip(usize::from(plus)) {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(ValidationError::one(
                    field,
                    "may contain only digits, spaces, '-', '.', '(' ')' and a leading '+'",
                ));
            }
        }
    }
    let (plus, digits) = match (plus, country_code) {
        (true, _) | (false, "") => (plus, digits),
        (false, cc) => {
            if let Some(rest) = digits.strip_prefix("00") {
                (true, rest.to_owned())
            } else if cc == "1" && digits.len() == 11 && digits.starts_with('1') {
                (true, digits)
            } else if let Some(rest) = digits.strip_prefix('0') {
                (true, format!("{cc}{rest}"))
            } else {
                (true, format!("{cc}{digits}"))
            }
        }
    };
    if !(7..=15).contains(&digits.len()) {
        return Err(ValidationError::one(field, "must have 7-15 digits"));
    }
    let number = if plus { format!("+{digits}") } else { digits };
    Ok(match extension {
        Some(ext) => format!("{number};ext={ext}"),
        None => number,
    })
}

/// The longest extension kept.
const MAX_EXTENSION_DIGITS: usize = 8;

/// Splits `215-555-0142 ext. 12` into the number and the extension's digits.
fn split_extension<'a>(field: &str, v: &'a str) -> Result<(&'a str, Option<&'a str>), ValidationError> {
    let Some(at) = v.find(|c: char| c.is_ascii_alphabetic() || c == '#' || c == ';') else {
        return Ok((v, None));
    };
    let (number, rest) = v.split_at(at);
    let lower = rest.to_ascii_lowercase();
    let marker = ["extension", "ext.", "ext=", "ext", ";ext=", "x", "#"].into_iter().find(|m| lower.starts_with(m));
    let digits = marker.map(|m| rest[m.len()..].trim_start_matches([' ', '.', ':']).trim_end());
    match digits {
        Some(d) if !d.is_empty() && d.len() <= MAX_EXTENSION_DIGITS && d.bytes().all(|b| b.is_ascii_digit()) => {
            Ok((number.trim_end(), Some(d)))
        }
        _ => Err(ValidationError::one(
            field,
            "may contain only digits, spaces, '-', '.', '(' ')', a leading '+' and an extension (ext. 12, x12)",
        )),
    }
}

/// Checks a configured calling code: 1-3 digits, or empty for none.
pub fn country_code(field: &str, value: &str) -> Result<String, ValidationError> {
    let v = value.trim().trim_start_matches('+');
    if v.len() <= 3 && v.chars().all(|c| c.is_ascii_digit()) {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::one(field, "must be a calling code of 1-3 digits, e.g. 1"))
    }
}

/// The server-side secret that turns contact details into resident keys.
#[derive(Clone)]
pub struct ResidentKeyer {
    key: Vec<u8>,
}

impl std::fmt::Debug for ResidentKeyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResidentKeyer(..)")
    }
}

impl ResidentKeyer {
    /// A keyer with `key` (at least 16 bytes of secret).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, prefix: &str, material: &str) -> Option<String> {
        // HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(material.as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(format!("{prefix}{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>()))
    }

    /// A new resident key, for a resident none of whose identifiers is known yet: random, so it
    /// says nothing about the contact details, and once erasure deletes the identifiers that
    /// point to it, nothing leads from the same details to it again (audit rows and events that
    /// name it lead nowhere, and the same contact afterwards starts a new, unlinked history).
    pub fn fresh_key() -> String {
        format!("r-{}", uuid::Uuid::new_v4().simple())
    }

    /// Keyed hashes of each identifier in `contact` (e-mail first), under which a store
    /// remembers the resident's key: a resident who called with a phone and later writes with an
    /// e-mail and that phone keeps one key, so departments see one history.
    pub fn identifiers(&self, contact: &Contact) -> Vec<String> {
        let mut out = Vec::new();
        if !contact.email.is_empty() {
            out.extend(self.mac("i-", &format!("email:{}", contact.email)));
        }
        if !contact.phone.is_empty() {
            out.extend(self.mac("i-", &format!("phone:{}", contact.phone)));
        }
        out
    }

    /// The resident named by `contact`, or `None` when it is empty. The key is a fresh one
    /// ([`ResidentKeyer::fresh_key`]); a store uses the key already recorded for the first known
    /// identifier instead.
    pub fn resident(&self, contact: Contact) -> Option<ResidentRef> {
        if contact.email.is_empty() && contact.phone.is_empty() {
            return None;
        }
        Some(ResidentRef { key: Self::fresh_key(), identifiers: self.identifiers(&contact), contact })
    }
}

/// A resident named in a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResidentRef {
    /// The key to use if no identifier is known yet ([`ResidentKeyer::fresh_key`]). A store uses
    /// the key already recorded for the first known identifier instead.
    pub key: String,
    /// Keyed hashes of the e-mail and phone ([`ResidentKeyer::identifiers`]), e-mail first.
    pub identifiers: Vec<String>,
    /// The contact details (stored apart, erased on request).
    pub contact: Contact,
}

/// Checks a resident key as given by a client (`r-` and 32 hex digits).
pub fn resident_key(field: &str, value: &str) -> Result<String, ValidationError> {
    let ok = value.len() == 34
        && value.starts_with("r-")
        && value[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if ok { Ok(value.to_owned()) } else { Err(ValidationError::one(field, "is not a resident key")) }
}

/// Where, and by whom, a resident was served: the moment of truth a contact is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// The touchpoint, by its department and ID as named: a submission's must be an active
    /// touchpoint of the feedback's own department (the store refuses anything else in the same
    /// words, another department's included).
    pub touchpoint: Option<(DepartmentId, crate::TouchpointId)>,
    /// The officer who served the resident, by the department named and ID: a submission's
    /// must be an active officer of the feedback's own department (refused like the touchpoint).
    pub officer: Option<(DepartmentId, crate::OfficerId)>,
}

/// One resident contact, from any channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The department it is about (the tenant).
    pub department_id: DepartmentId,
    /// Time-ordered ID.
    pub id: FeedbackId,
    /// How it came in.
    pub channel: Channel,
    /// What it is.
    pub kind: FeedbackKind,
    /// Customer satisfaction, 1-5.
    pub csat: Option<i32>,
    /// Net-promoter score, 0-10.
    pub nps: Option<i32>,
    /// Free text (erased with the resident).
    pub text: String,
    /// BCP 47 language tag of the text.
    pub language: String,
    /// Service category.
    pub category: Option<ServiceCategoryId>,
    /// Where.
    pub location: Location,
    /// References to photos or other media of it (erased with the resident).
    pub media: Vec<String>,
    /// Answers to its category's questions, and extra ones a client sent (erased with the
    /// resident: a free-text answer may identify them).
    pub attributes: Vec<crate::attributes::AttributeAnswer>,
    /// The 311 app's identifiers of the resident's device and account (Open311 `device_id` and
    /// `account_id`): never published, erased with the resident.
    pub client_ids: ClientIds,
    /// When the interaction happened.
    pub occurred_at: DateTime<Utc>,
    /// When CityServe received it.
    pub received_at: DateTime<Utc>,
    /// The resident's pseudonymous key, if a resident was named.
    pub resident_key: Option<String>,
    /// For feedback from an internal customer: the department giving it. Reported apart.
    pub internal_customer: Option<DepartmentId>,
    /// The Open311 client that filed it, if it came through the Open311 gateway.
    pub source: Option<String>,
    /// The complaint's case, if any (same ID as the feedback).
    pub case_id: Option<CaseId>,
    /// Whether the resident's identifying details were erased.
    pub erased: bool,
    /// The touchpoint and officer that served the resident, when named.
    pub served: Served,
}

/// A 311 app's identifiers of the resident who filed through it (Open311 `device_id` and
/// `account_id`): personal data like an e-mail address, kept to answer as the spec says and for
/// the app's own follow-up, never published, erased with the resident. Empty when not sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIds {
    /// The device's identifier.
    pub device_id: String,
    /// The resident's account with the app.
    pub account_id: String,
}

/// A validated feedback submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFeedback {
    /// The department.
    pub department_id: DepartmentId,
    /// New ID.
    pub id: FeedbackId,
    /// Channel.
    pub channel: Channel,
    /// Kind.
    pub kind: FeedbackKind,
    /// CSAT 1-5.
    pub csat: Option<i32>,
    /// NPS 0-10.
    pub nps: Option<i32>,
    /// Free text.
    pub text: String,
    /// Language tag.
    pub language: String,
    /// Category (must exist in the department).
    pub category: Option<ServiceCategoryId>,
    /// Location.
    pub location: Location,
    /// Media references, checked by [`crate::validation::media_urls`].
    pub media: Vec<String>,
    /// Answers to the category's questions, checked against them by
    /// [`crate::attributes::check_answers`] where the category is read (the store's intake).
    pub attributes: Vec<crate::attributes::AttributeAnswer>,
    /// The 311 app's identifiers of the resident's device and account.
    pub client_ids: ClientIds,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The resident, if named.
    pub resident: Option<ResidentRef>,
    /// Internal customer department.
    pub internal_customer: Option<DepartmentId>,
    /// A follow-up survey's answer arriving with its (verified, unexpired) token: the store
    /// records the invitation as answered (once) and links this feedback to the case.
    pub survey: Option<crate::survey::SurveyLink>,
    /// The touchpoint and officer that served the resident, when named.
    pub served: Served,
    /// The Open311 client that filed it (`None` for every other intake path).
    pub source: Option<String>,
}

/// How far back (days before receipt) a single live submission may date its `occur_time`:
/// report cards count feedback in the period it occurred, so a closed period changes only
/// through the history path (a batch, `cityserve import`), never through day-to-day intake.
pub const LIVE_BACKDATE_DAYS: i64 = 31;

impl NewFeedback {
    /// Checks the measures the API validates (CSAT, NPS, the language tag, coordinates, media
    /// references), for the intake paths that build a submission themselves (the demo city, bulk
    /// import): they get the same guarantees, refused with the same field names.
    pub fn check_measures(&self) -> Result<(), ValidationError> {
        use crate::measures::{Coordinates, Csat, LanguageTag, Nps};
        let mut errors = ValidationError::default();
        errors.check(self.csat.map(|v| Csat::new("feedback.csat", v)).transpose());
        errors.check(self.nps.map(|v| Nps::new("feedback.nps", v)).transpose());
        errors.check(crate::validation::media_urls("feedback.media_urls", &self.media));
        if let Some(tag) = errors.check(LanguageTag::parse("feedback.language_code", &self.language))
            && tag.as_str() != self.language
        {
            errors.push("feedback.language_code", "must be a trimmed BCP 47 language tag");
        }
        errors.check(Coordinates::parse("feedback.location", self.location.latitude, self.location.longitude));
        errors.into_result()
    }
}

/// A recovery step recorded on a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryAction {
    /// What was done.
    pub kind: RecoveryKind,
    /// Details (erased with the resident).
    pub note: String,
    /// Who recorded it.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A note on a case (erased with the resident).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseNote {
    /// The note.
    pub text: String,
    /// Shown to the public (as an Open311 request's status notes); internal otherwise.
    pub public: bool,
    /// Who wrote it.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Something appended to a case's record together with a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseEntry {
    /// A note.
    Note(CaseNote),
    /// A recovery step.
    Recovery(RecoveryAction),
}

/// A complaint case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The department (tenant).
    pub department_id: DepartmentId,
    /// Same as the complaint's feedback ID.
    pub id: CaseId,
    /// Lifecycle state.
    pub status: CaseStatus,
    /// Assigned officer.
    pub assignee: Option<OfficerId>,
    /// Category (copied from the complaint, for filters and standards).
    pub category: Option<ServiceCategoryId>,
    /// Channel (copied from the complaint).
    pub channel: Channel,
    /// When the complaint was received: the clock starts here.
    pub received_at: DateTime<Utc>,
    /// When the resident first contacted the city about this: the receipt of the first case on
    /// its hand-off path (its own receipt unless it came by hand-off).
    pub first_contact_at: DateTime<Utc>,
    /// Acknowledge by.
    pub acknowledge_due: DateTime<Utc>,
    /// Resolve by.
    pub resolve_due: DateTime<Utc>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was (last) resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Closed as another department's responsibility: that department ("no wrong door").
    pub owner_department: Option<DepartmentId>,
    /// Times reopened.
    pub reopen_count: i32,
    /// Recovery steps, oldest first.
    pub recovery: Vec<RecoveryAction>,
    /// Notes, oldest first.
    pub notes: Vec<CaseNote>,
    /// The follow-up survey response linked after resolution.
    pub follow_up: Option<FeedbackId>,
    /// Whether the resident was satisfied with the recovery.
    pub satisfied: Option<bool>,
    /// Resident key (for erasure and the timeline).
    pub resident_key: Option<String>,
    /// Since when the case waits on the resident (its clocks stopped), if it does.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Seconds the case has waited on the resident before, in all: its due times count from
    /// its receipt plus this.
    pub waited_secs: i64,
    /// Revision (etag).
    pub revision: i64,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

/// When a case received at `received_at` under `targets` is due to be acknowledged and resolved,
/// on the department's calendar `cal` (the one place due times are computed: opening a case and
/// rescheduling open cases after a calendar change both call it).
pub fn due_times(
    received_at: DateTime<Utc>,
    targets: ServiceTargets,
    cal: &crate::calendar::BusinessCalendar,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        cal.due(received_at, targets.acknowledge_secs(), targets.clock),
        cal.due(received_at, targets.resolve_secs(), targets.clock),
    )
}

/// The due times of a running case of `category` received on `channel`, whose clocks start at
/// `start` ([`Case::clock_start`]), under its department's `default` targets and `standards`
/// (the most specific applies) on the department's calendar: what a calendar change and the end
/// of a hold both recompute.
pub fn due_times_under(
    start: DateTime<Utc>,
    category: Option<&crate::ids::ServiceCategoryId>,
    channel: Channel,
    default: ServiceTargets,
    standards: &[crate::department::ServiceStandard],
    cal: &crate::calendar::BusinessCalendar,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let (targets, _) = crate::department::resolve_targets(default, standards, category, Some(channel));
    due_times(start, targets, cal)
}

/// The due times a case keeps when its clocks are recomputed (a calendar change, the end of a
/// hold): `computed` for a clock still running, the `current` due time for one that stopped
/// (acknowledged; resolved, even if since reopened), so a report card's on-time figures never
/// change after the fact.
pub fn settled_due_times(
    current: (DateTime<Utc>, DateTime<Utc>),
    computed: (DateTime<Utc>, DateTime<Utc>),
    acknowledged: bool,
    resolved: bool,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (if acknowledged { current.0 } else { computed.0 }, if resolved { current.1 } else { computed.1 })
}

/// Where the clocks of a case received at `received_at` start after `waited_secs` on hold.
pub fn clock_start(received_at: DateTime<Utc>, waited_secs: i64) -> DateTime<Utc> {
    received_at + chrono::Duration::seconds(waited_secs)
}

impl Case {
    /// Where its clocks start: the receipt, plus the time it has waited on the resident (due
    /// times are [`due_times`] from here, so a wait moves them by its length on the department's
    /// calendar).
    pub fn clock_start(&self) -> DateTime<Utc> {
        clock_start(self.received_at, self.waited_secs)
    }

    /// A new case for a complaint received at `received_at` under `targets`, its due times on
    /// the department's calendar `cal`. The resident key is left for the store to set (it
    /// resolves the resident's recorded key).
    pub fn open(
        f: &NewFeedback,
        received_at: DateTime<Utc>,
        targets: ServiceTargets,
        cal: &crate::calendar::BusinessCalendar,
    ) -> Case {
        let (acknowledge_due, resolve_due) = due_times(received_at, targets, cal);
        Case {
            department_id: f.department_id.clone(),
            id: CaseId::from_feedback(&f.id),
            status: CaseStatus::Open,
            assignee: None,
            category: f.category.clone(),
            channel: f.channel,
            received_at,
            first_contact_at: received_at,
            waiting_since: None,
            waited_secs: 0,
            acknowledge_due,
            resolve_due,
            acknowledged_at: None,
            resolved_at: None,
            closed_at: None,
            owner_department: None,
            reopen_count: 0,
            recovery: Vec::new(),
            notes: Vec::new(),
            follow_up: None,
            satisfied: None,
            resident_key: None,
            revision: 1,
            update_time: received_at,
        }
    }

    /// Whether a due time has passed at `now` for the stage the case is in: still open after the
    /// acknowledge-by time, or not resolved (again, after a reopen) by the resolve-by time.
    pub fn overdue(&self, now: DateTime<Utc>) -> bool {
        if self.waiting_since.is_some() {
            return false;
        }
        (self.status == CaseStatus::Open && now > self.acknowledge_due)
            || (matches!(self.status, CaseStatus::Open | CaseStatus::Acknowledged | CaseStatus::InProgress)
                && now > self.resolve_due)
    }
}

/// A requested case transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseTransition {
    /// OPEN → ACKNOWLEDGED.
    Acknowledge,
    /// ACKNOWLEDGED (or OPEN) → IN_PROGRESS.
    Start,
    /// IN_PROGRESS → RESOLVED.
    Resolve,
    /// RESOLVED → CLOSED.
    Close,
    /// Not this department's responsibility: closes naming the owning department.
    CloseNotOurs(DepartmentId),
    /// RESOLVED or CLOSED → IN_PROGRESS.
    Reopen,
    /// A running case (OPEN, ACKNOWLEDGED, IN_PROGRESS) waits on the resident: its clocks stop.
    WaitOnResident,
    /// The resident answered: the clocks run again, the due times moved by the wait.
    Resume,
}

/// Why a case transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a case in status {from} cannot be {verb}")]
pub struct InvalidTransition {
    /// Current status.
    pub from: &'static str,
    /// What was attempted.
    pub verb: &'static str,
}

/// Applies a transition at `now`.
pub fn transition(case: &Case, t: &CaseTransition, now: DateTime<Utc>) -> Result<Case, InvalidTransition> {
    use CaseStatus::*;
    let mut next = case.clone();
    let refuse = |verb| Err(InvalidTransition { from: case.status.as_str(), verb });
    // A case waiting on the resident only resumes (a note or an assignment is no transition).
    match (t, case.waiting_since) {
        (CaseTransition::Resume, Some(since)) => {
            next.waited_secs += (now - since).num_seconds().max(0);
            next.waiting_since = None;
            return Ok(next);
        }
        (CaseTransition::Resume, None) => return refuse("resumed: it is not waiting on the resident"),
        (_, Some(_)) => return refuse("moved while it waits on the resident: resume it first"),
        (CaseTransition::WaitOnResident, None) => {
            if !matches!(case.status, Open | Acknowledged | InProgress) {
                return refuse("put on wait: only a running case waits on the resident");
            }
            next.waiting_since = Some(now);
            return Ok(next);
        }
        _ => {}
    }
    match (t, case.status) {
        (CaseTransition::Acknowledge, Open) => {
            next.status = Acknowledged;
            next.acknowledged_at = Some(now);
        }
        (CaseTransition::Acknowledge, _) => return refuse("acknowledged"),
        (CaseTransition::Start, Open | Acknowledged) => {
            next.status = InProgress;
            next.acknowledged_at.get_or_insert(now);
        }
        (CaseTransition::Start, _) => return refuse("started"),
        (CaseTransition::Resolve, InProgress) => {
            next.status = Resolved;
            next.resolved_at = Some(now);
        }
        (CaseTransition::Resolve, _) => return refuse("resolved"),
        (CaseTransition::Close, Resolved) => {
            next.status = Closed;
            next.closed_at = Some(now);
        }
        (CaseTransition::Close, _) => return refuse("closed"),
        (CaseTransition::CloseNotOurs(owner), Open | Acknowledged | InProgress) => {
            if *owner == case.department_id {
                return refuse("closed as another department's responsibility naming itself");
            }
            // Redirected, not acknowledged: passing a case on says nothing of how fast the
            // department answered.
            next.status = Closed;
            next.closed_at = Some(now);
            next.owner_department = Some(owner.clone());
        }
        (CaseTransition::CloseNotOurs(_), _) => return refuse("closed as another department's responsibility"),
        (CaseTransition::Reopen, Resolved | Closed) => {
            if case.owner_department.is_some() {
                return refuse("reopened after it was handed to its owner");
            }
            next.status = InProgress;
            next.closed_at = None;
            next.reopen_count += 1;
        }
        (CaseTransition::Reopen, _) => return refuse("reopened"),
        // Decided above, before the status.
        (CaseTransition::WaitOnResident | CaseTransition::Resume, _) => return refuse("moved"),
    }
    Ok(next)
}

/// One entry of a resident's timeline, as a caller may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// The department contacted.
    pub department_id: DepartmentId,
    /// The feedback.
    pub feedback_id: FeedbackId,
    /// Channel.
    pub channel: Channel,
    /// Kind (hidden in redacted entries).
    pub kind: Option<FeedbackKind>,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Case status, if it is a complaint.
    pub case_status: Option<CaseStatus>,
    /// Summary (the first words of the text; hidden in redacted entries).
    pub summary: Option<String>,
    /// Whether details were withheld: the caller may only see that the contact happened.
    pub redacted: bool,
}

/// The longest summary shown in a timeline.
pub const SUMMARY_CHARS: usize = 140;

/// Whether `caller` sees the full entry of a contact with `department` (else only that it
/// happened: department, channel, date, status). The Chief and auditors see everything; everyone
/// else sees full entries of their own departments only.
pub fn sees_full_timeline_entry(caller: &Caller, department: &DepartmentId) -> bool {
    matches!(caller.role, Role::Chief | Role::Auditor) || caller.belongs_to(department)
}

/// Redacts `entry` unless the caller may see it in full.
pub fn visible_entry(caller: &Caller, mut entry: TimelineEntry) -> TimelineEntry {
    if !sees_full_timeline_entry(caller, &entry.department_id) {
        entry.kind = None;
        entry.summary = None;
        entry.redacted = true;
    }
    entry
}

/// The summary of a text: its first [`SUMMARY_CHARS`] characters.
pub fn summary_of(text: &str) -> String {
    let mut s: String = text.chars().take(SUMMARY_CHARS).collect();
    if text.chars().count() > SUMMARY_CHARS {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_built_outside_the_api_get_the_same_checks() {
        let ok = NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: DepartmentId::parse("d", "water").unwrap(),
            id: FeedbackId::parse("id", "fb-1").unwrap(),
            channel: Channel::Phone,
            kind: FeedbackKind::Complaint,
            csat: Some(1),
            nps: Some(10),
            text: String::new(),
            language: "es-US".into(),
            category: None,
            location: Location {
                address: String::new(),
                latitude: Some(1.0),
                longitude: Some(2.0),
                address_id: String::new(),
            },
            occurred_at: Utc::now(),
            resident: None,
            internal_customer: None,
            survey: None,
            served: Default::default(),
            source: None,
        };
        assert!(ok.check_measures().is_ok());
        let bad = NewFeedback {
            csat: Some(6),
            nps: Some(11),
            language: String::new(),
            location: Location {
                address: String::new(),
                latitude: Some(91.0),
                longitude: None,
                address_id: String::new(),
            },
            ..ok
        };
        let fields: Vec<String> = bad.check_measures().unwrap_err().violations.into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["feedback.csat", "feedback.nps", "feedback.language_code", "feedback.location.longitude"]);
    }
    use chrono::TimeZone;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("id", s).unwrap()
    }

    fn complaint() -> NewFeedback {
        NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: d("streets"),
            id: FeedbackId::parse("id", "fb-1").unwrap(),
            channel: Channel::Phone,
            kind: FeedbackKind::Complaint,
            csat: Some(1),
            nps: None,
            text: "The street cut outside my house was left open".into(),
            language: "en".into(),
            category: None,
            location: Location::default(),
            occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
            resident: None,
            internal_customer: None,
            survey: None,
            served: Default::default(),
            source: None,
        }
    }

    #[test]
    fn identifiers_are_stable_normalised_and_secret_dependent_and_keys_random() {
        let k = ResidentKeyer::new(b"0123456789abcdef");
        let a = Contact { email: normalise_email("e", " Ann@Example.ORG ").unwrap(), ..Contact::default() };
        let b = Contact {
            email: "ann@example.org".into(),
            phone: "+1 215 555 0100".into(),
            name: "Ann".into(),
            notice_channel: None,
        };
        assert_eq!(k.identifiers(&a)[0], k.identifiers(&b)[0]);
        assert_ne!(ResidentKeyer::new(b"another-secret-key").identifiers(&a), k.identifiers(&a));
        let (ra, rb) = (k.resident(a.clone()).unwrap(), k.resident(a.clone()).unwrap());
        assert!(resident_key("k", &ra.key).is_ok());
        assert_ne!(ra.key, rb.key, "a key is random: nothing about the contact derives it");
        assert_eq!(ra.identifiers, rb.identifiers);
        let phone = Contact { phone: normalise_phone("p", "(215) 555-0100").unwrap(), ..Contact::default() };
        assert_eq!(phone.phone, "2155550100");
        assert_ne!(k.identifiers(&phone), k.identifiers(&a));
        assert_eq!(k.identifiers(&b).len(), 2);
        assert_eq!(k.identifiers(&b)[0], k.identifiers(&a)[0], "e-mail first");
        assert!(k.resident(Contact::default()).is_none());
        assert!(normalise_phone("p", "call me").is_err());
        for same in ["(215) 555-0142", "1 215 555 0142", "+1 215 555 0142", "001 215 555 0142"] {
            assert_eq!(normalise_phone_in("p", same, "1").unwrap(), "+12155550142", "{same}");
        }
        assert_eq!(normalise_phone_in("p", "020 7946 0958", "44").unwrap(), "+442079460958");
        assert_eq!(normalise_phone_in("p", "(215) 555-0142", "").unwrap(), "2155550142");
        for (typed, kept) in [
            ("215-555-0142 ext. 12", "+12155550142;ext=12"),
            ("(215) 555-0142 x3", "+12155550142;ext=3"),
            ("215 555 0142 #7", "+12155550142;ext=7"),
            ("215.555.0142 Extension 1234", "+12155550142;ext=1234"),
            ("+12155550142;ext=12", "+12155550142;ext=12"),
        ] {
            assert_eq!(normalise_phone_in("p", typed, "1").unwrap(), kept, "{typed}");
        }
        for bad in ["215-555-0142 ext.", "215-555-0142 x12a", "215-555-0142 ext 123456789", "ext 12", "215 call 0142"] {
            assert!(normalise_phone_in("p", bad, "1").is_err(), "{bad}");
        }
        assert!(country_code("c", "+1").is_ok() && country_code("c", "abc").is_err());
        assert!(normalise_email("e", "nope").is_err());
    }

    #[test]
    fn lifecycle_allows_only_the_documented_moves() {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        let case = Case::open(
            &complaint(),
            t0,
            ServiceTargets::new(3600, 86_400).unwrap(),
            &crate::BusinessCalendar::effective(&Default::default(), None),
        );
        assert_eq!(case.acknowledge_due, t0 + chrono::Duration::hours(1));
        assert_eq!(case.resolve_due, t0 + chrono::Duration::hours(24));
        assert!(transition(&case, &CaseTransition::Resolve, t0).is_err());
        assert!(transition(&case, &CaseTransition::Close, t0).is_err());
        let ack = transition(&case, &CaseTransition::Acknowledge, t0).unwrap();
        let wip = transition(&ack, &CaseTransition::Start, t0).unwrap();
        let done = transition(&wip, &CaseTransition::Resolve, t0).unwrap();
        let closed = transition(&done, &CaseTransition::Close, t0).unwrap();
        assert_eq!(closed.status, CaseStatus::Closed);
        let again = transition(&closed, &CaseTransition::Reopen, t0).unwrap();
        assert_eq!((again.status, again.reopen_count), (CaseStatus::InProgress, 1));
        assert!(transition(&ack, &CaseTransition::Acknowledge, t0).is_err());
        let not_ours = transition(&case, &CaseTransition::CloseNotOurs(d("water")), t0).unwrap();
        assert_eq!(not_ours.owner_department, Some(d("water")));
        assert!(transition(&case, &CaseTransition::CloseNotOurs(d("streets")), t0).is_err());
        assert!(transition(&not_ours, &CaseTransition::Reopen, t0).is_err());
    }

    #[test]
    fn a_case_waiting_on_the_resident_stops_its_clock_and_only_resumes() {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        let cal = crate::BusinessCalendar::effective(&Default::default(), None);
        let case = Case::open(&complaint(), t0, ServiceTargets::new(3600, 86_400).unwrap(), &cal);
        let waiting = transition(&case, &CaseTransition::WaitOnResident, t0 + chrono::Duration::minutes(30)).unwrap();
        assert!(!waiting.overdue(t0 + chrono::Duration::hours(30)), "a waiting case is never overdue");
        assert!(transition(&waiting, &CaseTransition::Acknowledge, t0).is_err());
        assert!(transition(&waiting, &CaseTransition::WaitOnResident, t0).is_err());
        let back = transition(&waiting, &CaseTransition::Resume, t0 + chrono::Duration::hours(2)).unwrap();
        assert_eq!((back.waiting_since, back.waited_secs), (None, 5_400));
        assert_eq!(back.clock_start(), t0 + chrono::Duration::minutes(90));
        assert!(transition(&back, &CaseTransition::Resume, t0).is_err());
        let done =
            transition(&transition(&back, &CaseTransition::Start, t0).unwrap(), &CaseTransition::Resolve, t0).unwrap();
        assert!(transition(&done, &CaseTransition::WaitOnResident, t0).is_err(), "only running cases wait");
    }

    #[test]
    fn overdue_follows_the_clock() {
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap();
        let case = Case::open(
            &complaint(),
            t0,
            ServiceTargets::new(3600, 86_400).unwrap(),
            &crate::BusinessCalendar::effective(&Default::default(), None),
        );
        assert!(!case.overdue(t0 + chrono::Duration::minutes(59)));
        assert!(case.overdue(t0 + chrono::Duration::minutes(61)));
        let ack = transition(&case, &CaseTransition::Acknowledge, t0).unwrap();
        assert!(!ack.overdue(t0 + chrono::Duration::hours(2)));
        assert!(ack.overdue(t0 + chrono::Duration::hours(25)));
    }

    #[test]
    fn timeline_redacts_other_departments_for_department_roles() {
        let entry = TimelineEntry {
            department_id: d("streets"),
            feedback_id: FeedbackId::parse("id", "fb-1").unwrap(),
            channel: Channel::Phone,
            kind: Some(FeedbackKind::Complaint),
            occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).unwrap(),
            case_status: Some(CaseStatus::Open),
            summary: Some("street cut".into()),
            redacted: false,
        };
        let water = Caller { subject: "w".into(), role: Role::Cso, departments: vec![d("water")] };
        let seen = visible_entry(&water, entry.clone());
        assert!(seen.redacted && seen.summary.is_none() && seen.kind.is_none());
        assert_eq!((seen.channel, seen.case_status), (Channel::Phone, Some(CaseStatus::Open)));
        let chief = Caller { subject: "c".into(), role: Role::Chief, departments: vec![] };
        assert_eq!(visible_entry(&chief, entry.clone()), entry);
    }
}
