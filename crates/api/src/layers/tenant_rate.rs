//! A token bucket per tenant (each department of the authenticated caller; city-wide roles
//! by subject); an empty bucket answers `RESOURCE_EXHAUSTED` with `retry-after`.
use super::limits::{exempt, reject};
use cityserve_domain::Caller;
use futures::future::{Either, Ready};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tonic::Code;

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::layers::limits::testing::*;
    use tower::{Layer, ServiceExt};

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
}
