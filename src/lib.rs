//! The `cityserve` server: wires configuration, the storage backend chosen by the database URL,
//! authentication, telemetry and the gRPC services into one process.
//!
//! The binary (`src/main.rs`) is a thin CLI over [`serve`], [`migrate`] and [`secret`]; the
//! end-to-end tests in `tests/` call [`serve`] directly on an ephemeral loopback port.

pub mod config;
pub mod secret;

pub mod bootstrap;
pub mod demo;
pub mod gate;

use cityserve_api::{
    ApiKeysApi, AuthConfig, AuthLayer, Authenticator, CoordinationApi, DepartmentsApi, FeedbackApi, KeyDeriver,
    OfficersApi, StandingLayer,
};
use cityserve_proto::v1::api_key_service_server::ApiKeyServiceServer;
use cityserve_proto::v1::audit_service_server::AuditServiceServer;
use cityserve_proto::v1::coordination_service_server::CoordinationServiceServer;
use cityserve_proto::v1::department_service_server::DepartmentServiceServer;
use cityserve_proto::v1::feedback_service_server::FeedbackServiceServer;
use cityserve_proto::v1::officer_service_server::OfficerServiceServer;
use cityserve_store::{CoordinationStore, DepartmentStore, Open311Store, WriteCtx};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};
use config::Config;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic_health::ServingStatus;

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Key material could not be loaded or created.
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] cityserve_store::StoreError),
    /// Token verification could not be set up.
    #[error("auth: {0}")]
    Auth(#[from] cityserve_api::auth::AuthError),
    /// The gRPC server failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection descriptors could not be loaded.
    #[error("reflection: {0}")]
    Reflection(String),
    /// Binding the listener failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL with row-level security.
    Postgres,
}

/// Picks the backend from the URL's scheme.
pub fn backend_of(url: &str) -> Backend {
    if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres }
}

/// Applies pending migrations and returns.
pub async fn migrate(config: &Config) -> Result<(), ServeError> {
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 1, migrate: true }).await?;
        }
        Backend::Postgres => PgStore::migrate(&config.database_url).await?,
    }
    Ok(())
}

/// Builds the token verifier from the configuration (generating the HS256 secret on first run).
pub fn authenticator(config: &Config) -> Result<Authenticator, ServeError> {
    let secret = secret::load_or_create(config)?;
    let public_key = match &config.jwt_public_key_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| secret::SecretError(format!("{}: {e}", p.display())))?),
        None => None,
    };
    Ok(Authenticator::new(&AuthConfig {
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        hs256_secret: Some(secret),
        rs256_public_key_pem: public_key,
    })?)
}

/// Serves on `listener` until `shutdown` resolves, then drains in-flight calls for at most
/// `config.shutdown_grace`. Opens (and migrates) the database named by `config.database_url`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let open311 = match config.open311_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    serve_all(config, listener, open311, shutdown).await
}

/// Like [`serve`], with the Open311 gateway's listener bound by the caller (`None`: no gateway).
pub async fn serve_all(
    config: Config,
    listener: TcpListener,
    open311: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let auth = authenticator(&config)?;
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            // SQLite reads run on the server's own cores, so readers beyond two per core only add
            // memory (each keeps its own page and statement caches): 16 readers measured 78 MiB
            // RSS under the mixed load, 4 readers 48 MiB (docs/benchmarks.md).
            let cores = std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2));
            let readers = config.db_max_connections.min(2 * cores);
            let store =
                SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: readers, migrate: true })
                    .await?;
            serve_with(store, config, auth, listener, open311, shutdown, gate::DbGate::new(true)).await
        }
        Backend::Postgres => {
            let options = PgOptions {
                max_connections: config.db_max_connections,
                migrate: true,
                app_role: config.db_app_role.clone(),
            };
            // Serve at once (health NOT_SERVING, RPCs UNAVAILABLE behind the gate); the database
            // is reached, migrated and checked in the background until that succeeds.
            let store = PgStore::connect_lazy(&config.database_url, options.clone())?;
            let gate = gate::DbGate::new(false);
            let prepare = tokio::spawn(prepare_postgres(config.database_url.clone(), options, gate.clone()));
            let result = serve_with(store, config, auth, listener, open311, shutdown, gate).await;
            prepare.abort();
            result
        }
    }
}

/// TLS for the gRPC listener from `tls_cert_file`/`tls_key_file`, requiring client certificates
/// issued by `tls_client_ca_file` when that is set; `None` for plaintext.
fn tls_config(config: &Config) -> Result<Option<tonic::transport::ServerTlsConfig>, ServeError> {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    let read = |setting: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| config::ConfigError(format!("{setting} {}: {e}", path.display())))
    };
    let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Ok(None);
    };
    let identity = Identity::from_pem(read("tls_cert_file", cert)?, read("tls_key_file", key)?);
    // A client that stalls the handshake is dropped.
    let mut tls = ServerTlsConfig::new().identity(identity).timeout(Duration::from_secs(10));
    if let Some(ca) = &config.tls_client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(read("tls_client_ca_file", ca)?));
    }
    Ok(Some(tls))
}

fn cors(config: &Config) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if config.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<http::HeaderValue> =
            config.cors_allowed_origins.iter().filter_map(|o| http::HeaderValue::from_str(o).ok()).collect();
        AllowOrigin::list(list)
    };
    let headers = ["grpc-status", "grpc-message", "grpc-status-details-bin"].map(http::HeaderName::from_static);
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([http::Method::POST, http::Method::OPTIONS])
            .allow_headers(tower_http::cors::Any)
            .expose_headers(headers)
            .max_age(Duration::from_secs(3600)),
    )
}

/// Sets the overall and the service's health. Not generic on purpose: rustc cannot always prove
/// `Send` for borrows held across awaits inside generic async code.
async fn set_health(
    health: tonic_health::server::HealthReporter,
    services: &'static [&'static str],
    status: ServingStatus,
) {
    health.set_service_status(String::new(), status).await;
    for service in services {
        health.set_service_status((*service).to_owned(), status).await;
    }
}

/// Migrates and checks a PostgreSQL database until that succeeds (backing off up to 5 s between
/// attempts), then lets the gate open. A role that would bypass row-level security is an error
/// logged on every attempt: the gate stays closed, so the server never serves with it.
async fn prepare_postgres(url: String, options: PgOptions, gate: gate::DbGate) {
    let mut delay = Duration::from_millis(250);
    loop {
        match PgStore::prepare(&url, &options).await {
            Ok(()) => {
                tracing::info!("database reached and migrated");
                gate.set_prepared();
                return;
            }
            Err(e @ cityserve_store::StoreError::Unavailable(_)) => {
                tracing::warn!(error = %e, retry_in = ?delay, "database unavailable; retrying");
            }
            Err(e) => tracing::error!(error = %e, retry_in = ?delay, "database not usable; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Longest a database check may take before the database counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the health status and the gate in step with the database: NOT_SERVING (and RPCs
/// answered UNAVAILABLE) while it does not answer. Checks every 5 s while serving, every second
/// while not, and at once when a call answered UNAVAILABLE.
async fn watch_database<S: DepartmentStore>(
    store: S,
    health: tonic_health::server::HealthReporter,
    services: &'static [&'static str],
    gate: gate::DbGate,
) {
    let mut last = None;
    loop {
        let status = if !gate.is_prepared() {
            ServingStatus::NotServing
        } else {
            match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
                Ok(Ok(())) => ServingStatus::Serving,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "database health check failed");
                    ServingStatus::NotServing
                }
                Err(_) => {
                    tracing::warn!(timeout = ?PING_TIMEOUT, "database health check timed out");
                    ServingStatus::NotServing
                }
            }
        };
        gate.set_up(status == ServingStatus::Serving);
        if last != Some(status) {
            set_health(health.clone(), services, status).await;
            tracing::info!(serving = matches!(status, ServingStatus::Serving), "health status changed");
            last = Some(status);
        }
        let every = if status == ServingStatus::Serving { 5 } else { 1 };
        gate.wait_for_check(Duration::from_secs(every)).await;
        // A floor between checks however often they are requested.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The CityServe services, as health reports them.
const SERVICES: &[&str] = &[
    <DepartmentServiceServer<DepartmentsApi<SqliteStore>> as NamedService>::NAME,
    <OfficerServiceServer<OfficersApi<SqliteStore>> as NamedService>::NAME,
    <FeedbackServiceServer<FeedbackApi<SqliteStore>> as NamedService>::NAME,
    <CoordinationServiceServer<CoordinationApi<SqliteStore>> as NamedService>::NAME,
    <ApiKeyServiceServer<ApiKeysApi<SqliteStore>> as NamedService>::NAME,
    <AuditServiceServer<cityserve_api::AuditApi<SqliteStore>> as NamedService>::NAME,
];

/// Most escalations one scan transaction raises; a scan that hits it goes on at once.
const BREACH_SCAN_BATCH: u32 = 500;

/// Escalates SLA breaches every `every`. Safe with several replicas on one database: the store
/// escalates each breach exactly once.
async fn breach_scanner<S: CoordinationStore>(store: S, every: Duration) {
    let (caller, scope) = cityserve_domain::policy::system_scope(cityserve_domain::coordination::BREACH_SCAN_ACTOR);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        loop {
            let ctx = WriteCtx { scope: &scope, actor: &caller, action: "escalation.create", trace_id: None };
            match store.scan_breaches(&ctx, chrono::Utc::now(), BREACH_SCAN_BATCH).await {
                Ok(raised) => {
                    if !raised.is_empty() {
                        tracing::info!(escalated = raised.len(), "breach scan escalated overdue work");
                    }
                    if raised.len() < BREACH_SCAN_BATCH as usize {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "breach scan failed; retrying at the next interval");
                    break;
                }
            }
        }
    }
}

async fn serve_with<S: Open311Store + cityserve_store::AuditStore>(
    store: S,
    config: Config,
    auth: Authenticator,
    listener: TcpListener,
    open311: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    gate: gate::DbGate,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(health.clone(), SERVICES, ServingStatus::NotServing).await;
    let watcher = tokio::spawn(watch_database(store.clone(), health.clone(), SERVICES, gate.clone()));

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cityserve_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cityserve_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let limit = config.max_message_bytes;
    let departments = DepartmentsApi::new(store.clone())
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let officers =
        OfficersApi::new(store.clone()).into_server().max_decoding_message_size(limit).max_encoding_message_size(limit);

    let keyer = cityserve_domain::ResidentKeyer::new(&secret::resident_key(&config)?);
    let feedback_api = FeedbackApi::new(store.clone(), keyer)
        .with_phone_country_code(config.phone_country_code.trim().trim_start_matches('+'));
    let key_deriver = KeyDeriver::new(&secret::api_key_secret(&config)?);
    let api_keys = ApiKeysApi::new(store.clone(), key_deriver.clone())
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let gateway = open311.map(|l| {
        let settings = cityserve_open311::Settings {
            jurisdiction_id: config.open311_jurisdiction_id.clone(),
            requests_per_minute: config.open311_requests_per_minute,
        };
        let router =
            cityserve_open311::Gateway::new(store.clone(), feedback_api.clone(), key_deriver.clone(), settings)
                .router();
        (l, router)
    });
    let feedback = feedback_api.into_server().max_decoding_message_size(limit).max_encoding_message_size(limit);
    let audit = cityserve_api::AuditApi::new(store.clone()).into_server().max_decoding_message_size(limit);

    let (stop_watches, watches_stop) = tokio::sync::watch::channel(false);
    let coordination = CoordinationApi::new(store.clone())
        .with_shutdown(watches_stop)
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let scanner = (!config.breach_scan_interval.is_zero())
        .then(|| tokio::spawn(breach_scanner(store.clone(), config.breach_scan_interval)));

    let addr = listener.local_addr()?;
    let layers = tower::ServiceBuilder::new()
        .layer(cityserve_telemetry::RpcTelemetryLayer::new())
        .option_layer(cors(&config))
        .layer(tonic_web::GrpcWebLayer::new())
        // Limits (crates/api/src/limits.rs) answer in gRPC, after GrpcWeb so browsers read them
        // too: DEADLINE_EXCEEDED by the shorter of request_timeout and the client's grpc-timeout
        // (instead of tonic's CANCELLED), UNAVAILABLE + retry-after past max_concurrent_requests.
        .layer(cityserve_api::DeadlineLayer::new(config.request_timeout))
        .layer(cityserve_api::ConcurrencyLimitLayer::new(config.max_concurrent_requests))
        .layer(AuthLayer::new(auth))
        // Per tenant of the authenticated caller: RESOURCE_EXHAUSTED + retry-after.
        .layer(cityserve_api::TenantRateLimitLayer::new(config.tenant_requests_per_second))
        // While the database is not ready, CityServe RPCs are answered UNAVAILABLE here.
        .layer(gate::GateLayer::new(gate))
        // Refused mutations and resident-data reads get an audit row (crates/api/src/audit.rs).
        .layer(cityserve_api::AuditLayer::new(store.clone()))
        // After authentication: the token's role must still be held by its subject.
        .layer(StandingLayer::new(store, config.standing_cache_ttl))
        // Innermost, so every layer above (audit, telemetry) sees the mapped code: undecodable
        // request bodies are INVALID_ARGUMENT rather than tonic's INTERNAL (docs/security.md).
        .layer(cityserve_api::DecodeErrorLayer)
        .into_inner();
    // HTTP/2 hardening (docs/security.md, "Limits and transport"): the deadline is the layer
    // above; dead peers are dropped by keep-alive pings, rapid-reset floods by a GOAWAY.
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls_config(&config)? {
        builder = builder.tls_config(tls)?;
    }
    let router = builder
        .accept_http1(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .max_concurrent_streams(Some(256))
        .http2_max_pending_accept_reset_streams(Some(20))
        .http2_max_local_error_reset_streams(Some(256))
        .http2_max_header_list_size(16 * 1024)
        .max_frame_size(16 * 1024)
        .initial_stream_window_size(256 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .http2_adaptive_window(Some(false))
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(departments)
        .add_service(officers)
        .add_service(feedback)
        .add_service(coordination)
        .add_service(api_keys)
        .add_service(audit);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Socket options are set here: `serve_with_incoming*` ignores the builder's TCP settings.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let incoming = tokio_stream::StreamExt::map(incoming, |conn| {
        conn.map(|io| cityserve_api::PrefaceDeadline::new(io, Duration::from_secs(10)))
    });
    let mut server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
        let _ = stop_rx.await;
    }));
    tracing::info!(%addr, backend = ?backend_of(&config.database_url), "cityserve listening");
    let (stop_open311, open311_stop) = tokio::sync::watch::channel(false);
    let open311_server = match gateway {
        Some((l, router)) => {
            let addr = l.local_addr()?;
            tracing::info!(%addr, "open311 gateway listening on /open311/v2/");
            let mut stop = open311_stop.clone();
            Some(tokio::spawn(async move {
                let graceful = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if let Err(e) = axum::serve(l, router).with_graceful_shutdown(graceful).await {
                    tracing::error!(error = %e, "open311 gateway failed");
                }
            }))
        }
        None => None,
    };

    tokio::select! {
        result = &mut server => {
            watcher.abort();
            if let Some(s) = &scanner {
                s.abort();
            }
            if let Some(g) = &open311_server {
                g.abort();
            }
            return match result {
                Ok(r) => r.map_err(ServeError::from),
                Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
            };
        }
        () = shutdown => {}
    }
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: draining in-flight calls");
    watcher.abort();
    if let Some(s) = &scanner {
        s.abort();
    }
    set_health(health.clone(), SERVICES, ServingStatus::NotServing).await;
    let _ = stop_watches.send(true);
    let _ = stop_open311.send(true);
    let _ = stop_tx.send(());
    match tokio::time::timeout(config.shutdown_grace, &mut server).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => return Err(ServeError::Io(std::io::Error::other(e))),
        Err(_) => {
            tracing::warn!("drain deadline passed; aborting remaining calls");
            server.abort();
        }
    }
    if let Some(g) = open311_server
        && tokio::time::timeout(config.shutdown_grace, g).await.is_err()
    {
        tracing::warn!("open311 gateway did not drain in time");
    }
    tracing::info!("stopped");
    Ok(())
}
