//! Per-RPC span and metrics, as a tower layer in front of the gRPC router.
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Instruments shared by every request.
#[derive(Clone)]
struct Instruments {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    in_flight: UpDownCounter<i64>,
}

/// Tower layer: a span per RPC (`rpc.system`, `rpc.service`, `rpc.method`,
/// `rpc.grpc.status_code`, plus `tenant`, which handlers record), the parent taken from W3C
/// `traceparent` metadata, and the metrics `rpc.server.requests`, `rpc.server.call.duration`
/// (seconds) and `rpc.server.active_requests`.
#[derive(Clone)]
pub struct RpcTelemetryLayer {
    instruments: Instruments,
}

impl Default for RpcTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RpcTelemetryLayer {
    /// Builds the instruments from the global meter provider (a no-op without OTLP export).
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("cityserve");
        Self {
            instruments: Instruments {
                requests: meter.u64_counter("rpc.server.requests").with_description("RPCs handled").build(),
                duration: meter
                    .f64_histogram("rpc.server.call.duration")
                    .with_unit("s")
                    .with_description("Time to the response headers of an RPC")
                    .with_boundaries(vec![
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ])
                    .build(),
                in_flight: meter
                    .i64_up_down_counter("rpc.server.active_requests")
                    .with_description("RPCs in progress")
                    .build(),
            },
        }
    }
}

impl<S> tower::Layer<S> for RpcTelemetryLayer {
    type Service = RpcTelemetryService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcTelemetryService { inner, instruments: self.instruments.clone() }
    }
}

/// The service produced by [`RpcTelemetryLayer`].
#[derive(Clone)]
pub struct RpcTelemetryService<S> {
    inner: S,
    instruments: Instruments,
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Splits `/cityserve.v1.DepartmentService/GetDepartment` into service and method.
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((s, m)) => (s.to_owned(), m.to_owned()),
        None => (trimmed.to_owned(), String::new()),
    }
}

/// The gRPC status of a response: trailers-only responses (every error tonic returns for a unary
/// call) carry it in the headers; a normal response ends with OK.
fn grpc_status<B>(res: &http::Response<B>) -> i64 {
    res.headers().get("grpc-status").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

impl<S, B, ResBody> tower::Service<http::Request<B>> for RpcTelemetryService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (service, method) = split_path(req.uri().path());
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
        let span = tracing::info_span!(
            "rpc",
            otel.name = %format!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = tracing::field::Empty,
            tenant = tracing::field::Empty,
            enduser.role = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        let _ = span.set_parent(parent);
        {
            let cx = span.context();
            let sc = opentelemetry::trace::TraceContextExt::span(&cx).span_context().clone();
            if sc.is_valid() {
                span.record("trace_id", sc.trace_id().to_string());
            }
        }
        let quiet = service == "grpc.health.v1.Health";
        let attrs = vec![
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
        ];
        let instruments = self.instruments.clone();
        instruments.in_flight.add(1, &attrs);
        let start = Instant::now();
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let record_span = span.clone();
        Box::pin(
            async move {
                let result = fut.await;
                let elapsed = start.elapsed();
                let code = match &result {
                    Ok(res) => grpc_status(res),
                    Err(_) => 2,
                };
                record_span.record("rpc.grpc.status_code", code);
                if matches!(code, 2 | 4 | 12 | 13 | 14 | 15) {
                    record_span.record("otel.status_code", "ERROR");
                }
                let mut attrs = attrs;
                instruments.in_flight.add(-1, &attrs);
                attrs.push(KeyValue::new("rpc.grpc.status_code", code));
                instruments.requests.add(1, &attrs);
                instruments.duration.record(elapsed.as_secs_f64(), &attrs);
                let name = usize::try_from(code).ok().and_then(|c| CODE_NAMES.get(c)).copied().unwrap_or("UNKNOWN");
                let elapsed_ms = elapsed.as_secs_f64() * 1e3;
                match &result {
                    Err(e) => tracing::error!(error = %e, "rpc failed in transport"),
                    // Probes call health every few seconds; their lines would drown the rest.
                    Ok(_) if quiet => tracing::debug!(code = name, elapsed_ms, "rpc finished"),
                    Ok(_) => tracing::info!(code = name, elapsed_ms, "rpc finished"),
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_service_and_method() {
        assert_eq!(
            split_path("/cityserve.v1.DepartmentService/GetDepartment"),
            ("cityserve.v1.DepartmentService".to_owned(), "GetDepartment".to_owned())
        );
        assert_eq!(split_path("/odd"), ("odd".to_owned(), String::new()));
    }

    #[test]
    fn status_comes_from_trailers_only_headers() {
        let ok = http::Response::new(());
        assert_eq!(grpc_status(&ok), 0);
        let mut err = http::Response::new(());
        err.headers_mut().insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(grpc_status(&err), 5);
    }
}
