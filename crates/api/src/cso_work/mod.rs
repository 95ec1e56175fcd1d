//! `cityserve.v1.CsoWorkService`: the CSO's own work. Touchpoints (the places and channels where
//! residents meet a department) are here; feedback names the touchpoint and officer that served
//! the resident through FeedbackService.
use cityserve_domain::ResidentKeyer;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_server::CsoWorkService;
use cityserve_store::{
    BoardStore, CoordinationStore, DepartmentStore, ObservationStore, OfficerStore, PanelStore, ThemeStore,
    TouchpointStore,
};
use tonic::{Request, Response, Status};

mod board;
mod figures;
mod observations;
mod panels;
mod themes;
mod touchpoints;

/// What the CSO's work reads and writes: its own stores, and the coordination records, officers
/// and departments that findings link to and the board report draws on.
pub trait CsoWorkStore:
    TouchpointStore
    + ObservationStore
    + ThemeStore
    + PanelStore
    + BoardStore
    + CoordinationStore
    + OfficerStore
    + DepartmentStore
{
}

impl<T> CsoWorkStore for T where
    T: TouchpointStore
        + ObservationStore
        + ThemeStore
        + PanelStore
        + BoardStore
        + CoordinationStore
        + OfficerStore
        + DepartmentStore
{
}

/// How panel members' contact details are keyed and read: the same as residents' on feedback.
#[derive(Clone, Debug)]
struct Residents {
    keyer: ResidentKeyer,
    country_code: String,
}

/// The CsoWorkService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct CsoWorkApi<S> {
    store: S,
    /// The fewest CSAT responses a per-officer mean is shown on.
    min_responses: i64,
    /// Panel members' keys and phone numbers.
    residents: Residents,
}

/// The default fewest CSAT responses a per-officer mean is shown on.
pub const DEFAULT_MIN_RESPONSES: i64 = 5;

impl<S: CsoWorkStore> CsoWorkApi<S> {
    /// A service backed by `store`, keying panel members' contact details with `keyer` (the
    /// feedback service's, so a member and their feedback share a resident key).
    pub fn new(store: S, keyer: ResidentKeyer) -> Self {
        Self {
            store,
            min_responses: DEFAULT_MIN_RESPONSES,
            residents: Residents { keyer, country_code: String::new() },
        }
    }

    /// Reads members' phone numbers written without `+` as numbers of this calling code (the
    /// feedback service's setting).
    pub fn with_phone_country_code(mut self, code: &str) -> Self {
        self.residents.country_code = code.to_owned();
        self
    }

    /// Withholds per-officer CSAT means built on fewer than `n` responses.
    pub fn with_min_responses(mut self, n: i64) -> Self {
        self.min_responses = n.max(1);
        self
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::cso_work_service_server::CsoWorkServiceServer<Self> {
        pb::cso_work_service_server::CsoWorkServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl<S: CsoWorkStore> CsoWorkService for CsoWorkApi<S> {
    async fn create_touchpoint(
        &self,
        req: Request<pb::CreateTouchpointRequest>,
    ) -> Result<Response<pb::CreateTouchpointResponse>, Status> {
        handle!(req, |c, r| self.create_touchpoint(c, r), |t| pb::CreateTouchpointResponse {
            touchpoint: Some(touchpoints::touchpoint_to_pb(&t))
        })
    }

    async fn get_touchpoint(
        &self,
        req: Request<pb::GetTouchpointRequest>,
    ) -> Result<Response<pb::GetTouchpointResponse>, Status> {
        handle!(req, |c, r| async move { self.get_touchpoint(c, &r.name).await }, |t| pb::GetTouchpointResponse {
            touchpoint: Some(touchpoints::touchpoint_to_pb(&t))
        })
    }

    async fn list_touchpoints(
        &self,
        req: Request<pb::ListTouchpointsRequest>,
    ) -> Result<Response<pb::ListTouchpointsResponse>, Status> {
        handle!(req, |c, r| self.list_touchpoints(c, r), |x| x)
    }

    async fn update_touchpoint(
        &self,
        req: Request<pb::UpdateTouchpointRequest>,
    ) -> Result<Response<pb::UpdateTouchpointResponse>, Status> {
        handle!(req, |c, r| self.update_touchpoint(c, r), |t| pb::UpdateTouchpointResponse {
            touchpoint: Some(touchpoints::touchpoint_to_pb(&t))
        })
    }

    async fn create_rubric(
        &self,
        req: Request<pb::CreateRubricRequest>,
    ) -> Result<Response<pb::CreateRubricResponse>, Status> {
        handle!(req, |c, r| self.create_rubric(c, r), |x| pb::CreateRubricResponse {
            rubric: Some(observations::rubric_response(&x))
        })
    }

    async fn revise_rubric(
        &self,
        req: Request<pb::ReviseRubricRequest>,
    ) -> Result<Response<pb::ReviseRubricResponse>, Status> {
        handle!(req, |c, r| self.revise_rubric(c, r), |x| pb::ReviseRubricResponse {
            rubric: Some(observations::rubric_response(&x))
        })
    }

    async fn get_rubric(&self, req: Request<pb::GetRubricRequest>) -> Result<Response<pb::GetRubricResponse>, Status> {
        handle!(req, |c, r| self.get_rubric(c, r), |x| pb::GetRubricResponse {
            rubric: Some(observations::rubric_response(&x))
        })
    }

    async fn list_rubrics(
        &self,
        req: Request<pb::ListRubricsRequest>,
    ) -> Result<Response<pb::ListRubricsResponse>, Status> {
        handle!(req, |c, r| self.list_rubrics(c, r), |x| x)
    }

    async fn create_observation(
        &self,
        req: Request<pb::CreateObservationRequest>,
    ) -> Result<Response<pb::CreateObservationResponse>, Status> {
        handle!(req, |c, r| self.create_observation(c, r), |x| pb::CreateObservationResponse {
            observation: Some(observations::observation_to_pb(&x))
        })
    }

    async fn get_observation(
        &self,
        req: Request<pb::GetObservationRequest>,
    ) -> Result<Response<pb::GetObservationResponse>, Status> {
        handle!(req, |c, r| async move { self.get_observation(c, &r.name).await }, |x| pb::GetObservationResponse {
            observation: Some(observations::observation_to_pb(&x))
        })
    }

    async fn list_observations(
        &self,
        req: Request<pb::ListObservationsRequest>,
    ) -> Result<Response<pb::ListObservationsResponse>, Status> {
        handle!(req, |c, r| self.list_observations(c, r), |x| x)
    }

    async fn complete_coaching_action(
        &self,
        req: Request<pb::CompleteCoachingActionRequest>,
    ) -> Result<Response<pb::CompleteCoachingActionResponse>, Status> {
        handle!(req, |c, r| self.complete_coaching_action(c, r), |x| pb::CompleteCoachingActionResponse {
            observation: Some(observations::observation_to_pb(&x))
        })
    }

    async fn get_touchpoint_figures(
        &self,
        req: Request<pb::GetTouchpointFiguresRequest>,
    ) -> Result<Response<pb::GetTouchpointFiguresResponse>, Status> {
        handle!(req, |c, r| self.touchpoint_figures(c, r), |f| pb::GetTouchpointFiguresResponse { figures: Some(f) })
    }

    async fn get_officer_figures(
        &self,
        req: Request<pb::GetOfficerFiguresRequest>,
    ) -> Result<Response<pb::GetOfficerFiguresResponse>, Status> {
        handle!(req, |c, r| self.officer_figures(c, r), |f| pb::GetOfficerFiguresResponse { figures: Some(f) })
    }

    async fn create_theme(
        &self,
        req: Request<pb::CreateThemeRequest>,
    ) -> Result<Response<pb::CreateThemeResponse>, Status> {
        let home = req.extensions().get::<crate::layers::standing::HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.create_theme(c, home, r), |t| pb::CreateThemeResponse {
            theme: Some(themes::theme_to_pb(&t))
        })
    }

    async fn list_themes(
        &self,
        req: Request<pb::ListThemesRequest>,
    ) -> Result<Response<pb::ListThemesResponse>, Status> {
        handle!(req, |c, r| self.list_themes(c, r), |x| x)
    }

    async fn tag_feedback(
        &self,
        req: Request<pb::TagFeedbackRequest>,
    ) -> Result<Response<pb::TagFeedbackResponse>, Status> {
        handle!(req, |c, r| self.tag_feedback(c, r), |x| x)
    }

    async fn suggest_themes(
        &self,
        req: Request<pb::SuggestThemesRequest>,
    ) -> Result<Response<pb::SuggestThemesResponse>, Status> {
        handle!(req, |c, r| self.suggest_themes(c, r), |x| x)
    }

    async fn create_panel(
        &self,
        req: Request<pb::CreatePanelRequest>,
    ) -> Result<Response<pb::CreatePanelResponse>, Status> {
        handle!(req, |c, r| self.create_panel(c, r), |p| pb::CreatePanelResponse {
            panel: Some(panels::panel_to_pb(&p))
        })
    }

    async fn get_panel(&self, req: Request<pb::GetPanelRequest>) -> Result<Response<pb::GetPanelResponse>, Status> {
        handle!(req, |c, r| async move { self.get_panel(c, &r.name).await }, |p| pb::GetPanelResponse {
            panel: Some(panels::panel_to_pb(&p))
        })
    }

    async fn list_panels(
        &self,
        req: Request<pb::ListPanelsRequest>,
    ) -> Result<Response<pb::ListPanelsResponse>, Status> {
        handle!(req, |c, r| self.list_panels(c, r), |x| x)
    }

    async fn add_panel_member(
        &self,
        req: Request<pb::AddPanelMemberRequest>,
    ) -> Result<Response<pb::AddPanelMemberResponse>, Status> {
        handle!(req, |c, r| self.add_panel_member(c, r), |m| pb::AddPanelMemberResponse {
            member: Some(panels::member_to_pb(&m))
        })
    }

    async fn list_panel_members(
        &self,
        req: Request<pb::ListPanelMembersRequest>,
    ) -> Result<Response<pb::ListPanelMembersResponse>, Status> {
        handle!(req, |c, r| self.list_panel_members(c, r), |x| x)
    }

    async fn erase_panel_member(
        &self,
        req: Request<pb::ErasePanelMemberRequest>,
    ) -> Result<Response<pb::ErasePanelMemberResponse>, Status> {
        handle!(req, |c, r| async move { self.erase_panel_member(c, &r.name).await }, |m| {
            pb::ErasePanelMemberResponse { member: Some(panels::member_to_pb(&m)) }
        })
    }

    async fn create_panel_session(
        &self,
        req: Request<pb::CreatePanelSessionRequest>,
    ) -> Result<Response<pb::CreatePanelSessionResponse>, Status> {
        handle!(req, |c, r| self.create_panel_session(c, r), |s| pb::CreatePanelSessionResponse {
            session: Some(panels::session_to_pb(&s))
        })
    }

    async fn list_panel_sessions(
        &self,
        req: Request<pb::ListPanelSessionsRequest>,
    ) -> Result<Response<pb::ListPanelSessionsResponse>, Status> {
        handle!(req, |c, r| self.list_panel_sessions(c, r), |x| x)
    }

    async fn create_panel_finding(
        &self,
        req: Request<pb::CreatePanelFindingRequest>,
    ) -> Result<Response<pb::CreatePanelFindingResponse>, Status> {
        handle!(req, |c, r| self.create_panel_finding(c, r), |f| pb::CreatePanelFindingResponse {
            finding: Some(panels::finding_to_pb(&f))
        })
    }

    async fn resolve_panel_finding(
        &self,
        req: Request<pb::ResolvePanelFindingRequest>,
    ) -> Result<Response<pb::ResolvePanelFindingResponse>, Status> {
        handle!(req, |c, r| self.resolve_panel_finding(c, r), |f| pb::ResolvePanelFindingResponse {
            finding: Some(panels::finding_to_pb(&f))
        })
    }

    async fn list_panel_findings(
        &self,
        req: Request<pb::ListPanelFindingsRequest>,
    ) -> Result<Response<pb::ListPanelFindingsResponse>, Status> {
        handle!(req, |c, r| self.list_panel_findings(c, r), |x| x)
    }

    async fn get_board_report(
        &self,
        req: Request<pb::GetBoardReportRequest>,
    ) -> Result<Response<pb::GetBoardReportResponse>, Status> {
        handle!(req, |c, r| self.board_report(c, r), |x| x)
    }
}
