//! Hand-offs: referring or transferring a case to another department, and the case's path.
use super::*;

pub(super) fn handoff_to_pb(h: &Handoff) -> pb::Handoff {
    pb::Handoff {
        name: resource::handoff(&h.department_id, &h.id),
        case: resource::case(&h.department_id, &h.case_id),
        to_department: resource::department(&h.to_department),
        kind: match h.kind {
            HandoffKind::Transfer => pb::HandoffKind::Transfer,
            HandoffKind::Referral => pb::HandoffKind::Referral,
        } as i32,
        state: match h.status {
            HandoffStatus::Pending => pb::HandoffState::Pending,
            HandoffStatus::Accepted => pb::HandoffState::Accepted,
            HandoffStatus::Declined => pb::HandoffState::Declined,
        } as i32,
        reason: h.reason.clone(),
        decline_reason: h.decline_reason.clone(),
        path: dept_names(&h.path),
        ping_pong: h.ping_pong,
        accept_due_time: Some(timestamp(h.accept_due)),
        creator: h.created_by.clone(),
        create_time: Some(timestamp(h.create_time)),
        responder: h.responded_by.clone(),
        respond_time: h.respond_time.map(timestamp),
        received_case: h.received_case.as_ref().map(|c| resource::case(&h.to_department, c)).unwrap_or_default(),
        etag: etag_for(h.revision),
    }
}

pub(super) fn handoff_state_from_pb(field: &str, v: i32) -> Result<Option<HandoffStatus>, ValidationError> {
    match pb::HandoffState::try_from(v) {
        Ok(pb::HandoffState::Unspecified) => Ok(None),
        Ok(pb::HandoffState::Pending) => Ok(Some(HandoffStatus::Pending)),
        Ok(pb::HandoffState::Accepted) => Ok(Some(HandoffStatus::Accepted)),
        Ok(pb::HandoffState::Declined) => Ok(Some(HandoffStatus::Declined)),
        Err(_) => Err(ValidationError::one(field, "is not a known HandoffState")),
    }
}

/// How many times a path comes back to a department it had left.
pub(super) fn ping_pongs(path: &[DepartmentId]) -> i32 {
    let n = path.iter().enumerate().filter(|(i, d)| path[..*i].contains(d)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl<S: CoordinationStore> CoordinationApi<S> {
    pub(super) async fn send_handoff(
        &self,
        caller: Caller,
        r: pb::SendHandoffRequest,
    ) -> Result<pb::SendHandoffResponse, ApiError> {
        let mut errors = ValidationError::default();
        let case = errors.check(names::case("case", &r.case));
        let to = errors.check(names::department("to_department", &r.to_department));
        let kind = match pb::HandoffKind::try_from(r.kind) {
            Ok(pb::HandoffKind::Transfer) => Some(HandoffKind::Transfer),
            Ok(pb::HandoffKind::Referral) => Some(HandoffKind::Referral),
            _ => {
                errors.push("kind", "is required: TRANSFER or REFERRAL");
                None
            }
        };
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::SendHandoffRequest { request_id: String::new(), ..r.clone() }));
        if let (Some((d, _)), Some(to)) = (&case, &to)
            && d == to
        {
            errors.push("to_department", "must be another department than the case's");
        }
        errors.into_result()?;
        let (Some((d, case_id)), Some(to), Some(kind), Some(reason), Some(idem)) = (case, to, kind, reason, idem)
        else {
            return Err(ValidationError::one("case", "is invalid").into());
        };
        record_tenant(d.as_str());
        let what = resource::case(&d, &case_id);
        let scope =
            handoff_scope(&caller, Action::SendHandoff, &d, &to).map_err(|e| ApiError::from_denied(e, &what))?;
        let new = NewHandoff {
            department_id: d,
            id: cityserve_domain::HandoffId::parse("id", &generated_id("ho"))?,
            case_id,
            to_department: to,
            kind,
            reason,
        };
        let h = self
            .store
            .send_handoff(&ctx(&scope, &caller, AuditAction::HandoffSend), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::SendHandoffResponse { handoff: Some(handoff_to_pb(&h)) })
    }

    pub(super) async fn read_handoff(&self, caller: &Caller, name: &str) -> Result<Handoff, ApiError> {
        let (d, h) = names::handoff("name", name)?;
        let scope = list_scope(caller, Action::ReadHandoffs, None, name)?;
        self.store.get_handoff(&scope, &d, &h).await.map_err(|e| ApiError::from_store(e, name))
    }

    pub(super) async fn list_handoffs(
        &self,
        caller: Caller,
        r: pb::ListHandoffsRequest,
    ) -> Result<pb::ListHandoffsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = errors.check(handoff_state_from_pb("state", r.state));
        let direction = match pb::HandoffDirection::try_from(r.direction) {
            Ok(pb::HandoffDirection::Incoming) => Direction::Incoming,
            Ok(pb::HandoffDirection::Outgoing) => Direction::Outgoing,
            Ok(pb::HandoffDirection::Unspecified) => Direction::Any,
            Err(_) => {
                errors.push("direction", "is not a known HandoffDirection");
                Direction::Any
            }
        };
        let case = if r.case.is_empty() { Some(None) } else { errors.check(names::case("case", &r.case).map(Some)) };
        errors.into_result()?;
        let (Some(parent), Some(status), Some(case)) = (parent, status, case) else {
            return Err(ValidationError::one("parent", "is invalid").into());
        };
        if let Some((cd, _)) = &case
            && parent.as_ref() != Some(cd)
        {
            return Err(ValidationError::one("case", "must be a case of the parent department").into());
        }
        let filter_key = format!("{}|{:?}|{:?}|{}", r.parent, direction, status, r.case);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadHandoffs, parent.as_ref(), &r.parent)?;
        let filter = HandoffFilter { department: parent, direction, status, case: case.map(|(_, c)| c) };
        let p =
            self.store.list_handoffs(&scope, &filter, &page).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListHandoffsResponse {
            handoffs: p.items.iter().map(handoff_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn respond(
        &self,
        caller: &Caller,
        name: &str,
        etag: &str,
        response: HandoffResponse,
    ) -> Result<Handoff, ApiError> {
        let h = self.read_handoff(caller, name).await?;
        record_tenant(h.to_department.as_str());
        let scope = handoff_scope(caller, Action::RespondHandoff, &h.to_department, &h.department_id)
            .map_err(|e| ApiError::from_denied(e, name))?;
        // A retry of an answer that was recorded (its response lost) gets the recorded result.
        let same = match (&response, h.status) {
            (HandoffResponse::Accept { .. }, HandoffStatus::Accepted) => true,
            (HandoffResponse::Decline { reason }, HandoffStatus::Declined) => *reason == h.decline_reason,
            _ => false,
        };
        if same && h.responded_by == caller.subject {
            return Ok(h);
        }
        let rev = if etag.is_empty() { None } else { Some(expected_revision("etag", etag, h.revision)?) };
        self.store
            .respond_handoff(&ctx(&scope, caller, AuditAction::HandoffRespond), &h.department_id, &h.id, &response, rev)
            .await
            .map_err(|e| ApiError::from_store(e, name))
    }

    pub(super) async fn accept_handoff(
        &self,
        caller: Caller,
        r: pb::AcceptHandoffRequest,
    ) -> Result<pb::AcceptHandoffResponse, ApiError> {
        names::handoff("name", &r.name)?;
        let category = if r.service_category_id.is_empty() {
            None
        } else {
            Some(ServiceCategoryId::parse("service_category_id", &r.service_category_id)?)
        };
        let new_case = FeedbackId::parse("id", &generated_id("fb"))?;
        let h = self
            .respond(&caller, &r.name, &r.etag, HandoffResponse::Accept { new_case: new_case.clone(), category })
            .await?;
        let scope = authorize(&caller, Action::ReadCases, Some(&h.to_department))
            .map_err(|e| ApiError::from_denied(e, &r.name))?;
        let case_id = h.received_case.clone().unwrap_or_else(|| CaseId::from_feedback(&new_case));
        let case = self
            .store
            .get_case(&scope, &h.to_department, &case_id)
            .await
            .map_err(|e| ApiError::from_store(e, &resource::case(&h.to_department, &case_id)))?;
        Ok(pb::AcceptHandoffResponse { handoff: Some(handoff_to_pb(&h)), case: Some(case_to_pb(&case)) })
    }

    pub(super) async fn decline_handoff(
        &self,
        caller: Caller,
        r: pb::DeclineHandoffRequest,
    ) -> Result<pb::DeclineHandoffResponse, ApiError> {
        let mut errors = ValidationError::default();
        errors.check(names::handoff("name", &r.name));
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        errors.into_result()?;
        let reason = reason.unwrap_or_default();
        let h = self.respond(&caller, &r.name, &r.etag, HandoffResponse::Decline { reason }).await?;
        Ok(pb::DeclineHandoffResponse { handoff: Some(handoff_to_pb(&h)) })
    }

    pub(super) async fn case_path(
        &self,
        caller: Caller,
        r: pb::GetCasePathRequest,
    ) -> Result<pb::GetCasePathResponse, ApiError> {
        let (d, c) = names::case("case", &r.case)?;
        let scope = scope_for(&caller, Action::ReadCases, &d, &r.case)?;
        let path = self.store.case_path(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &r.case))?;
        Ok(pb::GetCasePathResponse { ping_pongs: ping_pongs(&path), departments: dept_names(&path) })
    }
}
