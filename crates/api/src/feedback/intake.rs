//! Intake: submitting feedback (one item or a batch), reading and listing it.
use super::*;
use cityserve_domain::{Coordinates, Csat, LanguageTag, Nps};
use cityserve_store::feedback::BatchMode;

pub(super) fn kind_from_pb(field: &str, v: i32) -> Result<Option<FeedbackKind>, ValidationError> {
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

pub(super) fn feedback_to_pb(f: &Feedback) -> pb::Feedback {
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
            address_id: f.location.address_id.clone(),
        }),
        occur_time: Some(timestamp(f.occurred_at)),
        receive_time: Some(timestamp(f.received_at)),
        resident_key: f.resident_key.clone().unwrap_or_default(),
        internal_customer: f.internal_customer.as_ref().map(resource::department).unwrap_or_default(),
        case: f.case_id.as_ref().map(|c| resource::case(&f.department_id, c)).unwrap_or_default(),
        erased: f.erased,
        media_urls: f.media.clone(),
        attributes: crate::convert::answers_to_pb(&f.attributes),
        device_id: f.client_ids.device_id.clone(),
        account_id: f.client_ids.account_id.clone(),
        touchpoint: f.served.touchpoint.as_ref().map(|(d, t)| resource::touchpoint(d, t)).unwrap_or_default(),
        served_by: f.served.officer.as_ref().map(|(d, o)| format!("departments/{d}/officers/{o}")).unwrap_or_default(),
    }
}

/// The store's refusal of batch item `i`, naming the item as the batch's field violations do.
fn item_refusal(i: usize, e: cityserve_store::StoreError, what: &str) -> ApiError {
    match ApiError::from_store(e, what) {
        ApiError::FailedPrecondition(m) => ApiError::FailedPrecondition(format!("requests[{i}]: {m}")),
        ApiError::Invalid(v) => ApiError::Invalid(v.within(&format!("requests[{i}]"))),
        ApiError::AlreadyExists(_) => ApiError::AlreadyExists(format!("requests[{i}]: a feedback with the same ID")),
        other => other,
    }
}

pub(super) fn submitted_to_pb(s: &Submitted) -> pb::SubmitFeedbackResponse {
    pb::SubmitFeedbackResponse { feedback: Some(feedback_to_pb(&s.feedback)), case: s.case.as_ref().map(case_to_pb) }
}

/// A BCP 47 tag, loosely: 2-3 letter primary subtag, then alphanumeric subtags of 1-8.
pub(crate) fn language(field: &str, v: &str) -> Result<String, ValidationError> {
    LanguageTag::parse(field, v).map(LanguageTag::into_string)
}

pub(crate) fn location(field: &str, l: Option<&pb::Location>) -> Result<Location, ValidationError> {
    let Some(l) = l else { return Ok(Location::default()) };
    let mut errors = ValidationError::default();
    let address = errors.check(optional_text(&format!("{field}.address"), &l.address, ADDRESS_MAX));
    let address_id = errors.check(single_line(&format!("{field}.address_id"), &l.address_id, ADDRESS_ID_MAX));
    let point = errors.check(Coordinates::parse(field, l.latitude, l.longitude)).flatten();
    errors.into_result()?;
    Ok(Location {
        address: address.unwrap_or_default(),
        latitude: point.map(Coordinates::latitude),
        longitude: point.map(Coordinates::longitude),
        address_id: address_id.unwrap_or_default(),
    })
}

/// A fingerprint of a submission that does not contain contact details: the resident is replaced
/// by their keyed hash.
pub(super) fn fingerprint(r: &pb::SubmitFeedbackRequest, resident: Option<&ResidentRef>) -> pb::SubmitFeedbackRequest {
    // The keyed hashes of the contact, not the key (a fresh, random one on every call) and not
    // the contact details themselves.
    let identifiers = resident.map(|r| r.identifiers.join(","));
    pb::SubmitFeedbackRequest {
        request_id: String::new(),
        resident: identifiers.map(|i| pb::ResidentContact { email: i, ..Default::default() }),
        ..r.clone()
    }
}

impl<S: FeedbackStore> FeedbackApi<S> {
    /// The resident's contact details and key, or `None` for anonymous feedback.
    pub(super) fn resident(
        &self,
        field: &str,
        c: Option<&pb::ResidentContact>,
    ) -> Result<Option<ResidentRef>, ValidationError> {
        let Some(c) = c else { return Ok(None) };
        let mut errors = ValidationError::default();
        let email = errors.check(normalise_email(&format!("{field}.email"), &c.email));
        let phone = errors.check(normalise_phone_in(&format!("{field}.phone"), &c.phone, &self.country_code));
        let name = errors.check(single_line(&format!("{field}.name"), &c.name, NAME_MAX));
        let notice_channel = errors.check(super::notices::notice_channel_in(
            &format!("{field}.notice_channel"),
            c.notice_channel,
            email.as_deref(),
            phone.as_deref(),
        ));
        errors.into_result()?;
        let notice_channel = notice_channel.flatten();
        let contact = Contact {
            email: email.unwrap_or_default(),
            phone: phone.unwrap_or_default(),
            name: name.unwrap_or_default(),
            notice_channel,
        };
        Ok(self.keyer.resident(contact))
    }

    /// The resident a timeline or erasure request names: by key, or by contact details (looked
    /// up in the identity index; a resident never seen gets the key they would have).
    pub(super) async fn named_resident(
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
    pub(super) fn new_feedback(
        &self,
        d: &DepartmentId,
        r: &pb::SubmitFeedbackRequest,
    ) -> Result<NewFeedback, ValidationError> {
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
        errors.check(body.csat.map(|v| Csat::new("feedback.csat", v)).transpose());
        errors.check(body.nps.map(|v| Nps::new("feedback.nps", v)).transpose());
        let text = errors.check(optional_text("feedback.text", &body.text, TEXT_MAX));
        let lang = errors.check(language("feedback.language_code", &body.language_code));
        let category = if body.service_category_id.is_empty() {
            Some(None)
        } else {
            errors.check(ServiceCategoryId::parse("feedback.service_category_id", &body.service_category_id).map(Some))
        };
        let loc = errors.check(location("feedback.location", body.location.as_ref()));
        let media = errors.check(cityserve_domain::validation::media_urls("feedback.media_urls", &body.media_urls));
        let answers = errors.check(crate::convert::answers_from_pb("feedback.attributes", &body.attributes));
        let device_id = errors.check(optional_text("feedback.device_id", &body.device_id, CLIENT_ID_MAX));
        let account_id = errors.check(optional_text("feedback.account_id", &body.account_id, CLIENT_ID_MAX));
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
        let survey = errors.check(self.survey_link(d, r, kind));
        let touchpoint = if body.touchpoint.is_empty() {
            Some(None)
        } else {
            errors.check(names::touchpoint("feedback.touchpoint", &body.touchpoint).map(Some))
        };
        let served_by = if body.served_by.is_empty() {
            Some(None)
        } else {
            errors.check(names::officer("feedback.served_by", &body.served_by).map(Some))
        };
        if !r.parent.is_empty() && names::department("parent", &r.parent).is_ok_and(|p| p != *d) {
            errors.push("parent", "must be the batch's parent");
        }
        errors.into_result()?;
        let (
            Some(channel),
            Some(kind),
            Some(text),
            Some(language),
            Some(category),
            Some(location),
            Some(media),
            Some(attributes),
            Some(device_id),
            Some(account_id),
        ) = (channel, kind, text, lang, category, loc, media, answers, device_id, account_id)
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
            media,
            attributes,
            client_ids: cityserve_domain::ClientIds { device_id, account_id },
            occurred_at: occurred.flatten().unwrap_or(now),
            resident: resident.flatten(),
            internal_customer: internal.flatten(),
            survey: survey.flatten(),
            served: cityserve_domain::feedback::Served {
                touchpoint: touchpoint.flatten(),
                officer: served_by.flatten(),
            },
            source: None,
        })
    }

    /// The case a survey response's token links it to: `None` without a token, or with an
    /// expired one (the response is kept as ordinary feedback).
    fn survey_link(
        &self,
        d: &DepartmentId,
        r: &pb::SubmitFeedbackRequest,
        kind: Option<FeedbackKind>,
    ) -> Result<Option<cityserve_domain::survey::SurveyLink>, ValidationError> {
        use cityserve_domain::survey::{SurveyLink, TokenError, token_field};
        if r.survey_token.is_empty() {
            if r.resolved.is_some() {
                return Err(ValidationError::one("resolved", "is an answer to a survey: send it with survey_token"));
            }
            return Ok(None);
        }
        let token = token_field("survey_token", &r.survey_token)?;
        if kind.is_some_and(|k| k != FeedbackKind::SurveyResponse) {
            return Err(ValidationError::one(
                "feedback.kind",
                "must be FEEDBACK_KIND_SURVEY_RESPONSE with a survey_token",
            ));
        }
        let forged = || ValidationError::one("survey_token", "is not a survey token of this city");
        let key = self.survey_key.as_ref().ok_or_else(forged)?;
        match key.verify(&token, Utc::now()) {
            Ok(c) if &c.department != d => {
                Err(ValidationError::one("survey_token", "is a survey token of another department than parent"))
            }
            Ok(c) => Ok(Some(SurveyLink { notice_id: c.notice_id, case_id: c.case_id, resolved: r.resolved })),
            Err(TokenError::Expired(_)) => Ok(None),
            Err(TokenError::Forged) => Err(forged()),
        }
    }

    /// Authorizes one submission: internal-customer feedback is given on behalf of one of the
    /// caller's own departments, which must exist.
    pub(super) async fn authorize_submission(
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

    pub(super) async fn submit(
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
        let oldest = Utc::now() - Duration::days(cityserve_domain::feedback::LIVE_BACKDATE_DAYS);
        if new.occurred_at < oldest {
            return Err(ValidationError::one(
                "feedback.occur_time",
                format!(
                    "must be at most {} days before receipt for a single submission: send older history with \
                     BatchSubmitFeedback (`cityserve import`), where it lands in its own period",
                    cityserve_domain::feedback::LIVE_BACKDATE_DAYS
                ),
            )
            .into());
        }
        new.source = source.map(str::to_owned);
        let idem = idempotency(&r.request_id, &fingerprint(&r, new.resident.as_ref()))?;
        let scope = self.authorize_submission(&caller, &new, "feedback.internal_customer").await?;
        let what = label("department", &r.parent);
        let s = self
            .store
            .submit_feedback(&ctx(&scope, &caller, AuditAction::FeedbackSubmit), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(submitted_to_pb(&s))
    }

    pub(super) async fn submit_batch(
        &self,
        caller: Caller,
        r: pb::BatchSubmitFeedbackRequest,
    ) -> Result<pb::BatchSubmitFeedbackResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        record_tenant(d.as_str());
        if r.requests.is_empty() || r.requests.len() > BATCH_MAX {
            return Err(ValidationError::one("requests", format!("must hold 1-{BATCH_MAX} items")).into());
        }
        let each = r.allow_partial_success;
        // `refused[i]`: item i's refusal, found here or by the store.
        let mut refused: Vec<Option<ApiError>> = r.requests.iter().map(|_| None).collect();
        let mut errors = ValidationError::default();
        let mut items = Vec::with_capacity(r.requests.len());
        let mut at = Vec::with_capacity(r.requests.len());
        let mut prints = Vec::with_capacity(r.requests.len());
        for (i, item) in r.requests.iter().enumerate() {
            match self.new_feedback(&d, item) {
                Ok(new) => {
                    prints.push(fingerprint(item, new.resident.as_ref()));
                    items.push(new);
                    at.push(i);
                }
                Err(e) if each => {
                    prints.push(fingerprint(item, None));
                    refused[i] = Some(e.within(&format!("requests[{i}]")).into());
                }
                Err(e) => errors.violations.extend(e.within(&format!("requests[{i}]")).violations),
            }
        }
        errors.into_result()?;
        let idem = idempotency(
            &r.request_id,
            &pb::BatchSubmitFeedbackRequest {
                parent: r.parent.clone(),
                requests: prints,
                request_id: String::new(),
                allow_partial_success: each,
            },
        )?;
        // Every item is for `d`, so every item's scope is the same one department.
        // Authorization depends only on the internal customer (if any): check each distinct one
        // once, so a 1,000-item import does not look the same department up 1,000 times.
        let mut scope = None;
        let mut checked: Vec<(Option<&DepartmentId>, bool)> = Vec::new();
        let mut keep = vec![true; items.len()];
        for (k, new) in items.iter().enumerate() {
            let customer = new.internal_customer.as_ref();
            if let Some((_, ok)) = checked.iter().find(|(c, _)| *c == customer) {
                keep[k] = *ok;
                continue;
            }
            let i = at[k];
            let field = format!("requests[{i}].feedback.internal_customer");
            match self.authorize_submission(&caller, new, &field).await {
                Ok(s) => {
                    scope = Some(s);
                    checked.push((customer, true));
                }
                // An internal customer the caller may not act for costs only the items naming it.
                Err(ApiError::Invalid(_)) if each => {
                    keep[k] = false;
                    checked.push((customer, false));
                }
                Err(e) => return Err(e),
            }
        }
        for (i, _) in at.iter().zip(&keep).filter(|(_, k)| !**k) {
            let field = format!("requests[{i}].feedback.internal_customer");
            refused[*i] =
                Some(ValidationError::one(field, "must be an existing department the caller acts for").into());
        }
        let (items, at): (Vec<_>, Vec<_>) =
            items.into_iter().zip(at).zip(keep).filter(|(_, k)| *k).map(|(pair, _)| pair).unzip();
        let what = label("department", &r.parent);
        let mode = if each { BatchMode::EachItem } else { BatchMode::AllOrNothing };
        let filed = match scope {
            // Every item was refused before the store: nothing to file.
            None if each => Vec::new(),
            None => return Err(ApiError::Internal),
            Some(scope) => self
                .store
                .submit_feedback_batch(&ctx(&scope, &caller, AuditAction::FeedbackSubmit), &idem, &d, &items, mode)
                .await
                .map_err(|(k, e)| match k {
                    Some(k) => item_refusal(at.get(k).copied().unwrap_or(k), e, &what),
                    None => ApiError::from_store(e, &what),
                })?,
        };
        if !each {
            let results = filed.into_iter().map(|s| s.map(|s| submitted_to_pb(&s)));
            let results = results.collect::<Result<Vec<_>, _>>().map_err(|e| ApiError::from_store(e, &what))?;
            return Ok(pb::BatchSubmitFeedbackResponse { results, statuses: Vec::new() });
        }
        let mut results: Vec<pb::SubmitFeedbackResponse> = r.requests.iter().map(|_| Default::default()).collect();
        for (i, outcome) in at.into_iter().zip(filed) {
            match outcome {
                Ok(s) => results[i] = submitted_to_pb(&s),
                Err(e) => refused[i] = Some(item_refusal(i, e, &what)),
            }
        }
        let statuses = refused
            .into_iter()
            .map(|e| e.map_or_else(tonic_types::pb::Status::default, ApiError::into_rpc_status))
            .collect();
        Ok(pb::BatchSubmitFeedbackResponse { results, statuses })
    }

    pub(super) async fn get_feedback(&self, caller: Caller, name: &str) -> Result<pb::Feedback, ApiError> {
        let (d, f) = names::feedback("name", name)?;
        let what = label("feedback", name);
        let scope = scope_for(&caller, Action::ReadFeedback, &d, &what)?;
        let fb = self.store.get_feedback(&scope, &d, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(feedback_to_pb(&fb))
    }

    pub(super) async fn list_feedback(
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
        let filter =
            FeedbackFilter { department: d, kind, channel, category: category.flatten(), source, occurred: None };
        let p = self.store.list_feedback(&scope, &filter, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListFeedbackResponse {
            feedback: p.items.iter().map(feedback_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }
}
