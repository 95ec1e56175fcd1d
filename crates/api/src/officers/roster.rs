//! Officers: adding, reading, changing and deactivating a department's people.
use super::*;

pub(super) fn officer_to_pb(o: &Officer) -> pb::Officer {
    pb::Officer {
        name: names::officer_name(&o.department_id, &o.id),
        display_name: o.display_name.clone(),
        email: o.email.clone(),
        title: o.title.clone(),
        identity_subject: o.identity_subject.clone(),
        kind: match o.kind {
            OfficerKind::Staff => pb::OfficerKind::Staff,
            OfficerKind::Auditor => pb::OfficerKind::Auditor,
        } as i32,
        status: match o.status {
            OfficerStatus::Active => pb::OfficerStatus::Active,
            OfficerStatus::Inactive => pb::OfficerStatus::Inactive,
        } as i32,
        role: role_to_pb(o.role()) as i32,
        recognition_count: o.recognition_count,
        create_time: Some(timestamp(o.create_time)),
        update_time: Some(timestamp(o.update_time)),
        etag: etag_for(o.revision),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    pub(super) async fn create_officer(
        &self,
        caller: Caller,
        r: pb::CreateOfficerRequest,
    ) -> Result<pb::Officer, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::ManageOfficers, &d, &label("department", &r.parent))?;
        let idem = idempotency(&r.request_id, &pb::CreateOfficerRequest { request_id: String::new(), ..r.clone() })?;
        // A retry finds its idempotency record before the ID matters, so a fresh ID is safe.
        let id = if r.officer_id.is_empty() {
            OfficerId::parse("officer_id", &generated_id("o"))?
        } else {
            OfficerId::parse("officer_id", &r.officer_id)?
        };
        let body = r.officer.unwrap_or_default();
        let mut errors = ValidationError::default();
        let display_name = errors.check(required_text("officer.display_name", &body.display_name, NAME_MAX));
        let email = errors.check(work_email("officer.email", &body.email));
        let title = errors.check(optional_text("officer.title", &body.title, NAME_MAX));
        let identity = errors.check(identity_subject("officer.identity_subject", &body.identity_subject));
        let kind = match pb::OfficerKind::try_from(body.kind) {
            Ok(pb::OfficerKind::Unspecified | pb::OfficerKind::Staff) => Some(OfficerKind::Staff),
            Ok(pb::OfficerKind::Auditor) => Some(OfficerKind::Auditor),
            Err(_) => {
                errors.push("officer.kind", "is not a known kind");
                None
            }
        };
        errors.into_result()?;
        let (Some(display_name), Some(email), Some(title), Some(identity_subject), Some(kind)) =
            (display_name, email, title, identity, kind)
        else {
            return Err(ApiError::Internal);
        };
        let new =
            NewOfficer { department_id: d.clone(), id: id.clone(), display_name, email, title, identity_subject, kind };
        let o = self
            .store
            .create_officer(&ctx(&scope, &caller, AuditAction::OfficerCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label("officer", &names::officer_name(&d, &id))))?;
        tracing::info!(officer = %o.id, department = %d, "officer created");
        Ok(officer_to_pb(&o))
    }

    pub(super) async fn get_officer(&self, caller: Caller, name: &str) -> Result<pb::Officer, ApiError> {
        let (d, o) = names::officer("name", name)?;
        let what = label("officer", name);
        let scope = scope_for(&caller, Action::ReadOfficers, &d, &what)?;
        let officer = self.store.get_officer(&scope, &d, &o).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(officer_to_pb(&officer))
    }

    pub(super) async fn list_officers(
        &self,
        caller: Caller,
        r: pb::ListOfficersRequest,
    ) -> Result<pb::ListOfficersResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let role = role_from_pb("role", r.role)?;
        let status = match pb::OfficerStatus::try_from(r.status) {
            Ok(pb::OfficerStatus::Unspecified) => None,
            Ok(pb::OfficerStatus::Active) => Some(OfficerStatus::Active),
            Ok(pb::OfficerStatus::Inactive) => Some(OfficerStatus::Inactive),
            Err(_) => return Err(ValidationError::one("status", "is not a known status").into()),
        };
        let filter_key = format!(
            "officers?parent={}&role={}&status={}",
            r.parent,
            role.map_or("", |r| r.as_str()),
            status.map_or("", |s| s.as_str())
        );
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadOfficers, d.as_ref(), &label("department", &r.parent))?;
        let filter = OfficerFilter { department: d, role, status };
        let p = self
            .store
            .list_officers(&scope, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("department", &r.parent)))?;
        Ok(pb::ListOfficersResponse {
            officers: p.items.iter().map(officer_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn update_officer(
        &self,
        caller: Caller,
        r: pb::UpdateOfficerRequest,
    ) -> Result<pb::Officer, ApiError> {
        let body = r.officer.ok_or_else(|| ValidationError::one("officer", "is required"))?;
        let (d, o) = names::officer("officer.name", &body.name)?;
        let what = label("officer", &body.name);
        let scope = scope_for(&caller, Action::ManageOfficers, &d, &what)?;
        // Without a mask, the identity subject is left as it is: a client that predates it must
        // not sign an officer out of the identity provider by updating their title.
        let all = ["display_name", "email", "title"];
        let allowed = ["display_name", "email", "title", "identity_subject"];
        let paths = mask_paths(r.update_mask.as_ref(), &allowed, &all)?;
        let current = self.store.get_officer(&scope, &d, &o).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision("officer.etag", &body.etag, current.revision)?;
        if current.status == OfficerStatus::Inactive {
            return Err(ApiError::FailedPrecondition(format!("officer {o} is inactive")));
        }
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    if let Some(v) = errors.check(required_text("officer.display_name", &body.display_name, NAME_MAX)) {
                        next.display_name = v;
                    }
                }
                "email" => {
                    if let Some(v) = errors.check(work_email("officer.email", &body.email)) {
                        next.email = v;
                    }
                }
                "identity_subject" => {
                    if let Some(v) = errors.check(identity_subject("officer.identity_subject", &body.identity_subject))
                    {
                        next.identity_subject = v;
                    }
                }
                _ => {
                    if let Some(v) = errors.check(optional_text("officer.title", &body.title, NAME_MAX)) {
                        next.title = v;
                    }
                }
            }
        }
        errors.into_result()?;
        let saved = self
            .store
            .update_officer(&ctx(&scope, &caller, AuditAction::OfficerUpdate), &next, expected)
            .await
            .map_err(|e| match e {
                // The officer exists (read above): the one unique value an update can collide on.
                cityserve_store::StoreError::AlreadyExists => {
                    ApiError::AlreadyExists(format!("an officer with identity_subject {:?}", next.identity_subject))
                }
                e => ApiError::from_store(e, &what),
            })?;
        Ok(officer_to_pb(&saved))
    }

    pub(super) async fn deactivate_officer(
        &self,
        caller: Caller,
        r: pb::DeactivateOfficerRequest,
    ) -> Result<pb::Officer, ApiError> {
        let (d, o) = names::officer("name", &r.name)?;
        let what = label("officer", &r.name);
        let scope = scope_for(&caller, Action::ManageOfficers, &d, &what)?;
        let expected = if r.etag.is_empty() {
            None
        } else {
            Some(
                revision_from_etag(&r.etag)
                    .ok_or_else(|| ValidationError::one("etag", "is not an etag returned by this API"))?,
            )
        };
        let saved = self
            .store
            .deactivate_officer(&ctx(&scope, &caller, AuditAction::OfficerDeactivate), &d, &o, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        tracing::info!(officer = %o, department = %d, "officer deactivated");
        Ok(officer_to_pb(&saved))
    }
}
