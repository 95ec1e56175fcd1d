//! `cityserve.v1.OfficerService`: the CSO network — officers, appointments, competencies and
//! training, recognitions, customer-service plans.
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, label, list_scope, mask_paths, next_page_token, page,
    record_tenant, scope_for, time_from_pb,
};
use crate::names;
use chrono::{DateTime, Datelike, Utc};
use cityserve_domain::officer::{GapReason, competency_gaps, plan_transition, plan_year, story, work_email};
use cityserve_domain::validation::{optional_text, required_text};
use cityserve_domain::{
    Action, Appointment, AppointmentId, AuditAction, Caller, Competency, CompetencyId, NewAppointment, NewCompetency,
    NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerId, OfficerKind, OfficerStatus, Plan,
    PlanChange, PlanContent, PlanRevision, PlanStatus, RecognitionId, Role, Seat, TrainingRecordId, ValidationError,
    authorize, etag_for, revision_from_etag,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::officer_service_server::OfficerService;
use cityserve_store::officers::AppointmentFilter;
use cityserve_store::{OfficerStore, now_micros};
use tonic::{Request, Response, Status};

const NAME_MAX: usize = 200;
const DESCRIPTION_MAX: usize = 2_000;
const REASON_MAX: usize = 500;
const COMMENT_MAX: usize = 4_000;

/// The OfficerService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct OfficersApi<S> {
    store: S,
}

impl<S: OfficerStore> OfficersApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::officer_service_server::OfficerServiceServer<Self> {
        pb::officer_service_server::OfficerServiceServer::new(self)
    }
}

fn role_to_pb(r: Role) -> pb::Role {
    match r {
        Role::Chief => pb::Role::Chief,
        Role::Cso => pb::Role::Cso,
        Role::Staff => pb::Role::Staff,
        Role::Auditor => pb::Role::Auditor,
        Role::Service => pb::Role::Service,
    }
}

fn role_from_pb(field: &str, v: i32) -> Result<Option<Role>, ValidationError> {
    match pb::Role::try_from(v) {
        Ok(pb::Role::Unspecified) => Ok(None),
        Ok(pb::Role::Chief) => Ok(Some(Role::Chief)),
        Ok(pb::Role::Cso) => Ok(Some(Role::Cso)),
        Ok(pb::Role::Staff) => Ok(Some(Role::Staff)),
        Ok(pb::Role::Auditor) => Ok(Some(Role::Auditor)),
        Ok(pb::Role::Service) => Ok(Some(Role::Service)),
        Err(_) => Err(ValidationError::one(field, "is not a known role")),
    }
}

fn seat_to_pb(s: Seat) -> pb::Seat {
    match s {
        Seat::Chief => pb::Seat::Chief,
        Seat::Cso => pb::Seat::Cso,
    }
}

fn plan_status_to_pb(s: PlanStatus) -> pb::PlanStatus {
    match s {
        PlanStatus::Draft => pb::PlanStatus::Draft,
        PlanStatus::Submitted => pb::PlanStatus::Submitted,
        PlanStatus::ChangesRequested => pb::PlanStatus::ChangesRequested,
        PlanStatus::Approved => pb::PlanStatus::Approved,
    }
}

fn officer_to_pb(o: &Officer) -> pb::Officer {
    pb::Officer {
        name: names::officer_name(&o.department_id, &o.id),
        display_name: o.display_name.clone(),
        email: o.email.clone(),
        title: o.title.clone(),
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

fn appointment_to_pb(a: &Appointment) -> pb::Appointment {
    pb::Appointment {
        name: names::appointment_name(&a.department_id, &a.id),
        seat: seat_to_pb(a.seat) as i32,
        officer: names::officer_name(&a.department_id, &a.officer_id),
        start_time: Some(timestamp(a.start_time)),
        end_time: a.end_time.map(timestamp),
        appointed_by: a.appointed_by.clone(),
        ended_by: a.ended_by.clone().unwrap_or_default(),
        end_reason: a.end_reason.clone(),
        active: a.end_time.is_none(),
    }
}

fn competency_to_pb(c: &Competency) -> pb::Competency {
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

fn plan_to_pb(p: &Plan) -> pb::Plan {
    pb::Plan {
        name: names::plan_name(&p.department_id, p.year),
        vision: p.content.vision.clone(),
        mission: p.content.mission.clone(),
        voice_of_customer: p.content.voice_of_customer.clone(),
        training_programme: p.content.training_programme.clone(),
        engagement_plan: p.content.engagement_plan.clone(),
        focus: Some(pb::FocusArea {
            area: p.content.focus_area.clone(),
            metric: p.content.focus_metric.clone(),
            baseline: p.content.focus_baseline,
            target: p.content.focus_target,
        }),
        status: plan_status_to_pb(p.status) as i32,
        review_comment: p.review_comment.clone(),
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        revision: p.revision,
        etag: etag_for(p.revision),
    }
}

fn revision_to_pb(r: &PlanRevision, created: DateTime<Utc>) -> pb::PlanRevision {
    let plan = Plan {
        department_id: r.department_id.clone(),
        year: r.year,
        content: r.content.clone(),
        status: r.status,
        review_comment: r.comment.clone(),
        create_time: created,
        update_time: r.create_time,
        revision: r.revision,
    };
    pb::PlanRevision {
        name: names::plan_revision_name(&r.department_id, r.year, r.revision),
        change: r.change.as_str().to_owned(),
        plan: Some(plan_to_pb(&plan)),
        comment: r.comment.clone(),
        author: r.author.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    async fn create_officer(&self, caller: Caller, r: pb::CreateOfficerRequest) -> Result<pb::Officer, ApiError> {
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
        let kind = match pb::OfficerKind::try_from(body.kind) {
            Ok(pb::OfficerKind::Unspecified | pb::OfficerKind::Staff) => Some(OfficerKind::Staff),
            Ok(pb::OfficerKind::Auditor) => Some(OfficerKind::Auditor),
            Err(_) => {
                errors.push("officer.kind", "is not a known kind");
                None
            }
        };
        errors.into_result()?;
        let (Some(display_name), Some(email), Some(title), Some(kind)) = (display_name, email, title, kind) else {
            return Err(ApiError::Internal);
        };
        let new = NewOfficer { department_id: d.clone(), id: id.clone(), display_name, email, title, kind };
        let o = self
            .store
            .create_officer(&ctx(&scope, &caller, AuditAction::OfficerCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label("officer", &names::officer_name(&d, &id))))?;
        tracing::info!(officer = %o.id, department = %d, "officer created");
        Ok(officer_to_pb(&o))
    }

    async fn get_officer(&self, caller: Caller, name: &str) -> Result<pb::Officer, ApiError> {
        let (d, o) = names::officer("name", name)?;
        let what = label("officer", name);
        let scope = scope_for(&caller, Action::ReadOfficers, &d, &what)?;
        let officer = self.store.get_officer(&scope, &d, &o).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(officer_to_pb(&officer))
    }

    async fn list_officers(
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

    async fn update_officer(&self, caller: Caller, r: pb::UpdateOfficerRequest) -> Result<pb::Officer, ApiError> {
        let body = r.officer.ok_or_else(|| ValidationError::one("officer", "is required"))?;
        let (d, o) = names::officer("officer.name", &body.name)?;
        let what = label("officer", &body.name);
        let scope = scope_for(&caller, Action::ManageOfficers, &d, &what)?;
        let all = ["display_name", "email", "title"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
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
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(officer_to_pb(&saved))
    }

    async fn deactivate_officer(
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

    async fn appoint(
        &self,
        caller: Caller,
        seat: Seat,
        parent: Option<&str>,
        officer: &str,
        replaces: &str,
        idem: cityserve_store::Idempotency,
    ) -> Result<pb::Appointment, ApiError> {
        let mut errors = ValidationError::default();
        let seat_department = parent.map(|p| errors.check(names::department("parent", p)));
        let appointee = errors.check(names::officer("officer", officer));
        let replaces = if replaces.is_empty() {
            Some(None)
        } else {
            errors.check(names::appointment("replaces", replaces)).map(Some)
        };
        errors.into_result()?;
        let (Some((d, o)), Some(replaces)) = (appointee, replaces) else { return Err(ApiError::Internal) };
        let action = if seat == Seat::Chief { Action::AppointChief } else { Action::AppointCso };
        let scope = match seat_department {
            Some(Some(seat_d)) => {
                let scope =
                    scope_for(&caller, action, &seat_d, &label("department", &names::department_name(&seat_d)))?;
                if seat_d != d {
                    return Err(ValidationError::one(
                        "officer",
                        "must be an officer of the department whose seat is filled",
                    )
                    .into());
                }
                scope
            }
            _ => {
                // The Chief's seat is city-wide: a refusal is PERMISSION_DENIED, not NOT_FOUND.
                record_tenant(d.as_str());
                authorize(&caller, action, None).map_err(|den| ApiError::from_denied(den, "the Chief's seat"))?
            }
        };
        let replaces = replaces.map(|(_, a)| a);
        let new = NewAppointment {
            department_id: d.clone(),
            id: AppointmentId::parse("id", &generated_id("ap"))?,
            seat,
            officer_id: o.clone(),
            replaces,
        };
        let action_name = if seat == Seat::Chief { AuditAction::AppointmentChief } else { AuditAction::AppointmentCso };
        let a = self
            .store
            .appoint(&ctx(&scope, &caller, action_name), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label("officer", officer)))?;
        tracing::info!(seat = seat.as_str(), department = %d, officer = %o, appointment = %a.id, "appointed");
        Ok(appointment_to_pb(&a))
    }

    async fn end_appointment(&self, caller: Caller, r: pb::EndAppointmentRequest) -> Result<pb::Appointment, ApiError> {
        let (d, a) = names::appointment("name", &r.name)?;
        let reason = required_text("reason", &r.reason, REASON_MAX)?;
        let what = label("appointment", &r.name);
        let scope = scope_for(&caller, Action::AppointCso, &d, &what)?;
        let ended = self
            .store
            .end_appointment(&ctx(&scope, &caller, AuditAction::AppointmentEnd), &d, &a, &reason)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        tracing::info!(appointment = %a, department = %d, "appointment ended");
        Ok(appointment_to_pb(&ended))
    }

    async fn get_appointment(&self, caller: Caller, name: &str) -> Result<pb::Appointment, ApiError> {
        let (d, a) = names::appointment("name", name)?;
        let what = label("appointment", name);
        let scope = scope_for(&caller, Action::ReadOfficers, &d, &what)?;
        let found = self.store.get_appointment(&scope, &d, &a).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(appointment_to_pb(&found))
    }

    async fn list_appointments(
        &self,
        caller: Caller,
        r: pb::ListAppointmentsRequest,
    ) -> Result<pb::ListAppointmentsResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let seat = match pb::Seat::try_from(r.seat) {
            Ok(pb::Seat::Unspecified) => None,
            Ok(pb::Seat::Chief) => Some(Seat::Chief),
            Ok(pb::Seat::Cso) => Some(Seat::Cso),
            Err(_) => return Err(ValidationError::one("seat", "is not a known seat").into()),
        };
        let officer = if r.officer.is_empty() { None } else { Some(names::officer("officer", &r.officer)?.1) };
        let filter_key = format!(
            "appointments?parent={}&seat={}&active={}&officer={}",
            r.parent,
            seat.map_or("", |s| s.as_str()),
            r.active_only,
            r.officer
        );
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadOfficers, d.as_ref(), &label("department", &r.parent))?;
        let filter = AppointmentFilter { department: d, seat, active_only: r.active_only, officer };
        let p = self
            .store
            .list_appointments(&scope, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("department", &r.parent)))?;
        Ok(pb::ListAppointmentsResponse {
            appointments: p.items.iter().map(appointment_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn cso_network(
        &self,
        caller: Caller,
        r: pb::GetCsoNetworkRequest,
    ) -> Result<pb::GetCsoNetworkResponse, ApiError> {
        let year = if r.year == 0 { now_micros().year() } else { plan_year("year", r.year)? };
        let scope = authorize(&caller, Action::ReadCsoNetwork, None)
            .map_err(|d| ApiError::from_denied(d, "the CSO network"))?;
        let network =
            self.store.cso_network(&scope, year).await.map_err(|e| ApiError::from_store(e, "the CSO network"))?;
        let holder = |(a, o): &(Appointment, Officer)| pb::SeatHolder {
            appointment: Some(appointment_to_pb(a)),
            officer: Some(officer_to_pb(o)),
        };
        let departments: Vec<pb::NetworkDepartment> = network
            .departments
            .iter()
            .map(|s| pb::NetworkDepartment {
                department: names::department_name(&s.department_id),
                display_name: s.department_name.clone(),
                cso: s.cso.as_ref().map(holder),
                cso_missing: s.cso.is_none(),
                plan_status: s.plan_status.map_or(pb::PlanStatus::Unspecified, plan_status_to_pb) as i32,
            })
            .collect();
        let vacant = departments.iter().filter(|d| d.cso_missing).count();
        Ok(pb::GetCsoNetworkResponse {
            chief: network.chief.as_ref().map(holder),
            departments,
            year,
            vacant_cso_seats: i32::try_from(vacant).unwrap_or(i32::MAX),
        })
    }

    fn required_roles(field: &str, values: &[i32]) -> Result<Vec<Role>, ValidationError> {
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

    async fn create_competency(
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

    async fn get_competency(&self, caller: Caller, name: &str) -> Result<pb::Competency, ApiError> {
        let (d, c) = names::competency("name", name)?;
        let what = label("competency", name);
        let scope = scope_for(&caller, Action::ReadCompetencies, &d, &what)?;
        let found = self.store.get_competency(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(competency_to_pb(&found))
    }

    async fn list_competencies(
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

    async fn update_competency(
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

    async fn create_training_record(
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

    async fn list_training_records(
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

    async fn competency_gaps(
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

    async fn create_recognition(
        &self,
        caller: Caller,
        r: pb::CreateRecognitionRequest,
    ) -> Result<pb::Recognition, ApiError> {
        let idem =
            idempotency(&r.request_id, &pb::CreateRecognitionRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.recognition.unwrap_or_default();
        let mut errors = ValidationError::default();
        let officer = errors.check(names::officer("recognition.officer", &body.officer));
        let text = errors.check(story("recognition.story", &body.story));
        let feedback = if body.feedback.is_empty() {
            Some(None)
        } else {
            errors.check(optional_text("recognition.feedback", &body.feedback, 300).map(Some))
        };
        if let Some((_, o)) = &officer
            && o.as_str() == caller.subject
        {
            errors.push("recognition.officer", "must be someone else: officers cannot recognise themselves");
        }
        errors.into_result()?;
        let (Some((d, o)), Some(story), Some(feedback)) = (officer, text, feedback) else {
            return Err(ApiError::Internal);
        };
        let what = label("officer", &body.officer);
        let scope = scope_for(&caller, Action::RecognizeOfficer, &d, &what)?;
        let new = NewRecognition {
            department_id: d.clone(),
            id: RecognitionId::parse("id", &generated_id("rc"))?,
            officer_id: o,
            story,
            feedback,
        };
        let rec = self
            .store
            .create_recognition(&ctx(&scope, &caller, AuditAction::RecognitionCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(recognition_to_pb(&rec))
    }

    async fn list_recognitions(
        &self,
        caller: Caller,
        r: pb::ListRecognitionsRequest,
    ) -> Result<pb::ListRecognitionsResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let filter_key = format!("recognitions?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("department", &r.parent);
        let scope = list_scope(&caller, Action::ReadRecognitions, d.as_ref(), &what)?;
        let p = self
            .store
            .list_recognitions(&scope, d.as_ref(), &page)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListRecognitionsResponse {
            recognitions: p.items.iter().map(recognition_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    fn plan_content(body: &pb::Plan, paths: &[String], base: PlanContent) -> Result<PlanContent, ValidationError> {
        let mut c = base;
        let focus = body.focus.clone().unwrap_or_default();
        for p in paths {
            match p.as_str() {
                "vision" => c.vision = body.vision.trim().to_owned(),
                "mission" => c.mission = body.mission.trim().to_owned(),
                "voice_of_customer" => c.voice_of_customer = body.voice_of_customer.trim().to_owned(),
                "training_programme" => c.training_programme = body.training_programme.trim().to_owned(),
                "engagement_plan" => c.engagement_plan = body.engagement_plan.trim().to_owned(),
                "focus" => {
                    c.focus_area = focus.area.trim().to_owned();
                    c.focus_metric = focus.metric.trim().to_owned();
                    c.focus_baseline = focus.baseline;
                    c.focus_target = focus.target;
                }
                "focus.area" => c.focus_area = focus.area.trim().to_owned(),
                "focus.metric" => c.focus_metric = focus.metric.trim().to_owned(),
                "focus.baseline" => c.focus_baseline = focus.baseline,
                _ => c.focus_target = focus.target,
            }
        }
        c.validate("plan")?;
        Ok(c)
    }

    const PLAN_ALL: [&'static str; 6] =
        ["vision", "mission", "voice_of_customer", "training_programme", "engagement_plan", "focus"];
    const PLAN_ALLOWED: [&'static str; 10] = [
        "vision",
        "mission",
        "voice_of_customer",
        "training_programme",
        "engagement_plan",
        "focus",
        "focus.area",
        "focus.metric",
        "focus.baseline",
        "focus.target",
    ];

    async fn create_plan(&self, caller: Caller, r: pb::CreatePlanRequest) -> Result<pb::Plan, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::DraftPlan, &d, &label("department", &r.parent))?;
        let idem = idempotency(&r.request_id, &pb::CreatePlanRequest { request_id: String::new(), ..r.clone() })?;
        let year = plan_year("year", r.year)?;
        let all: Vec<String> = Self::PLAN_ALL.iter().map(|s| (*s).to_owned()).collect();
        let content = Self::plan_content(&r.plan.unwrap_or_default(), &all, PlanContent::default())?;
        let p = self
            .store
            .create_plan(&ctx(&scope, &caller, AuditAction::PlanCreate), &idem, &d, year, &content)
            .await
            .map_err(|e| ApiError::from_store(e, &label("plan", &names::plan_name(&d, year))))?;
        Ok(plan_to_pb(&p))
    }

    async fn get_plan(&self, caller: Caller, name: &str) -> Result<pb::Plan, ApiError> {
        let (d, year) = names::plan("name", name)?;
        let what = label("plan", name);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let p = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(plan_to_pb(&p))
    }

    async fn list_plans(&self, caller: Caller, r: pb::ListPlansRequest) -> Result<pb::ListPlansResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let filter_key = format!("plans?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        if page.after.as_deref().is_some_and(|a| a.parse::<i32>().is_err()) {
            return Err(ValidationError::one("page_token", "is not a token returned by this list call").into());
        }
        let what = label("department", &r.parent);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let p = self.store.list_plans(&scope, &d, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListPlansResponse {
            plans: p.items.iter().map(plan_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    /// Reads a plan, applies `change` and saves it with its revision.
    #[allow(clippy::too_many_arguments)]
    async fn change_plan(
        &self,
        caller: Caller,
        name_field: &str,
        name: &str,
        etag_field: &str,
        etag: &str,
        action: Action,
        change: PlanChange,
        content: Option<(&pb::Plan, Vec<String>)>,
        comment: &str,
    ) -> Result<pb::Plan, ApiError> {
        let (d, year) = names::plan(name_field, name)?;
        let what = label("plan", name);
        let scope = scope_for(&caller, action, &d, &what)?;
        let current = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision(etag_field, etag, current.revision)?;
        let content = match content {
            Some((body, paths)) => Some(Self::plan_content(body, &paths, current.content.clone())?),
            None => None,
        };
        let next = plan_transition(&current, change, content, comment)
            .map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
        let action_name = match change {
            PlanChange::Create => AuditAction::PlanCreate,
            PlanChange::Edit => AuditAction::PlanUpdate,
            PlanChange::Submit => AuditAction::PlanSubmit,
            PlanChange::Approve | PlanChange::RequestChanges => AuditAction::PlanReview,
        };
        let saved = self
            .store
            .save_plan(&ctx(&scope, &caller, action_name), &next, expected, change, comment)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        tracing::info!(department = %d, year, change = change.as_str(), status = saved.status.as_str(), "plan changed");
        Ok(plan_to_pb(&saved))
    }

    async fn update_plan(&self, caller: Caller, r: pb::UpdatePlanRequest) -> Result<pb::Plan, ApiError> {
        let body = r.plan.ok_or_else(|| ValidationError::one("plan", "is required"))?;
        let paths = mask_paths(r.update_mask.as_ref(), &Self::PLAN_ALLOWED, &Self::PLAN_ALL)?;
        let name = body.name.clone();
        self.change_plan(
            caller,
            "plan.name",
            &name,
            "etag",
            &r.etag,
            Action::DraftPlan,
            PlanChange::Edit,
            Some((&body, paths)),
            "",
        )
        .await
    }

    async fn submit_plan(&self, caller: Caller, r: pb::SubmitPlanRequest) -> Result<pb::Plan, ApiError> {
        self.change_plan(caller, "name", &r.name, "etag", &r.etag, Action::DraftPlan, PlanChange::Submit, None, "")
            .await
    }

    async fn review_plan(&self, caller: Caller, r: pb::ReviewPlanRequest) -> Result<pb::Plan, ApiError> {
        let change = match pb::PlanDecision::try_from(r.decision) {
            Ok(pb::PlanDecision::Approve) => PlanChange::Approve,
            Ok(pb::PlanDecision::RequestChanges) => PlanChange::RequestChanges,
            _ => return Err(ValidationError::one("decision", "must be APPROVE or REQUEST_CHANGES").into()),
        };
        let comment = if change == PlanChange::RequestChanges {
            required_text("comment", &r.comment, COMMENT_MAX)?
        } else {
            optional_text("comment", &r.comment, COMMENT_MAX)?
        };
        self.change_plan(caller, "name", &r.name, "etag", &r.etag, Action::ReviewPlan, change, None, &comment).await
    }

    async fn list_plan_revisions(
        &self,
        caller: Caller,
        r: pb::ListPlanRevisionsRequest,
    ) -> Result<pb::ListPlanRevisionsResponse, ApiError> {
        let (d, year) = names::plan("parent", &r.parent)?;
        let filter_key = format!("planRevisions?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        if page.after.as_deref().is_some_and(|a| a.parse::<i64>().is_err()) {
            return Err(ValidationError::one("page_token", "is not a token returned by this list call").into());
        }
        let what = label("plan", &r.parent);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let plan = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        let p = self
            .store
            .list_plan_revisions(&scope, &d, year, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListPlanRevisionsResponse {
            revisions: p.items.iter().map(|rev| revision_to_pb(rev, plan.create_time)).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }
}

fn training_to_pb(t: &cityserve_domain::TrainingRecord) -> pb::TrainingRecord {
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

fn recognition_to_pb(r: &cityserve_domain::Recognition) -> pb::Recognition {
    pb::Recognition {
        name: names::recognition_name(&r.department_id, &r.id),
        officer: names::officer_name(&r.department_id, &r.officer_id),
        recognized_by: r.recognized_by.clone(),
        story: r.story.clone(),
        feedback: r.feedback.clone().unwrap_or_default(),
        create_time: Some(timestamp(r.create_time)),
    }
}

#[tonic::async_trait]
impl<S: OfficerStore> OfficerService for OfficersApi<S> {
    async fn create_officer(
        &self,
        req: Request<pb::CreateOfficerRequest>,
    ) -> Result<Response<pb::CreateOfficerResponse>, Status> {
        handle!(req, |c, r| self.create_officer(c, r), |o| pb::CreateOfficerResponse { officer: Some(o) })
    }

    async fn get_officer(
        &self,
        req: Request<pb::GetOfficerRequest>,
    ) -> Result<Response<pb::GetOfficerResponse>, Status> {
        handle!(req, |c, r| self.get_officer(c, &r.name), |o| pb::GetOfficerResponse { officer: Some(o) })
    }

    async fn list_officers(
        &self,
        req: Request<pb::ListOfficersRequest>,
    ) -> Result<Response<pb::ListOfficersResponse>, Status> {
        handle!(req, |c, r| self.list_officers(c, r), |x| x)
    }

    async fn update_officer(
        &self,
        req: Request<pb::UpdateOfficerRequest>,
    ) -> Result<Response<pb::UpdateOfficerResponse>, Status> {
        handle!(req, |c, r| self.update_officer(c, r), |o| pb::UpdateOfficerResponse { officer: Some(o) })
    }

    async fn deactivate_officer(
        &self,
        req: Request<pb::DeactivateOfficerRequest>,
    ) -> Result<Response<pb::DeactivateOfficerResponse>, Status> {
        handle!(req, |c, r| self.deactivate_officer(c, r), |o| pb::DeactivateOfficerResponse { officer: Some(o) })
    }

    async fn appoint_cso(
        &self,
        req: Request<pb::AppointCsoRequest>,
    ) -> Result<Response<pb::AppointCsoResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let idem =
                    idempotency(&r.request_id, &pb::AppointCsoRequest { request_id: String::new(), ..r.clone() })?;
                self.appoint(c, Seat::Cso, Some(&r.parent), &r.officer, &r.replaces, idem).await
            },
            |a| pb::AppointCsoResponse { appointment: Some(a) }
        )
    }

    async fn appoint_chief(
        &self,
        req: Request<pb::AppointChiefRequest>,
    ) -> Result<Response<pb::AppointChiefResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let idem =
                    idempotency(&r.request_id, &pb::AppointChiefRequest { request_id: String::new(), ..r.clone() })?;
                self.appoint(c, Seat::Chief, None, &r.officer, &r.replaces, idem).await
            },
            |a| pb::AppointChiefResponse { appointment: Some(a) }
        )
    }

    async fn end_appointment(
        &self,
        req: Request<pb::EndAppointmentRequest>,
    ) -> Result<Response<pb::EndAppointmentResponse>, Status> {
        handle!(req, |c, r| self.end_appointment(c, r), |a| pb::EndAppointmentResponse { appointment: Some(a) })
    }

    async fn get_appointment(
        &self,
        req: Request<pb::GetAppointmentRequest>,
    ) -> Result<Response<pb::GetAppointmentResponse>, Status> {
        handle!(req, |c, r| self.get_appointment(c, &r.name), |a| pb::GetAppointmentResponse { appointment: Some(a) })
    }

    async fn list_appointments(
        &self,
        req: Request<pb::ListAppointmentsRequest>,
    ) -> Result<Response<pb::ListAppointmentsResponse>, Status> {
        handle!(req, |c, r| self.list_appointments(c, r), |x| x)
    }

    async fn get_cso_network(
        &self,
        req: Request<pb::GetCsoNetworkRequest>,
    ) -> Result<Response<pb::GetCsoNetworkResponse>, Status> {
        handle!(req, |c, r| self.cso_network(c, r), |x| x)
    }

    async fn create_competency(
        &self,
        req: Request<pb::CreateCompetencyRequest>,
    ) -> Result<Response<pb::CreateCompetencyResponse>, Status> {
        handle!(req, |c, r| self.create_competency(c, r), |x| pb::CreateCompetencyResponse { competency: Some(x) })
    }

    async fn get_competency(
        &self,
        req: Request<pb::GetCompetencyRequest>,
    ) -> Result<Response<pb::GetCompetencyResponse>, Status> {
        handle!(req, |c, r| self.get_competency(c, &r.name), |x| pb::GetCompetencyResponse { competency: Some(x) })
    }

    async fn list_competencies(
        &self,
        req: Request<pb::ListCompetenciesRequest>,
    ) -> Result<Response<pb::ListCompetenciesResponse>, Status> {
        handle!(req, |c, r| self.list_competencies(c, r), |x| x)
    }

    async fn update_competency(
        &self,
        req: Request<pb::UpdateCompetencyRequest>,
    ) -> Result<Response<pb::UpdateCompetencyResponse>, Status> {
        handle!(req, |c, r| self.update_competency(c, r), |x| pb::UpdateCompetencyResponse { competency: Some(x) })
    }

    async fn create_training_record(
        &self,
        req: Request<pb::CreateTrainingRecordRequest>,
    ) -> Result<Response<pb::CreateTrainingRecordResponse>, Status> {
        handle!(req, |c, r| self.create_training_record(c, r), |x| pb::CreateTrainingRecordResponse {
            training_record: Some(x)
        })
    }

    async fn list_training_records(
        &self,
        req: Request<pb::ListTrainingRecordsRequest>,
    ) -> Result<Response<pb::ListTrainingRecordsResponse>, Status> {
        handle!(req, |c, r| self.list_training_records(c, r), |x| x)
    }

    async fn list_competency_gaps(
        &self,
        req: Request<pb::ListCompetencyGapsRequest>,
    ) -> Result<Response<pb::ListCompetencyGapsResponse>, Status> {
        handle!(req, |c, r| self.competency_gaps(c, r), |x| x)
    }

    async fn create_recognition(
        &self,
        req: Request<pb::CreateRecognitionRequest>,
    ) -> Result<Response<pb::CreateRecognitionResponse>, Status> {
        handle!(req, |c, r| self.create_recognition(c, r), |x| pb::CreateRecognitionResponse { recognition: Some(x) })
    }

    async fn list_recognitions(
        &self,
        req: Request<pb::ListRecognitionsRequest>,
    ) -> Result<Response<pb::ListRecognitionsResponse>, Status> {
        handle!(req, |c, r| self.list_recognitions(c, r), |x| x)
    }

    async fn create_plan(
        &self,
        req: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::CreatePlanResponse>, Status> {
        handle!(req, |c, r| self.create_plan(c, r), |x| pb::CreatePlanResponse { plan: Some(x) })
    }

    async fn get_plan(&self, req: Request<pb::GetPlanRequest>) -> Result<Response<pb::GetPlanResponse>, Status> {
        handle!(req, |c, r| self.get_plan(c, &r.name), |x| pb::GetPlanResponse { plan: Some(x) })
    }

    async fn list_plans(&self, req: Request<pb::ListPlansRequest>) -> Result<Response<pb::ListPlansResponse>, Status> {
        handle!(req, |c, r| self.list_plans(c, r), |x| x)
    }

    async fn update_plan(
        &self,
        req: Request<pb::UpdatePlanRequest>,
    ) -> Result<Response<pb::UpdatePlanResponse>, Status> {
        handle!(req, |c, r| self.update_plan(c, r), |x| pb::UpdatePlanResponse { plan: Some(x) })
    }

    async fn submit_plan(
        &self,
        req: Request<pb::SubmitPlanRequest>,
    ) -> Result<Response<pb::SubmitPlanResponse>, Status> {
        handle!(req, |c, r| self.submit_plan(c, r), |x| pb::SubmitPlanResponse { plan: Some(x) })
    }

    async fn review_plan(
        &self,
        req: Request<pb::ReviewPlanRequest>,
    ) -> Result<Response<pb::ReviewPlanResponse>, Status> {
        handle!(req, |c, r| self.review_plan(c, r), |x| pb::ReviewPlanResponse { plan: Some(x) })
    }

    async fn list_plan_revisions(
        &self,
        req: Request<pb::ListPlanRevisionsRequest>,
    ) -> Result<Response<pb::ListPlanRevisionsResponse>, Status> {
        handle!(req, |c, r| self.list_plan_revisions(c, r), |x| x)
    }
}
