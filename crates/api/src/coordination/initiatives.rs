//! Initiatives: cross-department teams with an owner, members, goal and milestones.
use super::*;

pub(super) fn initiative_state_from_pb(field: &str, v: i32) -> Result<Option<InitiativeStatus>, ValidationError> {
    match pb::InitiativeState::try_from(v) {
        Ok(pb::InitiativeState::Unspecified) => Ok(None),
        Ok(pb::InitiativeState::Proposed) => Ok(Some(InitiativeStatus::Proposed)),
        Ok(pb::InitiativeState::Active) => Ok(Some(InitiativeStatus::Active)),
        Ok(pb::InitiativeState::Done) => Ok(Some(InitiativeStatus::Done)),
        Ok(pb::InitiativeState::Dropped) => Ok(Some(InitiativeStatus::Dropped)),
        Err(_) => Err(ValidationError::one(field, "is not a known InitiativeState")),
    }
}

pub(crate) fn initiative_state_to_pb(s: InitiativeStatus) -> pb::InitiativeState {
    match s {
        InitiativeStatus::Proposed => pb::InitiativeState::Proposed,
        InitiativeStatus::Active => pb::InitiativeState::Active,
        InitiativeStatus::Done => pb::InitiativeState::Done,
        InitiativeStatus::Dropped => pb::InitiativeState::Dropped,
    }
}

pub(super) fn initiative_to_pb(i: &Initiative) -> pb::Initiative {
    pb::Initiative {
        name: resource::initiative(&i.department_id, &i.id),
        title: i.title.clone(),
        goal: i.goal.clone(),
        owner: resource::officer(&i.department_id, &i.owner),
        member_departments: dept_names(&i.members),
        state: initiative_state_to_pb(i.status) as i32,
        milestones: i
            .milestones
            .iter()
            .map(|m| pb::Milestone {
                title: m.title.clone(),
                due_time: m.due_time.map(timestamp),
                done_time: m.done_time.map(timestamp),
            })
            .collect(),
        cases: i.cases.iter().map(|(d, c)| resource::case(d, c)).collect(),
        dumb_rules: i.dumb_rules.iter().map(resource::dumb_rule).collect(),
        create_time: Some(timestamp(i.create_time)),
        update_time: Some(timestamp(i.update_time)),
        etag: etag_for(i.revision),
        lessons: i.lifecycle.lessons.clone(),
        start_time: i.lifecycle.start_time.map(timestamp),
        end_time: i.lifecycle.end_time.map(timestamp),
    }
}

impl<S: CoordinationStore> CoordinationApi<S> {
    /// Validates an initiative body for lead department `lead`.
    pub(super) fn initiative_body(lead: &DepartmentId, b: &pb::Initiative) -> Result<Initiative, ValidationError> {
        let mut errors = ValidationError::default();
        let title = errors.check(required_text("initiative.title", &b.title, TITLE_MAX));
        let goal = errors.check(required_text("initiative.goal", &b.goal, NOTE_MAX));
        let owner = match names::officer("initiative.owner", &b.owner) {
            Ok((d, o)) if d == *lead => Some(o),
            Ok(_) => {
                errors.push("initiative.owner", "must be an officer of the lead department");
                None
            }
            Err(e) => {
                errors.check::<()>(Err(e));
                None
            }
        };
        let mut members = vec![lead.clone()];
        if b.member_departments.len() > MAX_MEMBERS {
            errors.push("initiative.member_departments", format!("must have at most {MAX_MEMBERS} departments"));
        }
        for (i, m) in b.member_departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("initiative.member_departments[{i}]"), m)) {
                members.push(d);
            }
        }
        members.sort();
        members.dedup();
        let status = errors.check(initiative_state_from_pb("initiative.state", b.state)).flatten();
        if b.milestones.len() > MAX_MILESTONES {
            errors.push("initiative.milestones", format!("must have at most {MAX_MILESTONES} milestones"));
        }
        let mut milestones = Vec::new();
        for (i, m) in b.milestones.iter().enumerate() {
            let f = format!("initiative.milestones[{i}]");
            let title = errors.check(required_text(&format!("{f}.title"), &m.title, 500));
            let due = errors.check(time_from_pb(&format!("{f}.due_time"), m.due_time.as_ref()));
            let done = errors.check(time_from_pb(&format!("{f}.done_time"), m.done_time.as_ref()));
            if let (Some(title), Some(due_time), Some(done_time)) = (title, due, done) {
                milestones.push(Milestone { title, due_time, done_time });
            }
        }
        if b.cases.len() > MAX_LINKS {
            errors.push("initiative.cases", format!("must have at most {MAX_LINKS} cases"));
        }
        let mut cases = Vec::new();
        for (i, c) in b.cases.iter().enumerate() {
            if let Some(c) = errors.check(names::case(&format!("initiative.cases[{i}]"), c)) {
                cases.push(c);
            }
        }
        cases.sort();
        cases.dedup();
        if b.dumb_rules.len() > MAX_MILESTONES {
            errors.push("initiative.dumb_rules", format!("must have at most {MAX_MILESTONES} rules"));
        }
        let mut rules: Vec<DumbRuleId> = Vec::new();
        for (i, r) in b.dumb_rules.iter().enumerate() {
            if let Some(r) = errors.check(names::dumb_rule(&format!("initiative.dumb_rules[{i}]"), r)) {
                rules.push(r);
            }
        }
        rules.sort();
        rules.dedup();
        let status = status.unwrap_or(InitiativeStatus::Proposed);
        let lessons = errors.check(coordination::lessons("initiative.lessons", &b.lessons, status));
        errors.into_result()?;
        let now = now_micros();
        let i = Initiative {
            department_id: lead.clone(),
            id: cityserve_domain::InitiativeId::parse("id", &generated_id("in"))?,
            title: title.unwrap_or_default(),
            goal: goal.unwrap_or_default(),
            owner: owner.ok_or_else(|| ValidationError::one("initiative.owner", "is required"))?,
            members,
            status,
            milestones,
            cases,
            dumb_rules: rules,
            create_time: now,
            update_time: now,
            revision: 1,
            lifecycle: coordination::lifecycle_after(None, status, lessons.unwrap_or_default(), now),
        };
        i.validate()?;
        Ok(i)
    }

    pub(super) async fn create_initiative(
        &self,
        caller: Caller,
        r: pb::CreateInitiativeRequest,
    ) -> Result<pb::CreateInitiativeResponse, ApiError> {
        let lead = names::department("parent", &r.parent)?;
        let body = r.initiative.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let i = errors.check(Self::initiative_body(&lead, &body));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::CreateInitiativeRequest { request_id: String::new(), ..r.clone() }));
        if let Some(i) = &i
            && !matches!(i.status, InitiativeStatus::Proposed | InitiativeStatus::Active)
        {
            errors.push("initiative.state", "must be PROPOSED or ACTIVE when created");
        }
        errors.into_result()?;
        let (Some(i), Some(idem)) = (i, idem) else {
            return Err(ValidationError::one("initiative", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::ProposeInitiative, &lead, &r.parent)?;
        let created = self
            .store
            .create_initiative(&ctx(&scope, &caller, AuditAction::InitiativeCreate), &idem, &i)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::CreateInitiativeResponse { initiative: Some(initiative_to_pb(&created)) })
    }

    pub(super) async fn get_initiative(&self, caller: Caller, name: &str) -> Result<Initiative, ApiError> {
        let (lead, id) = names::initiative("name", name)?;
        let scope = list_scope(&caller, Action::ReadInitiatives, None, name)?;
        self.store.get_initiative(&scope, &lead, &id).await.map_err(|e| ApiError::from_store(e, name))
    }

    pub(super) async fn list_initiatives(
        &self,
        caller: Caller,
        r: pb::ListInitiativesRequest,
    ) -> Result<pb::ListInitiativesResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = errors.check(initiative_state_from_pb("state", r.state));
        errors.into_result()?;
        let (Some(parent), Some(status)) = (parent, status) else {
            return Err(ValidationError::one("parent", "is invalid").into());
        };
        let filter_key = format!("{}|{:?}", r.parent, status);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadInitiatives, parent.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_initiatives(&scope, &InitiativeFilter { member: parent, status }, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListInitiativesResponse {
            initiatives: p.items.iter().map(initiative_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn update_initiative(
        &self,
        caller: Caller,
        r: pb::UpdateInitiativeRequest,
    ) -> Result<pb::UpdateInitiativeResponse, ApiError> {
        let body = r.initiative.clone().unwrap_or_default();
        let (lead, id) = names::initiative("initiative.name", &body.name)?;
        let scope = scope_for(&caller, Action::ManageInitiatives, &lead, &body.name)?;
        let current =
            self.store.get_initiative(&scope, &lead, &id).await.map_err(|e| ApiError::from_store(e, &body.name))?;
        const FIELDS: [&str; 9] =
            ["title", "goal", "owner", "member_departments", "state", "milestones", "cases", "dumb_rules", "lessons"];
        let paths = crate::kit::mask_paths(r.update_mask.as_ref(), &FIELDS, &FIELDS)?;
        // The current initiative with the masked fields taken from the request, validated whole.
        let mut full = initiative_to_pb(&current);
        for path in &paths {
            match path.as_str() {
                "title" => full.title.clone_from(&body.title),
                "goal" => full.goal.clone_from(&body.goal),
                "owner" => full.owner.clone_from(&body.owner),
                "member_departments" => full.member_departments.clone_from(&body.member_departments),
                "state" => full.state = body.state,
                "milestones" => full.milestones.clone_from(&body.milestones),
                "cases" => full.cases.clone_from(&body.cases),
                "dumb_rules" => full.dumb_rules.clone_from(&body.dumb_rules),
                "lessons" => full.lessons.clone_from(&body.lessons),
                _ => {}
            }
        }
        let next = Self::initiative_body(&lead, &full)?;
        if !coordination::initiative_transition_allowed(current.status, next.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "an initiative cannot move from {} to {}",
                current.status.as_str(),
                next.status.as_str()
            )));
        }
        let rev = expected_revision("initiative.etag", &body.etag, current.revision)?;
        let lifecycle =
            coordination::lifecycle_after(Some(&current), next.status, next.lifecycle.lessons.clone(), now_micros());
        let updated = Initiative {
            id: current.id.clone(),
            create_time: current.create_time,
            revision: current.revision,
            lifecycle,
            ..next
        };
        let saved = self
            .store
            .save_initiative(&ctx(&scope, &caller, AuditAction::InitiativeManage), &updated, rev)
            .await
            .map_err(|e| ApiError::from_store(e, &body.name))?;
        Ok(pb::UpdateInitiativeResponse { initiative: Some(initiative_to_pb(&saved)) })
    }
}
