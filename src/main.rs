//! `cityserve`: the CityServe server and its operator commands.
use cityserve::config::{Config, LogFormat};
use cityserve_domain::{Caller, DepartmentId, Role};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// mimalloc instead of glibc's malloc: under load, glibc's malloc and free took a quarter of the
/// request threads' time, much of it in frees of memory another thread allocated (the SQLite
/// worker's and the request tasks'), which mimalloc handles without locks. Built as mimalloc 2
/// without transparent huge pages (the workspace's Cargo.toml says why; docs/per-call-costs.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "cityserve",
    version,
    about = "CityServe: the gRPC backend for a city's Customer Service Officer network"
)]
struct Cli {
    /// TOML configuration file (settings there are overridden by CITYSERVE_* variables).
    #[arg(long, global = true, env = "CITYSERVE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gRPC server (applies migrations first).
    Serve {
        /// Log format: text or json (overrides CITYSERVE_LOG_FORMAT).
        #[arg(long)]
        log_format: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Appoint the first Chief CSO (creating their home department and officer record if
    /// missing). Refuses once a Chief exists: later changes go through AppointChief.
    BootstrapChief {
        /// The Chief's home department ID, e.g. mdo.
        #[arg(long)]
        department: String,
        /// The department's display name, used if it has to be created.
        #[arg(long, default_value = "Office of the Chief Customer Service Officer")]
        department_name: String,
        /// The Chief's officer ID (the `sub` of their tokens), e.g. chief-cso.
        #[arg(long)]
        officer_id: String,
        /// The Chief's full name.
        #[arg(long)]
        name: String,
        /// The Chief's work e-mail.
        #[arg(long)]
        email: String,
        /// The Chief's job title.
        #[arg(long, default_value = "Chief Customer Service Officer")]
        title: String,
        /// The Chief's subject (`sub`) at the city's identity provider, to sign in through it.
        #[arg(long, default_value = "")]
        identity_subject: String,
    },
    /// Load a realistic demo city (departments, CSOs, standards, months of feedback, hand-offs,
    /// escalations, a dumb rule, an initiative) and print tokens and example calls.
    Demo {
        /// How many contacts (feedback records) to load.
        #[arg(long, default_value_t = 5_000)]
        scale: u64,
        /// Over how many months back from now.
        #[arg(long, default_value_t = 6)]
        months: u32,
        /// Random seed: the same seed loads the same city.
        #[arg(long, default_value_t = 311)]
        seed: u64,
    },
    /// Import feedback history from CSV or JSON Lines files through a running server (see
    /// docs/import.md). Refused rows go to FILE.errors.csv; exits 1 when any row was refused.
    Import {
        /// The files (`.csv`, or `.jsonl`/`.ndjson` for JSON Lines).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The server's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Bearer token to import with (a CSO imports into their own department only).
        #[arg(long, env = "CITYSERVE_TOKEN", hide_env_values = true)]
        token: String,
        /// Renames a vendor's columns to ours, e.g. "Score=csat,Dept=department".
        #[arg(long, default_value = "")]
        map: String,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
    },
    /// Export feedback, cases or report cards to CSV or JSON Lines through a running server (see
    /// docs/export.md). A stopped export continues with --resume.
    Export {
        /// feedback, cases or report-cards.
        #[arg(long, default_value = "feedback")]
        what: String,
        /// The output file (`.csv`, or `.jsonl`/`.ndjson` for JSON Lines).
        #[arg(long)]
        out: PathBuf,
        /// One department's ID; every department the token may see when left out.
        #[arg(long)]
        department: Option<String>,
        /// First day of the span (a local date of the city, YYYY-MM-DD, or an RFC 3339 time).
        #[arg(long)]
        from: Option<String>,
        /// First day after the span (same forms); up to now when left out.
        #[arg(long)]
        to: Option<String>,
        /// For the city's open-data portal: no resident key, contact data, address or notes;
        /// free text redacted (feedback and cases).
        #[arg(long)]
        open_data: bool,
        /// Report cards: day, week, month or quarter.
        #[arg(long, default_value = "month")]
        period: String,
        /// Continue an export that stopped, from OUT.resume.
        #[arg(long)]
        resume: bool,
        /// Rows per chunk (1-1000; the server's default, 500, when 0).
        #[arg(long, default_value_t = 0)]
        chunk_size: i32,
        /// The server's gRPC address.
        #[arg(long, default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Bearer token to export with (a CSO exports their own department only).
        #[arg(long, env = "CITYSERVE_TOKEN", hide_env_values = true)]
        token: String,
    },
    /// Report-card counters.
    Rollups {
        #[command(subcommand)]
        command: RollupsCommand,
    },
    /// Mint a development bearer token signed with the configured HS256 secret.
    Token {
        /// chief, cso, staff, auditor or service.
        #[arg(long)]
        role: String,
        /// Department the caller belongs to (repeat for several); required for cso, staff, service.
        #[arg(long = "department")]
        departments: Vec<String>,
        /// Token subject: the officer ID (required for chief, cso, staff and auditor, whose roles
        /// are honoured only while the officer holds them) or a registered service account's ID
        /// (default: dev-service; honoured only while the account is active and allows every
        /// --department).
        #[arg(long)]
        subject: Option<String>,
        /// Lifetime, e.g. 1h, 30m, 8h; at most jwt_max_token_lifetime (default 24h).
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
}

#[derive(Subcommand)]
enum RollupsCommand {
    /// Rebuild every report-card counter from the raw rows, keyed by local days of the city
    /// calendar's time zone (run it after changing the time zone; writes of counters wait while
    /// it runs).
    Rebuild,
}

fn load_config(path: Option<&PathBuf>) -> Result<Config, String> {
    Config::load(path.map(PathBuf::as_path), |k| std::env::var(k).ok()).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { log_format } => run_serve(cli.config.as_ref(), log_format),
        Command::Migrate => run_migrate(cli.config.as_ref()),
        Command::Rollups { command: RollupsCommand::Rebuild } => run_rollups_rebuild(cli.config.as_ref()),
        Command::BootstrapChief { department, department_name, officer_id, name, email, title, identity_subject } => {
            let spec = cityserve::bootstrap::ChiefSpec {
                department_id: department,
                department_name,
                officer_id,
                display_name: name,
                email,
                title,
                identity_subject,
            };
            run_bootstrap(cli.config.as_ref(), &spec)
        }
        Command::Demo { scale, months, seed } => run_demo(cli.config.as_ref(), scale, months, seed),
        Command::Import { files, server, token, map, in_flight } => {
            run_import(cityserve_import::Options { server, token, files, map, in_flight })
        }
        Command::Export { what, out, department, from, to, open_data, period, resume, chunk_size, server, token } => {
            match cityserve_export::What::parse(&what) {
                Some(what) => run_export(cityserve_export::Options {
                    server,
                    token,
                    department,
                    what,
                    open_data,
                    from,
                    to,
                    period,
                    out,
                    resume,
                    chunk_size,
                }),
                None => Err(format!("--what: expected feedback, cases or report-cards, got {what:?}")),
            }
        }
        Command::Token { role, departments, subject, ttl } => {
            run_token(cli.config.as_ref(), &role, &departments, subject, &ttl)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cityserve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())
}

fn run_serve(config_path: Option<&PathBuf>, log_format: Option<String>) -> Result<(), String> {
    let mut config = load_config(config_path)?;
    match log_format.as_deref() {
        None => {}
        Some("json") => config.log_format = LogFormat::Json,
        Some("text") => config.log_format = LogFormat::Text,
        Some(other) => return Err(format!("--log-format: expected text or json, got {other:?}")),
    }
    runtime()?.block_on(async move {
        let telemetry = cityserve_telemetry::init(&cityserve_telemetry::TelemetryConfig {
            log_format: match config.log_format {
                LogFormat::Text => cityserve_telemetry::LogFormat::Text,
                LogFormat::Json => cityserve_telemetry::LogFormat::Json,
            },
            log_filter: config.log_filter.clone(),
            otlp_endpoint: config.otlp_endpoint.clone(),
            service_name: "cityserve".into(),
        })
        .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let result = cityserve::serve(config, listener, shutdown_signal()).await;
        telemetry.shutdown();
        result.map_err(|e| e.to_string())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn run_rollups_rebuild(config_path: Option<&PathBuf>) -> Result<(), String> {
    let config = load_config(config_path)?;
    let started = std::time::Instant::now();
    let read = AtomicU64::new(0);
    let display = cityserve_progress::Progress::counting("report-card counters: raw rows read", "rows");
    let rebuild = cityserve::rollups::rebuild_configured(&config, &read);
    let done =
        runtime()?.block_on(cityserve_progress::follow_with(display, &read, rebuild)).map_err(|e| e.to_string())?;
    println!(
        "rebuilt the report-card counters of {} in {} (before: {}): {} daily counters from {} rows in {:.1} s",
        redact_url(&config.database_url),
        done.zone.name(),
        done.previous_zone.name(),
        done.counters,
        done.rows,
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

fn run_bootstrap(config_path: Option<&PathBuf>, spec: &cityserve::bootstrap::ChiefSpec) -> Result<(), String> {
    let config = load_config(config_path)?;
    let done = runtime()?.block_on(cityserve::bootstrap::bootstrap_chief(&config, spec)).map_err(|e| e.to_string())?;
    println!("appointed {} as Chief ({})", done.officer, done.appointment);
    println!("mint a token with: cityserve token --role chief --subject {}", spec.officer_id);
    Ok(())
}

fn run_demo(config_path: Option<&PathBuf>, scale: u64, months: u32, seed: u64) -> Result<(), String> {
    let config = load_config(config_path)?;
    let spec = cityserve::demo::DemoSpec { scale, months, seed };
    let loaded = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let total = cityserve::demo::bulk_contacts(&spec);
    // The bar follows the bulk load; the city's live coordination afterwards takes seconds.
    let load = cityserve::demo::load_counting(&config, &spec, &loaded);
    let report = runtime()?
        .block_on(cityserve_progress::follow("demo city", total, "contacts", &loaded, load))
        .map_err(|e| e.to_string())?;
    let rate = report.contacts as f64 / report.load_seconds.max(1e-9);
    println!(
        "loaded the demo city into {}: {} departments, {} contacts over {months} months in {:.1} s ({rate:.0} contacts/s); the first breach scan found {} breaches and raised {} escalations ({} of them digests)",
        redact_url(&config.database_url),
        report.departments,
        report.contacts,
        report.load_seconds,
        report.breaches,
        report.escalations,
        report.digests,
    );
    println!(
        "the CSOs' own work: {} moments-of-truth observations, {} customer themes on recent complaints, Water's customer panel with two sessions and three findings, and a board report to read (CsoWorkService/GetBoardReport)",
        report.observations, report.theme_tags,
    );
    let secret = cityserve::secret::load_or_create(&config).map_err(|e| e.to_string())?;
    let mint = |subject: &str, role: Role, departments: &[&str]| {
        let caller = Caller {
            subject: subject.into(),
            role,
            departments: departments.iter().filter_map(|d| DepartmentId::parse("d", d).ok()).collect(),
        };
        cityserve_api::mint_token(
            &secret,
            &config.jwt_issuer,
            &config.jwt_audience,
            &caller,
            Duration::from_secs(8 * 3600),
        )
        .map_err(|e| e.to_string())
    };
    let chief = mint("chief-cso", Role::Chief, &[])?;
    let water = mint("cso-water", Role::Cso, &["water"])?;
    let streets = mint("staff-streets-1", Role::Staff, &["streets"])?;
    let addr = config.listen;
    println!("\ntokens (8 h):\n  export CHIEF={chief}\n  export WATER={water}\n  export STREETS={streets}\n");
    println!("start the server (cityserve serve), then try:");
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $CHIEF\" -d '{{\"period\": \"REPORT_PERIOD_MONTH\"}}' {addr} cityserve.v1.CoordinationService/GetCityDashboard"
    );
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $WATER\" -d '{{\"department\": \"departments/water\", \"period\": \"REPORT_PERIOD_QUARTER\"}}' {addr} cityserve.v1.CoordinationService/GetReportCard"
    );
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $WATER\" -d '{{\"parent\": \"departments/water\", \"direction\": \"HANDOFF_DIRECTION_INCOMING\"}}' {addr} cityserve.v1.CoordinationService/ListHandoffs"
    );
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $STREETS\" -d '{{\"parent\": \"departments/streets\", \"state\": \"CASE_STATE_OPEN\", \"order\": \"CASE_ORDER_RESOLVE_DUE\"}}' {addr} cityserve.v1.FeedbackService/ListCases"
    );
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $CHIEF\" -d '{{\"parent\": \"departments/-\", \"state\": \"ESCALATION_STATE_OPEN\"}}' {addr} cityserve.v1.CoordinationService/ListEscalations"
    );
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $CHIEF\" -d '{{}}' {addr} cityserve.v1.CoordinationService/ListDumbRules"
    );
    Ok(())
}

fn run_import(options: cityserve_import::Options) -> Result<(), String> {
    let summaries = runtime()?.block_on(cityserve_import::run(&options)).map_err(|e| e.to_string())?;
    let mut refused = 0;
    for (path, s) in &summaries {
        println!(
            "{}: {} rows: {} imported, {} already present, {} refused{}",
            path.display(),
            s.rows,
            s.imported,
            s.already_present,
            s.refused,
            s.errors_file.as_ref().map(|e| format!(" (listed in {})", e.display())).unwrap_or_default()
        );
        refused += s.refused;
    }
    if refused > 0 { Err(format!("{refused} rows refused; fix them and run the same command again")) } else { Ok(()) }
}

fn run_export(options: cityserve_export::Options) -> Result<(), String> {
    let started = std::time::Instant::now();
    let rows = runtime()?.block_on(cityserve_export::run(&options)).map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    println!("{}: {rows} rows in {secs:.1} s", options.out.display());
    Ok(())
}

fn run_migrate(config_path: Option<&PathBuf>) -> Result<(), String> {
    let config = load_config(config_path)?;
    let total = cityserve::migrations_total(&config);
    let (applied, read) = (AtomicU64::new(0), AtomicU64::new(0));
    runtime()?
        .block_on(async {
            // The migrations commit one by one: a second connection counts them as they land.
            let count = async {
                loop {
                    if let Some(n) = cityserve::migrations_applied(&config).await {
                        applied.store(n, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            };
            let work = cityserve_progress::follow(
                "migrations",
                total,
                "migrations",
                &applied,
                cityserve::migrate(&config, &read),
            );
            tokio::select! {
                done = work => done,
                never = count => never,
            }
        })
        .map_err(|e| e.to_string())?;
    let rows = read.load(Ordering::Relaxed);
    let rebuilt = if rows > 0 { format!("; report-card counters rebuilt from {rows} raw rows") } else { String::new() };
    println!("migrations applied to {}{rebuilt}", redact_url(&config.database_url));
    Ok(())
}

/// Drops any password from a database URL before printing it.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn run_token(
    config_path: Option<&PathBuf>,
    role: &str,
    departments: &[String],
    subject: Option<String>,
    ttl: &str,
) -> Result<(), String> {
    let config = load_config(config_path)?;
    let role = Role::parse(role)
        .ok_or_else(|| format!("--role: expected chief, cso, staff, auditor or service, got {role:?}"))?;
    let departments = departments
        .iter()
        .map(|d| DepartmentId::parse("--department", d).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if !role.is_city_wide() && departments.is_empty() {
        return Err(format!("--department is required for role {role}"));
    }
    let ttl: Duration = humantime::parse_duration(ttl).map_err(|e| format!("--ttl: {e}"))?;
    if ttl > config.jwt_max_token_lifetime {
        return Err(format!(
            "--ttl: at most {} (jwt_max_token_lifetime): the server refuses longer-lived tokens",
            humantime::format_duration(config.jwt_max_token_lifetime)
        ));
    }
    let secret = cityserve::secret::load_or_create(&config).map_err(|e| e.to_string())?;
    let subject = match (subject, role) {
        (Some(s), _) => s,
        (None, Role::Service) => "dev-service".to_owned(),
        (None, _) => {
            return Err(format!(
                "--subject is required for role {role}: the officer ID whose appointment the token acts on"
            ));
        }
    };
    let caller = Caller { subject, role, departments };
    let token = cityserve_api::mint_token(&secret, &config.jwt_issuer, &config.jwt_audience, &caller, ttl)
        .map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}
