//! Officers, appointments, competencies, training records, recognitions and plans: column lists,
//! statements and read helpers ([`officer_reads!`]) shared by both backends.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::args::{Lists, Select};
use cityserve_domain::{DepartmentId, OfficerFilter, OfficerId, OfficerStatus, PageRequest, Role, Seat, TenantScope};
use cityserve_store::officers::AppointmentFilter;

macro_rules! officer_select {
    () => {
        "SELECT o.department_id, o.officer_id, o.display_name, o.email, o.title, o.identity_subject, o.kind,
            o.status, o.revision, o.create_time, o.update_time,
            (SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
             ORDER BY a.seat LIMIT 1) AS seat,
            (SELECT count(*) FROM recognitions r WHERE r.department_id = o.department_id AND r.officer_id = o.officer_id)
                AS recognition_count
         FROM officers o"
    };
}
macro_rules! appointment_columns {
    () => {
        "department_id, appointment_id, seat, officer_id, start_time, end_time, appointed_by, ended_by, end_reason"
    };
}
macro_rules! competency_columns {
    () => {
        "department_id, competency_id, display_name, description, required_for, revision, create_time, update_time"
    };
}
macro_rules! training_columns {
    () => {
        "department_id, record_id, officer_id, competency_id, complete_time, expire_time, notes, recorded_by, \
         create_time"
    };
}
macro_rules! recognition_columns {
    () => {
        "department_id, recognition_id, officer_id, recognized_by, story, feedback, create_time"
    };
}
macro_rules! plan_columns {
    () => {
        "department_id, year, content, status, review_comment, revision, create_time, update_time"
    };
}

/// Officers with their current seat and recognition count (filter with `o.` columns).
pub const OFFICER_SELECT: &str = officer_select!();
/// The columns [`crate::rows::appointment`] reads.
pub const APPOINTMENT_COLUMNS: &str = appointment_columns!();
/// The columns [`crate::rows::competency`] reads.
pub const COMPETENCY_COLUMNS: &str = competency_columns!();
/// The columns [`crate::rows::training`] reads.
pub const TRAINING_COLUMNS: &str = training_columns!();
/// The columns [`crate::rows::recognition`] reads.
pub const RECOGNITION_COLUMNS: &str = recognition_columns!();
/// The columns [`crate::rows::plan`] reads.
pub const PLAN_COLUMNS: &str = plan_columns!();
/// The columns [`crate::rows::plan_revision`] reads.
pub const REVISION_COLUMNS: &str =
    "department_id, year, revision, change, content, status, comment, author, create_time";

/// One officer by department and ID.
pub const SELECT_OFFICER: &str = concat!(officer_select!(), " WHERE o.department_id = $1 AND o.officer_id = $2");
/// One appointment by department and ID.
pub const SELECT_APPOINTMENT: &str =
    concat!("SELECT ", appointment_columns!(), " FROM appointments WHERE department_id = $1 AND appointment_id = $2");
/// One competency by department and ID.
pub const SELECT_COMPETENCY: &str =
    concat!("SELECT ", competency_columns!(), " FROM competencies WHERE department_id = $1 AND competency_id = $2");
/// One training record by department and ID.
pub const SELECT_TRAINING: &str =
    concat!("SELECT ", training_columns!(), " FROM training_records WHERE department_id = $1 AND record_id = $2");
/// One recognition by department and ID.
pub const SELECT_RECOGNITION: &str =
    concat!("SELECT ", recognition_columns!(), " FROM recognitions WHERE department_id = $1 AND recognition_id = $2");
/// A department's plan for a year.
pub const SELECT_PLAN: &str = concat!("SELECT ", plan_columns!(), " FROM plans WHERE department_id = $1 AND year = $2");
/// Appends a plan revision.
pub const INSERT_REVISION: &str =
    "INSERT INTO plan_revisions (department_id, year, revision, change, content, status, comment, author, create_time)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// A page of officers: those of `filter` in `scope`, by ID.
pub fn list_officers(lists: Lists, scope: &TenantScope, filter: &OfficerFilter, page: &PageRequest) -> Select {
    let mut q = Select::new(lists, concat!("SELECT * FROM (", officer_select!(), ") v"));
    let after = q.arg(page.after.as_deref().unwrap_or_default());
    q.and(&format!("officer_id > {after}"))
        .and_eq("department_id", filter.department.as_ref().map(DepartmentId::as_str))
        .and_in_scope(scope, &["department_id"])
        .and_eq("status", filter.status.map(OfficerStatus::as_str));
    match filter.role {
        None => {}
        Some(Role::Chief) => {
            q.and("seat = 'chief'");
        }
        Some(Role::Cso) => {
            q.and("seat = 'cso'");
        }
        Some(Role::Staff) => {
            q.and("seat IS NULL AND kind = 'staff'");
        }
        Some(Role::Auditor) => {
            q.and("seat IS NULL AND kind = 'auditor'");
        }
        Some(Role::Service) => {
            q.and("1 = 0");
        }
    }
    q.page("officer_id", page.size);
    q
}

/// A page of appointments: those of `filter` in `scope`, newest first.
pub fn list_appointments(lists: Lists, scope: &TenantScope, filter: &AppointmentFilter, page: &PageRequest) -> Select {
    let mut q = Select::new(lists, concat!("SELECT ", appointment_columns!(), " FROM appointments"));
    q.and_before("appointment_id", page.after.as_deref().filter(|a| !a.is_empty()))
        .and_eq("department_id", filter.department.as_ref().map(DepartmentId::as_str))
        .and_in_scope(scope, &["department_id"])
        .and_eq("seat", filter.seat.map(Seat::as_str))
        .and_eq("officer_id", filter.officer.as_ref().map(OfficerId::as_str));
    if filter.active_only {
        q.and("end_time IS NULL");
    }
    q.page("appointment_id DESC", page.size);
    q
}

/// A page of recognitions: those of `department` (`None`: every one) in `scope`, newest first.
pub fn list_recognitions(
    lists: Lists,
    scope: &TenantScope,
    department: Option<&DepartmentId>,
    page: &PageRequest,
) -> Select {
    let mut q = Select::new(lists, concat!("SELECT ", recognition_columns!(), " FROM recognitions"));
    q.and_before("recognition_id", page.after.as_deref().filter(|a| !a.is_empty()))
        .and_eq("department_id", department.map(DepartmentId::as_str))
        .and_in_scope(scope, &["department_id"])
        .page("recognition_id DESC", page.size);
    q
}

/// The names [`crate::officer_store!`] and [`crate::officer_reads!`] use unqualified: a backend's
/// officers module imports them all (`use cityserve_store_sql::officers::prelude::*`), next to its
/// own `claim_key`, `corrupt`, `db_err`, `in_scope`, `read_department` and `record`.
pub mod prelude {
    pub use super::{
        APPOINTMENT_COLUMNS, COMPETENCY_COLUMNS, OFFICER_SELECT, PLAN_COLUMNS, REVISION_COLUMNS, TRAINING_COLUMNS,
    };
    pub use crate::rows::{
        appointment as appointment_from, competency as competency_from, officer as officer_from, plan as plan_from,
        plan_revision as revision_from, recognition as recognition_from, training as training_from,
    };
    pub use cityserve_domain::officer::roles_to_string;
    pub use cityserve_domain::{
        Appointment, AppointmentId, Competency, CompetencyId, CsoNetwork, DepartmentId, NetworkSeat, NewAppointment,
        NewCompetency, NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerId, OfficerKind,
        OfficerStatus, Page, PageRequest, Plan, PlanChange, PlanContent, PlanRevision, PlanStatus, Recognition, Seat,
        Standing, TenantScope, TrainingRecord,
    };
    pub use cityserve_store::officers::{AppointmentFilter, CompetencySnapshot, SignIn};
    pub use cityserve_store::{Idempotency, OfficerStore, StoreError, StoreResult, WriteCtx, now_micros, resource};
}

/// Read helpers for the CSO network, expanded in a backend's officers module; they run on
/// `crate::Conn` and map errors with `crate::db_err`.
#[macro_export]
macro_rules! officer_reads {
    () => {
        $crate::officer_reads!(@one read_officer, SELECT_OFFICER, officer, &str, cityserve_domain::Officer);
        $crate::officer_reads!(@one read_appointment, SELECT_APPOINTMENT, appointment, &str, cityserve_domain::Appointment);
        $crate::officer_reads!(@one read_competency, SELECT_COMPETENCY, competency, &str, cityserve_domain::Competency);
        $crate::officer_reads!(@one read_training, SELECT_TRAINING, training, &str, cityserve_domain::TrainingRecord);
        $crate::officer_reads!(@one read_recognition, SELECT_RECOGNITION, recognition, &str, cityserve_domain::Recognition);
        $crate::officer_reads!(@one read_plan, SELECT_PLAN, plan, i32, cityserve_domain::Plan);

        /// Fails with a precondition error unless department `d` is active.
        async fn require_active_department(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<()> {
            if crate::read_department(conn, d).await?.status != cityserve_domain::DepartmentStatus::Active {
                return Err(cityserve_store::StoreError::FailedPrecondition(format!("department {d} is archived")));
            }
            Ok(())
        }

        /// Appends `plan` as it now stands to its revision history.
        async fn append_revision(
            conn: &mut crate::Conn,
            plan: &cityserve_domain::Plan,
            change: cityserve_domain::PlanChange,
            comment: &str,
            author: &str,
        ) -> cityserve_store::StoreResult<()> {
            sqlx::query($crate::officers::INSERT_REVISION)
                .bind(plan.department_id.as_str())
                .bind(plan.year)
                .bind(plan.revision)
                .bind(change.as_str())
                .bind(sqlx::types::Json(&plan.content))
                .bind(plan.status.as_str())
                .bind(comment)
                .bind(author)
                .bind(crate::at(plan.update_time))
                .execute(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            Ok(())
        }
    };
    (@one $name:ident, $sql:ident, $row:ident, $key:ty, $out:ty) => {
        /// Reads one row by department and key ([`cityserve_store::StoreError::NotFound`] if none).
        async fn $name(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            key: $key,
        ) -> cityserve_store::StoreResult<$out> {
            let row = sqlx::query($crate::officers::$sql)
                .bind(d.as_str())
                .bind(key)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::$row(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }
    };
}

mod store;
