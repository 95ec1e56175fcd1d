//! At most `max` calls in flight across all connections; the next one is answered at once
//! with `UNAVAILABLE` and `retry-after` instead of queueing.
use super::limits::{exempt, reject};
use futures::future::{BoxFuture, Either, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Code;

/// Seconds a shed client is told to wait before retrying.
const SHED_RETRY_AFTER_SECS: u64 = 1;

/// At most `max` calls in flight across the whole server; the next one is answered at once with
/// `UNAVAILABLE` and `retry-after: 1` instead of waiting. A call holds its slot until its response
/// headers are sent: a unary call for its whole run, a server-streaming call (Watch) only while
/// it is set up, so open Watch streams do not lock callers out (HTTP/2's per-connection stream
/// limit bounds those).
#[derive(Clone, Debug)]
pub struct ConcurrencyLimitLayer {
    slots: Arc<Semaphore>,
    max: usize,
}

impl ConcurrencyLimitLayer {
    /// A limit of `max` calls in flight (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self { slots: Arc::new(Semaphore::new(max)), max }
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.max - self.slots.available_permits()
    }
}

impl<S> tower::Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimitService { inner, slots: self.slots.clone(), max: self.max }
    }
}

/// The service produced by [`ConcurrencyLimitLayer`].
#[derive(Clone, Debug)]
pub struct ConcurrencyLimitService<S> {
    inner: S,
    slots: Arc<Semaphore>,
    max: usize,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for ConcurrencyLimitService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Either<BoxFuture<'static, Result<Self::Response, Self::Error>>, Ready<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if exempt(req.uri().path()) {
            let fut = self.inner.call(req);
            return Either::Left(Box::pin(fut));
        }
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let fut = self.inner.call(req);
                Either::Left(Box::pin(hold(permit, fut)))
            }
            Err(_) => {
                tracing::warn!(max_concurrent_requests = self.max, "shedding load: too many calls in flight");
                Either::Right(futures::future::ready(Ok(reject(
                    Code::Unavailable,
                    format!("server overloaded ({} calls in flight); retry after {SHED_RETRY_AFTER_SECS}s", self.max),
                    SHED_RETRY_AFTER_SECS,
                ))))
            }
        }
    }
}

async fn hold<F: std::future::Future>(permit: OwnedSemaphorePermit, fut: F) -> F::Output {
    let out = fut.await;
    drop(permit);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::layers::limits::testing::*;
    use std::convert::Infallible;
    use tower::{Layer, ServiceExt};

    #[tokio::test]
    async fn concurrency_limit_sheds_instead_of_queueing() {
        let gate = Arc::new(tokio::sync::Notify::new());
        let entered = Arc::new(tokio::sync::Notify::new());
        let inner = {
            let (gate, entered) = (gate.clone(), entered.clone());
            tower::service_fn(move |req: http::Request<()>| {
                let (gate, entered) = (gate.clone(), entered.clone());
                async move {
                    if req.uri().path() == "/cityserve.v1.X/Hold" {
                        entered.notify_one();
                        gate.notified().await;
                    }
                    Ok::<_, Infallible>(http::Response::new(()))
                }
            })
        };
        let layer = ConcurrencyLimitLayer::new(1);
        let svc = layer.layer(inner);

        let held = tokio::spawn(svc.clone().oneshot(request("/cityserve.v1.X/Hold", None)));
        entered.notified().await;
        assert_eq!(layer.in_flight(), 1);

        let shed = svc.clone().oneshot(request("/cityserve.v1.X/Other", None)).await.unwrap();
        assert_eq!(shed.status(), http::StatusCode::OK, "trailers-only gRPC response");
        assert_eq!(code(&shed), Some(Code::Unavailable as i32));
        assert_eq!(retry_after(&shed), Some(1));
        assert!(shed.headers().get("grpc-message").is_some());

        // Probes and tooling still get through.
        for path in ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"] {
            assert_eq!(code(&svc.clone().oneshot(request(path, None)).await.unwrap()), None, "{path}");
        }

        gate.notify_one();
        assert_eq!(code(&held.await.unwrap().unwrap()), None);
        assert_eq!(layer.in_flight(), 0);
        assert_eq!(code(&svc.oneshot(request("/cityserve.v1.X/Other", None)).await.unwrap()), None);
    }
}
