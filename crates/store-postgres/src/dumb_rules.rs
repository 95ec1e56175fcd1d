//! The dumb rules register on PostgreSQL.
use crate::coordination::*;
use crate::feedback::read_feedback;
use crate::{PgStore, claim_key, db_err, in_scope, record};
use cityserve_domain::coordination::{self, DumbRule, DumbRuleStatus, NewDumbRule, RuleVote};
use cityserve_domain::{DepartmentId, DumbRuleId, Page, PageRequest, TenantScope};
use cityserve_store::DumbRuleStore;
use cityserve_store::coordination::{DumbRuleFilter, DumbRuleOrder};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::Row;

impl DumbRuleStore for PgStore {
    async fn report_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDumbRule,
    ) -> StoreResult<DumbRule> {
        // Idempotency keys are per department: the reporter's, or for the Chief the first affected one.
        let key_dept =
            new.reporter_department.clone().or_else(|| new.affected.first().cloned()).ok_or(StoreError::NotFound)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        if let Some(r) = claim_key(&mut tx, &key_dept, idem, "dumb_rule", new.id.as_str()).await? {
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
            read_feedback(&mut tx, d, f.as_str()).await.map_err(|e| match e {
                StoreError::NotFound => unseen(),
                other => other,
            })?;
        }
        sqlx::query(
            "INSERT INTO dumb_rules (rule_id, text, status, reported_by, reporter_department, evidence_count,
                 create_time, update_time, revision)
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $6, 1)",
        )
        .bind(new.id.as_str())
        .bind(&new.text)
        .bind(&ctx.actor.subject)
        .bind(new.reporter_department.as_ref().map(DepartmentId::as_str))
        .bind(i64::try_from(new.evidence.len()).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO dumb_rule_affected (department_id, rule_id)
             SELECT DISTINCT d, $2 FROM unnest($1::text[]) AS d",
        )
        .bind(new.affected.iter().map(DepartmentId::as_str).collect::<Vec<_>>())
        .bind(new.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id)
             SELECT d, $3, f FROM unnest($1::text[], $2::text[]) AS e (d, f)
             ON CONFLICT DO NOTHING",
        )
        .bind(new.evidence.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
        .bind(new.evidence.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>())
        .bind(new.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::dumb_rule(&new.id);
        for d in &new.affected {
            let payload = serde_json::json!({ "dumb_rule": new.id.as_str(), "status": "open" });
            record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, new.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_dumb_rule(&self, scope: &TenantScope, id: &DumbRuleId) -> StoreResult<DumbRule> {
        let mut tx = self.read(scope).await?;
        let rule = read_rule(&mut tx, id.as_str(), false).await?;
        tx.finish().await?;
        Ok(rule)
    }

    async fn list_dumb_rules(
        &self,
        scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<DumbRule>> {
        let bad = || StoreError::Internal("bad page position".into());
        let (after_count, after_id) = match (order, &page.after) {
            (DumbRuleOrder::Newest, Some(a)) => (None, Some(a.clone())),
            (DumbRuleOrder::MostEvidence, Some(a)) => {
                let (n, r) = a.split_once(':').ok_or_else(bad)?;
                (Some(n.parse::<i64>().map_err(|_| bad())?), Some(r.to_owned()))
            }
            (_, None) => (None, None),
        };
        let (cursor, order_by) = match order {
            DumbRuleOrder::Newest => ("($3::text IS NULL OR rule_id < $3)", "rule_id DESC"),
            DumbRuleOrder::MostEvidence => (
                "($3::text IS NULL OR evidence_count < $4 OR (evidence_count = $4 AND rule_id < $3))",
                "evidence_count DESC, rule_id DESC",
            ),
        };
        let sql = format!(
            "SELECT {RULE_COLUMNS} FROM dumb_rules r
             WHERE ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM dumb_rule_affected a
                        WHERE a.rule_id = r.rule_id AND a.department_id = $2))
               AND {cursor}
             ORDER BY {order_by} LIMIT $5"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.status.map(DumbRuleStatus::as_str))
            .bind(filter.affected.as_ref().map(DepartmentId::as_str))
            .bind(after_id)
            .bind(after_count.unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let items = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("evidence_count").map_err(db_err)?, rule_from(row)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let counted = match order {
            DumbRuleOrder::Newest => Page::from_overfetch(items, page.size, |(_, r)| r.id.to_string()),
            DumbRuleOrder::MostEvidence => Page::from_overfetch(items, page.size, |(n, r)| format!("{n}:{}", r.id)),
        };
        let mut page =
            Page { items: counted.items.into_iter().map(|(_, r)| r).collect(), next_after: counted.next_after };
        attach_rule_details(&mut tx, &mut page.items).await?;
        tx.finish().await?;
        Ok(page)
    }

    async fn vote_dumb_rule(&self, ctx: &WriteCtx<'_>, id: &DumbRuleId, vote: &RuleVote) -> StoreResult<DumbRule> {
        in_scope(ctx.scope, &vote.department_id)?;
        let mut tx = self.write(ctx).await?;
        // Locked: a vote and the decision do not cross.
        let rule = read_rule(&mut tx, id.as_str(), true).await?;
        coordination::check_vote(&rule, &vote.department_id).map_err(|e| StoreError::FailedPrecondition(e.0))?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (department_id, rule_id) DO UPDATE SET voter = excluded.voter, verdict = excluded.verdict,
                 comment = excluded.comment, update_time = excluded.update_time",
        )
        .bind(vote.department_id.as_str())
        .bind(id.as_str())
        .bind(vote.voter.as_str())
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE dumb_rules SET update_time = $1, revision = revision + 1 WHERE rule_id = $2")
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let payload = serde_json::json!({ "dumb_rule": id.as_str(), "vote": vote.verdict.as_str() });
        record(&mut tx, ctx, &vote.department_id, &resource::dumb_rule(id), payload).await?;
        let saved = read_rule(&mut tx, id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn decide_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        rule: &DumbRule,
        expected_revision: i64,
    ) -> StoreResult<DumbRule> {
        let decision = rule.decision.as_ref().ok_or_else(|| StoreError::Internal("no decision to record".into()))?;
        let mut tx = self.write(ctx).await?;
        let done = sqlx::query(
            "UPDATE dumb_rules SET status = 'decided', verdict = $1, rationale = $2, decided_by = $3,
                 decide_time = $4, update_time = $4, revision = revision + 1
             WHERE rule_id = $5 AND revision = $6 AND status = 'open'",
        )
        .bind(decision.verdict.as_str())
        .bind(&decision.rationale)
        .bind(&decision.decided_by)
        .bind(decision.decide_time)
        .bind(rule.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let current = read_rule(&mut tx, rule.id.as_str(), false).await?;
            return Err(if current.status != DumbRuleStatus::Open {
                StoreError::FailedPrecondition("the rule was already decided".into())
            } else {
                StoreError::Conflict
            });
        }
        let name = resource::dumb_rule(&rule.id);
        for d in &rule.affected {
            let payload = serde_json::json!({ "dumb_rule": rule.id.as_str(), "verdict": decision.verdict.as_str() });
            record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, rule.id.as_str(), false).await?;
        self.commit(tx).await?;
        Ok(saved)
    }
}
