//! `cityserve.v1.AuditService` (the audit log for the Chief and auditors) and the auditing of
//! refused requests.
//!
//! Successful writes and reads of resident data are audited by the store, in their own
//! transaction, with outcome `ok`. A request that would have changed something (or read a
//! resident's timeline) but was refused leaves no such row, so [`AuditLayer`] records one: it
//! classifies each RPC by its method (`Get*`, `List*`, `Watch` and `ResolveServiceStandard` are
//! plain reads and are not audited), gives the handler a slot that [`note`] (called by the
//! `handle!` macro) fills with the verified caller, the resource the request names and the trace
//! id, and when the response carries a non-OK gRPC status appends one audit row with that code as
//! its outcome. The row goes to the caller's department; for the Chief and auditors to the target
//! department if it exists, else their home department.
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::names;
use crate::officers::{list_scope, time_from_pb};
use crate::standing::HomeDepartment;
use cityserve_domain::policy::refusal_audit_scope;
use cityserve_domain::{Action, Caller, DepartmentId, PageRequest, PageToken, ValidationError, authorize};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::audit_service_server::AuditService;
use cityserve_store::audit::{AuditEvent, AuditFilter, AuditStore, Refusal};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::{Code, Request, Response, Status};

const FILTER_MAX: usize = 200;
/// The package whose RPCs are audited (not health or reflection).
const PACKAGE: &str = "cityserve.v1.";

/// The AuditService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct AuditApi<S> {
    store: S,
}

fn event_to_pb(e: &AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        name: format!("departments/{}/auditEvents/{}", e.department, e.id),
        department: cityserve_store::resource::department(&e.department),
        actor: e.actor_subject.clone(),
        role: e.actor_role.clone(),
        action: e.action.clone(),
        resource: e.resource.clone(),
        outcome: e.outcome.clone(),
        trace_id: e.trace_id.clone().unwrap_or_default(),
        occur_time: Some(timestamp(e.occurred_at)),
    }
}

fn optional_filter(errors: &mut ValidationError, field: &str, v: &str) -> Option<String> {
    let v = v.trim();
    if v.len() > FILTER_MAX {
        errors.violations.push(cityserve_domain::FieldViolation {
            field: field.to_owned(),
            description: format!("must be at most {FILTER_MAX} characters"),
        });
        return None;
    }
    (!v.is_empty()).then(|| v.to_owned())
}

impl<S: AuditStore> AuditApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::audit_service_server::AuditServiceServer<Self> {
        pb::audit_service_server::AuditServiceServer::new(self)
    }

    async fn list(
        &self,
        caller: Caller,
        r: pb::ListAuditEventsRequest,
    ) -> Result<pb::ListAuditEventsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let target = errors.check(names::department_or_all("parent", &r.parent));
        let filter = AuditFilter {
            actor_subject: optional_filter(&mut errors, "actor", &r.actor),
            action_prefix: optional_filter(&mut errors, "action_prefix", &r.action_prefix),
            outcome: optional_filter(&mut errors, "outcome", &r.outcome),
            start: errors.check(time_from_pb("start_time", r.start_time.as_ref())).flatten(),
            end: errors.check(time_from_pb("end_time", r.end_time.as_ref())).flatten(),
        };
        if let (Some(s), Some(e)) = (filter.start, filter.end)
            && s >= e
        {
            errors.violations.push(cityserve_domain::FieldViolation {
                field: "end_time".into(),
                description: "must be after start_time".into(),
            });
        }
        errors.into_result()?;
        let Some(target) = target else { return Err(ValidationError::one("parent", "is invalid").into()) };
        let key = format!("audit|{}|{filter:?}", r.parent);
        let page = PageRequest::parse(r.page_size, &r.page_token, &key)?;
        let scope = list_scope(&caller, Action::ReadAudit, target.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_audit_events(&scope, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListAuditEventsResponse {
            audit_events: p.items.iter().map(event_to_pb).collect(),
            next_page_token: p.next_after.map(|a| PageToken::encode(&a, &key)).unwrap_or_default(),
        })
    }
}

#[tonic::async_trait]
impl<S: AuditStore> AuditService for AuditApi<S> {
    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        handle!(req, |c, r| self.list(c, r), |x| x)
    }
}

/// What the handler of an audited RPC learnt about the request, for [`AuditLayer`].
#[derive(Debug, Clone)]
struct Noted {
    caller: Caller,
    home: Option<DepartmentId>,
    resource: String,
    trace_id: Option<String>,
}

/// The slot [`AuditLayer`] puts into an audited RPC's request extensions.
#[derive(Debug, Clone, Default)]
pub struct AuditNote(Arc<Mutex<Option<Noted>>>);

impl AuditNote {
    fn take(&self) -> Option<Noted> {
        self.0.lock().map(|mut n| n.take()).unwrap_or_default()
    }
}

/// Called by `handle!` before a handler runs: if the RPC is audited, remembers who calls, the
/// resource the request names and the trace id. Cheap (nothing happens) for plain reads.
pub(crate) fn note<T: prost::Message>(req: &Request<T>) {
    let Some(slot) = req.extensions().get::<AuditNote>() else { return };
    let Some(caller) = req.extensions().get::<Caller>() else { return };
    let noted = Noted {
        caller: caller.clone(),
        home: req.extensions().get::<HomeDepartment>().map(|h| h.0.clone()),
        resource: named_resource(&req.get_ref().encode_to_vec()).unwrap_or_default(),
        trace_id: crate::request::trace_id(),
    };
    if let Ok(mut n) = slot.0.lock() {
        *n = Some(noted);
    }
}

/// The audit action of an RPC path (`/cityserve.v1.FeedbackService/AcknowledgeCase` ->
/// `case.acknowledge`), or `None` for RPCs that are not audited (plain reads, other packages).
pub fn audited_action(path: &str) -> Option<String> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if !service.starts_with(PACKAGE) || method.is_empty() {
        return None;
    }
    let fixed = match method {
        "GetResidentTimeline" => Some("timeline.read"),
        "BatchSubmitFeedback" => Some("feedback.submit"),
        "VoteOnDumbRule" => Some("dumb_rule.vote"),
        "AppointCso" => Some("appointment.cso"),
        "AppointChief" => Some("appointment.chief"),
        "CreateTrainingRecord" => Some("training.create"),
        "Watch" | "ResolveServiceStandard" => return None,
        m if m.starts_with("Get") || m.starts_with("List") => return None,
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_owned());
    }
    // `VerbNounNoun` -> `noun_noun.verb`.
    let mut words: Vec<String> = Vec::new();
    for c in method.chars() {
        if c.is_ascii_uppercase() || words.is_empty() {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.push(c.to_ascii_lowercase());
        }
    }
    let verb = words.first()?.clone();
    let noun = words[1..].join("_");
    Some(if noun.is_empty() { verb } else { format!("{noun}.{verb}") })
}

const COLLECTIONS: [&str; 4] = ["departments", "residents", "dumbRules", "apiKeys"];

/// Whether `s` has the shape of one of our resource names (`departments/streets/cases/c-1`,
/// `residents/{key}`). Contact details, free text and anything else never match, so no PII can
/// reach an audit row through it.
fn is_resource_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    s.len() <= 300
        && parts.len() >= 2
        && parts.len().is_multiple_of(2)
        && COLLECTIONS.contains(&parts[0])
        && parts.iter().all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        })
}

/// The length-delimited fields of an encoded message, in order; `None` if it is not one.
fn delimited_fields(mut b: &[u8]) -> Option<Vec<&[u8]>> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let tag = varint(&mut b)?;
        if tag >> 3 == 0 {
            return None;
        }
        match tag & 7 {
            0 => {
                varint(&mut b)?;
            }
            1 => b = b.get(8..)?,
            5 => b = b.get(4..)?,
            2 => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                out.push(b.get(..len)?);
                b = b.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The resource an encoded request names: the first string field shaped like a resource name
/// (`name`, `parent`, `case`, `resident`, ...), else the first such field one message down (e.g.
/// `department.name` of UpdateDepartment).
fn named_resource(encoded: &[u8]) -> Option<String> {
    let fields = delimited_fields(encoded)?;
    let as_name = |f: &&[u8]| std::str::from_utf8(f).ok().filter(|s| is_resource_name(s)).map(str::to_owned);
    fields
        .iter()
        .find_map(as_name)
        .or_else(|| fields.iter().filter_map(|f| delimited_fields(f)).find_map(|inner| inner.iter().find_map(as_name)))
}

/// `departments/{d}/...` -> `d`.
fn target_department(resource: &str) -> Option<DepartmentId> {
    let mut parts = resource.split('/');
    (parts.next()? == "departments").then_some(())?;
    DepartmentId::parse("department", parts.next()?).ok()
}

/// The snake_case name of a gRPC code, as recorded in `outcome`.
pub fn outcome_of(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The refusal a response carries: a handler's error is answered trailers-only, so its
/// `grpc-status` is in the headers.
fn refusal_of(headers: &http::HeaderMap) -> Option<Code> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from_i32(code)).filter(|c| *c != Code::Ok)
}

/// Appends the audit record of a refused request (failures are logged: the refusal stands).
async fn record<S: AuditStore>(store: &S, action: &str, code: Code, n: Noted) {
    let target = target_department(&n.resource);
    let department = if n.caller.role.is_city_wide() {
        let exists = match &target {
            Some(d) => match authorize(&n.caller, Action::ReadDepartment, Some(d)) {
                Ok(scope) => store.get_department(&scope, d).await.is_ok(),
                Err(_) => false,
            },
            None => false,
        };
        if exists { target } else { n.home.clone() }
    } else {
        match target {
            Some(d) if n.caller.belongs_to(&d) => Some(d),
            _ => n.caller.departments.first().cloned(),
        }
    };
    let Some((department, scope)) = department.and_then(|d| refusal_audit_scope(&n.caller, &d).map(|s| (d, s))) else {
        tracing::warn!(
            action,
            outcome = outcome_of(code),
            "refused request not audited: no department to record it in"
        );
        return;
    };
    let refusal = Refusal {
        actor: &n.caller,
        action,
        resource: &n.resource,
        outcome: outcome_of(code),
        trace_id: n.trace_id.as_deref(),
    };
    if let Err(e) = store.record_refusal(&scope, &department, &refusal).await {
        tracing::warn!(error = %e, action, "could not audit a refused request");
    }
}

tokio::task_local! {
    /// The trace id of the request's W3C `traceparent`, for audit rows when no OpenTelemetry
    /// subscriber is installed (with one, the RPC span carries the same trace id).
    static INCOMING_TRACE: Option<String>;
}

/// The trace id the current request arrived with in `traceparent`, if any.
pub(crate) fn incoming_trace_id() -> Option<String> {
    INCOMING_TRACE.try_with(Clone::clone).ok().flatten()
}

/// The trace id of a W3C `traceparent` header (`00-{trace id}-{parent id}-{flags}`).
fn traceparent_trace_id(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?.trim();
    let mut parts = v.split('-');
    let (version, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
    let _flags = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex(version, 2) && version != "ff" && hex(trace, 32) && hex(parent, 16) && trace.bytes().any(|b| b != b'0'))
        .then(|| trace.to_owned())
}

/// A tower layer recording an audit row for every refused mutation and refused read of resident
/// data (see the module documentation).
#[derive(Clone)]
pub struct AuditLayer<S> {
    store: S,
}

impl<S: AuditStore> AuditLayer<S> {
    /// A layer writing to `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }
}

impl<S: Clone, I> tower::Layer<I> for AuditLayer<S> {
    type Service = AuditedService<S, I>;
    fn layer(&self, inner: I) -> Self::Service {
        AuditedService { inner, store: self.store.clone() }
    }
}

/// The service produced by [`AuditLayer`].
#[derive(Clone)]
pub struct AuditedService<S, I> {
    inner: I,
    store: S,
}

impl<S, I, B, ResBody> tower::Service<http::Request<B>> for AuditedService<S, I>
where
    S: AuditStore,
    I: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Send + 'static,
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
        let trace = traceparent_trace_id(req.headers());
        let Some(action) = audited_action(req.uri().path()) else {
            return Box::pin(INCOMING_TRACE.scope(trace, inner.call(req)));
        };
        let slot = AuditNote::default();
        req.extensions_mut().insert(slot.clone());
        let store = self.store.clone();
        Box::pin(async move {
            let response = INCOMING_TRACE.scope(trace, inner.call(req)).await?;
            if let Some(code) = refusal_of(response.headers())
                && let Some(noted) = slot.take()
            {
                record(&store, &action, code, noted).await;
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prost::Message;

    #[test]
    fn mutations_and_timeline_reads_are_audited_plain_reads_are_not() {
        let a = |p: &str| audited_action(p);
        assert_eq!(a("/cityserve.v1.FeedbackService/AcknowledgeCase").as_deref(), Some("case.acknowledge"));
        assert_eq!(a("/cityserve.v1.DepartmentService/UpdateDepartment").as_deref(), Some("department.update"));
        assert_eq!(
            a("/cityserve.v1.DepartmentService/CreateServiceCategory").as_deref(),
            Some("service_category.create")
        );
        assert_eq!(a("/cityserve.v1.FeedbackService/GetResidentTimeline").as_deref(), Some("timeline.read"));
        assert_eq!(a("/cityserve.v1.FeedbackService/EraseResident").as_deref(), Some("resident.erase"));
        assert_eq!(a("/cityserve.v1.CoordinationService/VoteOnDumbRule").as_deref(), Some("dumb_rule.vote"));
        for read in [
            "/cityserve.v1.FeedbackService/GetCase",
            "/cityserve.v1.FeedbackService/ListCases",
            "/cityserve.v1.CoordinationService/Watch",
            "/cityserve.v1.DepartmentService/ResolveServiceStandard",
            "/cityserve.v1.AuditService/ListAuditEvents",
            "/grpc.health.v1.Health/Check",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        ] {
            assert_eq!(a(read), None, "{read}");
        }
    }

    #[test]
    fn the_named_resource_is_found_but_contact_details_never_are() {
        let ack = pb::AcknowledgeCaseRequest {
            name: "departments/streets/cases/c-1".into(),
            etag: "W/1".into(),
            note: "departments/x y".into(),
        };
        assert_eq!(named_resource(&ack.encode_to_vec()).as_deref(), Some("departments/streets/cases/c-1"));
        let update = pb::UpdateDepartmentRequest {
            department: Some(pb::Department { name: "departments/water".into(), ..Default::default() }),
            update_mask: None,
        };
        assert_eq!(named_resource(&update.encode_to_vec()).as_deref(), Some("departments/water"));
        let by_key = pb::GetResidentTimelineRequest { resident: "residents/r-abc_1".into(), contact: None };
        assert_eq!(named_resource(&by_key.encode_to_vec()).as_deref(), Some("residents/r-abc_1"));
        let by_contact = pb::GetResidentTimelineRequest {
            resident: String::new(),
            contact: Some(pb::ResidentContact { email: "jo@example.org".into(), phone: "+15551234567".into() }),
        };
        assert_eq!(named_resource(&by_contact.encode_to_vec()), None);
        for not_a_name in ["departments", "departments/", "departments/a b", "residents/jo@example.org", "x/y"] {
            assert!(!is_resource_name(not_a_name), "{not_a_name}");
        }
        assert_eq!(named_resource(&[0xff, 0xff]), None, "garbage is ignored");
        assert_eq!(target_department("departments/streets/cases/c-1").unwrap().as_str(), "streets");
        assert_eq!(target_department("residents/r-1"), None);
    }

    #[test]
    fn refusals_are_read_from_trailers_only_responses() {
        let mut h = http::HeaderMap::new();
        assert_eq!(refusal_of(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("0"));
        assert_eq!(refusal_of(&h), None);
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(refusal_of(&h), Some(Code::NotFound));
        assert_eq!(outcome_of(Code::PermissionDenied), "permission_denied");
    }

    #[test]
    fn trace_ids_are_read_from_valid_traceparents_only() {
        let tp = |v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert("traceparent", http::HeaderValue::from_static(v));
            traceparent_trace_id(&h)
        };
        assert_eq!(
            tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(tp("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("garbage"), None);
    }
}
