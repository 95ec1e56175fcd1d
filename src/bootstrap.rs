//! `cityserve bootstrap-chief`: appoints the first Chief CSO directly in the database.
//!
//! Every later change of Chief goes through `AppointChief`, which only the current Chief may call;
//! this command is the one way in when no Chief exists yet, and it refuses once one does.
use crate::config::Config;
use crate::{Backend, ServeError, backend_of};
use chrono::Datelike;
use cityserve_domain::officer::work_email;
use cityserve_domain::validation::{optional_text, required_text};
use cityserve_domain::{
    Action, AppointmentId, Caller, DepartmentId, NewAppointment, NewDepartment, NewOfficer, OfficerId, OfficerKind,
    Role, Seat, ServiceTargets, ValidationError, authorize,
};
use cityserve_store::{Idempotency, OfficerStore, StoreError, WriteCtx, now_micros};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};

/// Who the first Chief is.
#[derive(Debug, Clone)]
pub struct ChiefSpec {
    /// The Chief's home department (created if missing), e.g. `mdo`.
    pub department_id: String,
    /// Display name for the department if it has to be created.
    pub department_name: String,
    /// The Chief's officer ID (the `sub` of their tokens).
    pub officer_id: String,
    /// The Chief's full name.
    pub display_name: String,
    /// Work e-mail.
    pub email: String,
    /// Job title.
    pub title: String,
    /// The Chief's subject at the city's identity provider (empty: none), so the first Chief can
    /// sign in through it (docs/security.md).
    pub identity_subject: String,
}

/// What the bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    /// Resource name of the Chief's officer record.
    pub officer: String,
    /// Resource name of the Chief's appointment.
    pub appointment: String,
}

/// Why the bootstrap refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Invalid input; the message names the field.
    #[error("invalid {0}")]
    Invalid(String),
    /// A Chief is already appointed.
    #[error("a Chief is already appointed ({0}); hand the seat over with AppointChief instead")]
    ChiefExists(String),
    /// The database failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

impl From<ValidationError> for BootstrapError {
    fn from(e: ValidationError) -> Self {
        BootstrapError::Invalid(e.to_string())
    }
}

impl From<StoreError> for BootstrapError {
    fn from(e: StoreError) -> Self {
        BootstrapError::Serve(ServeError::Store(e))
    }
}

/// Opens the configured database (migrating it) and appoints the first Chief.
pub async fn bootstrap_chief(config: &Config, spec: &ChiefSpec) -> Result<Bootstrapped, BootstrapError> {
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 1, migrate: true })
                .await
                .map_err(ServeError::from)?;
            let out = bootstrap_with(&store, spec).await;
            store.close().await;
            out
        }
        Backend::Postgres => {
            let options = PgOptions { max_connections: 2, migrate: true, app_role: config.db_app_role.clone() };
            let store = PgStore::connect(&config.database_url, options).await.map_err(ServeError::from)?;
            let out = bootstrap_with(&store, spec).await;
            store.close().await;
            out
        }
    }
}

fn key(request_id: String) -> Idempotency {
    Idempotency { request_hash: request_id.clone(), request_id }
}

/// Appoints the first Chief on `store`: creates the home department and the officer if missing,
/// then the appointment. Safe to re-run after a partial failure.
pub async fn bootstrap_with<S: OfficerStore>(store: &S, spec: &ChiefSpec) -> Result<Bootstrapped, BootstrapError> {
    let department = DepartmentId::parse("department", &spec.department_id)?;
    let officer_id = OfficerId::parse("officer-id", &spec.officer_id)?;
    let display_name = required_text("name", &spec.display_name, 200)?;
    let email = work_email("email", &spec.email)?;
    let title = optional_text("title", &spec.title, 200)?;
    let identity_subject = cityserve_domain::officer::identity_subject("identity-subject", &spec.identity_subject)?;
    let system = Caller { subject: "system:bootstrap".into(), role: Role::Chief, departments: vec![] };
    let scope = authorize(&system, Action::AppointChief, None)
        .map_err(|_| BootstrapError::Invalid("bootstrap scope".into()))?;
    let network = store.cso_network(&scope, now_micros().year()).await?;
    if let Some((a, _)) = network.chief {
        return Err(BootstrapError::ChiefExists(cityserve_store::resource::officer(&a.department_id, &a.officer_id)));
    }
    let ctx = |action| WriteCtx { scope: &scope, actor: &system, action, trace_id: None };
    match store.get_department(&scope, &department).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            let name = required_text("department-name", &spec.department_name, 200)?;
            let targets = ServiceTargets::new(86_400, 10 * 86_400).map_err(BootstrapError::from)?;
            let new = NewDepartment {
                id: department.clone(),
                display_name: name,
                description: String::new(),
                default_targets: targets,
            };
            store
                .create_department(&ctx("department.create"), &key(format!("bootstrap-department-{department}")), &new)
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    match store.get_officer(&scope, &department, &officer_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            let new = NewOfficer {
                department_id: department.clone(),
                id: officer_id.clone(),
                display_name,
                email,
                title,
                identity_subject,
                kind: OfficerKind::Staff,
            };
            store.create_officer(&ctx("officer.create"), &key(format!("bootstrap-officer-{officer_id}")), &new).await?;
        }
        Err(e) => return Err(e.into()),
    }
    let appointment = NewAppointment {
        department_id: department.clone(),
        id: AppointmentId::parse("id", &format!("ap-{}", uuid::Uuid::now_v7().simple()))?,
        seat: Seat::Chief,
        officer_id: officer_id.clone(),
        replaces: None,
    };
    let a = store
        .appoint(&ctx("appointment.chief"), &key(format!("bootstrap-chief-{}", appointment.id)), &appointment)
        .await?;
    Ok(Bootstrapped {
        officer: cityserve_store::resource::officer(&department, &officer_id),
        appointment: cityserve_store::resource::appointment(&a.department_id, &a.id),
    })
}
