//! "Roles in tokens follow appointments": a tower layer, after [`crate::AuthLayer`], that checks
//! the verified token's role against what its subject holds in the database at the time of the
//! call. A CSO replaced at 10:00 holding a token minted at 9:00 is refused at 10:01.
use crate::error::ApiError;
use cityserve_domain::officer::check_standing;
use cityserve_domain::{Action, Caller, DepartmentId, Role, authorize};
use cityserve_store::OfficerStore;
use std::task::{Context, Poll};
use tonic::Status;

/// Adds the standing check to every request that carries a [`Caller`].
#[derive(Clone)]
pub struct StandingLayer<S> {
    store: S,
}

impl<S: OfficerStore> StandingLayer<S> {
    /// A layer reading standings from `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }
}

impl<S: Clone, I> tower::Layer<I> for StandingLayer<S> {
    type Service = StandingService<S, I>;
    fn layer(&self, inner: I) -> Self::Service {
        StandingService { inner, store: self.store.clone() }
    }
}

/// The service produced by [`StandingLayer`].
#[derive(Clone)]
pub struct StandingService<S, I> {
    inner: I,
    store: S,
}

/// The department of the calling officer's own record, as found by the standing check. Handlers
/// that audit reads (the resident timeline) record them there too; absent for service clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeDepartment(pub DepartmentId);

/// Checks `caller` against the store and returns the officer's home department. Service clients
/// are not officers and pass with none.
pub async fn verify_standing<S: OfficerStore>(store: &S, caller: &Caller) -> Result<Option<DepartmentId>, Status> {
    if caller.role == Role::Service {
        return Ok(None);
    }
    let scope = authorize(caller, Action::CheckStanding, None)
        .map_err(|_| Status::permission_denied("the token's role cannot be checked"))?;
    let standing =
        store.standing(&scope, &caller.subject).await.map_err(|e| Status::from(ApiError::from_store(e, "officer")))?;
    check_standing(caller, &standing).map_err(|e| {
        tracing::info!(role = caller.role.as_str(), reason = %e, "token refused: role not held");
        Status::permission_denied(e.to_string())
    })?;
    Ok(standing.officer.map(|(d, _, _)| d))
}

impl<S, I, B, ResBody> tower::Service<http::Request<B>> for StandingService<S, I>
where
    S: OfficerStore,
    I: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = I::Response;
    type Error = I::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let caller = req.extensions().get::<Caller>().cloned();
        let store = self.store.clone();
        Box::pin(async move {
            if let Some(caller) = caller {
                match verify_standing(&store, &caller).await {
                    Ok(Some(home)) => {
                        req.extensions_mut().insert(HomeDepartment(home));
                    }
                    Ok(None) => {}
                    Err(status) => return Ok(status.into_http()),
                }
            }
            inner.call(req).await
        })
    }
}
