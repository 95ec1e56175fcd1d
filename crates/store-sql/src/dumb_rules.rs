//! The dumb rules register: statements, its listing and the whole
//! [`cityserve_store::DumbRuleStore`] implementation, written once ([`crate::dumb_rule_store!`]).
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::SqlRow;
use crate::args::{Lists, Select};
use cityserve_domain::coordination::{DumbRule, DumbRuleStatus};
use cityserve_domain::{Page, PageRequest};
use cityserve_store::coordination::{DumbRuleFilter, DumbRuleOrder};
use cityserve_store::{StoreError, StoreResult};

/// Reports a rule (its affected departments and evidence are written by the backend).
pub const INSERT_RULE: &str =
    "INSERT INTO dumb_rules (rule_id, text, status, reported_by, reporter_department, evidence_count, create_time,
         update_time, revision)
     VALUES ($1, $2, 'open', $3, $4, $5, $6, $6, 1)";
/// Records (or replaces) a department's vote on a rule.
pub const UPSERT_VOTE: &str =
    "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (department_id, rule_id) DO UPDATE SET voter = excluded.voter, verdict = excluded.verdict,
         comment = excluded.comment, update_time = excluded.update_time";
/// Marks a rule changed (a vote).
pub const TOUCH_RULE: &str = "UPDATE dumb_rules SET update_time = $1, revision = revision + 1 WHERE rule_id = $2";
/// Records the decision on an open rule at an expected revision.
pub const DECIDE_RULE: &str = "UPDATE dumb_rules SET status = 'decided', verdict = $1, rationale = $2, decided_by = $3,
         decide_time = $4, update_time = $4, revision = revision + 1
     WHERE rule_id = $5 AND revision = $6 AND status = 'open'";

fn bad_position() -> StoreError {
    StoreError::Internal("bad page position".into())
}

/// A page of the register (without the rules' details): those of `filter`, in `order`.
pub fn list(lists: Lists, filter: &DumbRuleFilter, order: DumbRuleOrder, page: &PageRequest) -> StoreResult<Select> {
    let mut q = Select::new(lists, format!("SELECT {} FROM dumb_rules r", crate::coordination::RULE_COLUMNS));
    q.and_eq("status", filter.status.map(DumbRuleStatus::as_str));
    if let Some(d) = &filter.affected {
        let p = q.arg(d.as_str());
        q.and(&format!(
            "EXISTS (SELECT 1 FROM dumb_rule_affected a WHERE a.rule_id = r.rule_id AND a.department_id = {p})"
        ));
    }
    match (order, page.after.as_deref()) {
        (DumbRuleOrder::Newest, after) => {
            q.and_before("rule_id", after);
        }
        (DumbRuleOrder::MostEvidence, Some(a)) => {
            let (n, r) = a.split_once(':').ok_or_else(bad_position)?;
            let n = q.arg(n.parse::<i64>().map_err(|_| bad_position())?);
            let r = q.arg(r);
            q.and(&format!("(evidence_count < {n} OR (evidence_count = {n} AND rule_id < {r}))"));
        }
        (DumbRuleOrder::MostEvidence, None) => {}
    }
    q.page(
        match order {
            DumbRuleOrder::Newest => "rule_id DESC",
            DumbRuleOrder::MostEvidence => "evidence_count DESC, rule_id DESC",
        },
        page.size,
    );
    Ok(q)
}

/// The page of [`list`]'s rows (one more than `size` when another page follows), its position
/// kept in the form `order` reads back.
pub fn page(rows: &[impl SqlRow], order: DumbRuleOrder, size: u32) -> StoreResult<Page<DumbRule>> {
    let items = rows
        .iter()
        .map(|row| Ok((row.int("evidence_count")?, crate::rows::dumb_rule(row)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    let counted = match order {
        DumbRuleOrder::Newest => Page::from_overfetch(items, size, |(_, r)| r.id.to_string()),
        DumbRuleOrder::MostEvidence => Page::from_overfetch(items, size, |(n, r)| format!("{n}:{}", r.id)),
    };
    Ok(Page { items: counted.items.into_iter().map(|(_, r)| r).collect(), next_after: counted.next_after })
}

/// `impl DumbRuleStore for $store`, written once and expanded in a backend's dumb rules module.
/// It writes through the backend's one write path (`self.write(ctx)`, `crate::claim_key`,
/// `crate::record`, `self.commit(tx)`), reads in `self.read(scope)` (then `finish()`), uses the
/// helpers of [`crate::coordination_reads!`] (in `crate::coordination`), `crate::feedback::
/// read_feedback`, `crate::at`, `crate::LISTS` and `crate::bind_args`, and what is dialect in the
/// module itself: `insert_links(conn, new)`, which writes a new rule's affected departments and
/// evidence.
#[macro_export]
macro_rules! dumb_rule_store {
    ($store:ty) => {
        impl cityserve_store::DumbRuleStore for $store {
            async fn report_dumb_rule(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::coordination::NewDumbRule,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::DumbRule> {
                use crate::coordination::{department_status, read_rule};
                use cityserve_store::{StoreError, resource};
                // Idempotency keys are per department: the reporter's, or for the Chief the first
                // affected one.
                let key_dept = new
                    .reporter_department
                    .clone()
                    .or_else(|| new.affected.first().cloned())
                    .ok_or(StoreError::NotFound)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                if let Some(r) = crate::claim_key(&mut tx, &key_dept, idem, "dumb_rule", new.id.as_str()).await? {
                    let r = read_rule(&mut tx, &r, false).await?;
                    self.commit(tx).await?;
                    return Ok(r);
                }
                for d in &new.affected {
                    if department_status(&mut tx, d).await?.is_none() {
                        return Err(StoreError::FailedPrecondition(format!("department {d} does not exist")));
                    }
                }
                for (d, f) in &new.evidence {
                    let unseen = || {
                        StoreError::FailedPrecondition(format!(
                            "evidence {} is not feedback you can see",
                            resource::feedback(d, f)
                        ))
                    };
                    if !ctx.scope.allows(d) {
                        return Err(unseen());
                    }
                    crate::feedback::read_feedback(&mut tx, d, f.as_str()).await.map_err(|e| match e {
                        StoreError::NotFound => unseen(),
                        other => other,
                    })?;
                }
                sqlx::query($crate::dumb_rules::INSERT_RULE)
                    .bind(new.id.as_str())
                    .bind(&new.text)
                    .bind(&ctx.actor.subject)
                    .bind(new.reporter_department.as_ref().map(|d| d.as_str()))
                    .bind(i64::try_from(new.evidence.len()).unwrap_or(i64::MAX))
                    .bind(crate::at(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                insert_links(&mut tx, new).await?;
                let name = resource::dumb_rule(&new.id);
                for d in &new.affected {
                    let payload = serde_json::json!({ "dumb_rule": new.id.as_str(), "status": "open" });
                    crate::record(&mut tx, ctx, d, &name, payload).await?;
                }
                let saved = read_rule(&mut tx, new.id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn get_dumb_rule(
                &self,
                scope: &cityserve_domain::TenantScope,
                id: &cityserve_domain::DumbRuleId,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::DumbRule> {
                let mut tx = self.read(scope).await?;
                let rule = crate::coordination::read_rule(&mut tx, id.as_str(), false).await?;
                tx.finish().await?;
                Ok(rule)
            }

            async fn list_dumb_rules(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::coordination::DumbRuleFilter,
                order: cityserve_store::coordination::DumbRuleOrder,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::coordination::DumbRule>> {
                let q = $crate::dumb_rules::list(crate::LISTS, filter, order, page)?;
                let mut tx = self.read(scope).await?;
                let rows = $crate::fetch_rows!(&mut *tx, q);
                let mut page = $crate::dumb_rules::page(&rows, order, page.size)?;
                crate::coordination::attach_rule_details(&mut tx, &mut page.items).await?;
                tx.finish().await?;
                Ok(page)
            }

            async fn vote_dumb_rule(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                id: &cityserve_domain::DumbRuleId,
                vote: &cityserve_domain::coordination::RuleVote,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::DumbRule> {
                use crate::coordination::read_rule;
                crate::in_scope(ctx.scope, &vote.department_id)?;
                let mut tx = self.write(ctx).await?;
                // Locked: a vote and the decision do not cross.
                let rule = read_rule(&mut tx, id.as_str(), true).await?;
                cityserve_domain::coordination::check_vote(&rule, &vote.department_id)
                    .map_err(|e| cityserve_store::StoreError::FailedPrecondition(e.0))?;
                let now = cityserve_store::now_micros();
                sqlx::query($crate::dumb_rules::UPSERT_VOTE)
                    .bind(vote.department_id.as_str())
                    .bind(id.as_str())
                    .bind(vote.voter.as_str())
                    .bind(vote.verdict.as_str())
                    .bind(&vote.comment)
                    .bind(crate::at(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                sqlx::query($crate::dumb_rules::TOUCH_RULE)
                    .bind(crate::at(now))
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let payload = serde_json::json!({ "dumb_rule": id.as_str(), "vote": vote.verdict.as_str() });
                let name = cityserve_store::resource::dumb_rule(id);
                crate::record(&mut tx, ctx, &vote.department_id, &name, payload).await?;
                let saved = read_rule(&mut tx, id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            async fn decide_dumb_rule(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                rule: &cityserve_domain::coordination::DumbRule,
                expected_revision: i64,
            ) -> cityserve_store::StoreResult<cityserve_domain::coordination::DumbRule> {
                use crate::coordination::read_rule;
                use cityserve_store::StoreError;
                let decision =
                    rule.decision.as_ref().ok_or_else(|| StoreError::Internal("no decision to record".into()))?;
                let mut tx = self.write(ctx).await?;
                let done = sqlx::query($crate::dumb_rules::DECIDE_RULE)
                    .bind(decision.verdict.as_str())
                    .bind(&decision.rationale)
                    .bind(&decision.decided_by)
                    .bind(crate::at(decision.decide_time))
                    .bind(rule.id.as_str())
                    .bind(expected_revision)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                if done.rows_affected() == 0 {
                    let current = read_rule(&mut tx, rule.id.as_str(), false).await?;
                    return Err(
                        if current.status != cityserve_domain::coordination::DumbRuleStatus::Open {
                            StoreError::FailedPrecondition("the rule was already decided".into())
                        } else {
                            StoreError::Conflict
                        },
                    );
                }
                let name = cityserve_store::resource::dumb_rule(&rule.id);
                for d in &rule.affected {
                    let payload =
                        serde_json::json!({ "dumb_rule": rule.id.as_str(), "verdict": decision.verdict.as_str() });
                    crate::record(&mut tx, ctx, d, &name, payload).await?;
                }
                let saved = read_rule(&mut tx, rule.id.as_str(), false).await?;
                self.commit(tx).await?;
                Ok(saved)
            }
        }
    };
}
