//! The one vocabulary of audited actions: the name an audit row records for a call of an RPC —
//! successful or refused alike — and the type of the outbox event a successful call appends (the
//! `event_type` that `Watch` clients filter on, so these names are part of the public contract:
//! docs/api.md, "Events").
//!
//! One table below lists every audited action with its name and the RPCs that perform it. The
//! policy table ([`crate::policy::reach`]) answers *who* may do an [`crate::Action`]; this table
//! answers *what was done*, in the words the audit log and the event stream use. Plain reads
//! (`Get*`, `List*`, `Watch`, ...) are not audited and have no entry.

macro_rules! audit_actions {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal : [$($rpc:literal),* $(,)?] ),+ $(,)?) => {
        /// Something an audited RPC does, as the audit log and the event stream name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $( $(#[$doc])* $variant, )+
        }

        impl AuditAction {
            /// Every audited action, for exhaustive tests.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant),+];

            /// The stable name recorded in audit rows and used as the outbox event type.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( AuditAction::$variant => $name, )+
                }
            }

            /// The RPCs (`Service/Method`, package omitted) that perform this action (none for
            /// actions only the server's own tools perform, such as the demo's bulk import).
            pub fn rpcs(self) -> &'static [&'static str] {
                match self {
                    $( AuditAction::$variant => &[$($rpc),*], )+
                }
            }

            /// The action an RPC path (`/cityserve.v1.FeedbackService/AcknowledgeCase`) performs,
            /// or `None` for RPCs that are not audited (plain reads, other packages).
            pub fn of_rpc(path: &str) -> Option<AuditAction> {
                // A match on the names, not a scan of the table: every request asks.
                match path.strip_prefix('/').unwrap_or(path).strip_prefix(PACKAGE)? {
                    $( $( $rpc => Some(AuditAction::$variant), )* )+
                    _ => None,
                }
            }
        }
    };
}

/// The package whose RPCs are audited (not health or reflection).
const PACKAGE: &str = "cityserve.v1.";

audit_actions! {
    /// A department (tenant) was created.
    DepartmentCreate => "department.create": ["DepartmentService/CreateDepartment"],
    /// A department's name, description or default targets changed.
    DepartmentUpdate => "department.update": ["DepartmentService/UpdateDepartment"],
    /// The city's calendar changed (time zone, opening hours or holidays); recorded for every
    /// department, with how many of its due times moved.
    CityCalendarUpdate => "city_calendar.update": ["DepartmentService/UpdateCityCalendar"],
    /// A department's calendar override changed, with how many of its due times moved.
    DepartmentCalendarUpdate => "calendar.update": ["DepartmentService/UpdateDepartmentCalendar"],
    /// A department was archived.
    DepartmentArchive => "department.archive": ["DepartmentService/ArchiveDepartment"],
    /// A department was unarchived.
    DepartmentUnarchive => "department.unarchive": ["DepartmentService/UnarchiveDepartment"],
    /// A service category was created.
    ServiceCategoryCreate => "service_category.create": ["DepartmentService/CreateServiceCategory"],
    /// A service category changed.
    ServiceCategoryUpdate => "service_category.update": ["DepartmentService/UpdateServiceCategory"],
    /// A service category was retired.
    ServiceCategoryRetire => "service_category.retire": ["DepartmentService/RetireServiceCategory"],
    /// A service standard was created.
    ServiceStandardCreate => "service_standard.create": ["DepartmentService/CreateServiceStandard"],
    /// A service standard changed.
    ServiceStandardUpdate => "service_standard.update": ["DepartmentService/UpdateServiceStandard"],
    /// A service standard was deleted.
    ServiceStandardDelete => "service_standard.delete": ["DepartmentService/DeleteServiceStandard"],
    /// An officer was added.
    OfficerCreate => "officer.create": ["OfficerService/CreateOfficer"],
    /// An officer's details changed.
    OfficerUpdate => "officer.update": ["OfficerService/UpdateOfficer"],
    /// An officer was deactivated.
    OfficerDeactivate => "officer.deactivate": ["OfficerService/DeactivateOfficer"],
    /// A department's CSO was appointed.
    AppointmentCso => "appointment.cso": ["OfficerService/AppointCso"],
    /// The Chief was appointed.
    AppointmentChief => "appointment.chief": ["OfficerService/AppointChief"],
    /// An appointment ended.
    AppointmentEnd => "appointment.end": ["OfficerService/EndAppointment"],
    /// A competency was defined.
    CompetencyCreate => "competency.create": ["OfficerService/CreateCompetency"],
    /// A competency changed.
    CompetencyUpdate => "competency.update": ["OfficerService/UpdateCompetency"],
    /// A training record was added.
    TrainingCreate => "training.create": ["OfficerService/CreateTrainingRecord"],
    /// An officer was recognised.
    RecognitionCreate => "recognition.create": ["OfficerService/CreateRecognition"],
    /// A customer-service plan was started.
    PlanCreate => "plan.create": ["OfficerService/CreatePlan"],
    /// A plan's content changed.
    PlanUpdate => "plan.update": ["OfficerService/UpdatePlan"],
    /// A plan was submitted for review.
    PlanSubmit => "plan.submit": ["OfficerService/SubmitPlan"],
    /// A plan was approved or sent back.
    PlanReview => "plan.review": ["OfficerService/ReviewPlan"],
    /// Progress on a plan's focus metric was recorded (the name predates this table and is kept
    /// because it is an event type clients may filter on).
    PlanDraft => "plan.draft": ["CoordinationService/RecordFocusProgress"],
    /// Feedback was bulk-imported by the server's own tools (the demo city), not through an RPC.
    FeedbackImport => "feedback.import": [],
    /// The report-card counters were rebuilt from the raw rows (by the server at start, or by
    /// `cityserve rollups rebuild`), in the city calendar's time zone.
    RollupsRebuild => "rollups.rebuild": [],
    /// Feedback was submitted (one item or a batch).
    FeedbackSubmit => "feedback.submit": ["FeedbackService/SubmitFeedback", "FeedbackService/BatchSubmitFeedback"],
    /// A resident's timeline was read.
    TimelineRead => "timeline.read": ["FeedbackService/GetResidentTimeline"],
    /// Feedback or cases were exported (recorded once per department, before its first row
    /// left; the resource names what and the profile, e.g. `departments/water/feedback?profile=open_data`).
    FeedbackExport => "feedback.export": ["FeedbackService/ExportFeedback"],
    /// A resident's contact details were erased.
    ResidentErase => "resident.erase": ["FeedbackService/EraseResident"],
    /// A case moved, was assigned, annotated, recovered or linked to its follow-up.
    CaseUpdate => "case.update": [
        "FeedbackService/AcknowledgeCase",
        "FeedbackService/StartCase",
        "FeedbackService/ResolveCase",
        "FeedbackService/CloseCase",
        "FeedbackService/ReopenCase",
        "FeedbackService/HoldCase",
        "FeedbackService/ResumeCase",
        "FeedbackService/AssignCase",
        "FeedbackService/AddCaseNote",
        "FeedbackService/RecordRecoveryAction",
        "FeedbackService/LinkFollowUp",
    ],
    /// A case was referred or transferred to another department.
    HandoffSend => "handoff.send": ["CoordinationService/SendHandoff"],
    /// A hand-off was accepted or declined.
    HandoffRespond => "handoff.respond": ["CoordinationService/AcceptHandoff", "CoordinationService/DeclineHandoff"],
    /// A case was escalated to the Chief (by hand, or by the breach scan).
    EscalationCreate => "escalation.create": ["CoordinationService/EscalateCase"],
    /// An escalation was acknowledged or resolved.
    EscalationManage => "escalation.manage": [
        "CoordinationService/AcknowledgeEscalation",
        "CoordinationService/ResolveEscalation",
    ],
    /// An initiative was proposed.
    InitiativeCreate => "initiative.create": ["CoordinationService/CreateInitiative"],
    /// An initiative changed.
    InitiativeManage => "initiative.manage": ["CoordinationService/UpdateInitiative"],
    /// A dumb rule was reported.
    DumbRuleReport => "dumb_rule.report": ["CoordinationService/ReportDumbRule"],
    /// A CSO voted on a dumb rule.
    DumbRuleVote => "dumb_rule.vote": ["CoordinationService/VoteOnDumbRule"],
    /// The Chief decided a dumb rule.
    DumbRuleDecide => "dumb_rule.decide": ["CoordinationService/DecideDumbRule"],
    /// An Open311 API key was issued or revoked.
    ApiKeyManage => "api_key.manage": ["ApiKeyService/CreateApiKey", "ApiKeyService/RevokeApiKey"],
    /// An internal application was registered as a service account, changed or deactivated.
    ServiceAccountManage => "service_account.manage": [
        "ServiceAccountService/CreateServiceAccount",
        "ServiceAccountService/UpdateServiceAccount",
        "ServiceAccountService/DeactivateServiceAccount",
    ],
    /// A notice template (a department's, or the city-wide default) was created, changed or
    /// deleted.
    NoticeTemplateManage => "notice_template.manage": [
        "FeedbackService/UpdateNoticeTemplate",
        "FeedbackService/DeleteNoticeTemplate",
    ],
    /// A touchpoint was recorded or changed (retired included).
    TouchpointManage => "touchpoint.manage": ["CsoWorkService/CreateTouchpoint", "CsoWorkService/UpdateTouchpoint"],
    /// A rubric was written, or revised into a new version.
    RubricManage => "rubric.manage": ["CsoWorkService/CreateRubric", "CsoWorkService/ReviseRubric"],
    /// A moment-of-truth observation was recorded.
    ObservationRecord => "observation.record": ["CsoWorkService/CreateObservation"],
    /// A coaching action was marked done.
    CoachingUpdate => "coaching.update": ["CsoWorkService/CompleteCoachingAction"],
    /// One officer's figures were read (every read is recorded: per-person figures).
    OfficerFiguresRead => "officer_figures.read": ["CsoWorkService/GetOfficerFigures"],
    /// A city-wide customer theme was added.
    ThemeCreate => "theme.create": ["CsoWorkService/CreateTheme"],
    /// Themes were applied to (or taken off) a piece of feedback.
    FeedbackTag => "feedback.tag": ["CsoWorkService/TagFeedback"],
    /// A feedback panel was created, or a session or finding recorded.
    PanelManage => "panel.manage": [
        "CsoWorkService/CreatePanel",
        "CsoWorkService/CreatePanelSession",
        "CsoWorkService/CreatePanelFinding",
    ],
    /// A panel finding's outcome was recorded.
    PanelFindingResolve => "panel_finding.resolve": ["CsoWorkService/ResolvePanelFinding"],
    /// A panel member was added (with their consent) or erased.
    PanelMemberManage => "panel_member.manage": ["CsoWorkService/AddPanelMember", "CsoWorkService/ErasePanelMember"],
    /// The notifier delivered a resident notice, gave up on it (a dead letter) or cancelled it
    /// (no address any more). No RPC: recorded by the server's own worker.
    NoticeDeliver => "notice.deliver": [],
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_rpcs_are_unique_and_round_trip() {
        let mut names = HashSet::new();
        let mut rpcs = HashSet::new();
        for a in AuditAction::ALL {
            assert!(names.insert(a.as_str()), "{a:?} repeats a name");
            for rpc in a.rpcs() {
                assert!(rpcs.insert(*rpc), "{rpc} listed twice");
                assert_eq!(AuditAction::of_rpc(&format!("/cityserve.v1.{rpc}")), Some(*a));
            }
        }
        assert_eq!(AuditAction::of_rpc("/cityserve.v1.FeedbackService/GetCase"), None);
        assert_eq!(AuditAction::of_rpc("/grpc.health.v1.Health/Check"), None);
        assert_eq!(AuditAction::of_rpc("/other.v1.FeedbackService/AcknowledgeCase"), None);
    }

    #[test]
    fn a_refused_and_a_successful_case_transition_share_one_name() {
        assert_eq!(AuditAction::of_rpc("/cityserve.v1.FeedbackService/AcknowledgeCase"), Some(AuditAction::CaseUpdate));
        assert_eq!(AuditAction::CaseUpdate.as_str(), "case.update");
    }
}
