//! Moments-of-truth observations and the rubrics they are scored on: a CSO writes the rubric,
//! the CSO (or the department's staff) observe touchpoints and agree coaching, followed to done.
use super::CsoWorkApi;
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, label, next_page_token, page, scope_for, time_from_pb,
};
use crate::names;
use chrono::{Duration, Utc};
use cityserve_domain::observation::{
    CoachingAction, CoachingStatus, Observation, ObservationId, Rubric, RubricId, action_text, notes, rubric_items,
    scores,
};
use cityserve_domain::validation::required_text;
use cityserve_domain::{Action, AuditAction, Caller, DepartmentId, ValidationError, etag_for};
use cityserve_proto::v1 as pb;
use cityserve_store::resource;

fn rubric_to_pb(r: &Rubric) -> pb::Rubric {
    pb::Rubric {
        name: resource::rubric(&r.department_id, &r.id),
        display_name: r.display_name.clone(),
        items: r.items.iter().map(|i| pb::RubricItem { code: i.code.clone(), label: i.label.clone() }).collect(),
        version: r.version,
        author: r.author.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

/// An observation as returned.
pub(super) fn observation_to_pb(o: &Observation) -> pb::Observation {
    let name = resource::observation(&o.department_id, &o.id);
    pb::Observation {
        name: name.clone(),
        touchpoint: resource::touchpoint(&o.department_id, &o.touchpoint),
        rubric: resource::rubric(&o.department_id, &o.rubric),
        rubric_version: o.rubric_version,
        observer: o.observer.clone(),
        served_by: o
            .served_by
            .as_ref()
            .map(|s| format!("departments/{}/officers/{s}", o.department_id))
            .unwrap_or_default(),
        observe_time: Some(timestamp(o.observe_time)),
        scores: o.scores.iter().map(|s| pb::Score { code: s.code.clone(), score: s.score }).collect(),
        notes: o.notes.clone(),
        coaching_actions: o
            .coaching
            .iter()
            .map(|a| pb::CoachingAction {
                name: format!("{name}/coachingActions/{}", a.number),
                action: a.action.clone(),
                owner: format!("departments/{}/officers/{}", o.department_id, a.owner),
                due_date: a.due.format("%Y-%m-%d").to_string(),
                state: if a.is_done() { pb::CoachingActionState::Done } else { pb::CoachingActionState::Open } as i32,
                done_time: a.done_time.map(timestamp),
            })
            .collect(),
        create_time: Some(timestamp(o.create_time)),
        etag: etag_for(o.revision),
    }
}

/// The rubric's display name and items from a request body.
fn rubric_body(body: &pb::Rubric) -> Result<(String, Vec<cityserve_domain::observation::RubricItem>), ValidationError> {
    let mut errors = ValidationError::default();
    let name = errors.check(required_text("rubric.display_name", &body.display_name, 200));
    let pairs: Vec<(String, String)> = body.items.iter().map(|i| (i.code.clone(), i.label.clone())).collect();
    let items = errors.check(rubric_items("rubric.items", &pairs));
    errors.into_result()?;
    match (name, items) {
        (Some(n), Some(i)) => Ok((n, i)),
        _ => Err(ValidationError::one("rubric", "is invalid")),
    }
}

/// `departments/{d}/rubrics/{r}`.
fn rubric_name(field: &str, name: &str) -> Result<(DepartmentId, RubricId), ValidationError> {
    let (d, rest) = name
        .strip_prefix("departments/")
        .and_then(|r| r.split_once("/rubrics/"))
        .ok_or_else(|| ValidationError::one(field, "must have the form departments/{department}/rubrics/{rubric}"))?;
    Ok((DepartmentId::parse(field, d)?, RubricId::parse(field, rest)?))
}

/// `departments/{d}/observations/{o}`, optionally followed by `/coachingActions/{n}`.
fn observation_name(field: &str, name: &str) -> Result<(DepartmentId, ObservationId, Option<i32>), ValidationError> {
    let bad = || {
        ValidationError::one(
            field,
            "must have the form departments/{department}/observations/{observation}[/coachingActions/{number}]",
        )
    };
    let (d, rest) = name.strip_prefix("departments/").and_then(|r| r.split_once("/observations/")).ok_or_else(bad)?;
    let (o, action) = match rest.split_once("/coachingActions/") {
        Some((o, n)) => (o, Some(n.parse::<i32>().map_err(|_| bad())?)),
        None => (rest, None),
    };
    Ok((DepartmentId::parse(field, d).map_err(|_| bad())?, ObservationId::parse(field, o).map_err(|_| bad())?, action))
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    pub(super) async fn create_rubric(&self, caller: Caller, r: pb::CreateRubricRequest) -> Result<Rubric, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let idem = idempotency(&r.request_id, &pb::CreateRubricRequest { request_id: String::new(), ..r.clone() })?;
        let mut errors = ValidationError::default();
        let id = errors.check(RubricId::parse("rubric_id", &r.rubric_id));
        let body = errors.check(rubric_body(&r.rubric.clone().unwrap_or_default()));
        errors.into_result()?;
        let (Some(id), Some((display_name, items))) = (id, body) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ManageRubrics, &d, &r.parent)?;
        let rubric = Rubric {
            department_id: d,
            id,
            version: 1,
            display_name,
            items,
            author: caller.subject.clone(),
            create_time: Utc::now(),
        };
        let what = label("rubric", &resource::rubric(&rubric.department_id, &rubric.id));
        self.store
            .create_rubric(&ctx(&scope, &caller, AuditAction::RubricManage), &idem, &rubric)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }

    pub(super) async fn revise_rubric(&self, caller: Caller, r: pb::ReviseRubricRequest) -> Result<Rubric, ApiError> {
        let body = r.rubric.ok_or_else(|| ValidationError::one("rubric", "is required"))?;
        let (d, id) = rubric_name("rubric.name", &body.name)?;
        let (display_name, items) = rubric_body(&body)?;
        if body.version < 1 {
            return Err(ValidationError::one("rubric.version", "must be the latest version, the one revised").into());
        }
        let scope = scope_for(&caller, Action::ManageRubrics, &d, &body.name)?;
        let rubric = Rubric {
            department_id: d,
            id,
            version: body.version + 1,
            display_name,
            items,
            author: caller.subject.clone(),
            create_time: Utc::now(),
        };
        self.store
            .revise_rubric(&ctx(&scope, &caller, AuditAction::RubricManage), &rubric, body.version)
            .await
            .map_err(|e| ApiError::from_store(e, &label("rubric", &body.name)))
    }

    pub(super) async fn get_rubric(&self, caller: Caller, r: pb::GetRubricRequest) -> Result<Rubric, ApiError> {
        let (d, id) = rubric_name("name", &r.name)?;
        if r.version < 0 {
            return Err(ValidationError::one("version", "must be a version (from 1), or 0 for the latest").into());
        }
        let scope = scope_for(&caller, Action::ReadObservations, &d, &r.name)?;
        let version = (r.version > 0).then_some(r.version);
        self.store
            .get_rubric(&scope, &d, &id, version)
            .await
            .map_err(|e| ApiError::from_store(e, &label("rubric", &r.name)))
    }

    pub(super) async fn list_rubrics(
        &self,
        caller: Caller,
        r: pb::ListRubricsRequest,
    ) -> Result<pb::ListRubricsResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let page = page(r.page_size, &r.page_token, &r.parent)?;
        let scope = scope_for(&caller, Action::ReadObservations, &d, &r.parent)?;
        let p = self.store.list_rubrics(&scope, &d, &page).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListRubricsResponse {
            rubrics: p.items.iter().map(rubric_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &r.parent),
        })
    }

    pub(super) async fn create_observation(
        &self,
        caller: Caller,
        r: pb::CreateObservationRequest,
    ) -> Result<Observation, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let idem =
            idempotency(&r.request_id, &pb::CreateObservationRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.observation.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let touchpoint = errors.check(names::touchpoint("observation.touchpoint", &body.touchpoint));
        let rubric = errors.check(rubric_name("observation.rubric", &body.rubric));
        let served_by = if body.served_by.is_empty() {
            Some(None)
        } else {
            errors.check(names::officer("observation.served_by", &body.served_by).map(Some))
        };
        let now = Utc::now();
        let at = errors.check(time_from_pb("observation.observe_time", body.observe_time.as_ref()));
        if let Some(Some(t)) = at
            && t > now + Duration::minutes(5)
        {
            errors.push("observation.observe_time", "must not be in the future");
        }
        let text = errors.check(notes("observation.notes", &body.notes));
        if body.coaching_actions.len() > cityserve_domain::observation::ACTIONS_MAX {
            errors.push("observation.coaching_actions", "must hold at most 20 actions");
        }
        let mut coaching = Vec::new();
        for (i, a) in body.coaching_actions.iter().enumerate() {
            let f = format!("observation.coaching_actions[{i}]");
            let action = errors.check(action_text(&format!("{f}.action"), &a.action));
            let owner = errors.check(names::officer(&format!("{f}.owner"), &a.owner));
            let due = errors.check(cityserve_domain::calendar::date(&format!("{f}.due_date"), &a.due_date));
            if let (Some(action), Some((od, owner)), Some(due)) = (action, owner, due) {
                if od != d {
                    errors.push(format!("{f}.owner"), "must be an officer of the parent department");
                }
                coaching.push(CoachingAction {
                    number: i32::try_from(i + 1).unwrap_or(i32::MAX),
                    action,
                    owner,
                    due,
                    status: CoachingStatus::Open.as_str().to_owned(),
                    done_time: None,
                });
            }
        }
        errors.into_result()?;
        let (Some((td, touchpoint)), Some((rd, rubric_id)), Some(served_by), Some(text)) =
            (touchpoint, rubric, served_by, text)
        else {
            return Err(ApiError::Internal);
        };
        let scope = scope_for(&caller, Action::ManageObservations, &d, &r.parent)?;
        // Another department's touchpoint or rubric does not exist here.
        if td != d {
            return Err(ApiError::NotFound(label("touchpoint", &body.touchpoint)));
        }
        if rd != d {
            return Err(ApiError::NotFound(label("rubric", &body.rubric)));
        }
        let rubric = self
            .store
            .get_rubric(&scope, &d, &rubric_id, None)
            .await
            .map_err(|e| ApiError::from_store(e, &label("rubric", &body.rubric)))?;
        let given: Vec<(String, i32)> = body.scores.iter().map(|s| (s.code.clone(), s.score)).collect();
        let scores = scores("observation.scores", &rubric, &given)?;
        let served = match served_by {
            Some((sd, _)) if sd != d => {
                return Err(ApiError::FailedPrecondition(format!(
                    "{} is not an active officer of department {d}",
                    body.served_by
                )));
            }
            Some((_, o)) => Some(o),
            None => None,
        };
        let observation = Observation {
            department_id: d.clone(),
            id: ObservationId::parse("id", &generated_id("ob"))?,
            touchpoint,
            rubric: rubric.id.clone(),
            rubric_version: rubric.version,
            observer: caller.subject.clone(),
            served_by: served,
            observe_time: at.flatten().unwrap_or(now),
            scores,
            notes: text,
            coaching,
            revision: 1,
            create_time: now,
            update_time: now,
        };
        self.store
            .create_observation(&ctx(&scope, &caller, AuditAction::ObservationRecord), &idem, &observation)
            .await
            .map_err(|e| ApiError::from_store(e, &label("touchpoint", &body.touchpoint)))
    }

    pub(super) async fn get_observation(&self, caller: Caller, name: &str) -> Result<Observation, ApiError> {
        let (d, id, action) = observation_name("name", name)?;
        if action.is_some() {
            return Err(ValidationError::one("name", "must name an observation").into());
        }
        let scope = scope_for(&caller, Action::ReadObservations, &d, name)?;
        self.store
            .get_observation(&scope, &d, &id)
            .await
            .map_err(|e| ApiError::from_store(e, &label("observation", name)))
    }

    pub(super) async fn list_observations(
        &self,
        caller: Caller,
        r: pb::ListObservationsRequest,
    ) -> Result<pb::ListObservationsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let d = errors.check(names::department("parent", &r.parent));
        let touchpoint = if r.touchpoint.is_empty() {
            Some(None)
        } else {
            errors.check(names::touchpoint("touchpoint", &r.touchpoint).map(Some))
        };
        let filter = format!("{}|{}", r.parent, r.touchpoint);
        let page = errors.check(page(r.page_size, &r.page_token, &filter));
        errors.into_result()?;
        let (Some(d), Some(touchpoint), Some(page)) = (d, touchpoint, page) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ReadObservations, &d, &r.parent)?;
        let t = match touchpoint {
            Some((td, _)) if td != d => {
                return Ok(pb::ListObservationsResponse::default());
            }
            Some((_, t)) => Some(t),
            None => None,
        };
        let p = self
            .store
            .list_observations(&scope, &d, t.as_ref(), &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListObservationsResponse {
            observations: p.items.iter().map(observation_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter),
        })
    }

    pub(super) async fn complete_coaching_action(
        &self,
        caller: Caller,
        r: pb::CompleteCoachingActionRequest,
    ) -> Result<Observation, ApiError> {
        let (d, id, action) = observation_name("name", &r.name)?;
        let number = action.ok_or_else(|| ValidationError::one("name", "must name a coaching action"))?;
        let scope = scope_for(&caller, Action::ManageObservations, &d, &r.name)?;
        let what = label("coaching action", &r.name);
        let current = self.store.get_observation(&scope, &d, &id).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision("etag", &r.etag, current.revision)?;
        let mut next = current.clone();
        let Some(a) = next.coaching.iter_mut().find(|a| a.number == number) else {
            return Err(ApiError::NotFound(what));
        };
        if a.is_done() {
            return Ok(current);
        }
        a.status = CoachingStatus::Done.as_str().to_owned();
        a.done_time = Some(cityserve_store::now_micros());
        self.store
            .save_coaching(&ctx(&scope, &caller, AuditAction::CoachingUpdate), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }
}

/// A rubric as returned.
pub(super) fn rubric_response(r: &Rubric) -> pb::Rubric {
    rubric_to_pb(r)
}
