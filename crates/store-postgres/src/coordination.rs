//! [`CoordinationStore`] on PostgreSQL. Row-level security lets a hand-off be seen by both of its
//! departments, an initiative by its members, and the dumb rules register by every officer (see
//! migrations/postgres/0004_coordination.sql); the code checks the same in front of it.
use crate::{PgStore, WriteTx, apply_deltas, corrupt, db_err, id, record, scope_ids};
use cityserve_domain::coordination::{
    DumbRule, Escalation, Handoff, HandoffKind, HandoffStatus, Initiative, InitiativeStatus, RuleVerdict, RuleVote,
};
use cityserve_domain::report::{self};
use cityserve_domain::{CaseId, DepartmentId, FeedbackId, HandoffId, InitiativeId, OfficerId, TenantScope};
use cityserve_store::coordination::{Event, EventFilter};
use cityserve_store::{StoreError, StoreResult, WriteCtx, resource};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{PgConnection, Row};

pub(crate) use cityserve_store_sql::rows::{
    dumb_rule as rule_from, escalation as escalation_from, event as event_from,
};

pub(crate) const HANDOFF_COLUMNS: &str = "department_id, handoff_id, case_id, to_department, kind, status, reason, \
     decline_reason, path, ping_pong, accept_due, created_by, create_time, responded_by, respond_time, received_case, \
     revision";
pub(crate) const ESCALATION_COLUMNS: &str = "department_id, escalation_id, case_department, case_id, handoff_department, \
     handoff_id, trigger, status, reason, resolution, created_by, create_time, acknowledge_time, resolve_time, revision";
pub(crate) const INITIATIVE_COLUMNS: &str = "department_id, initiative_id, title, goal, owner, status, members, milestones, \
     cases, dumb_rules, create_time, update_time, revision";
pub(crate) const RULE_COLUMNS: &str = "rule_id, text, status, verdict, rationale, decided_by, decide_time, reported_by, \
     reporter_department, evidence_count, create_time, update_time, revision";
pub(crate) const EVENT_COLUMNS: &str =
    "seq, department_id, event_type, resource, payload::text AS payload, occurred_at";

/// Transaction-level advisory lock key of the breach scan ("CSBREACH"): one scanner at a time
/// across replicas.
pub(crate) const BREACH_SCAN_LOCK: i64 = 0x4353_4252_4541_4348;

/// The tables and key columns a rollup sum over `[from_day, to_day)` reads, with their ranges
/// (see [`cityserve_domain::report::rollup_ranges`]).
pub(crate) fn rollup_ranges(from_day: i64, to_day: i64) -> [(&'static str, &'static str, (i64, i64)); 3] {
    let r = cityserve_domain::report::rollup_ranges(from_day, to_day);
    [("rollups", "day", r.days_before), ("rollups_monthly", "month", r.months), ("rollups", "day", r.days_after)]
}

pub(crate) fn departments(col: &str, ids: &[String]) -> StoreResult<Vec<DepartmentId>> {
    ids.iter().map(|d| DepartmentId::parse(col, d).map_err(|_| corrupt(col))).collect()
}

pub(crate) fn path_from(v: Option<Vec<String>>, own: &DepartmentId) -> StoreResult<Vec<DepartmentId>> {
    match v {
        None => Ok(vec![own.clone()]),
        Some(p) => departments("path", &p),
    }
}

pub(crate) fn handoff_from(row: &PgRow) -> StoreResult<Handoff> {
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
pub(crate) async fn read_handoff(
    conn: &mut PgConnection,
    d: &DepartmentId,
    h: &str,
    lock: bool,
) -> StoreResult<Handoff> {
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

pub(crate) async fn read_escalation(conn: &mut PgConnection, d: &DepartmentId, e: &str) -> StoreResult<Escalation> {
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
pub(crate) async fn insert_escalation(conn: &mut WriteTx, ctx: &WriteCtx<'_>, e: &Escalation) -> StoreResult<bool> {
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

pub(crate) fn initiative_from(row: &PgRow) -> StoreResult<Initiative> {
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
pub(crate) async fn read_initiative(
    conn: &mut PgConnection,
    lead: &DepartmentId,
    i: &str,
    lock: bool,
) -> StoreResult<Initiative> {
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

pub(crate) fn visible_to(scope: &TenantScope, members: &[DepartmentId]) -> bool {
    members.iter().any(|m| scope.allows(m))
}

/// The member list as stored: sorted, without duplicates.
pub(crate) fn sorted_members(members: &[DepartmentId]) -> Vec<&str> {
    let mut out: Vec<&str> = members.iter().map(DepartmentId::as_str).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The status of any department (`None`: no such department), also one outside the caller's
/// row-level security.
pub(crate) async fn department_status(conn: &mut PgConnection, d: &DepartmentId) -> StoreResult<Option<String>> {
    sqlx::query_scalar("SELECT department_status($1)").bind(d.as_str()).fetch_one(&mut *conn).await.map_err(db_err)
}

pub(crate) async fn check_members_active(conn: &mut PgConnection, members: &[DepartmentId]) -> StoreResult<()> {
    for m in members {
        match department_status(conn, m).await?.as_deref() {
            None => return Err(StoreError::FailedPrecondition(format!("department {m} does not exist"))),
            Some("active") => {}
            Some(_) => return Err(StoreError::FailedPrecondition(format!("department {m} is archived"))),
        }
    }
    Ok(())
}

pub(crate) async fn write_members(conn: &mut PgConnection, i: &Initiative) -> StoreResult<()> {
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
pub(crate) async fn read_rule(conn: &mut PgConnection, r: &str, lock: bool) -> StoreResult<DumbRule> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules WHERE rule_id = $1{lock}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r).fetch_optional(&mut *conn).await.map_err(db_err)?;
    let row = row.ok_or(StoreError::NotFound)?;
    let mut rules = vec![rule_from(&row)?];
    attach_rule_details(conn, &mut rules).await?;
    rules.pop().ok_or(StoreError::NotFound)
}

/// Adds affected departments, evidence and votes to rules, three queries for the whole slice.
pub(crate) async fn attach_rule_details(conn: &mut PgConnection, rules: &mut [DumbRule]) -> StoreResult<()> {
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

/// The filters of an event read, as parameters `$2` (scope), `$3` (departments) and `$4` (type
/// prefixes). `$1` is the cursor's sequence number (NULL: from the start).
pub(crate) const EVENT_FILTERS: &str = "($2::text[] IS NULL OR department_id = ANY ($2))
       AND ($3::text[] IS NULL OR department_id = ANY ($3))
       AND (cardinality($4::text[]) = 0 OR EXISTS (
               SELECT 1 FROM unnest($4::text[]) AS p WHERE starts_with(event_type, p)))
       AND ($1::bigint IS NULL OR (txid, seq) > ((SELECT x.txid FROM events x WHERE x.seq = $1), $1))";

impl PgStore {
    /// One read of [`CoordinationStore::events_after`]: the events after `after` whose
    /// transactions all ended (below the snapshot's xmin), and whether matching committed events
    /// were held back because an older transaction is still running.
    pub(crate) async fn read_events(
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
