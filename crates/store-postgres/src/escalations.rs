//! Escalations on PostgreSQL.
use crate::coordination::*;
use crate::feedback::read_case;
use crate::{PgStore, claim_key, corrupt, db_err, id, in_scope, record, scope_ids};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::{Escalation, EscalationStatus, EscalationTrigger};
use cityserve_domain::{CaseId, DepartmentId, EscalationId, HandoffId, Page, PageRequest, TenantScope};
use cityserve_store::EscalationStore;
use cityserve_store::coordination::{EscalationFilter, NewEscalation};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, generated_id, now_micros, resource};

impl EscalationStore for PgStore {
    async fn escalate_case(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewEscalation,
    ) -> StoreResult<Escalation> {
        let d = &new.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(e) = claim_key(&mut tx, d, idem, "escalation", new.id.as_str()).await? {
            let e = read_escalation(&mut tx, d, &e).await?;
            self.commit(tx).await?;
            return Ok(e);
        }
        read_case(&mut tx, d, new.case_id.as_str()).await?;
        let e = Escalation {
            department_id: d.clone(),
            id: new.id.clone(),
            case_department: d.clone(),
            case_id: new.case_id.clone(),
            handoff: None,
            trigger: EscalationTrigger::Manual,
            status: EscalationStatus::Open,
            reason: new.reason.clone(),
            resolution: String::new(),
            created_by: ctx.actor.subject.clone(),
            create_time: now,
            acknowledge_time: None,
            resolve_time: None,
            revision: 1,
        };
        insert_escalation(&mut tx, ctx, &e).await?;
        self.commit(tx).await?;
        Ok(e)
    }

    async fn get_escalation(&self, scope: &TenantScope, d: &DepartmentId, e: &EscalationId) -> StoreResult<Escalation> {
        in_scope(scope, d)?;
        let mut tx = self.read(scope).await?;
        let found = read_escalation(&mut tx, d, e.as_str()).await?;
        tx.finish().await?;
        Ok(found)
    }

    async fn list_escalations(
        &self,
        scope: &TenantScope,
        filter: &EscalationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Escalation>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations
             WHERE ($1::text IS NULL OR department_id = $1)
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text[] IS NULL OR department_id = ANY ($3))
               AND ($4::text IS NULL OR escalation_id < $4)
             ORDER BY escalation_id DESC LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.department.as_ref().map(DepartmentId::as_str))
            .bind(filter.status.map(EscalationStatus::as_str))
            .bind(scope_ids(scope))
            .bind(page.after.as_deref())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(escalation_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |e| e.id.to_string()))
    }

    async fn save_escalation(
        &self,
        ctx: &WriteCtx<'_>,
        e: &Escalation,
        expected_revision: i64,
    ) -> StoreResult<Escalation> {
        let d = &e.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let done = sqlx::query(
            "UPDATE escalations SET status = $1, resolution = $2, acknowledge_time = $3, resolve_time = $4,
                 revision = revision + 1
             WHERE department_id = $5 AND escalation_id = $6 AND revision = $7",
        )
        .bind(e.status.as_str())
        .bind(&e.resolution)
        .bind(e.acknowledge_time)
        .bind(e.resolve_time)
        .bind(d.as_str())
        .bind(e.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            read_escalation(&mut tx, d, e.id.as_str()).await?;
            return Err(StoreError::Conflict);
        }
        let payload = serde_json::json!({ "escalation": e.id.as_str(), "status": e.status.as_str() });
        record(&mut tx, ctx, d, &resource::escalation(d, &e.id), payload).await?;
        let saved = read_escalation(&mut tx, d, e.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn scan_breaches(&self, ctx: &WriteCtx<'_>, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Escalation>> {
        let mut tx = self.write(ctx).await?;
        // One scanner at a time across replicas; the others leave the work to it. The lock is
        // released at commit, and a later scanner's statements see what this one committed.
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(BREACH_SCAN_LOCK)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        if !locked {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let limit = i64::from(limit);
        let mut breaches: Vec<(DepartmentId, CaseId, EscalationTrigger, Option<HandoffId>, DepartmentId)> = Vec::new();
        // Candidates are locked, skipping rows a concurrent write holds (they are picked up by the
        // next scan); the unique index on dedupe keys makes each escalation happen once anyway.
        for (trigger, sql) in [
            (
                EscalationTrigger::AcknowledgeBreach,
                "SELECT department_id, case_id FROM cases c WHERE status = 'open' AND acknowledge_due < $1
                   AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
                       AND e.dedupe_key = 'acknowledge_breach:' || c.department_id || '/' || c.case_id)
                 ORDER BY acknowledge_due LIMIT $2
                 FOR NO KEY UPDATE SKIP LOCKED",
            ),
            (
                EscalationTrigger::ResolveBreach,
                "SELECT department_id, case_id FROM cases c
                 WHERE status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < $1
                   AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
                       AND e.dedupe_key = 'resolve_breach:' || c.department_id || '/' || c.case_id)
                 ORDER BY resolve_due LIMIT $2
                 FOR NO KEY UPDATE SKIP LOCKED",
            ),
        ] {
            let rows = sqlx::query(sql).bind(now).bind(limit).fetch_all(&mut *tx).await.map_err(db_err)?;
            for row in &rows {
                let d = id(row, "department_id", DepartmentId::parse)?;
                breaches.push((d.clone(), id(row, "case_id", CaseId::parse)?, trigger, None, d));
            }
        }
        let rows = sqlx::query(
            "SELECT department_id, handoff_id, case_id, to_department FROM handoffs h
             WHERE status = 'pending' AND accept_due < $1
               AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = h.to_department
                   AND e.dedupe_key = 'handoff:' || h.handoff_id)
             ORDER BY accept_due LIMIT $2
             FOR NO KEY UPDATE SKIP LOCKED",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        for row in &rows {
            breaches.push((
                id(row, "department_id", DepartmentId::parse)?,
                id(row, "case_id", CaseId::parse)?,
                EscalationTrigger::HandoffTimeout,
                Some(id(row, "handoff_id", HandoffId::parse)?),
                id(row, "to_department", DepartmentId::parse)?,
            ));
        }
        let mut out = Vec::new();
        for (case_department, case_id, trigger, handoff, accountable) in
            breaches.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX))
        {
            let reason = match trigger {
                EscalationTrigger::AcknowledgeBreach => "not acknowledged by its due time".to_owned(),
                EscalationTrigger::ResolveBreach => "not resolved by its due time".to_owned(),
                _ => format!("hand-off not answered by {accountable} in time"),
            };
            let e = Escalation {
                department_id: accountable,
                id: EscalationId::parse("id", &generated_id("es")).map_err(|_| corrupt("escalation id"))?,
                handoff: handoff.map(|h| (case_department.clone(), h)),
                case_department,
                case_id,
                trigger,
                status: EscalationStatus::Open,
                reason,
                resolution: String::new(),
                created_by: ctx.actor.subject.clone(),
                create_time: now_micros(),
                acknowledge_time: None,
                resolve_time: None,
                revision: 1,
            };
            if insert_escalation(&mut tx, ctx, &e).await? {
                out.push(e);
            }
        }
        self.commit(tx).await?;
        Ok(out)
    }
}
