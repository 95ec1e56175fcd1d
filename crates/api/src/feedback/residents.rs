//! Residents: the cross-department timeline and erasure on request.
use super::*;

impl<S: FeedbackStore> FeedbackApi<S> {
    pub(super) async fn timeline(
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
                    // Another department's feedback is not the caller's to name: a redacted
                    // entry says only that (and when, how, and the case's state) it happened.
                    feedback: if e.redacted {
                        String::new()
                    } else {
                        resource::feedback(&e.department_id, &e.feedback_id)
                    },
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

    pub(super) async fn erase(
        &self,
        caller: Caller,
        r: pb::EraseResidentRequest,
    ) -> Result<pb::EraseResidentResponse, ApiError> {
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
}
