//! Coordination on PostgreSQL: the shared read helpers ([`cityserve_store_sql::coordination_reads!`])
//! and what is PostgreSQL's own (the department status function, the member list kept in the
//! initiative's row, the event read behind the snapshot's horizon). Row-level security lets a
//! hand-off be seen by both of its departments, an initiative by its members, and the dumb rules
//! register by every officer (see migrations/postgres/0004_coordination.sql); the code checks the
//! same in front of it.
use crate::{PgStore, db_err, scope_ids};
use cityserve_domain::coordination::Initiative;
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::coordination::{Event, EventFilter};
use cityserve_store::{StoreError, StoreResult};
use cityserve_store_sql::SqlRow;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

pub(crate) use cityserve_store_sql::coordination::INITIATIVE_COLUMNS_AND_MEMBERS as INITIATIVE_SELECT;
pub(crate) use cityserve_store_sql::rows::event as event_from;

/// The status of any department, also one outside the caller's row-level security (a
/// `SECURITY DEFINER` function; NULL when there is no such department).
const DEPARTMENT_STATUS: &str = "SELECT department_status($1)";

cityserve_store_sql::coordination_reads!();

/// Initiative rows as initiatives: the member list is the row's own copy.
pub(crate) async fn initiatives_from(_conn: &mut PgConnection, rows: &[PgRow]) -> StoreResult<Vec<Initiative>> {
    rows.iter()
        .map(|row| cityserve_store_sql::rows::initiative(row, row.ids("members", DepartmentId::parse)?))
        .collect()
}

/// The columns [`event_from`] reads, the payload as text.
const EVENT_COLUMNS: &str = "seq, department_id, event_type, resource, payload::text AS payload, occurred_at";

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
