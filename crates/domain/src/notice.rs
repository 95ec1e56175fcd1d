//! Resident notices: what a resident is told when their case moves, by the channel they chose, in
//! their language. A case change that residents care about ([`NoticeEvent`]) queues a notice in
//! the change's own transaction; a worker renders it from the department's template for the
//! event and language (else the city-wide one, else the built-in English text) and sends it.
//!
//! Templates hold plain text with placeholders in braces (`{case}`); only the names in
//! [`PLACEHOLDERS`] are accepted, and none of them is personal data, so a preview shows nothing
//! a CSO may not see and a template cannot leak one resident's details to another.
use crate::{Case, CaseStatus, DepartmentId, LanguageTag, ValidationError};
use chrono::{DateTime, Utc};

/// A case change the resident is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeEvent {
    /// An officer acknowledged the complaint: someone owns it.
    Acknowledged,
    /// The case waits on the resident (their clock stopped): they are asked for what is missing.
    WaitingOnResident,
    /// The case was resolved.
    Resolved,
    /// The case was handed to another department, which owns it now.
    Transferred,
    /// After a resolution: the follow-up survey invitation, with its signed link. Sent after a
    /// delay, within the department's opening hours, only while the case stays resolved.
    SurveyInvitation,
}

impl NoticeEvent {
    /// Every event, in lifecycle order.
    pub const ALL: [NoticeEvent; 5] = [
        NoticeEvent::Acknowledged,
        NoticeEvent::WaitingOnResident,
        NoticeEvent::Resolved,
        NoticeEvent::Transferred,
        NoticeEvent::SurveyInvitation,
    ];

    /// The stored name, also the first part of a template's ID.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeEvent::Acknowledged => "acknowledged",
            NoticeEvent::WaitingOnResident => "waiting",
            NoticeEvent::Resolved => "resolved",
            NoticeEvent::Transferred => "transferred",
            NoticeEvent::SurveyInvitation => "survey",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The built-in English text, used when neither the department nor the city has a template
    /// for the event: `(subject, body)`.
    pub fn builtin(self) -> (&'static str, &'static str) {
        match self {
            NoticeEvent::Acknowledged => (
                "We are on it: your report {case}",
                "Thank you for telling us. {department} has your report {case} and an officer is \
                 working on it. We aim to resolve it by {resolve_by}.",
            ),
            NoticeEvent::WaitingOnResident => (
                "We need a word with you about {case}",
                "{department} needs more information from you to go on with your report {case}. \
                 Please reply or call us and quote {case}.",
            ),
            NoticeEvent::Resolved => (
                "Resolved: your report {case}",
                "{department} has resolved your report {case}. If it is not fixed, reply and quote \
                 {case}: we will reopen it.",
            ),
            NoticeEvent::Transferred => (
                "Your report {case} is with {owner_department} now",
                "{department} has passed your report {case} to {owner_department}, who own it and \
                 will keep you informed. You do not need to report it again.",
            ),
            NoticeEvent::SurveyInvitation => (
                "How did we do? Your report {case}",
                "{department} resolved your report {case}. Was it resolved for you? Tell us in one \
                 minute: {survey_link}",
            ),
        }
    }
}

/// Which event, if any, a case change from `before` to `after` tells the resident about.
/// The one place this is decided: the store queues a notice exactly when this says so.
pub fn notice_event(before: &Case, after: &Case) -> Option<NoticeEvent> {
    if after.owner_department.is_some() && before.owner_department != after.owner_department {
        return Some(NoticeEvent::Transferred);
    }
    if after.waiting_since.is_some() && before.waiting_since.is_none() {
        return Some(NoticeEvent::WaitingOnResident);
    }
    if after.status == CaseStatus::Resolved && before.status != CaseStatus::Resolved {
        return Some(NoticeEvent::Resolved);
    }
    if after.acknowledged_at.is_some() && before.acknowledged_at.is_none() {
        return Some(NoticeEvent::Acknowledged);
    }
    None
}

/// How a resident chose to be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeChannel {
    /// Not at all.
    None,
    /// By e-mail, to the address they gave.
    Email,
    /// By text message, to the phone they gave (through the city's SMS gateway).
    Sms,
}

impl NoticeChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeChannel::None => "none",
            NoticeChannel::Email => "email",
            NoticeChannel::Sms => "sms",
        }
    }

    /// Parses a stored name (`""`, never chosen, is [`NoticeChannel::None`]).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "" | "none" => Some(NoticeChannel::None),
            "email" => Some(NoticeChannel::Email),
            "sms" => Some(NoticeChannel::Sms),
            _ => None,
        }
    }
}

/// Where a notice's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Accepted by the relay or gateway.
    Sent,
    /// Given up after the last attempt, or refused for good: the department's CSO sees it.
    DeadLetter,
    /// Not sent: the resident was erased, or no longer wants notices, before delivery.
    Cancelled,
}

impl NoticeState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeState::Pending => "pending",
            NoticeState::Sent => "sent",
            NoticeState::DeadLetter => "dead",
            NoticeState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [NoticeState::Pending, NoticeState::Sent, NoticeState::DeadLetter, NoticeState::Cancelled]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// One notice to one resident about one case change, and its delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The department whose case it is about.
    pub department_id: DepartmentId,
    /// Its ID: time-ordered, and the stable message ID of every attempt.
    pub id: String,
    /// The case.
    pub case_id: String,
    /// What happened.
    pub event: NoticeEvent,
    /// How it is sent.
    pub channel: NoticeChannel,
    /// The language of the complaint, which picks the template.
    pub language: String,
    /// Delivery state.
    pub state: NoticeState,
    /// Attempts made.
    pub attempts: i32,
    /// Why the last attempt failed (an error class and status code, never contact data).
    pub last_error: String,
    /// When it was queued.
    pub create_time: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_attempt_time: Option<DateTime<Utc>>,
    /// When the relay or gateway accepted it.
    pub send_time: Option<DateTime<Utc>>,
}

/// A department's (or, with no department, the city's) text for one event in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeTemplate {
    /// The department; `None` for the city-wide default.
    pub department_id: Option<DepartmentId>,
    /// The event.
    pub event: NoticeEvent,
    /// Its language, lowercased (`es`, `es-us`).
    pub language: String,
    /// The e-mail subject (SMS sends the body only).
    pub subject: String,
    /// The text.
    pub body: String,
    /// Revision (etag).
    pub revision: i64,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl NoticeTemplate {
    /// Its ID within its parent: `{event}-{language}`, e.g. `resolved-es-us`.
    pub fn id(&self) -> String {
        template_id(self.event, &self.language)
    }
}

/// A template's ID for `event` in `language` (lowercased).
pub fn template_id(event: NoticeEvent, language: &str) -> String {
    format!("{}-{}", event.as_str(), language.to_ascii_lowercase())
}

/// Parses a template ID (`{event}-{language}`) into its event and lowercased language.
pub fn parse_template_id(field: &str, id: &str) -> Result<(NoticeEvent, String), ValidationError> {
    let bad = || {
        ValidationError::one(
            field,
            "must be {event}-{language}, e.g. resolved-es-us (events: acknowledged, waiting, resolved, transferred, \
             survey)",
        )
    };
    let (event, language) = id.split_once('-').ok_or_else(bad)?;
    let event = NoticeEvent::parse(event).ok_or_else(bad)?;
    let tag = LanguageTag::parse(field, language).map_err(|_| bad())?;
    if language.is_empty() {
        return Err(bad());
    }
    Ok((event, tag.as_str().to_ascii_lowercase()))
}

/// The placeholders a template may use, with what each becomes. None is personal data.
pub const PLACEHOLDERS: [(&str, &str); 5] = [
    ("case", "the case's ID, the reference the resident quotes"),
    ("department", "the department's name"),
    ("resolve_by", "the case's resolve-by date, in the city's time zone (YYYY-MM-DD)"),
    ("owner_department", "for a transfer, the name of the department that owns the case now"),
    ("survey_link", "for a survey invitation, the link to the one-minute survey (signed, single-use)"),
];

/// Checks a template text (subject or body): at most `max` characters, braces only around a
/// known placeholder.
pub fn template_text(field: &str, value: &str, max: usize, required: bool) -> Result<String, ValidationError> {
    let v = if required {
        crate::validation::required_text(field, value, max)?
    } else {
        crate::validation::optional_text(field, value, max)?
    };
    let mut rest = v.as_str();
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(ValidationError::one(field, "has a '}' without its '{'"));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| ValidationError::one(field, "has a '{' without its '}'"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
            let known = PLACEHOLDERS.iter().map(|(p, _)| format!("{{{p}}}")).collect::<Vec<_>>().join(", ");
            return Err(ValidationError::one(field, format!("uses an unknown placeholder {{{name}}}; known: {known}")));
        }
        rest = &after[close + 1..];
    }
    Ok(v)
}

/// The values a notice's placeholders become.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeFacts {
    /// The case's ID.
    pub case: String,
    /// The department's name.
    pub department: String,
    /// The resolve-by date, local.
    pub resolve_by: String,
    /// The owning department's name, for a transfer.
    pub owner_department: String,
    /// The survey's link, for a survey invitation.
    pub survey_link: String,
}

impl NoticeFacts {
    /// The facts of case `case` of the department named `department`, due `resolve_due` (shown
    /// as a local date in `zone`), owned now by `owner_department` (a name, or empty).
    pub fn of_case(
        case: &str,
        department: &str,
        resolve_due: DateTime<Utc>,
        zone: chrono_tz::Tz,
        owner_department: &str,
    ) -> Self {
        NoticeFacts {
            case: case.to_owned(),
            department: department.to_owned(),
            resolve_by: resolve_due.with_timezone(&zone).format("%Y-%m-%d").to_string(),
            owner_department: owner_department.to_owned(),
            survey_link: String::new(),
        }
    }
}

/// `text` with every placeholder replaced by its value in `facts`.
pub fn render(text: &str, facts: &NoticeFacts) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        match &after[..close] {
            "case" => out.push_str(&facts.case),
            "department" => out.push_str(&facts.department),
            "resolve_by" => out.push_str(&facts.resolve_by),
            "owner_department" => out.push_str(&facts.owner_department),
            "survey_link" => out.push_str(&facts.survey_link),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The template for `event` in `language` among `templates` (a department's and the city's):
/// the department's in the exact language, then in its primary language (`es` for `es-US`),
/// then the city's likewise, then the same in English; `None` means the built-in text.
pub fn choose<'a>(
    templates: &'a [NoticeTemplate],
    department: &DepartmentId,
    event: NoticeEvent,
    language: &str,
) -> Option<&'a NoticeTemplate> {
    let exact = language.to_ascii_lowercase();
    let primary = exact.split('-').next().unwrap_or_default().to_owned();
    let mut languages = vec![exact, primary];
    languages.push(LanguageTag::DEFAULT.to_owned());
    languages.dedup();
    let find = |dept: Option<&DepartmentId>, lang: &str| {
        templates.iter().find(|t| t.event == event && t.department_id.as_ref() == dept && t.language == lang)
    };
    for lang in &languages {
        if let Some(t) = find(Some(department), lang).or_else(|| find(None, lang)) {
            return Some(t);
        }
    }
    None
}

/// The subject and body of a notice: `template`'s, or the built-in text when `None`.
pub fn compose(template: Option<&NoticeTemplate>, event: NoticeEvent, facts: &NoticeFacts) -> (String, String) {
    let (subject, body) = match template {
        Some(t) => (t.subject.as_str(), t.body.as_str()),
        None => event.builtin(),
    };
    (render(subject, facts), render(body, facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(dept: Option<&str>, event: NoticeEvent, lang: &str, body: &str) -> NoticeTemplate {
        NoticeTemplate {
            department_id: dept.map(|d| DepartmentId::parse("d", d).expect("id")),
            event,
            language: lang.into(),
            subject: String::new(),
            body: body.into(),
            revision: 1,
            update_time: Utc::now(),
        }
    }

    #[test]
    fn the_department_wins_then_the_primary_language_then_the_city_then_english() {
        let water = DepartmentId::parse("d", "water").expect("id");
        let all = vec![
            t(None, NoticeEvent::Resolved, "en", "city en"),
            t(None, NoticeEvent::Resolved, "es", "city es"),
            t(Some("water"), NoticeEvent::Resolved, "es-us", "water es-us"),
            t(Some("streets"), NoticeEvent::Resolved, "fr", "streets fr"),
        ];
        let body = |lang: &str| choose(&all, &water, NoticeEvent::Resolved, lang).map(|t| t.body.as_str());
        assert_eq!(body("es-US"), Some("water es-us"));
        assert_eq!(body("es-MX"), Some("city es"));
        assert_eq!(body("fr"), Some("city en"));
        assert_eq!(choose(&all, &water, NoticeEvent::Acknowledged, "es"), None);
    }

    #[test]
    fn only_known_placeholders_are_accepted_and_rendered() {
        assert!(template_text("t.body", "Hola {case} de {department}", 100, true).is_ok());
        let e = template_text("t.body", "Dear {name}", 100, true).unwrap_err();
        assert_eq!(e.violations[0].field, "t.body");
        assert!(template_text("t.body", "open {case", 100, true).is_err());
        assert!(template_text("t.body", "close case}", 100, true).is_err());
        let facts = NoticeFacts { case: "c1".into(), department: "Water".into(), ..Default::default() };
        assert_eq!(render("Hola {case} de {department}", &facts), "Hola c1 de Water");
    }

    #[test]
    fn template_ids_name_the_event_and_language() {
        assert_eq!(parse_template_id("n", "resolved-es-US").expect("ok"), (NoticeEvent::Resolved, "es-us".into()));
        assert_eq!(parse_template_id("n", "waiting-en").expect("ok").0, NoticeEvent::WaitingOnResident);
        for bad in ["resolved", "done-en", "resolved-", "resolved-e_s"] {
            assert!(parse_template_id("n", bad).is_err(), "{bad}");
        }
    }
}
