//! Escalations: raising a case to the Chief, and the Chief's desk.
use super::*;

pub(super) fn escalation_to_pb(e: &Escalation) -> pb::Escalation {
    pb::Escalation {
        name: resource::escalation(&e.department_id, &e.id),
        case: resource::case(&e.case_department, &e.case_id),
        handoff: e.handoff.as_ref().map(|(d, h)| resource::handoff(d, h)).unwrap_or_default(),
        trigger: match e.trigger {
            EscalationTrigger::Manual => pb::EscalationTrigger::Manual,
            EscalationTrigger::AcknowledgeBreach => pb::EscalationTrigger::AcknowledgeBreach,
            EscalationTrigger::ResolveBreach => pb::EscalationTrigger::ResolveBreach,
            EscalationTrigger::HandoffTimeout => pb::EscalationTrigger::HandoffTimeout,
        } as i32,
        state: match e.status {
            EscalationStatus::Open => pb::EscalationState::Open,
            EscalationStatus::Acknowledged => pb::EscalationState::Acknowledged,
            EscalationStatus::Resolved => pb::EscalationState::Resolved,
        } as i32,
        reason: e.reason.clone(),
        resolution: e.resolution.clone(),
        creator: e.created_by.clone(),
        create_time: Some(timestamp(e.create_time)),
        acknowledge_time: e.acknowledge_time.map(timestamp),
        resolve_time: e.resolve_time.map(timestamp),
        etag: etag_for(e.revision),
        breach_count: e.breach_count,
        digest_cases: e.digest_cases.clone(),
    }
}

impl<S: CoordinationStore> CoordinationApi<S> {
    pub(super) async fn escalate(
        &self,
        caller: Caller,
        r: pb::EscalateCaseRequest,
    ) -> Result<pb::EscalateCaseResponse, ApiError> {
        let mut errors = ValidationError::default();
        let case = errors.check(names::case("case", &r.case));
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::EscalateCaseRequest { request_id: String::new(), ..r.clone() }));
        errors.into_result()?;
        let (Some((d, case_id)), Some(reason), Some(idem)) = (case, reason, idem) else {
            return Err(ValidationError::one("case", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::Escalate, &d, &r.case)?;
        let new = NewEscalation {
            department_id: d,
            id: cityserve_domain::EscalationId::parse("id", &generated_id("es"))?,
            case_id,
            reason,
        };
        let e = self
            .store
            .escalate_case(&ctx(&scope, &caller, AuditAction::EscalationCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &r.case))?;
        Ok(pb::EscalateCaseResponse { escalation: Some(escalation_to_pb(&e)) })
    }

    pub(super) async fn read_escalation(
        &self,
        caller: &Caller,
        action: Action,
        name: &str,
    ) -> Result<(TenantScope, Escalation), ApiError> {
        let (d, e) = names::escalation("name", name)?;
        let scope = scope_for(caller, action, &d, name)?;
        let read = if action == Action::ReadEscalations {
            scope.clone()
        } else {
            scope_for(caller, Action::ReadEscalations, &d, name)?
        };
        let found = self.store.get_escalation(&read, &d, &e).await.map_err(|x| ApiError::from_store(x, name))?;
        Ok((scope, found))
    }

    pub(super) async fn list_escalations(
        &self,
        caller: Caller,
        r: pb::ListEscalationsRequest,
    ) -> Result<pb::ListEscalationsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = match pb::EscalationState::try_from(r.state) {
            Ok(pb::EscalationState::Unspecified) => None,
            Ok(pb::EscalationState::Open) => Some(EscalationStatus::Open),
            Ok(pb::EscalationState::Acknowledged) => Some(EscalationStatus::Acknowledged),
            Ok(pb::EscalationState::Resolved) => Some(EscalationStatus::Resolved),
            Err(_) => {
                errors.push("state", "is not a known EscalationState");
                None
            }
        };
        errors.into_result()?;
        let parent = parent.flatten();
        let filter_key = format!("{}|{:?}", r.parent, status);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadEscalations, parent.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_escalations(&scope, &EscalationFilter { department: parent, status }, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListEscalationsResponse {
            escalations: p.items.iter().map(escalation_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn change_escalation(
        &self,
        caller: Caller,
        name: &str,
        etag: &str,
        change: EscalationChange,
    ) -> Result<Escalation, ApiError> {
        let (scope, current) = self.read_escalation(&caller, Action::ManageEscalations, name).await?;
        // Retries of a change already made answer with the current state.
        match (&change, current.status) {
            (EscalationChange::Acknowledge, EscalationStatus::Acknowledged) => return Ok(current),
            (EscalationChange::Resolve(note), EscalationStatus::Resolved) if *note == current.resolution => {
                return Ok(current);
            }
            _ => {}
        }
        let rev = expected_revision("etag", etag, current.revision)?;
        let next = coordination::change_escalation(&current, &change, now_micros())
            .map_err(|e| ApiError::FailedPrecondition(e.0))?;
        self.store
            .save_escalation(&ctx(&scope, &caller, AuditAction::EscalationManage), &next, rev)
            .await
            .map_err(|e| ApiError::from_store(e, name))
    }
}
