//! The handler kit: everything a service handler needs besides its own rules, in one place —
//! the [`handle!`] wrapper every RPC goes through (it notes the call for the audit of a refusal
//! before anything can refuse it, takes the caller and maps the error to `Status`), tenant scopes,
//! idempotency keys, etags and revisions, update masks, time conversions, generated IDs, page
//! tokens and the write context that names the audited action.
use crate::error::ApiError;
use crate::trace::trace_id;
use chrono::{DateTime, Utc};
use cityserve_domain::{
    Action, AuditAction, Caller, DepartmentId, PageKey, PageRequest, PageToken, TenantScope, ValidationError,
    authorize, revision_from_etag,
};
use cityserve_store::{Idempotency, WriteCtx};
use sha2::{Digest, Sha256};
use std::sync::{Arc, LazyLock};

/// Wraps a handler body: notes the call for the audit of a refusal ([`crate::layers::audit`]),
/// takes the caller the auth layer attached, runs `$body` with the call's page-token binding in
/// scope, and maps its error to `Status` in one place. Every RPC of every service goes through it.
macro_rules! handle {
    ($req:ident, |$caller:ident, $r:ident| $body:expr, $wrap:expr) => {{
        let (call, $caller) = $crate::kit::Call::begin(&$req)?;
        let $r = $req.into_inner();
        match call.run($body).await {
            Ok(v) => Ok(tonic::Response::new($wrap(v))),
            Err(e) => Err(tonic::Status::from(e)),
        }
    }};
}

/// The page-token key and the RPC path, put into every request's extensions by
/// [`crate::layers::PageKeyLayer`].
#[derive(Debug, Clone)]
pub(crate) struct PageKeys {
    pub(crate) key: Arc<PageKey>,
    pub(crate) rpc: Option<http::uri::PathAndQuery>,
}

/// What page tokens of the current call are bound to: the key, the RPC and the caller. The
/// binding text is built only when a list call uses it ([`Binding::prefix`]).
#[derive(Debug, Clone)]
struct Binding {
    key: Arc<PageKey>,
    rpc: Option<http::uri::PathAndQuery>,
    subject: String,
    role: &'static str,
}

impl Binding {
    /// The text every token of this call is bound to, before the filter.
    fn prefix(&self) -> String {
        let rpc = self.rpc.as_ref().map_or("", |p| p.path());
        format!("{rpc}\n{}\n{}\n", self.subject, self.role)
    }
}

tokio::task_local! {
    /// The page-token binding of the call the current handler serves (set by [`handle!`]).
    static BINDING: Binding;
}

/// Used only when a handler runs without [`crate::layers::PageKeyLayer`] (unit tests): a key
/// random per process, so its tokens are worthless to anyone else.
static FALLBACK_KEY: LazyLock<Arc<PageKey>> = LazyLock::new(|| {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    Arc::new(PageKey::new(&[a.as_bytes().as_slice(), b.as_bytes().as_slice()].concat()))
});

/// One RPC call, as [`handle!`] begins it.
pub(crate) struct Call {
    binding: Binding,
}

impl Call {
    /// Notes the call for the audit layer, then takes the verified caller (UNAUTHENTICATED if
    /// the auth layer attached none) and the page-token binding.
    pub fn begin<T: prost::Message>(req: &tonic::Request<T>) -> Result<(Self, Caller), tonic::Status> {
        crate::layers::audit::note(req);
        let caller = caller(req)?;
        let (key, rpc) = match req.extensions().get::<PageKeys>() {
            Some(k) => (k.key.clone(), k.rpc.clone()),
            None => (FALLBACK_KEY.clone(), None),
        };
        let binding = Binding { key, rpc, subject: caller.subject.clone(), role: caller.role.as_str() };
        Ok((Self { binding }, caller))
    }

    /// Runs the handler body with this call's page-token binding in scope.
    pub async fn run<F: std::future::Future>(self, body: F) -> F::Output {
        BINDING.scope(self.binding, body).await
    }
}

/// A streaming call's response stream, kept only while its caller keeps their standing: checked
/// once per standing TTL, ended with PERMISSION_DENIED when lost
/// ([`crate::layers::standing::StandingGuard`]). Every server-streaming handler wraps its stream
/// with this, taking `guard` from the request before its body is read ([`stream_guard`]).
pub(crate) fn guard_stream<T: Send + 'static>(
    guard: Option<crate::layers::standing::StandingGuard>,
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send>>,
) -> std::pin::Pin<Box<dyn futures::Stream<Item = Result<T, tonic::Status>> + Send>> {
    match guard {
        Some(g) => g.guard(stream),
        // Only without the standing layer (unit tests): nothing to re-check against.
        None => stream,
    }
}

/// The standing guard the standing layer put on `req`.
pub(crate) fn stream_guard<T>(req: &tonic::Request<T>) -> Option<crate::layers::standing::StandingGuard> {
    req.extensions().get::<crate::layers::standing::StandingGuard>().cloned()
}

/// `f` with the page-token binding of the call running now, for a task the call spawns (a
/// stream's producer outlives the handler, and its tokens must bind as the call's own).
pub(crate) fn within_call<F: std::future::Future>(f: F) -> impl std::future::Future<Output = F::Output> {
    let binding = BINDING.try_with(Binding::clone).ok();
    async move {
        match binding {
            Some(b) => BINDING.scope(b, f).await,
            None => f.await,
        }
    }
}

fn with_binding<R>(f: impl FnOnce(&PageKey, &str) -> R) -> R {
    match BINDING.try_with(|b| (b.key.clone(), b.prefix())) {
        Ok((key, prefix)) => f(&key, &prefix),
        Err(_) => f(&FALLBACK_KEY, ""),
    }
}

/// Validates `page_size` and `page_token` of a list call with filter `filter` (any string that
/// differs when the filter differs). The token must have been issued by this server for the same
/// RPC, caller and filter; anything else is INVALID_ARGUMENT on `page_token`.
pub(crate) fn page(page_size: i32, page_token: &str, filter: &str) -> Result<PageRequest, ValidationError> {
    with_binding(|key, prefix| PageRequest::parse(key, page_size, page_token, &format!("{prefix}{filter}")))
}

/// The `next_page_token` continuing after `after` in the list call with filter `filter`.
pub(crate) fn next_page_token(after: Option<String>, filter: &str) -> String {
    after
        .map(|a| with_binding(|key, prefix| PageToken::encode(key, &a, &format!("{prefix}{filter}"))))
        .unwrap_or_default()
}

/// The caller the auth layer attached. Missing only if the layer was not installed, which is a
/// wiring bug, so it answers UNAUTHENTICATED rather than trusting anything.
pub(crate) fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| ApiError::Unauthenticated("no credentials".into()))
}

/// Validates a `request_id` and fingerprints the request it came with. `without_id` must be the
/// request message with `request_id` cleared, so a retry with the same body matches.
pub(crate) fn idempotency<M: prost::Message>(request_id: &str, without_id: &M) -> Result<Idempotency, ValidationError> {
    let id = request_id.trim();
    if id.is_empty() {
        return Err(ValidationError::one("request_id", "is required: send a unique ID (e.g. a UUID) per create"));
    }
    if id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValidationError::one("request_id", "must be 1-128 printable ASCII characters"));
    }
    let hash = Sha256::digest(without_id.encode_to_vec());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Idempotency { request_id: id.to_owned(), request_hash: hex })
}

/// Records the tenant on the RPC span.
pub(crate) fn record_tenant(tenant: &str) {
    tracing::Span::current().record("tenant", tenant);
}

/// The context of a write: its scope, who acts, the audited action (also the outbox event type;
/// one name per RPC, from [`AuditAction`]) and the trace id.
pub(crate) fn ctx<'a>(scope: &'a TenantScope, actor: &'a Caller, action: AuditAction) -> WriteCtx<'a> {
    WriteCtx { scope, actor, action: action.as_str(), trace_id: trace_id() }
}

/// The scope for `action` on department `target`; a refusal names `resource`.
pub(crate) fn scope_for(
    caller: &Caller,
    action: Action,
    target: &DepartmentId,
    resource: &str,
) -> Result<TenantScope, ApiError> {
    record_tenant(target.as_str());
    authorize(caller, action, Some(target)).map_err(|d| ApiError::from_denied(d, resource))
}

/// Scope for a list whose parent may be `departments/-` (`target` is `None`).
pub(crate) fn list_scope(
    caller: &Caller,
    action: Action,
    target: Option<&DepartmentId>,
    what: &str,
) -> Result<TenantScope, ApiError> {
    if let Some(d) = target {
        record_tenant(d.as_str());
    }
    authorize(caller, action, target).map_err(|d| ApiError::from_denied(d, what))
}

/// A new time-ordered ID (`{prefix}-{UUIDv7}`): sorting by ID sorts by creation time.
pub(crate) fn generated_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// The revision a conditional write must find: the client's etag if it sent one (stale →
/// ABORTED), else the revision just read.
pub(crate) fn expected_revision(field: &str, etag: &str, current: i64) -> Result<i64, ApiError> {
    if etag.is_empty() {
        return Ok(current);
    }
    let rev =
        revision_from_etag(etag).ok_or_else(|| ValidationError::one(field, "is not an etag returned by this API"))?;
    if rev != current {
        return Err(ApiError::Aborted);
    }
    Ok(rev)
}

/// Validated update-mask paths. An empty mask (or `*`) means every path in `all`.
pub(crate) fn mask_paths(
    mask: Option<&prost_types::FieldMask>,
    allowed: &[&str],
    all: &[&str],
) -> Result<Vec<String>, ValidationError> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() || paths.iter().any(|p| p == "*") {
        return Ok(all.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut errors = ValidationError::default();
    for (i, p) in paths.iter().enumerate() {
        if !allowed.contains(&p.as_str()) {
            errors.push(
                format!("update_mask.paths[{i}]"),
                format!("unknown or immutable field; allowed: {}", allowed.join(", ")),
            );
        }
    }
    errors.into_result().map(|()| paths.to_vec())
}

/// A protobuf timestamp as a UTC instant (microsecond precision, as stored).
pub(crate) fn time_from_pb(
    field: &str,
    t: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    t.map(|t| {
        let nanos = u32::try_from(t.nanos).map_err(|_| ValidationError::one(field, "is not a valid timestamp"))?;
        DateTime::from_timestamp(t.seconds, nanos)
            .map(|d| DateTime::from_timestamp_micros(d.timestamp_micros()).unwrap_or(d))
            .ok_or_else(|| ValidationError::one(field, "is not a valid timestamp"))
    })
    .transpose()
}

/// How an error message names a resource: `officer 'departments/x/officers/y'`.
pub(crate) fn label(kind: &str, name: &str) -> String {
    format!("{kind} '{name}'")
}
