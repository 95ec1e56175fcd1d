//! Customer-service plans: drafting, submission, review and revisions.
use super::*;

pub(super) fn plan_status_to_pb(s: PlanStatus) -> pb::PlanStatus {
    match s {
        PlanStatus::Draft => pb::PlanStatus::Draft,
        PlanStatus::Submitted => pb::PlanStatus::Submitted,
        PlanStatus::ChangesRequested => pb::PlanStatus::ChangesRequested,
        PlanStatus::Approved => pb::PlanStatus::Approved,
    }
}

pub(super) fn plan_to_pb(p: &Plan) -> pb::Plan {
    pb::Plan {
        name: names::plan_name(&p.department_id, p.year),
        vision: p.content.vision.clone(),
        mission: p.content.mission.clone(),
        voice_of_customer: p.content.voice_of_customer.clone(),
        training_programme: p.content.training_programme.clone(),
        engagement_plan: p.content.engagement_plan.clone(),
        focus: Some(pb::FocusArea {
            area: p.content.focus_area.clone(),
            metric: p.content.focus_metric.clone(),
            baseline: p.content.focus_baseline,
            target: p.content.focus_target,
        }),
        status: plan_status_to_pb(p.status) as i32,
        review_comment: p.review_comment.clone(),
        create_time: Some(timestamp(p.create_time)),
        update_time: Some(timestamp(p.update_time)),
        revision: p.revision,
        etag: etag_for(p.revision),
    }
}

pub(super) fn revision_to_pb(r: &PlanRevision, created: DateTime<Utc>) -> pb::PlanRevision {
    let plan = Plan {
        department_id: r.department_id.clone(),
        year: r.year,
        content: r.content.clone(),
        status: r.status,
        review_comment: r.comment.clone(),
        create_time: created,
        update_time: r.create_time,
        revision: r.revision,
    };
    pb::PlanRevision {
        name: names::plan_revision_name(&r.department_id, r.year, r.revision),
        change: r.change.as_str().to_owned(),
        plan: Some(plan_to_pb(&plan)),
        comment: r.comment.clone(),
        author: r.author.clone(),
        create_time: Some(timestamp(r.create_time)),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    pub(super) fn plan_content(
        body: &pb::Plan,
        paths: &[String],
        base: PlanContent,
    ) -> Result<PlanContent, ValidationError> {
        let mut c = base;
        let focus = body.focus.clone().unwrap_or_default();
        for p in paths {
            match p.as_str() {
                "vision" => c.vision = body.vision.trim().to_owned(),
                "mission" => c.mission = body.mission.trim().to_owned(),
                "voice_of_customer" => c.voice_of_customer = body.voice_of_customer.trim().to_owned(),
                "training_programme" => c.training_programme = body.training_programme.trim().to_owned(),
                "engagement_plan" => c.engagement_plan = body.engagement_plan.trim().to_owned(),
                "focus" => {
                    c.focus_area = focus.area.trim().to_owned();
                    c.focus_metric = focus.metric.trim().to_owned();
                    c.focus_baseline = focus.baseline;
                    c.focus_target = focus.target;
                }
                "focus.area" => c.focus_area = focus.area.trim().to_owned(),
                "focus.metric" => c.focus_metric = focus.metric.trim().to_owned(),
                "focus.baseline" => c.focus_baseline = focus.baseline,
                _ => c.focus_target = focus.target,
            }
        }
        c.validate("plan")?;
        Ok(c)
    }

    pub(super) const PLAN_ALL: [&'static str; 6] =
        ["vision", "mission", "voice_of_customer", "training_programme", "engagement_plan", "focus"];
    pub(super) const PLAN_ALLOWED: [&'static str; 10] = [
        "vision",
        "mission",
        "voice_of_customer",
        "training_programme",
        "engagement_plan",
        "focus",
        "focus.area",
        "focus.metric",
        "focus.baseline",
        "focus.target",
    ];

    pub(super) async fn create_plan(&self, caller: Caller, r: pb::CreatePlanRequest) -> Result<pb::Plan, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let scope = scope_for(&caller, Action::DraftPlan, &d, &label("department", &r.parent))?;
        let idem = idempotency(&r.request_id, &pb::CreatePlanRequest { request_id: String::new(), ..r.clone() })?;
        let year = plan_year("year", r.year)?;
        let all: Vec<String> = Self::PLAN_ALL.iter().map(|s| (*s).to_owned()).collect();
        let content = Self::plan_content(&r.plan.unwrap_or_default(), &all, PlanContent::default())?;
        let p = self
            .store
            .create_plan(&ctx(&scope, &caller, AuditAction::PlanCreate), &idem, &d, year, &content)
            .await
            .map_err(|e| ApiError::from_store(e, &label("plan", &names::plan_name(&d, year))))?;
        Ok(plan_to_pb(&p))
    }

    pub(super) async fn get_plan(&self, caller: Caller, name: &str) -> Result<pb::Plan, ApiError> {
        let (d, year) = names::plan("name", name)?;
        let what = label("plan", name);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let p = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(plan_to_pb(&p))
    }

    pub(super) async fn list_plans(
        &self,
        caller: Caller,
        r: pb::ListPlansRequest,
    ) -> Result<pb::ListPlansResponse, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let filter_key = format!("plans?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        if page.after.as_deref().is_some_and(|a| a.parse::<i32>().is_err()) {
            return Err(ValidationError::one("page_token", "is not a token returned by this list call").into());
        }
        let what = label("department", &r.parent);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let p = self.store.list_plans(&scope, &d, &page).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListPlansResponse {
            plans: p.items.iter().map(plan_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    /// Reads a plan, applies `change` and saves it with its revision.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn change_plan(
        &self,
        caller: Caller,
        name_field: &str,
        name: &str,
        etag_field: &str,
        etag: &str,
        action: Action,
        change: PlanChange,
        content: Option<(&pb::Plan, Vec<String>)>,
        comment: &str,
    ) -> Result<pb::Plan, ApiError> {
        let (d, year) = names::plan(name_field, name)?;
        let what = label("plan", name);
        let scope = scope_for(&caller, action, &d, &what)?;
        let current = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision(etag_field, etag, current.revision)?;
        let content = match content {
            Some((body, paths)) => Some(Self::plan_content(body, &paths, current.content.clone())?),
            None => None,
        };
        let next = plan_transition(&current, change, content, comment)
            .map_err(|e| ApiError::FailedPrecondition(e.to_string()))?;
        let action_name = match change {
            PlanChange::Create => AuditAction::PlanCreate,
            PlanChange::Edit => AuditAction::PlanUpdate,
            PlanChange::Submit => AuditAction::PlanSubmit,
            PlanChange::Approve | PlanChange::RequestChanges => AuditAction::PlanReview,
        };
        let saved = self
            .store
            .save_plan(&ctx(&scope, &caller, action_name), &next, expected, change, comment)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        tracing::info!(department = %d, year, change = change.as_str(), status = saved.status.as_str(), "plan changed");
        Ok(plan_to_pb(&saved))
    }

    pub(super) async fn update_plan(&self, caller: Caller, r: pb::UpdatePlanRequest) -> Result<pb::Plan, ApiError> {
        let body = r.plan.ok_or_else(|| ValidationError::one("plan", "is required"))?;
        let paths = mask_paths(r.update_mask.as_ref(), &Self::PLAN_ALLOWED, &Self::PLAN_ALL)?;
        let name = body.name.clone();
        self.change_plan(
            caller,
            "plan.name",
            &name,
            "etag",
            &r.etag,
            Action::DraftPlan,
            PlanChange::Edit,
            Some((&body, paths)),
            "",
        )
        .await
    }

    pub(super) async fn submit_plan(&self, caller: Caller, r: pb::SubmitPlanRequest) -> Result<pb::Plan, ApiError> {
        self.change_plan(caller, "name", &r.name, "etag", &r.etag, Action::DraftPlan, PlanChange::Submit, None, "")
            .await
    }

    pub(super) async fn review_plan(&self, caller: Caller, r: pb::ReviewPlanRequest) -> Result<pb::Plan, ApiError> {
        let change = match pb::PlanDecision::try_from(r.decision) {
            Ok(pb::PlanDecision::Approve) => PlanChange::Approve,
            Ok(pb::PlanDecision::RequestChanges) => PlanChange::RequestChanges,
            _ => return Err(ValidationError::one("decision", "must be APPROVE or REQUEST_CHANGES").into()),
        };
        let comment = if change == PlanChange::RequestChanges {
            required_text("comment", &r.comment, COMMENT_MAX)?
        } else {
            optional_text("comment", &r.comment, COMMENT_MAX)?
        };
        self.change_plan(caller, "name", &r.name, "etag", &r.etag, Action::ReviewPlan, change, None, &comment).await
    }

    pub(super) async fn list_plan_revisions(
        &self,
        caller: Caller,
        r: pb::ListPlanRevisionsRequest,
    ) -> Result<pb::ListPlanRevisionsResponse, ApiError> {
        let (d, year) = names::plan("parent", &r.parent)?;
        let filter_key = format!("planRevisions?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        if page.after.as_deref().is_some_and(|a| a.parse::<i64>().is_err()) {
            return Err(ValidationError::one("page_token", "is not a token returned by this list call").into());
        }
        let what = label("plan", &r.parent);
        let scope = scope_for(&caller, Action::ReadPlans, &d, &what)?;
        let plan = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &what))?;
        let p = self
            .store
            .list_plan_revisions(&scope, &d, year, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListPlanRevisionsResponse {
            revisions: p.items.iter().map(|rev| revision_to_pb(rev, plan.create_time)).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }
}
