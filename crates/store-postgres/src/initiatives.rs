//! Initiatives on PostgreSQL.
use crate::coordination::*;
use crate::{PgStore, claim_key, corrupt, db_err, in_scope, record, scope_ids};
use cityserve_domain::coordination::{Initiative, InitiativeStatus};
use cityserve_domain::{DepartmentId, InitiativeId, Page, PageRequest, TenantScope};
use cityserve_store::InitiativeStore;
use cityserve_store::coordination::InitiativeFilter;
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::types::Json;

impl InitiativeStore for PgStore {
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
}
