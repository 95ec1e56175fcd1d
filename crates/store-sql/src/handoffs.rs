//! Hand-offs: statements and the whole [`cityserve_store::HandoffStore`] implementation, written
//! once ([`crate::handoff_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::args::{Lists, Select};
use cityserve_domain::coordination::HandoffStatus;
use cityserve_domain::{CaseId, PageRequest, TenantScope};
use cityserve_store::coordination::{Direction, HandoffFilter};

/// A case's path (`$1`, `$2`: department and case; a backend may append its row lock).
pub const SELECT_CASE_PATH: &str = "SELECT path FROM cases WHERE department_id = $1 AND case_id = $2";
/// Locks a case's row (with the backend's row lock appended; not run where rows are not locked).
pub const LOCK_CASE: &str = "SELECT 1 FROM cases WHERE department_id = $1 AND case_id = $2";
/// The pending hand-off of a case, if any.
pub const SELECT_PENDING: &str =
    "SELECT handoff_id FROM handoffs WHERE department_id = $1 AND case_id = $2 AND status = 'pending'";
/// Sends a hand-off.
pub const INSERT_HANDOFF: &str =
    "INSERT INTO handoffs (department_id, handoff_id, case_id, to_department, kind, status, reason, path, ping_pong,
         accept_due, created_by, create_time, resident_key, revision)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, 1)";
/// Records the answer to a hand-off at an expected revision.
pub const RESPOND_HANDOFF: &str =
    "UPDATE handoffs SET status = $1, decline_reason = $2, responded_by = $3, respond_time = $4, received_case = $5,
         revision = revision + 1
     WHERE department_id = $6 AND handoff_id = $7 AND revision = $8";

/// A page of hand-offs: those of `filter` in `scope` (sent or received by one of its
/// departments), newest first.
pub fn list(lists: Lists, scope: &TenantScope, filter: &HandoffFilter, page: &PageRequest) -> Select {
    let mut q = Select::new(lists, format!("SELECT {} FROM handoffs", crate::coordination::HANDOFF_COLUMNS));
    if let Some(d) = &filter.department {
        let p = q.arg(d.as_str());
        q.and(&match filter.direction {
            Direction::Any => format!("(department_id = {p} OR to_department = {p})"),
            Direction::Incoming => format!("to_department = {p}"),
            Direction::Outgoing => format!("department_id = {p}"),
        });
    }
    q.and_eq("status", filter.status.map(HandoffStatus::as_str))
        .and_eq("case_id", filter.case.as_ref().map(CaseId::as_str))
        .and_in_scope(scope, &["department_id", "to_department"])
        .and_before("handoff_id", page.after.as_deref())
        .page("handoff_id DESC", page.size);
    q
}

/// `impl HandoffStore for $store`, written once and expanded in a backend's hand-offs module.
/// It writes through the backend's one write path (`self.write(ctx)`, `crate::claim_key`,
/// `crate::record`, `crate::apply_deltas`, `self.commit(tx)`), reads in `self.read(scope)` (then
/// `finish()`), uses the read helpers of [`crate::coordination_reads!`] (in
/// `crate::coordination`) and the feedback writes (`crate::feedback::{intake, read_case,
/// read_feedback, insert_feedback, write_case, Origin}`), and what is dialect in `crate`:
/// `crate::at` (an instant as bound), `crate::text_list` (a list of IDs as an array column binds
/// it), `crate::ROW_LOCK` (the row lock, `None` where none is needed), `crate::LISTS` and
/// `crate::bind_args` (statements assembled at run time).
#[macro_export]
macro_rules! handoff_store {
    ($store:ty) => {
        impl cityserve_store::HandoffStore for $store {
            async fn send_handoff(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::coordination::NewHandoff,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Handoff> {
                use crate::coordination::read_handoff;
                use cityserve_domain::coordination::{self, Handoff, HandoffStatus};
                use cityserve_store::{StoreError, resource};
                use $crate::SqlRow;
                let d = &new.department_id;
                crate::in_scope(ctx.scope, d)?;
                crate::in_scope(ctx.scope, &new.to_department)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                if let Some(h) = crate::claim_key(&mut tx, d, idem, "handoff", new.id.as_str()).await? {
                    let h = read_handoff(&mut tx, d, &h, false).await?;
                    self.commit(tx).await?;
                    return Ok(h);
                }
                // Locks the case: a concurrent hand-off of it waits, then sees this one pending.
                let sql = $crate::with_lock($crate::handoffs::SELECT_CASE_PATH, crate::ROW_LOCK);
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(d.as_str())
                    .bind(new.case_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let path = row.ok_or(StoreError::NotFound)?.opt_texts("path")?;
                let case = crate::feedback::read_case(&mut tx, d, new.case_id.as_str()).await?;
                coordination::check_handoff(d, &new.to_department, case.status)
                    .map_err(|e| StoreError::FailedPrecondition(e.0))?;
                let receiver = crate::feedback::intake(&mut tx, &new.to_department).await.map_err(|e| match e {
                    StoreError::NotFound => {
                        StoreError::FailedPrecondition(format!("department {} does not exist", new.to_department))
                    }
                    other => other,
                })?;
                let pending: Option<String> = sqlx::query_scalar($crate::handoffs::SELECT_PENDING)
                    .bind(d.as_str())
                    .bind(case.id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if let Some(p) = pending {
                    let p = cityserve_domain::HandoffId::parse("h", &p).map_err(|_| $crate::corrupt("handoff_id"))?;
                    return Err(StoreError::FailedPrecondition(format!(
                        "the case already waits on hand-off {}",
                        resource::handoff(d, &p)
                    )));
                }
                let path = $crate::coordination::path_from(path, d)?;
                let (targets, _) = cityserve_domain::resolve_targets(
                    receiver.default_targets,
                    &receiver.standards,
                    None,
                    Some(case.channel),
                );
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
                    accept_due: coordination::accept_due(now, targets, &receiver.calendar),
                    created_by: ctx.actor.subject.clone(),
                    create_time: now,
                    responded_by: String::new(),
                    respond_time: None,
                    received_case: None,
                    revision: 1,
                };
                sqlx::query($crate::handoffs::INSERT_HANDOFF)
                    .bind(d.as_str())
                    .bind(h.id.as_str())
                    .bind(h.case_id.as_str())
                    .bind(h.to_department.as_str())
                    .bind(h.kind.as_str())
                    .bind(&h.reason)
                    .bind(crate::text_list(&h.path))
                    .bind(h.ping_pong)
                    .bind(crate::at(h.accept_due))
                    .bind(&h.created_by)
                    .bind(crate::at(now))
                    .bind(case.resident_key.as_deref())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let zone = crate::rollup_zone(&mut tx).await?;
                let deltas = cityserve_domain::report::handoff_sent_deltas(d, &h.to_department, now, zone);
                crate::apply_deltas(&mut tx, &deltas).await?;
                let name = resource::handoff(d, &h.id);
                let payload = serde_json::json!({
                    "handoff": h.id.as_str(), "case": resource::case(d, &h.case_id), "kind": h.kind.as_str(),
                    "from": d.as_str(), "to": h.to_department.as_str(), "status": "pending",
                });
                crate::record(&mut tx, ctx, d, &name, payload.clone()).await?;
                crate::record(&mut tx, ctx, &h.to_department, &name, payload).await?;
                self.commit(tx).await?;
                Ok(h)
            }

            async fn get_handoff(
                &self,
                scope: &cityserve_domain::TenantScope,
                sender: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::HandoffId,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Handoff> {
                let mut tx = self.read(scope).await?;
                let h = crate::coordination::read_handoff(&mut tx, sender, id.as_str(), false).await?;
                tx.finish().await?;
                if scope.allows(&h.department_id) || scope.allows(&h.to_department) {
                    Ok(h)
                } else {
                    Err(cityserve_store::StoreError::NotFound)
                }
            }

            async fn list_handoffs(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::coordination::HandoffFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::coordination::Handoff>> {
                if let Some(d) = &filter.department {
                    crate::in_scope(scope, d)?;
                }
                let rows = $crate::read_rows!(self, scope, $crate::handoffs::list(crate::LISTS, scope, filter, page));
                let items = rows.iter().map($crate::rows::handoff).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |h| h.id.to_string()))
            }

            async fn respond_handoff(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                sender: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::HandoffId,
                response: &cityserve_domain::coordination::HandoffResponse,
                expected_revision: Option<i64>,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Handoff> {
                use crate::coordination::read_handoff;
                use cityserve_domain::coordination::{self, HandoffKind, HandoffResponse};
                use cityserve_store::{StoreError, resource};
                crate::in_scope(ctx.scope, sender)?;
                let mut tx = self.write(ctx).await?;
                // Locked: a concurrent answer waits and then finds it answered.
                let h = read_handoff(&mut tx, sender, id.as_str(), true).await?;
                crate::in_scope(ctx.scope, &h.to_department)?;
                if expected_revision.is_some_and(|r| r != h.revision) {
                    return Err(StoreError::Conflict);
                }
                let now = cityserve_store::now_micros();
                let next = coordination::respond(&h, response, &ctx.actor.subject, now)
                    .map_err(|e| StoreError::FailedPrecondition(e.0))?;
                if let HandoffResponse::Accept { new_case, category } = response {
                    if let Some(lock) = crate::ROW_LOCK {
                        // Locks the sender's case before reading it: a concurrent save of it waits.
                        let sql = $crate::with_lock($crate::handoffs::LOCK_CASE, Some(lock));
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(sender.as_str())
                            .bind(h.case_id.as_str())
                            .execute(&mut *tx)
                            .await
                            .map_err(crate::db_err)?;
                    }
                    let case = crate::feedback::read_case(&mut tx, sender, h.case_id.as_str()).await?;
                    let original = crate::feedback::read_feedback(&mut tx, sender, h.case_id.as_str()).await?;
                    if h.kind == HandoffKind::Transfer {
                        let closed = cityserve_domain::feedback::transition(
                            &case,
                            &cityserve_domain::CaseTransition::CloseNotOurs(h.to_department.clone()),
                            now,
                        )
                        .map_err(|e| {
                            StoreError::FailedPrecondition(format!("the sender's case cannot be transferred: {e}"))
                        })?;
                        crate::feedback::write_case(&mut tx, ctx, &case, &closed, None).await?;
                    }
                    let receiver = crate::feedback::intake(&mut tx, &h.to_department).await?;
                    let copy = cityserve_domain::NewFeedback {
                        department_id: h.to_department.clone(),
                        id: new_case.clone(),
                        channel: original.channel,
                        kind: cityserve_domain::FeedbackKind::Complaint,
                        csat: None,
                        nps: None,
                        text: original.text.clone(),
                        language: original.language.clone(),
                        category: category.clone(),
                        location: original.location.clone(),
                        media: original.media.clone(),
                        attributes: original.attributes.clone(),
                        client_ids: original.client_ids.clone(),
                        occurred_at: original.occurred_at,
                        resident: None,
                        internal_customer: None,
                        survey: None,
                        served: Default::default(),
                        source: None,
                    };
                    let mut path = h.path.clone();
                    path.push(h.to_department.clone());
                    let origin = crate::feedback::Origin {
                        resident_key: case.resident_key.as_deref(),
                        path: &path,
                        first_contact_at: case.first_contact_at,
                    };
                    crate::feedback::insert_feedback(&mut tx, ctx, &receiver, &copy, now, Some(&origin)).await?;
                    if h.ping_pong {
                        let deltas =
                            cityserve_domain::report::ping_pong_deltas(sender, &h.to_department, now, receiver.rollup_zone);
                        crate::apply_deltas(&mut tx, &deltas).await?;
                    }
                }
                sqlx::query($crate::handoffs::RESPOND_HANDOFF)
                    .bind(next.status.as_str())
                    .bind(&next.decline_reason)
                    .bind(&next.responded_by)
                    .bind(next.respond_time.map(crate::at))
                    .bind(next.received_case.as_ref().map(|c| c.as_str()))
                    .bind(sender.as_str())
                    .bind(id.as_str())
                    .bind(h.revision)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let name = resource::handoff(sender, id);
                let payload = serde_json::json!({
                    "handoff": id.as_str(), "status": next.status.as_str(), "ping_pong": next.ping_pong,
                    "received_case": next.received_case.as_ref().map(|c| resource::case(&h.to_department, c)),
                });
                crate::record(&mut tx, ctx, sender, &name, payload.clone()).await?;
                crate::record(&mut tx, ctx, &h.to_department, &name, payload).await?;
                let saved = read_handoff(&mut tx, sender, id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn case_path(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                case: &cityserve_domain::CaseId,
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::DepartmentId>> {
                use $crate::SqlRow;
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                let row = sqlx::query($crate::handoffs::SELECT_CASE_PATH)
                    .bind(d.as_str())
                    .bind(case.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                $crate::coordination::path_from(row.ok_or(cityserve_store::StoreError::NotFound)?.opt_texts("path")?, d)
            }
        }
    };
}
