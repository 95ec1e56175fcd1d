//! The dumb rules register: reports, CSO votes and the Chief's decision.
use super::*;

pub(super) fn verdict_from_pb(field: &str, v: i32) -> Result<RuleVerdict, ValidationError> {
    match pb::RuleVerdict::try_from(v) {
        Ok(pb::RuleVerdict::Kill) => Ok(RuleVerdict::Kill),
        Ok(pb::RuleVerdict::Revise) => Ok(RuleVerdict::Revise),
        Ok(pb::RuleVerdict::Keep) => Ok(RuleVerdict::Keep),
        Ok(pb::RuleVerdict::Unspecified) => Err(ValidationError::one(field, "is required: KILL, REVISE or KEEP")),
        Err(_) => Err(ValidationError::one(field, "is not a known RuleVerdict")),
    }
}

pub(crate) fn verdict_to_pb(v: RuleVerdict) -> pb::RuleVerdict {
    match v {
        RuleVerdict::Kill => pb::RuleVerdict::Kill,
        RuleVerdict::Revise => pb::RuleVerdict::Revise,
        RuleVerdict::Keep => pb::RuleVerdict::Keep,
    }
}

pub(super) fn rule_to_pb(r: &DumbRule) -> pb::DumbRule {
    pb::DumbRule {
        name: resource::dumb_rule(&r.id),
        text: r.text.clone(),
        affected_departments: dept_names(&r.affected),
        evidence: r.evidence.iter().map(|(d, f)| resource::feedback(d, f)).collect(),
        votes: r
            .votes
            .iter()
            .map(|v| pb::RuleVote {
                department: resource::department(&v.department_id),
                voter: v.voter.to_string(),
                verdict: verdict_to_pb(v.verdict) as i32,
                comment: v.comment.clone(),
                update_time: Some(timestamp(v.update_time)),
            })
            .collect(),
        state: match r.status {
            DumbRuleStatus::Open => pb::DumbRuleState::Open,
            DumbRuleStatus::Decided => pb::DumbRuleState::Decided,
        } as i32,
        decision: r.decision.as_ref().map(|d| pb::RuleDecision {
            verdict: verdict_to_pb(d.verdict) as i32,
            rationale: d.rationale.clone(),
            decider: d.decided_by.clone(),
            decide_time: Some(timestamp(d.decide_time)),
        }),
        reporter: r.reported_by.clone(),
        reporter_department: r.reporter_department.as_ref().map(resource::department).unwrap_or_default(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag_for(r.revision),
    }
}

impl<S: CoordinationStore> CoordinationApi<S> {
    pub(super) async fn report_rule(
        &self,
        caller: Caller,
        r: pb::ReportDumbRuleRequest,
    ) -> Result<pb::ReportDumbRuleResponse, ApiError> {
        let body = r.dumb_rule.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let text = errors.check(required_text("dumb_rule.text", &body.text, REASON_MAX));
        let mut affected = Vec::new();
        if body.affected_departments.is_empty() {
            errors.push("dumb_rule.affected_departments", "name at least one department");
        }
        if body.affected_departments.len() > MAX_MEMBERS {
            errors.push("dumb_rule.affected_departments", format!("must have at most {MAX_MEMBERS} departments"));
        }
        for (i, d) in body.affected_departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("dumb_rule.affected_departments[{i}]"), d)) {
                affected.push(d);
            }
        }
        affected.sort();
        affected.dedup();
        if body.evidence.len() > MAX_EVIDENCE {
            errors.push("dumb_rule.evidence", format!("must have at most {MAX_EVIDENCE} items"));
        }
        let mut evidence = Vec::new();
        for (i, f) in body.evidence.iter().enumerate() {
            if let Some(f) = errors.check(names::feedback(&format!("dumb_rule.evidence[{i}]"), f)) {
                evidence.push(f);
            }
        }
        evidence.sort();
        evidence.dedup();
        let idem = errors
            .check(idempotency(&r.request_id, &pb::ReportDumbRuleRequest { request_id: String::new(), ..r.clone() }));
        errors.into_result()?;
        let (Some(text), Some(idem)) = (text, idem) else {
            return Err(ValidationError::one("dumb_rule", "is invalid").into());
        };
        let scope = list_scope(&caller, Action::ReportDumbRule, None, "dumbRules")?;
        let new = NewDumbRule {
            id: DumbRuleId::parse("id", &generated_id("dr"))?,
            text,
            affected,
            evidence,
            reporter_department: if caller.role.is_city_wide() { None } else { caller.departments.first().cloned() },
        };
        let rule = self
            .store
            .report_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleReport), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, "dumb rule"))?;
        Ok(pb::ReportDumbRuleResponse { dumb_rule: Some(rule_to_pb(&rule)) })
    }

    pub(super) async fn get_rule(&self, caller: &Caller, name: &str) -> Result<(TenantScope, DumbRule), ApiError> {
        let id = names::dumb_rule("name", name)?;
        let scope = list_scope(caller, Action::ReadDumbRules, None, name)?;
        let rule = self.store.get_dumb_rule(&scope, &id).await.map_err(|e| ApiError::from_store(e, name))?;
        Ok((scope, rule))
    }

    pub(super) async fn list_rules(
        &self,
        caller: Caller,
        r: pb::ListDumbRulesRequest,
    ) -> Result<pb::ListDumbRulesResponse, ApiError> {
        let mut errors = ValidationError::default();
        let status = match pb::DumbRuleState::try_from(r.state) {
            Ok(pb::DumbRuleState::Unspecified) => None,
            Ok(pb::DumbRuleState::Open) => Some(DumbRuleStatus::Open),
            Ok(pb::DumbRuleState::Decided) => Some(DumbRuleStatus::Decided),
            Err(_) => {
                errors.push("state", "is not a known DumbRuleState");
                None
            }
        };
        let affected = if r.affected_department.is_empty() {
            None
        } else {
            errors.check(names::department("affected_department", &r.affected_department))
        };
        let order = match r.order_by.trim() {
            "" => DumbRuleOrder::Newest,
            "evidence_count desc" => DumbRuleOrder::MostEvidence,
            _ => {
                errors.push("order_by", "must be empty (newest first) or `evidence_count desc`");
                DumbRuleOrder::Newest
            }
        };
        errors.into_result()?;
        let filter_key = format!("{:?}|{}|{:?}", status, r.affected_department, order);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadDumbRules, None, "dumbRules")?;
        let p = self
            .store
            .list_dumb_rules(&scope, &DumbRuleFilter { status, affected }, order, &page)
            .await
            .map_err(|e| ApiError::from_store(e, "dumbRules"))?;
        Ok(pb::ListDumbRulesResponse {
            dumb_rules: p.items.iter().map(rule_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn vote(
        &self,
        caller: Caller,
        r: pb::VoteOnDumbRuleRequest,
    ) -> Result<pb::VoteOnDumbRuleResponse, ApiError> {
        let mut errors = ValidationError::default();
        let id = errors.check(names::dumb_rule("name", &r.name));
        let verdict = errors.check(verdict_from_pb("verdict", r.verdict));
        let comment = errors.check(optional_text("comment", &r.comment, REASON_MAX));
        let department = if r.department.is_empty() {
            match caller.departments.as_slice() {
                [one] => Some(one.clone()),
                _ => {
                    errors.push("department", "is required: name the department whose CSO votes");
                    None
                }
            }
        } else {
            errors.check(names::department("department", &r.department))
        };
        let voter = errors.check(OfficerId::parse("subject", &caller.subject));
        errors.into_result()?;
        let (Some(id), Some(verdict), Some(comment), Some(department), Some(voter)) =
            (id, verdict, comment, department, voter)
        else {
            return Err(ValidationError::one("name", "is invalid").into());
        };
        // The register is readable by every officer: a missing rule answers NOT_FOUND first.
        self.get_rule(&caller, &r.name).await?;
        let scope = scope_for(&caller, Action::VoteDumbRule, &department, &resource::department(&department))?;
        let vote = RuleVote { department_id: department, voter, verdict, comment, update_time: now_micros() };
        let rule = self
            .store
            .vote_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleVote), &id, &vote)
            .await
            .map_err(|e| ApiError::from_store(e, &r.name))?;
        Ok(pb::VoteOnDumbRuleResponse { dumb_rule: Some(rule_to_pb(&rule)) })
    }

    pub(super) async fn decide(
        &self,
        caller: Caller,
        r: pb::DecideDumbRuleRequest,
    ) -> Result<pb::DecideDumbRuleResponse, ApiError> {
        let mut errors = ValidationError::default();
        errors.check(names::dumb_rule("name", &r.name));
        let verdict = errors.check(verdict_from_pb("verdict", r.verdict));
        let rationale = errors.check(required_text("rationale", &r.rationale, NOTE_MAX));
        errors.into_result()?;
        let (Some(verdict), Some(rationale)) = (verdict, rationale) else {
            return Err(ValidationError::one("verdict", "is invalid").into());
        };
        let scope = list_scope(&caller, Action::DecideDumbRule, None, &r.name)?;
        let (_, current) = self.get_rule(&caller, &r.name).await?;
        if let Some(d) = &current.decision
            && d.verdict == verdict
            && d.rationale == rationale
            && d.decided_by == caller.subject
        {
            // A retry of the recorded decision.
            return Ok(pb::DecideDumbRuleResponse { dumb_rule: Some(rule_to_pb(&current)) });
        }
        let rev = expected_revision("etag", &r.etag, current.revision)?;
        let decision =
            RuleDecision { verdict, rationale, decided_by: caller.subject.clone(), decide_time: now_micros() };
        let next = coordination::decide(&current, decision).map_err(|e| ApiError::FailedPrecondition(e.0))?;
        let saved = self
            .store
            .decide_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleDecide), &next, rev)
            .await
            .map_err(|e| ApiError::from_store(e, &r.name))?;
        Ok(pb::DecideDumbRuleResponse { dumb_rule: Some(rule_to_pb(&saved)) })
    }
}
