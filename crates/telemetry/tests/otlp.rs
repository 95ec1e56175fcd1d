//! OTLP export end to end: a tiny in-process OTLP/gRPC receiver gets the span and the metrics of
//! one RPC passed through `RpcTelemetryLayer`, parented on the caller's W3C `traceparent`.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_telemetry::{LogFormat, RpcTelemetryLayer, TelemetryConfig, init};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tower::{Layer, Service, ServiceExt};

struct Traces(UnboundedSender<ExportTraceServiceRequest>);
struct Metrics(UnboundedSender<ExportMetricsServiceRequest>);

#[tonic::async_trait]
impl TraceService for Traces {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(req.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Metrics {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let _ = self.0.send(req.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_an_otlp_receiver() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (traces_tx, mut traces) = unbounded_channel();
    let (metrics_tx, mut metrics) = unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Traces(traces_tx)))
            .add_service(MetricsServiceServer::new(Metrics(metrics_tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );

    let guard = init(&TelemetryConfig {
        log_format: LogFormat::Text,
        log_filter: "warn".into(),
        otlp_endpoint: Some(format!("http://{addr}")),
        service_name: "cityserve-test".into(),
    })
    .unwrap();

    let inner = tower::service_fn(|_req: http::Request<()>| async {
        let mut res = http::Response::new(());
        res.headers_mut().insert("grpc-status", http::HeaderValue::from_static("5"));
        Ok::<_, std::convert::Infallible>(res)
    });
    let mut svc = RpcTelemetryLayer::new().layer(inner);
    let req = http::Request::builder()
        .uri("/cityserve.v1.DepartmentService/GetDepartment")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .body(())
        .unwrap();
    svc.ready().await.unwrap().call(req).await.unwrap();

    // Shutdown flushes both exporters; it blocks, so keep it off the async workers.
    tokio::task::spawn_blocking(move || guard.shutdown()).await.unwrap();

    let batch = tokio::time::timeout(Duration::from_secs(10), traces.recv()).await.unwrap().unwrap();
    let span = batch
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .find(|s| s.name == "cityserve.v1.DepartmentService/GetDepartment")
        .expect("the RPC span was exported");
    assert_eq!(hex(&span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736", "parent taken from traceparent");
    assert_eq!(hex(&span.parent_span_id), "00f067aa0ba902b7");
    let attr = |key: &str| {
        span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.as_ref()).and_then(|v| v.value.clone())
    };
    assert_eq!(attr("rpc.system"), Some(Value::StringValue("grpc".into())));
    assert_eq!(attr("rpc.method"), Some(Value::StringValue("GetDepartment".into())));
    assert_eq!(attr("rpc.grpc.status_code"), Some(Value::IntValue(5)));

    let batch = tokio::time::timeout(Duration::from_secs(10), metrics.recv()).await.unwrap().unwrap();
    let names: Vec<String> = batch
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect();
    for expected in ["rpc.server.requests", "rpc.server.call.duration", "rpc.server.active_requests"] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
