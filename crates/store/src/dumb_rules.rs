//! Storage for the city-wide dumb rules register.
use crate::coordination::*;
use crate::{FeedbackStore, Idempotency, StoreResult, WriteCtx};
use cityserve_domain::coordination::{DumbRule, NewDumbRule, RuleVote};
use cityserve_domain::{DumbRuleId, Page, PageRequest, TenantScope};
use std::future::Future;

/// Storage for the city-wide dumb rules register. Same contract as [`crate::DepartmentStore`] for scope, idempotency,
/// revisions, audit and events.
pub trait DumbRuleStore: FeedbackStore {
    /// Adds a rule to the register. Affected departments must exist; evidence must be feedback
    /// the reporter can see ([`crate::StoreError::FailedPrecondition`] otherwise).
    fn report_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewDumbRule,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Reads a rule (the register is city-wide).
    fn get_dumb_rule(&self, scope: &TenantScope, id: &DumbRuleId)
    -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Lists the register.
    fn list_dumb_rules(
        &self,
        scope: &TenantScope,
        filter: &DumbRuleFilter,
        order: DumbRuleOrder,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<DumbRule>>> + Send;

    /// Casts or changes the department's vote (one per department) while the rule is open.
    fn vote_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        id: &DumbRuleId,
        vote: &RuleVote,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;

    /// Records the Chief's decision (`rule.decision`) if the revision matches and the rule is open.
    fn decide_dumb_rule(
        &self,
        ctx: &WriteCtx<'_>,
        rule: &DumbRule,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<DumbRule>> + Send;
}
