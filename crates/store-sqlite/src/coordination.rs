//! [`CoordinationStore`] on SQLite.
use crate::feedback::{Origin, insert_feedback, intake, read_case, read_feedback, write_case};
use crate::{
    Bind, SqliteStore, WriteTx, apply_deltas, bind_all, claim_key, corrupt, db_err, id, in_scope, micros, opt_time,
    read_department, scope_clause, time,
};
use chrono::{DateTime, Utc};
use cityserve_domain::coordination::{
    self, DumbRule, DumbRuleStatus, Escalation, EscalationStatus, EscalationTrigger, Handoff, HandoffKind,
    HandoffResponse, HandoffStatus, Initiative, InitiativeStatus, Milestone, NewDumbRule, NewHandoff, RuleDecision,
    RuleVerdict, RuleVote,
};
use cityserve_domain::report::{self, FocusProgress, LiveFigures, Metrics, Period};
use cityserve_domain::{
    CaseId, CaseTransition, DepartmentId, DepartmentStatus, DumbRuleId, EscalationId, FeedbackId, FeedbackKind,
    HandoffId, InitiativeId, NewFeedback, OfficerId, Page, PageRequest, TenantScope, resolve_targets,
};
use cityserve_store::coordination::{
    CoordinationStore, Direction, DumbRuleFilter, DumbRuleOrder, EscalationFilter, Event, EventCursor, EventFilter,
    HandoffFilter, InitiativeFilter, NewEscalation,
};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, generated_id, now_micros, resource};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

const HANDOFF_COLUMNS: &str = "department_id, handoff_id, case_id, to_department, kind, status, reason, \
     decline_reason, path, ping_pong, accept_due, created_by, create_time, responded_by, respond_time, received_case, \
     revision";
const ESCALATION_COLUMNS: &str = "department_id, escalation_id, case_department, case_id, handoff_department, \
     handoff_id, trigger, status, reason, resolution, created_by, create_time, acknowledge_time, resolve_time, revision";
const INITIATIVE_COLUMNS: &str = "department_id, initiative_id, title, goal, owner, status, milestones, cases, \
     dumb_rules, create_time, update_time, revision";
const RULE_COLUMNS: &str = "rule_id, text, status, verdict, rationale, decided_by, decide_time, reported_by, \
     reporter_department, evidence_count, create_time, update_time, revision";

/// The tables and key columns a rollup sum over `[from_day, to_day)` reads, with their ranges
/// (see [`cityserve_domain::report::rollup_ranges`]).
fn rollup_ranges(from_day: i64, to_day: i64) -> [(&'static str, &'static str, (i64, i64)); 3] {
    let r = cityserve_domain::report::rollup_ranges(from_day, to_day);
    [("rollups", "day", r.days_before), ("rollups_monthly", "month", r.months), ("rollups", "day", r.days_after)]
}

fn path_from(v: Option<String>, own: &DepartmentId) -> StoreResult<Vec<DepartmentId>> {
    match v {
        None => Ok(vec![own.clone()]),
        Some(s) => serde_json::from_str(&s).map_err(|_| corrupt("path")),
    }
}

fn handoff_from(row: &SqliteRow) -> StoreResult<Handoff> {
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

async fn read_handoff(conn: &mut SqliteConnection, d: &DepartmentId, h: &str) -> StoreResult<Handoff> {
    let sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE department_id = ? AND handoff_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(h)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
    handoff_from(&row.ok_or(StoreError::NotFound)?)
}

fn escalation_from(row: &SqliteRow) -> StoreResult<Escalation> {
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
        create_time: time(row, "create_time")?,
        acknowledge_time: opt_time(row, "acknowledge_time")?,
        resolve_time: opt_time(row, "resolve_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

async fn read_escalation(conn: &mut SqliteConnection, d: &DepartmentId, e: &str) -> StoreResult<Escalation> {
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
async fn insert_escalation(conn: &mut WriteTx<'_>, ctx: &WriteCtx<'_>, e: &Escalation) -> StoreResult<bool> {
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

fn initiative_from(row: &SqliteRow, members: Vec<DepartmentId>) -> StoreResult<Initiative> {
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

async fn members_of(conn: &mut SqliteConnection, lead: &str, i: &str) -> StoreResult<Vec<DepartmentId>> {
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

async fn read_initiative(conn: &mut SqliteConnection, lead: &DepartmentId, i: &str) -> StoreResult<Initiative> {
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

fn visible_to(scope: &TenantScope, members: &[DepartmentId]) -> bool {
    members.iter().any(|m| scope.allows(m))
}

async fn check_members_active(conn: &mut SqliteConnection, members: &[DepartmentId]) -> StoreResult<()> {
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

async fn write_members(conn: &mut SqliteConnection, i: &Initiative) -> StoreResult<()> {
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

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

async fn read_rule(conn: &mut SqliteConnection, r: &str) -> StoreResult<DumbRule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules WHERE rule_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r).fetch_optional(&mut *conn).await.map_err(db_err)?;
    let row = row.ok_or(StoreError::NotFound)?;
    let mut rules = vec![rule_from(&row)?];
    attach_rule_details(conn, &mut rules).await?;
    rules.pop().ok_or(StoreError::NotFound)
}

fn rule_from(row: &SqliteRow) -> StoreResult<DumbRule> {
    let status: String = row.try_get("status").map_err(db_err)?;
    let verdict: Option<String> = row.try_get("verdict").map_err(db_err)?;
    let reporter: Option<String> = row.try_get("reporter_department").map_err(db_err)?;
    let decision = match verdict {
        Some(v) => Some(RuleDecision {
            verdict: RuleVerdict::parse(&v).ok_or_else(|| corrupt("verdict"))?,
            rationale: row.try_get("rationale").map_err(db_err)?,
            decided_by: row.try_get("decided_by").map_err(db_err)?,
            decide_time: opt_time(row, "decide_time")?.ok_or_else(|| corrupt("decide_time"))?,
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
        create_time: time(row, "create_time")?,
        update_time: time(row, "update_time")?,
        revision: row.try_get("revision").map_err(db_err)?,
    })
}

/// Adds affected departments, evidence and votes to rules, three queries for the whole slice.
async fn attach_rule_details(conn: &mut SqliteConnection, rules: &mut [DumbRule]) -> StoreResult<()> {
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

fn event_from(row: &SqliteRow) -> StoreResult<Event> {
    Ok(Event {
        sequence: row.try_get("seq").map_err(db_err)?,
        department_id: id(row, "department_id", DepartmentId::parse)?,
        event_type: row.try_get("event_type").map_err(db_err)?,
        resource: row.try_get("resource").map_err(db_err)?,
        payload: row.try_get("payload").map_err(db_err)?,
        occurred_at: time(row, "occurred_at")?,
    })
}

impl CoordinationStore for SqliteStore {
    async fn send_handoff(&self, ctx: &WriteCtx<'_>, idem: &Idempotency, new: &NewHandoff) -> StoreResult<Handoff> {
        let d = &new.department_id;
        in_scope(ctx.scope, d)?;
        in_scope(ctx.scope, &new.to_department)?;
        let mut tx = self.write(ctx).await?;
        if let Some(h) = claim_key(&mut tx, d, idem, "handoff", new.id.as_str()).await? {
            let h = read_handoff(&mut tx, d, &h).await?;
            self.commit(tx).await?;
            return Ok(h);
        }
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
            "SELECT handoff_id FROM handoffs WHERE department_id = ? AND case_id = ? AND status = 'pending'",
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
        let path_json: Option<String> =
            sqlx::query_scalar("SELECT path FROM cases WHERE department_id = ? AND case_id = ?")
                .bind(d.as_str())
                .bind(case.id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        let path = path_from(path_json, d)?;
        let now = now_micros();
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
             VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(d.as_str())
        .bind(h.id.as_str())
        .bind(h.case_id.as_str())
        .bind(h.to_department.as_str())
        .bind(h.kind.as_str())
        .bind(&h.reason)
        .bind(json(&h.path))
        .bind(i64::from(h.ping_pong))
        .bind(micros(h.accept_due))
        .bind(&h.created_by)
        .bind(micros(now))
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
        crate::record(&mut tx, ctx, d, &name, payload.clone()).await?;
        crate::record(&mut tx, ctx, &h.to_department, &name, payload).await?;
        self.commit(tx).await?;
        Ok(h)
    }

    async fn get_handoff(&self, scope: &TenantScope, sender: &DepartmentId, id: &HandoffId) -> StoreResult<Handoff> {
        let mut conn = self.read_conn().await?;
        let h = read_handoff(&mut conn, sender, id.as_str()).await?;
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
        let mut sql = format!("SELECT {HANDOFF_COLUMNS} FROM handoffs WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(d) = &filter.department {
            match filter.direction {
                Direction::Any => {
                    sql.push_str(" AND (department_id = ? OR to_department = ?)");
                    binds.extend([Bind::Text(d.to_string()), Bind::Text(d.to_string())]);
                }
                Direction::Incoming => {
                    sql.push_str(" AND to_department = ?");
                    binds.push(Bind::Text(d.to_string()));
                }
                Direction::Outgoing => {
                    sql.push_str(" AND department_id = ?");
                    binds.push(Bind::Text(d.to_string()));
                }
            }
        }
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(s.as_str().into()));
        }
        if let Some(c) = &filter.case {
            sql.push_str(" AND case_id = ?");
            binds.push(Bind::Text(c.to_string()));
        }
        if let (Some(a), Some(b)) = (scope_clause(scope, "department_id"), scope_clause(scope, "to_department")) {
            sql.push_str(&format!(" AND ({a} OR {b})"));
            for _ in 0..2 {
                binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
            }
        }
        if let Some(a) = &page.after {
            sql.push_str(" AND handoff_id < ?");
            binds.push(Bind::Text(a.clone()));
        }
        sql.push_str(" ORDER BY handoff_id DESC LIMIT ?");
        binds.push(Bind::Int(i64::from(page.size) + 1));
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
        let h = read_handoff(&mut tx, sender, id.as_str()).await?;
        in_scope(ctx.scope, &h.to_department)?;
        if expected_revision.is_some_and(|r| r != h.revision) {
            return Err(StoreError::Conflict);
        }
        let now = now_micros();
        let next = coordination::respond(&h, response, &ctx.actor.subject, now)
            .map_err(|e| StoreError::FailedPrecondition(e.0))?;
        if let HandoffResponse::Accept { new_case, category } = response {
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
            "UPDATE handoffs SET status = ?, decline_reason = ?, responded_by = ?, respond_time = ?, received_case = ?,
                 revision = revision + 1
             WHERE department_id = ? AND handoff_id = ? AND revision = ?",
        )
        .bind(next.status.as_str())
        .bind(&next.decline_reason)
        .bind(&next.responded_by)
        .bind(next.respond_time.map(micros))
        .bind(next.received_case.as_ref().map(|c| c.as_str()))
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
        crate::record(&mut tx, ctx, sender, &name, payload.clone()).await?;
        crate::record(&mut tx, ctx, &h.to_department, &name, payload).await?;
        let saved = read_handoff(&mut tx, sender, id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn case_path(&self, scope: &TenantScope, d: &DepartmentId, case: &CaseId) -> StoreResult<Vec<DepartmentId>> {
        in_scope(scope, d)?;
        let mut conn = self.read_conn().await?;
        let path: Option<Option<String>> =
            sqlx::query_scalar("SELECT path FROM cases WHERE department_id = ? AND case_id = ?")
                .bind(d.as_str())
                .bind(case.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
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
        if let Some(e) = claim_key(&mut tx, d, idem, "escalation", new.id.as_str()).await? {
            let e = read_escalation(&mut tx, d, &e).await?;
            self.commit(tx).await?;
            return Ok(e);
        }
        read_case(&mut tx, d, new.case_id.as_str()).await?;
        let now = now_micros();
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
        let mut conn = self.read_conn().await?;
        read_escalation(&mut conn, d, e.as_str()).await
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
        let mut sql = format!("SELECT {ESCALATION_COLUMNS} FROM escalations WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(d) = &filter.department {
            sql.push_str(" AND department_id = ?");
            binds.push(Bind::Text(d.to_string()));
        }
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(s.as_str().into()));
        }
        if let Some(c) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {c}"));
            binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
        }
        if let Some(a) = &page.after {
            sql.push_str(" AND escalation_id < ?");
            binds.push(Bind::Text(a.clone()));
        }
        sql.push_str(" ORDER BY escalation_id DESC LIMIT ?");
        binds.push(Bind::Int(i64::from(page.size) + 1));
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
            "UPDATE escalations SET status = ?, resolution = ?, acknowledge_time = ?, resolve_time = ?,
                 revision = revision + 1
             WHERE department_id = ? AND escalation_id = ? AND revision = ?",
        )
        .bind(e.status.as_str())
        .bind(&e.resolution)
        .bind(e.acknowledge_time.map(micros))
        .bind(e.resolve_time.map(micros))
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
        crate::record(&mut tx, ctx, d, &resource::escalation(d, &e.id), payload).await?;
        let saved = read_escalation(&mut tx, d, e.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn scan_breaches(&self, ctx: &WriteCtx<'_>, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Escalation>> {
        // BEGIN IMMEDIATE holds SQLite's single write lock for the whole scan: scanners in other
        // processes wait, then see these escalations, and the unique index backs that up.
        let mut tx = self.write(ctx).await?;
        let at = micros(now);
        let limit = i64::from(limit);
        let mut breaches: Vec<(DepartmentId, CaseId, EscalationTrigger, Option<HandoffId>, DepartmentId)> = Vec::new();
        for (trigger, sql) in [
            (
                EscalationTrigger::AcknowledgeBreach,
                "SELECT department_id, case_id FROM cases c WHERE status = 'open' AND acknowledge_due < ?
                   AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
                       AND e.dedupe_key = 'acknowledge_breach:' || c.department_id || '/' || c.case_id)
                 ORDER BY acknowledge_due LIMIT ?",
            ),
            (
                EscalationTrigger::ResolveBreach,
                "SELECT department_id, case_id FROM cases c
                 WHERE status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < ?
                   AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = c.department_id
                       AND e.dedupe_key = 'resolve_breach:' || c.department_id || '/' || c.case_id)
                 ORDER BY resolve_due LIMIT ?",
            ),
        ] {
            let rows = sqlx::query(sql).bind(at).bind(limit).fetch_all(&mut *tx).await.map_err(db_err)?;
            for row in &rows {
                let d = id(row, "department_id", DepartmentId::parse)?;
                breaches.push((d.clone(), id(row, "case_id", CaseId::parse)?, trigger, None, d));
            }
        }
        let rows = sqlx::query(
            "SELECT department_id, handoff_id, case_id, to_department FROM handoffs h
             WHERE status = 'pending' AND accept_due < ?
               AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.department_id = h.to_department
                   AND e.dedupe_key = 'handoff:' || h.handoff_id)
             ORDER BY accept_due LIMIT ?",
        )
        .bind(at)
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
        if let Some(x) = claim_key(&mut tx, d, idem, "initiative", i.id.as_str()).await? {
            let found = read_initiative(&mut tx, d, &x).await?;
            self.commit(tx).await?;
            return Ok(found);
        }
        check_members_active(&mut tx, &i.members).await?;
        crate::require_active_officer(&mut tx, d, &i.owner).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO initiatives (department_id, initiative_id, title, goal, owner, status, milestones, cases,
                 dumb_rules, create_time, update_time, revision)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(d.as_str())
        .bind(i.id.as_str())
        .bind(&i.title)
        .bind(&i.goal)
        .bind(i.owner.as_str())
        .bind(i.status.as_str())
        .bind(json(&i.milestones))
        .bind(json(&i.cases))
        .bind(json(&i.dumb_rules))
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        write_members(&mut tx, i).await?;
        let name = resource::initiative(d, &i.id);
        for m in &i.members {
            let payload = serde_json::json!({ "initiative": i.id.as_str(), "status": i.status.as_str() });
            crate::record(&mut tx, ctx, m, &name, payload).await?;
        }
        let saved = read_initiative(&mut tx, d, i.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_initiative(
        &self,
        scope: &TenantScope,
        lead: &DepartmentId,
        id: &InitiativeId,
    ) -> StoreResult<Initiative> {
        let mut conn = self.read_conn().await?;
        let i = read_initiative(&mut conn, lead, id.as_str()).await?;
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
        let mut sql = format!("SELECT {INITIATIVE_COLUMNS} FROM initiatives i WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(d) = &filter.member {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM initiative_members m WHERE m.lead_department = i.department_id
                   AND m.initiative_id = i.initiative_id AND m.department_id = ?)",
            );
            binds.push(Bind::Text(d.to_string()));
        }
        if let Some(c) = scope_clause(scope, "m.department_id") {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM initiative_members m WHERE m.lead_department = i.department_id
                   AND m.initiative_id = i.initiative_id AND {c})"
            ));
            binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
        }
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(s.as_str().into()));
        }
        if let Some(a) = &page.after {
            sql.push_str(" AND initiative_id < ?");
            binds.push(Bind::Text(a.clone()));
        }
        sql.push_str(" ORDER BY initiative_id DESC LIMIT ?");
        binds.push(Bind::Int(i64::from(page.size) + 1));
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let lead: String = row.try_get("department_id").map_err(db_err)?;
            let iid: String = row.try_get("initiative_id").map_err(db_err)?;
            let members = members_of(&mut conn, &lead, &iid).await?;
            items.push(initiative_from(row, members)?);
        }
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
        let current = read_initiative(&mut tx, d, i.id.as_str()).await?;
        if current.revision != expected_revision {
            return Err(StoreError::Conflict);
        }
        if current.members != i.members {
            check_members_active(&mut tx, &i.members).await?;
        }
        if current.owner != i.owner {
            crate::require_active_officer(&mut tx, d, &i.owner).await?;
        }
        let now = now_micros();
        sqlx::query(
            "UPDATE initiatives SET title = ?, goal = ?, owner = ?, status = ?, milestones = ?, cases = ?, dumb_rules = ?,
                 update_time = ?, revision = revision + 1
             WHERE department_id = ? AND initiative_id = ? AND revision = ?",
        )
        .bind(&i.title)
        .bind(&i.goal)
        .bind(i.owner.as_str())
        .bind(i.status.as_str())
        .bind(json(&i.milestones))
        .bind(json(&i.cases))
        .bind(json(&i.dumb_rules))
        .bind(micros(now))
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
            crate::record(&mut tx, ctx, m, &name, payload).await?;
        }
        let saved = read_initiative(&mut tx, d, i.id.as_str()).await?;
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
        if let Some(r) = claim_key(&mut tx, &key_dept, idem, "dumb_rule", new.id.as_str()).await? {
            let r = read_rule(&mut tx, &r).await?;
            self.commit(tx).await?;
            return Ok(r);
        }
        for d in &new.affected {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM departments WHERE department_id = ?")
                .bind(d.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if exists.is_none() {
                return Err(StoreError::FailedPrecondition(format!("department {d} does not exist")));
            }
        }
        for (d, f) in &new.evidence {
            if !ctx.scope.allows(d) {
                return Err(StoreError::FailedPrecondition(format!(
                    "evidence {} is not feedback you can see",
                    resource::feedback(d, f)
                )));
            }
            read_feedback(&mut tx, d, f.as_str()).await.map_err(|e| match e {
                StoreError::NotFound => StoreError::FailedPrecondition(format!(
                    "evidence {} is not feedback you can see",
                    resource::feedback(d, f)
                )),
                other => other,
            })?;
        }
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rules (rule_id, text, status, reported_by, reporter_department, evidence_count,
                 create_time, update_time, revision)
             VALUES (?, ?, 'open', ?, ?, ?, ?, ?, 1)",
        )
        .bind(new.id.as_str())
        .bind(&new.text)
        .bind(&ctx.actor.subject)
        .bind(new.reporter_department.as_ref().map(|d| d.as_str()))
        .bind(i64::try_from(new.evidence.len()).unwrap_or(i64::MAX))
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for d in &new.affected {
            sqlx::query("INSERT INTO dumb_rule_affected (department_id, rule_id) VALUES (?, ?)")
                .bind(d.as_str())
                .bind(new.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for (d, f) in &new.evidence {
            sqlx::query(
                "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id) VALUES (?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(d.as_str())
            .bind(new.id.as_str())
            .bind(f.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let name = resource::dumb_rule(&new.id);
        for d in &new.affected {
            let payload = serde_json::json!({ "dumb_rule": new.id.as_str(), "status": "open" });
            crate::record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_dumb_rule(&self, _scope: &TenantScope, id: &DumbRuleId) -> StoreResult<DumbRule> {
        let mut conn = self.read_conn().await?;
        read_rule(&mut conn, id.as_str()).await
    }

    async fn list_dumb_rules(
        &self,
        _scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<DumbRule>> {
        let mut sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules r WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(s.as_str().into()));
        }
        if let Some(d) = &filter.affected {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM dumb_rule_affected a WHERE a.rule_id = r.rule_id AND a.department_id = ?)",
            );
            binds.push(Bind::Text(d.to_string()));
        }
        match (order, &page.after) {
            (DumbRuleOrder::Newest, Some(a)) => {
                sql.push_str(" AND rule_id < ?");
                binds.push(Bind::Text(a.clone()));
            }
            (DumbRuleOrder::MostEvidence, Some(a)) => {
                let (n, r) = a.split_once(':').ok_or_else(|| StoreError::Internal("bad page position".into()))?;
                let n: i64 = n.parse().map_err(|_| StoreError::Internal("bad page position".into()))?;
                sql.push_str(" AND (evidence_count < ? OR (evidence_count = ? AND rule_id < ?))");
                binds.extend([Bind::Int(n), Bind::Int(n), Bind::Text(r.to_owned())]);
            }
            (_, None) => {}
        }
        sql.push_str(match order {
            DumbRuleOrder::Newest => " ORDER BY rule_id DESC LIMIT ?",
            DumbRuleOrder::MostEvidence => " ORDER BY evidence_count DESC, rule_id DESC LIMIT ?",
        });
        binds.push(Bind::Int(i64::from(page.size) + 1));
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
        attach_rule_details(&mut conn, &mut page.items).await?;
        Ok(page)
    }

    async fn vote_dumb_rule(&self, ctx: &WriteCtx<'_>, id: &DumbRuleId, vote: &RuleVote) -> StoreResult<DumbRule> {
        in_scope(ctx.scope, &vote.department_id)?;
        let mut tx = self.write(ctx).await?;
        let rule = read_rule(&mut tx, id.as_str()).await?;
        coordination::check_vote(&rule, &vote.department_id).map_err(|e| StoreError::FailedPrecondition(e.0))?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (department_id, rule_id) DO UPDATE SET voter = excluded.voter, verdict = excluded.verdict,
                 comment = excluded.comment, update_time = excluded.update_time",
        )
        .bind(vote.department_id.as_str())
        .bind(id.as_str())
        .bind(vote.voter.as_str())
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE dumb_rules SET update_time = ?, revision = revision + 1 WHERE rule_id = ?")
            .bind(micros(now))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let payload = serde_json::json!({ "dumb_rule": id.as_str(), "vote": vote.verdict.as_str() });
        crate::record(&mut tx, ctx, &vote.department_id, &resource::dumb_rule(id), payload).await?;
        let saved = read_rule(&mut tx, id.as_str()).await?;
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
            "UPDATE dumb_rules SET status = 'decided', verdict = ?, rationale = ?, decided_by = ?, decide_time = ?,
                 update_time = ?, revision = revision + 1
             WHERE rule_id = ? AND revision = ? AND status = 'open'",
        )
        .bind(decision.verdict.as_str())
        .bind(&decision.rationale)
        .bind(&decision.decided_by)
        .bind(micros(decision.decide_time))
        .bind(micros(decision.decide_time))
        .bind(rule.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let current = read_rule(&mut tx, rule.id.as_str()).await?;
            return Err(if current.status != DumbRuleStatus::Open {
                StoreError::FailedPrecondition("the rule was already decided".into())
            } else {
                StoreError::Conflict
            });
        }
        let name = resource::dumb_rule(&rule.id);
        for d in &rule.affected {
            let payload = serde_json::json!({ "dumb_rule": rule.id.as_str(), "verdict": decision.verdict.as_str() });
            crate::record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, rule.id.as_str()).await?;
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
        // Sums over whole months (rollups_monthly) and the partial-month edges (rollups); only the
        // non-empty ranges are queried.
        let mut filter = String::new();
        let mut filter_binds = Vec::new();
        if let Some(ds) = departments {
            filter.push_str(&format!(" AND department_id IN ({})", vec!["?"; ds.len()].join(", ")));
            filter_binds.extend(ds.iter().map(|d| d.to_string()));
        }
        if let Some(c) = scope_clause(scope, "department_id") {
            filter.push_str(&format!(" AND {c}"));
            filter_binds.extend(scope.departments().unwrap_or_default().iter().map(|d| d.to_string()));
        }
        let mut branches = Vec::new();
        let mut binds = Vec::new();
        for (table, column, (from, to)) in rollup_ranges(from_day, to_day) {
            if from < to {
                branches.push(format!(
                    "SELECT department_id, metric, value FROM {table} WHERE {column} >= ? AND {column} < ?{filter}"
                ));
                binds.extend([Bind::Int(from), Bind::Int(to)]);
                binds.extend(filter_binds.iter().cloned().map(Bind::Text));
            }
        }
        if branches.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT department_id, metric, SUM(value) AS total FROM ({}) GROUP BY department_id, metric
             ORDER BY department_id",
            branches.join(" UNION ALL ")
        );
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
        let (from, to) = (micros(period.start_time()), micros(period.end_time()));
        let year = period.start.format("%Y").to_string().parse::<i32>().unwrap_or(1970);
        // One row per department. A recognition counts for the recognised officer's department
        // (its department_id). A competency gap is an (active officer, competency of the
        // department) pair where the competency is required for a role the officer holds (the
        // officer's kind, or the seat of an active appointment: Officer::roles) and no training
        // record of it is valid now (no expiry, or a later one): officer::competency_gaps.
        let sql = format!(
            "SELECT d.department_id,
                 (SELECT COUNT(*) FROM recognitions r
                  WHERE r.department_id = d.department_id AND r.create_time >= ?1 AND r.create_time < ?2)
                     AS recognitions,
                 (SELECT COUNT(*) FROM dumb_rules r JOIN dumb_rule_affected a ON a.rule_id = r.rule_id
                  WHERE a.department_id = d.department_id AND r.verdict IN ('kill', 'revise')
                    AND r.decide_time >= ?1 AND r.decide_time < ?2) AS dumb_rules_retired,
                 (SELECT COUNT(*) FROM officers o
                  JOIN competencies c ON c.department_id = o.department_id
                  WHERE o.department_id = d.department_id AND o.status = 'active'
                    AND (instr(',' || c.required_for || ',', ',' || o.kind || ',') > 0
                         OR instr(',' || c.required_for || ',', ',' || (
                             SELECT a.seat FROM appointments a WHERE a.officer_id = o.officer_id AND a.end_time IS NULL
                             ORDER BY a.seat LIMIT 1) || ',') > 0)
                    AND NOT EXISTS (
                        SELECT 1 FROM training_records t
                        WHERE t.department_id = o.department_id AND t.officer_id = o.officer_id
                          AND t.competency_id = c.competency_id AND (t.expire_time IS NULL OR t.expire_time > ?3)))
                     AS competency_gaps,
                 p.content,
                 (SELECT v.value FROM plan_progress v
                  WHERE p.content IS NOT NULL AND v.department_id = d.department_id AND v.year = ?4
                    AND v.recorded_at < ?2
                  ORDER BY v.recorded_at DESC LIMIT 1) AS current
             FROM departments d
             LEFT JOIN plans p ON p.department_id = d.department_id AND p.year = ?4
             WHERE d.department_id IN ({})",
            (0..departments.len()).map(|i| format!("?{}", i + 5)).collect::<Vec<_>>().join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).bind(micros(now_micros())).bind(year);
        for d in departments {
            query = query.bind(d.as_str());
        }
        let mut conn = self.read_conn().await?;
        let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
        drop(conn);
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let d: String = row.try_get("department_id").map_err(db_err)?;
            let content: Option<String> = row.try_get("content").map_err(db_err)?;
            let focus = content.map(|json| -> StoreResult<FocusProgress> {
                let plan: cityserve_domain::officer::PlanContent =
                    serde_json::from_str(&json).map_err(|_| corrupt("content"))?;
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
        let plan: Option<i64> = sqlx::query_scalar("SELECT 1 FROM plans WHERE department_id = ? AND year = ?")
            .bind(d.as_str())
            .bind(year)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if plan.is_none() {
            return Err(StoreError::NotFound);
        }
        let now = micros(now_micros());
        sqlx::query(
            "INSERT INTO plan_progress (department_id, year, recorded_at, value, recorded_by) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET value = excluded.value, recorded_by = excluded.recorded_by",
        )
        .bind(d.as_str())
        .bind(year)
        .bind(now)
        .bind(value)
        .bind(&ctx.actor.subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "plan": year, "focus_progress": true });
        crate::record(&mut tx, ctx, d, &resource::plan(d, year), payload).await?;
        self.commit(tx).await
    }

    async fn events_after(
        &self,
        scope: &TenantScope,
        filter: &EventFilter,
        cursor: EventCursor,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let mut conn = self.read_conn().await?;
        let after = match cursor {
            EventCursor::Start => 0,
            EventCursor::After(s) => {
                let d: Option<String> = sqlx::query_scalar("SELECT department_id FROM events WHERE seq = ?")
                    .bind(s)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                match d {
                    Some(d) if DepartmentId::parse("d", &d).is_ok_and(|d| scope.allows(&d)) => s,
                    _ => return Err(StoreError::NotFound),
                }
            }
        };
        let mut sql = "SELECT seq, department_id, event_type, resource, payload, occurred_at FROM events WHERE seq > ?"
            .to_owned();
        let mut binds = vec![Bind::Int(after)];
        if let Some(c) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {c}"));
            binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
        }
        if let Some(ds) = &filter.departments {
            sql.push_str(&format!(" AND department_id IN ({})", vec!["?"; ds.len().max(1)].join(", ")));
            if ds.is_empty() {
                binds.push(Bind::Text(String::new()));
            }
            binds.extend(ds.iter().map(|d| Bind::Text(d.to_string())));
        }
        if !filter.type_prefixes.is_empty() {
            let ors = vec!["substr(event_type, 1, length(?)) = ?"; filter.type_prefixes.len()].join(" OR ");
            sql.push_str(&format!(" AND ({ors})"));
            for p in &filter.type_prefixes {
                binds.extend([Bind::Text(p.clone()), Bind::Text(p.clone())]);
            }
        }
        sql.push_str(" ORDER BY seq LIMIT ?");
        binds.push(Bind::Int(i64::from(limit)));
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
        rows.iter().map(event_from).collect()
    }

    async fn latest_event(&self, scope: &TenantScope) -> StoreResult<Option<i64>> {
        let mut sql = "SELECT MAX(seq) FROM events WHERE 1 = 1".to_owned();
        let mut binds = Vec::new();
        if let Some(c) = scope_clause(scope, "department_id") {
            sql.push_str(&format!(" AND {c}"));
            binds.extend(scope.departments().unwrap_or_default().iter().map(|d| Bind::Text(d.to_string())));
        }
        let mut conn = self.read_conn().await?;
        let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_one(&mut *conn).await.map_err(db_err)?;
        row.try_get::<Option<i64>, _>(0).map_err(db_err)
    }

    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.events.subscribe()
    }
}
