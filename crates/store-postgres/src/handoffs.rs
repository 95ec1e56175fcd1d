//! Hand-offs on PostgreSQL.
use crate::coordination::*;
use crate::feedback::{Origin, insert_feedback, intake, read_case, read_feedback, write_case};
use crate::{PgStore, apply_deltas, claim_key, corrupt, db_err, in_scope, record, scope_ids};
use cityserve_domain::coordination::{self, Handoff, HandoffKind, HandoffResponse, HandoffStatus, NewHandoff};
use cityserve_domain::report::{self};
use cityserve_domain::{
    CaseId, CaseTransition, DepartmentId, FeedbackKind, HandoffId, NewFeedback, Page, PageRequest, TenantScope,
    resolve_targets,
};
use cityserve_store::HandoffStore;
use cityserve_store::coordination::{Direction, HandoffFilter};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};

impl HandoffStore for PgStore {
    async fn send_handoff(&self, ctx: &WriteCtx<'_>, idem: &Idempotency, new: &NewHandoff) -> StoreResult<Handoff> {
        let d = &new.department_id;
        in_scope(ctx.scope, d)?;
        in_scope(ctx.scope, &new.to_department)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(h) = claim_key(&mut tx, d, idem, "handoff", new.id.as_str()).await? {
            let h = read_handoff(&mut tx, d, &h, false).await?;
            self.commit(tx).await?;
            return Ok(h);
        }
        // Locks the case: a concurrent hand-off of it waits, then sees this one pending.
        let path: Option<Option<Vec<String>>> =
            sqlx::query_scalar("SELECT path FROM cases WHERE department_id = $1 AND case_id = $2 FOR UPDATE")
                .bind(d.as_str())
                .bind(new.case_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        let path = path.ok_or(StoreError::NotFound)?;
        let case = read_case(&mut tx, d, new.case_id.as_str()).await?;
        coordination::check_handoff(d, &new.to_department, case.status)
            .map_err(|e| StoreError::FailedPrecondition(e.0))?;
        let receiver = intake(&mut tx, &new.to_department).await.map_err(|e| match e {
            StoreError::NotFound => {
                StoreError::FailedPrecondition(format!("department {} does not exist", new.to_department))
            }
            other => other,
        })?;
        let pending: Option<String> = sqlx::query_scalar(
            "SELECT handoff_id FROM handoffs WHERE department_id = $1 AND case_id = $2 AND status = 'pending'",
        )
        .bind(d.as_str())
        .bind(case.id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(p) = pending {
            return Err(StoreError::FailedPrecondition(format!(
                "the case already waits on hand-off {}",
                resource::handoff(d, &HandoffId::parse("h", &p).map_err(|_| corrupt("handoff_id"))?)
            )));
        }
        let path = path_from(path, d)?;
        let (targets, _) = resolve_targets(receiver.default_targets, &receiver.standards, None, Some(case.channel));
        let h = Handoff {
            department_id: d.clone(),
            id: new.id.clone(),
            case_id: new.case_id.clone(),
            to_department: new.to_department.clone(),
            kind: new.kind,
            status: HandoffStatus::Pending,
            reason: new.reason.clone(),
            decline_reason: String::new(),
            ping_pong: coordination::is_ping_pong(&path, &new.to_department),
            path,
            accept_due: coordination::accept_due(now, targets),
            created_by: ctx.actor.subject.clone(),
            create_time: now,
            responded_by: String::new(),
            respond_time: None,
            received_case: None,
            revision: 1,
        };
        sqlx::query(
            "INSERT INTO handoffs (department_id, handoff_id, case_id, to_department, kind, status, reason, path,
                 ping_pong, accept_due, created_by, create_time, resident_key, revision)
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, 1)",
        )
        .bind(d.as_str())
        .bind(h.id.as_str())
        .bind(h.case_id.as_str())
        .bind(h.to_department.as_str())
        .bind(h.kind.as_str())
        .bind(&h.reason)
        .bind(h.path.iter().map(DepartmentId::as_str).collect::<Vec<_>>())
        .bind(h.ping_pong)
        .bind(h.accept_due)
        .bind(&h.created_by)
        .bind(now)
        .bind(case.resident_key.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        apply_deltas(&mut tx, &report::handoff_sent_deltas(d, &h.to_department, now)).await?;
        let name = resource::handoff(d, &h.id);
        let payload = serde_json::json!({
            "handoff": h.id.as_str(), "case": resource::case(d, &h.case_id), "kind": h.kind.as_str(),
            "from": d.as_str(), "to": h.to_department.as_str(), "status": "pending",
        });
        record(&mut tx, ctx, d, &name, payload.clone()).await?;
        record(&mut tx, ctx, &h.to_department, &name, payload).await?;
        self.commit(tx).await?;
        Ok(h)
    }

    async fn get_handoff(&self, scope: &TenantScope, sender: &DepartmentId, id: &HandoffId) -> StoreResult<Handoff> {
        let mut tx = self.read(scope).await?;
        let h = read_handoff(&mut tx, sender, id.as_str(), false).await?;
        tx.finish().await?;
        if scope.allows(&h.department_id) || scope.allows(&h.to_department) { Ok(h) } else { Err(StoreError::NotFound) }
    }

    async fn list_handoffs(
        &self,
        scope: &TenantScope,
        filter: &HandoffFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Handoff>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let side = match filter.direction {
            Direction::Any => "(department_id = $1 OR to_department = $1)",
            Direction::Incoming => "to_department = $1",
            Direction::Outgoing => "department_id = $1",
        };
        let sql = format!(
            "SELECT {HANDOFF_COLUMNS} FROM handoffs
             WHERE ($1::text IS NULL OR {side})
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR case_id = $3)
               AND ($4::text[] IS NULL OR department_id = ANY ($4) OR to_department = ANY ($4))
               AND ($5::text IS NULL OR handoff_id < $5)
             ORDER BY handoff_id DESC LIMIT $6"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.department.as_ref().map(DepartmentId::as_str))
            .bind(filter.status.map(HandoffStatus::as_str))
            .bind(filter.case.as_ref().map(CaseId::as_str))
            .bind(scope_ids(scope))
            .bind(page.after.as_deref())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(handoff_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |h| h.id.to_string()))
    }

    async fn respond_handoff(
        &self,
        ctx: &WriteCtx<'_>,
        sender: &DepartmentId,
        id: &HandoffId,
        response: &HandoffResponse,
        expected_revision: Option<i64>,
    ) -> StoreResult<Handoff> {
        in_scope(ctx.scope, sender)?;
        let mut tx = self.write(ctx).await?;
        // Locked: a concurrent answer waits and then finds it answered.
        let h = read_handoff(&mut tx, sender, id.as_str(), true).await?;
        in_scope(ctx.scope, &h.to_department)?;
        if expected_revision.is_some_and(|r| r != h.revision) {
            return Err(StoreError::Conflict);
        }
        let now = now_micros();
        let next = coordination::respond(&h, response, &ctx.actor.subject, now)
            .map_err(|e| StoreError::FailedPrecondition(e.0))?;
        if let HandoffResponse::Accept { new_case, category } = response {
            // Locks the sender's case before reading it: a concurrent save of it waits.
            sqlx::query("SELECT 1 FROM cases WHERE department_id = $1 AND case_id = $2 FOR UPDATE")
                .bind(sender.as_str())
                .bind(h.case_id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let case = read_case(&mut tx, sender, h.case_id.as_str()).await?;
            let original = read_feedback(&mut tx, sender, h.case_id.as_str()).await?;
            if h.kind == HandoffKind::Transfer {
                let closed = cityserve_domain::feedback::transition(
                    &case,
                    &CaseTransition::CloseNotOurs(h.to_department.clone()),
                    now,
                )
                .map_err(|e| StoreError::FailedPrecondition(format!("the sender's case cannot be transferred: {e}")))?;
                write_case(&mut tx, ctx, &case, &closed, None).await?;
            }
            let receiver = intake(&mut tx, &h.to_department).await?;
            let copy = NewFeedback {
                department_id: h.to_department.clone(),
                id: new_case.clone(),
                channel: original.channel,
                kind: FeedbackKind::Complaint,
                csat: None,
                nps: None,
                text: original.text.clone(),
                language: original.language.clone(),
                category: category.clone(),
                location: original.location.clone(),
                occurred_at: original.occurred_at,
                resident: None,
                internal_customer: None,
                source: None,
            };
            let mut path = h.path.clone();
            path.push(h.to_department.clone());
            let origin = Origin { resident_key: case.resident_key.as_deref(), path: &path };
            insert_feedback(&mut tx, ctx, &receiver, &copy, now, Some(&origin)).await?;
            if h.ping_pong {
                apply_deltas(&mut tx, &report::ping_pong_deltas(sender, &h.to_department, now)).await?;
            }
        }
        sqlx::query(
            "UPDATE handoffs SET status = $1, decline_reason = $2, responded_by = $3, respond_time = $4,
                 received_case = $5, revision = revision + 1
             WHERE department_id = $6 AND handoff_id = $7 AND revision = $8",
        )
        .bind(next.status.as_str())
        .bind(&next.decline_reason)
        .bind(&next.responded_by)
        .bind(next.respond_time)
        .bind(next.received_case.as_ref().map(CaseId::as_str))
        .bind(sender.as_str())
        .bind(id.as_str())
        .bind(h.revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::handoff(sender, id);
        let payload = serde_json::json!({
            "handoff": id.as_str(), "status": next.status.as_str(), "ping_pong": next.ping_pong,
            "received_case": next.received_case.as_ref().map(|c| resource::case(&h.to_department, c)),
        });
        record(&mut tx, ctx, sender, &name, payload.clone()).await?;
        record(&mut tx, ctx, &h.to_department, &name, payload).await?;
        let saved = read_handoff(&mut tx, sender, id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn case_path(&self, scope: &TenantScope, d: &DepartmentId, case: &CaseId) -> StoreResult<Vec<DepartmentId>> {
        in_scope(scope, d)?;
        let mut tx = self.read(scope).await?;
        let path: Option<Option<Vec<String>>> =
            sqlx::query_scalar("SELECT path FROM cases WHERE department_id = $1 AND case_id = $2")
                .bind(d.as_str())
                .bind(case.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.finish().await?;
        path_from(path.ok_or(StoreError::NotFound)?, d)
    }
}
