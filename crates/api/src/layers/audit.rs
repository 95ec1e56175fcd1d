//! The audit of refused requests, as a tower layer.
//!
//! Successful writes and reads of resident data are audited by the store, in their own
//! transaction, with outcome `ok`. A request that would have changed something (or read a
//! resident's timeline) but was refused leaves no such row, so [`AuditLayer`] records one. The
//! action is the RPC's entry in the one vocabulary, [`AuditAction::of_rpc`] — the same name the
//! handler gives a successful call — and RPCs without one (plain reads) are not audited. The
//! layer gives the handler a slot that `note` (called by the handler kit before anything can
//! refuse the call) fills with the resource the request names, the caller's home department and
//! the trace id; when the response carries a non-OK gRPC status it appends one audit row with that
//! code as its outcome, even if the handler never ran (a layer further in refused the call): the
//! caller is the one the auth layer verified. The row goes to the caller's department; for the
//! Chief and auditors to the target department if it exists, else their home department.
use crate::layers::standing::HomeDepartment;
use crate::trace;
use cityserve_domain::policy::refusal_audit_scope;
use cityserve_domain::{Action, AuditAction, Caller, DepartmentId, authorize};
use cityserve_store::audit::{AuditStore, Refusal};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::{Code, Request};

/// What the handler of an audited RPC learnt about the request, for [`AuditLayer`].
#[derive(Debug, Clone)]
struct Noted {
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

/// Called by the handler kit before a handler runs: if the RPC is audited, remembers the resource
/// the request names, the caller's home department and the trace id. Cheap (nothing happens) for
/// plain reads.
pub(crate) fn note<T: prost::Message>(req: &Request<T>) {
    let Some(slot) = req.extensions().get::<AuditNote>() else { return };
    let noted = Noted {
        home: req.extensions().get::<HomeDepartment>().map(|h| h.0.clone()),
        resource: named_resource(&req.get_ref().encode_to_vec()).unwrap_or_default(),
        trace_id: crate::trace::trace_id(),
    };
    if let Ok(mut n) = slot.0.lock() {
        *n = Some(noted);
    }
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

/// The length-delimited fields of an encoded message, in order; `None` if it is not one. The
/// wire format is read with prost's own decoders (the message type is not known here: the layer
/// sits below every service).
fn delimited_fields(mut b: &[u8]) -> Option<Vec<&[u8]>> {
    use prost::encoding::{WireType, decode_key, decode_varint};
    let mut out = Vec::new();
    while !b.is_empty() {
        let (_, wire_type) = decode_key(&mut b).ok()?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut b).ok()?;
            }
            WireType::SixtyFourBit => b = b.get(8..)?,
            WireType::ThirtyTwoBit => b = b.get(4..)?,
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut b).ok()?).ok()?;
                out.push(b.get(..len)?);
                b = b.get(len..)?;
            }
            WireType::StartGroup | WireType::EndGroup => return None,
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
async fn record<S: AuditStore>(store: &S, action: AuditAction, code: Code, caller: &Caller, n: Noted) {
    let action = action.as_str();
    let target = target_department(&n.resource);
    let department = if caller.role.is_city_wide() {
        let exists = match &target {
            Some(d) => match authorize(caller, Action::ReadDepartment, Some(d)) {
                Ok(scope) => store.get_department(&scope, d).await.is_ok(),
                Err(_) => false,
            },
            None => false,
        };
        if exists { target } else { n.home.clone() }
    } else {
        match target {
            Some(d) if caller.belongs_to(&d) => Some(d),
            _ => caller.departments.first().cloned(),
        }
    };
    let Some((department, scope)) = department.and_then(|d| refusal_audit_scope(caller, &d).map(|s| (d, s))) else {
        tracing::warn!(
            action,
            outcome = outcome_of(code),
            "refused request not audited: no department to record it in"
        );
        return;
    };
    let refusal = Refusal {
        actor: caller,
        action,
        resource: &n.resource,
        outcome: outcome_of(code),
        trace_id: n.trace_id.as_deref(),
    };
    if let Err(e) = store.record_refusal(&scope, &department, &refusal).await {
        tracing::warn!(error = %e, action, "could not audit a refused request");
    }
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
        let trace = trace::traceparent_trace_id(req.headers());
        let Some(action) = AuditAction::of_rpc(req.uri().path()) else {
            return Box::pin(trace::scope(trace, inner.call(req)));
        };
        // Without a verified caller (refused by the auth layer) there is nobody to record.
        let Some(caller) = req.extensions().get::<Caller>().cloned() else {
            return Box::pin(trace::scope(trace, inner.call(req)));
        };
        let slot = AuditNote::default();
        req.extensions_mut().insert(slot.clone());
        let store = self.store.clone();
        Box::pin(async move {
            let response = trace::scope(trace.clone(), inner.call(req)).await?;
            if let Some(code) = refusal_of(response.headers()) {
                // A layer further in may have refused before the handler noted anything.
                let noted = slot.take().unwrap_or(Noted { home: None, resource: String::new(), trace_id: trace });
                record(&store, action, code, &caller, noted).await;
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cityserve_proto::v1 as pb;
    use prost::Message;

    #[test]
    fn mutations_and_timeline_reads_are_audited_plain_reads_are_not() {
        let a = |p: &str| AuditAction::of_rpc(p).map(AuditAction::as_str);
        assert_eq!(a("/cityserve.v1.FeedbackService/AcknowledgeCase"), Some("case.update"));
        assert_eq!(a("/cityserve.v1.FeedbackService/CloseCase"), Some("case.update"));
        assert_eq!(a("/cityserve.v1.DepartmentService/UpdateDepartment"), Some("department.update"));
        assert_eq!(a("/cityserve.v1.DepartmentService/CreateServiceCategory"), Some("service_category.create"));
        assert_eq!(a("/cityserve.v1.FeedbackService/GetResidentTimeline"), Some("timeline.read"));
        assert_eq!(a("/cityserve.v1.FeedbackService/EraseResident"), Some("resident.erase"));
        assert_eq!(a("/cityserve.v1.CoordinationService/VoteOnDumbRule"), Some("dumb_rule.vote"));
        assert_eq!(a("/cityserve.v1.OfficerService/AppointCso"), Some("appointment.cso"));
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

    /// Every RPC of the package is either a plain read (its name says so; a `Preview` renders
    /// and writes nothing) or has an entry in the one vocabulary: a new mutation cannot go
    /// unaudited.
    #[test]
    fn every_rpc_is_classified() {
        let fds = prost_types::FileDescriptorSet::decode(cityserve_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut mutations = 0;
        for file in fds.file.iter().filter(|f| f.package() == "cityserve.v1") {
            for service in &file.service {
                for m in &service.method {
                    let path = format!("/cityserve.v1.{}/{}", service.name(), m.name());
                    let read = ["Get", "List", "Watch", "Resolve", "Preview", "Suggest"]
                        .iter()
                        .any(|p| m.name().starts_with(p))
                        && m.name() != "GetResidentTimeline"
                        && m.name() != "GetOfficerFigures"
                        && m.name() != "ResolveCase"
                        && m.name() != "ResolveEscalation"
                        && m.name() != "ResolvePanelFinding";
                    assert_eq!(AuditAction::of_rpc(&path).is_none(), read, "{path}");
                    mutations += usize::from(!read);
                }
            }
        }
        let listed: usize = AuditAction::ALL.iter().map(|a| a.rpcs().len()).sum();
        assert_eq!(mutations, listed, "every listed RPC exists");
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
            contact: Some(pb::ResidentContact {
                email: "jo@example.org".into(),
                phone: "+15551234567".into(),
                ..Default::default()
            }),
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
}
