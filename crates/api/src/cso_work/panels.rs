//! Customer feedback panels: a department's CSO (or the Chief) runs them; the department's
//! officers, the Chief and auditors read panels, sessions and findings; members' contact
//! details are read only by those who run the panel, and are erasable.
use super::CsoWorkApi;
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, label, next_page_token, page, scope_for, time_from_pb,
};
use crate::names;
use cityserve_domain::feedback::{normalise_email, normalise_phone_in};
use cityserve_domain::panel::{
    self, FindingOutcome, MemberDetails, Panel, PanelAudience, PanelFinding, PanelFindingId, PanelId, PanelMember,
    PanelMemberId, PanelSession, PanelSessionId,
};
use cityserve_domain::{Action, AuditAction, Caller, Contact, Role, ValidationError, etag_for};
use cityserve_proto::v1 as pb;
use cityserve_store::panels::NewMember;
use cityserve_store::resource;

fn audience_from_pb(field: &str, v: i32) -> Result<PanelAudience, ValidationError> {
    use pb::PanelAudience as P;
    match P::try_from(v) {
        Ok(P::Residents) => Ok(PanelAudience::Residents),
        Ok(P::Businesses) => Ok(PanelAudience::Businesses),
        Ok(P::InternalCustomers) => Ok(PanelAudience::InternalCustomers),
        Ok(P::Unspecified) => Err(ValidationError::one(field, "is required")),
        Err(_) => Err(ValidationError::one(field, "is not a known PanelAudience")),
    }
}

fn audience_to_pb(a: PanelAudience) -> pb::PanelAudience {
    match a {
        PanelAudience::Residents => pb::PanelAudience::Residents,
        PanelAudience::Businesses => pb::PanelAudience::Businesses,
        PanelAudience::InternalCustomers => pb::PanelAudience::InternalCustomers,
    }
}

/// A finding outcome; `None` for unspecified.
fn outcome_from_pb(field: &str, v: i32) -> Result<Option<FindingOutcome>, ValidationError> {
    use pb::FindingOutcome as P;
    Ok(Some(match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known FindingOutcome"))? {
        P::Unspecified => return Ok(None),
        P::Open => FindingOutcome::Open,
        P::Initiative => FindingOutcome::Initiative,
        P::DumbRule => FindingOutcome::DumbRule,
        P::PlanFocus => FindingOutcome::PlanFocus,
        P::Closed => FindingOutcome::Closed,
    }))
}

pub(crate) fn outcome_to_pb(o: FindingOutcome) -> pb::FindingOutcome {
    match o {
        FindingOutcome::Open => pb::FindingOutcome::Open,
        FindingOutcome::Initiative => pb::FindingOutcome::Initiative,
        FindingOutcome::DumbRule => pb::FindingOutcome::DumbRule,
        FindingOutcome::PlanFocus => pb::FindingOutcome::PlanFocus,
        FindingOutcome::Closed => pb::FindingOutcome::Closed,
    }
}

pub(super) fn panel_to_pb(p: &Panel) -> pb::Panel {
    pb::Panel {
        name: resource::panel(&p.department_id, &p.id),
        display_name: p.display_name.clone(),
        audience: audience_to_pb(p.audience) as i32,
        city_wide: p.city_wide,
        purpose: p.purpose.clone(),
        member_count: i32::try_from(p.member_count).unwrap_or(i32::MAX),
        session_count: i32::try_from(p.session_count).unwrap_or(i32::MAX),
        create_time: Some(timestamp(p.create_time)),
    }
}

pub(super) fn member_to_pb(m: &PanelMember) -> pb::PanelMember {
    let d = m.details.clone().unwrap_or(MemberDetails {
        display_name: String::new(),
        email: String::new(),
        phone: String::new(),
        organization: String::new(),
    });
    pb::PanelMember {
        name: resource::panel_member(&m.department_id, &m.panel_id, &m.id),
        display_name: d.display_name,
        email: d.email,
        phone: d.phone,
        organization: d.organization,
        consent_time: Some(timestamp(m.consent_time)),
        resident: m.resident_key.as_deref().map(resource::resident).unwrap_or_default(),
        state: if m.details.is_some() { pb::PanelMemberState::Active } else { pb::PanelMemberState::Erased } as i32,
        create_time: Some(timestamp(m.create_time)),
        erase_time: m.erase_time.map(timestamp),
    }
}

pub(super) fn session_to_pb(s: &PanelSession) -> pb::PanelSession {
    pb::PanelSession {
        name: resource::panel_session(&s.department_id, &s.panel_id, &s.id),
        held_on: s.held_on.format("%Y-%m-%d").to_string(),
        agenda: s.agenda.clone(),
        executives: s.executives.clone(),
        officers: s.officers.clone(),
        members: s.members.iter().map(|m| resource::panel_member(&s.department_id, &s.panel_id, m)).collect(),
        member_attendance: i32::try_from(s.members.len()).unwrap_or(i32::MAX),
        create_time: Some(timestamp(s.create_time)),
    }
}

pub(super) fn finding_to_pb(f: &PanelFinding) -> pb::PanelFinding {
    pb::PanelFinding {
        name: resource::panel_finding(&f.department_id, &f.panel_id, &f.id),
        session: f
            .session_id
            .as_ref()
            .map(|s| resource::panel_session(&f.department_id, &f.panel_id, s))
            .unwrap_or_default(),
        summary: f.summary.clone(),
        outcome: outcome_to_pb(f.outcome) as i32,
        outcome_resource: f.outcome_resource.clone(),
        outcome_note: f.outcome_note.clone(),
        outcome_time: f.outcome_time.map(timestamp),
        create_time: Some(timestamp(f.create_time)),
        etag: etag_for(f.revision),
    }
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    pub(super) async fn create_panel(&self, caller: Caller, r: pb::CreatePanelRequest) -> Result<Panel, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let idem = idempotency(&r.request_id, &pb::CreatePanelRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.panel.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(PanelId::parse("panel_id", &r.panel_id));
        let name = errors.check(panel::display_name("panel.display_name", &body.display_name));
        let audience = errors.check(audience_from_pb("panel.audience", body.audience));
        let purpose = errors.check(panel::text("panel.purpose", &body.purpose));
        errors.into_result()?;
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.parent)?;
        // A panel that speaks for the whole city is the Chief's to convene.
        if body.city_wide && caller.role != Role::Chief {
            return Err(ApiError::PermissionDenied);
        }
        let (Some(id), Some(display_name), Some(audience), Some(purpose)) = (id, name, audience, purpose) else {
            return Err(ApiError::Internal);
        };
        let p = Panel {
            department_id: d,
            id,
            display_name,
            audience,
            city_wide: body.city_wide,
            purpose,
            member_count: 0,
            session_count: 0,
            create_time: cityserve_store::now_micros(),
        };
        let what = label("panel", &resource::panel(&p.department_id, &p.id));
        self.store
            .create_panel(&ctx(&scope, &caller, AuditAction::PanelManage), &idem, &p)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }

    pub(super) async fn get_panel(&self, caller: Caller, name: &str) -> Result<Panel, ApiError> {
        let (d, id) = names::panel("name", name)?;
        let scope = scope_for(&caller, Action::ReadPanels, &d, name)?;
        self.store.get_panel(&scope, &d, &id).await.map_err(|e| ApiError::from_store(e, &label("panel", name)))
    }

    pub(super) async fn list_panels(
        &self,
        caller: Caller,
        r: pb::ListPanelsRequest,
    ) -> Result<pb::ListPanelsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let d = errors.check(names::department("parent", &r.parent));
        let page = errors.check(page(r.page_size, &r.page_token, &r.parent));
        errors.into_result()?;
        let (Some(d), Some(page)) = (d, page) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ReadPanels, &d, &r.parent)?;
        let p = self.store.list_panels(&scope, &d, &page).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListPanelsResponse {
            panels: p.items.iter().map(panel_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &r.parent),
        })
    }

    pub(super) async fn add_panel_member(
        &self,
        caller: Caller,
        r: pb::AddPanelMemberRequest,
    ) -> Result<PanelMember, ApiError> {
        let (d, p) = names::panel("parent", &r.parent)?;
        let idem = idempotency(&r.request_id, &pb::AddPanelMemberRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.member.unwrap_or_default();
        let mut errors = ValidationError::default();
        let name = errors.check(panel::display_name("member.display_name", &body.display_name));
        let email = errors.check(normalise_email("member.email", &body.email));
        let phone = errors.check(normalise_phone_in("member.phone", &body.phone, &self.residents.country_code));
        let organization = errors.check(panel::organization("member.organization", &body.organization));
        let consent = errors.check(time_from_pb("member.consent_time", body.consent_time.as_ref()));
        let consent = consent
            .and_then(|c| errors.check(panel::consent_time("member.consent_time", c, cityserve_store::now_micros())));
        errors.into_result()?;
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.parent)?;
        let (Some(display_name), Some(email), Some(phone), Some(organization), Some(consent_time)) =
            (name, email, phone, organization, consent)
        else {
            return Err(ApiError::Internal);
        };
        let contact = Contact { email: email.clone(), phone: phone.clone(), name: String::new(), notice_channel: None };
        let member = NewMember {
            id: PanelMemberId::parse("member", &generated_id("m")).map_err(|_| ApiError::Internal)?,
            details: MemberDetails { display_name, email, phone, organization },
            resident: self.residents.keyer.resident(contact),
            consent_time,
        };
        self.store
            .add_panel_member(&ctx(&scope, &caller, AuditAction::PanelMemberManage), &idem, &d, &p, &member)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))
    }

    pub(super) async fn list_panel_members(
        &self,
        caller: Caller,
        r: pb::ListPanelMembersRequest,
    ) -> Result<pb::ListPanelMembersResponse, ApiError> {
        let mut errors = ValidationError::default();
        let panel = errors.check(names::panel("parent", &r.parent));
        let page = errors.check(page(r.page_size, &r.page_token, &r.parent));
        errors.into_result()?;
        let (Some((d, p)), Some(page)) = (panel, page) else { return Err(ApiError::Internal) };
        // Contact details: only those who run the panel.
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.parent)?;
        let found = self
            .store
            .list_panel_members(&scope, &d, &p, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))?;
        Ok(pb::ListPanelMembersResponse {
            members: found.items.iter().map(member_to_pb).collect(),
            next_page_token: next_page_token(found.next_after, &r.parent),
        })
    }

    pub(super) async fn erase_panel_member(&self, caller: Caller, name: &str) -> Result<PanelMember, ApiError> {
        let (d, p, m) = names::panel_child("name", name, "members")?;
        let m = PanelMemberId::parse("name", m)?;
        let scope = scope_for(&caller, Action::ManagePanels, &d, name)?;
        self.store
            .erase_panel_member(&ctx(&scope, &caller, AuditAction::PanelMemberManage), &d, &p, &m)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel member", name)))
    }

    pub(super) async fn create_panel_session(
        &self,
        caller: Caller,
        r: pb::CreatePanelSessionRequest,
    ) -> Result<PanelSession, ApiError> {
        let (d, p) = names::panel("parent", &r.parent)?;
        let idem =
            idempotency(&r.request_id, &pb::CreatePanelSessionRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.session.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(PanelSessionId::parse("session_id", &r.session_id));
        let held_on = errors.check(cityserve_domain::calendar::date("session.held_on", &body.held_on));
        let agenda = errors.check(panel::agenda("session.agenda", &body.agenda));
        let executives = errors.check(panel::executives("session.executives", &body.executives));
        if body.officers.len() > panel::MAX_OFFICERS {
            errors.push("session.officers", format!("may list at most {}", panel::MAX_OFFICERS));
        }
        let mut officers = Vec::new();
        for (i, o) in body.officers.iter().enumerate() {
            if let Some((od, oid)) = errors.check(names::officer(&format!("session.officers[{i}]"), o)) {
                officers.push(resource::officer(&od, &oid));
            }
        }
        if body.members.len() > panel::MAX_MEMBERS {
            errors.push("session.members", format!("may list at most {}", panel::MAX_MEMBERS));
        }
        let mut members = Vec::new();
        for (i, m) in body.members.iter().enumerate() {
            let field = format!("session.members[{i}]");
            match names::panel_child(&field, m, "members") {
                Ok((md, mp, mid)) if md == d && mp == p => {
                    if let Some(mid) = errors.check(PanelMemberId::parse(&field, mid)) {
                        members.push(mid);
                    }
                }
                Ok(_) => errors.push(&field, "must be a member of this panel"),
                Err(e) => {
                    errors.check::<()>(Err(e));
                }
            }
        }
        members.sort();
        members.dedup();
        errors.into_result()?;
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.parent)?;
        let (Some(id), Some(held_on), Some(agenda), Some(executives)) = (id, held_on, agenda, executives) else {
            return Err(ApiError::Internal);
        };
        let s = PanelSession {
            department_id: d,
            panel_id: p,
            id,
            held_on,
            agenda,
            executives,
            officers,
            members,
            create_time: cityserve_store::now_micros(),
        };
        self.store
            .create_panel_session(&ctx(&scope, &caller, AuditAction::PanelManage), &idem, &s)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))
    }

    pub(super) async fn list_panel_sessions(
        &self,
        caller: Caller,
        r: pb::ListPanelSessionsRequest,
    ) -> Result<pb::ListPanelSessionsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let panel = errors.check(names::panel("parent", &r.parent));
        let page = errors.check(page(r.page_size, &r.page_token, &r.parent));
        errors.into_result()?;
        let (Some((d, p)), Some(page)) = (panel, page) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ReadPanels, &d, &r.parent)?;
        let found = self
            .store
            .list_panel_sessions(&scope, &d, &p, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))?;
        Ok(pb::ListPanelSessionsResponse {
            sessions: found.items.iter().map(session_to_pb).collect(),
            next_page_token: next_page_token(found.next_after, &r.parent),
        })
    }

    pub(super) async fn create_panel_finding(
        &self,
        caller: Caller,
        r: pb::CreatePanelFindingRequest,
    ) -> Result<PanelFinding, ApiError> {
        let (d, p) = names::panel("parent", &r.parent)?;
        let idem =
            idempotency(&r.request_id, &pb::CreatePanelFindingRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.finding.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(PanelFindingId::parse("finding_id", &r.finding_id));
        let summary = errors.check(panel::summary("finding.summary", &body.summary));
        let session = if body.session.is_empty() {
            None
        } else {
            match names::panel_child("finding.session", &body.session, "sessions") {
                Ok((sd, sp, sid)) if sd == d && sp == p => errors.check(PanelSessionId::parse("finding.session", sid)),
                Ok(_) => {
                    errors.push("finding.session", "must be a session of this panel");
                    None
                }
                Err(e) => errors.check::<PanelSessionId>(Err(e)),
            }
        };
        errors.into_result()?;
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.parent)?;
        let (Some(id), Some(summary)) = (id, summary) else { return Err(ApiError::Internal) };
        let now = cityserve_store::now_micros();
        let f = PanelFinding {
            department_id: d,
            panel_id: p,
            id,
            session_id: session,
            summary,
            outcome: FindingOutcome::Open,
            outcome_resource: String::new(),
            outcome_note: String::new(),
            outcome_time: None,
            revision: 1,
            create_time: now,
        };
        self.store
            .create_panel_finding(&ctx(&scope, &caller, AuditAction::PanelManage), &idem, &f)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))
    }

    pub(super) async fn resolve_panel_finding(
        &self,
        caller: Caller,
        r: pb::ResolvePanelFindingRequest,
    ) -> Result<PanelFinding, ApiError> {
        let (d, p, f) = names::panel_child("name", &r.name, "findings")?;
        let f = PanelFindingId::parse("name", f)?;
        let mut errors = ValidationError::default();
        let outcome = errors.check(outcome_from_pb("outcome", r.outcome)).flatten();
        if outcome.is_none() && r.outcome == 0 {
            errors.push("outcome", "is required");
        }
        let note = errors.check(panel::text("outcome_note", &r.outcome_note));
        if let Some(o) = outcome {
            errors.check(panel::outcome(
                "outcome",
                o,
                "outcome_resource",
                &r.outcome_resource,
                "outcome_note",
                &r.outcome_note,
            ));
        }
        errors.into_result()?;
        let (Some(outcome), Some(note)) = (outcome, note) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ManagePanels, &d, &r.name)?;
        let what = label("panel finding", &r.name);
        let current =
            self.store.get_panel_finding(&scope, &d, &p, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision("etag", &r.etag, current.revision)?;
        let linked = self.linked_resource(&caller, outcome, &r.outcome_resource).await?;
        let next = PanelFinding { outcome, outcome_resource: linked, outcome_note: note, ..current };
        self.store
            .resolve_panel_finding(&ctx(&scope, &caller, AuditAction::PanelFindingResolve), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }

    /// The initiative, dumb rule or plan a finding led to, as its canonical name: it must exist
    /// and be visible to the caller (FAILED_PRECONDITION naming the field otherwise, the same
    /// words for missing and out of reach).
    async fn linked_resource(&self, caller: &Caller, outcome: FindingOutcome, name: &str) -> Result<String, ApiError> {
        const FIELD: &str = "outcome_resource";
        let missing = || ApiError::FailedPrecondition(format!("{FIELD}: {name} does not exist"));
        match outcome {
            FindingOutcome::Open | FindingOutcome::Closed => Ok(String::new()),
            FindingOutcome::Initiative => {
                let (d, i) = names::initiative(FIELD, name)?;
                let scope =
                    crate::kit::list_scope(caller, Action::ReadInitiatives, None, name).map_err(|_| missing())?;
                self.store.get_initiative(&scope, &d, &i).await.map_err(|_| missing())?;
                Ok(resource::initiative(&d, &i))
            }
            FindingOutcome::DumbRule => {
                let r = names::dumb_rule(FIELD, name)?;
                let scope = crate::kit::list_scope(caller, Action::ReadDumbRules, None, name).map_err(|_| missing())?;
                self.store.get_dumb_rule(&scope, &r).await.map_err(|_| missing())?;
                Ok(resource::dumb_rule(&r))
            }
            FindingOutcome::PlanFocus => {
                let (d, year) = names::plan(FIELD, name)?;
                let scope = scope_for(caller, Action::ReadPlans, &d, name).map_err(|_| missing())?;
                self.store.get_plan(&scope, &d, year).await.map_err(|_| missing())?;
                Ok(resource::plan(&d, year))
            }
        }
    }

    pub(super) async fn list_panel_findings(
        &self,
        caller: Caller,
        r: pb::ListPanelFindingsRequest,
    ) -> Result<pb::ListPanelFindingsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let panel = errors.check(names::panel("parent", &r.parent));
        let outcome = errors.check(outcome_from_pb("outcome", r.outcome)).flatten();
        let filter = format!("{}|{}", r.parent, r.outcome);
        let page = errors.check(page(r.page_size, &r.page_token, &filter));
        errors.into_result()?;
        let (Some((d, p)), Some(page)) = (panel, page) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ReadPanels, &d, &r.parent)?;
        let found = self
            .store
            .list_panel_findings(&scope, &d, &p, outcome, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("panel", &r.parent)))?;
        Ok(pb::ListPanelFindingsResponse {
            findings: found.items.iter().map(finding_to_pb).collect(),
            next_page_token: next_page_token(found.next_after, &filter),
        })
    }
}
