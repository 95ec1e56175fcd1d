//! The dumb rules register on SQLite.
use crate::coordination::*;
use crate::feedback::read_feedback;
use crate::{Bind, SqliteStore, bind_all, claim_key, db_err, in_scope, micros};
use cityserve_domain::coordination::{self, DumbRule, DumbRuleStatus, NewDumbRule, RuleVote};
use cityserve_domain::{DumbRuleId, Page, PageRequest, TenantScope};
use cityserve_store::DumbRuleStore;
use cityserve_store::coordination::{DumbRuleFilter, DumbRuleOrder};
use cityserve_store::{Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::Row;

impl DumbRuleStore for SqliteStore {
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
        if let Some(r) = claim_key(&mut tx, &key_dept, idem, "dumb_rule", new.id.as_str()).await? {
            let r = read_rule(&mut tx, &r).await?;
            self.commit(tx).await?;
            return Ok(r);
        }
        for d in &new.affected {
            let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM departments WHERE department_id = ?")
                .bind(d.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            if exists.is_none() {
                return Err(StoreError::FailedPrecondition(format!("department {d} does not exist")));
            }
        }
        for (d, f) in &new.evidence {
            if !ctx.scope.allows(d) {
                return Err(StoreError::FailedPrecondition(format!(
                    "evidence {} is not feedback you can see",
                    resource::feedback(d, f)
                )));
            }
            read_feedback(&mut tx, d, f.as_str()).await.map_err(|e| match e {
                StoreError::NotFound => StoreError::FailedPrecondition(format!(
                    "evidence {} is not feedback you can see",
                    resource::feedback(d, f)
                )),
                other => other,
            })?;
        }
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rules (rule_id, text, status, reported_by, reporter_department, evidence_count,
                 create_time, update_time, revision)
             VALUES (?, ?, 'open', ?, ?, ?, ?, ?, 1)",
        )
        .bind(new.id.as_str())
        .bind(&new.text)
        .bind(&ctx.actor.subject)
        .bind(new.reporter_department.as_ref().map(|d| d.as_str()))
        .bind(i64::try_from(new.evidence.len()).unwrap_or(i64::MAX))
        .bind(micros(now))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for d in &new.affected {
            sqlx::query("INSERT INTO dumb_rule_affected (department_id, rule_id) VALUES (?, ?)")
                .bind(d.as_str())
                .bind(new.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        for (d, f) in &new.evidence {
            sqlx::query(
                "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id) VALUES (?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(d.as_str())
            .bind(new.id.as_str())
            .bind(f.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let name = resource::dumb_rule(&new.id);
        for d in &new.affected {
            let payload = serde_json::json!({ "dumb_rule": new.id.as_str(), "status": "open" });
            crate::record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn get_dumb_rule(&self, _scope: &TenantScope, id: &DumbRuleId) -> StoreResult<DumbRule> {
        let mut conn = self.read_conn().await?;
        read_rule(&mut conn, id.as_str()).await
    }

    async fn list_dumb_rules(
        &self,
        _scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<DumbRule>> {
        let mut sql = format!("SELECT {RULE_COLUMNS} FROM dumb_rules r WHERE 1 = 1");
        let mut binds = Vec::new();
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            binds.push(Bind::Text(s.as_str().into()));
        }
        if let Some(d) = &filter.affected {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM dumb_rule_affected a WHERE a.rule_id = r.rule_id AND a.department_id = ?)",
            );
            binds.push(Bind::Text(d.to_string()));
        }
        match (order, &page.after) {
            (DumbRuleOrder::Newest, Some(a)) => {
                sql.push_str(" AND rule_id < ?");
                binds.push(Bind::Text(a.clone()));
            }
            (DumbRuleOrder::MostEvidence, Some(a)) => {
                let (n, r) = a.split_once(':').ok_or_else(|| StoreError::Internal("bad page position".into()))?;
                let n: i64 = n.parse().map_err(|_| StoreError::Internal("bad page position".into()))?;
                sql.push_str(" AND (evidence_count < ? OR (evidence_count = ? AND rule_id < ?))");
                binds.extend([Bind::Int(n), Bind::Int(n), Bind::Text(r.to_owned())]);
            }
            (_, None) => {}
        }
        sql.push_str(match order {
            DumbRuleOrder::Newest => " ORDER BY rule_id DESC LIMIT ?",
            DumbRuleOrder::MostEvidence => " ORDER BY evidence_count DESC, rule_id DESC LIMIT ?",
        });
        binds.push(Bind::Int(i64::from(page.size) + 1));
        let mut conn = self.read_conn().await?;
        let rows =
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), binds).fetch_all(&mut *conn).await.map_err(db_err)?;
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
        attach_rule_details(&mut conn, &mut page.items).await?;
        Ok(page)
    }

    async fn vote_dumb_rule(&self, ctx: &WriteCtx<'_>, id: &DumbRuleId, vote: &RuleVote) -> StoreResult<DumbRule> {
        in_scope(ctx.scope, &vote.department_id)?;
        let mut tx = self.write(ctx).await?;
        let rule = read_rule(&mut tx, id.as_str()).await?;
        coordination::check_vote(&rule, &vote.department_id).map_err(|e| StoreError::FailedPrecondition(e.0))?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO dumb_rule_votes (department_id, rule_id, voter, verdict, comment, update_time)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (department_id, rule_id) DO UPDATE SET voter = excluded.voter, verdict = excluded.verdict,
                 comment = excluded.comment, update_time = excluded.update_time",
        )
        .bind(vote.department_id.as_str())
        .bind(id.as_str())
        .bind(vote.voter.as_str())
        .bind(vote.verdict.as_str())
        .bind(&vote.comment)
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE dumb_rules SET update_time = ?, revision = revision + 1 WHERE rule_id = ?")
            .bind(micros(now))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let payload = serde_json::json!({ "dumb_rule": id.as_str(), "vote": vote.verdict.as_str() });
        crate::record(&mut tx, ctx, &vote.department_id, &resource::dumb_rule(id), payload).await?;
        let saved = read_rule(&mut tx, id.as_str()).await?;
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
            "UPDATE dumb_rules SET status = 'decided', verdict = ?, rationale = ?, decided_by = ?, decide_time = ?,
                 update_time = ?, revision = revision + 1
             WHERE rule_id = ? AND revision = ? AND status = 'open'",
        )
        .bind(decision.verdict.as_str())
        .bind(&decision.rationale)
        .bind(&decision.decided_by)
        .bind(micros(decision.decide_time))
        .bind(micros(decision.decide_time))
        .bind(rule.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let current = read_rule(&mut tx, rule.id.as_str()).await?;
            return Err(if current.status != DumbRuleStatus::Open {
                StoreError::FailedPrecondition("the rule was already decided".into())
            } else {
                StoreError::Conflict
            });
        }
        let name = resource::dumb_rule(&rule.id);
        for d in &rule.affected {
            let payload = serde_json::json!({ "dumb_rule": rule.id.as_str(), "verdict": decision.verdict.as_str() });
            crate::record(&mut tx, ctx, d, &name, payload).await?;
        }
        let saved = read_rule(&mut tx, rule.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }
}
