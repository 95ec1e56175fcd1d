//! `cityserve.v1.AuditService`: the audit log for the Chief and auditors. How refusals get their
//! rows: [`crate::layers::audit`].
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{list_scope, next_page_token, page, time_from_pb};
use crate::names;
use cityserve_domain::validation::single_line;
use cityserve_domain::{Action, Caller, ValidationError};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::audit_service_server::AuditService;
use cityserve_store::audit::{AuditEvent, AuditFilter, AuditStore};
use tonic::{Request, Response, Status};

const FILTER_MAX: usize = 200;

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
    errors.check(single_line(field, v, FILTER_MAX)).filter(|v| !v.is_empty())
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
        let page = page(r.page_size, &r.page_token, &key)?;
        let scope = list_scope(&caller, Action::ReadAudit, target.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_audit_events(&scope, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListAuditEventsResponse {
            audit_events: p.items.iter().map(event_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &key),
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
