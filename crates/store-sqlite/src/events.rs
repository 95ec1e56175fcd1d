//! The event stream on SQLite.
use crate::coordination::event_from;
use crate::{Bind, SqliteStore, bind_all, db_err, scope_clause};
use cityserve_domain::{DepartmentId, TenantScope};
use cityserve_store::EventStore;
use cityserve_store::coordination::{Event, EventCursor, EventFilter};
use cityserve_store::{StoreError, StoreResult};
use sqlx::Row;

impl EventStore for SqliteStore {
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
