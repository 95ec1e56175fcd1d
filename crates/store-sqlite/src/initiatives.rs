//! Initiatives on SQLite.
use crate::coordination::*;
use crate::{Bind, SqliteStore, bind_all, claim_key, db_err, in_scope, micros, scope_clause};
use cityserve_domain::coordination::Initiative;
use cityserve_domain::{DepartmentId, InitiativeId, Page, PageRequest, TenantScope};
use cityserve_store::InitiativeStore;
use cityserve_store::coordination::InitiativeFilter;
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::Row;

impl InitiativeStore for SqliteStore {
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
}
