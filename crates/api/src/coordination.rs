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

const REASON_MAX: usize = 2_000;
const NOTE_MAX: usize = 4_000;
const TITLE_MAX: usize = 200;
const MAX_MEMBERS: usize = 20;
const MAX_MILESTONES: usize = 100;
const MAX_LINKS: usize = 500;
const MAX_EVIDENCE: usize = 100;
/// Events read per database round trip of a Watch stream.
const WATCH_BATCH: u32 = 256;
/// A Watch stream re-reads at least this often, even without a signal (a safety net for a lost
/// notification, e.g. while the PostgreSQL listener reconnects).
const WATCH_POLL: Duration = Duration::from_secs(2);

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

fn handoff_to_pb(h: &Handoff) -> pb::Handoff {
    pb::Handoff {
        name: resource::handoff(&h.department_id, &h.id),
        case: resource::case(&h.department_id, &h.case_id),
        to_department: resource::department(&h.to_department),
        kind: match h.kind {
            HandoffKind::Transfer => pb::HandoffKind::Transfer,
            HandoffKind::Referral => pb::HandoffKind::Referral,
        } as i32,
        state: match h.status {
            HandoffStatus::Pending => pb::HandoffState::Pending,
            HandoffStatus::Accepted => pb::HandoffState::Accepted,
            HandoffStatus::Declined => pb::HandoffState::Declined,
        } as i32,
        reason: h.reason.clone(),
        decline_reason: h.decline_reason.clone(),
        path: dept_names(&h.path),
        ping_pong: h.ping_pong,
        accept_due_time: Some(timestamp(h.accept_due)),
        creator: h.created_by.clone(),
        create_time: Some(timestamp(h.create_time)),
        responder: h.responded_by.clone(),
        respond_time: h.respond_time.map(timestamp),
        received_case: h.received_case.as_ref().map(|c| resource::case(&h.to_department, c)).unwrap_or_default(),
        etag: etag_for(h.revision),
    }
}

fn handoff_state_from_pb(field: &str, v: i32) -> Result<Option<HandoffStatus>, ValidationError> {
    match pb::HandoffState::try_from(v) {
        Ok(pb::HandoffState::Unspecified) => Ok(None),
        Ok(pb::HandoffState::Pending) => Ok(Some(HandoffStatus::Pending)),
        Ok(pb::HandoffState::Accepted) => Ok(Some(HandoffStatus::Accepted)),
        Ok(pb::HandoffState::Declined) => Ok(Some(HandoffStatus::Declined)),
        Err(_) => Err(ValidationError::one(field, "is not a known HandoffState")),
    }
}

fn escalation_to_pb(e: &Escalation) -> pb::Escalation {
    pb::Escalation {
        name: resource::escalation(&e.department_id, &e.id),
        case: resource::case(&e.case_department, &e.case_id),
        handoff: e.handoff.as_ref().map(|(d, h)| resource::handoff(d, h)).unwrap_or_default(),
        trigger: match e.trigger {
            EscalationTrigger::Manual => pb::EscalationTrigger::Manual,
            EscalationTrigger::AcknowledgeBreach => pb::EscalationTrigger::AcknowledgeBreach,
            EscalationTrigger::ResolveBreach => pb::EscalationTrigger::ResolveBreach,
            EscalationTrigger::HandoffTimeout => pb::EscalationTrigger::HandoffTimeout,
        } as i32,
        state: match e.status {
            EscalationStatus::Open => pb::EscalationState::Open,
            EscalationStatus::Acknowledged => pb::EscalationState::Acknowledged,
            EscalationStatus::Resolved => pb::EscalationState::Resolved,
        } as i32,
        reason: e.reason.clone(),
        resolution: e.resolution.clone(),
        creator: e.created_by.clone(),
        create_time: Some(timestamp(e.create_time)),
        acknowledge_time: e.acknowledge_time.map(timestamp),
        resolve_time: e.resolve_time.map(timestamp),
        etag: etag_for(e.revision),
    }
}

fn initiative_state_from_pb(field: &str, v: i32) -> Result<Option<InitiativeStatus>, ValidationError> {
    match pb::InitiativeState::try_from(v) {
        Ok(pb::InitiativeState::Unspecified) => Ok(None),
        Ok(pb::InitiativeState::Proposed) => Ok(Some(InitiativeStatus::Proposed)),
        Ok(pb::InitiativeState::Active) => Ok(Some(InitiativeStatus::Active)),
        Ok(pb::InitiativeState::Done) => Ok(Some(InitiativeStatus::Done)),
        Ok(pb::InitiativeState::Dropped) => Ok(Some(InitiativeStatus::Dropped)),
        Err(_) => Err(ValidationError::one(field, "is not a known InitiativeState")),
    }
}

fn initiative_state_to_pb(s: InitiativeStatus) -> pb::InitiativeState {
    match s {
        InitiativeStatus::Proposed => pb::InitiativeState::Proposed,
        InitiativeStatus::Active => pb::InitiativeState::Active,
        InitiativeStatus::Done => pb::InitiativeState::Done,
        InitiativeStatus::Dropped => pb::InitiativeState::Dropped,
    }
}

fn initiative_to_pb(i: &Initiative) -> pb::Initiative {
    pb::Initiative {
        name: resource::initiative(&i.department_id, &i.id),
        title: i.title.clone(),
        goal: i.goal.clone(),
        owner: resource::officer(&i.department_id, &i.owner),
        member_departments: dept_names(&i.members),
        state: initiative_state_to_pb(i.status) as i32,
        milestones: i
            .milestones
            .iter()
            .map(|m| pb::Milestone {
                title: m.title.clone(),
                due_time: m.due_time.map(timestamp),
                done_time: m.done_time.map(timestamp),
            })
            .collect(),
        cases: i.cases.iter().map(|(d, c)| resource::case(d, c)).collect(),
        dumb_rules: i.dumb_rules.iter().map(resource::dumb_rule).collect(),
        create_time: Some(timestamp(i.create_time)),
        update_time: Some(timestamp(i.update_time)),
        etag: etag_for(i.revision),
    }
}

fn verdict_from_pb(field: &str, v: i32) -> Result<RuleVerdict, ValidationError> {
    match pb::RuleVerdict::try_from(v) {
        Ok(pb::RuleVerdict::Kill) => Ok(RuleVerdict::Kill),
        Ok(pb::RuleVerdict::Revise) => Ok(RuleVerdict::Revise),
        Ok(pb::RuleVerdict::Keep) => Ok(RuleVerdict::Keep),
        Ok(pb::RuleVerdict::Unspecified) => Err(ValidationError::one(field, "is required: KILL, REVISE or KEEP")),
        Err(_) => Err(ValidationError::one(field, "is not a known RuleVerdict")),
    }
}

fn verdict_to_pb(v: RuleVerdict) -> pb::RuleVerdict {
    match v {
        RuleVerdict::Kill => pb::RuleVerdict::Kill,
        RuleVerdict::Revise => pb::RuleVerdict::Revise,
        RuleVerdict::Keep => pb::RuleVerdict::Keep,
    }
}

fn rule_to_pb(r: &DumbRule) -> pb::DumbRule {
    pb::DumbRule {
        name: resource::dumb_rule(&r.id),
        text: r.text.clone(),
        affected_departments: dept_names(&r.affected),
        evidence: r.evidence.iter().map(|(d, f)| resource::feedback(d, f)).collect(),
        votes: r
            .votes
            .iter()
            .map(|v| pb::RuleVote {
                department: resource::department(&v.department_id),
                voter: v.voter.to_string(),
                verdict: verdict_to_pb(v.verdict) as i32,
                comment: v.comment.clone(),
                update_time: Some(timestamp(v.update_time)),
            })
            .collect(),
        state: match r.status {
            DumbRuleStatus::Open => pb::DumbRuleState::Open,
            DumbRuleStatus::Decided => pb::DumbRuleState::Decided,
        } as i32,
        decision: r.decision.as_ref().map(|d| pb::RuleDecision {
            verdict: verdict_to_pb(d.verdict) as i32,
            rationale: d.rationale.clone(),
            decider: d.decided_by.clone(),
            decide_time: Some(timestamp(d.decide_time)),
        }),
        reporter: r.reported_by.clone(),
        reporter_department: r.reporter_department.as_ref().map(resource::department).unwrap_or_default(),
        create_time: Some(timestamp(r.create_time)),
        update_time: Some(timestamp(r.update_time)),
        etag: etag_for(r.revision),
    }
}

fn period_from_pb(field: &str, v: i32) -> Result<PeriodKind, ValidationError> {
    match pb::ReportPeriod::try_from(v) {
        Ok(pb::ReportPeriod::Unspecified | pb::ReportPeriod::Month) => Ok(PeriodKind::Month),
        Ok(pb::ReportPeriod::Day) => Ok(PeriodKind::Day),
        Ok(pb::ReportPeriod::Week) => Ok(PeriodKind::Week),
        Ok(pb::ReportPeriod::Quarter) => Ok(PeriodKind::Quarter),
        Err(_) => Err(ValidationError::one(field, "is not a known ReportPeriod")),
    }
}

fn period_to_pb(k: PeriodKind) -> pb::ReportPeriod {
    match k {
        PeriodKind::Day => pb::ReportPeriod::Day,
        PeriodKind::Week => pb::ReportPeriod::Week,
        PeriodKind::Month => pb::ReportPeriod::Month,
        PeriodKind::Quarter => pb::ReportPeriod::Quarter,
    }
}

pub(crate) fn period(period_field: &str, kind: i32, date_field: &str, date: &str) -> Result<Period, ValidationError> {
    let mut errors = ValidationError::default();
    let kind = errors.check(period_from_pb(period_field, kind));
    let day = if date.is_empty() {
        Some(Utc::now().date_naive())
    } else {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&d.format("%Y").to_string().parse::<i32>().unwrap_or(0)));
        if d.is_none() {
            errors.push(date_field, "must be a date YYYY-MM-DD between 1970 and 9999");
        }
        d
    };
    errors.into_result()?;
    match (kind, day) {
        (Some(k), Some(d)) => Ok(Period::containing(k, d)),
        _ => Err(ValidationError::one(date_field, "is invalid")),
    }
}

fn duration(secs: Option<i64>) -> Option<prost_types::Duration> {
    secs.map(|s| prost_types::Duration { seconds: s, nanos: 0 })
}

fn focus_to_pb(f: &FocusProgress) -> pb::FocusProgress {
    pb::FocusProgress {
        area: f.area.clone(),
        metric: f.metric.clone(),
        baseline: f.baseline,
        target: f.target,
        current: f.current,
        progress: f.progress(),
    }
}

fn card_to_pb(department: Option<&DepartmentId>, p: &Period, c: &ReportCard) -> pb::ReportCard {
    pb::ReportCard {
        department: department.map(resource::department).unwrap_or_default(),
        period: period_to_pb(p.kind) as i32,
        start_time: Some(timestamp(p.start_time())),
        end_time: Some(timestamp(p.end_time())),
        volume: c.volume,
        volume_by_channel: c
            .by_channel
            .iter()
            .map(|(ch, n)| pb::ChannelCount { channel: channel_to_pb(Some(*ch)) as i32, count: *n })
            .collect(),
        volume_by_kind: c
            .by_kind
            .iter()
            .map(|(k, n)| pb::KindCount { kind: kind_to_pb(*k) as i32, count: *n })
            .collect(),
        csat_distribution: c.csat_distribution.to_vec(),
        csat_average: c.csat_average,
        nps_distribution: c.nps_distribution.to_vec(),
        nps: c.nps,
        cases_opened: c.cases_opened,
        acknowledged: c.acknowledged,
        acknowledge_p50: duration(c.acknowledge_p50_secs),
        acknowledge_p90: duration(c.acknowledge_p90_secs),
        resolved: c.resolved,
        resolve_p50: duration(c.resolve_p50_secs),
        resolve_p90: duration(c.resolve_p90_secs),
        acknowledge_sla_percent: c.acknowledge_sla_percent,
        resolve_sla_percent: c.resolve_sla_percent,
        reopens: c.reopens,
        reopen_rate: c.reopen_rate,
        handoffs_in: c.handoffs_in,
        handoffs_out: c.handoffs_out,
        ping_pongs: c.ping_pongs,
        escalations: c.escalations,
        recognitions: c.live.recognitions,
        competency_gaps: c.live.competency_gaps,
        closed_loop_share: c.closed_loop_share,
        coverage: c.coverage,
        focus: c.live.focus.as_ref().map(focus_to_pb),
        dumb_rules_retired: c.live.dumb_rules_retired,
    }
}

fn movement_to_pb(m: &report::Movement) -> pb::Movement {
    pb::Movement {
        department: resource::department(&m.department),
        resolve_sla_change: m.resolve_sla_change,
        csat_change: m.csat_change,
        ping_pong_change: m.ping_pong_change,
        escalation_change: m.escalation_change,
        score: m.score,
    }
}

fn json_to_pb(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => {
            Kind::ListValue(prost_types::ListValue { values: a.into_iter().map(json_to_pb).collect() })
        }
        serde_json::Value::Object(o) => {
            Kind::StructValue(prost_types::Struct { fields: o.into_iter().map(|(k, v)| (k, json_to_pb(v))).collect() })
        }
    };
    prost_types::Value { kind: Some(kind) }
}

fn event_to_pb(e: Event) -> pb::WatchResponse {
    let payload = match serde_json::from_str::<serde_json::Value>(&e.payload) {
        Ok(serde_json::Value::Object(o)) => {
            Some(prost_types::Struct { fields: o.into_iter().map(|(k, v)| (k, json_to_pb(v))).collect() })
        }
        _ => None,
    };
    pb::WatchResponse {
        sequence: e.sequence,
        department: resource::department(&e.department_id),
        event_type: e.event_type,
        resource: e.resource,
        payload,
        occur_time: Some(timestamp(e.occurred_at)),
    }
}

/// How many times a path comes back to a department it had left.
fn ping_pongs(path: &[DepartmentId]) -> i32 {
    let n = path.iter().enumerate().filter(|(i, d)| path[..*i].contains(d)).count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

impl<S: CoordinationStore> CoordinationApi<S> {
    async fn send_handoff(
        &self,
        caller: Caller,
        r: pb::SendHandoffRequest,
    ) -> Result<pb::SendHandoffResponse, ApiError> {
        let mut errors = ValidationError::default();
        let case = errors.check(names::case("case", &r.case));
        let to = errors.check(names::department("to_department", &r.to_department));
        let kind = match pb::HandoffKind::try_from(r.kind) {
            Ok(pb::HandoffKind::Transfer) => Some(HandoffKind::Transfer),
            Ok(pb::HandoffKind::Referral) => Some(HandoffKind::Referral),
            _ => {
                errors.push("kind", "is required: TRANSFER or REFERRAL");
                None
            }
        };
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::SendHandoffRequest { request_id: String::new(), ..r.clone() }));
        if let (Some((d, _)), Some(to)) = (&case, &to)
            && d == to
        {
            errors.push("to_department", "must be another department than the case's");
        }
        errors.into_result()?;
        let (Some((d, case_id)), Some(to), Some(kind), Some(reason), Some(idem)) = (case, to, kind, reason, idem)
        else {
            return Err(ValidationError::one("case", "is invalid").into());
        };
        record_tenant(d.as_str());
        let what = resource::case(&d, &case_id);
        let scope =
            handoff_scope(&caller, Action::SendHandoff, &d, &to).map_err(|e| ApiError::from_denied(e, &what))?;
        let new = NewHandoff {
            department_id: d,
            id: cityserve_domain::HandoffId::parse("id", &generated_id("ho"))?,
            case_id,
            to_department: to,
            kind,
            reason,
        };
        let h = self
            .store
            .send_handoff(&ctx(&scope, &caller, AuditAction::HandoffSend), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::SendHandoffResponse { handoff: Some(handoff_to_pb(&h)) })
    }

    async fn read_handoff(&self, caller: &Caller, name: &str) -> Result<Handoff, ApiError> {
        let (d, h) = names::handoff("name", name)?;
        let scope = list_scope(caller, Action::ReadHandoffs, None, name)?;
        self.store.get_handoff(&scope, &d, &h).await.map_err(|e| ApiError::from_store(e, name))
    }

    async fn list_handoffs(
        &self,
        caller: Caller,
        r: pb::ListHandoffsRequest,
    ) -> Result<pb::ListHandoffsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = errors.check(handoff_state_from_pb("state", r.state));
        let direction = match pb::HandoffDirection::try_from(r.direction) {
            Ok(pb::HandoffDirection::Incoming) => Direction::Incoming,
            Ok(pb::HandoffDirection::Outgoing) => Direction::Outgoing,
            Ok(pb::HandoffDirection::Unspecified) => Direction::Any,
            Err(_) => {
                errors.push("direction", "is not a known HandoffDirection");
                Direction::Any
            }
        };
        let case = if r.case.is_empty() { Some(None) } else { errors.check(names::case("case", &r.case).map(Some)) };
        errors.into_result()?;
        let (Some(parent), Some(status), Some(case)) = (parent, status, case) else {
            return Err(ValidationError::one("parent", "is invalid").into());
        };
        if let Some((cd, _)) = &case
            && parent.as_ref() != Some(cd)
        {
            return Err(ValidationError::one("case", "must be a case of the parent department").into());
        }
        let filter_key = format!("{}|{:?}|{:?}|{}", r.parent, direction, status, r.case);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadHandoffs, parent.as_ref(), &r.parent)?;
        let filter = HandoffFilter { department: parent, direction, status, case: case.map(|(_, c)| c) };
        let p =
            self.store.list_handoffs(&scope, &filter, &page).await.map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListHandoffsResponse {
            handoffs: p.items.iter().map(handoff_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn respond(
        &self,
        caller: &Caller,
        name: &str,
        etag: &str,
        response: HandoffResponse,
    ) -> Result<Handoff, ApiError> {
        let h = self.read_handoff(caller, name).await?;
        record_tenant(h.to_department.as_str());
        let scope = handoff_scope(caller, Action::RespondHandoff, &h.to_department, &h.department_id)
            .map_err(|e| ApiError::from_denied(e, name))?;
        // A retry of an answer that was recorded (its response lost) gets the recorded result.
        let same = match (&response, h.status) {
            (HandoffResponse::Accept { .. }, HandoffStatus::Accepted) => true,
            (HandoffResponse::Decline { reason }, HandoffStatus::Declined) => *reason == h.decline_reason,
            _ => false,
        };
        if same && h.responded_by == caller.subject {
            return Ok(h);
        }
        let rev = if etag.is_empty() { None } else { Some(expected_revision("etag", etag, h.revision)?) };
        self.store
            .respond_handoff(&ctx(&scope, caller, AuditAction::HandoffRespond), &h.department_id, &h.id, &response, rev)
            .await
            .map_err(|e| ApiError::from_store(e, name))
    }

    async fn accept_handoff(
        &self,
        caller: Caller,
        r: pb::AcceptHandoffRequest,
    ) -> Result<pb::AcceptHandoffResponse, ApiError> {
        names::handoff("name", &r.name)?;
        let category = if r.service_category_id.is_empty() {
            None
        } else {
            Some(ServiceCategoryId::parse("service_category_id", &r.service_category_id)?)
        };
        let new_case = FeedbackId::parse("id", &generated_id("fb"))?;
        let h = self
            .respond(&caller, &r.name, &r.etag, HandoffResponse::Accept { new_case: new_case.clone(), category })
            .await?;
        let scope = authorize(&caller, Action::ReadCases, Some(&h.to_department))
            .map_err(|e| ApiError::from_denied(e, &r.name))?;
        let case_id = h.received_case.clone().unwrap_or_else(|| CaseId::from_feedback(&new_case));
        let case = self
            .store
            .get_case(&scope, &h.to_department, &case_id)
            .await
            .map_err(|e| ApiError::from_store(e, &resource::case(&h.to_department, &case_id)))?;
        Ok(pb::AcceptHandoffResponse { handoff: Some(handoff_to_pb(&h)), case: Some(case_to_pb(&case)) })
    }

    async fn decline_handoff(
        &self,
        caller: Caller,
        r: pb::DeclineHandoffRequest,
    ) -> Result<pb::DeclineHandoffResponse, ApiError> {
        let mut errors = ValidationError::default();
        errors.check(names::handoff("name", &r.name));
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        errors.into_result()?;
        let reason = reason.unwrap_or_default();
        let h = self.respond(&caller, &r.name, &r.etag, HandoffResponse::Decline { reason }).await?;
        Ok(pb::DeclineHandoffResponse { handoff: Some(handoff_to_pb(&h)) })
    }

    async fn case_path(&self, caller: Caller, r: pb::GetCasePathRequest) -> Result<pb::GetCasePathResponse, ApiError> {
        let (d, c) = names::case("case", &r.case)?;
        let scope = scope_for(&caller, Action::ReadCases, &d, &r.case)?;
        let path = self.store.case_path(&scope, &d, &c).await.map_err(|e| ApiError::from_store(e, &r.case))?;
        Ok(pb::GetCasePathResponse { ping_pongs: ping_pongs(&path), departments: dept_names(&path) })
    }

    async fn escalate(&self, caller: Caller, r: pb::EscalateCaseRequest) -> Result<pb::EscalateCaseResponse, ApiError> {
        let mut errors = ValidationError::default();
        let case = errors.check(names::case("case", &r.case));
        let reason = errors.check(required_text("reason", &r.reason, REASON_MAX));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::EscalateCaseRequest { request_id: String::new(), ..r.clone() }));
        errors.into_result()?;
        let (Some((d, case_id)), Some(reason), Some(idem)) = (case, reason, idem) else {
            return Err(ValidationError::one("case", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::Escalate, &d, &r.case)?;
        let new = NewEscalation {
            department_id: d,
            id: cityserve_domain::EscalationId::parse("id", &generated_id("es"))?,
            case_id,
            reason,
        };
        let e = self
            .store
            .escalate_case(&ctx(&scope, &caller, AuditAction::EscalationCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &r.case))?;
        Ok(pb::EscalateCaseResponse { escalation: Some(escalation_to_pb(&e)) })
    }

    async fn read_escalation(
        &self,
        caller: &Caller,
        action: Action,
        name: &str,
    ) -> Result<(TenantScope, Escalation), ApiError> {
        let (d, e) = names::escalation("name", name)?;
        let scope = scope_for(caller, action, &d, name)?;
        let read = if action == Action::ReadEscalations {
            scope.clone()
        } else {
            scope_for(caller, Action::ReadEscalations, &d, name)?
        };
        let found = self.store.get_escalation(&read, &d, &e).await.map_err(|x| ApiError::from_store(x, name))?;
        Ok((scope, found))
    }

    async fn list_escalations(
        &self,
        caller: Caller,
        r: pb::ListEscalationsRequest,
    ) -> Result<pb::ListEscalationsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = match pb::EscalationState::try_from(r.state) {
            Ok(pb::EscalationState::Unspecified) => None,
            Ok(pb::EscalationState::Open) => Some(EscalationStatus::Open),
            Ok(pb::EscalationState::Acknowledged) => Some(EscalationStatus::Acknowledged),
            Ok(pb::EscalationState::Resolved) => Some(EscalationStatus::Resolved),
            Err(_) => {
                errors.push("state", "is not a known EscalationState");
                None
            }
        };
        errors.into_result()?;
        let parent = parent.flatten();
        let filter_key = format!("{}|{:?}", r.parent, status);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadEscalations, parent.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_escalations(&scope, &EscalationFilter { department: parent, status }, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListEscalationsResponse {
            escalations: p.items.iter().map(escalation_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn change_escalation(
        &self,
        caller: Caller,
        name: &str,
        etag: &str,
        change: EscalationChange,
    ) -> Result<Escalation, ApiError> {
        let (scope, current) = self.read_escalation(&caller, Action::ManageEscalations, name).await?;
        // Retries of a change already made answer with the current state.
        match (&change, current.status) {
            (EscalationChange::Acknowledge, EscalationStatus::Acknowledged) => return Ok(current),
            (EscalationChange::Resolve(note), EscalationStatus::Resolved) if *note == current.resolution => {
                return Ok(current);
            }
            _ => {}
        }
        let rev = expected_revision("etag", etag, current.revision)?;
        let next = coordination::change_escalation(&current, &change, now_micros())
            .map_err(|e| ApiError::FailedPrecondition(e.0))?;
        self.store
            .save_escalation(&ctx(&scope, &caller, AuditAction::EscalationManage), &next, rev)
            .await
            .map_err(|e| ApiError::from_store(e, name))
    }

    /// Validates an initiative body for lead department `lead`.
    fn initiative_body(lead: &DepartmentId, b: &pb::Initiative) -> Result<Initiative, ValidationError> {
        let mut errors = ValidationError::default();
        let title = errors.check(required_text("initiative.title", &b.title, TITLE_MAX));
        let goal = errors.check(required_text("initiative.goal", &b.goal, NOTE_MAX));
        let owner = match names::officer("initiative.owner", &b.owner) {
            Ok((d, o)) if d == *lead => Some(o),
            Ok(_) => {
                errors.push("initiative.owner", "must be an officer of the lead department");
                None
            }
            Err(e) => {
                errors.check::<()>(Err(e));
                None
            }
        };
        let mut members = vec![lead.clone()];
        if b.member_departments.len() > MAX_MEMBERS {
            errors.push("initiative.member_departments", format!("must have at most {MAX_MEMBERS} departments"));
        }
        for (i, m) in b.member_departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("initiative.member_departments[{i}]"), m)) {
                members.push(d);
            }
        }
        members.sort();
        members.dedup();
        let status = errors.check(initiative_state_from_pb("initiative.state", b.state)).flatten();
        if b.milestones.len() > MAX_MILESTONES {
            errors.push("initiative.milestones", format!("must have at most {MAX_MILESTONES} milestones"));
        }
        let mut milestones = Vec::new();
        for (i, m) in b.milestones.iter().enumerate() {
            let f = format!("initiative.milestones[{i}]");
            let title = errors.check(required_text(&format!("{f}.title"), &m.title, 500));
            let due = errors.check(time_from_pb(&format!("{f}.due_time"), m.due_time.as_ref()));
            let done = errors.check(time_from_pb(&format!("{f}.done_time"), m.done_time.as_ref()));
            if let (Some(title), Some(due_time), Some(done_time)) = (title, due, done) {
                milestones.push(Milestone { title, due_time, done_time });
            }
        }
        if b.cases.len() > MAX_LINKS {
            errors.push("initiative.cases", format!("must have at most {MAX_LINKS} cases"));
        }
        let mut cases = Vec::new();
        for (i, c) in b.cases.iter().enumerate() {
            if let Some(c) = errors.check(names::case(&format!("initiative.cases[{i}]"), c)) {
                cases.push(c);
            }
        }
        cases.sort();
        cases.dedup();
        if b.dumb_rules.len() > MAX_MILESTONES {
            errors.push("initiative.dumb_rules", format!("must have at most {MAX_MILESTONES} rules"));
        }
        let mut rules: Vec<DumbRuleId> = Vec::new();
        for (i, r) in b.dumb_rules.iter().enumerate() {
            if let Some(r) = errors.check(names::dumb_rule(&format!("initiative.dumb_rules[{i}]"), r)) {
                rules.push(r);
            }
        }
        rules.sort();
        rules.dedup();
        errors.into_result()?;
        let now = now_micros();
        let i = Initiative {
            department_id: lead.clone(),
            id: cityserve_domain::InitiativeId::parse("id", &generated_id("in"))?,
            title: title.unwrap_or_default(),
            goal: goal.unwrap_or_default(),
            owner: owner.ok_or_else(|| ValidationError::one("initiative.owner", "is required"))?,
            members,
            status: status.unwrap_or(InitiativeStatus::Proposed),
            milestones,
            cases,
            dumb_rules: rules,
            create_time: now,
            update_time: now,
            revision: 1,
        };
        i.validate()?;
        Ok(i)
    }

    async fn create_initiative(
        &self,
        caller: Caller,
        r: pb::CreateInitiativeRequest,
    ) -> Result<pb::CreateInitiativeResponse, ApiError> {
        let lead = names::department("parent", &r.parent)?;
        let body = r.initiative.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let i = errors.check(Self::initiative_body(&lead, &body));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::CreateInitiativeRequest { request_id: String::new(), ..r.clone() }));
        if let Some(i) = &i
            && !matches!(i.status, InitiativeStatus::Proposed | InitiativeStatus::Active)
        {
            errors.push("initiative.state", "must be PROPOSED or ACTIVE when created");
        }
        errors.into_result()?;
        let (Some(i), Some(idem)) = (i, idem) else {
            return Err(ValidationError::one("initiative", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::ProposeInitiative, &lead, &r.parent)?;
        let created = self
            .store
            .create_initiative(&ctx(&scope, &caller, AuditAction::InitiativeCreate), &idem, &i)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::CreateInitiativeResponse { initiative: Some(initiative_to_pb(&created)) })
    }

    async fn get_initiative(&self, caller: Caller, name: &str) -> Result<Initiative, ApiError> {
        let (lead, id) = names::initiative("name", name)?;
        let scope = list_scope(&caller, Action::ReadInitiatives, None, name)?;
        self.store.get_initiative(&scope, &lead, &id).await.map_err(|e| ApiError::from_store(e, name))
    }

    async fn list_initiatives(
        &self,
        caller: Caller,
        r: pb::ListInitiativesRequest,
    ) -> Result<pb::ListInitiativesResponse, ApiError> {
        let mut errors = ValidationError::default();
        let parent = errors.check(names::department_or_all("parent", &r.parent));
        let status = errors.check(initiative_state_from_pb("state", r.state));
        errors.into_result()?;
        let (Some(parent), Some(status)) = (parent, status) else {
            return Err(ValidationError::one("parent", "is invalid").into());
        };
        let filter_key = format!("{}|{:?}", r.parent, status);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadInitiatives, parent.as_ref(), &r.parent)?;
        let p = self
            .store
            .list_initiatives(&scope, &InitiativeFilter { member: parent, status }, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListInitiativesResponse {
            initiatives: p.items.iter().map(initiative_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn update_initiative(
        &self,
        caller: Caller,
        r: pb::UpdateInitiativeRequest,
    ) -> Result<pb::UpdateInitiativeResponse, ApiError> {
        let body = r.initiative.clone().unwrap_or_default();
        let (lead, id) = names::initiative("initiative.name", &body.name)?;
        let scope = scope_for(&caller, Action::ManageInitiatives, &lead, &body.name)?;
        let current =
            self.store.get_initiative(&scope, &lead, &id).await.map_err(|e| ApiError::from_store(e, &body.name))?;
        const FIELDS: [&str; 8] =
            ["title", "goal", "owner", "member_departments", "state", "milestones", "cases", "dumb_rules"];
        let paths = crate::kit::mask_paths(r.update_mask.as_ref(), &FIELDS, &FIELDS)?;
        // The current initiative with the masked fields taken from the request, validated whole.
        let mut full = initiative_to_pb(&current);
        for path in &paths {
            match path.as_str() {
                "title" => full.title.clone_from(&body.title),
                "goal" => full.goal.clone_from(&body.goal),
                "owner" => full.owner.clone_from(&body.owner),
                "member_departments" => full.member_departments.clone_from(&body.member_departments),
                "state" => full.state = body.state,
                "milestones" => full.milestones.clone_from(&body.milestones),
                "cases" => full.cases.clone_from(&body.cases),
                "dumb_rules" => full.dumb_rules.clone_from(&body.dumb_rules),
                _ => {}
            }
        }
        let next = Self::initiative_body(&lead, &full)?;
        if !coordination::initiative_transition_allowed(current.status, next.status) {
            return Err(ApiError::FailedPrecondition(format!(
                "an initiative cannot move from {} to {}",
                current.status.as_str(),
                next.status.as_str()
            )));
        }
        let rev = expected_revision("initiative.etag", &body.etag, current.revision)?;
        let updated =
            Initiative { id: current.id.clone(), create_time: current.create_time, revision: current.revision, ..next };
        let saved = self
            .store
            .save_initiative(&ctx(&scope, &caller, AuditAction::InitiativeManage), &updated, rev)
            .await
            .map_err(|e| ApiError::from_store(e, &body.name))?;
        Ok(pb::UpdateInitiativeResponse { initiative: Some(initiative_to_pb(&saved)) })
    }

    async fn report_rule(
        &self,
        caller: Caller,
        r: pb::ReportDumbRuleRequest,
    ) -> Result<pb::ReportDumbRuleResponse, ApiError> {
        let body = r.dumb_rule.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let text = errors.check(required_text("dumb_rule.text", &body.text, REASON_MAX));
        let mut affected = Vec::new();
        if body.affected_departments.is_empty() {
            errors.push("dumb_rule.affected_departments", "name at least one department");
        }
        if body.affected_departments.len() > MAX_MEMBERS {
            errors.push("dumb_rule.affected_departments", format!("must have at most {MAX_MEMBERS} departments"));
        }
        for (i, d) in body.affected_departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("dumb_rule.affected_departments[{i}]"), d)) {
                affected.push(d);
            }
        }
        affected.sort();
        affected.dedup();
        if body.evidence.len() > MAX_EVIDENCE {
            errors.push("dumb_rule.evidence", format!("must have at most {MAX_EVIDENCE} items"));
        }
        let mut evidence = Vec::new();
        for (i, f) in body.evidence.iter().enumerate() {
            if let Some(f) = errors.check(names::feedback(&format!("dumb_rule.evidence[{i}]"), f)) {
                evidence.push(f);
            }
        }
        evidence.sort();
        evidence.dedup();
        let idem = errors
            .check(idempotency(&r.request_id, &pb::ReportDumbRuleRequest { request_id: String::new(), ..r.clone() }));
        errors.into_result()?;
        let (Some(text), Some(idem)) = (text, idem) else {
            return Err(ValidationError::one("dumb_rule", "is invalid").into());
        };
        let scope = list_scope(&caller, Action::ReportDumbRule, None, "dumbRules")?;
        let new = NewDumbRule {
            id: DumbRuleId::parse("id", &generated_id("dr"))?,
            text,
            affected,
            evidence,
            reporter_department: if caller.role.is_city_wide() { None } else { caller.departments.first().cloned() },
        };
        let rule = self
            .store
            .report_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleReport), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, "dumb rule"))?;
        Ok(pb::ReportDumbRuleResponse { dumb_rule: Some(rule_to_pb(&rule)) })
    }

    async fn get_rule(&self, caller: &Caller, name: &str) -> Result<(TenantScope, DumbRule), ApiError> {
        let id = names::dumb_rule("name", name)?;
        let scope = list_scope(caller, Action::ReadDumbRules, None, name)?;
        let rule = self.store.get_dumb_rule(&scope, &id).await.map_err(|e| ApiError::from_store(e, name))?;
        Ok((scope, rule))
    }

    async fn list_rules(
        &self,
        caller: Caller,
        r: pb::ListDumbRulesRequest,
    ) -> Result<pb::ListDumbRulesResponse, ApiError> {
        let mut errors = ValidationError::default();
        let status = match pb::DumbRuleState::try_from(r.state) {
            Ok(pb::DumbRuleState::Unspecified) => None,
            Ok(pb::DumbRuleState::Open) => Some(DumbRuleStatus::Open),
            Ok(pb::DumbRuleState::Decided) => Some(DumbRuleStatus::Decided),
            Err(_) => {
                errors.push("state", "is not a known DumbRuleState");
                None
            }
        };
        let affected = if r.affected_department.is_empty() {
            None
        } else {
            errors.check(names::department("affected_department", &r.affected_department))
        };
        let order = match r.order_by.trim() {
            "" => DumbRuleOrder::Newest,
            "evidence_count desc" => DumbRuleOrder::MostEvidence,
            _ => {
                errors.push("order_by", "must be empty (newest first) or `evidence_count desc`");
                DumbRuleOrder::Newest
            }
        };
        errors.into_result()?;
        let filter_key = format!("{:?}|{}|{:?}", status, r.affected_department, order);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadDumbRules, None, "dumbRules")?;
        let p = self
            .store
            .list_dumb_rules(&scope, &DumbRuleFilter { status, affected }, order, &page)
            .await
            .map_err(|e| ApiError::from_store(e, "dumbRules"))?;
        Ok(pb::ListDumbRulesResponse {
            dumb_rules: p.items.iter().map(rule_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    async fn vote(&self, caller: Caller, r: pb::VoteOnDumbRuleRequest) -> Result<pb::VoteOnDumbRuleResponse, ApiError> {
        let mut errors = ValidationError::default();
        let id = errors.check(names::dumb_rule("name", &r.name));
        let verdict = errors.check(verdict_from_pb("verdict", r.verdict));
        let comment = errors.check(optional_text("comment", &r.comment, REASON_MAX));
        let department = if r.department.is_empty() {
            match caller.departments.as_slice() {
                [one] => Some(one.clone()),
                _ => {
                    errors.push("department", "is required: name the department whose CSO votes");
                    None
                }
            }
        } else {
            errors.check(names::department("department", &r.department))
        };
        let voter = errors.check(OfficerId::parse("subject", &caller.subject));
        errors.into_result()?;
        let (Some(id), Some(verdict), Some(comment), Some(department), Some(voter)) =
            (id, verdict, comment, department, voter)
        else {
            return Err(ValidationError::one("name", "is invalid").into());
        };
        // The register is readable by every officer: a missing rule answers NOT_FOUND first.
        self.get_rule(&caller, &r.name).await?;
        let scope = scope_for(&caller, Action::VoteDumbRule, &department, &resource::department(&department))?;
        let vote = RuleVote { department_id: department, voter, verdict, comment, update_time: now_micros() };
        let rule = self
            .store
            .vote_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleVote), &id, &vote)
            .await
            .map_err(|e| ApiError::from_store(e, &r.name))?;
        Ok(pb::VoteOnDumbRuleResponse { dumb_rule: Some(rule_to_pb(&rule)) })
    }

    async fn decide(
        &self,
        caller: Caller,
        r: pb::DecideDumbRuleRequest,
    ) -> Result<pb::DecideDumbRuleResponse, ApiError> {
        let mut errors = ValidationError::default();
        errors.check(names::dumb_rule("name", &r.name));
        let verdict = errors.check(verdict_from_pb("verdict", r.verdict));
        let rationale = errors.check(required_text("rationale", &r.rationale, NOTE_MAX));
        errors.into_result()?;
        let (Some(verdict), Some(rationale)) = (verdict, rationale) else {
            return Err(ValidationError::one("verdict", "is invalid").into());
        };
        let scope = list_scope(&caller, Action::DecideDumbRule, None, &r.name)?;
        let (_, current) = self.get_rule(&caller, &r.name).await?;
        if let Some(d) = &current.decision
            && d.verdict == verdict
            && d.rationale == rationale
            && d.decided_by == caller.subject
        {
            // A retry of the recorded decision.
            return Ok(pb::DecideDumbRuleResponse { dumb_rule: Some(rule_to_pb(&current)) });
        }
        let rev = expected_revision("etag", &r.etag, current.revision)?;
        let decision =
            RuleDecision { verdict, rationale, decided_by: caller.subject.clone(), decide_time: now_micros() };
        let next = coordination::decide(&current, decision).map_err(|e| ApiError::FailedPrecondition(e.0))?;
        let saved = self
            .store
            .decide_dumb_rule(&ctx(&scope, &caller, AuditAction::DumbRuleDecide), &next, rev)
            .await
            .map_err(|e| ApiError::from_store(e, &r.name))?;
        Ok(pb::DecideDumbRuleResponse { dumb_rule: Some(rule_to_pb(&saved)) })
    }

    async fn card(&self, scope: &TenantScope, d: &DepartmentId, p: &Period) -> Result<ReportCard, ApiError> {
        let what = resource::department(d);
        // The counters and the live figures are independent reads: both at once.
        let (rows, live) = tokio::try_join!(
            self.store.rollup_metrics(scope, Some(std::slice::from_ref(d)), p.start_day(), p.end_day()),
            self.store.live_figures(scope, d, p),
        )
        .map_err(|e| ApiError::from_store(e, &what))?;
        let metrics = rows.into_iter().next().map(|(_, m)| m).unwrap_or_default();
        Ok(ReportCard::from_metrics(&metrics, live))
    }

    async fn report_card(
        &self,
        caller: Caller,
        r: pb::GetReportCardRequest,
    ) -> Result<pb::GetReportCardResponse, ApiError> {
        let mut errors = ValidationError::default();
        let d = errors.check(names::department("department", &r.department));
        let p = errors.check(period("period", r.period, "date", &r.date));
        errors.into_result()?;
        let (Some(d), Some(p)) = (d, p) else {
            return Err(ValidationError::one("department", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::ReadReportCards, &d, &r.department)?;
        // The department must exist (a card of zeros for a typo would mislead).
        self.store.get_department(&scope, &d).await.map_err(|e| ApiError::from_store(e, &r.department))?;
        let card = self.card(&scope, &d, &p).await?;
        Ok(pb::GetReportCardResponse { report_card: Some(card_to_pb(Some(&d), &p, &card)) })
    }

    async fn dashboard(
        &self,
        caller: Caller,
        r: pb::GetCityDashboardRequest,
    ) -> Result<pb::GetCityDashboardResponse, ApiError> {
        let p = period("period", r.period, "date", &r.date)?;
        let scope = list_scope(&caller, Action::ReadCityDashboard, None, "city dashboard")?;
        let mut departments = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_departments(
                    &scope,
                    Some(DepartmentStatus::Active),
                    &cityserve_domain::PageRequest { size: 500, after },
                )
                .await
                .map_err(|e| ApiError::from_store(e, "departments"))?;
            departments.extend(page.items.into_iter().map(|d| d.id));
            match page.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let prev = p.previous();
        // Counters of the listed departments only (their index leads with department_id), both
        // periods at once; live figures of every department in one store call.
        let fetch = |p: Period| {
            let (scope, departments) = (&scope, &departments);
            async move {
                self.store
                    .rollup_metrics(scope, Some(departments), p.start_day(), p.end_day())
                    .await
                    .map_err(|e| ApiError::from_store(e, "rollups"))
            }
        };
        let live = async {
            self.store
                .live_figures_of(&scope, &departments, &p)
                .await
                .map_err(|e| ApiError::from_store(e, "departments"))
        };
        let (now_rows, prev_rows, live) = tokio::try_join!(fetch(p), fetch(prev), live)?;
        let now_rows: std::collections::HashMap<DepartmentId, Metrics> = now_rows.into_iter().collect();
        let mut prev_rows: std::collections::HashMap<DepartmentId, Metrics> = prev_rows.into_iter().collect();
        let mut city = Metrics::new();
        let mut city_live = LiveFigures::default();
        let mut cards = Vec::with_capacity(departments.len());
        let mut moves = Vec::with_capacity(departments.len());
        let empty = Metrics::new();
        for (d, live) in departments.iter().zip(live) {
            let m = now_rows.get(d).unwrap_or(&empty);
            report::merge(&mut city, m);
            city_live.recognitions += live.recognitions;
            city_live.competency_gaps += live.competency_gaps;
            city_live.dumb_rules_retired += live.dumb_rules_retired;
            let card = ReportCard::from_metrics(m, live);
            let before = ReportCard::from_metrics(&prev_rows.remove(d).unwrap_or_default(), LiveFigures::default());
            moves.push(report::movement(d, &card, &before));
            cards.push(card_to_pb(Some(d), &p, &card));
        }
        let city_card = ReportCard::from_metrics(&city, city_live);
        Ok(pb::GetCityDashboardResponse {
            city: Some(card_to_pb(None, &p, &city_card)),
            departments: cards,
            worst_movers: report::worst_movers(&moves, 3).iter().map(movement_to_pb).collect(),
            movements: moves.iter().map(movement_to_pb).collect(),
        })
    }

    async fn focus(
        &self,
        caller: Caller,
        r: pb::RecordFocusProgressRequest,
    ) -> Result<pb::RecordFocusProgressResponse, ApiError> {
        let (d, year) = names::plan("plan", &r.plan)?;
        if !r.value.is_finite() {
            return Err(ValidationError::one("value", "must be a finite number").into());
        }
        let scope = scope_for(&caller, Action::DraftPlan, &d, &r.plan)?;
        let plan = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &r.plan))?;
        self.store
            .record_focus_progress(&ctx(&scope, &caller, AuditAction::PlanDraft), &d, year, r.value)
            .await
            .map_err(|e| ApiError::from_store(e, &r.plan))?;
        let f = FocusProgress {
            area: plan.content.focus_area,
            metric: plan.content.focus_metric,
            baseline: plan.content.focus_baseline,
            target: plan.content.focus_target,
            current: Some(r.value),
        };
        Ok(pb::RecordFocusProgressResponse { focus: Some(focus_to_pb(&f)) })
    }

    async fn watch(&self, caller: Caller, r: pb::WatchRequest) -> Result<WatchStream, ApiError> {
        let mut errors = ValidationError::default();
        let mut departments = Vec::new();
        for (i, d) in r.departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("departments[{i}]"), d)) {
                departments.push(d);
            }
        }
        if r.event_type_prefixes.len() > 20 {
            errors.push("event_type_prefixes", "must have at most 20 entries");
        }
        for (i, p) in r.event_type_prefixes.iter().enumerate() {
            if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_') {
                errors.push(format!("event_type_prefixes[{i}]"), "must be 1-64 characters of a-z, '.' and '_'");
            }
        }
        if r.after_sequence.is_some_and(|s| s < 0) {
            errors.push("after_sequence", "must not be negative");
        }
        errors.into_result()?;
        let scope = list_scope(&caller, Action::WatchEvents, None, "events")?;
        for d in &departments {
            if !scope.allows(d) {
                return Err(ApiError::NotFound(resource::department(d)));
            }
        }
        let cursor = match (r.after_sequence, r.from_start) {
            (Some(0), _) | (None, true) => EventCursor::Start,
            (Some(s), _) => EventCursor::After(s),
            (None, false) => {
                let latest = self.store.latest_event(&scope).await.map_err(|e| ApiError::from_store(e, "events"))?;
                latest.map_or(EventCursor::Start, EventCursor::After)
            }
        };
        let filter = EventFilter {
            departments: (!departments.is_empty()).then_some(departments),
            type_prefixes: r.event_type_prefixes.clone(),
        };
        // Fail fast on a cursor the caller may not resume from.
        let first = self
            .store
            .events_after(&scope, &filter, cursor, WATCH_BATCH)
            .await
            .map_err(|e| ApiError::from_store(e, "after_sequence"))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::WatchResponse, Status>>(WATCH_BATCH as usize);
        let store = self.store.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut signal = store.event_signal();
            signal.borrow_and_update();
            let mut cursor = cursor;
            let mut batch = first;
            loop {
                let empty = batch.is_empty();
                for e in batch {
                    cursor = EventCursor::After(e.sequence);
                    if tx.send(Ok(event_to_pb(e))).await.is_err() {
                        return;
                    }
                }
                if empty {
                    tokio::select! {
                        changed = signal.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(WATCH_POLL).await;
                            }
                        }
                        () = tokio::time::sleep(WATCH_POLL) => {}
                        () = tx.closed() => return,
                        res = shutdown.changed() => {
                            let stop = res.is_err() || *shutdown.borrow();
                            if stop {
                                let status =
                                    Status::unavailable("the server is shutting down; resume with after_sequence");
                                let _ = tx.send(Err(status)).await;
                                return;
                            }
                        }
                    }
                    signal.borrow_and_update();
                }
                batch = match store.events_after(&scope, &filter, cursor, WATCH_BATCH).await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(ApiError::from_store(e, "events")))).await;
                        return;
                    }
                };
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
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
        handle!(req, |c, r| self.watch(c, r), |x| x)
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
    fn periods_default_to_this_month_and_reject_bad_dates() {
        let p = period("period", 0, "date", "2026-11-26").unwrap();
        assert_eq!(p.kind, PeriodKind::Month);
        assert_eq!(p.start, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        let e = period("period", 0, "date", "26/11/2026").unwrap_err();
        assert_eq!(e.violations[0].field, "date");
        assert!(period("period", 99, "date", "").is_err());
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
