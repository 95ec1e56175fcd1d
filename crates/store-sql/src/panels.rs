//! [`crate::panel_store!`]: the whole `PanelStore` implementation, written once.
use crate::{SqlRow, corrupt};
use cityserve_domain::DepartmentId;
use cityserve_domain::panel::{
    FindingOutcome, MemberDetails, Panel, PanelAudience, PanelFinding, PanelFindingId, PanelId, PanelMember,
    PanelMemberId, PanelSession, PanelSessionId,
};
use cityserve_store::StoreResult;

/// The columns [`panel`] reads, counts included (from `panels p`).
pub const PANEL_COLUMNS: &str = "p.department_id, p.panel_id, p.display_name, p.audience, p.city_wide, p.purpose,
     p.create_time,
     (SELECT COUNT(*) FROM panel_members m
       WHERE m.department_id = p.department_id AND m.panel_id = p.panel_id AND NOT m.erased) AS member_count,
     (SELECT COUNT(*) FROM panel_sessions s
       WHERE s.department_id = p.department_id AND s.panel_id = p.panel_id) AS session_count";

/// A panel row ([`PANEL_COLUMNS`]).
pub fn panel(row: &impl SqlRow) -> StoreResult<Panel> {
    Ok(Panel {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("panel_id", PanelId::parse)?,
        display_name: row.text("display_name")?,
        audience: row.word("audience", PanelAudience::parse)?,
        city_wide: row.flag("city_wide")?,
        purpose: row.text("purpose")?,
        member_count: row.int("member_count")?,
        session_count: row.int("session_count")?,
        create_time: row.time("create_time")?,
    })
}

/// The columns [`member`] reads.
pub const MEMBER_COLUMNS: &str = "department_id, panel_id, member_id, resident_key, display_name, email, phone,
     organization, consent_time, erased, erase_time, create_time";

/// A member row ([`MEMBER_COLUMNS`]).
pub fn member(row: &impl SqlRow) -> StoreResult<PanelMember> {
    let erased = row.flag("erased")?;
    Ok(PanelMember {
        department_id: row.id("department_id", DepartmentId::parse)?,
        panel_id: row.id("panel_id", PanelId::parse)?,
        id: row.id("member_id", PanelMemberId::parse)?,
        details: if erased {
            None
        } else {
            Some(MemberDetails {
                display_name: row.text("display_name")?,
                email: row.text("email")?,
                phone: row.text("phone")?,
                organization: row.text("organization")?,
            })
        },
        resident_key: row.opt_text("resident_key")?,
        consent_time: row.time("consent_time")?,
        create_time: row.time("create_time")?,
        erase_time: row.opt_time("erase_time")?,
    })
}

/// Blanks a member's details (`$1`: erase time; `$2`-`$4`: department, panel, member).
pub const ERASE_MEMBER: &str = "UPDATE panel_members
     SET display_name = '', email = '', phone = '', organization = '', resident_key = NULL, erased = true,
         erase_time = $1
     WHERE department_id = $2 AND panel_id = $3 AND member_id = $4 AND NOT erased";

/// Forgets the fingerprint of the request that added a member (`$1`-`$2`: department, member):
/// a hash of their details is still their details. A retry of that add then answers a mismatch
/// instead of adding them again.
pub const FORGET_MEMBER_REQUEST: &str = "UPDATE idempotency_keys SET request_hash = ''
     WHERE department_id = $1 AND operation = 'panel_member' AND resource_id = $2";

/// What erasing a resident (`$2`) in a department (`$1`) at `$3` does to the panels: their
/// membership details go, attendance stays.
pub const ERASE_RESIDENT_MEMBERS: &str = "UPDATE panel_members
     SET display_name = '', email = '', phone = '', organization = '', resident_key = NULL, erased = true,
         erase_time = $3
     WHERE department_id = $1 AND resident_key = $2";

/// The columns [`session`] reads (attendance comes apart).
pub const SESSION_COLUMNS: &str =
    "department_id, panel_id, session_id, held_on, agenda, executives, officers, create_time";

/// A session row ([`SESSION_COLUMNS`]) with its attending members.
pub fn session(row: &impl SqlRow, members: Vec<PanelMemberId>) -> StoreResult<PanelSession> {
    let list = |col: &str| -> StoreResult<Vec<String>> {
        serde_json::from_str(&row.text(col)?).map_err(|_| corrupt("panel_sessions"))
    };
    Ok(PanelSession {
        department_id: row.id("department_id", DepartmentId::parse)?,
        panel_id: row.id("panel_id", PanelId::parse)?,
        id: row.id("session_id", PanelSessionId::parse)?,
        held_on: chrono::NaiveDate::parse_from_str(&row.text("held_on")?, "%Y-%m-%d")
            .map_err(|_| corrupt("panel_sessions.held_on"))?,
        agenda: row.text("agenda")?,
        executives: list("executives")?,
        officers: list("officers")?,
        members,
        create_time: row.time("create_time")?,
    })
}

/// The columns [`finding`] reads.
pub const FINDING_COLUMNS: &str = "department_id, panel_id, finding_id, session_id, summary, outcome,
     outcome_resource, outcome_note, outcome_time, revision, create_time";

/// A finding row ([`FINDING_COLUMNS`]).
pub fn finding(row: &impl SqlRow) -> StoreResult<PanelFinding> {
    Ok(PanelFinding {
        department_id: row.id("department_id", DepartmentId::parse)?,
        panel_id: row.id("panel_id", PanelId::parse)?,
        id: row.id("finding_id", PanelFindingId::parse)?,
        session_id: row
            .opt_text("session_id")?
            .map(|s| PanelSessionId::parse("session_id", &s).map_err(|_| corrupt("panel_findings.session_id")))
            .transpose()?,
        summary: row.text("summary")?,
        outcome: row.word("outcome", FindingOutcome::parse)?,
        outcome_resource: row.text("outcome_resource")?,
        outcome_note: row.text("outcome_note")?,
        outcome_time: row.opt_time("outcome_time")?,
        revision: row.int("revision")?,
        create_time: row.time("create_time")?,
    })
}

/// `impl PanelStore for $store`, expanded in a backend's module.
#[macro_export]
macro_rules! panel_store {
    ($store:ty) => {
        impl cityserve_store::PanelStore for $store {
            async fn create_panel(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                p: &cityserve_domain::panel::Panel,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::Panel> {
                let d = &p.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "panel", p.id.as_str()).await? {
                    let found = read_panel(&mut tx, d, &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                sqlx::query(
                    "INSERT INTO panels (department_id, panel_id, display_name, audience, city_wide, purpose,
                         created_by, revision, create_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)",
                )
                .bind(d.as_str())
                .bind(p.id.as_str())
                .bind(&p.display_name)
                .bind(p.audience.as_str())
                .bind(p.city_wide)
                .bind(&p.purpose)
                .bind(&ctx.actor.subject)
                .bind(crate::at(cityserve_store::now_micros()))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::panel(d, &p.id);
                let payload = serde_json::json!({ "panel": p.id.as_str(), "city_wide": p.city_wide });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_panel(&mut tx, d, p.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_panel(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::panel::PanelId,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::Panel> {
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                let p = read_panel(&mut tx, d, id.as_str()).await?;
                tx.finish().await?;
                Ok(p)
            }

            async fn list_panels(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::panel::Panel>> {
                crate::in_scope(scope, d)?;
                let sql = format!(
                    "SELECT {} FROM panels p WHERE p.department_id = $1 AND p.panel_id > $2 ORDER BY p.panel_id LIMIT $3",
                    $crate::panels::PANEL_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(d.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::panels::panel).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |p| p.id.to_string()))
            }

            async fn add_panel_member(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                m: &cityserve_store::panels::NewMember,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelMember> {
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "panel_member", m.id.as_str()).await? {
                    let found = read_member(&mut tx, d, p.as_str(), &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                let now = cityserve_store::now_micros();
                let key = match &m.resident {
                    Some(r) => Some(crate::feedback::resident_key_of(&mut tx, r, now).await?),
                    None => None,
                };
                sqlx::query(
                    "INSERT INTO panel_members (department_id, panel_id, member_id, resident_key, display_name, email,
                         phone, organization, consent_time, erased, erase_time, create_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, NULL, $10)",
                )
                .bind(d.as_str())
                .bind(p.as_str())
                .bind(m.id.as_str())
                .bind(key.as_deref())
                .bind(&m.details.display_name)
                .bind(&m.details.email)
                .bind(&m.details.phone)
                .bind(&m.details.organization)
                .bind(crate::at(m.consent_time))
                .bind(crate::at(now))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                // The audit row and event name the member, never their details.
                let name = cityserve_store::resource::panel_member(d, p, &m.id);
                crate::record(&mut tx, ctx, d, &name, serde_json::json!({ "panel": p.as_str(), "member": m.id.as_str() }))
                    .await?;
                let saved = read_member(&mut tx, d, p.as_str(), m.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn list_panel_members(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::panel::PanelMember>> {
                crate::in_scope(scope, d)?;
                let sql = format!(
                    "SELECT {} FROM panel_members WHERE department_id = $1 AND panel_id = $2 AND member_id > $3
                     ORDER BY member_id LIMIT $4",
                    $crate::panels::MEMBER_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(d.as_str())
                    .bind(p.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::panels::member).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |m| m.id.to_string()))
            }

            async fn erase_panel_member(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                m: &cityserve_domain::panel::PanelMemberId,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelMember> {
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                read_member(&mut tx, d, p.as_str(), m.as_str()).await?;
                let done = sqlx::query($crate::panels::ERASE_MEMBER)
                    .bind(crate::at(cityserve_store::now_micros()))
                    .bind(d.as_str())
                    .bind(p.as_str())
                    .bind(m.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                sqlx::query($crate::panels::FORGET_MEMBER_REQUEST)
                    .bind(d.as_str())
                    .bind(m.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                // Audited every time it is asked for, a repeat included (it changes nothing).
                let name = cityserve_store::resource::panel_member(d, p, m);
                let payload = serde_json::json!({
                    "panel": p.as_str(), "member": m.as_str(), "erased": true, "repeat": done.rows_affected() == 0
                });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_member(&mut tx, d, p.as_str(), m.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn create_panel_session(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                s: &cityserve_domain::panel::PanelSession,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelSession> {
                let (d, p) = (&s.department_id, &s.panel_id);
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "panel_session", s.id.as_str()).await? {
                    let found = read_session(&mut tx, d, p.as_str(), &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                for m in &s.members {
                    let active = read_member(&mut tx, d, p.as_str(), m.as_str()).await.ok().filter(|m| m.details.is_some());
                    if active.is_none() {
                        return Err(cityserve_store::StoreError::FailedPrecondition(format!(
                            "member {m} is not an active member of panel {p}"
                        )));
                    }
                }
                let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query(
                    "INSERT INTO panel_sessions (department_id, panel_id, session_id, held_on, agenda, executives,
                         officers, created_by, create_time)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(d.as_str())
                .bind(p.as_str())
                .bind(s.id.as_str())
                .bind(s.held_on.format("%Y-%m-%d").to_string())
                .bind(&s.agenda)
                .bind(json(&s.executives))
                .bind(json(&s.officers))
                .bind(&ctx.actor.subject)
                .bind(crate::at(cityserve_store::now_micros()))
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                for m in &s.members {
                    sqlx::query(
                        "INSERT INTO panel_attendance (department_id, panel_id, session_id, member_id)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(d.as_str())
                    .bind(p.as_str())
                    .bind(s.id.as_str())
                    .bind(m.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                }
                let name = cityserve_store::resource::panel_session(d, p, &s.id);
                let payload = serde_json::json!({
                    "panel": p.as_str(), "session": s.id.as_str(), "member_attendance": s.members.len()
                });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_session(&mut tx, d, p.as_str(), s.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn list_panel_sessions(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::panel::PanelSession>> {
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT session_id FROM panel_sessions WHERE department_id = $1 AND panel_id = $2 AND session_id > $3
                     ORDER BY session_id LIMIT $4",
                )
                .bind(d.as_str())
                .bind(p.as_str())
                .bind(page.after.clone().unwrap_or_default())
                .bind(i64::from(page.size) + 1)
                .fetch_all(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let mut items = Vec::with_capacity(ids.len());
                for id in &ids {
                    items.push(read_session(&mut tx, d, p.as_str(), id).await?);
                }
                tx.finish().await?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |s| s.id.to_string()))
            }

            async fn create_panel_finding(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                f: &cityserve_domain::panel::PanelFinding,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelFinding> {
                let (d, p) = (&f.department_id, &f.panel_id);
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                if let Some(id) = crate::claim_key(&mut tx, d, idem, "panel_finding", f.id.as_str()).await? {
                    let found = read_finding(&mut tx, d, p.as_str(), &id).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                if let Some(s) = &f.session_id {
                    if read_session(&mut tx, d, p.as_str(), s.as_str()).await.is_err() {
                        return Err(cityserve_store::StoreError::FailedPrecondition(format!(
                            "session {s} is not a session of panel {p}"
                        )));
                    }
                }
                let now = crate::at(cityserve_store::now_micros());
                sqlx::query(
                    "INSERT INTO panel_findings (department_id, panel_id, finding_id, session_id, summary, outcome,
                         outcome_resource, outcome_note, outcome_time, created_by, revision, create_time, update_time)
                     VALUES ($1, $2, $3, $4, $5, 'open', '', '', NULL, $6, 1, $7, $7)",
                )
                .bind(d.as_str())
                .bind(p.as_str())
                .bind(f.id.as_str())
                .bind(f.session_id.as_ref().map(|s| s.as_str()))
                .bind(&f.summary)
                .bind(&ctx.actor.subject)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                let name = cityserve_store::resource::panel_finding(d, p, &f.id);
                crate::record(&mut tx, ctx, d, &name, serde_json::json!({ "panel": p.as_str(), "finding": f.id.as_str() }))
                    .await?;
                let saved = read_finding(&mut tx, d, p.as_str(), f.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_panel_finding(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                id: &cityserve_domain::panel::PanelFindingId,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelFinding> {
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                let f = read_finding(&mut tx, d, p.as_str(), id.as_str()).await?;
                tx.finish().await?;
                Ok(f)
            }

            async fn resolve_panel_finding(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                f: &cityserve_domain::panel::PanelFinding,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelFinding> {
                let (d, p) = (&f.department_id, &f.panel_id);
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let now = crate::at(cityserve_store::now_micros());
                let done = sqlx::query(
                    "UPDATE panel_findings SET outcome = $1, outcome_resource = $2, outcome_note = $3, outcome_time = $4,
                         revision = revision + 1, update_time = $4
                     WHERE department_id = $5 AND panel_id = $6 AND finding_id = $7 AND revision = $8",
                )
                .bind(f.outcome.as_str())
                .bind(&f.outcome_resource)
                .bind(&f.outcome_note)
                .bind(now)
                .bind(d.as_str())
                .bind(p.as_str())
                .bind(f.id.as_str())
                .bind(expected_revision)
                .execute(&mut *tx)
                .await
                .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    read_finding(&mut tx, d, p.as_str(), f.id.as_str()).await?;
                    return Err(cityserve_store::StoreError::Conflict);
                }
                let name = cityserve_store::resource::panel_finding(d, p, &f.id);
                let payload = serde_json::json!({
                    "panel": p.as_str(), "finding": f.id.as_str(), "outcome": f.outcome.as_str(),
                    "outcome_resource": f.outcome_resource,
                });
                crate::record(&mut tx, ctx, d, &name, payload).await?;
                let saved = read_finding(&mut tx, d, p.as_str(), f.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn list_panel_findings(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                p: &cityserve_domain::panel::PanelId,
                outcome: Option<cityserve_domain::panel::FindingOutcome>,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::panel::PanelFinding>> {
                crate::in_scope(scope, d)?;
                let sql = format!(
                    "SELECT {} FROM panel_findings WHERE department_id = $1 AND panel_id = $2 AND finding_id > $3
                       AND ($4 = '' OR outcome = $4) ORDER BY finding_id LIMIT $5",
                    $crate::panels::FINDING_COLUMNS
                );
                let mut tx = self.read(scope).await?;
                read_panel(&mut tx, d, p.as_str()).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(d.as_str())
                    .bind(p.as_str())
                    .bind(page.after.clone().unwrap_or_default())
                    .bind(outcome.map_or("", |o| o.as_str()))
                    .bind(i64::from(page.size) + 1)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                tx.finish().await?;
                let items = rows.iter().map($crate::panels::finding).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |f| f.id.to_string()))
            }
        }

        /// The row `sql` selects by `keys` (bound in order), converted by `convert`
        /// ([`cityserve_store::StoreError::NotFound`] if none): every panel read by its key.
        async fn panel_row<T>(
            conn: &mut crate::Conn,
            sql: String,
            keys: &[&str],
            convert: fn(&<<crate::Conn as sqlx::Connection>::Database as sqlx::Database>::Row) -> cityserve_store::StoreResult<T>,
        ) -> cityserve_store::StoreResult<T> {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for key in keys {
                q = q.bind(*key);
            }
            let row = q.fetch_optional(&mut *conn).await.map_err(crate::db_err)?;
            convert(&row.ok_or(cityserve_store::StoreError::NotFound)?)
        }

        /// One panel with its counts.
        async fn read_panel(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::panel::Panel> {
            let sql =
                format!("SELECT {} FROM panels p WHERE p.department_id = $1 AND p.panel_id = $2", $crate::panels::PANEL_COLUMNS);
            panel_row(conn, sql, &[d.as_str(), id], $crate::panels::panel).await
        }

        /// One member.
        async fn read_member(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            p: &str,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelMember> {
            let sql = format!(
                "SELECT {} FROM panel_members WHERE department_id = $1 AND panel_id = $2 AND member_id = $3",
                $crate::panels::MEMBER_COLUMNS
            );
            panel_row(conn, sql, &[d.as_str(), p, id], $crate::panels::member).await
        }

        /// One session with its attending members ([`cityserve_store::StoreError::NotFound`] if none).
        async fn read_session(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            p: &str,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelSession> {
            let sql = format!(
                "SELECT {} FROM panel_sessions WHERE department_id = $1 AND panel_id = $2 AND session_id = $3",
                $crate::panels::SESSION_COLUMNS
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(d.as_str())
                .bind(p)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?
                .ok_or(cityserve_store::StoreError::NotFound)?;
            let members: Vec<String> = sqlx::query_scalar(
                "SELECT member_id FROM panel_attendance WHERE department_id = $1 AND panel_id = $2 AND session_id = $3
                 ORDER BY member_id",
            )
            .bind(d.as_str())
            .bind(p)
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(crate::db_err)?;
            let members = members
                .iter()
                .map(|m| {
                    cityserve_domain::panel::PanelMemberId::parse("member_id", m)
                        .map_err(|_| $crate::corrupt("panel_attendance.member_id"))
                })
                .collect::<cityserve_store::StoreResult<Vec<_>>>()?;
            $crate::panels::session(&row, members)
        }

        /// One finding.
        async fn read_finding(
            conn: &mut crate::Conn,
            d: &cityserve_domain::DepartmentId,
            p: &str,
            id: &str,
        ) -> cityserve_store::StoreResult<cityserve_domain::panel::PanelFinding> {
            let sql = format!(
                "SELECT {} FROM panel_findings WHERE department_id = $1 AND panel_id = $2 AND finding_id = $3",
                $crate::panels::FINDING_COLUMNS
            );
            panel_row(conn, sql, &[d.as_str(), p, id], $crate::panels::finding).await
        }
    };
}
