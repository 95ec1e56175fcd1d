//! [`crate::board_store!`]: the board report's reads, written once.
use crate::{SqlRow, corrupt};
use cityserve_domain::board::{BoardInitiative, Hero, RetiredRule};
use cityserve_domain::coordination::{InitiativeStatus, RuleVerdict};
use cityserve_domain::{DepartmentId, DumbRuleId, InitiativeId, OfficerId};
use cityserve_store::StoreResult;

/// Initiatives whose `{column}` (`start_time` or `end_time`) falls in `[$1, $2)`.
pub fn initiatives_by(column: &str) -> String {
    format!(
        "SELECT department_id, initiative_id, title, status, lessons, start_time, end_time FROM initiatives
         WHERE {column} >= $1 AND {column} < $2 ORDER BY {column}, department_id, initiative_id"
    )
}

/// A row of [`initiatives_by`].
pub fn initiative(row: &impl SqlRow) -> StoreResult<BoardInitiative> {
    Ok(BoardInitiative {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("initiative_id", InitiativeId::parse)?,
        title: row.text("title")?,
        status: row.word("status", InitiativeStatus::parse)?,
        start_time: row.opt_time("start_time")?,
        end_time: row.opt_time("end_time")?,
        lessons: row.text("lessons")?,
    })
}

/// Dumb rules killed or revised in `[$1, $2)`.
pub const RULES_RETIRED: &str = "SELECT rule_id, text, verdict, decide_time FROM dumb_rules
     WHERE verdict IN ('kill', 'revise') AND decide_time >= $1 AND decide_time < $2 ORDER BY decide_time, rule_id";

/// A row of [`RULES_RETIRED`].
pub fn retired_rule(row: &impl SqlRow) -> StoreResult<RetiredRule> {
    Ok(RetiredRule {
        id: row.id("rule_id", DumbRuleId::parse)?,
        text: row.text("text")?,
        verdict: row.word("verdict", RuleVerdict::parse)?,
        decide_time: row.opt_time("decide_time")?.ok_or_else(|| corrupt("dumb_rules.decide_time"))?,
    })
}

/// The most recognised officers of `[$1, $2)`, at most `$3`.
pub const HEROES: &str = "SELECT department_id, officer_id, COUNT(*) AS recognitions FROM recognitions
     WHERE create_time >= $1 AND create_time < $2
     GROUP BY department_id, officer_id ORDER BY recognitions DESC, department_id, officer_id LIMIT $3";

/// A row of [`HEROES`].
pub fn hero(row: &impl SqlRow) -> StoreResult<Hero> {
    Ok(Hero {
        department_id: row.id("department_id", DepartmentId::parse)?,
        officer_id: row.id("officer_id", OfficerId::parse)?,
        recognitions: row.int("recognitions")?,
    })
}

/// Panel findings recorded or given an outcome in `[$1, $2)`, at most `$3`.
pub fn findings() -> String {
    format!(
        "SELECT {} FROM panel_findings
         WHERE (create_time >= $1 AND create_time < $2) OR (outcome_time >= $1 AND outcome_time < $2)
         ORDER BY department_id, panel_id, finding_id LIMIT $3",
        crate::panels::FINDING_COLUMNS
    )
}

/// Departments (active now, existing at `$1`) with no CSO in office at `$1`, but for the Chief's
/// office of the time (it had the Chief), by ID. Appointments keep their history, so a past
/// quarter's vacancies are those at its end.
pub const VACANT_SEATS: &str = "SELECT d.department_id FROM departments d
     WHERE d.status = 'active' AND d.create_time <= $1
       AND NOT EXISTS (SELECT 1 FROM appointments a
                       WHERE a.department_id = d.department_id AND a.seat = 'cso'
                         AND a.start_time <= $1 AND (a.end_time IS NULL OR a.end_time > $1))
       AND NOT EXISTS (SELECT 1 FROM appointments c
                       WHERE c.department_id = d.department_id AND c.seat = 'chief'
                         AND c.start_time <= $1 AND (c.end_time IS NULL OR c.end_time > $1))
     ORDER BY d.department_id";

/// `impl BoardStore for $store`, expanded in a backend's module.
#[macro_export]
macro_rules! board_store {
    ($store:ty) => {
        impl cityserve_store::BoardStore for $store {
            async fn board_facts(
                &self,
                scope: &cityserve_domain::TenantScope,
                start: chrono::DateTime<chrono::Utc>,
                end: chrono::DateTime<chrono::Utc>,
            ) -> cityserve_store::StoreResult<cityserve_domain::board::BoardFacts> {
                let (from, to) = (crate::at(start), crate::at(end));
                let mut tx = self.read(scope).await?;
                let mut facts = cityserve_domain::board::BoardFacts::default();
                for (column, into) in [("start_time", &mut facts.started), ("end_time", &mut facts.finished)] {
                    let rows = sqlx::query(sqlx::AssertSqlSafe($crate::board::initiatives_by(column)))
                        .bind(from)
                        .bind(to)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    *into = rows.iter().map($crate::board::initiative).collect::<cityserve_store::StoreResult<_>>()?;
                }
                let rows = sqlx::query($crate::board::RULES_RETIRED)
                    .bind(from)
                    .bind(to)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                facts.rules_retired =
                    rows.iter().map($crate::board::retired_rule).collect::<cityserve_store::StoreResult<_>>()?;
                let rows = sqlx::query($crate::board::HEROES)
                    .bind(from)
                    .bind(to)
                    .bind(cityserve_domain::board::HEROES as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                facts.heroes = rows.iter().map($crate::board::hero).collect::<cityserve_store::StoreResult<_>>()?;
                let rows = sqlx::query(sqlx::AssertSqlSafe($crate::board::findings()))
                    .bind(from)
                    .bind(to)
                    .bind(cityserve_domain::board::FINDINGS as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                facts.findings =
                    rows.iter().map($crate::panels::finding).collect::<cityserve_store::StoreResult<_>>()?;
                let vacant: Vec<String> = sqlx::query_scalar($crate::board::VACANT_SEATS)
                    // At the quarter's end, or now while it runs.
                    .bind(crate::at(end.min(cityserve_store::now_micros())))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                facts.vacant_seats = vacant
                    .iter()
                    .map(|d| {
                        cityserve_domain::DepartmentId::parse("department_id", d)
                            .map_err(|_| $crate::corrupt("departments.department_id"))
                    })
                    .collect::<cityserve_store::StoreResult<_>>()?;
                tx.finish().await?;
                Ok(facts)
            }
        }
    };
}
