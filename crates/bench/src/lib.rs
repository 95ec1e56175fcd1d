//! The CityServe load generator: tonic clients over several HTTP/2 connections, either a fixed
//! number of calls in flight (closed loop) or a fixed arrival rate (open loop), one scenario at a
//! time. Every response's gRPC status is counted: a run with errors is not a result.
pub mod nats_lag;
mod open311;

use cityserve_proto::v1 as pb;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `grpc.health.v1.Health/Check`: the server's floor.
    Noop,
    /// `DepartmentService/GetDepartment`: a tenant-scoped read.
    Get,
    /// `FeedbackService/SubmitFeedback` with a fresh `request_id` each time.
    Submit,
    /// `FeedbackService/GetResidentTimeline` of one resident.
    Timeline,
    /// A case change on complaints the run files for itself, one per call in flight (a call that
    /// finds none free files one first). A case lives eleven changes: `StartCase`, then
    /// `ResolveCase` and `ReopenCase` (with a note) in turn, four reopens in all, then
    /// `CloseCase`; so no case gathers more than four notes, as a real case would not.
    Case,
    /// `CoordinationService/GetReportCard` (quarter).
    ReportCard,
    /// `CoordinationService/GetCityDashboard` (quarter).
    Dashboard,
    /// `CsoWorkService/GetBoardReport` (this quarter).
    BoardReport,
    /// 40% get, 25% submit, 15% timeline, 15% report card, 5% dashboard.
    Mix,
    /// Open311 `GET requests.json?page_size=100`: a public tracker polling the newest 100.
    Open311List,
    /// Open311 `POST requests.json`: a 311 app filing a hydrant report with its answers.
    Open311Post,
}

impl Scenario {
    /// Parses a scenario name.
    pub fn parse(s: &str) -> Option<Scenario> {
        Some(match s {
            "noop" => Scenario::Noop,
            "get" => Scenario::Get,
            "submit" => Scenario::Submit,
            "timeline" => Scenario::Timeline,
            "case" => Scenario::Case,
            "report-card" => Scenario::ReportCard,
            "dashboard" => Scenario::Dashboard,
            "board-report" => Scenario::BoardReport,
            "mix" => Scenario::Mix,
            "open311-list" => Scenario::Open311List,
            "open311-post" => Scenario::Open311Post,
            _ => return None,
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Noop => "noop",
            Scenario::Get => "get",
            Scenario::Submit => "submit",
            Scenario::Timeline => "timeline",
            Scenario::Case => "case",
            Scenario::ReportCard => "report-card",
            Scenario::Dashboard => "dashboard",
            Scenario::BoardReport => "board-report",
            Scenario::Mix => "mix",
            Scenario::Open311List => "open311-list",
            Scenario::Open311Post => "open311-post",
        }
    }
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://host:port` of the server.
    pub target: String,
    /// Bearer token (a Chief's, so every scenario is allowed).
    pub token: String,
    /// What to call.
    pub scenario: Scenario,
    /// HTTP/2 connections to spread calls over.
    pub connections: usize,
    /// Calls in flight (closed loop), or the most in flight (open loop).
    pub concurrency: usize,
    /// Open loop: calls started per second; `None`: closed loop.
    pub rate: Option<f64>,
    /// How long to measure.
    pub duration: Duration,
    /// Warm-up before measuring (calls made, not counted).
    pub warmup: Duration,
    /// The department the calls target.
    pub department: String,
    /// The resident key of the timeline scenario.
    pub resident: String,
    /// The Open311 gateway (`host:port`), for the `open311-*` scenarios.
    pub open311: Option<String>,
    /// An Open311 API key, for `open311-post`; `None`: one is issued as the Chief (`token`).
    pub api_key: Option<String>,
    /// The service `open311-post` files with (`{department}.{category}`) and the form fields
    /// after `api_key` and `service_code` (URL-encoded), e.g. its attributes' answers.
    pub open311_service: String,
    /// See `open311_service`.
    pub open311_fields: String,
}

/// A run's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: &'static str,
    /// Calls measured.
    pub calls: u64,
    /// Calls per second.
    pub throughput: f64,
    /// Latency percentiles, microseconds: p50, p90, p99, p99.9.
    pub p50_us: u64,
    /// See `p50_us`.
    pub p90_us: u64,
    /// See `p50_us`.
    pub p99_us: u64,
    /// See `p50_us`.
    pub p999_us: u64,
    /// Calls by gRPC status code name.
    pub codes: BTreeMap<String, u64>,
    /// Calls that did not answer OK.
    pub errors: u64,
}

impl Report {
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario,
            "calls": self.calls,
            "throughput_per_s": self.throughput,
            "latency_us": {"p50": self.p50_us, "p90": self.p90_us, "p99": self.p99_us, "p99.9": self.p999_us},
            "codes": self.codes,
            "errors": self.errors,
        })
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The target could not be reached.
    #[error("connect: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// A setting is invalid.
    #[error("{0}")]
    Invalid(String),
}

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

/// One Open311 call over `http`; an HTTP 200 is OK, anything else is counted by its status.
async fn open311_call(http: &mut Option<open311::Http>, s: &Settings, scenario: Scenario) -> String {
    let Some(http) = http.as_mut() else { return "NoOpen311Address".into() };
    let result = match scenario {
        Scenario::Open311Post => {
            let key: String = form_urlencoded_byte(s.api_key.as_deref().unwrap_or_default());
            let form = format!("api_key={key}&service_code={}&{}", s.open311_service, s.open311_fields);
            http.request("POST", "/open311/v2/requests.json", Some(&form)).await
        }
        _ => http.request("GET", "/open311/v2/requests.json?page_size=100", None).await,
    };
    match result {
        Ok(200) => "Ok".into(),
        Ok(status) => format!("Http{status}"),
        Err(e) => format!("Io{:?}", e.kind()),
    }
}

/// Issues an Open311 API key as the Chief (`token`), for a run that was given none.
async fn issue_key(channel: &Channel, token: &str) -> Result<String, BenchError> {
    let mut c = pb::api_key_service_client::ApiKeyServiceClient::new(channel.clone());
    let req = pb::CreateApiKeyRequest {
        api_key: Some(pb::ApiKey { client_name: "cityserve-bench".into(), ..Default::default() }),
        request_id: uuid::Uuid::now_v7().simple().to_string(),
    };
    let r = c
        .create_api_key(authed(req, token))
        .await
        .map_err(|e| BenchError::Invalid(format!("issuing an API key: {e}")))?;
    Ok(r.into_inner().key)
}

/// Percent-encodes `v` for a form body.
fn form_urlencoded_byte(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One call of `scenario` (for Mix, chosen by `n`) on `channel` (gRPC) or `http` (Open311);
/// returns its status: a gRPC code's name, `Ok`, or `Http{status}` for an Open311 refusal.
async fn call(
    channel: &Channel,
    http: &mut Option<open311::Http>,
    cases: &CasePool,
    s: &Settings,
    scenario: Scenario,
    n: u64,
) -> String {
    if matches!(scenario, Scenario::Open311List | Scenario::Open311Post) {
        return open311_call(http, s, scenario).await;
    }
    if scenario == Scenario::Case {
        return format!("{:?}", case_call(channel, cases, s).await);
    }
    format!("{:?}", grpc_call(channel, s, scenario, n).await)
}

/// What a case of the `case` scenario is moved by next.
#[derive(Debug, Clone, Copy)]
enum CaseStep {
    Start,
    Resolve,
    Reopen,
    Close,
}

/// How many changes a case of the `case` scenario has had when it is resolved for the last time
/// (and closed by the next).
const CASE_LAST_RESOLVE: u32 = 10;

/// The `case` scenario's complaints that no call is moving: each with its next step and the
/// changes it has had.
type CasePool = std::sync::Mutex<Vec<(String, CaseStep, u32)>>;

/// One case change of the `case` scenario: takes a free complaint (filing one if there is none)
/// and moves it one step; a case whose change failed leaves the pool (its state is unknown).
async fn case_call(channel: &Channel, cases: &CasePool, s: &Settings) -> tonic::Code {
    let token = s.token.as_str();
    let mut c = pb::feedback_service_client::FeedbackServiceClient::new(channel.clone());
    let free = cases.lock().map_or(None, |mut p| p.pop());
    let (name, step, moves) = match free {
        Some(free) => free,
        None => {
            let req = pb::SubmitFeedbackRequest {
                parent: format!("departments/{}", s.department),
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Channel311 as i32,
                    kind: pb::FeedbackKind::Complaint as i32,
                    text: "Load test complaint".into(),
                    ..Default::default()
                }),
                request_id: uuid::Uuid::now_v7().simple().to_string(),
                ..Default::default()
            };
            match c.submit_feedback(authed(req, token)).await {
                Ok(r) => match r.into_inner().case {
                    Some(case) => (case.name, CaseStep::Start, 0),
                    None => return tonic::Code::Internal,
                },
                Err(e) => return e.code(),
            }
        }
    };
    let (result, next) = match step {
        CaseStep::Start => {
            let req = pb::StartCaseRequest { name: name.clone(), ..Default::default() };
            (c.start_case(authed(req, token)).await.map(|_| ()), CaseStep::Resolve)
        }
        CaseStep::Resolve => {
            let req = pb::ResolveCaseRequest { name: name.clone(), ..Default::default() };
            let next = if moves + 1 >= CASE_LAST_RESOLVE { CaseStep::Close } else { CaseStep::Reopen };
            (c.resolve_case(authed(req, token)).await.map(|_| ()), next)
        }
        CaseStep::Reopen => {
            let req = pb::ReopenCaseRequest {
                name: name.clone(),
                note: "The resident says it is back".into(),
                ..Default::default()
            };
            (c.reopen_case(authed(req, token)).await.map(|_| ()), CaseStep::Resolve)
        }
        CaseStep::Close => {
            let req = pb::CloseCaseRequest { name: name.clone(), ..Default::default() };
            // Closed for good: the case leaves the pool, and a later call files a new one.
            return c.close_case(authed(req, token)).await.map_or_else(|e| e.code(), |_| tonic::Code::Ok);
        }
    };
    match result {
        Ok(()) => {
            if let Ok(mut p) = cases.lock() {
                p.push((name, next, moves + 1));
            }
            tonic::Code::Ok
        }
        Err(e) => e.code(),
    }
}

/// One gRPC call of `scenario` (for Mix, chosen by `n`); returns its status code.
async fn grpc_call(channel: &Channel, s: &Settings, scenario: Scenario, n: u64) -> tonic::Code {
    let token = s.token.as_str();
    let dept = format!("departments/{}", s.department);
    let code = |r: Result<(), tonic::Status>| r.map_or_else(|e| e.code(), |()| tonic::Code::Ok);
    match scenario {
        Scenario::Noop => {
            let mut c = tonic_health::pb::health_client::HealthClient::new(channel.clone());
            let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
            match c.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await {
                // A server that answers but is not serving is not a result either.
                Ok(r) if r.get_ref().status == serving => tonic::Code::Ok,
                Ok(_) => tonic::Code::Unavailable,
                Err(e) => e.code(),
            }
        }
        Scenario::Get => {
            let mut c = pb::department_service_client::DepartmentServiceClient::new(channel.clone());
            code(c.get_department(authed(pb::GetDepartmentRequest { name: dept }, token)).await.map(|_| ()))
        }
        Scenario::Submit => {
            let mut c = pb::feedback_service_client::FeedbackServiceClient::new(channel.clone());
            let req = pb::SubmitFeedbackRequest {
                parent: dept,
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Channel311 as i32,
                    kind: if n.is_multiple_of(3) {
                        pb::FeedbackKind::Complaint
                    } else {
                        pb::FeedbackKind::SurveyResponse
                    } as i32,
                    csat: Some(i32::try_from(n % 5).unwrap_or(0) + 1),
                    text: "Load test contact".into(),
                    ..Default::default()
                }),
                resident: None,
                request_id: uuid::Uuid::now_v7().simple().to_string(),
                ..Default::default()
            };
            code(c.submit_feedback(authed(req, token)).await.map(|_| ()))
        }
        Scenario::Timeline => {
            let mut c = pb::feedback_service_client::FeedbackServiceClient::new(channel.clone());
            let req = pb::GetResidentTimelineRequest { resident: format!("residents/{}", s.resident), contact: None };
            code(c.get_resident_timeline(authed(req, token)).await.map(|_| ()))
        }
        Scenario::ReportCard => {
            let mut c = pb::coordination_service_client::CoordinationServiceClient::new(channel.clone());
            let req = pb::GetReportCardRequest {
                department: dept,
                period: pb::ReportPeriod::Quarter as i32,
                date: String::new(),
            };
            code(c.get_report_card(authed(req, token)).await.map(|_| ()))
        }
        Scenario::Dashboard => {
            let mut c = pb::coordination_service_client::CoordinationServiceClient::new(channel.clone());
            let req = pb::GetCityDashboardRequest { period: pb::ReportPeriod::Quarter as i32, date: String::new() };
            code(c.get_city_dashboard(authed(req, token)).await.map(|_| ()))
        }
        Scenario::BoardReport => {
            let mut c = pb::cso_work_service_client::CsoWorkServiceClient::new(channel.clone());
            code(c.get_board_report(authed(pb::GetBoardReportRequest::default(), token)).await.map(|_| ()))
        }
        Scenario::Mix => {
            let pick = match n % 20 {
                0..=7 => Scenario::Get,
                8..=12 => Scenario::Submit,
                13..=15 => Scenario::Timeline,
                16..=18 => Scenario::ReportCard,
                _ => Scenario::Dashboard,
            };
            Box::pin(grpc_call(channel, s, pick, n / 20)).await
        }
        Scenario::Open311List | Scenario::Open311Post | Scenario::Case => tonic::Code::InvalidArgument,
    }
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs `s` and reports.
pub async fn run(s: Settings) -> Result<Report, BenchError> {
    if s.connections == 0 || s.concurrency == 0 {
        return Err(BenchError::Invalid("connections and concurrency must be positive".into()));
    }
    let mut channels = Vec::with_capacity(s.connections);
    for _ in 0..s.connections {
        channels.push(
            Channel::from_shared(s.target.clone()).map_err(|e| BenchError::Invalid(e.to_string()))?.connect().await?,
        );
    }
    let mut s = s;
    if s.scenario == Scenario::Open311Post && s.api_key.is_none() {
        s.api_key = Some(issue_key(&channels[0], &s.token).await?);
    }
    let s = Arc::new(s);
    let counter = Arc::new(AtomicU64::new(0));
    let cases = Arc::new(CasePool::default());
    let start = Instant::now();
    let measure_from = start + s.warmup;
    let end = measure_from + s.duration;
    let limit = Arc::new(tokio::sync::Semaphore::new(s.concurrency));
    let mut tasks = Vec::new();
    match s.rate {
        None => {
            for i in 0..s.concurrency {
                let (s, ch, counter) = (s.clone(), channels[i % channels.len()].clone(), counter.clone());
                let cases = cases.clone();
                tasks.push(tokio::spawn(async move {
                    let mut out = (Vec::new(), BTreeMap::<String, u64>::new());
                    // Each worker holds one keep-alive connection to the gateway.
                    let mut http = s.open311.as_deref().map(open311::Http::new);
                    loop {
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        let t = Instant::now();
                        if t >= end {
                            break;
                        }
                        let code = call(&ch, &mut http, &cases, &s, s.scenario, n).await;
                        if t >= measure_from {
                            out.0.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                            *out.1.entry(code).or_default() += 1;
                        }
                    }
                    out
                }));
            }
        }
        Some(rate) => {
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut i = 0usize;
            while Instant::now() < end {
                tick.tick().await;
                let Ok(permit) = limit.clone().acquire_owned().await else { break };
                let (s, ch, counter) = (s.clone(), channels[i % channels.len()].clone(), counter.clone());
                let cases = cases.clone();
                i += 1;
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    // Open loop: a connection per call (the arrival rate decides, not a pool).
                    let mut http = s.open311.as_deref().map(open311::Http::new);
                    let code = call(&ch, &mut http, &cases, &s, s.scenario, n).await;
                    let mut out = (Vec::new(), BTreeMap::<String, u64>::new());
                    if t >= measure_from && t < end {
                        out.0.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        *out.1.entry(code).or_default() += 1;
                    }
                    out
                }));
            }
        }
    }
    let mut latencies = Vec::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        if let Ok((l, c)) = t.await {
            latencies.extend(l);
            for (k, v) in c {
                *codes.entry(k).or_default() += v;
            }
        }
    }
    latencies.sort_unstable();
    let calls = latencies.len() as u64;
    let errors = codes.iter().filter(|(k, _)| k.as_str() != "Ok").map(|(_, v)| v).sum();
    Ok(Report {
        scenario: s.scenario.name(),
        calls,
        throughput: calls as f64 / s.duration.as_secs_f64(),
        p50_us: percentile(&latencies, 0.5),
        p90_us: percentile(&latencies, 0.9),
        p99_us: percentile(&latencies, 0.99),
        p999_us: percentile(&latencies, 0.999),
        codes,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ranks() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 500);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&[], 0.5), 0);
        assert_eq!(form_urlencoded_byte("k-01.a/b+c"), "k-01.a%2Fb%2Bc");
        for s in [
            "noop",
            "get",
            "submit",
            "timeline",
            "case",
            "report-card",
            "dashboard",
            "board-report",
            "mix",
            "open311-list",
            "open311-post",
        ] {
            assert_eq!(Scenario::parse(s).map(Scenario::name), Some(s));
        }
    }
}
