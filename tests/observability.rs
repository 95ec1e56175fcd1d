//! Observability end to end: the real `cityserve` binary, exporting to a tiny in-process OTLP
//! receiver, produces for one RPC a span with the RPC semantic-convention attributes and the
//! tenant, parented on the caller's `traceparent`; its metrics arrive; and its JSON log line
//! carries the same trace id. Its own test binary: the server runs as a child process.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(Clone, Default)]
struct Received {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.traces.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Received {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.metrics.lock().unwrap().push(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

const SECRET: &str = "observability-test-secret-0123456789abcdef";
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_leaves_a_span_metrics_and_a_log_line_with_its_trace_id() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    let received = Received::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(received.clone()))
            .add_service(MetricsServiceServer::new(received.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_cityserve");
    let env = |cmd: &mut tokio::process::Command| {
        cmd.env("CITYSERVE_DATABASE_URL", format!("sqlite://{}", dir.path().join("c.db").display()))
            .env("CITYSERVE_DATA_DIR", dir.path())
            .env("CITYSERVE_JWT_SECRET", SECRET)
            .env("CITYSERVE_LISTEN", format!("127.0.0.1:{port}"))
            .env("CITYSERVE_LOG_FORMAT", "json")
            .env("CITYSERVE_LOG", "info")
            .env("CITYSERVE_BREACH_SCAN_INTERVAL", "0s")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
            .env_remove("CITYSERVE_CONFIG");
    };
    let mut boot = tokio::process::Command::new(bin);
    env(&mut boot);
    let status = boot
        .args(["bootstrap-chief", "--department", "mdo", "--officer-id", "chief-cso", "--name", "Casey Chief"])
        .args(["--email", "casey@city.example"])
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let mut serve = tokio::process::Command::new(bin);
    env(&mut serve);
    let mut child =
        serve.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    for out in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(out).lines();
            while let Ok(Some(l)) = reader.next_line().await {
                lines.lock().unwrap().push(l);
            }
        });
    }

    // Wait (by polling health, not sleeping blindly) until the server serves.
    let endpoint = format!("http://127.0.0.1:{port}");
    let channel = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(c) = tonic::transport::Channel::from_shared(endpoint.clone()).unwrap().connect().await {
                let mut h = tonic_health::pb::health_client::HealthClient::new(c.clone());
                if let Ok(r) = h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await
                    && r.into_inner().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                {
                    return c;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("server never reported SERVING");

    let chief = cityserve_domain::Caller {
        subject: "chief-cso".into(),
        role: cityserve_domain::Role::Chief,
        departments: vec![],
    };
    let token = cityserve_api::mint_token(SECRET.as_bytes(), "cityserve", "cityserve", &chief, Duration::from_secs(60))
        .unwrap();
    let mut req = tonic::Request::new(cityserve_proto::v1::GetDepartmentRequest { name: "departments/mdo".into() });
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req.metadata_mut().insert("traceparent", format!("00-{TRACE}-b7ad6b7169203331-01").parse().unwrap());
    cityserve_proto::v1::department_service_client::DepartmentServiceClient::new(channel.clone())
        .get_department(req)
        .await
        .unwrap();
    // A submission goes through group commit, which reports its batch sizes.
    let mut submit = tonic::Request::new(cityserve_proto::v1::SubmitFeedbackRequest {
        parent: "departments/mdo".into(),
        feedback: Some(cityserve_proto::v1::Feedback {
            channel: cityserve_proto::v1::Channel::Web as i32,
            kind: cityserve_proto::v1::FeedbackKind::Compliment as i32,
            text: "Quick and kind".into(),
            ..Default::default()
        }),
        resident: None,
        request_id: "observability-1".into(),
        survey_token: String::new(),
        resolved: None,
    });
    submit.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    cityserve_proto::v1::feedback_service_client::FeedbackServiceClient::new(channel)
        .submit_feedback(submit)
        .await
        .unwrap();

    // SIGTERM: the server drains and flushes its telemetry before exiting.
    let pid = child.id().unwrap().to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "graceful exit: {exit:?}");

    let traces = received.traces.lock().unwrap().clone();
    let span = traces
        .iter()
        .flat_map(|b| &b.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "cityserve.v1.DepartmentService/GetDepartment")
        .expect("the RPC's span reached the collector");
    let hex: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, TRACE, "the caller's traceparent is the parent");
    let attr = |key: &str| {
        span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()).and_then(|v| v.value.clone())
    };
    assert_eq!(attr("rpc.system"), Some(Value::StringValue("grpc".into())));
    assert_eq!(attr("rpc.service"), Some(Value::StringValue("cityserve.v1.DepartmentService".into())));
    assert_eq!(attr("rpc.method"), Some(Value::StringValue("GetDepartment".into())));
    assert_eq!(attr("rpc.grpc.status_code"), Some(Value::IntValue(0)));
    assert_eq!(attr("tenant"), Some(Value::StringValue("mdo".into())), "the span names the tenant");

    let metrics = received.metrics.lock().unwrap().clone();
    let names: Vec<String> = metrics
        .iter()
        .flat_map(|b| &b.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect();
    for expected in
        ["rpc.server.requests", "rpc.server.call.duration", "rpc.server.active_requests", "cityserve.write.batch_size"]
    {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
    // The submission's batch is counted under its queue, apart from the audited reads' batches.
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let queues: Vec<Option<Value>> = metrics
        .iter()
        .flat_map(|b| &b.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "cityserve.write.batch_size")
        .filter_map(|m| match &m.data {
            Some(Data::Histogram(h)) => Some(&h.data_points),
            _ => None,
        })
        .flatten()
        .map(|p| {
            p.attributes.iter().find(|a| a.key == "queue").and_then(|a| a.value.as_ref()).and_then(|v| v.value.clone())
        })
        .collect();
    assert!(queues.contains(&Some(Value::StringValue("submit_feedback".into()))), "batch sizes by queue: {queues:?}");

    let logs = lines.lock().unwrap().clone();
    let rpc_line = logs
        .iter()
        .find(|l| l.contains("rpc finished") && l.contains("GetDepartment"))
        .unwrap_or_else(|| panic!("no log line for the RPC in {logs:#?}"));
    let parsed: serde_json::Value = serde_json::from_str(rpc_line).expect("JSON log lines");
    assert!(rpc_line.contains(TRACE), "the log line carries the trace id: {parsed}");
    assert!(!logs.iter().any(|l| l.contains(&token)), "tokens never reach the logs");
}
