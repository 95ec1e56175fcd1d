//! Complaint cases: reading, listing and every change of a case.
use super::*;

pub(super) fn state_from_pb(field: &str, v: i32) -> Result<Option<CaseStatus>, ValidationError> {
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

pub(super) fn state_to_pb(s: CaseStatus) -> pb::CaseState {
    match s {
        CaseStatus::Open => pb::CaseState::Open,
        CaseStatus::Acknowledged => pb::CaseState::Acknowledged,
        CaseStatus::InProgress => pb::CaseState::InProgress,
        CaseStatus::Resolved => pb::CaseState::Resolved,
        CaseStatus::Closed => pb::CaseState::Closed,
    }
}

pub(super) fn recovery_from_pb(field: &str, v: i32) -> Result<RecoveryKind, ValidationError> {
    use pb::RecoveryActionKind as P;
    match P::try_from(v) {
        Ok(P::Apology) => Ok(RecoveryKind::Apology),
        Ok(P::Remedy) => Ok(RecoveryKind::Remedy),
        Ok(P::FollowUpCall) => Ok(RecoveryKind::FollowUpCall),
        Ok(P::Unspecified) => Err(ValidationError::one(field, "is required")),
        Err(_) => Err(ValidationError::one(field, "is not a known RecoveryActionKind")),
    }
}

pub(crate) fn recovery_to_pb(k: RecoveryKind) -> pb::RecoveryActionKind {
    match k {
        RecoveryKind::Apology => pb::RecoveryActionKind::Apology,
        RecoveryKind::Remedy => pb::RecoveryActionKind::Remedy,
        RecoveryKind::FollowUpCall => pb::RecoveryActionKind::FollowUpCall,
    }
}

pub(crate) fn case_to_pb(c: &Case) -> pb::Case {
    pb::Case {
        hold_time: c.waiting_since.map(timestamp),
        held: Some(prost_types::Duration { seconds: c.waited_secs, nanos: 0 }),
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
        first_contact_time: Some(timestamp(c.first_contact_at)),
    }
}

impl<S: FeedbackStore> FeedbackApi<S> {
    pub(super) async fn get_case(&self, caller: Caller, name: &str) -> Result<pb::Case, ApiError> {
        let (d, c) = names::case("name", name)?;
        let what = label("case", name);
        let scope = scope_for(&caller, Action::ReadCases, &d, &what)?;
        let case = self.store.get_case(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(case_to_pb(&case))
    }

    pub(super) async fn list_cases(
        &self,
        caller: Caller,
        r: pb::ListCasesRequest,
    ) -> Result<pb::ListCasesResponse, ApiError> {
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
            received: None,
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
    pub(super) async fn change_case(
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
    pub(super) async fn move_case(
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
