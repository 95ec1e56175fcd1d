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
pub mod rollups;

use cityserve_api::{
    ApiKeysApi, AuthConfig, Authenticator, CoordinationApi, DepartmentsApi, FeedbackApi, KeyDeriver, OfficersApi,
};
use cityserve_proto::v1::api_key_service_server::ApiKeyServiceServer;
use cityserve_proto::v1::audit_service_server::AuditServiceServer;
use cityserve_proto::v1::coordination_service_server::CoordinationServiceServer;
use cityserve_proto::v1::cso_work_service_server::CsoWorkServiceServer;
use cityserve_proto::v1::department_service_server::DepartmentServiceServer;
use cityserve_proto::v1::feedback_service_server::FeedbackServiceServer;
use cityserve_proto::v1::officer_service_server::OfficerServiceServer;
use cityserve_proto::v1::service_account_service_server::ServiceAccountServiceServer;
use cityserve_store::{CoordinationStore, DepartmentStore, WriteCtx};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};
use config::Config;
use std::future::Future;
use std::sync::atomic::AtomicU64;
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
    Auth(#[from] cityserve_api::layers::auth::AuthError),
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

/// How many migrations this build has for the configured database.
pub fn migrations_total(config: &Config) -> u64 {
    match backend_of(&config.database_url) {
        Backend::Sqlite => cityserve_store_sqlite::migration_count(),
        Backend::Postgres => cityserve_store_postgres::migration_count(),
    }
}

/// How many of them the configured database has applied so far (`None` while unreadable), for
/// `cityserve migrate`'s progress: read on a connection of its own while [`migrate`] runs.
pub async fn migrations_applied(config: &Config) -> Option<u64> {
    match backend_of(&config.database_url) {
        Backend::Sqlite => cityserve_store_sqlite::applied_migrations(&config.database_url).await,
        Backend::Postgres => cityserve_store_postgres::applied_migrations(&config.database_url).await,
    }
}

/// Applies pending migrations, brings the report-card counters up to date (a rebuild when
/// their definitions or the city's time zone changed, counting the raw rows it reads in `read`)
/// and returns.
pub async fn migrate(config: &Config, read: &AtomicU64) -> Result<(), ServeError> {
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            let store =
                SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 1, migrate: true }).await?;
            let done = rollups::rebuild(&store, true, read).await;
            store.close().await;
            done?;
        }
        Backend::Postgres => {
            let options = PgOptions { max_connections: 2, migrate: true, app_role: config.db_app_role.clone() };
            let store = PgStore::connect(&config.database_url, options).await?;
            let done = rollups::rebuild(&store, true, read).await;
            store.close().await;
            done?;
        }
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
        leeway: config.jwt_leeway,
        max_lifetime: config.jwt_max_token_lifetime,
        oidc: oidc(config),
    })?)
}

/// The identity provider the configuration names, if any.
fn oidc(config: &Config) -> Option<cityserve_api::OidcConfig> {
    let issuer = config.oidc_issuer.trim();
    if issuer.is_empty() {
        return None;
    }
    let audience = if config.oidc_audience.is_empty() { &config.jwt_audience } else { &config.oidc_audience };
    Some(cityserve_api::OidcConfig {
        issuer: issuer.to_owned(),
        audience: audience.clone(),
        // Checked by Config::validate.
        match_claim: cityserve_api::MatchClaim::parse(&config.oidc_match_claim).unwrap_or_default(),
        refresh_interval: cityserve_api::DEFAULT_OIDC_REFRESH_INTERVAL,
    })
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
    if let Some(keys) = auth.provider().cloned() {
        // Fetched in the background: a provider down at start-up must not keep the city's own
        // tokens out. A provider token before this ends fetches the keys itself.
        tokio::spawn(async move {
            if let Err(e) = keys.refresh().await {
                tracing::warn!(error = %e, "identity provider keys not fetched at start; a provider token fetches them");
            }
        });
    }
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            // SQLite reads run on the server's own cores, so readers beyond two per core only add
            // memory (each keeps its own page and statement caches): 16 readers measured 78 MiB
            // RSS under the mixed load, 4 readers 48 MiB (docs/benchmarks.md).
            let cores = std::thread::available_parallelism().map_or(2, |n| u32::try_from(n.get()).unwrap_or(2));
            let readers = config.db_max_connections.min(2 * cores);
            // One writer: the database has one write lock, and its batches are what scale.
            let store =
                SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: readers, migrate: true })
                    .await?
                    .with_group_commit(1, config.write_batch_max);
            rollups::rebuild(&store, true, &AtomicU64::new(0)).await?;
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
            // A quarter of the pool writes batches, so writes never starve reads of connections.
            let writers = (config.db_max_connections as usize / 4).max(1);
            let store = PgStore::connect_lazy(&config.database_url, options.clone())?
                .with_group_commit(writers, config.write_batch_max);
            let gate = gate::DbGate::new(false);
            let prepare =
                tokio::spawn(prepare_postgres(config.database_url.clone(), options, store.clone(), gate.clone()));
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

/// Migrates and checks a PostgreSQL database, and brings its report-card counters up to date,
/// until that succeeds (backing off up to 5 s between
/// attempts), then lets the gate open. A role that would bypass row-level security is an error
/// logged on every attempt: the gate stays closed, so the server never serves with it.
async fn prepare_postgres(url: String, options: PgOptions, store: PgStore, gate: gate::DbGate) {
    let mut delay = Duration::from_millis(250);
    loop {
        let prepared = match PgStore::prepare(&url, &options).await {
            Ok(()) => rollups::rebuild(&store, true, &AtomicU64::new(0)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match prepared {
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
    <ServiceAccountServiceServer<cityserve_api::ServiceAccountsApi<SqliteStore>> as NamedService>::NAME,
    <CsoWorkServiceServer<cityserve_api::CsoWorkApi<SqliteStore>> as NamedService>::NAME,
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
            let action = cityserve_domain::AuditAction::EscalationCreate.as_str();
            let ctx = WriteCtx { scope: &scope, actor: &caller, action, trace_id: None };
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

/// The gRPC services of one server, built over one store, and what serving them needs besides.
struct Services<S> {
    departments: DepartmentServiceServer<DepartmentsApi<S>>,
    officers: OfficerServiceServer<OfficersApi<S>>,
    feedback: FeedbackServiceServer<FeedbackApi<S>>,
    coordination: CoordinationServiceServer<CoordinationApi<S>>,
    api_keys: ApiKeyServiceServer<ApiKeysApi<S>>,
    service_accounts: ServiceAccountServiceServer<cityserve_api::ServiceAccountsApi<S>>,
    cso_work: CsoWorkServiceServer<cityserve_api::CsoWorkApi<S>>,
    audit: AuditServiceServer<cityserve_api::AuditApi<S>>,
    /// The Open311 gateway's listener and router, when it is enabled.
    gateway: Option<(TcpListener, axum::Router)>,
    /// Ends open `Watch` streams at shutdown.
    stop_watches: tokio::sync::watch::Sender<bool>,
}

/// Step 1: the services, each bounded by `max_message_bytes`, and the Open311 gateway sharing
/// the feedback service.
fn services<S: cityserve_store::Store>(
    store: &S,
    config: &Config,
    open311: Option<TcpListener>,
) -> Result<Services<S>, ServeError> {
    let limit = config.max_message_bytes;
    let keyer = cityserve_domain::ResidentKeyer::new(&secret::resident_key(config)?);
    let keyer_for_panels = keyer.clone();
    let feedback_api = FeedbackApi::new(store.clone(), keyer)
        .with_phone_country_code(config.phone_country_code.trim().trim_start_matches('+'))
        .with_survey_key(secret::survey_key(config)?);
    let key_deriver = KeyDeriver::new(&secret::api_key_secret(config)?);
    let gateway = open311.map(|l| {
        let settings = cityserve_open311::Settings {
            jurisdiction_id: config.open311_jurisdiction_id.clone(),
            requests_per_minute: config.open311_requests_per_minute,
            public_url: config.open311_public_url.clone(),
            undeclared_attributes: config.open311_undeclared_attributes,
        };
        let router =
            cityserve_open311::Gateway::new(store.clone(), feedback_api.clone(), key_deriver.clone(), settings)
                .router();
        (l, router)
    });
    let (stop_watches, watches_stop) = tokio::sync::watch::channel(false);
    Ok(Services {
        departments: DepartmentsApi::new(store.clone())
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        officers: OfficersApi::new(store.clone())
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        feedback: feedback_api.into_server().max_decoding_message_size(limit).max_encoding_message_size(limit),
        coordination: CoordinationApi::new(store.clone())
            .with_shutdown(watches_stop)
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        api_keys: ApiKeysApi::new(store.clone(), key_deriver)
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        service_accounts: cityserve_api::ServiceAccountsApi::new(store.clone())
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        cso_work: cityserve_api::CsoWorkApi::new(store.clone(), keyer_for_panels)
            .with_phone_country_code(config.phone_country_code.trim().trim_start_matches('+'))
            .with_min_responses(config.officer_figures_min_responses)
            .into_server()
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit),
        audit: cityserve_api::AuditApi::new(store.clone()).into_server().max_decoding_message_size(limit),
        gateway,
        stop_watches,
    })
}

/// Step 2: server reflection (v1 and v1alpha) over our descriptors and the health service's.
fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    ServeError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(cityserve_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let v1 = builder().build_v1().map_err(|e| ServeError::Reflection(e.to_string()))?;
    let v1alpha = builder().build_v1alpha().map_err(|e| ServeError::Reflection(e.to_string()))?;
    Ok((v1, v1alpha))
}

/// Step 3: the transport, hardened (docs/security.md, "Limits and transport"): the deadline is a
/// layer; dead peers are dropped by keep-alive pings, rapid-reset floods by a GOAWAY.
fn transport(config: &Config) -> Result<tonic::transport::Server, ServeError> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls_config(config)? {
        builder = builder.tls_config(tls)?;
    }
    Ok(builder
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
        .http2_adaptive_window(Some(false)))
}

/// Step 4: the Open311 gateway on its own listener, stopping when `stop` turns true.
fn spawn_open311(
    gateway: Option<(TcpListener, axum::Router)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServeError> {
    let Some((l, router)) = gateway else { return Ok(None) };
    let addr = l.local_addr()?;
    tracing::info!(%addr, "open311 gateway listening on /open311/v2/");
    Ok(Some(tokio::spawn(async move {
        let graceful = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = axum::serve(l, router).with_graceful_shutdown(graceful).await {
            tracing::error!(error = %e, "open311 gateway failed");
        }
    })))
}

/// The background tasks a server runs beside its listeners.
struct Background {
    watcher: tokio::task::JoinHandle<()>,
    scanner: Option<tokio::task::JoinHandle<()>>,
    open311: Option<tokio::task::JoinHandle<()>>,
    /// Events out to NATS (when `nats_url` is set); stops when its channel turns true.
    publisher: Option<tokio::task::JoinHandle<()>>,
    /// Resident notices out (when an SMTP relay or SMS gateway is set); stops with the publisher.
    notifier: Option<tokio::task::JoinHandle<()>>,
}

impl Background {
    fn abort(&self) {
        self.watcher.abort();
        if let Some(s) = &self.scanner {
            s.abort();
        }
    }
}

/// Events out to NATS JetStream: every replica runs a publisher, the lease holder publishes.
fn spawn_publisher<S: CoordinationStore + cityserve_store::LeaseStore>(
    store: &S,
    config: &Config,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    config.nats_url.clone().map(|url| {
        let settings = cityserve_publish::Settings {
            url,
            stream: config.nats_stream.clone(),
            subject_prefix: config.nats_subject_prefix.clone(),
            max_age: config.nats_max_age,
            lease_ttl: config.nats_lease_ttl,
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        };
        tokio::spawn(cityserve_publish::Publisher::new(store.clone(), settings).run(stop))
    })
}

/// Resident notices: every replica runs a notifier when an SMTP relay or an SMS gateway is
/// configured, the lease holder sends. Without either, notices stay pending (ListNotices shows
/// them) until one is configured.
fn spawn_notifier<
    S: cityserve_store::NoticeStore + cityserve_store::LeaseStore + cityserve_store::CalendarStore + CoordinationStore,
>(
    store: &S,
    config: &Config,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServeError> {
    if config.smtp_url.is_none() && config.sms_webhook_url.is_none() {
        return Ok(None);
    }
    let bad = |what: &str, e: String| ServeError::Config(config::ConfigError(format!("{what}: {e}")));
    let survey_key = secret::survey_key(config)?;
    let smtp = config
        .smtp_url
        .as_deref()
        .map(|url| cityserve_notify::send::SmtpSender::new(url, &config.smtp_from, config.notice_send_timeout))
        .transpose()
        .map_err(|e| bad("smtp_url or smtp_from", e))?;
    let sms = config
        .sms_webhook_url
        .as_deref()
        .map(|url| {
            cityserve_notify::send::WebhookSender::new(
                url,
                config.sms_webhook_token.clone(),
                config.notice_send_timeout,
            )
        })
        .transpose()
        .map_err(|e| bad("sms_webhook_url", e))?;
    let settings = cityserve_notify::Settings {
        smtp,
        sms,
        max_attempts: config.notice_max_attempts,
        retry_base: config.notice_retry_base,
        lease_ttl: config.notice_lease_ttl,
        holder: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        poll: Duration::from_secs(1).min(config.notice_retry_base),
        survey: config.survey_link_base().map(|link_base| cityserve_notify::SurveySettings {
            key: survey_key.clone(),
            link_base,
            delay: config.survey_delay,
            token_ttl: config.survey_token_ttl,
        }),
    };
    Ok(Some(tokio::spawn(cityserve_notify::Notifier::new(store.clone(), settings).run(stop))))
}

/// Serves the gRPC services (and the Open311 gateway) over `store` until `shutdown`, in steps:
/// the services, reflection and health, the layer stack (`cityserve_api::stack`, which orders
/// the layers and says why), the hardened transport, then the shutdown drain.
async fn serve_with<S: cityserve_store::Store + cityserve_store::LeaseStore>(
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
    let services = services(&store, &config, open311)?;
    let (reflection_v1, reflection_v1alpha) = reflection()?;
    let settings = cityserve_api::StackSettings {
        request_timeout: config.request_timeout,
        max_concurrent_requests: config.max_concurrent_requests,
        tenant_requests_per_second: config.tenant_requests_per_second,
        standing_cache_ttl: config.standing_cache_ttl,
        cors: cors(&config),
        page_key: secret::page_token_key(&config)?,
    };
    let layers = cityserve_api::stack(settings, auth, store.clone(), gate::GateLayer::new(gate.clone()));
    let router = transport(&config)?
        .layer(layers)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(services.departments)
        .add_service(services.officers)
        .add_service(services.feedback)
        .add_service(services.coordination)
        .add_service(services.api_keys)
        .add_service(services.service_accounts)
        .add_service(services.cso_work)
        .add_service(services.audit);

    let addr = listener.local_addr()?;
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
    let (stop_publisher, publisher_stop) = tokio::sync::watch::channel(false);
    let background = Background {
        notifier: spawn_notifier(&store, &config, publisher_stop.clone())?,
        publisher: spawn_publisher(&store, &config, publisher_stop),
        watcher: tokio::spawn(watch_database(store.clone(), health.clone(), SERVICES, gate)),
        scanner: (!config.breach_scan_interval.is_zero())
            .then(|| tokio::spawn(breach_scanner(store.clone(), config.breach_scan_interval))),
        open311: spawn_open311(services.gateway, open311_stop)?,
    };

    tokio::select! {
        result = &mut server => {
            background.abort();
            if let Some(g) = &background.open311 {
                g.abort();
            }
            if let Some(p) = &background.publisher {
                p.abort();
            }
            if let Some(n) = &background.notifier {
                n.abort();
            }
            return match result {
                Ok(r) => r.map_err(ServeError::from),
                Err(e) => Err(ServeError::Io(std::io::Error::other(e))),
            };
        }
        () = shutdown => {}
    }
    tracing::info!(grace = ?config.shutdown_grace, "shutting down: draining in-flight calls");
    background.abort();
    set_health(health.clone(), SERVICES, ServingStatus::NotServing).await;
    let _ = services.stop_watches.send(true);
    let _ = stop_publisher.send(true);
    let _ = stop_open311.send(true);
    let _ = stop_tx.send(());
    drain(server, background.open311, [background.publisher, background.notifier], config.shutdown_grace).await
}

/// The last step: waits up to `grace` for in-flight calls (then aborts them), for the Open311
/// gateway to finish its own, and for the NATS publisher and the notifier to hand their leases back.
async fn drain(
    mut server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    open311: Option<tokio::task::JoinHandle<()>>,
    leaseholders: [Option<tokio::task::JoinHandle<()>>; 2],
    grace: Duration,
) -> Result<(), ServeError> {
    match tokio::time::timeout(grace, &mut server).await {
        Ok(Ok(r)) => r?,
        Ok(Err(e)) => return Err(ServeError::Io(std::io::Error::other(e))),
        Err(_) => {
            tracing::warn!("drain deadline passed; aborting remaining calls");
            server.abort();
        }
    }
    if let Some(g) = open311
        && tokio::time::timeout(grace, g).await.is_err()
    {
        tracing::warn!("open311 gateway did not drain in time");
    }
    // The publisher and the notifier hand their leases back so another replica takes over at once.
    for p in leaseholders.into_iter().flatten() {
        if tokio::time::timeout(grace, p).await.is_err() {
            tracing::warn!("a lease holder (nats publisher or notifier) did not stop in time");
        }
    }
    tracing::info!("stopped");
    Ok(())
}
