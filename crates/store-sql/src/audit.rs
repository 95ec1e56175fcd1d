//! The audit log: statements, its listing and the whole [`cityserve_store::audit::AuditStore`]
//! implementation, written once ([`crate::audit_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::SqlRow;
use crate::args::{Lists, Select};
use cityserve_domain::{DepartmentId, PageRequest, TenantScope};
use cityserve_store::audit::{AuditEvent, AuditFilter};
use cityserve_store::{StoreError, StoreResult};

macro_rules! insert_refusal {
    ($occurred_at:literal) => {
        concat!(
            "INSERT INTO audit_log (department_id, occurred_at, actor_subject, actor_role, action, resource, trace_id,
                 outcome)
             VALUES ($1, ",
            $occurred_at,
            ", $2, $3, $4, $5, $6, $7)"
        )
    };
}

/// Records a refused request (`$1` … `$7`) at the database's clock (`now()`).
pub const INSERT_REFUSAL_NOW: &str = insert_refusal!("now()");
/// Records a refused request (`$1` … `$7`) at the instant `$8`.
pub const INSERT_REFUSAL_AT: &str = insert_refusal!("$8");

/// The columns [`audit_event`] reads.
pub const AUDIT_COLUMNS: &str =
    "audit_id, department_id, occurred_at, actor_subject, actor_role, action, resource, outcome, trace_id";

/// An `audit_log` row ([`AUDIT_COLUMNS`]).
pub fn audit_event(row: &impl SqlRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.int("audit_id")?,
        department: row.id("department_id", DepartmentId::parse)?,
        occurred_at: row.time("occurred_at")?,
        actor_subject: row.text("actor_subject")?,
        actor_role: row.text("actor_role")?,
        action: row.text("action")?,
        resource: row.text("resource")?,
        outcome: row.text("outcome")?,
        trace_id: row.opt_text("trace_id")?,
    })
}

/// A page of the log: the records of `filter` in `scope`, newest first.
pub fn list(lists: Lists, scope: &TenantScope, filter: &AuditFilter, page: &PageRequest) -> StoreResult<Select> {
    let after = match page.after.as_deref() {
        Some(a) => Some(a.parse::<i64>().map_err(|_| StoreError::Internal("bad page key".into()))?),
        None => None,
    };
    let mut q = Select::new(lists, format!("SELECT {AUDIT_COLUMNS} FROM audit_log"));
    q.and_in_scope(scope, &["department_id"]);
    if let Some(a) = after {
        let p = q.arg(a);
        q.and(&format!("audit_id < {p}"));
    }
    q.and_eq("actor_subject", filter.actor_subject.as_deref());
    if let Some(prefix) = &filter.action_prefix {
        let p = q.arg(prefix.as_str());
        q.and(&format!("substr(action, 1, length({p})) = {p}"));
    }
    q.and_eq("outcome", filter.outcome.as_deref());
    if let Some(t) = filter.start {
        let p = q.arg(t);
        q.and(&format!("occurred_at >= {p}"));
    }
    if let Some(t) = filter.end {
        let p = q.arg(t);
        q.and(&format!("occurred_at < {p}"));
    }
    q.page("audit_id DESC", page.size);
    Ok(q)
}

/// `impl AuditStore for $store`, written once and expanded in a backend's audit module. A refusal
/// is appended through the backend's write path (`self.write_as(scope, actor)`,
/// `self.commit(tx)`) with what is dialect in the module itself: `INSERT_REFUSAL` (one of this
/// module's statements) and `bind_time(query)`, which binds its instant if it takes one. Listings
/// read in `self.read(scope)` with `crate::LISTS` and `crate::bind_args`.
#[macro_export]
macro_rules! audit_store {
    ($store:ty) => {
        impl cityserve_store::audit::AuditStore for $store {
            async fn record_refusal(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                refusal: &cityserve_store::audit::Refusal<'_>,
            ) -> cityserve_store::StoreResult<()> {
                crate::in_scope(scope, department)?;
                let mut tx = self.write_as(scope, refusal.actor).await?;
                let q = sqlx::query(INSERT_REFUSAL)
                    .bind(department.as_str())
                    .bind(&refusal.actor.subject)
                    .bind(refusal.actor.role.as_str())
                    .bind(refusal.action)
                    .bind(refusal.resource)
                    .bind(refusal.trace_id)
                    .bind(refusal.outcome);
                bind_time(q).execute(&mut *tx).await.map_err(crate::db_err)?;
                self.commit(tx).await
            }

            async fn list_audit_events(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::audit::AuditFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_store::audit::AuditEvent>> {
                let q = $crate::audit::list(crate::LISTS, scope, filter, page)?;
                let rows = $crate::read_rows!(self, scope, q);
                let items =
                    rows.iter().map($crate::audit::audit_event).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |e| e.id.to_string()))
            }
        }
    };
}
