//! Coordination (hand-offs, escalations, initiatives, the dumb rules register): column lists,
//! statements, helpers and the read helpers ([`crate::coordination_reads!`]) both backends share. The
//! stores themselves are written once in [`crate::handoffs`], [`crate::escalations`],
//! [`crate::initiatives`] and [`crate::dumb_rules`].
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::{SqlRow, parse_ids};
use cityserve_domain::coordination::{DumbRule, RuleVerdict, RuleVote};
use cityserve_domain::{DepartmentId, FeedbackId, OfficerId, TenantScope};
use cityserve_store::StoreResult;

macro_rules! handoff_columns {
    () => {
        "department_id, handoff_id, case_id, to_department, kind, status, reason, decline_reason, path, ping_pong, \
         accept_due, created_by, create_time, responded_by, respond_time, received_case, revision"
    };
}
macro_rules! escalation_columns {
    () => {
        "department_id, escalation_id, case_department, case_id, handoff_department, handoff_id, trigger, status, \
         reason, resolution, created_by, create_time, acknowledge_time, resolve_time, revision, breach_count, \
         digest_cases"
    };
}
macro_rules! initiative_columns {
    () => {
        "department_id, initiative_id, title, goal, owner, status, milestones, cases, dumb_rules, create_time, \
         update_time, revision, lessons, start_time, end_time"
    };
}
macro_rules! rule_columns {
    () => {
        "rule_id, text, status, verdict, rationale, decided_by, decide_time, reported_by, reporter_department, \
         evidence_count, create_time, update_time, revision"
    };
}

/// The columns [`crate::rows::handoff`] reads.
pub const HANDOFF_COLUMNS: &str = handoff_columns!();
/// One hand-off by sender and ID (a backend may append its row lock).
pub const SELECT_HANDOFF: &str =
    concat!("SELECT ", handoff_columns!(), " FROM handoffs WHERE department_id = $1 AND handoff_id = $2");
/// The columns [`crate::rows::escalation`] reads.
pub const ESCALATION_COLUMNS: &str = escalation_columns!();
/// One escalation by department and ID.
pub const SELECT_ESCALATION: &str =
    concat!("SELECT ", escalation_columns!(), " FROM escalations WHERE department_id = $1 AND escalation_id = $2");
/// Inserts an escalation, unless an automatic one of the same breach (`$12`, its dedupe key)
/// exists already.
pub const INSERT_ESCALATION: &str =
    "INSERT INTO escalations (department_id, escalation_id, case_department, case_id, handoff_department,
         handoff_id, trigger, status, reason, created_by, create_time, dedupe_key, revision, breach_count,
         digest_cases)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14)
     ON CONFLICT (department_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING";
/// The columns [`crate::rows::initiative`] reads (its members come separately).
pub const INITIATIVE_COLUMNS: &str = initiative_columns!();
/// [`INITIATIVE_COLUMNS`] and `members`, the copy of the member list PostgreSQL keeps in the row
/// (every member reads the whole list, which row-level security on `initiative_members` hides).
pub const INITIATIVE_COLUMNS_AND_MEMBERS: &str = concat!(initiative_columns!(), ", members");
/// The columns [`crate::rows::dumb_rule`] reads.
pub const RULE_COLUMNS: &str = rule_columns!();
/// One rule by ID (a backend may append its row lock).
pub const SELECT_RULE: &str = concat!("SELECT ", rule_columns!(), " FROM dumb_rules WHERE rule_id = $1");

/// The tables and key columns a rollup sum over `[from_day, to_day)` reads, with their ranges
/// (see [`cityserve_domain::report::rollup_ranges`]).
pub fn rollup_ranges(from_day: i64, to_day: i64) -> [(&'static str, &'static str, (i64, i64)); 3] {
    let r = cityserve_domain::report::rollup_ranges(from_day, to_day);
    [("rollups", "day", r.days_before), ("rollups_monthly", "month", r.months), ("rollups", "day", r.days_after)]
}

/// A case's path as stored (`None`: it never moved, so only its own department).
pub fn path_from(path: Option<Vec<String>>, own: &DepartmentId) -> StoreResult<Vec<DepartmentId>> {
    match path {
        None => Ok(vec![own.clone()]),
        Some(p) => parse_ids("path", &p, DepartmentId::parse),
    }
}

/// Whether an initiative with these members is visible in `scope`.
pub fn visible_to(scope: &TenantScope, members: &[DepartmentId]) -> bool {
    members.iter().any(|m| scope.allows(m))
}

/// The member list as stored: sorted, without duplicates.
pub fn sorted_members(members: &[DepartmentId]) -> Vec<&DepartmentId> {
    let mut out: Vec<&DepartmentId> = members.iter().collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The rules' IDs, the list their details are read for.
pub fn rule_ids(rules: &[DumbRule]) -> Vec<String> {
    rules.iter().map(|r| r.id.to_string()).collect()
}

/// Reads rule details from `table` for the rules `ids` (a list bound by the backend), ordered.
pub fn rule_details(
    lists: crate::args::Lists,
    columns: &str,
    table: &str,
    order: &str,
    ids: &[String],
) -> crate::args::Select {
    let mut q = crate::args::Select::new(lists, format!("SELECT rule_id, {columns} FROM {table}"));
    let ids = q.list(ids.iter().map(String::as_str));
    q.and(&ids.has("rule_id")).push(&format!(" ORDER BY {order}"));
    q
}

/// The details of the rules ([`rule_details`]): affected departments, evidence, votes.
pub const RULE_DETAILS: [(&str, &str, &str); 3] = [
    ("department_id", "dumb_rule_affected", "department_id"),
    ("department_id, feedback_id", "dumb_rule_evidence", "department_id, feedback_id"),
    ("department_id, voter, verdict, comment, update_time", "dumb_rule_votes", "department_id"),
];

/// Adds one row of [`RULE_DETAILS`]`[detail]` to its rule in `rules` (a row of no rule in
/// `rules` is skipped).
pub fn attach_rule_detail(rules: &mut [DumbRule], detail: usize, row: &impl SqlRow) -> StoreResult<()> {
    let r = row.text("rule_id")?;
    let Some(rule) = rules.iter_mut().find(|x| x.id.as_str() == r) else {
        return Ok(());
    };
    let department = row.id("department_id", DepartmentId::parse)?;
    match detail {
        0 => rule.affected.push(department),
        1 => rule.evidence.push((department, row.id("feedback_id", FeedbackId::parse)?)),
        _ => rule.votes.push(RuleVote {
            department_id: department,
            voter: row.id("voter", OfficerId::parse)?,
            verdict: row.word("verdict", RuleVerdict::parse)?,
            comment: row.text("comment")?,
            update_time: row.time("update_time")?,
        }),
    }
    Ok(())
}

/// Read helpers for coordination, expanded in a backend's coordination module. They run on
/// `crate::Conn`, map errors with `crate::db_err`, bind instants with `crate::at` and lists with
/// `crate::LISTS` and `crate::bind_args`, lock rows with `crate::ROW_LOCK` (`None` where the
/// database needs no row locks), write through `crate::record` and `crate::apply_deltas`, and use
/// what is dialect in the module itself:
/// - `DEPARTMENT_STATUS`, the status (`$1`: a department ID) of any department, also one the
///   caller cannot see, as one nullable text; no row or NULL when there is no such department;
/// - `INITIATIVE_SELECT`, the initiative columns the backend reads, and `initiatives_from(conn,
///   rows)`, those rows as initiatives with their members.
#[macro_export]
macro_rules! coordination_reads {
    () => {
        /// Reads a hand-off; with `lock`, locks it for an answer.
        pub(crate) async fn read_handoff(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            h: &str,
            lock: bool,
        ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Handoff> {
            let sql = $crate::with_lock($crate::coordination::SELECT_HANDOFF, crate::ROW_LOCK.filter(|_| lock));
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(d.as_str())
                .bind(h)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::handoff(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Reads an escalation.
        pub(crate) async fn read_escalation(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            e: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Escalation> {
            let row = sqlx::query($crate::coordination::SELECT_ESCALATION)
                .bind(d.as_str())
                .bind(e)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            $crate::rows::escalation(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// Inserts an escalation with its counter, audit and event. Returns `false` when an
        /// automatic escalation of the same breach exists already (also one a concurrent
        /// transaction committed).
        pub(crate) async fn insert_escalation(
            conn: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            e: &cityserve_domain::coordination::Escalation,
        ) -> cityserve_store::StoreResult<bool> {
            use cityserve_store::resource;
            let done = sqlx::query($crate::coordination::INSERT_ESCALATION)
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
                .bind(crate::at(e.create_time))
                .bind(e.dedupe_key())
                .bind(e.breach_count)
                .bind(e.digest_cases.join("\n"))
                .execute(&mut **conn)
                .await
                .map_err(crate::db_err)?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let zone = crate::rollup_zone(conn).await?;
            let deltas = cityserve_domain::report::escalation_deltas(&e.department_id, e.create_time, zone);
            crate::apply_deltas(conn, &deltas).await?;
            let payload = serde_json::json!({
                "escalation": e.id.as_str(),
                "case": resource::case(&e.case_department, &e.case_id),
                "trigger": e.trigger.as_str(),
                "breach_count": e.breach_count,
            });
            let name = resource::escalation(&e.department_id, &e.id);
            crate::record(conn, ctx, &e.department_id, &name, payload).await?;
            Ok(true)
        }

        /// Reads an initiative with its members; with `lock`, locks it for a change.
        pub(crate) async fn read_initiative(
            conn: &mut crate::Conn,
            lead: &cityserve_domain::DepartmentId,
            i: &str,
            lock: bool,
        ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Initiative> {
            let sql = format!("SELECT {INITIATIVE_SELECT} FROM initiatives WHERE department_id = $1 AND initiative_id = $2");
            let sql = $crate::with_lock(&sql, crate::ROW_LOCK.filter(|_| lock));
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(lead.as_str())
                .bind(i)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            let rows = [row.ok_or(cityserve_store::StoreError::NotFound)?];
            initiatives_from(conn, &rows).await?.pop().ok_or(cityserve_store::StoreError::NotFound)
        }

        /// The status of any department (`None`: no such department), also one the caller
        /// cannot see.
        pub(crate) async fn department_status(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
        ) -> cityserve_store::StoreResult<Option<String>> {
            let status: Option<Option<String>> = sqlx::query_scalar(DEPARTMENT_STATUS)
                .bind(d.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            Ok(status.flatten())
        }

        /// Fails with a precondition error unless every member exists and is active.
        pub(crate) async fn check_members_active(
            conn: &mut crate::Conn,
            members: &[cityserve_domain::DepartmentId],
        ) -> cityserve_store::StoreResult<()> {
            use cityserve_store::StoreError;
            for m in members {
                match department_status(conn, m).await?.as_deref() {
                    None => return Err(StoreError::FailedPrecondition(format!("department {m} does not exist"))),
                    Some("active") => {}
                    Some(_) => return Err(StoreError::FailedPrecondition(format!("department {m} is archived"))),
                }
            }
            Ok(())
        }

        /// Reads a rule with its details; with `lock`, locks it for a vote or decision.
        pub(crate) async fn read_rule(
            conn: &mut crate::Conn,
            r: &str,
            lock: bool,
        ) -> cityserve_store::StoreResult<cityserve_domain::coordination::DumbRule> {
            let sql = $crate::with_lock($crate::coordination::SELECT_RULE, crate::ROW_LOCK.filter(|_| lock));
            let row =
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r).fetch_optional(&mut *conn).await.map_err(crate::db_err)?;
            let mut rules = vec![$crate::rows::dumb_rule(&row.ok_or(cityserve_store::StoreError::NotFound)?)?];
            attach_rule_details(conn, &mut rules).await?;
            rules.pop().ok_or(cityserve_store::StoreError::NotFound)
        }

        /// Adds affected departments, evidence and votes to rules, three queries for the whole
        /// slice.
        pub(crate) async fn attach_rule_details(
            conn: &mut crate::Conn,
            rules: &mut [cityserve_domain::coordination::DumbRule],
        ) -> cityserve_store::StoreResult<()> {
            if rules.is_empty() {
                return Ok(());
            }
            let ids = $crate::coordination::rule_ids(rules);
            for (detail, (columns, table, order)) in $crate::coordination::RULE_DETAILS.into_iter().enumerate() {
                let q = $crate::coordination::rule_details(crate::LISTS, columns, table, order, &ids);
                let rows = $crate::fetch_rows!(&mut *conn, q);
                for row in &rows {
                    $crate::coordination::attach_rule_detail(rules, detail, row)?;
                }
            }
            Ok(())
        }
    };
}
