//! `cityserve-bench`: drives a running CityServe server and prints throughput and latency.
//!
//! ```sh
//! cityserve-bench --target http://127.0.0.1:50051 --token "$CHIEF" --scenario get --concurrency 64 --duration 20s
//! cityserve-bench --open311 127.0.0.1:8311 --api-key "$OPEN311_KEY" --scenario open311-post --concurrency 16
//! ```
use cityserve_bench::{Scenario, Settings, run};
use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cityserve-bench", about = "Load generator for CityServe (closed or open loop)")]
struct Args {
    /// Server address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// Bearer token (a Chief's); default: $CHIEF.
    #[arg(long, env = "CHIEF")]
    token: String,
    /// noop, get, submit, timeline, case, report-card, dashboard, board-report, mix, open311-list or
    /// open311-post.
    #[arg(long, default_value = "get")]
    scenario: String,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight (closed loop) or at most in flight (open loop).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Open loop: calls per second (omit for closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Measured duration in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up in seconds (not measured).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Department the calls target.
    #[arg(long, default_value = "water")]
    department: String,
    /// Resident key for the timeline scenario.
    #[arg(long, default_value = "r-00000000000000000000000000000001")]
    resident: String,
    /// The Open311 gateway (`host:port`) for the open311-* scenarios.
    #[arg(long)]
    open311: Option<String>,
    /// An Open311 API key for open311-post; default: $OPEN311_KEY, else one is issued as the Chief.
    #[arg(long, env = "OPEN311_KEY")]
    api_key: Option<String>,
    /// The service open311-post files with.
    #[arg(long, default_value = "water.hydrant")]
    open311_service: String,
    /// The rest of open311-post's form (URL-encoded): location, description, answers.
    #[arg(
        long,
        default_value = "address_string=5th%20St%20%26%20Market%20St&description=Hydrant%20open&attribute%5Bstate%5D=open&attribute%5Bflow%5D=40"
    )]
    open311_fields: String,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Also measure events-out lag: subscribe to this NATS server during the run (the server must
    /// publish to it, `CITYSERVE_NATS_URL`).
    #[arg(long)]
    watch_nats: Option<String>,
    /// The subjects to watch with `--watch-nats` (`{prefix}.>`).
    #[arg(long, default_value = "cityserve.>")]
    nats_subject: String,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let Some(scenario) = Scenario::parse(&a.scenario) else {
        eprintln!("cityserve-bench: unknown scenario {}", a.scenario);
        return ExitCode::FAILURE;
    };
    let settings = Settings {
        target: a.target,
        token: a.token,
        scenario,
        connections: a.connections,
        concurrency: a.concurrency,
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration.max(0.1)),
        warmup: Duration::from_secs_f64(a.warmup.max(0.0)),
        department: a.department,
        resident: a.resident,
        open311: a.open311,
        api_key: a.api_key,
        open311_service: a.open311_service,
        open311_fields: a.open311_fields,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cityserve-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The lag watcher covers the warm-up, the measured run and one second after it.
    let window = settings.warmup + settings.duration + Duration::from_secs(1);
    let watched = rt.block_on(async {
        if let Some(url) = a.watch_nats.as_deref() {
            // A publisher starting over an old outbox publishes it first: wait until it is quiet.
            match cityserve_bench::nats_lag::settle(
                url,
                &a.nats_subject,
                Duration::from_secs(2),
                Duration::from_secs(900),
            )
            .await
            {
                Ok(n) => eprintln!("cityserve-bench: events out settled after {n} backlog messages"),
                Err(e) => return (Err(e), None),
            }
        }
        let watcher = a.watch_nats.as_deref().map(|url| {
            let (url, subject) = (url.to_owned(), a.nats_subject.clone());
            tokio::spawn(async move { cityserve_bench::nats_lag::watch(&url, &subject, window).await })
        });
        let report = run(settings).await;
        let lag = match watcher {
            Some(w) => Some(w.await.map_err(|e| cityserve_bench::BenchError::Invalid(e.to_string())).and_then(|r| r)),
            None => None,
        };
        (report, lag)
    });
    let report = match watched.0 {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cityserve-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let lag = match watched.1.transpose() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cityserve-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{:<12} {:>9.0} calls/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  calls {}  errors {}",
        report.scenario,
        report.throughput,
        report.p50_us as f64 / 1000.0,
        report.p90_us as f64 / 1000.0,
        report.p99_us as f64 / 1000.0,
        report.p999_us as f64 / 1000.0,
        report.calls,
        report.errors
    );
    if report.errors > 0 {
        eprintln!("cityserve-bench: {} calls failed: {:?} — not a result", report.errors, report.codes);
    }
    let mut json = report.to_json();
    if let Some(l) = &lag {
        println!(
            "events out   {} messages  lag p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            l.messages, l.p50_ms, l.p99_ms, l.max_ms
        );
        json["nats"] = l.to_json();
    }
    if let Some(path) = a.json
        && let Err(e) = std::fs::write(&path, json.to_string())
    {
        eprintln!("cityserve-bench: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    if report.errors > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
