//! The resident-notice methods of `cityserve.v1.FeedbackService`: the texts departments (and the
//! city) send when a case moves, their preview, and the notices with their delivery. Notices are
//! queued by the store with the case change itself; the server's notifier sends them.
use super::FeedbackApi;
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{ctx, expected_revision, list_scope, mask_paths, next_page_token, page, scope_for};
use crate::names;
use chrono::Utc;
use cityserve_domain::notice::{
    Notice, NoticeChannel, NoticeEvent, NoticeFacts, NoticeState, NoticeTemplate, choose, compose, parse_template_id,
    template_text,
};
use cityserve_domain::{
    Action, AuditAction, Caller, DepartmentId, LanguageTag, TenantScope, ValidationError, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_store::notices::NoticeFilter;
use cityserve_store::{CalendarStore, FeedbackStore, NoticeStore, StoreError, resource};

/// The longest subject of a notice template.
const SUBJECT_MAX: usize = 200;
/// The longest body of a notice template.
const BODY_MAX: usize = 2_000;
/// The most templates one parent may hold (4 events in up to 50 languages).
const TEMPLATES_MAX: usize = 200;

/// A resident's notice channel as submitted: `None` keeps their earlier choice. E-mail needs the
/// e-mail address and SMS the phone, in the same contact.
pub(super) fn notice_channel_in(
    field: &str,
    v: i32,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<NoticeChannel>, ValidationError> {
    use pb::NoticeChannel as P;
    let given = |x: Option<&str>| x.is_some_and(|x| !x.is_empty());
    match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known NoticeChannel"))? {
        P::Unspecified => Ok(None),
        P::None => Ok(Some(NoticeChannel::None)),
        P::Email if given(email) => Ok(Some(NoticeChannel::Email)),
        P::Email => Err(ValidationError::one(field, "is EMAIL but no e-mail address is given")),
        P::Sms if given(phone) => Ok(Some(NoticeChannel::Sms)),
        P::Sms => Err(ValidationError::one(field, "is SMS but no phone number is given")),
    }
}

fn event_from_pb(field: &str, v: i32) -> Result<NoticeEvent, ValidationError> {
    use pb::NoticeEvent as P;
    match P::try_from(v) {
        Ok(P::Acknowledged) => Ok(NoticeEvent::Acknowledged),
        Ok(P::WaitingOnResident) => Ok(NoticeEvent::WaitingOnResident),
        Ok(P::Resolved) => Ok(NoticeEvent::Resolved),
        Ok(P::Transferred) => Ok(NoticeEvent::Transferred),
        Ok(P::SurveyInvitation) => Ok(NoticeEvent::SurveyInvitation),
        Ok(P::Unspecified) => Err(ValidationError::one(field, "is required")),
        Err(_) => Err(ValidationError::one(field, "is not a known NoticeEvent")),
    }
}

fn event_to_pb(e: NoticeEvent) -> pb::NoticeEvent {
    match e {
        NoticeEvent::Acknowledged => pb::NoticeEvent::Acknowledged,
        NoticeEvent::WaitingOnResident => pb::NoticeEvent::WaitingOnResident,
        NoticeEvent::Resolved => pb::NoticeEvent::Resolved,
        NoticeEvent::Transferred => pb::NoticeEvent::Transferred,
        NoticeEvent::SurveyInvitation => pb::NoticeEvent::SurveyInvitation,
    }
}

fn state_to_pb(s: NoticeState) -> pb::NoticeState {
    match s {
        NoticeState::Pending => pb::NoticeState::Pending,
        NoticeState::Sent => pb::NoticeState::Sent,
        NoticeState::DeadLetter => pb::NoticeState::DeadLetter,
        NoticeState::Cancelled => pb::NoticeState::Cancelled,
    }
}

fn state_filter(field: &str, v: i32) -> Result<Option<NoticeState>, ValidationError> {
    use pb::NoticeState as P;
    match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known NoticeState"))? {
        P::Unspecified => Ok(None),
        P::Pending => Ok(Some(NoticeState::Pending)),
        P::Sent => Ok(Some(NoticeState::Sent)),
        P::DeadLetter => Ok(Some(NoticeState::DeadLetter)),
        P::Cancelled => Ok(Some(NoticeState::Cancelled)),
    }
}

fn notice_to_pb(n: &Notice) -> pb::Notice {
    pb::Notice {
        name: resource::notice(&n.department_id, &n.id),
        case: format!("departments/{}/cases/{}", n.department_id, n.case_id),
        event: event_to_pb(n.event) as i32,
        channel: match n.channel {
            NoticeChannel::None => pb::NoticeChannel::None,
            NoticeChannel::Email => pb::NoticeChannel::Email,
            NoticeChannel::Sms => pb::NoticeChannel::Sms,
        } as i32,
        language_code: n.language.clone(),
        state: state_to_pb(n.state) as i32,
        attempt_count: n.attempts,
        last_error: n.last_error.clone(),
        create_time: Some(timestamp(n.create_time)),
        next_attempt_time: n.next_attempt_time.map(timestamp),
        send_time: n.send_time.map(timestamp),
    }
}

fn template_to_pb(t: &NoticeTemplate) -> pb::NoticeTemplate {
    pb::NoticeTemplate {
        name: resource::notice_template(t.department_id.as_ref(), &t.id()),
        subject: t.subject.clone(),
        body: t.body.clone(),
        event: event_to_pb(t.event) as i32,
        language_code: t.language.clone(),
        update_time: Some(timestamp(t.update_time)),
        etag: etag_for(t.revision),
    }
}

/// A template's name: its department (`None`: city-wide), event and language.
fn template_name(field: &str, name: &str) -> Result<(Option<DepartmentId>, NoticeEvent, String), ValidationError> {
    let shape = || {
        ValidationError::one(
            field,
            "must have the form departments/{department}/noticeTemplates/{event}-{language} or \
             noticeTemplates/{event}-{language}",
        )
    };
    let (department, id) = match name.strip_prefix("noticeTemplates/") {
        Some(id) => (None, id),
        None => {
            let (parent, id) = name.split_once("/noticeTemplates/").ok_or_else(shape)?;
            (Some(names::department(field, parent).map_err(|_| shape())?), id)
        }
    };
    let (event, language) = parse_template_id(field, id)?;
    Ok((department, event, language))
}

/// A parent that is a department or, when empty, the city.
fn template_parent(field: &str, parent: &str) -> Result<Option<DepartmentId>, ValidationError> {
    if parent.is_empty() { Ok(None) } else { names::department(field, parent).map(Some) }
}

impl<S: FeedbackStore + NoticeStore + CalendarStore> FeedbackApi<S> {
    /// The scope for managing templates of `department` (`None`: the city's, the Chief's alone).
    fn template_scope(caller: &Caller, department: Option<&DepartmentId>, what: &str) -> Result<TenantScope, ApiError> {
        match department {
            Some(d) => scope_for(caller, Action::ManageNoticeTemplates, d, what),
            None => {
                let scope = list_scope(caller, Action::ManageNoticeTemplates, None, what)?;
                if scope.departments().is_some() {
                    return Err(ApiError::PermissionDenied);
                }
                Ok(scope)
            }
        }
    }

    pub(super) async fn update_notice_template(
        &self,
        caller: Caller,
        home: Option<DepartmentId>,
        r: pb::UpdateNoticeTemplateRequest,
    ) -> Result<NoticeTemplate, ApiError> {
        let body = r.notice_template.ok_or_else(|| ValidationError::one("notice_template", "is required"))?;
        let (department, event, language) = template_name("notice_template.name", &body.name)?;
        let scope = Self::template_scope(&caller, department.as_ref(), &body.name)?;
        let all = ["subject", "body"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let existing = self
            .store
            .notice_templates(&scope, department.as_ref())
            .await
            .map_err(|e| ApiError::from_store(e, &body.name))?;
        let current = existing.iter().find(|t| t.event == event && t.language == language);
        let mut next = match current {
            Some(t) => t.clone(),
            None if r.allow_missing => {
                if !body.etag.is_empty() {
                    return Err(ValidationError::one("notice_template.etag", "must be empty to create").into());
                }
                if existing.len() >= TEMPLATES_MAX {
                    return Err(ApiError::FailedPrecondition(format!(
                        "a parent holds at most {TEMPLATES_MAX} notice templates"
                    )));
                }
                NoticeTemplate {
                    department_id: department.clone(),
                    event,
                    language,
                    subject: String::new(),
                    body: String::new(),
                    revision: 0,
                    update_time: Utc::now(),
                }
            }
            None => return Err(ApiError::from_store(StoreError::NotFound, &body.name)),
        };
        let creating = current.is_none();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "subject" => {
                    if let Some(v) = errors.check(template_text(
                        "notice_template.subject",
                        &body.subject,
                        SUBJECT_MAX,
                        creating || !body.subject.is_empty(),
                    )) {
                        next.subject = v;
                    }
                }
                "body" => {
                    if let Some(v) = errors.check(template_text("notice_template.body", &body.body, BODY_MAX, true)) {
                        next.body = v;
                    }
                }
                _ => {}
            }
        }
        if creating && next.subject.is_empty() {
            errors.push("notice_template.subject", "is required");
        }
        if creating && next.body.is_empty() && !paths.iter().any(|p| p == "body") {
            errors.push("notice_template.body", "is required");
        }
        errors.into_result()?;
        let expected = match current {
            Some(t) => Some(expected_revision("notice_template.etag", &body.etag, t.revision)?),
            None => None,
        };
        let home = department
            .clone()
            .or(home)
            .or_else(|| caller.departments.first().cloned())
            .ok_or_else(|| ApiError::FailedPrecondition("the caller has no home department to audit in".into()))?;
        self.store
            .put_notice_template(&ctx(&scope, &caller, AuditAction::NoticeTemplateManage), &home, &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &body.name))
    }

    pub(super) async fn delete_notice_template(
        &self,
        caller: Caller,
        home: Option<DepartmentId>,
        r: pb::DeleteNoticeTemplateRequest,
    ) -> Result<(), ApiError> {
        let (department, event, language) = template_name("name", &r.name)?;
        let scope = Self::template_scope(&caller, department.as_ref(), &r.name)?;
        let expected = if r.etag.is_empty() {
            None
        } else {
            Some(
                cityserve_domain::revision_from_etag(&r.etag)
                    .ok_or_else(|| ValidationError::one("etag", "is not an etag returned by this API"))?,
            )
        };
        let home = department
            .clone()
            .or(home)
            .or_else(|| caller.departments.first().cloned())
            .ok_or_else(|| ApiError::FailedPrecondition("the caller has no home department to audit in".into()))?;
        self.store
            .delete_notice_template(
                &ctx(&scope, &caller, AuditAction::NoticeTemplateManage),
                &home,
                department.as_ref(),
                event,
                &language,
                expected,
            )
            .await
            .map_err(|e| ApiError::from_store(e, &r.name))
    }

    pub(super) async fn list_notice_templates(
        &self,
        caller: Caller,
        r: pb::ListNoticeTemplatesRequest,
    ) -> Result<pb::ListNoticeTemplatesResponse, ApiError> {
        let department = template_parent("parent", &r.parent)?;
        // The city-wide defaults are every department's fallback: any reader of notices sees them.
        let scope = list_scope(&caller, Action::ReadNotices, department.as_ref(), "noticeTemplates")?;
        let templates = self
            .store
            .notice_templates(&scope, department.as_ref())
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListNoticeTemplatesResponse { notice_templates: templates.iter().map(template_to_pb).collect() })
    }

    pub(super) async fn preview_notice(
        &self,
        caller: Caller,
        r: pb::PreviewNoticeRequest,
    ) -> Result<pb::PreviewNoticeResponse, ApiError> {
        let mut errors = ValidationError::default();
        let department = errors.check(names::department("parent", &r.parent));
        let event = errors.check(event_from_pb("event", r.event));
        let language = errors.check(LanguageTag::parse("language_code", &r.language_code));
        let case = if r.case.is_empty() { None } else { errors.check(names::case("case", &r.case)) };
        let draft = r.draft.as_ref().map(|d| {
            (
                errors.check(template_text("draft.subject", &d.subject, SUBJECT_MAX, false)),
                errors.check(template_text("draft.body", &d.body, BODY_MAX, true)),
            )
        });
        errors.into_result()?;
        let (Some(d), Some(event), Some(language)) = (department, event, language) else {
            return Err(ApiError::Internal);
        };
        let scope = scope_for(&caller, Action::ManageNoticeTemplates, &d, &r.parent)?;
        if let Some((cd, _)) = &case
            && cd != &d
        {
            return Err(ValidationError::one("case", "must be a case of the parent department").into());
        }
        let dept = self.store.get_department(&scope, &d).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        let zone = self
            .store
            .get_city_calendar(&scope)
            .await
            .map_err(|e| ApiError::from_store(e, "the city calendar"))?
            .time_zone;
        let mut facts = match &case {
            Some((_, id)) => {
                let c = self.store.get_case(&scope, &d, id).await.map_err(|e| ApiError::from_store(e, &r.case))?;
                let owner = match &c.owner_department {
                    Some(o) => self
                        .store
                        .get_department(&scope, o)
                        .await
                        .map(|o| o.display_name)
                        .unwrap_or_else(|_| o.to_string()),
                    None => String::new(),
                };
                NoticeFacts::of_case(c.id.as_str(), &dept.display_name, c.resolve_due, zone, &owner)
            }
            None => NoticeFacts::of_case(
                "sample-case",
                &dept.display_name,
                Utc::now() + chrono::Duration::days(5),
                zone,
                "Another Department",
            ),
        };
        // The real link is signed when the invitation goes out; a preview shows where it goes.
        facts.survey_link = "https://311.example.gov/surveys/v1/<signed-token>".into();
        if let Some((subject, body)) = draft {
            let draft = NoticeTemplate {
                department_id: Some(d),
                event,
                language: language.as_str().to_ascii_lowercase(),
                subject: subject.unwrap_or_default(),
                body: body.unwrap_or_default(),
                revision: 0,
                update_time: Utc::now(),
            };
            let (subject, body) = compose(Some(&draft), event, &facts);
            return Ok(pb::PreviewNoticeResponse { notice_template: String::new(), subject, body });
        }
        let mut templates =
            self.store.notice_templates(&scope, Some(&d)).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        templates.extend(
            self.store.notice_templates(&scope, None).await.map_err(|e| ApiError::from_store(e, "noticeTemplates"))?,
        );
        let chosen = choose(&templates, &d, event, language.as_str());
        let (subject, body) = compose(chosen, event, &facts);
        Ok(pb::PreviewNoticeResponse {
            notice_template: chosen
                .map(|t| resource::notice_template(t.department_id.as_ref(), &t.id()))
                .unwrap_or_default(),
            subject,
            body,
        })
    }

    pub(super) async fn list_notices(
        &self,
        caller: Caller,
        r: pb::ListNoticesRequest,
    ) -> Result<pb::ListNoticesResponse, ApiError> {
        let mut errors = ValidationError::default();
        let department = errors.check(names::department("parent", &r.parent));
        let state = errors.check(state_filter("state", r.state)).flatten();
        let case = if r.case.is_empty() { None } else { errors.check(names::case("case", &r.case)) };
        let filter_key = format!("{}|{}|{}", r.parent, r.state, r.case);
        let page = errors.check(page(r.page_size, &r.page_token, &filter_key));
        errors.into_result()?;
        let (Some(d), Some(page)) = (department, page) else {
            return Err(ApiError::Internal);
        };
        if let Some((cd, _)) = &case
            && cd != &d
        {
            return Err(ValidationError::one("case", "must be a case of the parent department").into());
        }
        let scope = scope_for(&caller, Action::ReadNotices, &d, &r.parent)?;
        let filter = NoticeFilter { state, case_id: case.map(|(_, c)| c.to_string()) };
        let p = self
            .store
            .list_notices(&scope, &d, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListNoticesResponse {
            notices: p.items.iter().map(notice_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }
}

/// The template as returned.
pub(super) fn template_response(t: &NoticeTemplate) -> pb::NoticeTemplate {
    template_to_pb(t)
}
