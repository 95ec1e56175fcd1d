//! The authorization policy: one table says which role may do what, and to which tenants.
//!
//! [`authorize`] is the only way to obtain a [`TenantScope`], and every tenant-scoped store call
//! takes one, so a handler cannot reach the data without passing through this table.
use crate::caller::{Caller, Role};
use crate::ids::DepartmentId;

/// Something a caller wants to do. One variant per kind of operation; RPCs map onto these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create a department (a new tenant).
    CreateDepartment,
    /// Read a department (get, list).
    ReadDepartment,
    /// Change a department's name, description or default targets.
    UpdateDepartment,
    /// Archive or unarchive a department.
    ArchiveDepartment,
    /// Read a department's service categories and standards (get, list, resolve).
    ReadServiceCatalog,
    /// Create, update, retire or delete service categories and standards.
    ManageServiceCatalog,
    /// Look up the caller's own officer record and seats (the "roles follow appointments" check).
    CheckStanding,
    /// Read a department's officers and their appointment history.
    ReadOfficers,
    /// Add, update or deactivate a department's officers.
    ManageOfficers,
    /// Appoint a department's CSO or end an appointment.
    AppointCso,
    /// Appoint a new Chief (only the current Chief; the first one is bootstrapped by the CLI).
    AppointChief,
    /// Read the whole CSO network in one view.
    ReadCsoNetwork,
    /// Read a department's competencies and its competency gaps.
    ReadCompetencies,
    /// Define or change a department's competencies and record training.
    ManageCompetencies,
    /// Read an officer's training records (any officer of the department).
    ReadTraining,
    /// Read one's own training records.
    ReadOwnTraining,
    /// Recognise an officer (of any department) as a service hero.
    RecognizeOfficer,
    /// Read recognitions.
    ReadRecognitions,
    /// Read customer-service plans and their revisions.
    ReadPlans,
    /// Draft, edit and submit a department's customer-service plan.
    DraftPlan,
    /// Approve a plan or request changes.
    ReviewPlan,
    /// Submit feedback received by a department (one item or a batch).
    SubmitFeedback,
    /// Submit feedback as an internal customer: one department rating another's service.
    SubmitInternalFeedback,
    /// Read a department's feedback.
    ReadFeedback,
    /// Read a resident's timeline (full entries in reach, redacted entries elsewhere).
    ReadTimeline,
    /// Erase a resident's contact details and identifying text everywhere.
    EraseResident,
    /// Read a department's complaint cases.
    ReadCases,
    /// Work a department's complaint cases: transitions, assignment, notes, recovery, follow-up.
    ManageCases,
    /// Refer or transfer one of the department's cases to another department.
    SendHandoff,
    /// Read hand-offs the department sent or received.
    ReadHandoffs,
    /// Accept or decline a hand-off the department received.
    RespondHandoff,
    /// Escalate one of the department's cases to the Chief.
    Escalate,
    /// Read escalations.
    ReadEscalations,
    /// Acknowledge and resolve escalations (the Chief's desk).
    ManageEscalations,
    /// Start a cross-department initiative led by the department.
    ProposeInitiative,
    /// Read initiatives the department is a member of.
    ReadInitiatives,
    /// Change an initiative the department leads (status, milestones, members, links).
    ManageInitiatives,
    /// Report a dumb rule (on behalf of the reporter's department).
    ReportDumbRule,
    /// Read the city-wide dumb rules register.
    ReadDumbRules,
    /// Vote on a dumb rule affecting the department (its CSO).
    VoteDumbRule,
    /// Decide a dumb rule's fate.
    DecideDumbRule,
    /// Read a department's report cards.
    ReadReportCards,
    /// Read the city dashboard: every department side by side.
    ReadCityDashboard,
    /// Subscribe to the live event stream of departments in reach.
    WatchEvents,
    /// Issue and revoke API keys of Open311 clients.
    ManageApiKeys,
    /// Read the API keys of Open311 clients (never their secrets).
    ReadApiKeys,
    /// Register, change and deactivate the city's internal applications (service accounts).
    ManageServiceAccounts,
    /// Read the registered service accounts.
    ReadServiceAccounts,
    /// Write and preview the texts of resident notices: a department's (its CSO), or the
    /// city-wide defaults (the Chief).
    ManageNoticeTemplates,
    /// Read a department's notices and their delivery (dead letters are the CSO's to follow up),
    /// and its notice templates.
    ReadNotices,
    /// Record and change a department's touchpoints (where residents meet it).
    ManageTouchpoints,
    /// Read a department's touchpoints.
    ReadTouchpoints,
    /// Write and revise the rubrics a department's observations are scored on.
    ManageRubrics,
    /// Record moments-of-truth observations and follow their coaching actions to done (the CSO
    /// and the staff they delegate the watching to).
    ManageObservations,
    /// Read a department's rubrics and observations.
    ReadObservations,
    /// Read a touchpoint's figures (contacts, CSAT, observation scores).
    ReadTouchpointFigures,
    /// Read one officer's figures: the officer themselves (the handler checks it is them) and
    /// their CSO; the Chief and auditors see officers only in aggregate.
    ReadOfficerFigures,
    /// Add city-wide customer themes (labels the whole network shares).
    ManageThemes,
    /// Read the city-wide themes.
    ReadThemes,
    /// Apply themes to a department's feedback, and ask for suggestions.
    TagFeedback,
    /// Run a department's feedback panels: create them, add and erase members (whose contact
    /// details only this action reads), record sessions and findings and their outcomes.
    ManagePanels,
    /// Read a department's panels, sessions and findings (never members' contact details).
    ReadPanels,
    /// Read the audit log (who did what, to which resource, when, with which outcome).
    ReadAudit,
    /// Change the city's calendar (time zone, opening hours, holidays). Reading it needs only
    /// [`Action::ReadDepartment`]; a department's override is part of its service catalogue.
    ManageCityCalendar,
}

impl Action {
    /// Every action, for exhaustive tests.
    pub const ALL: [Action; 64] = [
        Action::CreateDepartment,
        Action::ReadDepartment,
        Action::UpdateDepartment,
        Action::ArchiveDepartment,
        Action::ReadServiceCatalog,
        Action::ManageServiceCatalog,
        Action::CheckStanding,
        Action::ReadOfficers,
        Action::ManageOfficers,
        Action::AppointCso,
        Action::AppointChief,
        Action::ReadCsoNetwork,
        Action::ReadCompetencies,
        Action::ManageCompetencies,
        Action::ReadTraining,
        Action::ReadOwnTraining,
        Action::RecognizeOfficer,
        Action::ReadRecognitions,
        Action::ReadPlans,
        Action::DraftPlan,
        Action::ReviewPlan,
        Action::SubmitFeedback,
        Action::SubmitInternalFeedback,
        Action::ReadFeedback,
        Action::ReadTimeline,
        Action::EraseResident,
        Action::ReadCases,
        Action::ManageCases,
        Action::SendHandoff,
        Action::ReadHandoffs,
        Action::RespondHandoff,
        Action::Escalate,
        Action::ReadEscalations,
        Action::ManageEscalations,
        Action::ProposeInitiative,
        Action::ReadInitiatives,
        Action::ManageInitiatives,
        Action::ReportDumbRule,
        Action::ReadDumbRules,
        Action::VoteDumbRule,
        Action::DecideDumbRule,
        Action::ReadReportCards,
        Action::ReadCityDashboard,
        Action::WatchEvents,
        Action::ManageApiKeys,
        Action::ReadApiKeys,
        Action::ManageServiceAccounts,
        Action::ReadServiceAccounts,
        Action::ManageNoticeTemplates,
        Action::ReadNotices,
        Action::ManageTouchpoints,
        Action::ReadTouchpoints,
        Action::ManageRubrics,
        Action::ManageObservations,
        Action::ReadObservations,
        Action::ReadTouchpointFigures,
        Action::ReadOfficerFigures,
        Action::ManageThemes,
        Action::ReadThemes,
        Action::TagFeedback,
        Action::ManagePanels,
        Action::ReadPanels,
        Action::ReadAudit,
        Action::ManageCityCalendar,
    ];

    /// A stable name for audit records and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateDepartment => "department.create",
            Action::ReadDepartment => "department.read",
            Action::UpdateDepartment => "department.update",
            Action::ArchiveDepartment => "department.archive",
            Action::ReadServiceCatalog => "catalog.read",
            Action::ManageServiceCatalog => "catalog.manage",
            Action::CheckStanding => "standing.check",
            Action::ReadOfficers => "officer.read",
            Action::ManageOfficers => "officer.manage",
            Action::AppointCso => "appointment.cso",
            Action::AppointChief => "appointment.chief",
            Action::ReadCsoNetwork => "network.read",
            Action::ReadCompetencies => "competency.read",
            Action::ManageCompetencies => "competency.manage",
            Action::ReadTraining => "training.read",
            Action::ReadOwnTraining => "training.read_own",
            Action::RecognizeOfficer => "recognition.create",
            Action::ReadRecognitions => "recognition.read",
            Action::ReadPlans => "plan.read",
            Action::DraftPlan => "plan.draft",
            Action::ReviewPlan => "plan.review",
            Action::SubmitFeedback => "feedback.submit",
            Action::SubmitInternalFeedback => "feedback.submit_internal",
            Action::ReadFeedback => "feedback.read",
            Action::ReadTimeline => "timeline.read",
            Action::EraseResident => "resident.erase",
            Action::ReadCases => "case.read",
            Action::ManageCases => "case.manage",
            Action::SendHandoff => "handoff.send",
            Action::ReadHandoffs => "handoff.read",
            Action::RespondHandoff => "handoff.respond",
            Action::Escalate => "escalation.create",
            Action::ReadEscalations => "escalation.read",
            Action::ManageEscalations => "escalation.manage",
            Action::ProposeInitiative => "initiative.create",
            Action::ReadInitiatives => "initiative.read",
            Action::ManageInitiatives => "initiative.manage",
            Action::ReportDumbRule => "dumb_rule.report",
            Action::ReadDumbRules => "dumb_rule.read",
            Action::VoteDumbRule => "dumb_rule.vote",
            Action::DecideDumbRule => "dumb_rule.decide",
            Action::ReadReportCards => "report_card.read",
            Action::ReadCityDashboard => "dashboard.read",
            Action::WatchEvents => "events.watch",
            Action::ManageApiKeys => "api_key.manage",
            Action::ReadApiKeys => "api_key.read",
            Action::ManageServiceAccounts => "service_account.manage",
            Action::ReadServiceAccounts => "service_account.read",
            Action::ManageNoticeTemplates => "notice_template.manage",
            Action::ReadNotices => "notice.read",
            Action::ManageTouchpoints => "touchpoint.manage",
            Action::ReadTouchpoints => "touchpoint.read",
            Action::ManageRubrics => "rubric.manage",
            Action::ManageObservations => "observation.manage",
            Action::ReadObservations => "observation.read",
            Action::ReadTouchpointFigures => "touchpoint_figures.read",
            Action::ReadOfficerFigures => "officer_figures.read",
            Action::ManageThemes => "theme.manage",
            Action::ReadThemes => "theme.read",
            Action::TagFeedback => "feedback.tag",
            Action::ManagePanels => "panel.manage",
            Action::ReadPanels => "panel.read",
            Action::ReadAudit => "audit.read",
            Action::ManageCityCalendar => "city_calendar.manage",
        }
    }
}

/// How far a role's permission for an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Every department.
    Any,
    /// Only the caller's own departments.
    Own,
    /// Not allowed.
    Never,
}

/// The policy table: `reach(action, role)`.
pub fn reach(action: Action, role: Role) -> Reach {
    use Action::*;
    use Reach::*;
    use Role::*;
    match (action, role) {
        (CreateDepartment | ArchiveDepartment, Chief) => Any,
        (CreateDepartment | ArchiveDepartment, _) => Never,
        (ReadDepartment | ReadServiceCatalog, Chief | Auditor) => Any,
        (ReadDepartment | ReadServiceCatalog, Cso | Staff | Service) => Own,
        (UpdateDepartment | ManageServiceCatalog, Chief) => Any,
        (UpdateDepartment | ManageServiceCatalog, Cso) => Own,
        (UpdateDepartment | ManageServiceCatalog, Staff | Auditor | Service) => Never,
        // Service clients are not officers: they have no standing to check.
        (CheckStanding, Chief | Auditor) => Any,
        (CheckStanding, Cso | Staff) => Own,
        (CheckStanding, Service) => Never,
        (ReadOfficers | ReadCompetencies | ReadPlans | ReadRecognitions, Chief | Auditor) => Any,
        (ReadOfficers | ReadCompetencies | ReadPlans | ReadRecognitions, Cso | Staff) => Own,
        (ReadOfficers | ReadCompetencies | ReadPlans | ReadRecognitions, Service) => Never,
        (ManageOfficers | ManageCompetencies | DraftPlan, Chief) => Any,
        (ManageOfficers | ManageCompetencies | DraftPlan, Cso) => Own,
        (ManageOfficers | ManageCompetencies | DraftPlan, Staff | Auditor | Service) => Never,
        (AppointCso | AppointChief | ReviewPlan, Chief) => Any,
        (AppointCso | AppointChief | ReviewPlan, _) => Never,
        (ReadCsoNetwork, Chief | Auditor) => Any,
        (ReadCsoNetwork, Cso | Staff | Service) => Never,
        (ReadTraining, Chief | Auditor) => Any,
        (ReadTraining, Cso) => Own,
        (ReadTraining, Staff | Service) => Never,
        (ReadOwnTraining, Chief | Auditor) => Any,
        (ReadOwnTraining, Cso | Staff) => Own,
        (ReadOwnTraining, Service) => Never,
        // Recognition crosses silos on purpose: anyone on the roster may thank anyone.
        (RecognizeOfficer, Chief | Cso | Staff) => Any,
        (RecognizeOfficer, Auditor | Service) => Never,
        (SubmitFeedback, Chief) => Any,
        (SubmitFeedback, Cso | Staff | Service) => Own,
        (SubmitFeedback, Auditor) => Never,
        // Any officer may rate another department's service on behalf of their own.
        (SubmitInternalFeedback, Chief | Cso | Staff) => Any,
        (SubmitInternalFeedback, Service) => Own,
        (SubmitInternalFeedback, Auditor) => Never,
        (ReadFeedback | ReadCases, Chief | Auditor) => Any,
        (ReadFeedback | ReadCases, Cso | Staff) => Own,
        (ReadFeedback | ReadCases, Service) => Never,
        // Department-bound callers (including a 311 app) see other departments' entries redacted.
        (ReadTimeline, Chief | Auditor) => Any,
        (ReadTimeline, Cso | Staff | Service) => Own,
        (EraseResident, Chief) => Any,
        (EraseResident, _) => Never,
        (ManageCases, Chief) => Any,
        (ManageCases, Cso | Staff) => Own,
        (ManageCases, Auditor | Service) => Never,
        (SendHandoff | RespondHandoff, Chief) => Any,
        (SendHandoff | RespondHandoff, Cso | Staff) => Own,
        (SendHandoff | RespondHandoff, Auditor | Service) => Never,
        (ReadHandoffs | ReadInitiatives | ReadReportCards, Chief | Auditor) => Any,
        (ReadHandoffs | ReadInitiatives | ReadReportCards, Cso | Staff) => Own,
        (ReadHandoffs | ReadInitiatives | ReadReportCards, Service) => Never,
        (Escalate | ProposeInitiative | ManageInitiatives, Chief) => Any,
        (Escalate | ProposeInitiative | ManageInitiatives, Cso) => Own,
        (Escalate | ProposeInitiative | ManageInitiatives, Staff | Auditor | Service) => Never,
        (ReadEscalations, Chief | Auditor) => Any,
        (ReadEscalations, Cso) => Own,
        (ReadEscalations, Staff | Service) => Never,
        (ManageEscalations | DecideDumbRule, Chief) => Any,
        (ManageEscalations | DecideDumbRule, _) => Never,
        // Anyone on the roster may name a rule that infuriates residents.
        (ReportDumbRule, Chief) => Any,
        (ReportDumbRule, Cso | Staff) => Own,
        (ReportDumbRule, Auditor | Service) => Never,
        // The register is city-wide and open to every officer: transparency is the point.
        (ReadDumbRules, Chief | Auditor | Cso | Staff) => Any,
        (ReadDumbRules, Service) => Never,
        (VoteDumbRule, Cso) => Own,
        (VoteDumbRule, _) => Never,
        (ReadCityDashboard, Chief | Auditor) => Any,
        (ReadCityDashboard, _) => Never,
        (WatchEvents, Chief | Auditor) => Any,
        (WatchEvents, Cso | Staff | Service) => Own,
        (ManageApiKeys, Chief) => Any,
        (ManageApiKeys, _) => Never,
        (ReadApiKeys, Chief | Auditor) => Any,
        (ReadApiKeys, _) => Never,
        (ManageServiceAccounts, Chief) => Any,
        (ManageServiceAccounts, _) => Never,
        (ReadServiceAccounts, Chief | Auditor) => Any,
        (ReadServiceAccounts, _) => Never,
        (ManageNoticeTemplates, Chief) => Any,
        (ManageNoticeTemplates, Cso) => Own,
        (ManageNoticeTemplates, Staff | Auditor | Service) => Never,
        (ReadNotices, Chief | Auditor) => Any,
        (ReadNotices, Cso) => Own,
        (ReadNotices, Staff | Service) => Never,
        (ManageTouchpoints, Chief) => Any,
        (ManageTouchpoints, Cso) => Own,
        (ManageTouchpoints, Staff | Auditor | Service) => Never,
        // Intake apps name touchpoints on submissions, so they may read the department's list.
        (ReadTouchpoints, Chief | Auditor) => Any,
        (ReadTouchpoints, Cso | Staff | Service) => Own,
        (ManageRubrics, Chief) => Any,
        (ManageRubrics, Cso) => Own,
        (ManageRubrics, Staff | Auditor | Service) => Never,
        (ManageObservations, Chief) => Any,
        (ManageObservations, Cso | Staff) => Own,
        (ManageObservations, Auditor | Service) => Never,
        (ReadObservations, Chief | Auditor) => Any,
        (ReadObservations, Cso | Staff) => Own,
        (ReadObservations, Service) => Never,
        (ReadTouchpointFigures, Chief | Auditor) => Any,
        (ReadTouchpointFigures, Cso | Staff) => Own,
        (ReadTouchpointFigures, Service) => Never,
        // Per-officer figures stay with the officer and their CSO: city-wide roles see officers
        // only in aggregate (touchpoints, report cards), so no one is ranked across the city.
        (ReadOfficerFigures, Cso | Staff) => Own,
        (ReadOfficerFigures, Chief | Auditor | Service) => Never,
        // Themes are city-wide labels: the Chief and every CSO add them, every officer reads them.
        (ManageThemes, Chief | Cso) => Any,
        (ManageThemes, Staff | Auditor | Service) => Never,
        (ReadThemes, Chief | Auditor | Cso | Staff) => Any,
        (ReadThemes, Service) => Never,
        (TagFeedback, Chief) => Any,
        (TagFeedback, Cso | Staff) => Own,
        (TagFeedback, Auditor | Service) => Never,
        // Members' contact details are resident data: the CSO who runs the panel and the Chief.
        (ManagePanels, Chief) => Any,
        (ManagePanels, Cso) => Own,
        (ManagePanels, Staff | Auditor | Service) => Never,
        (ReadPanels, Chief | Auditor) => Any,
        (ReadPanels, Cso | Staff) => Own,
        (ReadPanels, Service) => Never,
        (ReadAudit, Chief | Auditor) => Any,
        (ReadAudit, _) => Never,
        (ManageCityCalendar, Chief) => Any,
        (ManageCityCalendar, _) => Never,
    }
}

/// Why a caller was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The target is outside the caller's tenants: answer as if it did not exist.
    NotFound,
    /// The caller can see the target but its role may not do this.
    PermissionDenied,
}

/// Which tenants' data an authorized operation may touch. Only [`authorize`] creates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantScope {
    role: Role,
    departments: Option<Vec<DepartmentId>>,
}

impl TenantScope {
    /// Whether the scope reaches `department`.
    pub fn allows(&self, department: &DepartmentId) -> bool {
        self.departments.as_ref().is_none_or(|ds| ds.contains(department))
    }

    /// The departments the scope is limited to, or `None` for every department.
    pub fn departments(&self) -> Option<&[DepartmentId]> {
        self.departments.as_deref()
    }

    /// The caller's role (stores pass it to the database session for row-level security).
    pub fn role(&self) -> Role {
        self.role
    }
}

/// Decides whether `caller` may perform `action` on `target` (a department, or `None` for
/// city-wide operations such as creating or listing departments) and returns the tenant scope the
/// operation may use.
pub fn authorize(caller: &Caller, action: Action, target: Option<&DepartmentId>) -> Result<TenantScope, Denied> {
    let reach = reach(action, caller.role);
    let sees = |d: &DepartmentId| caller.role.is_city_wide() || caller.belongs_to(d);
    match (reach, target) {
        (Reach::Any, Some(d)) => Ok(TenantScope { role: caller.role, departments: Some(vec![d.clone()]) }),
        // A department-bound role reaching "any" department still gets no city-wide scope: it
        // names the department it acts on, or acts on its own.
        (Reach::Any, None) if !caller.role.is_city_wide() => {
            Ok(TenantScope { role: caller.role, departments: Some(caller.departments.clone()) })
        }
        (Reach::Any, None) => Ok(TenantScope { role: caller.role, departments: None }),
        (Reach::Own, Some(d)) if caller.belongs_to(d) => {
            Ok(TenantScope { role: caller.role, departments: Some(vec![d.clone()]) })
        }
        (Reach::Own, Some(_)) => Err(Denied::NotFound),
        (Reach::Own, None) => Ok(TenantScope { role: caller.role, departments: Some(caller.departments.clone()) }),
        (Reach::Never, Some(d)) if !sees(d) => Err(Denied::NotFound),
        (Reach::Never, _) => Err(Denied::PermissionDenied),
    }
}

/// A hand-off is one transaction across the two departments it joins: authorized for `action` on
/// the acting department, the scope extends to `counterpart` (the receiver when sending, the
/// sender when answering) so the store can close, open and count on both sides.
pub fn handoff_scope(
    caller: &Caller,
    action: Action,
    acting: &DepartmentId,
    counterpart: &DepartmentId,
) -> Result<TenantScope, Denied> {
    let mut scope = authorize(caller, action, Some(acting))?;
    if let Some(ds) = scope.departments.as_mut()
        && !ds.contains(counterpart)
    {
        ds.push(counterpart.clone());
    }
    Ok(scope)
}

/// The identity and read-only city-wide scope of the public Open311 gateway's reads (service
/// lists, API-key lookups, the public view of Open311 requests).
pub fn gateway_read_scope() -> (Caller, TenantScope) {
    let caller = Caller { subject: "open311:public".into(), role: Role::Auditor, departments: Vec::new() };
    (caller, TenantScope { role: Role::Auditor, departments: None })
}

/// The identity and read-only city-wide scope of signing in a user of the city's identity
/// provider: finding the one officer their provider subject (or verified e-mail) names, and what
/// they hold. Nothing else is read with it; what the officer may then do is their own scope.
pub fn sign_in_scope() -> (Caller, TenantScope) {
    let caller = Caller { subject: "identity-provider:sign-in".into(), role: Role::Auditor, departments: Vec::new() };
    (caller, TenantScope { role: Role::Auditor, departments: None })
}

/// The scope in which a refused request of `caller` is audited: `department` alone, with the
/// caller's role. Only a department the caller belongs to, or any for a city-wide role (the API
/// picks the target department if it exists, else the caller's home department). It permits
/// nothing but appending that one audit record.
pub fn refusal_audit_scope(caller: &Caller, department: &DepartmentId) -> Option<TenantScope> {
    (caller.role.is_city_wide() || caller.belongs_to(department))
        .then(|| TenantScope { role: caller.role, departments: Some(vec![department.clone()]) })
}

/// The identity and city-wide scope of the server's own background jobs (the breach scan).
pub fn system_scope(subject: &str) -> (Caller, TenantScope) {
    let caller = Caller { subject: subject.to_owned(), role: Role::Chief, departments: Vec::new() };
    (caller, TenantScope { role: Role::Chief, departments: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(s: &str) -> DepartmentId {
        DepartmentId::parse("id", s).unwrap()
    }

    fn caller(role: Role) -> Caller {
        let departments = if role.is_city_wide() { vec![] } else { vec![dept("water")] };
        Caller { subject: "u1".into(), role, departments }
    }

    /// The whole table, spelled out: (action, role, own-department outcome, foreign outcome,
    /// city-wide outcome). `Ok` means allowed.
    #[test]
    fn policy_table_is_exactly_as_documented() {
        use Action::*;
        use Role::*;
        type O = Result<(), Denied>;
        const OK: O = Ok(());
        const NF: O = Err(Denied::NotFound);
        const PD: O = Err(Denied::PermissionDenied);
        #[rustfmt::skip]
        let expected: &[(Action, Role, O, O, O)] = &[
            (CreateDepartment, Chief, OK, OK, OK),
            (CreateDepartment, Cso, PD, NF, PD),
            (CreateDepartment, Staff, PD, NF, PD),
            (CreateDepartment, Auditor, PD, PD, PD),
            (CreateDepartment, Service, PD, NF, PD),
            (ReadDepartment, Chief, OK, OK, OK),
            (ReadDepartment, Cso, OK, NF, OK),
            (ReadDepartment, Staff, OK, NF, OK),
            (ReadDepartment, Auditor, OK, OK, OK),
            (ReadDepartment, Service, OK, NF, OK),
            (UpdateDepartment, Chief, OK, OK, OK),
            (UpdateDepartment, Cso, OK, NF, OK),
            (UpdateDepartment, Staff, PD, NF, PD),
            (UpdateDepartment, Auditor, PD, PD, PD),
            (UpdateDepartment, Service, PD, NF, PD),
            (ArchiveDepartment, Chief, OK, OK, OK),
            (ArchiveDepartment, Cso, PD, NF, PD),
            (ArchiveDepartment, Staff, PD, NF, PD),
            (ArchiveDepartment, Auditor, PD, PD, PD),
            (ArchiveDepartment, Service, PD, NF, PD),
            (ReadServiceCatalog, Chief, OK, OK, OK),
            (ReadServiceCatalog, Cso, OK, NF, OK),
            (ReadServiceCatalog, Staff, OK, NF, OK),
            (ReadServiceCatalog, Auditor, OK, OK, OK),
            (ReadServiceCatalog, Service, OK, NF, OK),
            (ManageServiceCatalog, Chief, OK, OK, OK),
            (ManageServiceCatalog, Cso, OK, NF, OK),
            (ManageServiceCatalog, Staff, PD, NF, PD),
            (ManageServiceCatalog, Auditor, PD, PD, PD),
            (ManageServiceCatalog, Service, PD, NF, PD),
            (CheckStanding, Chief, OK, OK, OK),
            (CheckStanding, Cso, OK, NF, OK),
            (CheckStanding, Staff, OK, NF, OK),
            (CheckStanding, Auditor, OK, OK, OK),
            (CheckStanding, Service, PD, NF, PD),
            (ReadOfficers, Chief, OK, OK, OK),
            (ReadOfficers, Cso, OK, NF, OK),
            (ReadOfficers, Staff, OK, NF, OK),
            (ReadOfficers, Auditor, OK, OK, OK),
            (ReadOfficers, Service, PD, NF, PD),
            (ManageOfficers, Chief, OK, OK, OK),
            (ManageOfficers, Cso, OK, NF, OK),
            (ManageOfficers, Staff, PD, NF, PD),
            (ManageOfficers, Auditor, PD, PD, PD),
            (ManageOfficers, Service, PD, NF, PD),
            (AppointCso, Chief, OK, OK, OK),
            (AppointCso, Cso, PD, NF, PD),
            (AppointCso, Staff, PD, NF, PD),
            (AppointCso, Auditor, PD, PD, PD),
            (AppointCso, Service, PD, NF, PD),
            (AppointChief, Chief, OK, OK, OK),
            (AppointChief, Cso, PD, NF, PD),
            (AppointChief, Staff, PD, NF, PD),
            (AppointChief, Auditor, PD, PD, PD),
            (AppointChief, Service, PD, NF, PD),
            (ReadCsoNetwork, Chief, OK, OK, OK),
            (ReadCsoNetwork, Cso, PD, NF, PD),
            (ReadCsoNetwork, Staff, PD, NF, PD),
            (ReadCsoNetwork, Auditor, OK, OK, OK),
            (ReadCsoNetwork, Service, PD, NF, PD),
            (ReadCompetencies, Chief, OK, OK, OK),
            (ReadCompetencies, Cso, OK, NF, OK),
            (ReadCompetencies, Staff, OK, NF, OK),
            (ReadCompetencies, Auditor, OK, OK, OK),
            (ReadCompetencies, Service, PD, NF, PD),
            (ManageCompetencies, Chief, OK, OK, OK),
            (ManageCompetencies, Cso, OK, NF, OK),
            (ManageCompetencies, Staff, PD, NF, PD),
            (ManageCompetencies, Auditor, PD, PD, PD),
            (ManageCompetencies, Service, PD, NF, PD),
            (ReadTraining, Chief, OK, OK, OK),
            (ReadTraining, Cso, OK, NF, OK),
            (ReadTraining, Staff, PD, NF, PD),
            (ReadTraining, Auditor, OK, OK, OK),
            (ReadTraining, Service, PD, NF, PD),
            (ReadOwnTraining, Chief, OK, OK, OK),
            (ReadOwnTraining, Cso, OK, NF, OK),
            (ReadOwnTraining, Staff, OK, NF, OK),
            (ReadOwnTraining, Auditor, OK, OK, OK),
            (ReadOwnTraining, Service, PD, NF, PD),
            (RecognizeOfficer, Chief, OK, OK, OK),
            (RecognizeOfficer, Cso, OK, OK, OK),
            (RecognizeOfficer, Staff, OK, OK, OK),
            (RecognizeOfficer, Auditor, PD, PD, PD),
            (RecognizeOfficer, Service, PD, NF, PD),
            (ReadRecognitions, Chief, OK, OK, OK),
            (ReadRecognitions, Cso, OK, NF, OK),
            (ReadRecognitions, Staff, OK, NF, OK),
            (ReadRecognitions, Auditor, OK, OK, OK),
            (ReadRecognitions, Service, PD, NF, PD),
            (ReadPlans, Chief, OK, OK, OK),
            (ReadPlans, Cso, OK, NF, OK),
            (ReadPlans, Staff, OK, NF, OK),
            (ReadPlans, Auditor, OK, OK, OK),
            (ReadPlans, Service, PD, NF, PD),
            (DraftPlan, Chief, OK, OK, OK),
            (DraftPlan, Cso, OK, NF, OK),
            (DraftPlan, Staff, PD, NF, PD),
            (DraftPlan, Auditor, PD, PD, PD),
            (DraftPlan, Service, PD, NF, PD),
            (ReviewPlan, Chief, OK, OK, OK),
            (ReviewPlan, Cso, PD, NF, PD),
            (ReviewPlan, Staff, PD, NF, PD),
            (ReviewPlan, Auditor, PD, PD, PD),
            (ReviewPlan, Service, PD, NF, PD),
            (SubmitFeedback, Chief, OK, OK, OK),
            (SubmitFeedback, Cso, OK, NF, OK),
            (SubmitFeedback, Staff, OK, NF, OK),
            (SubmitFeedback, Auditor, PD, PD, PD),
            (SubmitFeedback, Service, OK, NF, OK),
            (SubmitInternalFeedback, Chief, OK, OK, OK),
            (SubmitInternalFeedback, Cso, OK, OK, OK),
            (SubmitInternalFeedback, Staff, OK, OK, OK),
            (SubmitInternalFeedback, Auditor, PD, PD, PD),
            (SubmitInternalFeedback, Service, OK, NF, OK),
            (ReadFeedback, Chief, OK, OK, OK),
            (ReadFeedback, Cso, OK, NF, OK),
            (ReadFeedback, Staff, OK, NF, OK),
            (ReadFeedback, Auditor, OK, OK, OK),
            (ReadFeedback, Service, PD, NF, PD),
            (ReadTimeline, Chief, OK, OK, OK),
            (ReadTimeline, Cso, OK, NF, OK),
            (ReadTimeline, Staff, OK, NF, OK),
            (ReadTimeline, Auditor, OK, OK, OK),
            (ReadTimeline, Service, OK, NF, OK),
            (EraseResident, Chief, OK, OK, OK),
            (EraseResident, Cso, PD, NF, PD),
            (EraseResident, Staff, PD, NF, PD),
            (EraseResident, Auditor, PD, PD, PD),
            (EraseResident, Service, PD, NF, PD),
            (ReadCases, Chief, OK, OK, OK),
            (ReadCases, Cso, OK, NF, OK),
            (ReadCases, Staff, OK, NF, OK),
            (ReadCases, Auditor, OK, OK, OK),
            (ReadCases, Service, PD, NF, PD),
            (ManageCases, Chief, OK, OK, OK),
            (ManageCases, Cso, OK, NF, OK),
            (ManageCases, Staff, OK, NF, OK),
            (ManageCases, Auditor, PD, PD, PD),
            (ManageCases, Service, PD, NF, PD),
            (SendHandoff, Chief, OK, OK, OK),
            (SendHandoff, Cso, OK, NF, OK),
            (SendHandoff, Staff, OK, NF, OK),
            (SendHandoff, Auditor, PD, PD, PD),
            (SendHandoff, Service, PD, NF, PD),
            (ReadHandoffs, Chief, OK, OK, OK),
            (ReadHandoffs, Cso, OK, NF, OK),
            (ReadHandoffs, Staff, OK, NF, OK),
            (ReadHandoffs, Auditor, OK, OK, OK),
            (ReadHandoffs, Service, PD, NF, PD),
            (RespondHandoff, Chief, OK, OK, OK),
            (RespondHandoff, Cso, OK, NF, OK),
            (RespondHandoff, Staff, OK, NF, OK),
            (RespondHandoff, Auditor, PD, PD, PD),
            (RespondHandoff, Service, PD, NF, PD),
            (Escalate, Chief, OK, OK, OK),
            (Escalate, Cso, OK, NF, OK),
            (Escalate, Staff, PD, NF, PD),
            (Escalate, Auditor, PD, PD, PD),
            (Escalate, Service, PD, NF, PD),
            (ReadEscalations, Chief, OK, OK, OK),
            (ReadEscalations, Cso, OK, NF, OK),
            (ReadEscalations, Staff, PD, NF, PD),
            (ReadEscalations, Auditor, OK, OK, OK),
            (ReadEscalations, Service, PD, NF, PD),
            (ManageEscalations, Chief, OK, OK, OK),
            (ManageEscalations, Cso, PD, NF, PD),
            (ManageEscalations, Staff, PD, NF, PD),
            (ManageEscalations, Auditor, PD, PD, PD),
            (ManageEscalations, Service, PD, NF, PD),
            (ProposeInitiative, Chief, OK, OK, OK),
            (ProposeInitiative, Cso, OK, NF, OK),
            (ProposeInitiative, Staff, PD, NF, PD),
            (ProposeInitiative, Auditor, PD, PD, PD),
            (ProposeInitiative, Service, PD, NF, PD),
            (ReadInitiatives, Chief, OK, OK, OK),
            (ReadInitiatives, Cso, OK, NF, OK),
            (ReadInitiatives, Staff, OK, NF, OK),
            (ReadInitiatives, Auditor, OK, OK, OK),
            (ReadInitiatives, Service, PD, NF, PD),
            (ManageInitiatives, Chief, OK, OK, OK),
            (ManageInitiatives, Cso, OK, NF, OK),
            (ManageInitiatives, Staff, PD, NF, PD),
            (ManageInitiatives, Auditor, PD, PD, PD),
            (ManageInitiatives, Service, PD, NF, PD),
            (ReportDumbRule, Chief, OK, OK, OK),
            (ReportDumbRule, Cso, OK, NF, OK),
            (ReportDumbRule, Staff, OK, NF, OK),
            (ReportDumbRule, Auditor, PD, PD, PD),
            (ReportDumbRule, Service, PD, NF, PD),
            (ReadDumbRules, Chief, OK, OK, OK),
            (ReadDumbRules, Cso, OK, OK, OK),
            (ReadDumbRules, Staff, OK, OK, OK),
            (ReadDumbRules, Auditor, OK, OK, OK),
            (ReadDumbRules, Service, PD, NF, PD),
            (VoteDumbRule, Chief, PD, PD, PD),
            (VoteDumbRule, Cso, OK, NF, OK),
            (VoteDumbRule, Staff, PD, NF, PD),
            (VoteDumbRule, Auditor, PD, PD, PD),
            (VoteDumbRule, Service, PD, NF, PD),
            (DecideDumbRule, Chief, OK, OK, OK),
            (DecideDumbRule, Cso, PD, NF, PD),
            (DecideDumbRule, Staff, PD, NF, PD),
            (DecideDumbRule, Auditor, PD, PD, PD),
            (DecideDumbRule, Service, PD, NF, PD),
            (ReadReportCards, Chief, OK, OK, OK),
            (ReadReportCards, Cso, OK, NF, OK),
            (ReadReportCards, Staff, OK, NF, OK),
            (ReadReportCards, Auditor, OK, OK, OK),
            (ReadReportCards, Service, PD, NF, PD),
            (ReadCityDashboard, Chief, OK, OK, OK),
            (ReadCityDashboard, Cso, PD, NF, PD),
            (ReadCityDashboard, Staff, PD, NF, PD),
            (ReadCityDashboard, Auditor, OK, OK, OK),
            (ReadCityDashboard, Service, PD, NF, PD),
            (WatchEvents, Chief, OK, OK, OK),
            (WatchEvents, Cso, OK, NF, OK),
            (WatchEvents, Staff, OK, NF, OK),
            (WatchEvents, Auditor, OK, OK, OK),
            (WatchEvents, Service, OK, NF, OK),
            (ManageApiKeys, Chief, OK, OK, OK),
            (ManageApiKeys, Cso, PD, NF, PD),
            (ManageApiKeys, Staff, PD, NF, PD),
            (ManageApiKeys, Auditor, PD, PD, PD),
            (ManageApiKeys, Service, PD, NF, PD),
            (ReadApiKeys, Chief, OK, OK, OK),
            (ReadApiKeys, Cso, PD, NF, PD),
            (ReadApiKeys, Staff, PD, NF, PD),
            (ReadApiKeys, Auditor, OK, OK, OK),
            (ReadApiKeys, Service, PD, NF, PD),
            (ManageServiceAccounts, Chief, OK, OK, OK),
            (ManageServiceAccounts, Cso, PD, NF, PD),
            (ManageServiceAccounts, Staff, PD, NF, PD),
            (ManageServiceAccounts, Auditor, PD, PD, PD),
            (ManageServiceAccounts, Service, PD, NF, PD),
            (ReadServiceAccounts, Chief, OK, OK, OK),
            (ReadServiceAccounts, Cso, PD, NF, PD),
            (ReadServiceAccounts, Staff, PD, NF, PD),
            (ReadServiceAccounts, Auditor, OK, OK, OK),
            (ReadServiceAccounts, Service, PD, NF, PD),
            (ManageNoticeTemplates, Chief, OK, OK, OK),
            (ManageNoticeTemplates, Cso, OK, NF, OK),
            (ManageNoticeTemplates, Staff, PD, NF, PD),
            (ManageNoticeTemplates, Auditor, PD, PD, PD),
            (ManageNoticeTemplates, Service, PD, NF, PD),
            (ReadNotices, Chief, OK, OK, OK),
            (ReadNotices, Cso, OK, NF, OK),
            (ReadNotices, Staff, PD, NF, PD),
            (ReadNotices, Auditor, OK, OK, OK),
            (ReadNotices, Service, PD, NF, PD),
            (ManageTouchpoints, Chief, OK, OK, OK),
            (ManageTouchpoints, Cso, OK, NF, OK),
            (ManageTouchpoints, Staff, PD, NF, PD),
            (ManageTouchpoints, Auditor, PD, PD, PD),
            (ManageTouchpoints, Service, PD, NF, PD),
            (ReadTouchpoints, Chief, OK, OK, OK),
            (ReadTouchpoints, Cso, OK, NF, OK),
            (ReadTouchpoints, Staff, OK, NF, OK),
            (ReadTouchpoints, Auditor, OK, OK, OK),
            (ReadTouchpoints, Service, OK, NF, OK),
            (ManageRubrics, Chief, OK, OK, OK),
            (ManageRubrics, Cso, OK, NF, OK),
            (ManageRubrics, Staff, PD, NF, PD),
            (ManageRubrics, Auditor, PD, PD, PD),
            (ManageRubrics, Service, PD, NF, PD),
            (ManageObservations, Chief, OK, OK, OK),
            (ManageObservations, Cso, OK, NF, OK),
            (ManageObservations, Staff, OK, NF, OK),
            (ManageObservations, Auditor, PD, PD, PD),
            (ManageObservations, Service, PD, NF, PD),
            (ReadObservations, Chief, OK, OK, OK),
            (ReadObservations, Cso, OK, NF, OK),
            (ReadObservations, Staff, OK, NF, OK),
            (ReadObservations, Auditor, OK, OK, OK),
            (ReadObservations, Service, PD, NF, PD),
            (ReadTouchpointFigures, Chief, OK, OK, OK),
            (ReadTouchpointFigures, Cso, OK, NF, OK),
            (ReadTouchpointFigures, Staff, OK, NF, OK),
            (ReadTouchpointFigures, Auditor, OK, OK, OK),
            (ReadTouchpointFigures, Service, PD, NF, PD),
            (ReadOfficerFigures, Chief, PD, PD, PD),
            (ReadOfficerFigures, Cso, OK, NF, OK),
            (ReadOfficerFigures, Staff, OK, NF, OK),
            (ReadOfficerFigures, Auditor, PD, PD, PD),
            (ReadOfficerFigures, Service, PD, NF, PD),
            (ManageThemes, Chief, OK, OK, OK),
            (ManageThemes, Cso, OK, OK, OK),
            (ManageThemes, Staff, PD, NF, PD),
            (ManageThemes, Auditor, PD, PD, PD),
            (ManageThemes, Service, PD, NF, PD),
            (ReadThemes, Chief, OK, OK, OK),
            (ReadThemes, Cso, OK, OK, OK),
            (ReadThemes, Staff, OK, OK, OK),
            (ReadThemes, Auditor, OK, OK, OK),
            (ReadThemes, Service, PD, NF, PD),
            (TagFeedback, Chief, OK, OK, OK),
            (TagFeedback, Cso, OK, NF, OK),
            (TagFeedback, Staff, OK, NF, OK),
            (TagFeedback, Auditor, PD, PD, PD),
            (TagFeedback, Service, PD, NF, PD),
            (ManagePanels, Chief, OK, OK, OK),
            (ManagePanels, Cso, OK, NF, OK),
            (ManagePanels, Staff, PD, NF, PD),
            (ManagePanels, Auditor, PD, PD, PD),
            (ManagePanels, Service, PD, NF, PD),
            (ReadPanels, Chief, OK, OK, OK),
            (ReadPanels, Cso, OK, NF, OK),
            (ReadPanels, Staff, OK, NF, OK),
            (ReadPanels, Auditor, OK, OK, OK),
            (ReadPanels, Service, PD, NF, PD),
            (ReadAudit, Chief, OK, OK, OK),
            (ReadAudit, Cso, PD, NF, PD),
            (ReadAudit, Staff, PD, NF, PD),
            (ReadAudit, Auditor, OK, OK, OK),
            (ReadAudit, Service, PD, NF, PD),
            (ManageCityCalendar, Chief, OK, OK, OK),
            (ManageCityCalendar, Cso, PD, NF, PD),
            (ManageCityCalendar, Staff, PD, NF, PD),
            (ManageCityCalendar, Auditor, PD, PD, PD),
            (ManageCityCalendar, Service, PD, NF, PD),
        ];
        assert_eq!(expected.len(), Action::ALL.len() * Role::ALL.len(), "every cell is listed");
        for (action, role, own, foreign, city) in expected {
            let c = caller(*role);
            let strip = |r: Result<TenantScope, Denied>| r.map(|_| ());
            assert_eq!(strip(authorize(&c, *action, Some(&dept("water")))), *own, "{action:?} {role:?} own");
            assert_eq!(strip(authorize(&c, *action, Some(&dept("streets")))), *foreign, "{action:?} {role:?} foreign");
            assert_eq!(strip(authorize(&c, *action, None)), *city, "{action:?} {role:?} city-wide");
        }
    }

    #[test]
    fn refusals_are_audited_only_where_the_caller_reaches() {
        let cso = caller(Role::Cso);
        let own = refusal_audit_scope(&cso, &dept("water")).unwrap();
        assert_eq!(own.departments(), Some(&[dept("water")][..]));
        assert!(refusal_audit_scope(&cso, &dept("streets")).is_none());
        let chief = refusal_audit_scope(&caller(Role::Chief), &dept("streets")).unwrap();
        assert_eq!(chief.departments(), Some(&[dept("streets")][..]));
        assert_eq!(chief.role(), Role::Chief);
    }

    #[test]
    fn scopes_are_as_narrow_as_the_grant() {
        let chief = caller(Role::Chief);
        let all = authorize(&chief, Action::ReadDepartment, None).unwrap();
        assert!(all.departments().is_none());
        assert!(all.allows(&dept("anything")));
        let one = authorize(&chief, Action::ReadDepartment, Some(&dept("parks"))).unwrap();
        assert!(one.allows(&dept("parks")) && !one.allows(&dept("water")));
        let cso = caller(Role::Cso);
        let own = authorize(&cso, Action::ReadDepartment, None).unwrap();
        assert_eq!(own.departments(), Some(&[dept("water")][..]));
        assert!(!own.allows(&dept("streets")));
        assert_eq!(own.role(), Role::Cso);
    }
}
