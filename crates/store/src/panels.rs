//! Storage for customer feedback panels: panels, members (resident data), sessions with their
//! attendance, and findings with their outcomes. Same contract as [`crate::DepartmentStore`] for
//! scope, idempotency, revisions and audit.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::panel::{
    FindingOutcome, MemberDetails, Panel, PanelFinding, PanelFindingId, PanelId, PanelMember, PanelMemberId,
    PanelSession,
};
use cityserve_domain::{DepartmentId, Page, PageRequest, ResidentRef, TenantScope};
use std::future::Future;

/// A member to add.
#[derive(Debug, Clone)]
pub struct NewMember {
    /// The member's ID (server-generated).
    pub id: PanelMemberId,
    /// Contact details.
    pub details: MemberDetails,
    /// The resident the e-mail and phone name (keyed hashes and a fresh key), if either is given:
    /// the store keys the member like the resident's feedback.
    pub resident: Option<ResidentRef>,
    /// When they consented.
    pub consent_time: chrono::DateTime<chrono::Utc>,
}

/// Storage for feedback panels.
pub trait PanelStore: Clone + Send + Sync + 'static {
    /// Creates `panel` (counts and time set here). Idempotent on `idem`; a taken ID is
    /// [`crate::StoreError::AlreadyExists`].
    fn create_panel(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        panel: &Panel,
    ) -> impl Future<Output = StoreResult<Panel>> + Send;

    /// One panel, with its member and session counts.
    fn get_panel(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        id: &PanelId,
    ) -> impl Future<Output = StoreResult<Panel>> + Send;

    /// A department's panels by ID.
    fn list_panels(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Panel>>> + Send;

    /// Adds a member to panel `panel` of `department` (missing panel:
    /// [`crate::StoreError::NotFound`]), keyed through the resident identity index. Idempotent on
    /// `idem`. The audit row and event name the member, never the details.
    fn add_panel_member(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        department: &DepartmentId,
        panel: &PanelId,
        member: &NewMember,
    ) -> impl Future<Output = StoreResult<PanelMember>> + Send;

    /// A panel's members in the order added.
    fn list_panel_members(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        panel: &PanelId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<PanelMember>>> + Send;

    /// Blanks a member's details and resident key; attendance rows stay. Erasing an erased
    /// member answers the same.
    fn erase_panel_member(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        panel: &PanelId,
        member: &PanelMemberId,
    ) -> impl Future<Output = StoreResult<PanelMember>> + Send;

    /// Records a session. Members must be active members of the panel
    /// ([`crate::StoreError::FailedPrecondition`] naming the first that is not).
    fn create_panel_session(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        session: &PanelSession,
    ) -> impl Future<Output = StoreResult<PanelSession>> + Send;

    /// A panel's sessions by ID, with who attended.
    fn list_panel_sessions(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        panel: &PanelId,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<PanelSession>>> + Send;

    /// Records a finding, open. Its session, when named, must be the panel's
    /// ([`crate::StoreError::FailedPrecondition`]).
    fn create_panel_finding(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        finding: &PanelFinding,
    ) -> impl Future<Output = StoreResult<PanelFinding>> + Send;

    /// One finding.
    fn get_panel_finding(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        panel: &PanelId,
        id: &PanelFindingId,
    ) -> impl Future<Output = StoreResult<PanelFinding>> + Send;

    /// Saves `finding`'s outcome (resource, note, time) if its revision is still
    /// `expected_revision` ([`crate::StoreError::Conflict`] otherwise).
    fn resolve_panel_finding(
        &self,
        ctx: &WriteCtx<'_>,
        finding: &PanelFinding,
        expected_revision: i64,
    ) -> impl Future<Output = StoreResult<PanelFinding>> + Send;

    /// A panel's findings by ID, with `outcome` when given.
    fn list_panel_findings(
        &self,
        scope: &TenantScope,
        department: &DepartmentId,
        panel: &PanelId,
        outcome: Option<FindingOutcome>,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<PanelFinding>>> + Send;
}
