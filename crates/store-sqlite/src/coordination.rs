//! [`CoordinationStore`] on SQLite.
use crate::{WriteTx, apply_deltas, corrupt, db_err, id, micros, opt_time, read_department, time};
use cityserve_domain::coordination::{
    DumbRule, Escalation, Handoff, HandoffKind, HandoffStatus, Initiative, InitiativeStatus, Milestone, RuleVerdict,
    RuleVote,
};
use cityserve_domain::report::{self};
use cityserve_domain::{
    CaseId, DepartmentId, DepartmentStatus, FeedbackId, HandoffId, InitiativeId, OfficerId, TenantScope,
};
use cityserve_store::{StoreError, StoreResult, WriteCtx, resource};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

pub(crate) use cityserve_store_sql::rows::{
    dumb_rule as rule_from, escalation as escalation_from, event as event_from,
};

pub(crate) const HANDOFF_COLUMNS: &str = "department_id, handoff_id, case_id, to_department, kind, status, reason, \
     decline_reason, path, ping_pong, accept_due, created_by, create_time, responded_by, respond_time, received_case, \
     revision";
pub(crate) const ESCALATION_COLUMNS: &str = "department_id, escalation_id, case_department, case_id, handoff_department, \
     handoff_id, trigger, status, reason, resolution, created_by, create_time, acknowledge_time, resolve_time, revision";
pub(crate) const INITIATIVE_COLUMNS: &str = "department_id, initiative_id, title, goal, owner, status, milestones, cases, \
     dumb_rules, create_time, update_time, revision";
pub(crate) const RULE_COLUMNS: &str = "rule_id, text, status, verdict, rationale, decided_by, decide_time, reported_by, \
     reporter_department, evidence_count, create_time, update_time, revision";

/// The tables and key columns a rollup sum over `[from_day, to_day)` reads, with their ranges
/// (see [`cityserve_domain::report::rollup_ranges`]).
pub(crate) fn rollup_ranges(from_day: i64, to_day: i64) -> [(&'static str, &'static str, (i64, i64)); 3] {
    let r = cityserve_domain::report::rollup_ranges(from_day, to_day);
    [("rollups", "day", r.days_before), ("rollups_monthly", "month", r.months), ("rollups", "day", r.days_after)]
}

pub(crate) fn path_from(v: Option<String>, own: &DepartmentId) -> StoreResult<Vec<DepartmentId>> {
    match v {
        None => Ok(vec![own.clone()]),
        Some(s) => serde_json::from_str(&s).map_err(|_| corrupt("path")),
    }
}

pub(crate) fn handoff_from(row: &SqliteRow) -> StoreResult<Handoff> {
    let kind: String = row.try_get("kind").map_err(db_err)?;
    let status: String = row.try_get("status").map_err(db_err)?;
    let path: String = row.try_get("path").map_err(db_err)?;
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
        path: serde_json::from_str(&path).map_err(|_| corrupt("path"))?,
        ping_pong: row.try_get::<i64, _>("ping_pong").map_err(db_err)? != 0,
        accept_due: time(row, "accept_due")?,
        created_by: row.try_get("created_by").map_err(db_err)?,
        create_time: time(row, "create_time")?,
        responded_by: row.try_get("responded_by").map_err(db_err)?,
        respond_time: opt_time(row, "respond_time")?,
        received_case: received
            .map(|c| CaseId::parse("received_case", &c).map_err(|_| corrupt("received_case")))
            .transpose()?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

pub(crate) async fn read_handoff(conn: &mut SqliteConnection, d: &DepartmentId, h: &str) -> StoreResult<Handoff> {
    let sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE department_id = ? AND handoff_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(h)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    handoff_from(&row.ok_or(StoreError::NotFound)?)
}

pub(crate) async fn read_escalation(conn: &mut SqliteConnection, d: &DepartmentId, e: &str) -> StoreResult<Escalation> {
    let sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE department_id = ? AND escalation_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(e)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    escalation_from(&row.ok_or(StoreError::NotFound)?)
}

/// Inserts an escalation with its counter, audit and event. Returns `false` when an automatic
/// escalation of the same breach exists already.
pub(crate) async fn insert_escalation(conn: &mut WriteTx<'_>, ctx: &WriteCtx<'_>, e: &Escalation) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO escalations (department_id, escalation_id, case_department, case_id, handoff_department,
             handoff_id, trigger, status, reason, created_by, create_time, dedupe_key, revision)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
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
    .bind(micros(e.create_time))
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
    crate::record(conn, ctx, &e.department_id, &resource::escalation(&e.department_id, &e.id), payload).await?;
    Ok(true)
}

pub(crate) fn initiative_from(row: &SqliteRow, members: Vec<DepartmentId>) -> StoreResult<Initiative> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let milestones: String = row.try_get("milestones").map_err(db_err)?;
    let cases: String = row.try_get("cases").map_err(db_err)?;
    let rules: String = row.try_get("dumb_rules").map_err(db_err)?;
    Ok(Initiative {
        department_id: id(row, "department_id", DepartmentId::parse)?,
        id: id(row, "initiative_id", InitiativeId::parse)?,
        title: row.try_get("title").map_err(db_err)?,
        goal: row.try_get("goal").map_err(db_err)?,
        owner: id(row, "owner", OfficerId::parse)?,
        members,
        status: InitiativeStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        milestones: serde_json::from_str::<Vec<Milestone>>(&milestones).map_err(|_| corrupt("milestones"))?,
        cases: serde_json::from_str(&cases).map_err(|_| corrupt("cases"))?,
        dumb_rules: serde_json::from_str(&rules).map_err(|_| corrupt("dumb_rules"))?,
        create_time: time(row, "create_time")?,
        update_time: time(row, "update_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

pub(crate) async fn members_of(conn: &mut SqliteConnection, lead: &str, i: &str) -> StoreResult<Vec<DepartmentId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT department_id FROM initiative_members WHERE lead_department = ? AND initiative_id = ?
         ORDER BY department_id",
    )
    .bind(lead)
    .bind(i)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    ids.iter().map(|d| DepartmentId::parse("department_id", d).map_err(|_| corrupt("department_id"))).collect()
}

pub(crate) async fn read_initiative(
    conn: &mut SqliteConnection,
    lead: &DepartmentId,
    i: &str,
) -> StoreResult<Initiative> {
    let sql = format!("SELECT {INITIATIVE_COLUMNS} FROM initiatives WHERE department_id = ? AND initiative_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(lead.as_str())
        .bind(i)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    let members = members_of(conn, lead.as_str(), i).await?;
    initiative_from(&row, members)
}

pub(crate) fn visible_to(scope: &TenantScope, members: &[DepartmentId]) -> bool {
    members.iter().any(|m| scope.allows(m))
}

pub(crate) async fn check_members_active(conn: &mut SqliteConnection, members: &[DepartmentId]) -> StoreResult<()> {
    for m in members {
        let d = read_department(conn, m).await.map_err(|e| match e {
            StoreError::NotFound => StoreError::FailedPrecondition(format!("department {m} does not exist")),
            other => other,
        })?;
        if d.status != DepartmentStatus::Active {
            return Err(StoreError::FailedPrecondition(format!("department {m} is archived")));
        }
    }
    Ok(())
}

pub(crate) async fn write_members(conn: &mut SqliteConnection, i: &Initiative) -> StoreResult<()> {
    sqlx::query("DELETE FROM initiative_members WHERE lead_department = ? AND initiative_id = ?")
        .bind(i.department_id.as_str())
        .bind(i.id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    for m in &i.members {
        sqlx::query("INSERT INTO initiative_members (department_id, lead_department, initiative_id) VALUES (?, ?, ?)")
            .bind(m.as_str())
            .bind(i.department_id.as_str())
            .bind(i.id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub(crate) async fn read_rule(conn: &mut SqliteConnection, r: &str) -> StoreResult<DumbRule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules WHERE rule_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r).fetch_optional(&mut *conn).await.map_err(db_err)?;
    let row = row.ok_or(StoreError::NotFound)?;
    let mut rules = vec![rule_from(&row)?];
    attach_rule_details(conn, &mut rules).await?;
    rules.pop().ok_or(StoreError::NotFound)
}

/// Adds affected departments, evidence and votes to rules, three queries for the whole slice.
pub(crate) async fn attach_rule_details(conn: &mut SqliteConnection, rules: &mut [DumbRule]) -> StoreResult<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; rules.len()].join(", ");
    let dept = |row: &SqliteRow| id(row, "department_id", DepartmentId::parse);
    let find = |rules: &mut [DumbRule], r: &str| rules.iter().position(|x| x.id.as_str() == r);
    let sql = format!(
        "SELECT department_id, rule_id FROM dumb_rule_affected WHERE rule_id IN ({marks}) ORDER BY department_id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rules.iter() {
        q = q.bind(r.id.as_str().to_owned());
    }
    for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].affected.push(dept(&row)?);
        }
    }
    let sql = format!(
        "SELECT department_id, rule_id, feedback_id FROM dumb_rule_evidence WHERE rule_id IN ({marks})
         ORDER BY department_id, feedback_id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rules.iter() {
        q = q.bind(r.id.as_str().to_owned());
    }
    for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].evidence.push((dept(&row)?, id(&row, "feedback_id", FeedbackId::parse)?));
        }
    }
    let sql = format!(
        "SELECT department_id, rule_id, voter, verdict, comment, update_time FROM dumb_rule_votes
         WHERE rule_id IN ({marks}) ORDER BY department_id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for r in rules.iter() {
        q = q.bind(r.id.as_str().to_owned());
    }
    for row in q.fetch_all(&mut *conn).await.map_err(db_err)? {
        let r: String = row.try_get("rule_id").map_err(db_err)?;
        let verdict: String = row.try_get("verdict").map_err(db_err)?;
        if let Some(i) = find(rules, &r) {
            rules[i].votes.push(RuleVote {
                department_id: dept(&row)?,
                voter: id(&row, "voter", OfficerId::parse)?,
                verdict: RuleVerdict::parse(&verdict).ok_or_else(|| corrupt("verdict"))?,
                comment: row.try_get("comment").map_err(db_err)?,
                update_time: time(&row, "update_time")?,
            });
        }
    }
    Ok(())
}
