//! Initiatives: statements and the whole [`cityserve_store::InitiativeStore`] implementation,
//! written once ([`crate::initiative_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::args::{Lists, Select};
use cityserve_domain::coordination::InitiativeStatus;
use cityserve_domain::{PageRequest, TenantScope};
use cityserve_store::coordination::InitiativeFilter;

macro_rules! insert_initiative {
    ($column:literal, $value:literal) => {
        concat!(
            "INSERT INTO initiatives (title, goal, owner, status, milestones, cases, dumb_rules, create_time,
                 update_time, department_id, initiative_id, revision",
            $column,
            ")
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, 1",
            $value,
            ")"
        )
    };
}
macro_rules! update_initiative {
    ($set:literal) => {
        concat!(
            "UPDATE initiatives SET title = $1, goal = $2, owner = $3, status = $4, milestones = $5, cases = $6,
                 dumb_rules = $7, update_time = $8, revision = revision + 1",
            $set,
            "
             WHERE department_id = $9 AND initiative_id = $10 AND revision = $11"
        )
    };
}

/// Creates an initiative (`$1` … `$10`, as [`UPDATE_INITIATIVE`] binds them).
pub const INSERT_INITIATIVE: &str = insert_initiative!("", "");
/// [`INSERT_INITIATIVE`] with the copy of the member list (`$11`) PostgreSQL keeps in the row.
pub const INSERT_INITIATIVE_AND_MEMBERS: &str = insert_initiative!(", members", ", $11");
/// Writes an initiative at an expected revision (`$1` … `$11`).
pub const UPDATE_INITIATIVE: &str = update_initiative!("");
/// [`UPDATE_INITIATIVE`] with the copy of the member list (`$12`) PostgreSQL keeps in the row.
pub const UPDATE_INITIATIVE_AND_MEMBERS: &str = update_initiative!(", members = $12");

/// Writes an initiative's lifecycle (`$1` lessons, `$2` start, `$3` end) for `$4`, `$5`.
pub const SET_LIFECYCLE: &str = "UPDATE initiatives SET lessons = $1, start_time = $2, end_time = $3 WHERE department_id = $4 AND initiative_id = $5";

/// Deletes an initiative's `initiative_members` rows (before they are written again).
pub const DELETE_MEMBERS: &str = "DELETE FROM initiative_members WHERE lead_department = $1 AND initiative_id = $2";

/// A page of initiatives: those of `filter` with a member in `scope`, newest first.
/// `initiative_columns` are the columns the backend reads.
pub fn list(
    lists: Lists,
    initiative_columns: &str,
    scope: &TenantScope,
    filter: &InitiativeFilter,
    page: &PageRequest,
) -> Select {
    let mut q = Select::new(lists, format!("SELECT {initiative_columns} FROM initiatives i"));
    let member = |condition: &str| {
        format!(
            "EXISTS (SELECT 1 FROM initiative_members m
                 WHERE m.lead_department = i.department_id AND m.initiative_id = i.initiative_id AND {condition})"
        )
    };
    if let Some(d) = &filter.member {
        let p = q.arg(d.as_str());
        q.and(&member(&format!("m.department_id = {p}")));
    }
    if let Some(ds) = scope.departments() {
        let list = q.list(ds.iter().map(|d| d.as_str()));
        q.and(&member(&list.has("m.department_id")));
    }
    q.and_eq("status", filter.status.map(InitiativeStatus::as_str))
        .and_before("initiative_id", page.after.as_deref())
        .page("initiative_id DESC", page.size);
    q
}

/// `impl InitiativeStore for $store`, written once and expanded in a backend's initiatives
/// module. It writes through the backend's one write path (`self.write(ctx)`, `crate::claim_key`,
/// `crate::record`, `self.commit(tx)`), reads in `self.read(scope)` (then `finish()`), uses the
/// helpers of [`crate::coordination_reads!`] (in `crate::coordination`, with its
/// `initiatives_from` and `INITIATIVE_SELECT`), `crate::require_active_officer`, `crate::at`,
/// `crate::json_value` (a JSON document as bound), `crate::LISTS` and `crate::bind_args`, and what
/// is dialect in the module itself:
/// - `INSERT_INITIATIVE` and `UPDATE_INITIATIVE` (this module's statements, with or without the
///   member list's copy) and `bind_members(query, members)`, which binds that copy if there is
///   one;
/// - `INSERT_MEMBERS`, which writes `initiative_members` rows for the values `$1` of
///   `member_values(members)` (each member, or an array of them all) of initiative `$3` of lead
///   department `$2`.
#[macro_export]
macro_rules! initiative_store {
    ($store:ty) => {
        /// Writes an initiative: creates it (`expected_revision`: `None`) or writes it at a
        /// revision, rewrites its member rows and records the change for the departments to
        /// `notify`.
        async fn write_initiative(
            tx: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            i: &cityserve_domain::coordination::Initiative,
            expected_revision: Option<i64>,
            notify: &[&cityserve_domain::DepartmentId],
        ) -> cityserve_store::StoreResult<()> {
            let q = sqlx::query(if expected_revision.is_some() { UPDATE_INITIATIVE } else { INSERT_INITIATIVE })
                .bind(&i.title)
                .bind(&i.goal)
                .bind(i.owner.as_str())
                .bind(i.status.as_str())
                .bind(crate::json_value(&i.milestones)?)
                .bind(crate::json_value(&i.cases)?)
                .bind(crate::json_value(&i.dumb_rules)?)
                .bind(crate::at(cityserve_store::now_micros()))
                .bind(i.department_id.as_str())
                .bind(i.id.as_str());
            let q = match expected_revision {
                Some(r) => q.bind(r),
                None => q,
            };
            let members = $crate::coordination::sorted_members(&i.members);
            bind_members(q, &members).execute(&mut **tx).await.map_err(crate::db_err)?;
            sqlx::query($crate::initiatives::SET_LIFECYCLE)
                .bind(&i.lifecycle.lessons)
                .bind(i.lifecycle.start_time.map(crate::at))
                .bind(i.lifecycle.end_time.map(crate::at))
                .bind(i.department_id.as_str())
                .bind(i.id.as_str())
                .execute(&mut **tx)
                .await
                .map_err(crate::db_err)?;
            write_members(tx, i).await?;
            let name = cityserve_store::resource::initiative(&i.department_id, &i.id);
            for m in notify {
                let payload = serde_json::json!({ "initiative": i.id.as_str(), "status": i.status.as_str() });
                crate::record(tx, ctx, m, &name, payload).await?;
            }
            Ok(())
        }

        /// Rewrites an initiative's `initiative_members` rows (sorted, without duplicates).
        async fn write_members(
            conn: &mut crate::Conn,
            i: &cityserve_domain::coordination::Initiative,
        ) -> cityserve_store::StoreResult<()> {
            sqlx::query($crate::initiatives::DELETE_MEMBERS)
                .bind(i.department_id.as_str())
                .bind(i.id.as_str())
                .execute(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            for m in member_values(&$crate::coordination::sorted_members(&i.members)) {
                sqlx::query(INSERT_MEMBERS)
                    .bind(m)
                    .bind(i.department_id.as_str())
                    .bind(i.id.as_str())
                    .execute(&mut *conn)
                    .await
                    .map_err(crate::db_err)?;
            }
            Ok(())
        }

        impl cityserve_store::InitiativeStore for $store {
            async fn create_initiative(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                i: &cityserve_domain::coordination::Initiative,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Initiative> {
                use crate::coordination::{check_members_active, read_initiative};
                let d = &i.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                if let Some(x) = crate::claim_key(&mut tx, d, idem, "initiative", i.id.as_str()).await? {
                    let found = read_initiative(&mut tx, d, &x, false).await?;
                    self.commit(tx).await?;
                    return Ok(found);
                }
                check_members_active(&mut tx, &i.members).await?;
                crate::require_active_officer(&mut tx, d, &i.owner).await?;
                write_initiative(&mut tx, ctx, i, None, &$crate::coordination::sorted_members(&i.members)).await?;
                let saved = read_initiative(&mut tx, d, i.id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_initiative(
                &self,
                scope: &cityserve_domain::TenantScope,
                lead: &cityserve_domain::DepartmentId,
                id: &cityserve_domain::InitiativeId,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Initiative> {
                let mut tx = self.read(scope).await?;
                let i = crate::coordination::read_initiative(&mut tx, lead, id.as_str(), false).await?;
                tx.finish().await?;
                if $crate::coordination::visible_to(scope, &i.members) {
                    Ok(i)
                } else {
                    Err(cityserve_store::StoreError::NotFound)
                }
            }

            async fn list_initiatives(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::coordination::InitiativeFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::coordination::Initiative>>
            {
                use crate::coordination::{INITIATIVE_SELECT, initiatives_from};
                if let Some(d) = &filter.member {
                    crate::in_scope(scope, d)?;
                }
                let q = $crate::initiatives::list(crate::LISTS, INITIATIVE_SELECT, scope, filter, page);
                let mut tx = self.read(scope).await?;
                let rows = $crate::fetch_rows!(&mut *tx, q);
                let items = initiatives_from(&mut tx, &rows).await?;
                tx.finish().await?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |i| i.id.to_string()))
            }

            async fn save_initiative(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                i: &cityserve_domain::coordination::Initiative,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::Initiative> {
                use crate::coordination::{check_members_active, read_initiative};
                use $crate::coordination::sorted_members;
                let d = &i.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let current = read_initiative(&mut tx, d, i.id.as_str(), true).await?;
                if current.revision != expected_revision {
                    return Err(cityserve_store::StoreError::Conflict);
                }
                if sorted_members(&current.members) != sorted_members(&i.members) {
                    check_members_active(&mut tx, &i.members).await?;
                }
                if current.owner != i.owner {
                    crate::require_active_officer(&mut tx, d, &i.owner).await?;
                }
                let mut notify: Vec<&cityserve_domain::DepartmentId> =
                    current.members.iter().chain(&i.members).collect();
                notify.sort();
                notify.dedup();
                write_initiative(&mut tx, ctx, i, Some(expected_revision), &notify).await?;
                let saved = read_initiative(&mut tx, d, i.id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }
        }
    };
}
