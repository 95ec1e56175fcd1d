//! Fault tests, run against the real `cityserve` binary as a child process, loopback only, each
//! bounded in time:
//!
//! - the database is down when the server starts (PostgreSQL behind an in-test TCP proxy that
//!   refuses connections): the server serves at once, NOT_SERVING, RPCs UNAVAILABLE, and recovers
//!   on its own when the database returns;
//! - the database is lost mid-traffic (the proxy cuts every connection and refuses new ones):
//!   calls fail fast with UNAVAILABLE, nothing panics, health goes NOT_SERVING, and the server
//!   recovers when the proxy reopens;
//! - `kill -9` under concurrent write load loses no acknowledged write (SQLite and PostgreSQL);
//! - SIGTERM drains in-flight calls, refuses new connections and exits 0 within the grace;
//! - events out to NATS JetStream survive `kill -9` of the publishing server: every outbox event
//!   is in the stream once, in order (two servers on PostgreSQL; the only server on SQLite,
//!   restarted).
//!
//! Figures are printed (`cargo test --test faults -- --nocapture`) and quoted in
//! docs/security.md ("Faults").
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use cityserve_proto::v1 as pb;
use cityserve_proto::v1::department_service_client::DepartmentServiceClient;
use cityserve_proto::v1::feedback_service_client::FeedbackServiceClient;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

#[path = "support/jetstream.rs"]
mod jetstream;

const SECRET: &str = "faults-test-secret-0123456789abcdef-0123";
const CHIEF: &str = "chief-cso";
const UPSTREAM: &str = "127.0.0.1:5432";
/// Upper bound of every test.
const TEST_BOUND: Duration = Duration::from_secs(55);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn chief_token() -> String {
    let chief =
        cityserve_domain::Caller { subject: CHIEF.into(), role: cityserve_domain::Role::Chief, departments: vec![] };
    cityserve_api::mint_token(SECRET.as_bytes(), "cityserve", "cityserve", &chief, Duration::from_secs(600)).unwrap()
}

fn authed<T>(msg: T, deadline: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert("authorization", format!("Bearer {}", chief_token()).parse().unwrap());
    req.set_timeout(deadline);
    req
}

// ---------------------------------------------------------------------------------------------
// A tiny TCP proxy in front of PostgreSQL that can refuse connections and cut the open ones.
// ---------------------------------------------------------------------------------------------

struct Proxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy on a free loopback port, open or not. While closed, its port refuses connections
    /// (the listening socket is closed), like a stopped PostgreSQL.
    async fn start(open: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(open);
        let task = tokio::spawn(Self::run(addr, Some(listener), rx));
        Proxy { addr, open: tx, task }
    }

    fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }

    async fn run(addr: SocketAddr, mut first: Option<TcpListener>, mut state: watch::Receiver<bool>) {
        loop {
            if !*state.borrow_and_update() {
                drop(first.take());
                if state.wait_for(|o| *o).await.is_err() {
                    return;
                }
            }
            let listener = match first.take() {
                Some(l) => l,
                None => {
                    let mut bound = None;
                    for _ in 0..100 {
                        match TcpListener::bind(addr).await {
                            Ok(l) => {
                                bound = Some(l);
                                break;
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                    bound.expect("proxy could not rebind its port")
                }
            };
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((client, _)) = accepted {
                            tokio::spawn(Self::pipe(client, state.clone()));
                        }
                    }
                    changed = state.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if !*state.borrow() {
                            break;
                        }
                    }
                }
            }
            // Closing the listener: new connections are refused until the proxy reopens.
            drop(listener);
        }
    }

    /// Relays one connection until either side closes or the proxy closes (then both sockets are
    /// dropped: the server sees its connection lost).
    async fn pipe(mut client: TcpStream, mut state: watch::Receiver<bool>) {
        let Ok(mut upstream) = TcpStream::connect(UPSTREAM).await else { return };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
            _ = state.wait_for(|o| !*o) => {}
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// The server as a child process.
// ---------------------------------------------------------------------------------------------

struct Server {
    child: tokio::process::Child,
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

fn command(database_url: &str, data_dir: &std::path::Path, port: u16) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cityserve"));
    cmd.env("CITYSERVE_DATABASE_URL", database_url)
        .env("CITYSERVE_DATA_DIR", data_dir)
        .env("CITYSERVE_JWT_SECRET", SECRET)
        .env("CITYSERVE_LISTEN", format!("127.0.0.1:{port}"))
        .env("CITYSERVE_LOG", "info")
        .env("CITYSERVE_BREACH_SCAN_INTERVAL", "0s")
        .env("CITYSERVE_DB_MAX_CONNECTIONS", "8")
        .env("CITYSERVE_SHUTDOWN_GRACE", "10s")
        .env_remove("CITYSERVE_CONFIG")
        .env_remove("CITYSERVE_OPEN311_LISTEN")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .kill_on_drop(true);
    cmd
}

async fn bootstrap(database_url: &str, data_dir: &std::path::Path) {
    let status = command(database_url, data_dir, free_port())
        .args(["bootstrap-chief", "--department", "mdo", "--officer-id", CHIEF, "--name", "Casey Chief"])
        .args(["--email", "casey@city.example"])
        .stdout(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "bootstrap-chief failed");
}

impl Server {
    fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
        Server::start_with(database_url, data_dir, &[])
    }

    /// Like [`Server::start`], with more `CITYSERVE_*` settings.
    fn start_with(database_url: &str, data_dir: &std::path::Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = command(database_url, data_dir, port)
            .envs(env.iter().copied())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
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
        Server { child, port, lines }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A channel, once the port accepts connections (bounded).
    async fn channel(&self) -> Channel {
        let endpoint = format!("http://127.0.0.1:{}", self.port);
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Ok(c) = Channel::from_shared(endpoint.clone()).unwrap().connect().await {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("server never listened; log:\n{}", self.log()))
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn assert_no_panic(&self) {
        let log = self.log();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }

    async fn sigterm(&self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    }

    async fn kill9(&mut self) {
        self.child.start_kill().unwrap(); // SIGKILL
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.unwrap().unwrap();
        assert!(!status.success(), "killed: {status:?}");
    }

    /// SIGTERM and wait for exit 0.
    async fn stop(mut self) {
        self.sigterm().await;
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await.unwrap().unwrap();
        assert!(status.success(), "graceful exit: {status:?}\n{}", self.log());
        self.assert_no_panic();
    }
}

async fn health(channel: &Channel) -> i32 {
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner().status
}

/// Waits, by watching health (not polling blindly), until it reports `want`; returns how long it
/// took. Panics past `bound`.
async fn wait_health(channel: &Channel, want: ServingStatus, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut stream =
        h.watch(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    let reached = tokio::time::timeout(bound, async {
        while let Some(msg) = stream.message().await.unwrap() {
            if msg.status == want as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(reached, Ok(true), "health never reported {want:?} within {bound:?}");
    started.elapsed()
}

async fn get_department(channel: &Channel, deadline: Duration) -> Result<pb::Department, tonic::Status> {
    DepartmentServiceClient::new(channel.clone())
        .get_department(authed(pb::GetDepartmentRequest { name: "departments/mdo".into() }, deadline))
        .await
        .map(|r| r.into_inner().department.unwrap_or_default())
}

async fn create_department(channel: &Channel, id: &str) {
    DepartmentServiceClient::new(channel.clone())
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: id.into(),
                department: Some(pb::Department { display_name: format!("Department of {id}"), ..Default::default() }),
                request_id: format!("create-{id}"),
            },
            Duration::from_secs(10),
        ))
        .await
        .unwrap();
}

fn feedback_item(text: &str) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Survey as i32,
            kind: pb::FeedbackKind::SurveyResponse as i32,
            csat: Some(4),
            text: text.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn submit(channel: &Channel, dept: &str, deadline: Duration) -> Result<String, tonic::Status> {
    let id = uuid::Uuid::new_v4().to_string();
    let req = pb::SubmitFeedbackRequest {
        parent: format!("departments/{dept}"),
        request_id: id.clone(),
        ..feedback_item(&format!("fault test {id}"))
    };
    FeedbackServiceClient::new(channel.clone())
        .submit_feedback(authed(req, deadline))
        .await
        .map(|r| r.into_inner().feedback.unwrap_or_default().name)
}

/// Every feedback name in `dept` (ListFeedback, all pages).
async fn list_feedback(channel: &Channel, dept: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let mut token = String::new();
    loop {
        let page = FeedbackServiceClient::new(channel.clone())
            .list_feedback(authed(
                pb::ListFeedbackRequest {
                    parent: format!("departments/{dept}"),
                    page_size: 500,
                    page_token: token.clone(),
                    ..Default::default()
                },
                Duration::from_secs(10),
            ))
            .await
            .unwrap()
            .into_inner();
        names.extend(page.feedback.into_iter().map(|f| f.name));
        if page.next_page_token.is_empty() {
            return names;
        }
        token = page.next_page_token;
    }
}

/// The test database's URL with the proxy in place of PostgreSQL.
fn via(url: &str, proxy: &Proxy) -> String {
    assert!(url.contains(UPSTREAM), "the test database is expected at {UPSTREAM}: {url}");
    url.replacen(UPSTREAM, &proxy.addr.to_string(), 1)
}

async fn test_database() -> Option<cityserve_store_postgres::testing::TestDatabase> {
    if cityserve_store_postgres::testing::postgres_tests_skipped() {
        eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
        return None;
    }
    Some(cityserve_store_postgres::testing::TestDatabase::create().await)
}

// ---------------------------------------------------------------------------------------------
// a. Database down at start, then back.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_at_start_then_back() {
    let Some(pg) = test_database().await else { return };
    tokio::time::timeout(TEST_BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        bootstrap(&pg.url, dir.path()).await;
        let proxy = Proxy::start(false).await;
        let server = Server::start(&via(&pg.url, &proxy), dir.path());
        let channel = server.channel().await;

        assert_eq!(health(&channel).await, ServingStatus::NotServing as i32, "NOT_SERVING while the database is down");
        let started = Instant::now();
        let err = get_department(&channel, Duration::from_secs(5)).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert_eq!(err.message(), "database unavailable, retrying");
        assert!(took < Duration::from_millis(500), "answered at once, not after a pool timeout: {took:?}");

        // Down for a while (the server keeps retrying), then back.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(health(&channel).await, ServingStatus::NotServing as i32);
        proxy.set_open(true);
        let recovered = wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        let d = get_department(&channel, Duration::from_secs(5)).await.unwrap();
        assert_eq!(d.name, "departments/mdo");
        submit(&channel, "mdo", Duration::from_secs(5)).await.unwrap();
        println!(
            "faults/a: database down at start: first RPC UNAVAILABLE in {took:?}; SERVING {recovered:?} after the database returned"
        );
        server.stop().await;
    })
    .await
    .expect("test exceeded its bound");
}

// ---------------------------------------------------------------------------------------------
// b. Database lost mid-traffic.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Outcomes {
    ok: u64,
    unavailable: u64,
    other: Vec<(Code, String, Duration)>,
    slowest_failure: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_lost_mid_traffic() {
    let Some(pg) = test_database().await else { return };
    tokio::time::timeout(TEST_BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        bootstrap(&pg.url, dir.path()).await;
        let proxy = Proxy::start(true).await;
        let server = Server::start(&via(&pg.url, &proxy), dir.path());
        let channel = server.channel().await;
        wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;

        // Traffic: readers and writers with a short client deadline.
        let deadline = Duration::from_secs(4);
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let mut workers = Vec::new();
        for i in 0..8 {
            let (channel, stop, cut, outcomes) = (channel.clone(), stop.clone(), cut.clone(), outcomes.clone());
            workers.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let after_cut = cut.load(Ordering::Relaxed);
                    let result = if i % 2 == 0 {
                        get_department(&channel, deadline).await.map(|_| ())
                    } else {
                        submit(&channel, "mdo", deadline).await.map(|_| ())
                    };
                    let took = started.elapsed();
                    {
                        let mut o = outcomes.lock().unwrap();
                        match result {
                            Ok(()) => o.ok += 1,
                            Err(e) if e.code() == Code::Unavailable => {
                                o.unavailable += 1;
                                if after_cut {
                                    o.slowest_failure = o.slowest_failure.max(took);
                                }
                            }
                            Err(e) => o.other.push((e.code(), e.message().to_owned(), took)),
                        }
                    }
                    if took < Duration::from_millis(20) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ok_before = outcomes.lock().unwrap().ok;
        assert!(ok_before > 0, "traffic flowed before the cut");

        // Cut: every proxied connection dropped, new ones refused.
        proxy.set_open(false);
        cut.store(true, Ordering::Relaxed);
        let cut_at = Instant::now();
        let detected = wait_health(&channel, ServingStatus::NotServing, Duration::from_secs(15)).await;
        // Once NOT_SERVING, calls are refused at once.
        let started = Instant::now();
        let err = get_department(&channel, deadline).await.unwrap_err();
        let fast = started.elapsed();
        assert_eq!(err.code(), Code::Unavailable, "{err:?}");
        assert!(fast < Duration::from_millis(500), "refused at once while down: {fast:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let down_for = cut_at.elapsed();

        // Back.
        proxy.set_open(true);
        let recovered = wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        let ok_at_recovery = outcomes.lock().unwrap().ok;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            tokio::time::timeout(Duration::from_secs(10), w).await.unwrap().unwrap();
        }
        get_department(&channel, deadline).await.unwrap();
        submit(&channel, "mdo", deadline).await.unwrap();

        let o = std::mem::take(&mut *outcomes.lock().unwrap());
        println!(
            "faults/b: database lost mid-traffic: {} calls OK, {} UNAVAILABLE, {} other; slowest failure after the cut \
             {:?} (client deadline {deadline:?}); NOT_SERVING {detected:?} after the cut; refused in {fast:?} while down; \
             down {down_for:?}; SERVING {recovered:?} after the database returned; {} calls OK after recovery",
            o.ok,
            o.unavailable,
            o.other.len(),
            o.slowest_failure,
            o.ok - ok_at_recovery,
        );
        // A call caught in flight at the very moment of the cut may still end at its own
        // deadline (the issue: "no hang past the deadline"); everything else fails fast with
        // UNAVAILABLE, and nothing is INTERNAL or outlives its deadline.
        let at_deadline = |(code, _, took): &(Code, String, Duration)| {
            matches!(code, Code::DeadlineExceeded | Code::Cancelled) && *took < deadline + Duration::from_millis(500)
        };
        assert!(
            o.other.iter().all(at_deadline),
            "every failure is UNAVAILABLE or ends at its deadline (no INTERNAL, no hang past it): {:?}",
            o.other
        );
        assert!(
            (o.other.len() as u64) * 20 <= o.unavailable.max(1),
            "at most 5% of failures reach their deadline: {} of {}",
            o.other.len(),
            o.unavailable
        );
        assert!(o.unavailable > 0, "the cut was felt");
        assert!(o.slowest_failure < deadline, "no UNAVAILABLE took as long as the deadline: {:?}", o.slowest_failure);
        assert!(o.ok > ok_at_recovery, "calls succeed again after recovery");
        server.assert_no_panic();
        server.stop().await;
    })
    .await
    .expect("test exceeded its bound");
}

// ---------------------------------------------------------------------------------------------
// c. kill -9 under write load loses no acknowledged write.
// ---------------------------------------------------------------------------------------------

async fn kill9_under_write_load(database_url: &str, label: &str) {
    let dir = tempfile::tempdir().unwrap();
    bootstrap(database_url, dir.path()).await;
    let mut server = Server::start(database_url, dir.path());
    let channel = server.channel().await;
    wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
    create_department(&channel, "water").await;

    let writers = 16;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let failed = Arc::new(Mutex::new(0u64));
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let (channel, stop, acked, failed) = (channel.clone(), stop.clone(), acked.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match submit(&channel, "water", Duration::from_secs(5)).await {
                    Ok(name) => {
                        assert!(!name.is_empty());
                        acked.lock().unwrap().push(name);
                    }
                    Err(_) => {
                        *failed.lock().unwrap() += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let acked_before_kill = acked.lock().unwrap().len();
    assert!(acked_before_kill > 0, "writes were acknowledged before the kill");
    server.kill9().await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t).await.unwrap().unwrap();
    }
    let acked: HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let failed = *failed.lock().unwrap();

    // Restart on the same database and look for every acknowledged write.
    let server = Server::start(database_url, dir.path());
    let channel = server.channel().await;
    wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
    let found = list_feedback(&channel, "water").await;
    let lost: Vec<&String> = acked.iter().filter(|n| !found.contains(*n)).collect();
    // Spot-check a few by name too.
    for name in acked.iter().take(5) {
        FeedbackServiceClient::new(channel.clone())
            .get_feedback(authed(pb::GetFeedbackRequest { name: name.clone() }, Duration::from_secs(5)))
            .await
            .unwrap();
    }
    println!(
        "faults/c ({label}): kill -9 under write load ({writers} writers): {} writes acknowledged, {} rows found after \
         restart, {} acknowledged writes lost, {} unacknowledged calls, {} rows committed but never acknowledged",
        acked.len(),
        found.len(),
        lost.len(),
        failed,
        found.len().saturating_sub(acked.len() - lost.len()),
    );
    assert!(lost.is_empty(), "acknowledged writes lost after kill -9: {lost:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_write_load_loses_no_acknowledged_write_sqlite() {
    tokio::time::timeout(TEST_BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("faults.db").display());
        kill9_under_write_load(&url, "SQLite").await;
    })
    .await
    .expect("test exceeded its bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_write_load_loses_no_acknowledged_write_postgres() {
    let Some(pg) = test_database().await else { return };
    tokio::time::timeout(TEST_BOUND, kill9_under_write_load(&pg.url, "PostgreSQL"))
        .await
        .expect("test exceeded its bound");
}

// ---------------------------------------------------------------------------------------------
// d. SIGTERM drains in-flight calls.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_calls() {
    tokio::time::timeout(TEST_BOUND, async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("faults.db").display());
        bootstrap(&url, dir.path()).await;
        let mut server = Server::start(&url, dir.path());
        let channel = server.channel().await;
        wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        create_department(&channel, "water").await;

        // Several large batches in flight at once (SQLite writes them one after another).
        let batches = 4;
        let items = 1_000;
        let mut calls = Vec::new();
        for b in 0..batches {
            let channel = channel.clone();
            calls.push(tokio::spawn(async move {
                let req = pb::BatchSubmitFeedbackRequest {
                    parent: "departments/water".into(),
                    requests: (0..items).map(|i| feedback_item(&format!("batch {b} item {i}"))).collect(),
                    request_id: format!("drain-batch-{b}"),
                    allow_partial_success: false,
                };
                let result = FeedbackServiceClient::new(channel)
                    .batch_submit_feedback(authed(req, Duration::from_secs(30)))
                    .await;
                (result.map(|r| r.into_inner().results.len()), Instant::now())
            }));
        }
        // Let the requests reach the server, then ask it to stop.
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.sigterm().await;
        let term_at = Instant::now();

        // New connections are refused once the signal is handled (while the batches drain).
        let refused = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if TcpStream::connect(server.addr()).await.is_err() {
                    return term_at.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("new connections still accepted after SIGTERM");

        let mut completed_after_term = 0;
        let mut stored = 0;
        for c in calls {
            let (result, done_at) = c.await.unwrap();
            let n = result.unwrap_or_else(|e| panic!("an in-flight batch failed during the drain: {e:?}"));
            assert_eq!(n, items);
            stored += n;
            if done_at > term_at {
                completed_after_term += 1;
            }
        }
        let status = tokio::time::timeout(Duration::from_secs(11), server.child.wait())
            .await
            .expect("did not exit within shutdown_grace (10 s)")
            .unwrap();
        let exited = term_at.elapsed();
        assert!(status.success(), "exit status after SIGTERM: {status:?}\n{}", server.log());
        server.assert_no_panic();
        assert!(completed_after_term > 0, "some batches were still in flight when SIGTERM arrived");

        // The drained writes are in the database.
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM feedback WHERE department_id = 'water'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows as usize, stored);
        println!(
            "faults/d: SIGTERM with {batches} batches of {items} in flight: {completed_after_term} completed after the \
             signal, all {stored} items acknowledged and stored; new connections refused {refused:?} after SIGTERM; \
             exit 0 {exited:?} after SIGTERM (grace 10 s)"
        );
    })
    .await
    .expect("test exceeded its bound");
}

// ---------------------------------------------------------------------------------------------
// e. Events out: two servers on one PostgreSQL database publish to NATS JetStream (one at a time,
//    by lease); the publishing one is killed with SIGKILL halfway through 10,000 writes and
//    restarted: every event is in the stream exactly once, in commit order per department. The
//    same on SQLite with its one server killed and restarted.
// ---------------------------------------------------------------------------------------------

/// Files one survey answer in `dept` through `first`, or through `second` with the same
/// request_id when `first` fails (it may be dead): exactly once either way.
async fn submit_once(first: &Channel, second: &Channel, dept: &str, request_id: &str) {
    let req = pb::SubmitFeedbackRequest {
        parent: format!("departments/{dept}"),
        request_id: request_id.into(),
        ..feedback_item(request_id)
    };
    for attempt in 0..200 {
        let channel = if attempt % 2 == 0 { first } else { second };
        let mut client = FeedbackServiceClient::new(channel.clone());
        if client.submit_feedback(authed(req.clone(), Duration::from_secs(5))).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{request_id} was never filed");
}

/// Submits `request_id` through whatever server `current` holds, retrying (the same request ID, so
/// at most once) until it is accepted, across a restart of that server.
async fn submit_through_restarts(current: &std::sync::RwLock<Channel>, dept: &str, request_id: &str) {
    let req = pb::SubmitFeedbackRequest {
        parent: format!("departments/{dept}"),
        request_id: request_id.into(),
        ..feedback_item(request_id)
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline {
        let channel = current.read().unwrap().clone();
        let mut client = FeedbackServiceClient::new(channel);
        if client.submit_feedback(authed(req.clone(), Duration::from_secs(5))).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{request_id} was never filed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_out_survive_kill9_of_the_publisher_sqlite() {
    tokio::time::timeout(Duration::from_secs(300), async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("events-out.db").display());
        bootstrap(&url, dir.path()).await;
        let (stream, prefix) = jetstream::unique_stream();
        let env = [
            ("CITYSERVE_NATS_URL", jetstream::NATS),
            ("CITYSERVE_NATS_STREAM", stream.as_str()),
            ("CITYSERVE_NATS_SUBJECT_PREFIX", prefix.as_str()),
            ("CITYSERVE_NATS_LEASE_TTL", "2s"),
        ];
        let mut server = Server::start_with(&url, dir.path(), &env);
        let channel = server.channel().await;
        wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        let departments = ["d0", "d1", "d2", "d3"];
        for d in departments {
            create_department(&channel, d).await;
        }
        assert!(!jetstream::until_published(&stream, 1).await.is_empty(), "never published:\n{}", server.log());

        // One writer per department, through the one server; it is killed halfway and restarted
        // (on a new port), and the writers carry on through the new one.
        const WRITES: usize = 10_000;
        let current = Arc::new(std::sync::RwLock::new(channel));
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut writers = Vec::new();
        for (w, d) in departments.into_iter().enumerate() {
            let (current, done) = (current.clone(), done.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..WRITES / departments.len() {
                    submit_through_restarts(&current, d, &format!("events-out-{w}-{i}")).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        while done.load(Ordering::Relaxed) < WRITES / 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill9().await;
        let server = Server::start_with(&url, dir.path(), &env);
        let channel = server.channel().await;
        wait_health(&channel, ServingStatus::Serving, Duration::from_secs(20)).await;
        *current.write().unwrap() = channel;
        for w in writers {
            w.await.unwrap();
        }
        let expected = jetstream::outbox_events(&url).await;
        assert!(expected >= WRITES, "{expected} events for {WRITES} writes");
        let got = jetstream::until_published(&stream, expected).await;
        jetstream::assert_once_in_order(&got, expected);
        println!(
            "faults/e (SQLite): {WRITES} writes, {expected} events, {} messages, the only server killed halfway",
            got.len()
        );
        server.assert_no_panic();
        server.stop().await;
        jetstream::drop_stream(&stream).await;
    })
    .await
    .expect("the events-out fault test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_out_survive_kill9_of_the_publisher_postgres() {
    let Some(pg) = test_database().await else { return };
    tokio::time::timeout(Duration::from_secs(300), async {
        let dir = tempfile::tempdir().unwrap();
        bootstrap(&pg.url, dir.path()).await;
        let (stream, prefix) = jetstream::unique_stream();
        let env = [
            ("CITYSERVE_NATS_URL", jetstream::NATS),
            ("CITYSERVE_NATS_STREAM", stream.as_str()),
            ("CITYSERVE_NATS_SUBJECT_PREFIX", prefix.as_str()),
            ("CITYSERVE_NATS_LEASE_TTL", "2s"),
        ];
        let mut a = Server::start_with(&pg.url, dir.path(), &env);
        let ca = a.channel().await;
        wait_health(&ca, ServingStatus::Serving, Duration::from_secs(20)).await;
        let departments = ["d0", "d1", "d2", "d3"];
        for d in departments {
            create_department(&ca, d).await;
        }
        // The first server holds the lease once it has published.
        assert!(!jetstream::until_published(&stream, 1).await.is_empty(), "a never published:\n{}", a.log());
        let b = Server::start_with(&pg.url, dir.path(), &env);
        let cb = b.channel().await;
        wait_health(&cb, ServingStatus::Serving, Duration::from_secs(20)).await;

        // One writer per department (so ascending sequence is commit order within it), writes
        // spread over both servers.
        const WRITES: usize = 10_000;
        let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut writers = Vec::new();
        for (w, d) in departments.into_iter().enumerate() {
            let (ca, cb, done) = (ca.clone(), cb.clone(), done.clone());
            writers.push(tokio::spawn(async move {
                for i in 0..WRITES / departments.len() {
                    let (first, second) = if i % 2 == 0 { (&ca, &cb) } else { (&cb, &ca) };
                    submit_once(first, second, d, &format!("events-out-{w}-{i}")).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        while done.load(Ordering::Relaxed) < WRITES / 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.kill9().await;
        for w in writers {
            w.await.unwrap();
        }
        // The survivor took the lease over; the killed one comes back and waits its turn.
        let a = Server::start_with(&pg.url, dir.path(), &env);
        wait_health(&a.channel().await, ServingStatus::Serving, Duration::from_secs(20)).await;
        let expected = jetstream::outbox_events(&pg.url).await;
        assert!(expected >= WRITES, "{expected} events for {WRITES} writes");
        let got = jetstream::until_published(&stream, expected).await;
        jetstream::assert_once_in_order(&got, expected);
        println!(
            "faults/e (PostgreSQL): {WRITES} writes, {expected} events, {} messages, publisher killed halfway",
            got.len()
        );
        b.assert_no_panic();
        a.stop().await;
        b.stop().await;
        jetstream::drop_stream(&stream).await;
    })
    .await
    .expect("the events-out fault test finishes in time");
}
