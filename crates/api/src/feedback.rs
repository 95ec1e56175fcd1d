//! `cityserve.v1.FeedbackService`: intake from every channel, complaint cases with their recovery
//! clock, the cross-department resident timeline, and erasure on request.
//!
//! Residents' e-mail addresses and phone numbers arrive in requests and go no further than the
//! store's contact-details table: they are never logged, traced, echoed in errors or hashed
//! without the server's secret (idempotency fingerprints use the resident key instead).
use crate::convert::{channel_from_pb, channel_to_pb, timestamp};
use crate::error::ApiError;
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, label, list_scope, next_page_token, page, record_tenant,
    scope_for, time_from_pb,
};
use crate::layers::standing::HomeDepartment;
use crate::names;
use chrono::{Duration, Utc};
use cityserve_domain::feedback::{
    CaseTransition, normalise_email, normalise_phone_in, summary_of, transition, visible_entry,
};
use cityserve_domain::validation::{optional_text, required_text};
use cityserve_domain::{
    Action, AuditAction, Caller, Case, CaseEntry, CaseNote, CaseStatus, Contact, DepartmentId, Feedback, FeedbackId,
    FeedbackKind, Location, NewFeedback, OfficerId, RecoveryAction, RecoveryKind, ResidentKeyer, ResidentRef,
    ServiceCategoryId, TenantScope, TimelineEntry, ValidationError, authorize, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::feedback_service_server::FeedbackService;
use cityserve_store::feedback::{CaseFilter, CaseOrder, FeedbackFilter, Source, Submitted};
use cityserve_store::{FeedbackStore, now_micros, resource};
use tonic::{Request, Response, Status};

const TEXT_MAX: usize = 10_000;
const NOTE_MAX: usize = 4_000;
const ADDRESS_MAX: usize = 500;
/// The most items one BatchSubmitFeedback may carry.
pub const BATCH_MAX: usize = 1_000;
/// Clock skew tolerated on `occur_time` before it counts as "in the future".
const FUTURE_SKEW_SECS: i64 = 300;

/// The FeedbackService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct FeedbackApi<S> {
    store: S,
    keyer: ResidentKeyer,
    country_code: String,
}

impl<S: FeedbackStore> FeedbackApi<S> {
    /// A service backed by `store`, deriving resident keys with `keyer`.
    pub fn new(store: S, keyer: ResidentKeyer) -> Self {
        Self { store, keyer, country_code: String::new() }
    }

    /// Reads phone numbers written without `+` as numbers of this calling code (e.g. `1`), so
    /// national and international spellings of one number link to one resident.
    pub fn with_phone_country_code(mut self, code: &str) -> Self {
        code.clone_into(&mut self.country_code);
        self
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::feedback_service_server::FeedbackServiceServer<Self> {
        pb::feedback_service_server::FeedbackServiceServer::new(self)
    }
}

fn kind_from_pb(field: &str, v: i32) -> Result<Option<FeedbackKind>, ValidationError> {
    use pb::FeedbackKind as P;
    Ok(Some(match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known FeedbackKind"))? {
        P::Unspecified => return Ok(None),
        P::Complaint => FeedbackKind::Complaint,
        P::Compliment => FeedbackKind::Compliment,
        P::Suggestion => FeedbackKind::Suggestion,
        P::Question => FeedbackKind::Question,
        P::SurveyResponse => FeedbackKind::SurveyResponse,
    }))
}

pub(crate) fn kind_to_pb(k: FeedbackKind) -> pb::FeedbackKind {
    match k {
        FeedbackKind::Complaint => pb::FeedbackKind::Complaint,
        FeedbackKind::Compliment => pb::FeedbackKind::Compliment,
        FeedbackKind::Suggestion => pb::FeedbackKind::Suggestion,
        FeedbackKind::Question => pb::FeedbackKind::Question,
        FeedbackKind::SurveyResponse => pb::FeedbackKind::SurveyResponse,
    }
}

fn state_from_pb(field: &str, v: i32) -> Result<Option<CaseStatus>, ValidationError> {
    use pb::CaseState as P;
    Ok(Some(match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known CaseState"))? {
        P::Unspecified => return Ok(None),
        P::Open => CaseStatus::Open,
        P::Acknowledged => CaseStatus::Acknowledged,
        P::InProgress => CaseStatus::InProgress,
        P::Resolved => CaseStatus::Resolved,
        P::Closed => CaseStatus::Closed,
    }))
}

fn state_to_pb(s: CaseStatus) -> pb::CaseState {
    match s {
        CaseStatus::Open => pb::CaseState::Open,
        CaseStatus::Acknowledged => pb::CaseState::Acknowledged,
        CaseStatus::InProgress => pb::CaseState::InProgress,
        CaseStatus::Resolved => pb::CaseState::Resolved,
        CaseStatus::Closed => pb::CaseState::Closed,
    }
}

fn recovery_from_pb(field: &str, v: i32) -> Result<RecoveryKind, ValidationError> {
    use pb::RecoveryActionKind as P;
    match P::try_from(v) {
        Ok(P::Apology) => Ok(RecoveryKind::Apology),
        Ok(P::Remedy) => Ok(RecoveryKind::Remedy),
        Ok(P::FollowUpCall) => Ok(RecoveryKind::FollowUpCall),
        Ok(P::Unspecified) => Err(ValidationError::one(field, "is required")),
        Err(_) => Err(ValidationError::one(field, "is not a known RecoveryActionKind")),
    }
}

fn recovery_to_pb(k: RecoveryKind) -> pb::RecoveryActionKind {
    match k {
        RecoveryKind::Apology => pb::RecoveryActionKind::Apology,
        RecoveryKind::Remedy => pb::RecoveryActionKind::Remedy,
        RecoveryKind::FollowUpCall => pb::RecoveryActionKind::FollowUpCall,
    }
}

fn feedback_to_pb(f: &Feedback) -> pb::Feedback {
    pb::Feedback {
        name: resource::feedback(&f.department_id, &f.id),
        channel: channel_to_pb(Some(f.channel)) as i32,
        kind: kind_to_pb(f.kind) as i32,
        csat: f.csat,
        nps: f.nps,
        text: f.text.clone(),
        language_code: f.language.clone(),
        service_category_id: f.category.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        location: Some(pb::Location {
            address: f.location.address.clone(),
            latitude: f.location.latitude,
            longitude: f.location.longitude,
        }),
        occur_time: Some(timestamp(f.occurred_at)),
        receive_time: Some(timestamp(f.received_at)),
        resident_key: f.resident_key.clone().unwrap_or_default(),
        internal_customer: f.internal_customer.as_ref().map(resource::department).unwrap_or_default(),
        case: f.case_id.as_ref().map(|c| resource::case(&f.department_id, c)).unwrap_or_default(),
        erased: f.erased,
    }
}

pub(crate) fn case_to_pb(c: &Case) -> pb::Case {
    pb::Case {
        name: resource::case(&c.department_id, &c.id),
        feedback: format!("departments/{}/feedback/{}", c.department_id, c.id),
        state: state_to_pb(c.status) as i32,
        assignee: c.assignee.as_ref().map(|a| a.to_string()).unwrap_or_default(),
        service_category_id: c.category.as_ref().map(|x| x.to_string()).unwrap_or_default(),
        channel: channel_to_pb(Some(c.channel)) as i32,
        receive_time: Some(timestamp(c.received_at)),
        acknowledge_due_time: Some(timestamp(c.acknowledge_due)),
        resolve_due_time: Some(timestamp(c.resolve_due)),
        acknowledge_time: c.acknowledged_at.map(timestamp),
        resolve_time: c.resolved_at.map(timestamp),
        close_time: c.closed_at.map(timestamp),
        owner_department: c.owner_department.as_ref().map(resource::department).unwrap_or_default(),
        reopen_count: c.reopen_count,
        recovery_actions: c
            .recovery
            .iter()
            .map(|r| pb::RecoveryAction {
                kind: recovery_to_pb(r.kind) as i32,
                note: r.note.clone(),
                actor: r.actor.clone(),
                create_time: Some(timestamp(r.at)),
            })
            .collect(),
        notes: c
            .notes
            .iter()
            .map(|n| pb::CaseNote {
                text: n.text.clone(),
                author: n.actor.clone(),
                create_time: Some(timestamp(n.at)),
                public: n.public,
            })
            .collect(),
        follow_up: c.follow_up.as_ref().map(|f| resource::feedback(&c.department_id, f)).unwrap_or_default(),
        resident_satisfied: c.satisfied,
        overdue: c.overdue(Utc::now()),
        etag: etag_for(c.revision),
        update_time: Some(timestamp(c.update_time)),
    }
}

fn submitted_to_pb(s: &Submitted) -> pb::SubmitFeedbackResponse {
    pb::SubmitFeedbackResponse { feedback: Some(feedback_to_pb(&s.feedback)), case: s.case.as_ref().map(case_to_pb) }
}

/// A BCP 47 tag, loosely: 2-3 letter primary subtag, then alphanumeric subtags of 1-8.
pub(crate) fn language(field: &str, v: &str) -> Result<String, ValidationError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok("en".into());
    }
    let mut parts = v.split('-');
    let primary = parts.next().unwrap_or_default();
    let ok = v.len() <= 35
        && (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(ValidationError::one(field, "is not a BCP 47 language tag (e.g. en, es-US)"))
    }
}

pub(crate) fn location(field: &str, l: Option<&pb::Location>) -> Result<Location, ValidationError> {
    let Some(l) = l else { return Ok(Location::default()) };
    let mut errors = ValidationError::default();
    let address = errors.check(optional_text(&format!("{field}.address"), &l.address, ADDRESS_MAX));
    match (l.latitude, l.longitude) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) {
                errors.push(format!("{field}.latitude"), "must be between -90 and 90");
            }
            if !(-180.0..=180.0).contains(&lon) {
                errors.push(format!("{field}.longitude"), "must be between -180 and 180");
            }
        }
        (None, None) => {}
        (Some(_), None) => errors.push(format!("{field}.longitude"), "is required with latitude"),
        (None, Some(_)) => errors.push(format!("{field}.latitude"), "is required with longitude"),
    }
    errors.into_result()?;
    Ok(Location { address: address.unwrap_or_default(), latitude: l.latitude, longitude: l.longitude })
}

/// A fingerprint of a submission that does not contain contact details: the resident is replaced
/// by their keyed hash.
fn fingerprint(r: &pb::SubmitFeedbackRequest, key: Option<&str>) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        request_id: String::new(),
        resident: key.map(|k| pb::ResidentContact { email: k.to_owned(), phone: String::new() }),
        ..r.clone()
    }
}

impl<S: FeedbackStore> FeedbackApi<S> {
    /// The resident's contact details and key, or `None` for anonymous feedback.
    fn resident(&self, field: &str, c: Option<&pb::ResidentContact>) -> Result<Option<ResidentRef>, ValidationError> {
        let Some(c) = c else { return Ok(None) };
        let mut errors = ValidationError::default();
        let email = errors.check(normalise_email(&format!("{field}.email"), &c.email));
        let phone = errors.check(normalise_phone_in(&format!("{field}.phone"), &c.phone, &self.country_code));
        errors.into_result()?;
        let contact = Contact { email: email.unwrap_or_default(), phone: phone.unwrap_or_default() };
        Ok(self.keyer.resident(contact))
    }

    /// The resident a timeline or erasure request names: by key, or by contact details (looked
    /// up in the identity index; a resident never seen gets the key they would have).
    async fn named_resident(
        &self,
        scope: &TenantScope,
        resident: &str,
        contact: Option<&pb::ResidentContact>,
    ) -> Result<String, ApiError> {
        if !resident.is_empty() {
            return Ok(names::resident("resident", resident)?);
        }
        let Some(r) = self.resident("contact", contact)? else {
            return Err(ValidationError::one("resident", "name the resident by key or by contact e-mail/phone").into());
        };
        let known =
            self.store.find_resident(scope, &r.identifiers).await.map_err(|e| ApiError::from_store(e, "resident"))?;
        Ok(known.unwrap_or(r.key))
    }

    /// Validates one submission for department `d`. Field names are relative to the request.
    fn new_feedback(&self, d: &DepartmentId, r: &pb::SubmitFeedbackRequest) -> Result<NewFeedback, ValidationError> {
        let body = r.feedback.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let channel = errors.check(channel_from_pb("feedback.channel", body.channel)).flatten();
        if channel.is_none() && body.channel == 0 {
            errors.push("feedback.channel", "is required");
        }
        let kind = errors.check(kind_from_pb("feedback.kind", body.kind)).flatten();
        if kind.is_none() && body.kind == 0 {
            errors.push("feedback.kind", "is required");
        }
        if body.csat.is_some_and(|v| !(1..=5).contains(&v)) {
            errors.push("feedback.csat", "must be between 1 and 5");
        }
        if body.nps.is_some_and(|v| !(0..=10).contains(&v)) {
            errors.push("feedback.nps", "must be between 0 and 10");
        }
        let text = errors.check(optional_text("feedback.text", &body.text, TEXT_MAX));
        let lang = errors.check(language("feedback.language_code", &body.language_code));
        let category = if body.service_category_id.is_empty() {
            Some(None)
        } else {
            errors.check(ServiceCategoryId::parse("feedback.service_category_id", &body.service_category_id).map(Some))
        };
        let loc = errors.check(location("feedback.location", body.location.as_ref()));
        let now = Utc::now();
        let occurred = errors.check(time_from_pb("feedback.occur_time", body.occur_time.as_ref()));
        if let Some(Some(t)) = occurred
            && t > now + Duration::seconds(FUTURE_SKEW_SECS)
        {
            errors.push("feedback.occur_time", "must not be in the future");
        }
        let internal = if body.internal_customer.is_empty() {
            Some(None)
        } else {
            errors.check(names::department("feedback.internal_customer", &body.internal_customer).map(Some))
        };
        if let Some(Some(i)) = &internal
            && i == d
        {
            errors.push("feedback.internal_customer", "must be another department than the one rated");
        }
        let resident = errors.check(self.resident("resident", r.resident.as_ref()));
        if !r.parent.is_empty() && names::department("parent", &r.parent).is_ok_and(|p| p != *d) {
            errors.push("parent", "must be the batch's parent");
        }
        errors.into_result()?;
        let (Some(channel), Some(kind), Some(text), Some(language), Some(category), Some(location)) =
            (channel, kind, text, lang, category, loc)
        else {
            return Err(ValidationError::one("feedback", "is invalid"));
        };
        Ok(NewFeedback {
            department_id: d.clone(),
            id: FeedbackId::parse("id", &generated_id("fb"))?,
            channel,
            kind,
            csat: body.csat,
            nps: body.nps,
            text,
            language,
            category,
            location,
            occurred_at: occurred.flatten().unwrap_or(now),
            resident: resident.flatten(),
            internal_customer: internal.flatten(),
            source: None,
        })
    }

    /// Authorizes one submission: internal-customer feedback is given on behalf of one of the
    /// caller's own departments, which must exist.
    async fn authorize_submission(
        &self,
        caller: &Caller,
        new: &NewFeedback,
        field: &str,
    ) -> Result<TenantScope, ApiError> {
        let what = label("department", new.department_id.as_str());
        let Some(internal) = &new.internal_customer else {
            return scope_for(caller, Action::SubmitFeedback, &new.department_id, &what);
        };
        let scope = scope_for(caller, Action::SubmitInternalFeedback, &new.department_id, &what)?;
        let invalid = || ValidationError::one(field, "must be an existing department the caller acts for");
        if !caller.role.is_city_wide() && !caller.belongs_to(internal) {
            return Err(invalid().into());
        }
        let read = authorize(caller, Action::ReadDepartment, Some(internal)).map_err(|_| invalid())?;
        match self.store.get_department(&read, internal).await {
            Ok(_) => Ok(scope),
            Err(cityserve_store::StoreError::NotFound) => Err(invalid().into()),
            Err(e) => Err(ApiError::from_store(e, &what)),
        }
    }

    async fn submit(
        &self,
        caller: Caller,
        r: pb::SubmitFeedbackRequest,
    ) -> Result<pb::SubmitFeedbackResponse, ApiError> {
        self.submit_from(caller, r, None).await
    }

    /// SubmitFeedback on behalf of another intake path (the Open311 gateway): the same
    /// validation, authorization, idempotency, audit and events, recording `source` as the
    /// client that filed it.
    pub async fn submit_from(
        &self,
        caller: Caller,
        r: pb::SubmitFeedbackRequest,
        source: Option<&str>,
    ) -> Result<pb::SubmitFeedbackResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        record_tenant(d.as_str());
        let mut new = self.new_feedback(&d, &r)?;
        new.source = source.map(str::to_owned);
        let key = new.resident.as_ref().map(|r| r.key.as_str());
        let idem = idempotency(&r.request_id, &fingerprint(&r, key))?;
        let scope = self.authorize_submission(&caller, &new, "feedback.internal_customer").await?;
        let what = label("department", &r.parent);
        let s = self
            .store
            .submit_feedback(&ctx(&scope, &caller, AuditAction::FeedbackSubmit), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(submitted_to_pb(&s))
    }

    async fn submit_batch(
        &self,
        caller: Caller,
        r: pb::BatchSubmitFeedbackRequest,
    ) -> Result<pb::BatchSubmitFeedbackResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        record_tenant(d.as_str());
        if r.requests.is_empty() || r.requests.len() > BATCH_MAX {
            return Err(ValidationError::one("requests", format!("must hold 1-{BATCH_MAX} items")).into());
        }
        let mut errors = ValidationError::default();
        let mut items = Vec::with_capacity(r.requests.len());
        let mut prints = Vec::with_capacity(r.requests.len());
        for (i, item) in r.requests.iter().enumerate() {
            match self.new_feedback(&d, item) {
                Ok(new) => {
                    prints.push(fingerprint(item, new.resident.as_ref().map(|r| r.key.as_str())));
                    items.push(new);
                }
                Err(e) => errors.violations.extend(e.within(&format!("requests[{i}]")).violations),
            }
        }
        errors.into_result()?;
        let idem = idempotency(
            &r.request_id,
            &pb::BatchSubmitFeedbackRequest { parent: r.parent.clone(), requests: prints, request_id: String::new() },
        )?;
        // Every item is for `d`, so every item's scope is the same one department.
        // Authorization depends only on the internal customer (if any): check each distinct one
        // once, so a 1,000-item import does not look the same department up 1,000 times.
        let mut scope = None;
        let mut checked: Vec<Option<&DepartmentId>> = Vec::new();
        for (i, new) in items.iter().enumerate() {
            if checked.contains(&new.internal_customer.as_ref()) {
                continue;
            }
            checked.push(new.internal_customer.as_ref());
            scope = Some(
                self.authorize_submission(&caller, new, &format!("requests[{i}].feedback.internal_customer")).await?,
            );
        }
        let scope = scope.ok_or(ApiError::Internal)?;
        let what = label("department", &r.parent);
        let results = self
            .store
            .submit_feedback_batch(&ctx(&scope, &caller, AuditAction::FeedbackSubmit), &idem, &d, &items)
            .await
            .map_err(|(i, e)| match (i, ApiError::from_store(e, &what)) {
                (Some(i), ApiError::FailedPrecondition(m)) => {
                    ApiError::FailedPrecondition(format!("requests[{i}]: {m}"))
                }
                (Some(i), ApiError::AlreadyExists(_)) => {
                    ApiError::AlreadyExists(format!("requests[{i}]: a feedback with the same ID"))
                }
                (_, other) => other,
            })?;
        Ok(pb::BatchSubmitFeedbackResponse { results: results.iter().map(submitted_to_pb).collect() })
    }

    async fn get_feedback(&self, caller: Caller, name: &str) -> Result<pb::Feedback, ApiError> {
        let (d, f) = names::feedback("name", name)?;
        let what = label("feedback", name);
        let scope = scope_for(&caller, Action::ReadFeedback, &d, &what)?;
        let fb = self.store.get_feedback(&scope, &d, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(feedback_to_pb(&fb))
    }

    async fn list_feedback(
        &self,
        caller: Caller,
        r: pb::ListFeedbackRequest,
    ) -> Result<pb::ListFeedbackResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let mut errors = ValidationError::default();
        let kind = errors.check(kind_from_pb("kind", r.kind)).flatten();
        let channel = errors.check(channel_from_pb("channel", r.channel)).flatten();
        let category = if r.service_category_id.is_empty() {
            Some(None)
        } else {
            errors.check(ServiceCategoryId::parse("service_category_id", &r.service_category_id).map(Some))
        };
        let source = match pb::FeedbackSource::try_from(r.source) {
            Ok(pb::FeedbackSource::Unspecified) => None,
            Ok(pb::FeedbackSource::Residents) => Some(Source::Residents),
            Ok(pb::FeedbackSource::InternalCustomers) => Some(Source::InternalCustomers),
            Err(_) => {
                errors.push("source", "is not a known FeedbackSource");
                None
            }
        };
        errors.into_result()?;
        let filter_key = format!(
            "feedback?parent={}&kind={}&channel={}&cat={}&source={}",
            r.parent, r.kind, r.channel, r.service_category_id, r.source
        );
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("department", &r.parent);
        let scope = list_scope(&caller, Action::ReadFeedback, d.as_ref(), &what)?;
        let filter = FeedbackFilter { department: d, kind, channel, category: category.flatten(), source };
        let p = self.store.list_feedback(&scope, &filter, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListFeedbackResponse {
            feedback: p.items.iter().map(feedback_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn timeline(
        &self,
        caller: Caller,
        home: Option<DepartmentId>,
        r: pb::GetResidentTimelineRequest,
    ) -> Result<pb::GetResidentTimelineResponse, ApiError> {
        let scope = authorize(&caller, Action::ReadTimeline, None).map_err(|e| ApiError::from_denied(e, "resident"))?;
        let key = self.named_resident(&scope, &r.resident, r.contact.as_ref()).await?;
        let mut audit_in = caller.departments.clone();
        audit_in.extend(home);
        let rows = self
            .store
            .resident_timeline(&ctx(&scope, &caller, AuditAction::TimelineRead), &audit_in, &key)
            .await
            .map_err(|e| ApiError::from_store(e, "resident"))?;
        let entries = rows
            .into_iter()
            .map(|row| {
                let redacted = row.details.is_none();
                let (kind, summary) = match row.details {
                    Some((k, text)) => (Some(k), Some(summary_of(&text))),
                    None => (None, None),
                };
                let entry = TimelineEntry {
                    department_id: row.department_id,
                    feedback_id: row.feedback_id,
                    channel: row.channel,
                    kind,
                    occurred_at: row.occurred_at,
                    case_status: row.case_status,
                    summary,
                    redacted,
                };
                let e = visible_entry(&caller, entry);
                pb::TimelineEntry {
                    department: resource::department(&e.department_id),
                    feedback: resource::feedback(&e.department_id, &e.feedback_id),
                    channel: channel_to_pb(Some(e.channel)) as i32,
                    kind: e.kind.map(kind_to_pb).unwrap_or(pb::FeedbackKind::Unspecified) as i32,
                    occur_time: Some(timestamp(e.occurred_at)),
                    case_state: e.case_status.map(state_to_pb).unwrap_or(pb::CaseState::Unspecified) as i32,
                    summary: e.summary.unwrap_or_default(),
                    redacted: e.redacted,
                }
            })
            .collect();
        Ok(pb::GetResidentTimelineResponse { resident: resource::resident(&key), entries })
    }

    async fn erase(&self, caller: Caller, r: pb::EraseResidentRequest) -> Result<pb::EraseResidentResponse, ApiError> {
        let scope =
            authorize(&caller, Action::EraseResident, None).map_err(|e| ApiError::from_denied(e, "resident"))?;
        let key = self.named_resident(&scope, &r.resident, r.contact.as_ref()).await?;
        let erasure = self
            .store
            .erase_resident(&ctx(&scope, &caller, AuditAction::ResidentErase), &key)
            .await
            .map_err(|e| ApiError::from_store(e, "resident"))?;
        tracing::info!(
            departments = erasure.departments.len(),
            feedback = erasure.feedback_erased,
            "resident erased on request"
        );
        Ok(pb::EraseResidentResponse {
            resident: resource::resident(&key),
            erased_feedback_count: erasure.feedback_erased,
            deleted_contact_count: erasure.contacts_deleted,
            departments: erasure.departments.iter().map(resource::department).collect(),
        })
    }

    async fn get_case(&self, caller: Caller, name: &str) -> Result<pb::Case, ApiError> {
        let (d, c) = names::case("name", name)?;
        let what = label("case", name);
        let scope = scope_for(&caller, Action::ReadCases, &d, &what)?;
        let case = self.store.get_case(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(case_to_pb(&case))
    }

    async fn list_cases(&self, caller: Caller, r: pb::ListCasesRequest) -> Result<pb::ListCasesResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let mut errors = ValidationError::default();
        let status = errors.check(state_from_pb("state", r.state)).flatten();
        let assignee = if r.assignee.is_empty() {
            Some(None)
        } else {
            errors.check(OfficerId::parse("assignee", &r.assignee).map(Some))
        };
        let category = if r.service_category_id.is_empty() {
            Some(None)
        } else {
            errors.check(ServiceCategoryId::parse("service_category_id", &r.service_category_id).map(Some))
        };
        let order = match pb::CaseOrder::try_from(r.order) {
            Ok(pb::CaseOrder::Unspecified) => CaseOrder::Newest,
            Ok(pb::CaseOrder::ResolveDue) => CaseOrder::ResolveDue,
            Err(_) => {
                errors.push("order", "is not a known CaseOrder");
                CaseOrder::Newest
            }
        };
        errors.into_result()?;
        // "Overdue now" moves with the clock; the token stays bound to the rest of the filter.
        let filter_key = format!(
            "cases?parent={}&state={}&assignee={}&cat={}&overdue={}&order={}",
            r.parent, r.state, r.assignee, r.service_category_id, r.overdue_only, r.order
        );
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("department", &r.parent);
        let scope = list_scope(&caller, Action::ReadCases, d.as_ref(), &what)?;
        let filter = CaseFilter {
            department: d,
            status,
            assignee: assignee.flatten(),
            category: category.flatten(),
            overdue_at: r.overdue_only.then(now_micros),
        };
        let p =
            self.store.list_cases(&scope, &filter, order, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListCasesResponse {
            cases: p.items.iter().map(case_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    /// Reads a case, applies `change` to it and saves it if it is still at the read (or the
    /// given) revision.
    async fn change_case(
        &self,
        caller: &Caller,
        name: &str,
        etag: &str,
        change: impl FnOnce(&Case) -> Result<(Case, Option<CaseEntry>), ApiError>,
    ) -> Result<pb::Case, ApiError> {
        let (d, c) = names::case("name", name)?;
        let what = label("case", name);
        let scope = scope_for(caller, Action::ManageCases, &d, &what)?;
        let current = self.store.get_case(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        let rev = expected_revision("etag", etag, current.revision)?;
        let (next, entry) = change(&current)?;
        let saved = self
            .store
            .save_case(&ctx(&scope, caller, AuditAction::CaseUpdate), &next, rev, entry.as_ref())
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(case_to_pb(&saved))
    }

    /// A state change with an optional (or, with `note_required`, required) note.
    async fn move_case(
        &self,
        caller: Caller,
        name: &str,
        etag: &str,
        note: &str,
        note_required: bool,
        t: CaseTransition,
    ) -> Result<pb::Case, ApiError> {
        let text =
            if note_required { required_text("note", note, NOTE_MAX)? } else { optional_text("note", note, NOTE_MAX)? };
        let actor = caller.subject.clone();
        self.change_case(&caller, name, etag, move |case| {
            let now = now_micros();
            let next = transition(case, &t, now).map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
            let entry = (!text.is_empty()).then_some(CaseEntry::Note(CaseNote { text, public: false, actor, at: now }));
            Ok((next, entry))
        })
        .await
    }
}

#[tonic::async_trait]
impl<S: FeedbackStore> FeedbackService for FeedbackApi<S> {
    async fn submit_feedback(
        &self,
        req: Request<pb::SubmitFeedbackRequest>,
    ) -> Result<Response<pb::SubmitFeedbackResponse>, Status> {
        handle!(req, |c, r| self.submit(c, r), |x| x)
    }

    async fn batch_submit_feedback(
        &self,
        req: Request<pb::BatchSubmitFeedbackRequest>,
    ) -> Result<Response<pb::BatchSubmitFeedbackResponse>, Status> {
        handle!(req, |c, r| self.submit_batch(c, r), |x| x)
    }

    async fn get_feedback(
        &self,
        req: Request<pb::GetFeedbackRequest>,
    ) -> Result<Response<pb::GetFeedbackResponse>, Status> {
        handle!(req, |c, r| self.get_feedback(c, &r.name), |x| pb::GetFeedbackResponse { feedback: Some(x) })
    }

    async fn list_feedback(
        &self,
        req: Request<pb::ListFeedbackRequest>,
    ) -> Result<Response<pb::ListFeedbackResponse>, Status> {
        handle!(req, |c, r| self.list_feedback(c, r), |x| x)
    }

    async fn get_resident_timeline(
        &self,
        req: Request<pb::GetResidentTimelineRequest>,
    ) -> Result<Response<pb::GetResidentTimelineResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.timeline(c, home, r), |x| x)
    }

    async fn erase_resident(
        &self,
        req: Request<pb::EraseResidentRequest>,
    ) -> Result<Response<pb::EraseResidentResponse>, Status> {
        handle!(req, |c, r| self.erase(c, r), |x| x)
    }

    async fn get_case(&self, req: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        handle!(req, |c, r| self.get_case(c, &r.name), |x| pb::GetCaseResponse { case: Some(x) })
    }

    async fn list_cases(&self, req: Request<pb::ListCasesRequest>) -> Result<Response<pb::ListCasesResponse>, Status> {
        handle!(req, |c, r| self.list_cases(c, r), |x| x)
    }

    async fn acknowledge_case(
        &self,
        req: Request<pb::AcknowledgeCaseRequest>,
    ) -> Result<Response<pb::AcknowledgeCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Acknowledge), |x| {
            pb::AcknowledgeCaseResponse { case: Some(x) }
        })
    }

    async fn start_case(&self, req: Request<pb::StartCaseRequest>) -> Result<Response<pb::StartCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Start), |x| {
            pb::StartCaseResponse { case: Some(x) }
        })
    }

    async fn resolve_case(
        &self,
        req: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<pb::ResolveCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Resolve), |x| {
            pb::ResolveCaseResponse { case: Some(x) }
        })
    }

    async fn close_case(&self, req: Request<pb::CloseCaseRequest>) -> Result<Response<pb::CloseCaseResponse>, Status> {
        handle!(
            req,
            |caller, r| async {
                if r.owner_department.is_empty() {
                    return self.move_case(caller, &r.name, &r.etag, &r.note, false, CaseTransition::Close).await;
                }
                let owner = names::department("owner_department", &r.owner_department)?;
                self.move_case(caller, &r.name, &r.etag, &r.note, true, CaseTransition::CloseNotOurs(owner)).await
            },
            |x| pb::CloseCaseResponse { case: Some(x) }
        )
    }

    async fn reopen_case(
        &self,
        req: Request<pb::ReopenCaseRequest>,
    ) -> Result<Response<pb::ReopenCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, true, CaseTransition::Reopen), |x| {
            pb::ReopenCaseResponse { case: Some(x) }
        })
    }

    async fn assign_case(
        &self,
        req: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::AssignCaseResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let assignee = OfficerId::parse("assignee", &r.assignee)?;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    Ok((Case { assignee: Some(assignee), ..case.clone() }, None))
                })
                .await
            },
            |x| pb::AssignCaseResponse { case: Some(x) }
        )
    }

    async fn add_case_note(
        &self,
        req: Request<pb::AddCaseNoteRequest>,
    ) -> Result<Response<pb::AddCaseNoteResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let text = required_text("text", &r.text, NOTE_MAX)?;
                let actor = c.subject.clone();
                let public = r.public;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    Ok((case.clone(), Some(CaseEntry::Note(CaseNote { text, public, actor, at: now_micros() }))))
                })
                .await
            },
            |x| pb::AddCaseNoteResponse { case: Some(x) }
        )
    }

    async fn record_recovery_action(
        &self,
        req: Request<pb::RecordRecoveryActionRequest>,
    ) -> Result<Response<pb::RecordRecoveryActionResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let mut errors = ValidationError::default();
                let kind = errors.check(recovery_from_pb("kind", r.kind));
                let note = errors.check(optional_text("note", &r.note, NOTE_MAX));
                errors.into_result()?;
                let (Some(kind), Some(note)) = (kind, note) else { return Err(ApiError::Internal) };
                let actor = c.subject.clone();
                self.change_case(&c, &r.name, &r.etag, |case| {
                    if case.status == CaseStatus::Closed {
                        return Err(ApiError::FailedPrecondition(
                            "a closed case takes no recovery actions; reopen it first".into(),
                        ));
                    }
                    let action = RecoveryAction { kind, note, actor, at: now_micros() };
                    Ok((case.clone(), Some(CaseEntry::Recovery(action))))
                })
                .await
            },
            |x| pb::RecordRecoveryActionResponse { case: Some(x) }
        )
    }

    async fn link_follow_up(
        &self,
        req: Request<pb::LinkFollowUpRequest>,
    ) -> Result<Response<pb::LinkFollowUpResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let (case_dept, _) = names::case("name", &r.name)?;
                let (d, f) = names::feedback("follow_up", &r.follow_up)?;
                if d != case_dept {
                    return Err(ValidationError::one("follow_up", "must be feedback of the case's department").into());
                }
                let what = label("feedback", &r.follow_up);
                let scope = scope_for(&c, Action::ReadFeedback, &d, &what)?;
                let survey =
                    self.store.get_feedback(&scope, &d, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
                let satisfied = r.resident_satisfied;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    if !matches!(case.status, CaseStatus::Resolved | CaseStatus::Closed) {
                        return Err(ApiError::FailedPrecondition(format!(
                            "a follow-up is linked after resolution; the case is {}",
                            case.status.as_str()
                        )));
                    }
                    if let (Some(a), Some(b)) = (&case.resident_key, &survey.resident_key)
                        && a != b
                    {
                        return Err(ApiError::FailedPrecondition("the follow-up is from another resident".into()));
                    }
                    Ok((Case { follow_up: Some(survey.id.clone()), satisfied: Some(satisfied), ..case.clone() }, None))
                })
                .await
            },
            |x| pb::LinkFollowUpResponse { case: Some(x) }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags_are_checked_loosely() {
        assert_eq!(language("l", "").unwrap(), "en");
        assert_eq!(language("l", "es-US").unwrap(), "es-US");
        assert!(language("l", "english please").is_err());
        assert!(language("l", "e").is_err());
    }

    #[test]
    fn locations_need_both_coordinates_in_range() {
        let l = |lat, lon| pb::Location { address: String::new(), latitude: lat, longitude: lon };
        assert!(location("loc", Some(&l(Some(39.9), Some(-75.1)))).is_ok());
        let err = location("loc", Some(&l(Some(91.0), None))).unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["loc.longitude"]);
        assert!(location("loc", Some(&l(Some(91.0), Some(0.0)))).is_err());
    }

    #[test]
    fn fingerprints_never_carry_contact_details() {
        let r = pb::SubmitFeedbackRequest {
            parent: "departments/water".into(),
            feedback: None,
            resident: Some(pb::ResidentContact { email: "ann@example.org".into(), phone: "2155550100".into() }),
            request_id: "r1".into(),
        };
        let print = fingerprint(&r, Some("r-00"));
        let bytes = prost::Message::encode_to_vec(&print);
        assert!(!String::from_utf8_lossy(&bytes).contains("ann@"));
        assert!(!String::from_utf8_lossy(&bytes).contains("2155550100"));
    }
}
