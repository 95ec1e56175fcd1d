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
use cityserve_domain::officer::{
    GapReason, competency_gaps, identity_subject, plan_transition, plan_year, story, work_email,
};
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

mod competencies;
mod plans;
mod recognitions;
mod roster;
mod seats;

use plans::*;
use roster::*;

pub(super) const NAME_MAX: usize = 200;
pub(super) const DESCRIPTION_MAX: usize = 2_000;
pub(super) const REASON_MAX: usize = 500;
pub(super) const COMMENT_MAX: usize = 4_000;

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
