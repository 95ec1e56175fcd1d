//! Server configuration: defaults, then an optional TOML file, then `CITYSERVE_*` environment
//! variables (each documented in the README's configuration table).
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Log output format, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// JSON lines.
    Json,
}

/// Every setting of the server. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://path` (default) or `postgres://user@host/db`.
    pub database_url: String,
    /// Maximum database connections in the pool.
    pub db_max_connections: u32,
    /// PostgreSQL role the server acts as (row-level security applies to it).
    pub db_app_role: String,
    /// Group commit: the most `SubmitFeedback` calls written in one transaction. Calls waiting
    /// when a writer frees up share its next transaction; `1` writes each alone.
    pub write_batch_max: usize,
    /// Where the server keeps its files (the SQLite database by default, the generated secret).
    pub data_dir: PathBuf,
    /// HS256 signing secret for bearer tokens (at least 32 bytes). Prefer `jwt_secret_file`.
    pub jwt_secret: Option<String>,
    /// File holding the HS256 secret. Default: `<data_dir>/jwt-secret`, generated on first run.
    pub jwt_secret_file: Option<PathBuf>,
    /// Secret that turns residents' e-mail/phone into stable resident keys (at least 32 bytes).
    /// Changing it unlinks every resident from their history. Prefer `resident_key_file`.
    pub resident_key: Option<String>,
    /// File holding the resident-key secret. Default: `<data_dir>/resident-key`, generated on
    /// first run. Every replica must use the same one.
    pub resident_key_file: Option<PathBuf>,
    /// The city's telephone calling code (e.g. `1`): phone numbers written without `+` are read
    /// as numbers of this country, so `(215) 555-0142` and `+1 215 555 0142` are one resident.
    /// Empty: numbers are compared as written (digits only).
    pub phone_country_code: String,
    /// PEM file with an RS256 public key, to accept tokens from an external identity provider.
    pub jwt_public_key_file: Option<PathBuf>,
    /// Expected token issuer.
    pub jwt_issuer: String,
    /// Expected token audience.
    pub jwt_audience: String,
    /// Clock skew allowed between the token issuer and this server (`exp`, `nbf`, `iat`).
    #[serde(with = "humantime_serde_compat")]
    pub jwt_leeway: Duration,
    /// The longest lifetime (`exp` − `iat`) a bearer token may have; longer ones are refused.
    #[serde(with = "humantime_serde_compat")]
    pub jwt_max_token_lifetime: Duration,
    /// The city's OpenID Connect provider, exactly as its tokens' `iss` (empty: none). Its keys
    /// come from discovery and its JWKS.
    pub oidc_issuer: String,
    /// The `aud` the provider puts in tokens for CityServe (empty: `jwt_audience`).
    pub oidc_audience: String,
    /// Which provider claim names the officer: `sub` (matched with the officer's
    /// `identity_subject`) or `email` (a verified e-mail, matched with the work e-mail).
    pub oidc_match_claim: String,
    /// Longest time a request may run (a client's shorter `grpc-timeout` wins).
    #[serde(with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    /// Largest request or response message, in bytes.
    pub max_message_bytes: usize,
    /// How long to drain in-flight calls on shutdown before giving up.
    #[serde(with = "humantime_serde_compat")]
    pub shutdown_grace: Duration,
    /// How often the SLA breach scan looks for overdue cases and unanswered hand-offs to escalate
    /// (every replica scans; each breach is escalated once). `0s` disables the scan.
    #[serde(with = "humantime_serde_compat")]
    pub breach_scan_interval: Duration,
    /// How long a verified token-holder's standing (officer record and appointments) is reused
    /// before it is read again. Changes made through this server apply at once; through another
    /// replica, within this time. `0s`: read on every call.
    #[serde(with = "humantime_serde_compat")]
    pub standing_cache_ttl: Duration,
    /// Origins allowed to call through gRPC-Web from a browser (`*` for any). Empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// NATS server to publish every event to (JetStream), e.g. `nats://127.0.0.1:4222`; unset: off.
    pub nats_url: Option<String>,
    /// The JetStream stream events are published to (created if missing).
    pub nats_stream: String,
    /// First token of every event subject: `{prefix}.{department}.{event type}`.
    pub nats_subject_prefix: String,
    /// How long the stream keeps messages (when it is created).
    #[serde(with = "humantime_serde_compat")]
    pub nats_max_age: Duration,
    /// How long the publisher's lease lasts unrenewed: the longest a dead publisher replica
    /// delays the next one.
    #[serde(with = "humantime_serde_compat")]
    pub nats_lease_ttl: Duration,
    /// SMTP relay for resident notices by e-mail: `smtp://host:25` (plain, a relay on the
    /// city's network), `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`, with
    /// `user:password@` to authenticate. Unset: e-mail notices wait and end as dead letters.
    pub smtp_url: Option<String>,
    /// The sender of e-mail notices, e.g. `City of Springfield <noreply@springfield.gov>`.
    pub smtp_from: String,
    /// The SMS gateway's webhook (http or https URL) for notices by text message. Unset: SMS
    /// notices wait and end as dead letters.
    pub sms_webhook_url: Option<String>,
    /// Bearer token sent to the SMS gateway, if it wants one.
    pub sms_webhook_token: Option<String>,
    /// Attempts at a notice before it is a dead letter for the department's CSO.
    pub notice_max_attempts: i32,
    /// Wait after a notice's first failed attempt; it doubles with each further one (at most 1 h).
    #[serde(with = "humantime_serde_compat")]
    pub notice_retry_base: Duration,
    /// How long the notifier's lease lasts unrenewed (one replica sends at a time).
    #[serde(with = "humantime_serde_compat")]
    pub notice_lease_ttl: Duration,
    /// How long one SMTP or gateway call may take before it counts as a transient failure.
    #[serde(with = "humantime_serde_compat")]
    pub notice_send_timeout: Duration,
    /// Public base URL of the follow-up survey page, e.g. `https://311.city.gov/surveys/v1`
    /// (served by the Open311 listener at `/surveys/v1/{token}`). Empty: `open311_public_url` +
    /// `/surveys/v1`; with neither, survey invitations are cancelled (there is nowhere to answer).
    pub survey_public_url: String,
    /// How long after a resolution the survey invitation waits (then also for the department's
    /// opening hours).
    #[serde(with = "humantime_serde_compat")]
    pub survey_delay: Duration,
    /// How long a survey link takes answers; a later answer is kept as ordinary feedback.
    #[serde(with = "humantime_serde_compat")]
    pub survey_token_ttl: Duration,
    /// The fewest CSAT responses a per-officer satisfaction mean is shown on; below it the mean
    /// is withheld ("too few responses"), so no resident or officer is singled out.
    pub officer_figures_min_responses: i64,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter directives (`RUST_LOG` syntax).
    pub log_filter: String,
    /// OTLP/gRPC endpoint for traces and metrics; unset disables export.
    pub otlp_endpoint: Option<String>,
    /// Listen address of the Open311 GeoReport v2 gateway (HTTP, `/open311/v2/`); unset disables it.
    pub open311_listen: Option<SocketAddr>,
    /// The city's Open311 `jurisdiction_id` (e.g. `city.gov`); empty accepts any.
    pub open311_jurisdiction_id: String,
    /// Requests per minute one Open311 API key may file (also its burst).
    pub open311_requests_per_minute: u32,
    /// The Open311 gateway's public base URL (e.g. `https://311.city.gov`), published in
    /// `discovery`; empty: the host a client connected to.
    pub open311_public_url: String,
    /// What the Open311 gateway does with `attribute[code]` values for codes the service does not
    /// define: `keep` them as extra data with the request (what vendors' apps expect), `ignore`
    /// them, or `refuse` the request (400 naming the attribute).
    pub open311_undeclared_attributes: cityserve_open311::UndeclaredAttributes,
    /// Secret (at least 32 bytes) from which Open311 API keys are derived; prefer the file.
    pub api_key_secret: Option<String>,
    /// File holding that secret. Default: `<data_dir>/api-key-secret`, generated on first run.
    /// Every replica must use the same one.
    pub api_key_secret_file: Option<PathBuf>,
    /// Most calls in flight across all connections; past it calls are answered at once with
    /// UNAVAILABLE and `retry-after` (health and reflection are exempt).
    pub max_concurrent_requests: usize,
    /// Requests per second each tenant (department; city-wide roles: each subject) may make,
    /// with bursts of twice that; past it RESOURCE_EXHAUSTED with `retry-after`. `0` disables.
    pub tenant_requests_per_second: u32,
    /// PEM certificate chain for TLS on the gRPC listener (with `tls_key_file`; neither: plaintext).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle: when set, clients must present a certificate it issued (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite://data/cityserve.db".into(),
            db_max_connections: 16,
            db_app_role: "cityserve_app".into(),
            write_batch_max: 128,
            data_dir: PathBuf::from("data"),
            jwt_secret: None,
            jwt_secret_file: None,
            resident_key: None,
            resident_key_file: None,
            phone_country_code: String::new(),
            jwt_public_key_file: None,
            jwt_issuer: "cityserve".into(),
            jwt_audience: "cityserve".into(),
            jwt_leeway: cityserve_api::DEFAULT_JWT_LEEWAY,
            jwt_max_token_lifetime: cityserve_api::DEFAULT_JWT_MAX_LIFETIME,
            oidc_issuer: String::new(),
            oidc_audience: String::new(),
            oidc_match_claim: "sub".into(),
            request_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            breach_scan_interval: Duration::from_secs(60),
            nats_url: None,
            nats_stream: "CITYSERVE".into(),
            nats_subject_prefix: "cityserve".into(),
            nats_max_age: Duration::from_secs(7 * 86_400),
            nats_lease_ttl: Duration::from_secs(10),
            smtp_url: None,
            smtp_from: "CityServe <noreply@localhost>".into(),
            sms_webhook_url: None,
            sms_webhook_token: None,
            notice_max_attempts: 8,
            notice_retry_base: Duration::from_secs(30),
            notice_lease_ttl: Duration::from_secs(30),
            notice_send_timeout: Duration::from_secs(10),
            survey_public_url: String::new(),
            survey_delay: Duration::from_secs(86_400),
            survey_token_ttl: Duration::from_secs(30 * 86_400),
            officer_figures_min_responses: cityserve_api::cso_work::DEFAULT_MIN_RESPONSES,
            standing_cache_ttl: Duration::from_secs(1),
            cors_allowed_origins: Vec::new(),
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            otlp_endpoint: None,
            open311_listen: None,
            open311_jurisdiction_id: String::new(),
            open311_requests_per_minute: 60,
            open311_public_url: String::new(),
            open311_undeclared_attributes: cityserve_open311::UndeclaredAttributes::Keep,
            api_key_secret: None,
            api_key_secret_file: None,
            max_concurrent_requests: 1024,
            tenant_requests_per_second: 200,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
        }
    }
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

impl Config {
    /// Where survey links point: `survey_public_url`, else the Open311 gateway's public URL plus
    /// `/surveys/v1`; `None` when neither is set.
    pub fn survey_link_base(&self) -> Option<String> {
        let own = self.survey_public_url.trim();
        if !own.is_empty() {
            return Some(own.trim_end_matches('/').to_owned());
        }
        let gateway = self.open311_public_url.trim().trim_end_matches('/');
        (!gateway.is_empty()).then(|| format!("{gateway}/surveys/v1"))
    }

    /// Loads defaults, then `file` (if any), then environment variables from `env`.
    pub fn load(file: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e| ConfigError(format!("{key}: {e}")))
        }
        let dur = |key: &str, v: &str| humantime::parse_duration(v).map_err(|e| ConfigError(format!("{key}: {e}")));
        if let Some(v) = env("CITYSERVE_LISTEN") {
            self.listen = parse("CITYSERVE_LISTEN", &v)?;
        }
        if let Some(v) = env("CITYSERVE_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = env("CITYSERVE_DB_MAX_CONNECTIONS") {
            self.db_max_connections = parse("CITYSERVE_DB_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = env("CITYSERVE_WRITE_BATCH_MAX") {
            self.write_batch_max = parse("CITYSERVE_WRITE_BATCH_MAX", &v)?;
        }
        if let Some(v) = env("CITYSERVE_DB_APP_ROLE") {
            self.db_app_role = v;
        }
        if let Some(v) = env("CITYSERVE_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("CITYSERVE_JWT_SECRET") {
            self.jwt_secret = Some(v);
        }
        if let Some(v) = env("CITYSERVE_JWT_SECRET_FILE") {
            self.jwt_secret_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CITYSERVE_RESIDENT_KEY") {
            self.resident_key = Some(v);
        }
        if let Some(v) = env("CITYSERVE_RESIDENT_KEY_FILE") {
            self.resident_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CITYSERVE_PHONE_COUNTRY_CODE") {
            self.phone_country_code = v;
        }
        if let Some(v) = env("CITYSERVE_JWT_PUBLIC_KEY_FILE") {
            self.jwt_public_key_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CITYSERVE_JWT_ISSUER") {
            self.jwt_issuer = v;
        }
        if let Some(v) = env("CITYSERVE_JWT_LEEWAY") {
            self.jwt_leeway = dur("CITYSERVE_JWT_LEEWAY", &v)?;
        }
        if let Some(v) = env("CITYSERVE_JWT_MAX_TOKEN_LIFETIME") {
            self.jwt_max_token_lifetime = dur("CITYSERVE_JWT_MAX_TOKEN_LIFETIME", &v)?;
        }
        if let Some(v) = env("CITYSERVE_JWT_AUDIENCE") {
            self.jwt_audience = v;
        }
        if let Some(v) = env("CITYSERVE_OIDC_ISSUER") {
            self.oidc_issuer = v;
        }
        if let Some(v) = env("CITYSERVE_OIDC_AUDIENCE") {
            self.oidc_audience = v;
        }
        if let Some(v) = env("CITYSERVE_OIDC_MATCH_CLAIM") {
            self.oidc_match_claim = v;
        }
        if let Some(v) = env("CITYSERVE_REQUEST_TIMEOUT") {
            self.request_timeout = dur("CITYSERVE_REQUEST_TIMEOUT", &v)?;
        }
        if let Some(v) = env("CITYSERVE_MAX_MESSAGE_BYTES") {
            self.max_message_bytes = parse("CITYSERVE_MAX_MESSAGE_BYTES", &v)?;
        }
        if let Some(v) = env("CITYSERVE_SHUTDOWN_GRACE") {
            self.shutdown_grace = dur("CITYSERVE_SHUTDOWN_GRACE", &v)?;
        }
        if let Some(v) = env("CITYSERVE_BREACH_SCAN_INTERVAL") {
            self.breach_scan_interval = dur("CITYSERVE_BREACH_SCAN_INTERVAL", &v)?;
        }
        if let Some(v) = env("CITYSERVE_NATS_URL") {
            self.nats_url = if v.trim().is_empty() || v == "off" { None } else { Some(v) };
        }
        if let Some(v) = env("CITYSERVE_NATS_STREAM") {
            self.nats_stream = v;
        }
        if let Some(v) = env("CITYSERVE_NATS_SUBJECT_PREFIX") {
            self.nats_subject_prefix = v;
        }
        if let Some(v) = env("CITYSERVE_NATS_MAX_AGE") {
            self.nats_max_age = dur("CITYSERVE_NATS_MAX_AGE", &v)?;
        }
        if let Some(v) = env("CITYSERVE_NATS_LEASE_TTL") {
            self.nats_lease_ttl = dur("CITYSERVE_NATS_LEASE_TTL", &v)?;
        }
        if let Some(v) = env("CITYSERVE_SMTP_URL") {
            self.smtp_url = if v.trim().is_empty() || v == "off" { None } else { Some(v) };
        }
        if let Some(v) = env("CITYSERVE_SMTP_FROM") {
            self.smtp_from = v;
        }
        if let Some(v) = env("CITYSERVE_SMS_WEBHOOK_URL") {
            self.sms_webhook_url = if v.trim().is_empty() || v == "off" { None } else { Some(v) };
        }
        if let Some(v) = env("CITYSERVE_SMS_WEBHOOK_TOKEN") {
            self.sms_webhook_token = if v.trim().is_empty() { None } else { Some(v) };
        }
        if let Some(v) = env("CITYSERVE_NOTICE_MAX_ATTEMPTS") {
            self.notice_max_attempts = parse("CITYSERVE_NOTICE_MAX_ATTEMPTS", &v)?;
        }
        if let Some(v) = env("CITYSERVE_NOTICE_RETRY_BASE") {
            self.notice_retry_base = dur("CITYSERVE_NOTICE_RETRY_BASE", &v)?;
        }
        if let Some(v) = env("CITYSERVE_NOTICE_LEASE_TTL") {
            self.notice_lease_ttl = dur("CITYSERVE_NOTICE_LEASE_TTL", &v)?;
        }
        if let Some(v) = env("CITYSERVE_NOTICE_SEND_TIMEOUT") {
            self.notice_send_timeout = dur("CITYSERVE_NOTICE_SEND_TIMEOUT", &v)?;
        }
        if let Some(v) = env("CITYSERVE_SURVEY_PUBLIC_URL") {
            self.survey_public_url = v;
        }
        if let Some(v) = env("CITYSERVE_SURVEY_DELAY") {
            self.survey_delay = dur("CITYSERVE_SURVEY_DELAY", &v)?;
        }
        if let Some(v) = env("CITYSERVE_SURVEY_TOKEN_TTL") {
            self.survey_token_ttl = dur("CITYSERVE_SURVEY_TOKEN_TTL", &v)?;
        }
        if let Some(v) = env("CITYSERVE_OFFICER_FIGURES_MIN_RESPONSES") {
            self.officer_figures_min_responses = parse("CITYSERVE_OFFICER_FIGURES_MIN_RESPONSES", &v)?;
        }
        if let Some(v) = env("CITYSERVE_STANDING_CACHE_TTL") {
            self.standing_cache_ttl = dur("CITYSERVE_STANDING_CACHE_TTL", &v)?;
        }
        if let Some(v) = env("CITYSERVE_CORS_ALLOWED_ORIGINS") {
            self.cors_allowed_origins =
                v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
        if let Some(v) = env("CITYSERVE_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError(format!("CITYSERVE_LOG_FORMAT: expected text or json, got {other:?}")));
                }
            };
        }
        if let Some(v) = env("CITYSERVE_LOG").or_else(|| env("RUST_LOG")) {
            self.log_filter = v;
        }
        if let Some(v) = env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.is_empty()) {
            self.otlp_endpoint = Some(v);
        }
        if let Some(v) = env("CITYSERVE_OPEN311_LISTEN") {
            self.open311_listen =
                if v.trim().is_empty() || v == "off" { None } else { Some(parse("CITYSERVE_OPEN311_LISTEN", &v)?) };
        }
        if let Some(v) = env("CITYSERVE_OPEN311_JURISDICTION_ID") {
            self.open311_jurisdiction_id = v;
        }
        if let Some(v) = env("CITYSERVE_OPEN311_REQUESTS_PER_MINUTE") {
            self.open311_requests_per_minute = parse("CITYSERVE_OPEN311_REQUESTS_PER_MINUTE", &v)?;
        }
        if let Some(v) = env("CITYSERVE_OPEN311_PUBLIC_URL") {
            self.open311_public_url = v;
        }
        if let Some(v) = env("CITYSERVE_OPEN311_UNDECLARED_ATTRIBUTES") {
            self.open311_undeclared_attributes =
                cityserve_open311::UndeclaredAttributes::parse(&v).ok_or_else(|| {
                    ConfigError(format!(
                        "CITYSERVE_OPEN311_UNDECLARED_ATTRIBUTES: expected keep, ignore or refuse, got {v:?}"
                    ))
                })?;
        }
        if let Some(v) = env("CITYSERVE_API_KEY_SECRET") {
            self.api_key_secret = Some(v);
        }
        if let Some(v) = env("CITYSERVE_API_KEY_SECRET_FILE") {
            self.api_key_secret_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CITYSERVE_MAX_CONCURRENT_REQUESTS") {
            self.max_concurrent_requests = parse("CITYSERVE_MAX_CONCURRENT_REQUESTS", &v)?;
        }
        if let Some(v) = env("CITYSERVE_TENANT_REQUESTS_PER_SECOND") {
            self.tenant_requests_per_second = parse("CITYSERVE_TENANT_REQUESTS_PER_SECOND", &v)?;
        }
        let path = |v: String| (!v.trim().is_empty()).then(|| PathBuf::from(v));
        if let Some(v) = env("CITYSERVE_TLS_CERT_FILE") {
            self.tls_cert_file = path(v);
        }
        if let Some(v) = env("CITYSERVE_TLS_KEY_FILE") {
            self.tls_key_file = path(v);
        }
        if let Some(v) = env("CITYSERVE_TLS_CLIENT_CA_FILE") {
            self.tls_client_ca_file = path(v);
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let url = self.open311_public_url.trim();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError(
                "open311_public_url must be an absolute http(s) URL, e.g. https://311.city.gov".into(),
            ));
        }
        if self.jwt_max_token_lifetime.is_zero() {
            return Err(ConfigError("jwt_max_token_lifetime must be positive".into()));
        }
        if cityserve_api::MatchClaim::parse(&self.oidc_match_claim).is_none() {
            return Err(ConfigError("oidc_match_claim must be sub or email".into()));
        }
        let issuer = self.oidc_issuer.trim();
        if !(issuer.is_empty() || issuer.starts_with("https://") || issuer.starts_with("http://")) {
            return Err(ConfigError(
                "oidc_issuer must be the provider's issuer URL, e.g. https://login.microsoftonline.com/{tenant}/v2.0"
                    .into(),
            ));
        }
        let token_ok =
            |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !token_ok(&self.nats_stream) {
            return Err(ConfigError("nats_stream must be letters, digits, '-' or '_'".into()));
        }
        if !token_ok(&self.nats_subject_prefix) {
            return Err(ConfigError(
                "nats_subject_prefix must be one subject token: letters, digits, '-' or '_'".into(),
            ));
        }
        if self.nats_lease_ttl < Duration::from_secs(1) {
            return Err(ConfigError("nats_lease_ttl must be at least 1s".into()));
        }
        if !(1..=100).contains(&self.notice_max_attempts) {
            return Err(ConfigError("notice_max_attempts must be 1 to 100".into()));
        }
        if self.notice_lease_ttl < Duration::from_secs(1) || self.notice_lease_ttl <= self.notice_send_timeout {
            return Err(ConfigError("notice_lease_ttl must be at least 1s and longer than notice_send_timeout".into()));
        }
        if self.officer_figures_min_responses < 1 {
            return Err(ConfigError("officer_figures_min_responses must be at least 1".into()));
        }
        if self.survey_token_ttl < Duration::from_secs(3600) {
            return Err(ConfigError("survey_token_ttl must be at least 1h".into()));
        }
        if self.open311_requests_per_minute == 0 {
            return Err(ConfigError("open311_requests_per_minute must be positive".into()));
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError("database_url must start with sqlite:, postgres:// or postgresql://".into()));
        }
        if cityserve_domain::feedback::country_code("phone_country_code", &self.phone_country_code).is_err() {
            return Err(ConfigError("phone_country_code must be a calling code of 1-3 digits, e.g. 1".into()));
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError("max_message_bytes must be at least 1024".into()));
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError("request_timeout must be positive".into()));
        }
        if self.db_max_connections == 0 {
            return Err(ConfigError("db_max_connections must be positive".into()));
        }
        if self.write_batch_max == 0 {
            return Err(ConfigError("write_batch_max must be positive (1 writes each submission alone)".into()));
        }
        if self.max_concurrent_requests == 0 {
            return Err(ConfigError("max_concurrent_requests must be positive".into()));
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError("tls_cert_file and tls_key_file must be set together".into()));
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return Err(ConfigError("tls_client_ca_file needs tls_cert_file and tls_key_file".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = std::env::temp_dir().join(format!("cityserve-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:6000\"\nrequest_timeout = \"5s\"\nlog_format = \"json\"\n")
            .unwrap();
        let env = |k: &str| match k {
            "CITYSERVE_LISTEN" => Some("127.0.0.1:7000".to_string()),
            "CITYSERVE_MAX_MESSAGE_BYTES" => Some("2048".to_string()),
            _ => None,
        };
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.request_timeout, Duration::from_secs(5));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.max_message_bytes, 2048);
        assert_eq!(c.database_url, "sqlite://data/cityserve.db");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::load(None, |k| (k == "CITYSERVE_LISTEN").then(|| "nope".into())).unwrap_err();
        assert!(e.to_string().contains("CITYSERVE_LISTEN"));
        let e = Config::load(None, |k| (k == "CITYSERVE_DATABASE_URL").then(|| "mysql://x".into())).unwrap_err();
        assert!(e.to_string().contains("database_url"));
        let e = Config::load(None, |k| (k == "CITYSERVE_PHONE_COUNTRY_CODE").then(|| "US".into())).unwrap_err();
        assert!(e.to_string().contains("phone_country_code"));
        let ok = Config::load(None, |k| (k == "CITYSERVE_PHONE_COUNTRY_CODE").then(|| "1".into())).unwrap();
        assert_eq!(ok.phone_country_code, "1");
    }

    #[test]
    fn limits_and_tls_settings() {
        let c = Config::load(None, |_| None).unwrap();
        assert_eq!((c.max_concurrent_requests, c.tenant_requests_per_second), (1024, 200));
        assert!(c.tls_cert_file.is_none());
        let env = |k: &str| match k {
            "CITYSERVE_MAX_CONCURRENT_REQUESTS" => Some("8".to_string()),
            "CITYSERVE_TENANT_REQUESTS_PER_SECOND" => Some("0".to_string()),
            "CITYSERVE_TLS_CERT_FILE" => Some("/tls/cert.pem".to_string()),
            "CITYSERVE_TLS_KEY_FILE" => Some("/tls/key.pem".to_string()),
            _ => None,
        };
        let c = Config::load(None, env).unwrap();
        assert_eq!((c.max_concurrent_requests, c.tenant_requests_per_second), (8, 0));
        assert_eq!(c.tls_key_file, Some(PathBuf::from("/tls/key.pem")));
        let e = Config::load(None, |k| (k == "CITYSERVE_MAX_CONCURRENT_REQUESTS").then(|| "0".into())).unwrap_err();
        assert!(e.to_string().contains("max_concurrent_requests"));
        assert_eq!(c.write_batch_max, 128);
        let e = Config::load(None, |k| (k == "CITYSERVE_WRITE_BATCH_MAX").then(|| "0".into())).unwrap_err();
        assert!(e.to_string().contains("write_batch_max"));
        let e = Config::load(None, |k| (k == "CITYSERVE_TLS_CERT_FILE").then(|| "/c.pem".into())).unwrap_err();
        assert!(e.to_string().contains("tls_key_file"));
        let e = Config::load(None, |k| (k == "CITYSERVE_TLS_CLIENT_CA_FILE").then(|| "/ca.pem".into())).unwrap_err();
        assert!(e.to_string().contains("tls_client_ca_file"));
    }
}
