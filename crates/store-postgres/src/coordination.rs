//! [`CoordinationStore`] on PostgreSQL. Row-level security lets a hand-off be seen by both of its
//! departments, an initiative by its members, and the dumb rules register by every officer (see
//! migrations/postgres/0004_coordination.sql); the code checks the same in front of it.
use crate::feedback::{Origin, insert_feedback, intake, read_case, read_feedback, write_case};
use crate::{PgStore, WriteTx, apply_deltas, bump, claim_key, corrupt, db_err, id, in_scope, record, scope_ids};
use chrono::{DateTime, Datelike, Utc};
use cityserve_domain::coordination::{
    self, DumbRule, DumbRuleStatus, Escalation, EscalationStatus, EscalationTrigger, Handoff, HandoffKind,
    HandoffResponse, HandoffStatus, Initiative, InitiativeStatus, NewDumbRule, NewHandoff, RuleDecision, RuleVerdict,
    RuleVote,
};
use cityserve_domain::officer::PlanContent;
use cityserve_domain::report::{self, FocusProgress, LiveFigures, Metrics, Period};
use cityserve_domain::{
    CaseId, CaseTransition, DepartmentId, DumbRuleId, EscalationId, FeedbackId, FeedbackKind, HandoffId, InitiativeId,
    NewFeedback, OfficerId, Page, PageRequest, TenantScope, resolve_targets,
};
use cityserve_store::coordination::{
    CoordinationStore, Direction, DumbRuleFilter, DumbRuleOrder, EscalationFilter, Event, EventCursor, EventFilter,
    HandoffFilter, InitiativeFilter, NewEscalation,
};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, generated_id, now_micros, resource};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};
use std::time::Duration;

const HANDOFF_COLUMNS: &str = "department_id, handoff_id, case_id, to_department, kind, status, reason, \
     decline_reason, path, ping_pong, accept_due, created_by, create_time, responded_by, respond_time, received_case, \
     revision";
const ESCALATION_COLUMNS: &str = "department_id, escalation_id, case_department, case_id, handoff_department, \
     handoff_id, trigger, status, reason, resolution, created_by, create_time, acknowledge_time, resolve_time, revision";
const INITIATIVE_COLUMNS: &str = "department_id, initiative_id, title, goal, owner, status, members, milestones, \
     cases, dumb_rules, create_time, update_time, revision";
const RULE_COLUMNS: &str = "rule_id, text, status, verdict, rationale, decided_by, decide_time, reported_by, \
     reporter_department, evidence_count, create_time, update_time, revision";
const EVENT_COLUMNS: &str = "seq, department_id, event_type, resource, payload::text AS payload, occurred_at";

/// Transaction-level advisory lock key of the breach scan ("CSBREACH"): one scanner at a time
/// across replicas.
const BREACH_SCAN_LOCK: i64 = 0x4353_4252_4541_4348;

/// The tables and key columns a rollup sum over `[from_day, to_day)` reads, with their ranges
/// (see [`cityserve_domain::report::rollup_ranges`]).
fn rollup_ranges(from_day: i64, to_day: i64) -> [(&'static str, &'static str, (i64, i64)); 3] {
    let r = cityserve_domain::report::rollup_ranges(from_day, to_day);
    [("rollups", "day", r.days_before), ("rollups_monthly", "month", r.months), ("rollups", "day", r.days_after)]
}

fn departments(col: &str, ids: &[String]) -> StoreResult<Vec<DepartmentId>> {
    ids.iter().map(|d| DepartmentId::parse(col, d).map_err(|_| corrupt(col))).collect()
}

fn path_from(v: Option<Vec<String>>, own: &DepartmentId) -> StoreResult<Vec<DepartmentId>> {
    match v {
        None => Ok(vec![own.clone()]),
        Some(p) => departments("path", &p),
    }
}

fn handoff_from(row: &PgRow) -> StoreResult<Handoff> {
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let path: Vec<String> = row.try_get("path").map_err(db_err)?;
    let received: Option<String> = row.try_get("received_case").map_err(db_err)?;
    Ok(Handoff {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "handoff_id", HandoffId::parse)?,
        case_id: id(row, "case_id", CaseId::parse)?,
        to_department: id(row, "to_department", DepartmentId::parse)?,
        kind: HandoffKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        status: HandoffStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        reason: row.try_get("reason").map_err(db_err)?,
        decline_reason: row.try_get("decline_reason").map_err(db_err)?,
        path: departments("path", &path)?,
        ping_pong: row.try_get("ping_pong").map_err(db_err)?,
        accept_due: row.try_get("accept_due").map_err(db_err)?,
        created_by: row.try_get("created_by").map_err(db_err)?,
        create_time: row.try_get("create_time").map_err(db_err)?,
        responded_by: row.try_get("responded_by").map_err(db_err)?,
        respond_time: row.try_get("respond_time").map_err(db_err)?,
        received_case: received
            .map(|c| CaseId::parse("received_case", &c).map_err(|_| corrupt("received_case")))
            .transpose()?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

/// Reads a hand-off; with `lock`, locks it for an answer.
async fn read_handoff(conn: &mut PgConnection, d: &DepartmentId, h: &str, lock: bool) -> StoreResult<Handoff> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE department_id = $1 AND handoff_id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(h)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    handoff_from(&row.ok_or(StoreError::NotFound)?)
}

fn escalation_from(row: &PgRow) -> StoreResult<Escalation> {
    let trigger: String = row.try_get("trigger").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let hd: Option<String> = row.try_get("handoff_department").map_err(db_err)?;
    let hi: Option<String> = row.try_get("handoff_id").map_err(db_err)?;
    let handoff = match (hd, hi) {
        (Some(d), Some(h)) => Some((
            DepartmentId::parse("handoff_department", &d).map_err(|_| corrupt("handoff_department"))?,
            HandoffId::parse("handoff_id", &h).map_err(|_| corrupt("handoff_id"))?,
        )),
        _ => None,
    };
    Ok(Escalation {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "escalation_id", EscalationId::parse)?,
        case_department: id(row, "case_department", DepartmentId::parse)?,
        case_id: id(row, "case_id", CaseId::parse)?,
        handoff,
        trigger: EscalationTrigger::parse(&trigger).ok_or_else(|| corrupt("trigger"))?,
        status: EscalationStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        reason: row.try_get("reason").map_err(db_err)?,
        resolution: row.try_get("resolution").map_err(db_err)?,
        created_by: row.try_get("created_by").map_err(db_err)?,
        create_time: row.try_get("create_time").map_err(db_err)?,
        acknowledge_time: row.try_get("acknowledge_time").map_err(db_err)?,
        resolve_time: row.try_get("resolve_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

async fn read_escalation(conn: &mut PgConnection, d: &DepartmentId, e: &str) -> StoreResult<Escalation> {
    let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE department_id = $1 AND escalation_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(e)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    escalation_from(&row.ok_or(StoreError::NotFound)?)
}

/// Inserts an escalation with its counter, audit and event. Returns `false` when an automatic
/// escalation of the same breach exists already (also one a concurrent transaction committed).
async fn insert_escalation(conn: &mut WriteTx, ctx: &WriteCtx<'_>, e: &Escalation) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO escalations (department_id, escalation_id, case_department, case_id, handoff_department,
             handoff_id, trigger, status, reason, created_by, create_time, dedupe_key, revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)
         ON CONFLICT (department_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
    )
    .bind(e.department_id.as_str())
    .bind(e.id.as_str())
    .bind(e.case_department.as_str())
    .bind(e.case_id.as_str())
    .bind(e.handoff.as_ref().map(|h| h.0.as_str()))
    .bind(e.handoff.as_ref().map(|h| h.1.as_str()))
    .bind(e.trigger.as_str())
    .bind(e.status.as_str())
    .bind(&e.reason)
    .bind(&e.created_by)
    .bind(e.create_time)
    .bind(e.dedupe_key())
    .execute(&mut **conn)
    .await
    .map_err(db_err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    apply_deltas(conn, &report::escalation_deltas(&e.department_id, e.create_time)).await?;
    let payload = serde_json::json!({
        "escalation": e.id.as_str(),
        "case": resource::case(&e.case_department, &e.case_id),
        "trigger": e.trigger.as_str(),
    });
    record(conn, ctx, &e.department_id, &resource::escalation(&e.department_id, &e.id), payload).await?;
    Ok(true)
}

fn initiative_from(row: &PgRow) -> StoreResult<Initiative> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let members: Vec<String> = row.try_get("members").map_err(db_err)?;
    let Json(milestones) = row.try_get("milestones").map_err(|_| corrupt("milestones"))?;
    let Json(cases) = row.try_get("cases").map_err(|_| corrupt("cases"))?;
    let Json(dumb_rules) = row.try_get("dumb_rules").map_err(|_| corrupt("dumb_rules"))?;
    Ok(Initiative {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "initiative_id", InitiativeId::parse)?,
        title: row.try_get("title").map_err(db_err)?,
        goal: row.try_get("goal").map_err(db_err)?,
        owner: id(row, "owner", OfficerId::parse)?,
        members: departments("members", &members)?,
        status: InitiativeStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        milestones,
        cases,
        dumb_rules,
        create_time: row.try_get("create_time").map_err(db_err)?,
        update_time: row.try_get("update_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

/// Reads an initiative; with `lock`, locks it for a change.
async fn read_initiative(conn: &mut PgConnection, lead: &DepartmentId, i: &str, lock: bool) -> StoreResult<Initiative> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT {INITIATIVE_COLUMNS} FROM initiatives WHERE department_id = $1 AND initiative_id = $2{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lead.as_str())
        .bind(i)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    initiative_from(&row.ok_or(StoreError::NotFound)?)
}

fn visible_to(scope: &TenantScope, members: &[DepartmentId]) -> bool {
    members.iter().any(|m| scope.allows(m))
}

/// The member list as stored: sorted, without duplicates.
fn sorted_members(members: &[DepartmentId]) -> Vec<&str> {
    let mut out: Vec<&str> = members.iter().map(DepartmentId::as_str).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The status of any department (`None`: no such department), also one outside the caller's
/// row-level security.
async fn department_status(conn: &mut PgConnection, d: &DepartmentId) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT department_status($1)").bind(d.as_str()).fetch_one(&mut *conn).await.map_err(db_err)
}

async fn check_members_active(conn: &mut PgConnection, members: &[DepartmentId]) -> StoreResult<()> {
    for m in members {
        match department_status(conn, m).await?.as_deref() {
            None => return Err(StoreError::FailedPrecondition(format!("department {m} does not exist"))),
            Some("active") => {}
            Some(_) => return Err(StoreError::FailedPrecondition(format!("department {m} is archived"))),
        }
    }
    Ok(())
}

async fn write_members(conn: &mut PgConnection, i: &Initiative) -> StoreResult<()> {
    sqlx::query("DELETE FROM initiative_members WHERE lead_department = $1 AND initiative_id = $2")
        .bind(i.department_id.as_str())
        .bind(i.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO initiative_members (department_id, lead_department, initiative_id)
         SELECT m, $2, $3 FROM unnest($1::text[]) AS m",
    )
    .bind(sorted_members(&i.members))
    .bind(i.department_id.as_str())
    .bind(i.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Reads a rule with its details; with `lock`, locks it for a vote or decision.
async fn read_rule(conn: &mut PgConnection, r: &str, lock: bool) -> StoreResult<DumbRule> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules WHERE rule_id = $1{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r).fetch_optional(&mut *conn).await.map_err(db_err)?;
    let row = row.ok_or(StoreError::NotFound)?;
    let mut rules = vec![rule_from(&row)?];
    attach_rule_details(conn, &mut rules).await?;
    rules.pop().ok_or(StoreError::NotFound)
}

fn rule_from(row: &PgRow) -> StoreResult<DumbRule> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let verdict: Option<String> = row.try_get("verdict").map_err(db_err)?;
    let reporter: Option<String> = row.try_get("reporter_department").map_err(db_err)?;
    let decision = match verdict {
        Some(v) => Some(RuleDecision {
            verdict: RuleVerdict::parse(&v).ok_or_else(|| corrupt("verdict"))?,
            rationale: row.try_get("rationale").map_err(db_err)?,
            decided_by: row.try_get("decided_by").map_err(db_err)?,
            decide_time: row
                .try_get::<Option<DateTime<Utc>>, _>("decide_time")
                .map_err(db_err)?
                .ok_or_else(|| corrupt("decide_time"))?,
        }),
        None => None,
    };
    Ok(DumbRule {
        id: id(row, "rule_id", DumbRuleId::parse)?,
        text: row.try_get("text").map_err(db_err)?,
        affected: Vec::new(),
        evidence: Vec::new(),
        votes: Vec::new(),
        status: DumbRuleStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        decision,
        reported_by: row.try_get("reported_by").map_err(db_err)?,
        reporter_department: reporter
            .map(|d| DepartmentId::parse("reporter_department", &d).map_err(|_| corrupt("reporter_department")))
            .transpose()?,
        create_time: row.try_get("create_time").map_err(db_err)?,
        update_time: row.try_get("update_time").map_err(db_err)?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

/// Adds affected departments, evidence and votes to rules, three queries for the whole slice.
async fn attach_rule_details(conn: &mut PgConnection, rules: &mut [DumbRule]) -> StoreResult<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = rules.iter().map(|r| r.id.to_string()).collect();
    let dept = |row: &PgRow| id(row, "department_id", DepartmentId::parse);
    let find = |rules: &[DumbRule], r: &str| rules.iter().position(|x| x.id.as_str() == r);
    let rows = sqlx::query(
        "SELECT department_id, rule_id FROM dumb_rule_affected WHERE rule_id = ANY($1) ORDER BY department_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in &rows {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].affected.push(dept(row)?);
        }
    }
    let rows = sqlx::query(
        "SELECT department_id, rule_id, feedback_id FROM dumb_rule_evidence WHERE rule_id = ANY($1)
         ORDER BY department_id, feedback_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in &rows {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].evidence.push((dept(row)?, id(row, "feedback_id", FeedbackId::parse)?));
        }
    }
    let rows = sqlx::query(
        "SELECT department_id, rule_id, voter, verdict, comment, update_time FROM dumb_rule_votes
         WHERE rule_id = ANY($1) ORDER BY department_id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in &rows {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        let verdict: String = row.try_get("verdict").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].votes.push(RuleVote {
                department_id: dept(row)?,
                voter: id(row, "voter", OfficerId::parse)?,
                verdict: RuleVerdict::parse(&verdict).ok_or_else(|| corrupt("verdict"))?,
                comment: row.try_get("comment").map_err(db_err)?,
                update_time: row.try_get("update_time").map_err(db_err)?,
            });
        }
    }
    Ok(())
}

fn event_from(row: &PgRow) -> StoreResult<Event> {
    Ok(Event {
        sequence: row.try_get("seq").map_err(db_err)?,
        department_id: id(row, "department_id", DepartmentId::parse)?,
        event_type: row.try_get("event_type").map_err(db_err)?,
        resource: row.try_get("resource").map_err(db_err)?,
        payload: row.try_get("payload").map_err(db_err)?,
        occurred_at: row.try_get("occurred_at").map_err(db_err)?,
    })
}

/// The filters of an event read, as parameters `$2` (scope), `$3` (departments) and `$4` (type
/// prefixes). `$1` is the cursor's sequence number (NULL: from the start).
const EVENT_FILTERS: &str = "($2::text[] IS NULL OR department_id = ANY ($2))
       AND ($3::text[] IS NULL OR department_id = ANY ($3))
       AND (cardinality($4::text[]) = 0 OR EXISTS (
               SELECT 1 FROM unnest($4::text[]) AS p WHERE starts_with(event_type, p)))
       AND ($1::bigint IS NULL OR (txid, seq) > ((SELECT x.txid FROM events x WHERE x.seq = $1), $1))";

impl PgStore {
    /// One read of [`CoordinationStore::events_after`]: the events after `after` whose
    /// transactions all ended (below the snapshot's xmin), and whether matching committed events
    /// were held back because an older transaction is still running.
    async fn read_events(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        after: Option<i64>,
        limit: u32,
    ) -> StoreResult<(Vec<Event>, bool)> {
        let only: Option<Vec<&str>> =
            filter.departments.as_ref().map(|ds| ds.iter().map(DepartmentId::as_str).collect());
        let sql = format!(
            "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
             SELECT {EVENT_COLUMNS}, txid >= (SELECT xmin FROM horizon) AS held
             FROM events
             WHERE {EVENT_FILTERS}
             ORDER BY txid, seq LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        if let Some(s) = after {
            let found: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM events WHERE seq = $1 AND ($2::text[] IS NULL OR department_id = ANY ($2))",
            )
            .bind(s)
            .bind(scope_ids(scope))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            if found.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(scope_ids(scope))
            .bind(only)
            .bind(&filter.type_prefixes)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let mut out = Vec::with_capacity(rows.len());
        let mut held = false;
        for row in &rows {
            // In (txid, seq) order, everything after the first held-back event waits too.
            if row.try_get::<bool, _>("held").map_err(db_err)? {
                held = true;
                break;
            }
            out.push(event_from(row)?);
        }
        Ok((out, held))
    }
}

impl CoordinationStore for PgStore {
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

    async fn create_initiative(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        i: &Initiative,
    ) -> StoreResult<Initiative> {
        let d = &i.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(x) = claim_key(&mut tx, d, idem, "initiative", i.id.as_str()).await? {
            let found = read_initiative(&mut tx, d, &x, false).await?;
            self.commit(tx).await?;
            return Ok(found);
        }
        check_members_active(&mut tx, &i.members).await?;
        crate::require_active_officer(&mut tx, d, &i.owner).await?;
        sqlx::query(
            "INSERT INTO initiatives (department_id, initiative_id, title, goal, owner, status, members, milestones,
                 cases, dumb_rules, create_time, update_time, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 1)",
        )
        .bind(d.as_str())
        .bind(i.id.as_str())
        .bind(&i.title)
        .bind(&i.goal)
        .bind(i.owner.as_str())
        .bind(i.status.as_str())
        .bind(sorted_members(&i.members))
        .bind(Json(&i.milestones))
        .bind(Json(&i.cases))
        .bind(Json(&i.dumb_rules))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_members(&mut tx, i).await?;
        let name = resource::initiative(d, &i.id);
        for m in sorted_members(&i.members) {
            let m = DepartmentId::parse("member", m).map_err(|_| corrupt("member"))?;
            let payload = serde_json::json!({ "initiative": i.id.as_str(), "status": i.status.as_str() });
            record(&mut tx, ctx, &m, &name, payload).await?;
        }
        let saved = read_initiative(&mut tx, d, i.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_initiative(
        &self,
        scope: &TenantScope,
        lead: &DepartmentId,
        id: &InitiativeId,
    ) -> StoreResult<Initiative> {
        let mut tx = self.read(scope).await?;
        let i = read_initiative(&mut tx, lead, id.as_str(), false).await?;
        tx.finish().await?;
        if visible_to(scope, &i.members) { Ok(i) } else { Err(StoreError::NotFound) }
    }

    async fn list_initiatives(
        &self,
        scope: &TenantScope,
        filter: &InitiativeFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Initiative>> {
        if let Some(d) = &filter.member {
            in_scope(scope, d)?;
        }
        let sql = format!(
            "SELECT {INITIATIVE_COLUMNS} FROM initiatives i
             WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM initiative_members m
                        WHERE m.lead_department = i.department_id AND m.initiative_id = i.initiative_id
                          AND m.department_id = $1))
               AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM initiative_members m
                        WHERE m.lead_department = i.department_id AND m.initiative_id = i.initiative_id
                          AND m.department_id = ANY ($2)))
               AND ($3::text IS NULL OR status = $3)
               AND ($4::text IS NULL OR initiative_id < $4)
             ORDER BY initiative_id DESC LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.member.as_ref().map(DepartmentId::as_str))
            .bind(scope_ids(scope))
            .bind(filter.status.map(InitiativeStatus::as_str))
            .bind(page.after.as_deref())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(initiative_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |i| i.id.to_string()))
    }

    async fn save_initiative(
        &self,
        ctx: &WriteCtx<'_>,
        i: &Initiative,
        expected_revision: i64,
    ) -> StoreResult<Initiative> {
        let d = &i.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let current = read_initiative(&mut tx, d, i.id.as_str(), true).await?;
        if current.revision != expected_revision {
            return Err(StoreError::Conflict);
        }
        if sorted_members(&current.members) != sorted_members(&i.members) {
            check_members_active(&mut tx, &i.members).await?;
        }
        if current.owner != i.owner {
            crate::require_active_officer(&mut tx, d, &i.owner).await?;
        }
        let now = now_micros();
        sqlx::query(
            "UPDATE initiatives SET title = $1, goal = $2, owner = $3, status = $4, members = $5, milestones = $6,
                 cases = $7, dumb_rules = $8, update_time = $9, revision = revision + 1
             WHERE department_id = $10 AND initiative_id = $11 AND revision = $12",
        )
        .bind(&i.title)
        .bind(&i.goal)
        .bind(i.owner.as_str())
        .bind(i.status.as_str())
        .bind(sorted_members(&i.members))
        .bind(Json(&i.milestones))
        .bind(Json(&i.cases))
        .bind(Json(&i.dumb_rules))
        .bind(now)
        .bind(d.as_str())
        .bind(i.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_members(&mut tx, i).await?;
        let name = resource::initiative(d, &i.id);
        let mut notify: Vec<&DepartmentId> = current.members.iter().chain(&i.members).collect();
        notify.sort();
        notify.dedup();
        for m in notify {
            let payload = serde_json::json!({ "initiative": i.id.as_str(), "status": i.status.as_str() });
            record(&mut tx, ctx, m, &name, payload).await?;
        }
        let saved = read_initiative(&mut tx, d, i.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn report_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDumbRule,
    ) -> StoreResult<DumbRule> {
        // Idempotency keys are per department: the reporter's, or for the Chief the first affected one.
        let key_dept =
            new.reporter_department.clone().or_else(|| new.affected.first().cloned()).ok_or(StoreError::NotFound)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(r) = claim_key(&mut tx, &key_dept, idem, "dumb_rule", new.id.as_str()).await? {
            let r = read_rule(&mut tx, &r, false).await?;
            self.commit(tx).await?;
            return Ok(r);
        }
        for d in &new.affected {
            if department_status(&mut tx, d).await?.is_none() {
                return Err(StoreError::FailedPrecondition(format!("department {d} does not exist")));
            }
        }
        for (d, f) in &new.evidence {
            let unseen = || {
                StoreError::FailedPrecondition(format!(
                    "evidence {} is not feedback you can see",
                    resource::feedback(d, f)
                ))
            };
            if !ctx.scope.allows(d) {
                return Err(unseen());
            }
            read_feedback(&mut tx, d, f.as_str()).await.map_err(|e| match e {
                StoreError::NotFound => unseen(),
                other => other,
            })?;
        }
        sqlx::query(
            "INSERT INTO dumb_rules (rule_id, text, status, reported_by, reporter_department, evidence_count,
                 create_time, update_time, revision)
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $6, 1)",
        )
        .bind(new.id.as_str())
        .bind(&new.text)
        .bind(&ctx.actor.subject)
        .bind(new.reporter_department.as_ref().map(DepartmentId::as_str))
        .bind(i64::try_from(new.evidence.len()).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO dumb_rule_affected (department_id, rule_id)
             SELECT DISTINCT d, $2 FROM unnest($1::text[]) AS d",
        )
        .bind(new.affected.iter().map(DepartmentId::as_str).collect::<Vec<_>>())
        .bind(new.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id)
             SELECT d, $3, f FROM unnest($1::text[], $2::text[]) AS e (d, f)
             ON CONFLICT DO NOTHING",
        )
        .bind(new.evidence.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
        .bind(new.evidence.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>())
        .bind(new.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::dumb_rule(&new.id);
        for d in &new.affected {
            let payload = serde_json::json!({ "dumb_rule": new.id.as_str(), "status": "open" });
            record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, new.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_dumb_rule(&self, scope: &TenantScope, id: &DumbRuleId) -> StoreResult<DumbRule> {
        let mut tx = self.read(scope).await?;
        let rule = read_rule(&mut tx, id.as_str(), false).await?;
        tx.finish().await?;
        Ok(rule)
    }

    async fn list_dumb_rules(
        &self,
        scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<DumbRule>> {
        let bad = || StoreError::Internal("bad page position".into());
        let (after_count, after_id) = match (order, &page.after) {
            (DumbRuleOrder::Newest, Some(a)) => (None, Some(a.clone())),
            (DumbRuleOrder::MostEvidence, Some(a)) => {
                let (n, r) = a.split_once(':').ok_or_else(bad)?;
                (Some(n.parse::<i64>().map_err(|_| bad())?), Some(r.to_owned()))
            }
            (_, None) => (None, None),
        };
        let (cursor, order_by) = match order {
            DumbRuleOrder::Newest => ("($3::text IS NULL OR rule_id < $3)", "rule_id DESC"),
            DumbRuleOrder::MostEvidence => (
                "($3::text IS NULL OR evidence_count < $4 OR (evidence_count = $4 AND rule_id < $3))",
                "evidence_count DESC, rule_id DESC",
            ),
        };
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM dumb_rules r
             WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM dumb_rule_affected a
                        WHERE a.rule_id = r.rule_id AND a.department_id = $2))
               AND {cursor}
             ORDER BY {order_by} LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.status.map(DumbRuleStatus::as_str))
            .bind(filter.affected.as_ref().map(DepartmentId::as_str))
            .bind(after_id)
            .bind(after_count.unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let items = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("evidence_count").map_err(db_err)?, rule_from(row)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let counted = match order {
            DumbRuleOrder::Newest => Page::from_overfetch(items, page.size, |(_, r)| r.id.to_string()),
            DumbRuleOrder::MostEvidence => Page::from_overfetch(items, page.size, |(n, r)| format!("{n}:{}", r.id)),
        };
        let mut page =
            Page { items: counted.items.into_iter().map(|(_, r)| r).collect(), next_after: counted.next_after };
        attach_rule_details(&mut tx, &mut page.items).await?;
        tx.finish().await?;
        Ok(page)
    }

    async fn vote_dumb_rule(&self, ctx: &WriteCtx<'_>, id: &DumbRuleId, vote: &RuleVote) -> StoreResult<DumbRule> {
        in_scope(ctx.scope, &vote.department_id)?;
        let mut tx = self.write(ctx).await?;
        // Locked: a vote and the decision do not cross.
        let rule = read_rule(&mut tx, id.as_str(), true).await?;
        coordination::check_vote(&rule, &vote.department_id).map_err(|e| StoreError::FailedPrecondition(e.0))?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (department_id, rule_id) DO UPDATE SET voter = excluded.voter, verdict = excluded.verdict,
                 comment = excluded.comment, update_time = excluded.update_time",
        )
        .bind(vote.department_id.as_str())
        .bind(id.as_str())
        .bind(vote.voter.as_str())
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE dumb_rules SET update_time = $1, revision = revision + 1 WHERE rule_id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let payload = serde_json::json!({ "dumb_rule": id.as_str(), "vote": vote.verdict.as_str() });
        record(&mut tx, ctx, &vote.department_id, &resource::dumb_rule(id), payload).await?;
        let saved = read_rule(&mut tx, id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn decide_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        rule: &DumbRule,
        expected_revision: i64,
    ) -> StoreResult<DumbRule> {
        let decision = rule.decision.as_ref().ok_or_else(|| StoreError::Internal("no decision to record".into()))?;
        let mut tx = self.write(ctx).await?;
        let done = sqlx::query(
            "UPDATE dumb_rules SET status = 'decided', verdict = $1, rationale = $2, decided_by = $3,
                 decide_time = $4, update_time = $4, revision = revision + 1
             WHERE rule_id = $5 AND revision = $6 AND status = 'open'",
        )
        .bind(decision.verdict.as_str())
        .bind(&decision.rationale)
        .bind(&decision.decided_by)
        .bind(decision.decide_time)
        .bind(rule.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let current = read_rule(&mut tx, rule.id.as_str(), false).await?;
            return Err(if current.status != DumbRuleStatus::Open {
                StoreError::FailedPrecondition("the rule was already decided".into())
            } else {
                StoreError::Conflict
            });
        }
        let name = resource::dumb_rule(&rule.id);
        for d in &rule.affected {
            let payload = serde_json::json!({ "dumb_rule": rule.id.as_str(), "verdict": decision.verdict.as_str() });
            record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, rule.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn rollup_metrics(
        &self,
        scope: &TenantScope,
        departments: Option<&[DepartmentId]>,
        from_day: i64,
        to_day: i64,
    ) -> StoreResult<Vec<(DepartmentId, Metrics)>> {
        if departments.is_some_and(<[DepartmentId]>::is_empty) {
            return Ok(Vec::new());
        }
        let only: Option<Vec<&str>> = departments.map(|ds| ds.iter().map(DepartmentId::as_str).collect());
        // Sums over whole months (rollups_monthly) and the partial-month edges (rollups), and over
        // shards; only the non-empty ranges are queried.
        let mut branches = Vec::new();
        let mut bounds = Vec::new();
        for (table, column, (from, to)) in rollup_ranges(from_day, to_day) {
            if from < to {
                let n = 3 + bounds.len();
                branches.push(format!(
                    "SELECT department_id, metric, value FROM {table} WHERE {column} >= ${n} AND {column} < ${}
                       AND ($1::text[] IS NULL OR department_id = ANY ($1))
                       AND ($2::text[] IS NULL OR department_id = ANY ($2))",
                    n + 1
                ));
                bounds.extend([from, to]);
            }
        }
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT department_id, metric, sum(value)::bigint AS total FROM ({}) AS r
             GROUP BY department_id, metric ORDER BY department_id, metric",
            branches.join(" UNION ALL ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(only).bind(scope_ids(scope));
        for b in bounds {
            query = query.bind(b);
        }
        let mut tx = self.read(scope).await?;
        let rows = query.fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.finish().await?;
        let mut out: Vec<(DepartmentId, Metrics)> = Vec::new();
        for row in &rows {
            let d = id(row, "department_id", DepartmentId::parse)?;
            let metric: String = row.try_get("metric").map_err(db_err)?;
            let total: i64 = row.try_get("total").map_err(db_err)?;
            match out.last_mut() {
                Some((last, m)) if *last == d => {
                    m.insert(metric, total);
                }
                _ => out.push((d, Metrics::from([(metric, total)]))),
            }
        }
        Ok(out)
    }

    async fn live_figures_of(
        &self,
        scope: &TenantScope,
        departments: &[DepartmentId],
        period: &Period,
    ) -> StoreResult<Vec<LiveFigures>> {
        for d in departments {
            in_scope(scope, d)?;
        }
        if departments.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = departments.iter().map(DepartmentId::as_str).collect();
        let (from, to) = (period.start_time(), period.end_time());
        let year = period.start.year();
        let mut tx = self.read(scope).await?;
        // One row per department. A recognition counts for the recognised officer's department
        // (its department_id). A competency gap is an (active officer, competency of the
        // department) pair where the competency is required for a role the officer holds (the
        // officer's kind, or the seat of an active appointment: Officer::roles) and no training
        // record of it is valid now (no expiry, or a later one): officer::competency_gaps.
        let rows = sqlx::query(
            "SELECT d.department_id,
                 (SELECT count(*) FROM recognitions r
                  WHERE r.department_id = d.department_id AND r.create_time >= $2 AND r.create_time < $3)
                     AS recognitions,
                 (SELECT count(*) FROM dumb_rules r JOIN dumb_rule_affected a ON a.rule_id = r.rule_id
                  WHERE a.department_id = d.department_id AND r.verdict IN ('kill', 'revise')
                    AND r.decide_time >= $2 AND r.decide_time < $3) AS dumb_rules_retired,
                 (SELECT count(*) FROM officers o
                  JOIN competencies c ON c.department_id = o.department_id
                  WHERE o.department_id = d.department_id AND o.status = 'active'
                    AND (o.kind = ANY (string_to_array(c.required_for, ','))
                         OR (SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
                             ORDER BY a.seat LIMIT 1) = ANY (string_to_array(c.required_for, ',')))
                    AND NOT EXISTS (
                        SELECT 1 FROM training_records t
                        WHERE t.department_id = o.department_id AND t.officer_id = o.officer_id
                          AND t.competency_id = c.competency_id AND (t.expire_time IS NULL OR t.expire_time > $4)))
                     AS competency_gaps,
                 p.content,
                 (SELECT v.value FROM plan_progress v
                  WHERE p.content IS NOT NULL AND v.department_id = d.department_id AND v.year = $5
                    AND v.recorded_at < $3
                  ORDER BY v.recorded_at DESC LIMIT 1) AS current
             FROM departments d
             LEFT JOIN plans p ON p.department_id = d.department_id AND p.year = $5
             WHERE d.department_id = ANY ($1)",
        )
        .bind(&ids)
        .bind(from)
        .bind(to)
        .bind(now_micros())
        .bind(year)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let d: String = row.try_get("department_id").map_err(db_err)?;
            let content: Option<Json<PlanContent>> = row.try_get("content").map_err(|_| corrupt("content"))?;
            let focus = content.map(|Json(plan)| -> StoreResult<FocusProgress> {
                Ok(FocusProgress {
                    area: plan.focus_area,
                    metric: plan.focus_metric,
                    baseline: plan.focus_baseline,
                    target: plan.focus_target,
                    current: row.try_get("current").map_err(db_err)?,
                })
            });
            let figures = LiveFigures {
                recognitions: row.try_get("recognitions").map_err(db_err)?,
                competency_gaps: row.try_get("competency_gaps").map_err(db_err)?,
                dumb_rules_retired: row.try_get("dumb_rules_retired").map_err(db_err)?,
                focus: focus.transpose()?,
            };
            found.insert(d, figures);
        }
        departments.iter().map(|d| found.get(d.as_str()).cloned().ok_or(StoreError::NotFound)).collect()
    }

    async fn record_focus_progress(
        &self,
        ctx: &WriteCtx<'_>,
        d: &DepartmentId,
        year: i32,
        value: f64,
    ) -> StoreResult<()> {
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let plan: Option<i32> = sqlx::query_scalar("SELECT 1 FROM plans WHERE department_id = $1 AND year = $2")
            .bind(d.as_str())
            .bind(year)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if plan.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO plan_progress (department_id, year, recorded_at, value, recorded_by)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (department_id, year, recorded_at)
                 DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by",
        )
        .bind(d.as_str())
        .bind(year)
        .bind(now_micros())
        .bind(value)
        .bind(&ctx.actor.subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "plan": year, "focus_progress": true });
        record(&mut tx, ctx, d, &resource::plan(d, year), payload).await?;
        self.commit(tx).await
    }

    async fn events_after(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        cursor: EventCursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let after = match cursor {
            EventCursor::Start => None,
            EventCursor::After(s) => Some(s),
        };
        // Events that committed but wait behind an older, still running transaction (of any
        // database on the server: the snapshot's xmin is cluster-wide) are delivered once it
        // ends. Such waits are short; poll for a while so a read right after a commit sees it.
        let mut pause = Duration::from_millis(5);
        let mut waited = Duration::ZERO;
        loop {
            let (events, held) = self.read_events(scope, filter, after, limit).await?;
            if !held || events.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Ok(events);
            }
            if waited >= Duration::from_secs(2) {
                // Still held back: return the final part and wake subscribers again later,
                // since the transaction holding them up may commit no event (no notification).
                let signal = self.events.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    bump(&signal);
                });
                return Ok(events);
            }
            tokio::time::sleep(pause).await;
            waited += pause;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    async fn latest_event(&self, scope: &TenantScope) -> StoreResult<Option<i64>> {
        let mut tx = self.read(scope).await?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM events
             WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
               AND ($1::text[] IS NULL OR department_id = ANY ($1))
             ORDER BY txid DESC, seq DESC LIMIT 1",
        )
        .bind(scope_ids(scope))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        Ok(latest)
    }

    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }
}
