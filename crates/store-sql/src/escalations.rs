//! Escalations: statements, the breach scan's logic and the whole
//! [`cityserve_store::EscalationStore`] implementation, written once ([`crate::escalation_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::args::{Lists, Select};
use crate::{SqlRow, corrupt};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::{Escalation, EscalationStatus, EscalationTrigger};
use cityserve_domain::{CaseId, DepartmentId, EscalationId, HandoffId, PageRequest, TenantScope};
use cityserve_store::coordination::EscalationFilter;
use cityserve_store::{StoreResult, generated_id};

/// Writes an escalation's status, resolution and times at an expected revision.
pub const UPDATE_ESCALATION: &str =
    "UPDATE escalations SET status = $1, resolution = $2, acknowledge_time = $3, resolve_time = $4,
         revision = revision + 1
     WHERE department_id = $5 AND escalation_id = $6 AND revision = $7";

/// The breaches a scan looks for, by trigger: the cases past a due time and the pending hand-offs
/// past their answer time (`$1`: now, `$2`: how many at most) not escalated for it yet, read by
/// [`breach`]; a backend may append its row lock.
pub const BREACH_SCANS: [(EscalationTrigger, &str); 3] = [
    (
        EscalationTrigger::AcknowledgeBreach,
        "SELECT department_id, case_id FROM cases c WHERE status = 'open' AND acknowledge_due < $1
           AND waiting_since IS NULL
           AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
               AND e.dedupe_key = 'acknowledge_breach:' || c.department_id || '/' || c.case_id)
           AND NOT EXISTS (SELECT 1 FROM escalation_covers v WHERE v.department_id = c.department_id
               AND v.dedupe_key = 'acknowledge_breach:' || c.department_id || '/' || c.case_id)
         ORDER BY acknowledge_due LIMIT $2",
    ),
    (
        EscalationTrigger::ResolveBreach,
        "SELECT department_id, case_id FROM cases c
         WHERE status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < $1 AND waiting_since IS NULL
           AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
               AND e.dedupe_key = 'resolve_breach:' || c.department_id || '/' || c.case_id)
           AND NOT EXISTS (SELECT 1 FROM escalation_covers v WHERE v.department_id = c.department_id
               AND v.dedupe_key = 'resolve_breach:' || c.department_id || '/' || c.case_id)
         ORDER BY resolve_due LIMIT $2",
    ),
    (
        EscalationTrigger::HandoffTimeout,
        "SELECT department_id, handoff_id, case_id, to_department FROM handoffs h
         WHERE status = 'pending' AND accept_due < $1
           AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = h.to_department
               AND e.dedupe_key = 'handoff:' || h.handoff_id)
           AND NOT EXISTS (SELECT 1 FROM escalation_covers v WHERE v.department_id = h.to_department
               AND v.dedupe_key = 'handoff:' || h.handoff_id)
         ORDER BY accept_due LIMIT $2",
    ),
];

/// A breach the scan found: the case, what was breached, the hand-off (for a timeout) and the
/// department accountable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The case's department.
    pub case_department: DepartmentId,
    /// The case.
    pub case_id: CaseId,
    /// What was breached.
    pub trigger: EscalationTrigger,
    /// The hand-off not answered in time (of the case's department).
    pub handoff: Option<HandoffId>,
    /// Who the escalation is against.
    pub accountable: DepartmentId,
}

/// A [`BREACH_SCANS`] row of `trigger`'s scan: a case's own department is accountable for its
/// due times, the receiving department for answering a hand-off.
pub fn breach(trigger: EscalationTrigger, row: &impl SqlRow) -> StoreResult<Breach> {
    let case_department = row.id("department_id", DepartmentId::parse)?;
    let (handoff, accountable) = match trigger {
        EscalationTrigger::HandoffTimeout => {
            (Some(row.id("handoff_id", HandoffId::parse)?), row.id("to_department", DepartmentId::parse)?)
        }
        _ => (None, case_department.clone()),
    };
    Ok(Breach { case_id: row.id("case_id", CaseId::parse)?, case_department, trigger, handoff, accountable })
}

/// The automatic escalation of a breach, created by `actor` at `now`.
pub fn automatic(b: Breach, actor: &str, now: DateTime<Utc>) -> StoreResult<Escalation> {
    let reason = match b.trigger {
        EscalationTrigger::AcknowledgeBreach => "not acknowledged by its due time".to_owned(),
        EscalationTrigger::ResolveBreach => "not resolved by its due time".to_owned(),
        _ => format!("hand-off not answered by {} in time", b.accountable),
    };
    Ok(Escalation {
        department_id: b.accountable,
        id: EscalationId::parse("id", &generated_id("es")).map_err(|_| corrupt("escalation id"))?,
        handoff: b.handoff.map(|h| (b.case_department.clone(), h)),
        case_department: b.case_department,
        case_id: b.case_id,
        trigger: b.trigger,
        status: EscalationStatus::Open,
        reason,
        resolution: String::new(),
        created_by: actor.to_owned(),
        create_time: now,
        acknowledge_time: None,
        resolve_time: None,
        revision: 1,
        breach_count: 1,
        digest_cases: Vec::new(),
    })
}

/// Records that a digest escalation covers a breach (its dedupe key), so later scans pass it by.
pub const INSERT_COVER: &str = "INSERT INTO escalation_covers (department_id, dedupe_key, escalation_id)
     VALUES ($1, $2, $3) ON CONFLICT (department_id, dedupe_key) DO NOTHING";

/// The one escalation that stands for `breaches` (all against one department, oldest first):
/// the count, the oldest cases, and the oldest as its case.
pub fn digest(breaches: &[Breach], actor: &str, now: DateTime<Utc>) -> StoreResult<Escalation> {
    use cityserve_domain::coordination::DIGEST_OLDEST;
    let oldest = breaches.first().cloned().ok_or_else(|| corrupt("empty digest"))?;
    let cases: Vec<String> = breaches
        .iter()
        .map(|b| cityserve_store::resource::case(&b.case_department, &b.case_id))
        .fold(Vec::new(), |mut seen, c| {
            if !seen.contains(&c) {
                seen.push(c);
            }
            seen
        });
    let mut e = automatic(oldest, actor, now)?;
    e.breach_count = i32::try_from(breaches.len()).unwrap_or(i32::MAX);
    e.reason = format!(
        "{} breaches found at once (an import of old open cases or a long outage?), sent as one digest; \
         the oldest are listed",
        breaches.len()
    );
    e.digest_cases = cases.into_iter().take(DIGEST_OLDEST).collect();
    Ok(e)
}

/// A breach's dedupe key (what [`BREACH_SCANS`] and [`INSERT_COVER`] match on).
pub fn breach_key(b: &Breach) -> Option<String> {
    cityserve_domain::coordination::dedupe_key(b.trigger, &b.case_department, &b.case_id, b.handoff.as_ref())
}

/// A page of escalations: those of `filter` in `scope`, newest first.
pub fn list(lists: Lists, scope: &TenantScope, filter: &EscalationFilter, page: &PageRequest) -> Select {
    let mut q = Select::new(lists, format!("SELECT {} FROM escalations", crate::coordination::ESCALATION_COLUMNS));
    q.and_eq("department_id", filter.department.as_ref().map(DepartmentId::as_str))
        .and_eq("status", filter.status.map(EscalationStatus::as_str))
        .and_in_scope(scope, &["department_id"])
        .and_before("escalation_id", page.after.as_deref())
        .page("escalation_id DESC", page.size);
    q
}

/// `impl EscalationStore for $store`, written once and expanded in a backend's escalations
/// module. It writes through the backend's one write path (`self.write(ctx)`, `crate::claim_key`,
/// `crate::record`, `self.commit(tx)`; `rollback()` abandons a write), reads in
/// `self.read(scope)` (then `finish()`), uses the helpers of [`crate::coordination_reads!`] (in
/// `crate::coordination`), `crate::at`, `crate::LISTS` and `crate::bind_args`, and what is dialect
/// in the module itself:
/// - `lock_scan(tx)`, whether this transaction may scan (one scanner at a time);
/// - `SKIP_LOCKED`, the lock the scan takes on its candidates, skipping rows others hold (`None`
///   where the write transaction already excludes every other writer).
#[macro_export]
macro_rules! escalation_store {
    ($store:ty) => {
        impl cityserve_store::EscalationStore for $store {
            async fn escalate_case(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_store::coordination::NewEscalation,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Escalation> {
                use crate::coordination::{insert_escalation, read_escalation};
                use cityserve_domain::coordination::{Escalation, EscalationStatus, EscalationTrigger};
                let d = &new.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                if let Some(e) = crate::claim_key(&mut tx, d, idem, "escalation", new.id.as_str()).await? {
                    let e = read_escalation(&mut tx, d, &e).await?;
                    self.commit(tx).await?;
                    return Ok(e);
                }
                crate::feedback::read_case(&mut tx, d, new.case_id.as_str()).await?;
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
                    breach_count: 1,
                    digest_cases: Vec::new(),
                };
                insert_escalation(&mut tx, ctx, &e).await?;
                self.commit(tx).await?;
                Ok(e)
            }

            async fn get_escalation(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                e: &cityserve_domain::EscalationId,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Escalation> {
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                let found = crate::coordination::read_escalation(&mut tx, d, e.as_str()).await?;
                tx.finish().await?;
                Ok(found)
            }

            async fn list_escalations(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::coordination::EscalationFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::coordination::Escalation>>
            {
                if let Some(d) = &filter.department {
                    crate::in_scope(scope, d)?;
                }
                let q = $crate::escalations::list(crate::LISTS, scope, filter, page);
                let rows = $crate::read_rows!(self, scope, q);
                let items =
                    rows.iter().map($crate::rows::escalation).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |e| e.id.to_string()))
            }

            async fn save_escalation(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                e: &cityserve_domain::coordination::Escalation,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Escalation> {
                use crate::coordination::read_escalation;
                let d = &e.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let done = sqlx::query($crate::escalations::UPDATE_ESCALATION)
                    .bind(e.status.as_str())
                    .bind(&e.resolution)
                    .bind(e.acknowledge_time.map(crate::at))
                    .bind(e.resolve_time.map(crate::at))
                    .bind(d.as_str())
                    .bind(e.id.as_str())
                    .bind(expected_revision)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    read_escalation(&mut tx, d, e.id.as_str()).await?;
                    return Err(cityserve_store::StoreError::Conflict);
                }
                let payload = serde_json::json!({ "escalation": e.id.as_str(), "status": e.status.as_str() });
                crate::record(&mut tx, ctx, d, &cityserve_store::resource::escalation(d, &e.id), payload).await?;
                let saved = read_escalation(&mut tx, d, e.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn scan_breaches(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> cityserve_store::StoreResult<Vec<cityserve_domain::coordination::Escalation>> {
                let mut tx = self.write(ctx).await?;
                if !lock_scan(&mut tx).await? {
                    tx.rollback().await?;
                    return Ok(Vec::new());
                }
                let limit = i64::from(limit);
                let mut breaches = Vec::new();
                // Candidates are locked where rows are, skipping rows a concurrent write holds
                // (they are picked up by the next scan); the unique index on dedupe keys makes
                // each escalation happen once anyway.
                for (trigger, sql) in $crate::escalations::BREACH_SCANS {
                    let sql = $crate::with_lock(sql, SKIP_LOCKED);
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(crate::at(now))
                        .bind(limit)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    for row in &rows {
                        breaches.push($crate::escalations::breach(trigger, row)?);
                    }
                }
                // Per accountable department, in the order found (oldest first per trigger): a
                // flood becomes one digest, a few go case by case.
                let mut by_department: Vec<(cityserve_domain::DepartmentId, Vec<$crate::escalations::Breach>)> =
                    Vec::new();
                for b in breaches.into_iter().take(usize::try_from(limit).unwrap_or(usize::MAX)) {
                    match by_department.iter_mut().find(|(d, _)| *d == b.accountable) {
                        Some((_, group)) => group.push(b),
                        None => by_department.push((b.accountable.clone(), vec![b])),
                    }
                }
                let mut out = Vec::new();
                let now = cityserve_store::now_micros();
                for (d, group) in by_department {
                    if group.len() > cityserve_domain::coordination::DIGEST_THRESHOLD {
                        let e = $crate::escalations::digest(&group, &ctx.actor.subject, now)?;
                        if crate::coordination::insert_escalation(&mut tx, ctx, &e).await? {
                            for b in &group {
                                sqlx::query($crate::escalations::INSERT_COVER)
                                    .bind(d.as_str())
                                    .bind($crate::escalations::breach_key(b))
                                    .bind(e.id.as_str())
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(crate::db_err)?;
                            }
                            out.push(e);
                        }
                        continue;
                    }
                    for b in group {
                        let e = $crate::escalations::automatic(b, &ctx.actor.subject, now)?;
                        if crate::coordination::insert_escalation(&mut tx, ctx, &e).await? {
                            out.push(e);
                        }
                    }
                }
                self.commit(tx).await?;
                Ok(out)
            }
        }
    };
}
