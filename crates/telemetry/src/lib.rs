//! Telemetry for CityServe: `tracing` logs to stdout (text or JSON), OpenTelemetry traces and
//! metrics exported over OTLP/gRPC when an endpoint is configured, W3C trace-context propagation,
//! and [`RpcTelemetryLayer`], which gives every RPC a span and metrics following the OpenTelemetry
//! RPC semantic conventions.

mod rpc;

pub use rpc::{RpcTelemetryLayer, RpcTelemetryService};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Telemetry settings.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// Log format.
    pub log_format: LogFormat,
    /// `EnvFilter` directives, e.g. `info,cityserve=debug`.
    pub log_filter: String,
    /// OTLP/gRPC endpoint (`http://collector:4317`); `None` disables export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` resource attribute.
    pub service_name: String,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Bad configuration (filter syntax, endpoint without scheme, ...).
    #[error("telemetry configuration: {0}")]
    Config(String),
    /// The exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
}

/// Keeps the providers alive; [`TelemetryGuard::shutdown`] flushes pending spans and metrics.
pub struct TelemetryGuard {
    tracer: SdkTracerProvider,
    meter: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops exporters. Call once on shutdown, inside the Tokio runtime.
    pub fn shutdown(self) {
        if let Err(e) = self.tracer.shutdown() {
            eprintln!("telemetry: trace flush failed: {e}");
        }
        if let Some(m) = self.meter
            && let Err(e) = m.shutdown()
        {
            eprintln!("telemetry: metrics flush failed: {e}");
        }
    }
}

fn resource(service_name: &str) -> opentelemetry_sdk::Resource {
    opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build()
}

/// Installs the global subscriber, propagator and (with an endpoint) OTLP exporters. Must be
/// called inside a Tokio runtime when an endpoint is set: the exporters run on it.
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_new(&config.log_filter).map_err(|e| TelemetryError::Config(format!("log filter: {e}")))?;

    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource(&config.service_name));
    let mut meter = None;
    if let Some(endpoint) = &config.otlp_endpoint {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(TelemetryError::Config(format!(
                "OTEL_EXPORTER_OTLP_ENDPOINT must start with http:// or https:// (got {endpoint:?})"
            )));
        }
        let spans = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint_str(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        // The async-runtime processor runs on Tokio, where the tonic exporter's I/O lives.
        let processor = opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            spans,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
        tracer_builder = tracer_builder.with_span_processor(processor);
        let metrics = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint_str(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let reader = opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
            metrics,
            opentelemetry_sdk::runtime::Tokio,
        )
        .with_interval(std::time::Duration::from_secs(10))
        .build();
        let provider =
            SdkMeterProvider::builder().with_resource(resource(&config.service_name)).with_reader(reader).build();
        opentelemetry::global::set_meter_provider(provider.clone());
        meter = Some(provider);
    }
    let tracer_provider = tracer_builder.build();
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());

    // The exporter's own stack (h2, hyper, tonic, tower) must not feed spans back into itself.
    let otel_filter = Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("h2", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("tonic", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
        .with_target("opentelemetry", LevelFilter::OFF);
    let otel_layer =
        tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("cityserve")).with_filter(otel_filter);

    let registry = tracing_subscriber::registry().with(otel_layer);
    let result = match config.log_format {
        LogFormat::Text => {
            // Colour only for a terminal: log files and collectors get plain text.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            registry.with(tracing_subscriber::fmt::layer().with_ansi(ansi).with_filter(filter)).try_init()
        }
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(true).with_filter(filter),
            )
            .try_init(),
    };
    result.map_err(|e| TelemetryError::Config(format!("a global subscriber is already installed: {e}")))?;
    Ok(TelemetryGuard { tracer: tracer_provider, meter })
}

/// The trace id of the current span, as 32 lowercase hex digits, if it is part of a trace.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// Helper so `with_endpoint` accepts `&String` without cloning at every call site.
trait WithEndpointStr: Sized {
    fn with_endpoint_str(self, endpoint: &str) -> Self;
}

impl<B: opentelemetry_otlp::WithExportConfig> WithEndpointStr for B {
    fn with_endpoint_str(self, endpoint: &str) -> Self {
        self.with_endpoint(endpoint.to_owned())
    }
}
