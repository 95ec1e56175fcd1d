//! [`OfficerStore`] on PostgreSQL. Every transaction, reads included, starts with the scope's
//! row-level-security settings (`PgStore::begin`).
use crate::{PgStore, claim_key, corrupt, db_err, in_scope, read_department, record, scope_ids};
use cityserve_domain::officer::roles_to_string;
use cityserve_domain::{
    Appointment, AppointmentId, Competency, CompetencyId, CsoNetwork, DepartmentId, NetworkSeat, NewAppointment,
    NewCompetency, NewOfficer, NewRecognition, NewTrainingRecord, Officer, OfficerFilter, OfficerId, OfficerKind,
    OfficerStatus, Page, PageRequest, Plan, PlanChange, PlanContent, PlanRevision, PlanStatus, Recognition, Role, Seat,
    Standing, TenantScope, TrainingRecord,
};
use cityserve_store::officers::{AppointmentFilter, CompetencySnapshot};
use cityserve_store::{Idempotency, OfficerStore, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::types::Json;

use cityserve_store_sql::officers::{
    APPOINTMENT_COLUMNS, COMPETENCY_COLUMNS, OFFICER_SELECT, PLAN_COLUMNS, RECOGNITION_COLUMNS, REVISION_COLUMNS,
    TRAINING_COLUMNS,
};
use cityserve_store_sql::rows::{
    appointment as appointment_from, competency as competency_from, officer as officer_from, plan as plan_from,
    plan_revision as revision_from, recognition as recognition_from, training as training_from,
};

fn json_text(content: &PlanContent) -> StoreResult<Json<&PlanContent>> {
    Ok(Json(content))
}

cityserve_store_sql::officer_reads!();

cityserve_store_sql::officer_store!(PgStore);

impl PgStore {
    async fn list_officers_in(
        &self,
        scope: &TenantScope,
        filter: &OfficerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Officer>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let role = match filter.role {
            None => "",
            Some(Role::Chief) => " AND seat = 'chief'",
            Some(Role::Cso) => " AND seat = 'cso'",
            Some(Role::Staff) => " AND seat IS NULL AND kind = 'staff'",
            Some(Role::Auditor) => " AND seat IS NULL AND kind = 'auditor'",
            Some(Role::Service) => " AND false",
        };
        let sql = format!(
            "SELECT * FROM ({OFFICER_SELECT}) v
             WHERE officer_id > $1 AND ($2::text IS NULL OR department_id = $2)
               AND ($3::text[] IS NULL OR department_id = ANY($3)) AND ($4::text IS NULL OR status = $4){role}
             ORDER BY officer_id LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(filter.department.as_ref().map(|d| d.as_str().to_owned()))
            .bind(scope_ids(scope))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
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
        let active = if filter.active_only { " AND end_time IS NULL" } else { "" };
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments
             WHERE ($1 = '' OR appointment_id < $1) AND ($2::text IS NULL OR department_id = $2)
               AND ($3::text[] IS NULL OR department_id = ANY($3)) AND ($4::text IS NULL OR seat = $4)
               AND ($5::text IS NULL OR officer_id = $5){active}
             ORDER BY appointment_id DESC LIMIT $6"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(filter.department.as_ref().map(|d| d.as_str().to_owned()))
            .bind(scope_ids(scope))
            .bind(filter.seat.map(|s| s.as_str()))
            .bind(filter.officer.as_ref().map(|o| o.as_str().to_owned()))
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
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
        let sql = format!(
            "SELECT {RECOGNITION_COLUMNS} FROM recognitions
             WHERE ($1 = '' OR recognition_id < $1) AND ($2::text IS NULL OR department_id = $2)
               AND ($3::text[] IS NULL OR department_id = ANY($3))
             ORDER BY recognition_id DESC LIMIT $4"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.clone().unwrap_or_default())
            .bind(department.map(|d| d.as_str().to_owned()))
            .bind(scope_ids(scope))
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(recognition_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |r| r.id.to_string()))
    }
}
