//! [`OfficerStore`] on SQLite.
use crate::{SqliteStore, claim_key, corrupt, db_err, in_scope, read_department, record, scope_clause};
use cityserve_domain::officer::roles_to_string;
use cityserve_domain::{
    Appointment, AppointmentId, Competency, CompetencyId, CsoNetwork, DepartmentId, NetworkSeat, NewAppointment,
    NewCompetency, NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerId, OfficerKind,
    OfficerStatus, Page, PageRequest, Plan, PlanChange, PlanContent, PlanRevision, PlanStatus, Recognition, Role, Seat,
    Standing, TenantScope, TrainingRecord,
};
use cityserve_store::officers::{AppointmentFilter, CompetencySnapshot};
use cityserve_store::{Idempotency, OfficerStore, StoreError, StoreResult, WriteCtx, now_micros, resource};

use cityserve_store_sql::officers::{
    APPOINTMENT_COLUMNS, COMPETENCY_COLUMNS, OFFICER_SELECT, PLAN_COLUMNS, RECOGNITION_COLUMNS, REVISION_COLUMNS,
    TRAINING_COLUMNS,
};
use cityserve_store_sql::rows::{
    appointment as appointment_from, competency as competency_from, officer as officer_from, plan as plan_from,
    plan_revision as revision_from, recognition as recognition_from, training as training_from,
};

fn json_text(content: &PlanContent) -> StoreResult<String> {
    serde_json::to_string(content).map_err(|e| StoreError::Internal(e.to_string()))
}

cityserve_store_sql::officer_reads!();

cityserve_store_sql::officer_store!(SqliteStore);

impl SqliteStore {
    async fn list_officers_in(
        &self,
        scope: &TenantScope,
        filter: &OfficerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Officer>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let mut sql = format!("SELECT * FROM ({OFFICER_SELECT}) v WHERE officer_id > ?");
        if filter.department.is_some() {
            sql.push_str(" AND department_id = ?");
        }
        if let Some(clause) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {clause}"));
        }
        if filter.status.is_some() {
            sql.push_str(" AND status = ?");
        }
        match filter.role {
            None => {}
            Some(Role::Chief) => sql.push_str(" AND seat = 'chief'"),
            Some(Role::Cso) => sql.push_str(" AND seat = 'cso'"),
            Some(Role::Staff) => sql.push_str(" AND seat IS NULL AND kind = 'staff'"),
            Some(Role::Auditor) => sql.push_str(" AND seat IS NULL AND kind = 'auditor'"),
            Some(Role::Service) => sql.push_str(" AND 1 = 0"),
        }
        sql.push_str(" ORDER BY officer_id LIMIT ?");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(page.after.clone().unwrap_or_default());
        if let Some(d) = &filter.department {
            q = q.bind(d.as_str());
        }
        for d in scope.departments().unwrap_or_default() {
            q = q.bind(d.as_str());
        }
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(officer_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |o| o.id.to_string()))
    }

    async fn list_appointments_in(
        &self,
        scope: &TenantScope,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Appointment>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let mut sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE (? = '' OR appointment_id < ?)");
        if filter.department.is_some() {
            sql.push_str(" AND department_id = ?");
        }
        if let Some(clause) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {clause}"));
        }
        if filter.seat.is_some() {
            sql.push_str(" AND seat = ?");
        }
        if filter.officer.is_some() {
            sql.push_str(" AND officer_id = ?");
        }
        if filter.active_only {
            sql.push_str(" AND end_time IS NULL");
        }
        sql.push_str(" ORDER BY appointment_id DESC LIMIT ?");
        let after = page.after.clone().unwrap_or_default();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.clone()).bind(after);
        if let Some(d) = &filter.department {
            q = q.bind(d.as_str());
        }
        for d in scope.departments().unwrap_or_default() {
            q = q.bind(d.as_str());
        }
        if let Some(s) = filter.seat {
            q = q.bind(s.as_str());
        }
        if let Some(o) = &filter.officer {
            q = q.bind(o.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(appointment_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |a| a.id.to_string()))
    }

    async fn list_recognitions_in(
        &self,
        scope: &TenantScope,
        department: Option<&DepartmentId>,
        page: &PageRequest,
    ) -> StoreResult<Page<Recognition>> {
        if let Some(d) = department {
            in_scope(scope, d)?;
        }
        let mut sql = format!("SELECT {RECOGNITION_COLUMNS} FROM recognitions WHERE (? = '' OR recognition_id < ?)");
        if department.is_some() {
            sql.push_str(" AND department_id = ?");
        }
        if let Some(clause) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {clause}"));
        }
        sql.push_str(" ORDER BY recognition_id DESC LIMIT ?");
        let after = page.after.clone().unwrap_or_default();
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.clone()).bind(after);
        if let Some(d) = department {
            q = q.bind(d.as_str());
        }
        for d in scope.departments().unwrap_or_default() {
            q = q.bind(d.as_str());
        }
        let rows = q.bind(i64::from(page.size) + 1).fetch_all(&self.pool).await.map_err(db_err)?;
        let items = rows.iter().map(recognition_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |r| r.id.to_string()))
    }
}
