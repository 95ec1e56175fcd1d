//! Competencies, training records and competency gaps.
use super::*;

pub(super) fn competency_to_pb(c: &Competency) -> pb::Competency {
    pb::Competency {
        name: names::competency_name(&c.department_id, &c.id),
        display_name: c.display_name.clone(),
        description: c.description.clone(),
        required_for: c.required_for.iter().map(|r| role_to_pb(*r) as i32).collect(),
        create_time: Some(timestamp(c.create_time)),
        update_time: Some(timestamp(c.update_time)),
        etag: etag_for(c.revision),
    }
}

pub(super) fn training_to_pb(t: &cityserve_domain::TrainingRecord) -> pb::TrainingRecord {
    pb::TrainingRecord {
        name: names::training_record_name(&t.department_id, &t.officer_id, &t.id),
        competency: names::competency_name(&t.department_id, &t.competency_id),
        complete_time: Some(timestamp(t.complete_time)),
        expire_time: t.expire_time.map(timestamp),
        notes: t.notes.clone(),
        recorded_by: t.recorded_by.clone(),
        create_time: Some(timestamp(t.create_time)),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    pub(super) fn required_roles(field: &str, values: &[i32]) -> Result<Vec<Role>, ValidationError> {
        let mut roles = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match role_from_pb(&format!("{field}[{i}]"), *v)? {
                None | Some(Role::Service) => {
                    return Err(ValidationError::one(
                        format!("{field}[{i}]"),
                        "must be STAFF, CSO, CHIEF or AUDITOR (service clients are not people)",
                    ));
                }
                Some(r) => roles.push(r),
            }
        }
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        Ok(roles)
    }

    pub(super) async fn create_competency(
        &self,
        caller: Caller,
        r: pb::CreateCompetencyRequest,
    ) -> Result<pb::Competency, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::ManageCompetencies, &d, &label("department", &r.parent))?;
        let idem = idempotency(&r.request_id, &pb::CreateCompetencyRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.competency.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(CompetencyId::parse("competency_id", &r.competency_id));
        let display_name = errors.check(required_text("competency.display_name", &body.display_name, NAME_MAX));
        let description = errors.check(optional_text("competency.description", &body.description, DESCRIPTION_MAX));
        let required_for = errors.check(Self::required_roles("competency.required_for", &body.required_for));
        errors.into_result()?;
        let (Some(id), Some(display_name), Some(description), Some(required_for)) =
            (id, display_name, description, required_for)
        else {
            return Err(ApiError::Internal);
        };
        let new = NewCompetency { department_id: d.clone(), id: id.clone(), display_name, description, required_for };
        let c = self
            .store
            .create_competency(&ctx(&scope, &caller, AuditAction::CompetencyCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label("competency", &names::competency_name(&d, &id))))?;
        Ok(competency_to_pb(&c))
    }

    pub(super) async fn get_competency(&self, caller: Caller, name: &str) -> Result<pb::Competency, ApiError> {
        let (d, c) = names::competency("name", name)?;
        let what = label("competency", name);
        let scope = scope_for(&caller, Action::ReadCompetencies, &d, &what)?;
        let found = self.store.get_competency(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(competency_to_pb(&found))
    }

    pub(super) async fn list_competencies(
        &self,
        caller: Caller,
        r: pb::ListCompetenciesRequest,
    ) -> Result<pb::ListCompetenciesResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let filter_key = format!("competencies?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("department", &r.parent);
        let scope = scope_for(&caller, Action::ReadCompetencies, &d, &what)?;
        let p = self.store.list_competencies(&scope, &d, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListCompetenciesResponse {
            competencies: p.items.iter().map(competency_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn update_competency(
        &self,
        caller: Caller,
        r: pb::UpdateCompetencyRequest,
    ) -> Result<pb::Competency, ApiError> {
        let body = r.competency.ok_or_else(|| ValidationError::one("competency", "is required"))?;
        let (d, c) = names::competency("competency.name", &body.name)?;
        let what = label("competency", &body.name);
        let scope = scope_for(&caller, Action::ManageCompetencies, &d, &what)?;
        let all = ["display_name", "description", "required_for"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let current = self.store.get_competency(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision("competency.etag", &body.etag, current.revision)?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    if let Some(v) =
                        errors.check(required_text("competency.display_name", &body.display_name, NAME_MAX))
                    {
                        next.display_name = v;
                    }
                }
                "description" => {
                    if let Some(v) =
                        errors.check(optional_text("competency.description", &body.description, DESCRIPTION_MAX))
                    {
                        next.description = v;
                    }
                }
                _ => {
                    if let Some(v) = errors.check(Self::required_roles("competency.required_for", &body.required_for)) {
                        next.required_for = v;
                    }
                }
            }
        }
        errors.into_result()?;
        let saved = self
            .store
            .update_competency(&ctx(&scope, &caller, AuditAction::CompetencyUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(competency_to_pb(&saved))
    }

    pub(super) async fn create_training_record(
        &self,
        caller: Caller,
        r: pb::CreateTrainingRecordRequest,
    ) -> Result<pb::TrainingRecord, ApiError> {
        let (d, o) = names::officer("parent", &r.parent)?;
        let what = label("officer", &r.parent);
        let scope = scope_for(&caller, Action::ManageCompetencies, &d, &what)?;
        let idem =
            idempotency(&r.request_id, &pb::CreateTrainingRecordRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.training_record.unwrap_or_default();
        let mut errors = ValidationError::default();
        let competency = errors.check(names::competency("training_record.competency", &body.competency));
        if let Some((cd, _)) = &competency
            && *cd != d
        {
            errors.push("training_record.competency", "must be a competency of the officer's department");
        }
        let complete = errors.check(time_from_pb("training_record.complete_time", body.complete_time.as_ref()));
        let expire = errors.check(time_from_pb("training_record.expire_time", body.expire_time.as_ref()));
        let notes = errors.check(optional_text("training_record.notes", &body.notes, DESCRIPTION_MAX));
        let now = now_micros();
        match complete {
            Some(None) => errors.push("training_record.complete_time", "is required"),
            Some(Some(t)) if t > now + chrono::Duration::minutes(5) => {
                errors.push("training_record.complete_time", "must not be in the future")
            }
            _ => {}
        }
        if let (Some(Some(c)), Some(Some(e))) = (complete, expire)
            && e <= c
        {
            errors.push("training_record.expire_time", "must be after complete_time");
        }
        errors.into_result()?;
        let (Some((_, competency_id)), Some(Some(complete_time)), Some(expire_time), Some(notes)) =
            (competency, complete, expire, notes)
        else {
            return Err(ApiError::Internal);
        };
        let new = NewTrainingRecord {
            department_id: d.clone(),
            officer_id: o.clone(),
            id: TrainingRecordId::parse("id", &generated_id("tr"))?,
            competency_id,
            complete_time,
            expire_time,
            notes,
        };
        let t = self
            .store
            .create_training_record(&ctx(&scope, &caller, AuditAction::TrainingCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(training_to_pb(&t))
    }

    pub(super) async fn list_training_records(
        &self,
        caller: Caller,
        r: pb::ListTrainingRecordsRequest,
    ) -> Result<pb::ListTrainingRecordsResponse, ApiError> {
        let (d, o) = names::officer("parent", &r.parent)?;
        let filter_key = format!("trainingRecords?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("officer", &r.parent);
        // Staff see their own training only; the policy table has a row for each case.
        let action = if caller.subject == o.as_str() { Action::ReadOwnTraining } else { Action::ReadTraining };
        let scope = scope_for(&caller, action, &d, &what)?;
        let p = self
            .store
            .list_training_records(&scope, &d, &o, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListTrainingRecordsResponse {
            training_records: p.items.iter().map(training_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn competency_gaps(
        &self,
        caller: Caller,
        r: pb::ListCompetencyGapsRequest,
    ) -> Result<pb::ListCompetencyGapsResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let what = label("department", &r.parent);
        // Gaps name people who are behind: CSO-level information, not for staff.
        let scope = scope_for(&caller, Action::ReadTraining, &d, &what)?;
        let snapshot = self.store.competency_snapshot(&scope, &d).await.map_err(|e| ApiError::from_store(e, &what))?;
        let now = now_micros();
        let gaps = competency_gaps(&snapshot.officers, &snapshot.competencies, &snapshot.records, now);
        let display = |o: &OfficerId| {
            snapshot.officers.iter().find(|x| &x.id == o).map(|x| x.display_name.clone()).unwrap_or_default()
        };
        Ok(pb::ListCompetencyGapsResponse {
            gaps: gaps
                .iter()
                .map(|g| pb::CompetencyGap {
                    officer: names::officer_name(&d, &g.officer_id),
                    officer_display_name: display(&g.officer_id),
                    competency: names::competency_name(&d, &g.competency_id),
                    reason: match g.reason {
                        GapReason::Missing => pb::GapReason::Missing,
                        GapReason::Expired(_) => pb::GapReason::Expired,
                    } as i32,
                    expire_time: match g.reason {
                        GapReason::Expired(t) => Some(timestamp(t)),
                        GapReason::Missing => None,
                    },
                })
                .collect(),
            compute_time: Some(timestamp(now)),
        })
    }
}
