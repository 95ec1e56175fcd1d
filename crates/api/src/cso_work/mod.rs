//! `cityserve.v1.CsoWorkService`: the CSO's own work. Touchpoints (the places and channels where
//! residents meet a department) are here; feedback names the touchpoint and officer that served
//! the resident through FeedbackService.
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_server::CsoWorkService;
use cityserve_store::TouchpointStore;
use tonic::{Request, Response, Status};

mod touchpoints;

/// The CsoWorkService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct CsoWorkApi<S> {
    store: S,
}

impl<S: TouchpointStore> CsoWorkApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::cso_work_service_server::CsoWorkServiceServer<Self> {
        pb::cso_work_service_server::CsoWorkServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl<S: TouchpointStore> CsoWorkService for CsoWorkApi<S> {
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
}
