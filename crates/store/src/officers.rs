//! Storage for the CSO network: officers, appointments, competencies, training, recognitions and
//! customer-service plans.
use crate::{DepartmentStore, Idempotency, StoreResult, WriteCtx};
use cityserve_domain::{
    Appointment, AppointmentId, Competency, CompetencyId, CsoNetwork, DepartmentId, NewAppointment, NewCompetency,
    NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerId, Page, PageRequest, Plan,
    PlanContent, PlanRevision, Recognition, Seat, Standing, TenantScope, TrainingRecord,
};
use std::future::Future;

/// Who an identity provider says is signing in, by the claim the server is configured to match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignIn {
    /// The provider's `sub`, matched against the officer's `identity_subject`.
    Subject(String),
    /// A verified e-mail claim, matched against the officer's work e-mail.
    Email(String),
    /// The `sub` of a token without any e-mail claim (a client-credentials token, where e-mail
    /// is the matching claim): matched against service accounts' client IDs only.
    Client(String),
}

/// Filters of an appointment listing (the history of seats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppointmentFilter {
    /// Only this department (`None`: every department in scope).
    pub department: Option<DepartmentId>,
    /// Only this seat.
    pub seat: Option<Seat>,
    /// Only appointments that have not ended.
    pub active_only: bool,
    /// Only appointments of this officer.
    pub officer: Option<OfficerId>,
}

/// What a department's competency gaps are computed from (by
/// [`cityserve_domain::officer::competency_gaps`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CompetencySnapshot {
    /// The department's active officers.
    pub officers: Vec<Officer>,
    /// The department's competencies.
    pub competencies: Vec<Competency>,
    /// Every training record of the department's officers.
    pub records: Vec<TrainingRecord>,
}

/// Storage for the CSO network. Same contract as [`DepartmentStore`] for scope, idempotency, revisions and
/// audit; in addition:
/// - officer IDs are unique city-wide (they are token subjects);
/// - at most one active appointment per CSO seat (per department) and one for the Chief's seat,
///   enforced by unique indexes; [`OfficerStore::appoint`] ends the seat's current appointment
///   and starts the new one in one transaction, and only if the seat's current appointment is
///   the one the request replaces ([`crate::StoreError::Contended`] otherwise);
/// - "newest first" lists are ordered by time-ordered ID, descending, and continue strictly
///   before [`PageRequest::after`].
pub trait OfficerStore: DepartmentStore + crate::ServiceAccountStore {
    /// Adds an officer. The department must exist in scope and be active.
    fn create_officer(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewOfficer,
    ) -> impl Future<Output = StoreResult<Officer>> + Send;

    /// Reads an officer.
    fn get_officer(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &OfficerId,
    ) -> impl Future<Output = StoreResult<Officer>> + Send;

    /// Lists officers in scope, ordered by ID.
    fn list_officers(
        &self,
        scope: &TenantScope,
        filter: &OfficerFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Officer>>> + Send;

    /// Writes display name, e-mail and title.
    fn update_officer(
        &self,
        ctx: &WriteCtx<'_>,
        officer: &Officer,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Officer>> + Send;

    /// Marks an officer inactive and ends their active appointments, in one transaction.
    /// Deactivating the Chief fails with [`crate::StoreError::FailedPrecondition`] (appoint a
    /// successor first).
    fn deactivate_officer(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        id: &OfficerId,
        expected_revision: Option<i64>,
    ) -> impl Future<Output = StoreResult<Officer>> + Send;

    /// Appoints an officer to a seat, ending the seat's current appointment. The officer must be
    /// active and belong to `new.department_id`.
    fn appoint(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewAppointment,
    ) -> impl Future<Output = StoreResult<Appointment>> + Send;

    /// Ends an active CSO appointment (the Chief's seat is only ever handed over).
    fn end_appointment(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        id: &AppointmentId,
        reason: &str,
    ) -> impl Future<Output = StoreResult<Appointment>> + Send;

    /// Reads an appointment.
    fn get_appointment(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &AppointmentId,
    ) -> impl Future<Output = StoreResult<Appointment>> + Send;

    /// Lists appointments newest first.
    fn list_appointments(
        &self,
        scope: &TenantScope,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Appointment>>> + Send;

    /// The Chief, and every active department with its current CSO and the status of its plan
    /// for `year`. Needs a city-wide scope.
    fn cso_network(&self, scope: &TenantScope, year: i32) -> impl Future<Output = StoreResult<CsoNetwork>> + Send;

    /// The active officer an identity provider's user is, found by the subject set on their record
    /// or by their work e-mail (one active officer only: a shared address names no one). Needs a
    /// city-wide scope ([`cityserve_domain::policy::sign_in_scope`]).
    fn signing_in(
        &self,
        scope: &TenantScope,
        who: &SignIn,
    ) -> impl Future<Output = StoreResult<Option<OfficerId>>> + Send;

    /// What the database knows about a token subject right now.
    fn standing(&self, scope: &TenantScope, subject: &str) -> impl Future<Output = StoreResult<Standing>> + Send;

    /// Defines a competency.
    fn create_competency(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewCompetency,
    ) -> impl Future<Output = StoreResult<Competency>> + Send;

    /// Reads a competency.
    fn get_competency(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &CompetencyId,
    ) -> impl Future<Output = StoreResult<Competency>> + Send;

    /// Lists a department's competencies by ID.
    fn list_competencies(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Competency>>> + Send;

    /// Writes display name, description and required roles.
    fn update_competency(
        &self,
        ctx: &WriteCtx<'_>,
        competency: &Competency,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<Competency>> + Send;

    /// Records a training. Officer and competency must exist in the department.
    fn create_training_record(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewTrainingRecord,
    ) -> impl Future<Output = StoreResult<TrainingRecord>> + Send;

    /// Lists an officer's training records newest first.
    fn list_training_records(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        officer: &OfficerId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<TrainingRecord>>> + Send;

    /// Everything competency gaps are computed from, read in one consistent snapshot.
    fn competency_snapshot(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
    ) -> impl Future<Output = StoreResult<CompetencySnapshot>> + Send;

    /// Records a recognition of an active officer. The recogniser is `ctx.actor`.
    fn create_recognition(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewRecognition,
    ) -> impl Future<Output = StoreResult<Recognition>> + Send;

    /// Lists recognitions newest first, of one department or of every department in scope.
    fn list_recognitions(
        &self,
        scope: &TenantScope,
        department: Option<&DepartmentId>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Recognition>>> + Send;

    /// Drafts a department's plan for a year (status draft, revision 1, first revision kept).
    fn create_plan(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        department: &DepartmentId,
        year: i32,
        content: &PlanContent,
    ) -> impl Future<Output = StoreResult<Plan>> + Send;

    /// Reads a plan.
    fn get_plan(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        year: i32,
    ) -> impl Future<Output = StoreResult<Plan>> + Send;

    /// Lists a department's plans, newest year first.
    fn list_plans(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Plan>>> + Send;

    /// Writes a plan's new state (content, status, review comment) if its revision is still
    /// `expected_revision`, and keeps the new state as a revision recording `change` by
    /// `ctx.actor` with `comment`.
    fn save_plan(
        &self,
        ctx: &WriteCtx<'_>,
        plan: &Plan,
        expected_revision: i64,
        change: cityserve_domain::PlanChange,
        comment: &str,
    ) -> impl Future<Output = StoreResult<Plan>> + Send;

    /// Lists a plan's revisions, oldest first.
    fn list_plan_revisions(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        year: i32,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<PlanRevision>>> + Send;
}
