//! "Roles in tokens follow appointments": a tower layer, after [`crate::AuthLayer`], that checks
//! the verified token's role against what its subject holds in the database at the time of the
//! call. A CSO replaced at 10:00 holding a token minted at 9:00 is refused at 10:01.
//!
//! A verified standing is remembered for a short time ([`StandingCache`]): a busy caller costs one
//! lookup per TTL instead of one database transaction per call. A change to officers or
//! appointments made through this server forgets every remembered standing at once; one made
//! through another replica is seen here within the TTL.
//!
//! A stream outlives the check made when it opened: every streaming RPC's response goes through
//! [`StandingGuard::guard`], which checks again once per TTL (through the same cache) and ends the
//! stream with PERMISSION_DENIED when the caller no longer holds what their token claims.
use crate::error::ApiError;
use cityserve_domain::officer::check_standing;
use cityserve_domain::{Action, Caller, DepartmentId, Role, authorize};
use cityserve_store::OfficerStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Status;

/// Beyond this many callers the cache starts over rather than grow without bound.
const MAX_CACHED_CALLERS: usize = 10_000;

/// Standings verified within the last `ttl`, keyed by the whole verified [`Caller`] (subject,
/// role and departments), so a token with other claims is checked on its own. Only successful
/// checks are kept: a refused caller is looked up again on every call.
#[derive(Clone)]
pub struct StandingCache {
    ttl: Duration,
    state: Arc<Mutex<CacheState>>,
}

#[derive(Default)]
struct CacheState {
    /// Bumped by [`StandingCache::clear`]; a lookup that began before a bump is not stored.
    generation: u64,
    entries: HashMap<Caller, (Instant, Option<DepartmentId>)>,
}

impl StandingCache {
    /// A cache keeping verified standings for `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, state: Arc::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // The state is a plain map: a panic while holding the lock cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The remembered home department of `caller`, if its standing was verified within the TTL;
    /// otherwise the generation to pass to [`Self::remember`].
    fn recall(&self, caller: &Caller) -> Result<Option<DepartmentId>, u64> {
        let state = self.lock();
        match state.entries.get(caller) {
            Some((at, home)) if at.elapsed() < self.ttl => Ok(home.clone()),
            _ => Err(state.generation),
        }
    }

    fn remember(&self, caller: &Caller, home: Option<DepartmentId>, generation: u64, looked_up_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.lock();
        // Officers changed while the lookup ran: its answer may predate the change.
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= MAX_CACHED_CALLERS {
            state.entries.clear();
        }
        state.entries.insert(caller.clone(), (looked_up_at, home));
    }

    /// How long a verified standing is kept.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The count of [`Self::clear`]s so far: an answer looked up under another generation may
    /// predate a change to officers (the identity provider's sign-ins keep theirs by it too).
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Forgets every remembered standing (after officers or appointments changed).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.generation = state.generation.wrapping_add(1);
        state.entries.clear();
    }
}

/// Whether a call to `path` may change what [`verify_standing`] finds: any officer or department
/// method other than a read.
fn changes_standings(path: &str) -> bool {
    let Some(method) = path
        .strip_prefix("/cityserve.v1.OfficerService/")
        .or_else(|| path.strip_prefix("/cityserve.v1.DepartmentService/"))
        .or_else(|| path.strip_prefix("/cityserve.v1.ServiceAccountService/"))
    else {
        return false;
    };
    !(method.starts_with("Get") || method.starts_with("List"))
}

/// Adds the standing check to every request that carries a [`Caller`].
#[derive(Clone)]
pub struct StandingLayer<S> {
    store: S,
    cache: StandingCache,
}

impl<S: OfficerStore> StandingLayer<S> {
    /// A layer reading standings from `store`, remembering each verified one for `ttl`.
    pub fn new(store: S, ttl: Duration) -> Self {
        Self::with_cache(store, StandingCache::new(ttl))
    }

    /// A layer remembering verified standings in `cache` (shared with the identity provider's
    /// sign-in, so an officer change forgets both).
    pub fn with_cache(store: S, cache: StandingCache) -> Self {
        Self { store, cache }
    }
}

impl<S: Clone, I> tower::Layer<I> for StandingLayer<S> {
    type Service = StandingService<S, I>;
    fn layer(&self, inner: I) -> Self::Service {
        StandingService { inner, store: self.store.clone(), cache: self.cache.clone() }
    }
}

/// The service produced by [`StandingLayer`].
#[derive(Clone)]
pub struct StandingService<S, I> {
    inner: I,
    store: S,
    cache: StandingCache,
}

/// Re-checks a caller's standing for the life of a stream: put into every request's extensions
/// by [`StandingService`], taken by streaming handlers ([`crate::kit::guard_stream`]).
#[derive(Clone)]
pub struct StandingGuard {
    ttl: Duration,
    check: Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), Status>> + Send + Sync>,
}

impl StandingGuard {
    /// A guard checking `caller` against `store` through `cache`, at least once per the cache's TTL
    /// (and at least once a second when the cache keeps nothing).
    fn new<S: OfficerStore>(store: S, cache: StandingCache, caller: Caller) -> Self {
        let ttl = if cache.ttl.is_zero() { Duration::from_secs(1) } else { cache.ttl };
        let check = Arc::new(move || {
            let (store, cache, caller) = (store.clone(), cache.clone(), caller.clone());
            let checked: futures::future::BoxFuture<'static, Result<(), Status>> =
                Box::pin(async move { standing_of(&store, &cache, &caller).await.map(|_| ()) });
            checked
        });
        Self { ttl, check }
    }

    /// `stream`, ending with the refusal as soon as a check finds the caller's standing lost: no
    /// item is forwarded after it. The first check is one TTL after the stream opens (the call
    /// was checked as it came in).
    pub fn guard<T: Send + 'static>(
        self,
        stream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>>,
    ) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send>> {
        use futures::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<T, Status>>(1);
        let mut stream = stream;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + self.ttl, self.ttl);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    biased;
                    _ = tick.tick() => {
                        if let Err(refused) = (self.check)().await {
                            tracing::info!("stream ended: the caller's standing was lost");
                            let _ = tx.send(Err(refused)).await;
                            return;
                        }
                    }
                    item = stream.next() => match item {
                        Some(item) => {
                            if tx.send(item).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    () = tx.closed() => return,
                }
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

/// `caller`'s home department from the cache, or from the store (remembered when it holds).
async fn standing_of<S: OfficerStore>(
    store: &S,
    cache: &StandingCache,
    caller: &Caller,
) -> Result<Option<DepartmentId>, Status> {
    match cache.recall(caller) {
        Ok(home) => Ok(home),
        Err(generation) => {
            let at = Instant::now();
            let home = verify_standing(store, caller).await?;
            cache.remember(caller, home.clone(), generation, at);
            Ok(home)
        }
    }
}

/// The department of the calling officer's own record, as found by the standing check. Handlers
/// that audit reads (the resident timeline) record them there too; absent for service clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeDepartment(pub DepartmentId);

/// Checks `caller` against the store and returns the officer's home department. Service clients
/// are not officers and pass with none.
pub async fn verify_standing<S: OfficerStore>(store: &S, caller: &Caller) -> Result<Option<DepartmentId>, Status> {
    if caller.role == Role::Service {
        // An application acts only as a registered, active service account, and only for the
        // departments the Chief allowed it, whatever its token claims.
        let unregistered = || Status::permission_denied("the token's subject is not a registered service account");
        let id = cityserve_domain::ServiceAccountId::parse("sub", &caller.subject).map_err(|_| unregistered())?;
        let (_, scope) = cityserve_domain::policy::sign_in_scope();
        return match store.get_service_account(&scope, &id).await {
            Ok(account) => match account.refuses(&caller.departments) {
                None => Ok(None),
                Some(why) => {
                    tracing::info!(reason = %why, "service token refused");
                    Err(Status::permission_denied(why))
                }
            },
            Err(cityserve_store::StoreError::NotFound) => Err(unregistered()),
            Err(e) => Err(Status::from(ApiError::from_store(e, "service account"))),
        };
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
        let cache = self.cache.clone();
        let changes = changes_standings(req.uri().path());
        Box::pin(async move {
            if let Some(caller) = caller {
                let home = match standing_of(&store, &cache, &caller).await {
                    Ok(home) => home,
                    Err(status) => return Ok(status.into_http()),
                };
                if let Some(home) = home {
                    req.extensions_mut().insert(HomeDepartment(home));
                }
                req.extensions_mut().insert(StandingGuard::new(store, cache.clone(), caller));
            }
            let response = inner.call(req).await;
            if changes {
                cache.clear();
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(subject: &str) -> Caller {
        Caller {
            subject: subject.into(),
            role: Role::Cso,
            departments: vec![DepartmentId::parse("d", "water").unwrap()],
        }
    }

    fn water() -> Option<DepartmentId> {
        Some(DepartmentId::parse("d", "water").unwrap())
    }

    #[test]
    fn a_verified_standing_is_reused_only_within_the_ttl_and_for_the_same_claims() {
        let cache = StandingCache::new(Duration::from_secs(60));
        let generation = cache.recall(&caller("ann")).unwrap_err();
        cache.remember(&caller("ann"), water(), generation, Instant::now());
        assert_eq!(cache.recall(&caller("ann")), Ok(water()));
        // Other claims (here another role) are checked on their own.
        let staff = Caller { role: Role::Staff, ..caller("ann") };
        assert!(cache.recall(&staff).is_err());
        // An entry older than the TTL is looked up again.
        let stale = StandingCache::new(Duration::from_millis(1));
        stale.remember(&caller("ann"), water(), 0, Instant::now() - Duration::from_secs(1));
        assert!(stale.recall(&caller("ann")).is_err());
        // A zero TTL keeps nothing.
        let off = StandingCache::new(Duration::ZERO);
        off.remember(&caller("ann"), water(), 0, Instant::now());
        assert!(off.recall(&caller("ann")).is_err());
    }

    #[test]
    fn a_lookup_that_raced_an_officer_change_is_not_kept() {
        let cache = StandingCache::new(Duration::from_secs(60));
        cache.remember(&caller("bob"), water(), 0, Instant::now());
        let generation = cache.recall(&caller("ann")).unwrap_err();
        // Appointments change while ann's lookup runs.
        cache.clear();
        assert!(cache.recall(&caller("bob")).is_err(), "clear forgets every standing");
        cache.remember(&caller("ann"), water(), generation, Instant::now());
        assert!(cache.recall(&caller("ann")).is_err(), "the answer may predate the change");
    }

    #[test]
    fn officer_and_department_writes_clear_the_cache_reads_do_not() {
        for path in [
            "/cityserve.v1.OfficerService/AppointCso",
            "/cityserve.v1.OfficerService/EndAppointment",
            "/cityserve.v1.OfficerService/DeactivateOfficer",
            "/cityserve.v1.DepartmentService/ArchiveDepartment",
        ] {
            assert!(changes_standings(path), "{path}");
        }
        for path in [
            "/cityserve.v1.OfficerService/GetOfficer",
            "/cityserve.v1.OfficerService/ListAppointments",
            "/cityserve.v1.FeedbackService/SubmitFeedback",
            "/grpc.health.v1.Health/Check",
        ] {
            assert!(!changes_standings(path), "{path}");
        }
    }
}
