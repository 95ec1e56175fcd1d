//! Overload protection as tower layers in front of the gRPC router, plus a guard for connections
//! that never start talking:
//!
//! - [`DeadlineLayer`]: every call ends by the shorter of the server's `request_timeout` and the
//!   client's `grpc-timeout`, answering `DEADLINE_EXCEEDED` (tonic's own `Server::timeout`
//!   answers `CANCELLED "Timeout expired"`, which clients do not treat as a deadline).
//! - [`ConcurrencyLimitLayer`]: at most `max` calls in flight across all connections; the next one
//!   is answered at once with `UNAVAILABLE` and `retry-after` metadata instead of queueing.
//! - [`TenantRateLimitLayer`]: a token bucket per tenant (each department of the authenticated
//!   caller; city-wide roles by subject); an empty bucket answers `RESOURCE_EXHAUSTED` with
//!   `retry-after`.
//! - [`PrefaceDeadline`]: closes a connection that has not sent its first bytes in time.
//!
//! Health checks and reflection are never shed or rate limited, so probes keep answering while
//! the server sheds load. Rejections are trailers-only gRPC responses (HTTP 200, `grpc-status`
//! and `grpc-message` in the headers), so they also pass through the gRPC-Web translation when
//! these layers sit after `GrpcWebLayer`.
use cityserve_domain::Caller;
use futures::future::{BoxFuture, Either, Ready};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Paths that are never shed or rate limited: health probes and reflection.
pub fn exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// A trailers-only rejection carrying `retry-after: <seconds>` metadata.
fn reject<B: Default>(code: Code, message: String, retry_after_secs: u64) -> http::Response<B> {
    let mut metadata = MetadataMap::new();
    metadata.insert("retry-after", MetadataValue::from(retry_after_secs.max(1)));
    Status::with_metadata(code, message, metadata).into_http()
}

// ---------------------------------------------------------------------------------------------
// Deadline
// ---------------------------------------------------------------------------------------------

/// Ends each call after the shorter of `max` and the client's `grpc-timeout` with
/// `DEADLINE_EXCEEDED`. The deadline covers reading the request and producing the response
/// headers; for a server-streaming call (Watch) that is the set-up, not the open stream.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    /// A layer bounding every call by `max` (and by the client's shorter `grpc-timeout`).
    pub fn new(max: Duration) -> Self {
        Self { max }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner, max: self.max }
    }
}

/// The service produced by [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct DeadlineService<S> {
    inner: S,
    max: Duration,
}

/// Parses a `grpc-timeout` value (`1-8 digits` + `H`/`M`/`S`/`m`/`u`/`n`); `None` if malformed.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for DeadlineService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let client = req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
        let (limit, whose) = match client {
            Some(c) if c < self.max => (c, "client deadline (grpc-timeout)"),
            _ => (self.max, "server request timeout"),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(result) => result,
                Err(_) => Ok(Status::deadline_exceeded(format!("{whose} of {limit:?} exceeded")).into_http()),
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Global concurrency limit with load shedding
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Per-tenant rate limit
// ---------------------------------------------------------------------------------------------

/// Most tenants whose buckets are kept; past it idle buckets are dropped, then the stalest.
const MAX_TENANTS: usize = 10_000;
/// How often full (idle) buckets are swept out of the map.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<String, Bucket>,
    last_sweep: Instant,
}

/// The token buckets, shared by every connection.
#[derive(Debug)]
struct Limiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<Buckets>,
}

/// The tenants a caller's request is charged to: each of its departments, or (city-wide roles,
/// which have none) its subject.
pub fn tenants_of(caller: &Caller) -> Vec<String> {
    if caller.departments.is_empty() {
        vec![format!("subject:{}", caller.subject)]
    } else {
        caller.departments.iter().map(|d| format!("department:{d}")).collect()
    }
}

impl Limiter {
    /// Takes one token from every tenant's bucket, or none; `Err(seconds)` to wait if any is empty.
    fn acquire(&self, tenants: &[String], now: Instant) -> Result<(), u64> {
        let mut guard = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *guard;
        if now.saturating_duration_since(state.last_sweep) >= SWEEP_EVERY || state.map.len() >= MAX_TENANTS {
            self.sweep(state, now);
        }
        let mut wait: f64 = 0.0;
        for t in tenants {
            let tokens = match state.map.get(t) {
                Some(b) => self.refilled(b, now),
                None => self.burst,
            };
            if tokens < 1.0 {
                wait = wait.max((1.0 - tokens) / self.rate);
            }
        }
        if wait > 0.0 {
            return Err(wait.ceil().max(1.0) as u64);
        }
        for t in tenants {
            let tokens = state.map.get(t).map_or(self.burst, |b| self.refilled(b, now));
            state.map.insert(t.clone(), Bucket { tokens: tokens - 1.0, last: now });
        }
        Ok(())
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * self.rate).min(self.burst)
    }

    /// Drops buckets that have refilled (indistinguishable from absent ones); if the map is still
    /// full, drops the least recently used quarter.
    fn sweep(&self, state: &mut Buckets, now: Instant) {
        state.map.retain(|_, b| self.refilled(b, now) < self.burst);
        state.last_sweep = now;
        if state.map.len() >= MAX_TENANTS {
            let mut ages: Vec<Instant> = state.map.values().map(|b| b.last).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 4];
            state.map.retain(|_, b| b.last > cutoff);
            tracing::warn!(kept = state.map.len(), "rate limiter: too many tenants, dropped the stalest buckets");
        }
    }

    #[cfg(test)]
    fn tenants(&self) -> usize {
        self.buckets.lock().map(|b| b.map.len()).unwrap_or_default()
    }
}

/// A token bucket per tenant, refilled at `requests_per_second` with a burst of twice that; a
/// request finding its tenant's bucket empty is answered with `RESOURCE_EXHAUSTED` and
/// `retry-after`. Place it after [`crate::AuthLayer`]: requests without a [`Caller`] (health,
/// reflection, rejected credentials) pass untouched. `0` disables the limit.
#[derive(Clone, Debug)]
pub struct TenantRateLimitLayer {
    limiter: Option<Arc<Limiter>>,
}

impl TenantRateLimitLayer {
    /// A limit of `requests_per_second` per tenant (burst twice that); `0` disables it.
    pub fn new(requests_per_second: u32) -> Self {
        let limiter = (requests_per_second > 0).then(|| {
            let rate = f64::from(requests_per_second);
            Arc::new(Limiter {
                rate,
                burst: 2.0 * rate,
                buckets: Mutex::new(Buckets { map: HashMap::new(), last_sweep: Instant::now() }),
            })
        });
        Self { limiter }
    }
}

impl<S> tower::Layer<S> for TenantRateLimitLayer {
    type Service = TenantRateLimitService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantRateLimitService { inner, limiter: self.limiter.clone() }
    }
}

/// The service produced by [`TenantRateLimitLayer`].
#[derive(Clone, Debug)]
pub struct TenantRateLimitService<S> {
    inner: S,
    limiter: Option<Arc<Limiter>>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for TenantRateLimitService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (Some(limiter), Some(caller)) = (&self.limiter, req.extensions().get::<Caller>()) else {
            return Either::Left(self.inner.call(req));
        };
        if exempt(req.uri().path()) {
            return Either::Left(self.inner.call(req));
        }
        let tenants = tenants_of(caller);
        match limiter.acquire(&tenants, Instant::now()) {
            Ok(()) => Either::Left(self.inner.call(req)),
            Err(secs) => {
                tracing::info!(tenant = %tenants.join(","), retry_after = secs, "rate limited");
                Either::Right(futures::future::ready(Ok(reject(
                    Code::ResourceExhausted,
                    format!(
                        "rate limit of {} requests per second exceeded for {}; retry after {secs}s",
                        limiter.rate,
                        tenants.join(", ")
                    ),
                    secs,
                ))))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections that never talk
// ---------------------------------------------------------------------------------------------

/// Length of the HTTP/2 connection preface; any real HTTP/1.1 request is at least this long too.
const PREFACE_LEN: usize = 24;

/// A connection that fails its reads once `deadline` passes before the peer has sent its first
/// 24 bytes (the HTTP/2 preface, or the start of an HTTP/1.1 request), so a client that connects
/// and stays silent does not hold a socket and a task forever. After that, HTTP/2 keep-alive pings
/// and HTTP/1's header read timeout take over.
#[derive(Debug)]
pub struct PrefaceDeadline<IO> {
    inner: IO,
    received: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> PrefaceDeadline<IO> {
    /// Wraps `inner`, allowing `within` for the first bytes.
    pub fn new(inner: IO, within: Duration) -> Self {
        Self { inner, received: 0, deadline: Some(Box::pin(tokio::time::sleep(within))) }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.received += buf.filled().len() - before;
                if this.received >= PREFACE_LEN {
                    this.deadline = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().map(|d| d.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => {
                    tracing::debug!("closing a connection that sent nothing in time");
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "client sent no request in time",
                    )))
                }
                _ => Poll::Pending,
            },
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<IO: tonic::transport::server::Connected> tonic::transport::server::Connected for PrefaceDeadline<IO> {
    type ConnectInfo = IO::ConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cityserve_domain::{DepartmentId, Role};
    use std::convert::Infallible;
    use tower::{Layer, ServiceExt};

    type Res = http::Response<()>;

    fn request(path: &str, caller: Option<Caller>) -> http::Request<()> {
        let mut req = http::Request::builder().uri(path).body(()).unwrap();
        if let Some(c) = caller {
            req.extensions_mut().insert(c);
        }
        req
    }

    fn code(res: &Res) -> Option<i32> {
        res.headers().get("grpc-status").map(|v| v.to_str().unwrap().parse().unwrap())
    }

    fn retry_after(res: &Res) -> Option<u64> {
        res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap())
    }

    fn ok() -> impl tower::Service<http::Request<()>, Response = Res, Error = Infallible, Future: Send + 'static> + Clone
    {
        tower::service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) })
    }

    fn cso(dept: &str) -> Caller {
        Caller {
            subject: format!("cso-{dept}"),
            role: Role::Cso,
            departments: vec![DepartmentId::parse("d", dept).unwrap()],
        }
    }

    fn chief(subject: &str) -> Caller {
        Caller { subject: subject.into(), role: Role::Chief, departments: vec![] }
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "123456789S", "12x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_takes_the_shorter_of_client_and_server() {
        let slow = tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, Infallible>(http::Response::new(()))
        });
        let svc = DeadlineLayer::new(Duration::from_secs(5)).layer(slow);

        let start = Instant::now();
        let res = svc.clone().oneshot(request("/cityserve.v1.X/Y", None)).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        let start = Instant::now();
        let mut req = request("/cityserve.v1.X/Y", None);
        req.headers_mut().insert("grpc-timeout", http::HeaderValue::from_static("200m"));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        assert_eq!(start.elapsed(), Duration::from_millis(200));

        // A longer client deadline does not extend the server's.
        let start = Instant::now();
        let mut req = request("/cityserve.v1.X/Y", None);
        req.headers_mut().insert("grpc-timeout", http::HeaderValue::from_static("60S"));
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        let fast = DeadlineLayer::new(Duration::from_secs(5)).layer(ok());
        assert_eq!(code(&fast.oneshot(request("/cityserve.v1.X/Y", None)).await.unwrap()), None);
    }

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

    #[tokio::test(start_paused = true)]
    async fn rate_limit_is_per_tenant_with_a_burst_of_twice_the_rate() {
        let svc = TenantRateLimitLayer::new(2).layer(ok());
        let call = |caller: Caller| svc.clone().oneshot(request("/cityserve.v1.X/Y", Some(caller)));

        for _ in 0..4 {
            assert_eq!(code(&call(cso("water")).await.unwrap()), None);
        }
        let limited = call(cso("water")).await.unwrap();
        assert_eq!(code(&limited), Some(Code::ResourceExhausted as i32));
        assert_eq!(retry_after(&limited), Some(1));

        // Another department, and a city-wide caller (keyed by subject), are unaffected.
        assert_eq!(code(&call(cso("parks")).await.unwrap()), None);
        assert_eq!(code(&call(chief("city-chief")).await.unwrap()), None);

        // A caller in two departments is charged to both: parks still has tokens, water does not.
        let both = Caller {
            departments: vec![cso("parks").departments[0].clone(), cso("water").departments[0].clone()],
            ..cso("parks")
        };
        assert_eq!(code(&call(both.clone()).await.unwrap()), Some(Code::ResourceExhausted as i32));

        // Requests without a caller, health and reflection are never limited.
        for _ in 0..10 {
            assert_eq!(code(&svc.clone().oneshot(request("/grpc.health.v1.Health/Check", None)).await.unwrap()), None);
            assert_eq!(code(&svc.clone().oneshot(request("/cityserve.v1.X/Y", None)).await.unwrap()), None);
        }

        // Half a second refills one token at 2 per second.
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(code(&call(cso("water")).await.unwrap()), None);
        assert_eq!(code(&call(cso("water")).await.unwrap()), Some(Code::ResourceExhausted as i32));
    }

    #[tokio::test]
    async fn zero_disables_the_rate_limit() {
        let svc = TenantRateLimitLayer::new(0).layer(ok());
        for _ in 0..100 {
            let res = svc.clone().oneshot(request("/cityserve.v1.X/Y", Some(cso("water")))).await.unwrap();
            assert_eq!(code(&res), None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_evicted_and_the_map_is_bounded() {
        let layer = TenantRateLimitLayer::new(1);
        let limiter = layer.limiter.clone().unwrap();
        let now = Instant::now();
        for i in 0..100 {
            limiter.acquire(&[format!("subject:s{i}")], now).unwrap();
        }
        assert_eq!(limiter.tenants(), 100);
        // After the sweep interval every bucket has refilled, so all go.
        let later = now + SWEEP_EVERY;
        limiter.acquire(&["subject:fresh".to_owned()], later).unwrap();
        assert_eq!(limiter.tenants(), 1);

        // Many busy tenants at once: the map never grows past the cap.
        for i in 0..(MAX_TENANTS + 500) {
            limiter.acquire(&[format!("subject:busy{i}")], later).unwrap();
        }
        assert!(limiter.tenants() <= MAX_TENANTS, "{}", limiter.tenants());
    }

    #[tokio::test(start_paused = true)]
    async fn silent_connections_are_closed() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64);
        let mut conn = PrefaceDeadline::new(server, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        drop(client);

        // A client that sends its preface in time keeps the connection, however quiet later.
        let (mut client, server) = tokio::io::duplex(64);
        let mut conn = PrefaceDeadline::new(server, Duration::from_secs(10));
        client.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 24];
        conn.read_exact(&mut buf).await.unwrap();
        let pending = tokio::time::timeout(Duration::from_secs(60), conn.read(&mut buf)).await;
        assert!(pending.is_err(), "no deadline after the preface");
    }
}
