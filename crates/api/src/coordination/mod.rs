//! `cityserve.v1.CoordinationService`: hand-offs, escalations, initiatives, the dumb rules
//! register, report cards, the city dashboard and the live event stream.
use crate::convert::{channel_to_pb, timestamp};
use crate::error::ApiError;
use crate::feedback::{case_to_pb, kind_to_pb};
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, list_scope, next_page_token, page, record_tenant, scope_for,
    time_from_pb,
};
use crate::names;
use chrono::{NaiveDate, Utc};
use cityserve_domain::coordination::{
    self, DumbRule, DumbRuleStatus, Escalation, EscalationChange, EscalationStatus, EscalationTrigger, Handoff,
    HandoffKind, HandoffResponse, HandoffStatus, Initiative, InitiativeStatus, Milestone, NewDumbRule, NewHandoff,
    RuleDecision, RuleVerdict, RuleVote,
};
use cityserve_domain::policy::handoff_scope;
use cityserve_domain::report::{self, FocusProgress, LiveFigures, Metrics, Period, PeriodKind, ReportCard};
use cityserve_domain::validation::{optional_text, required_text};
use cityserve_domain::{
    Action, AuditAction, Caller, CaseId, DepartmentId, DepartmentStatus, DumbRuleId, FeedbackId, OfficerId,
    ServiceCategoryId, TenantScope, ValidationError, authorize, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::coordination_service_server::CoordinationService;
use cityserve_store::coordination::{
    CoordinationStore, Direction, DumbRuleFilter, DumbRuleOrder, EscalationFilter, Event, EventCursor, EventFilter,
    HandoffFilter, InitiativeFilter, NewEscalation,
};
use cityserve_store::{now_micros, resource};
use std::pin::Pin;
use std::time::Duration;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub(crate) mod dumb_rules;
mod escalations;
mod events;
mod handoffs;
pub(crate) mod initiatives;
pub(crate) mod reports;

use dumb_rules::*;
use escalations::*;
use events::*;
use handoffs::*;
use initiatives::*;

pub(super) const REASON_MAX: usize = 2_000;
pub(super) const NOTE_MAX: usize = 4_000;
pub(super) const TITLE_MAX: usize = 200;
pub(super) const MAX_MEMBERS: usize = 20;
pub(super) const MAX_MILESTONES: usize = 100;
pub(super) const MAX_LINKS: usize = 500;
pub(super) const MAX_EVIDENCE: usize = 100;
/// Events read per database round trip of a Watch stream.
pub(super) const WATCH_BATCH: u32 = 256;
/// A Watch stream re-reads at least this often, even without a signal (a safety net for a lost
/// notification, e.g. while the PostgreSQL listener reconnects).
pub(super) const WATCH_POLL: Duration = Duration::from_secs(2);

/// The CoordinationService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct CoordinationApi<S> {
    store: S,
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Keeps the default (never signalled) shutdown channel open.
    _never: Option<std::sync::Arc<tokio::sync::watch::Sender<bool>>>,
}

impl<S: CoordinationStore> CoordinationApi<S> {
    /// A service backed by `store`.
    pub fn new(store: S) -> Self {
        let (never, shutdown) = tokio::sync::watch::channel(false);
        Self { store, shutdown, _never: Some(std::sync::Arc::new(never)) }
    }

    /// Ends open Watch streams (with UNAVAILABLE, so clients resume elsewhere) once `shutdown`
    /// turns true: a graceful shutdown does not wait for subscribers that never hang up.
    pub fn with_shutdown(mut self, shutdown: tokio::sync::watch::Receiver<bool>) -> Self {
        self.shutdown = shutdown;
        self._never = None;
        self
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::coordination_service_server::CoordinationServiceServer<Self> {
        pb::coordination_service_server::CoordinationServiceServer::new(self)
    }
}

fn dept_names(ds: &[DepartmentId]) -> Vec<String> {
    ds.iter().map(resource::department).collect()
}

#[tonic::async_trait]
impl<S: CoordinationStore> CoordinationService for CoordinationApi<S> {
    async fn send_handoff(
        &self,
        req: Request<pb::SendHandoffRequest>,
    ) -> Result<Response<pb::SendHandoffResponse>, Status> {
        handle!(req, |c, r| self.send_handoff(c, r), |x| x)
    }

    async fn get_handoff(
        &self,
        req: Request<pb::GetHandoffRequest>,
    ) -> Result<Response<pb::GetHandoffResponse>, Status> {
        handle!(req, |c, r| async move { self.read_handoff(&c, &r.name).await }, |h: Handoff| pb::GetHandoffResponse {
            handoff: Some(handoff_to_pb(&h))
        })
    }

    async fn list_handoffs(
        &self,
        req: Request<pb::ListHandoffsRequest>,
    ) -> Result<Response<pb::ListHandoffsResponse>, Status> {
        handle!(req, |c, r| self.list_handoffs(c, r), |x| x)
    }

    async fn accept_handoff(
        &self,
        req: Request<pb::AcceptHandoffRequest>,
    ) -> Result<Response<pb::AcceptHandoffResponse>, Status> {
        handle!(req, |c, r| self.accept_handoff(c, r), |x| x)
    }

    async fn decline_handoff(
        &self,
        req: Request<pb::DeclineHandoffRequest>,
    ) -> Result<Response<pb::DeclineHandoffResponse>, Status> {
        handle!(req, |c, r| self.decline_handoff(c, r), |x| x)
    }

    async fn get_case_path(
        &self,
        req: Request<pb::GetCasePathRequest>,
    ) -> Result<Response<pb::GetCasePathResponse>, Status> {
        handle!(req, |c, r| self.case_path(c, r), |x| x)
    }

    async fn escalate_case(
        &self,
        req: Request<pb::EscalateCaseRequest>,
    ) -> Result<Response<pb::EscalateCaseResponse>, Status> {
        handle!(req, |c, r| self.escalate(c, r), |x| x)
    }

    async fn get_escalation(
        &self,
        req: Request<pb::GetEscalationRequest>,
    ) -> Result<Response<pb::GetEscalationResponse>, Status> {
        handle!(
            req,
            |c, r| async move { self.read_escalation(&c, Action::ReadEscalations, &r.name).await },
            |(_, e): (TenantScope, Escalation)| pb::GetEscalationResponse { escalation: Some(escalation_to_pb(&e)) }
        )
    }

    async fn list_escalations(
        &self,
        req: Request<pb::ListEscalationsRequest>,
    ) -> Result<Response<pb::ListEscalationsResponse>, Status> {
        handle!(req, |c, r| self.list_escalations(c, r), |x| x)
    }

    async fn acknowledge_escalation(
        &self,
        req: Request<pb::AcknowledgeEscalationRequest>,
    ) -> Result<Response<pb::AcknowledgeEscalationResponse>, Status> {
        handle!(
            req,
            |c, r| async move { self.change_escalation(c, &r.name, &r.etag, EscalationChange::Acknowledge).await },
            |e: Escalation| pb::AcknowledgeEscalationResponse { escalation: Some(escalation_to_pb(&e)) }
        )
    }

    async fn resolve_escalation(
        &self,
        req: Request<pb::ResolveEscalationRequest>,
    ) -> Result<Response<pb::ResolveEscalationResponse>, Status> {
        handle!(
            req,
            |c, r| async move {
                let note = required_text("resolution", &r.resolution, NOTE_MAX)?;
                self.change_escalation(c, &r.name, &r.etag, EscalationChange::Resolve(note)).await
            },
            |e: Escalation| pb::ResolveEscalationResponse { escalation: Some(escalation_to_pb(&e)) }
        )
    }

    async fn create_initiative(
        &self,
        req: Request<pb::CreateInitiativeRequest>,
    ) -> Result<Response<pb::CreateInitiativeResponse>, Status> {
        handle!(req, |c, r| self.create_initiative(c, r), |x| x)
    }

    async fn get_initiative(
        &self,
        req: Request<pb::GetInitiativeRequest>,
    ) -> Result<Response<pb::GetInitiativeResponse>, Status> {
        handle!(req, |c, r| async move { self.get_initiative(c, &r.name).await }, |i: Initiative| {
            pb::GetInitiativeResponse { initiative: Some(initiative_to_pb(&i)) }
        })
    }

    async fn list_initiatives(
        &self,
        req: Request<pb::ListInitiativesRequest>,
    ) -> Result<Response<pb::ListInitiativesResponse>, Status> {
        handle!(req, |c, r| self.list_initiatives(c, r), |x| x)
    }

    async fn update_initiative(
        &self,
        req: Request<pb::UpdateInitiativeRequest>,
    ) -> Result<Response<pb::UpdateInitiativeResponse>, Status> {
        handle!(req, |c, r| self.update_initiative(c, r), |x| x)
    }

    async fn report_dumb_rule(
        &self,
        req: Request<pb::ReportDumbRuleRequest>,
    ) -> Result<Response<pb::ReportDumbRuleResponse>, Status> {
        handle!(req, |c, r| self.report_rule(c, r), |x| x)
    }

    async fn get_dumb_rule(
        &self,
        req: Request<pb::GetDumbRuleRequest>,
    ) -> Result<Response<pb::GetDumbRuleResponse>, Status> {
        handle!(req, |c, r| async move { self.get_rule(&c, &r.name).await }, |(_, rule): (TenantScope, DumbRule)| {
            pb::GetDumbRuleResponse { dumb_rule: Some(rule_to_pb(&rule)) }
        })
    }

    async fn list_dumb_rules(
        &self,
        req: Request<pb::ListDumbRulesRequest>,
    ) -> Result<Response<pb::ListDumbRulesResponse>, Status> {
        handle!(req, |c, r| self.list_rules(c, r), |x| x)
    }

    async fn vote_on_dumb_rule(
        &self,
        req: Request<pb::VoteOnDumbRuleRequest>,
    ) -> Result<Response<pb::VoteOnDumbRuleResponse>, Status> {
        handle!(req, |c, r| self.vote(c, r), |x| x)
    }

    async fn decide_dumb_rule(
        &self,
        req: Request<pb::DecideDumbRuleRequest>,
    ) -> Result<Response<pb::DecideDumbRuleResponse>, Status> {
        handle!(req, |c, r| self.decide(c, r), |x| x)
    }

    async fn get_report_card(
        &self,
        req: Request<pb::GetReportCardRequest>,
    ) -> Result<Response<pb::GetReportCardResponse>, Status> {
        handle!(req, |c, r| self.report_card(c, r), |x| x)
    }

    async fn get_city_dashboard(
        &self,
        req: Request<pb::GetCityDashboardRequest>,
    ) -> Result<Response<pb::GetCityDashboardResponse>, Status> {
        handle!(req, |c, r| self.dashboard(c, r), |x| x)
    }

    async fn record_focus_progress(
        &self,
        req: Request<pb::RecordFocusProgressRequest>,
    ) -> Result<Response<pb::RecordFocusProgressResponse>, Status> {
        handle!(req, |c, r| self.focus(c, r), |x| x)
    }

    type WatchStream = WatchStream;

    async fn watch(&self, req: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let guard = crate::kit::stream_guard(&req);
        handle!(req, |c, r| self.watch(c, r), |x| crate::kit::guard_stream(guard, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_pongs_count_returns() {
        let d = |s: &str| DepartmentId::parse("d", s).unwrap();
        assert_eq!(ping_pongs(&[d("streets")]), 0);
        assert_eq!(ping_pongs(&[d("streets"), d("water"), d("streets")]), 1);
        assert_eq!(ping_pongs(&[d("streets"), d("water"), d("streets"), d("water")]), 2);
    }

    #[test]
    fn event_payloads_become_structs() {
        let e = Event {
            sequence: 7,
            department_id: DepartmentId::parse("d", "water").unwrap(),
            event_type: "handoff.send".into(),
            resource: "departments/water/handoffs/ho-1".into(),
            payload: r#"{"handoff":"ho-1","ping_pong":true,"n":2}"#.into(),
            occurred_at: Utc::now(),
        };
        let pb = event_to_pb(e);
        let fields = pb.payload.unwrap().fields;
        assert_eq!(fields["handoff"].kind, Some(prost_types::value::Kind::StringValue("ho-1".into())));
        assert_eq!(fields["ping_pong"].kind, Some(prost_types::value::Kind::BoolValue(true)));
        assert_eq!(pb.department, "departments/water");
    }
}
