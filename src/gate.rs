//! The database gate: while the database is not ready (not yet reached and migrated at start, or
//! lost since), every CityServe RPC is answered `UNAVAILABLE` at once instead of waiting on a
//! connection pool that cannot connect. Health, reflection and other non-CityServe paths pass.
//!
//! The gate opens when the server's database watcher sees the database answer (after the start-up
//! preparation has succeeded) and closes when a check fails. A call that answers `UNAVAILABLE`
//! asks the watcher to check at once, and a call still waiting when the gate closes is answered
//! `UNAVAILABLE` then, so clients learn of a lost database within about one check rather than a
//! pool timeout.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// What every gated RPC answers while the database is not ready.
pub const UNAVAILABLE_MESSAGE: &str = "database unavailable, retrying";

/// Only paths of CityServe services are gated.
const GATED_PREFIX: &str = "/cityserve.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    /// Start-up preparation (connect, migrate, role check) has succeeded.
    prepared: bool,
    /// The last database check succeeded.
    up: bool,
}

/// Shared gate state: cheap to clone.
#[derive(Debug, Clone)]
pub struct DbGate {
    state: Arc<watch::Sender<State>>,
    recheck: Arc<Notify>,
}

impl DbGate {
    /// A gate whose start-up preparation is done (`prepared`) or still to do. It stays closed
    /// until the first successful database check.
    pub fn new(prepared: bool) -> Self {
        Self { state: Arc::new(watch::Sender::new(State { prepared, up: false })), recheck: Arc::new(Notify::new()) }
    }

    /// Whether gated calls go through.
    pub fn is_open(&self) -> bool {
        let s = *self.state.borrow();
        s.prepared && s.up
    }

    /// Whether start-up preparation has succeeded.
    pub fn is_prepared(&self) -> bool {
        self.state.borrow().prepared
    }

    /// Marks start-up preparation done and asks for a check at once.
    pub fn set_prepared(&self) {
        self.state.send_modify(|s| s.prepared = true);
        self.recheck.notify_one();
    }

    /// Records the result of a database check.
    pub fn set_up(&self, up: bool) {
        self.state.send_if_modified(|s| {
            let changed = s.up != up;
            s.up = up;
            changed
        });
    }

    /// Asks the watcher to check the database now.
    pub fn request_check(&self) {
        self.recheck.notify_one();
    }

    /// Waits `every`, or less if a check was requested.
    pub async fn wait_for_check(&self, every: Duration) {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = self.recheck.notified() => {}
        }
    }

    /// Resolves when the gate is (or becomes) closed.
    async fn closed(mut rx: watch::Receiver<State>) {
        let _ = rx.wait_for(|s| !(s.prepared && s.up)).await;
    }
}

/// Adds the gate in front of the services.
#[derive(Debug, Clone)]
pub struct GateLayer {
    gate: DbGate,
}

impl GateLayer {
    /// A layer consulting `gate`.
    pub fn new(gate: DbGate) -> Self {
        Self { gate }
    }
}

impl<I> tower::Layer<I> for GateLayer {
    type Service = GateService<I>;
    fn layer(&self, inner: I) -> Self::Service {
        GateService { inner, gate: self.gate.clone() }
    }
}

/// The service produced by [`GateLayer`].
#[derive(Debug, Clone)]
pub struct GateService<I> {
    inner: I,
    gate: DbGate,
}

fn unavailable<ResBody: Default>() -> http::Response<ResBody> {
    tonic::Status::unavailable(UNAVAILABLE_MESSAGE).into_http()
}

impl<I, B, ResBody> tower::Service<http::Request<B>> for GateService<I>
where
    I: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = I::Response;
    type Error = I::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if !req.uri().path().starts_with(GATED_PREFIX) {
            return Box::pin(inner.call(req));
        }
        let gate = self.gate.clone();
        if !gate.is_open() {
            return Box::pin(async { Ok(unavailable()) });
        }
        let closed = DbGate::closed(gate.state.subscribe());
        Box::pin(async move {
            tokio::select! {
                result = inner.call(req) => {
                    // Errors travel as grpc-status in the headers (trailers-only responses).
                    if let Ok(resp) = &result
                        && resp.headers().get("grpc-status").is_some_and(|v| v == "14")
                    {
                        gate.request_check();
                    }
                    result
                }
                // The database was found lost while this call waited on it.
                () = closed => Ok(unavailable()),
            }
        })
    }
}
