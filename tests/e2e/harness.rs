//! Starts a server per test and hands out clients and tokens.
use cityserve::config::Config;
use cityserve_domain::{Caller, DepartmentId, Role};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::coordination_service_client::CoordinationServiceClient;
use cityserve_proto::v1::department_service_client::DepartmentServiceClient;
use cityserve_proto::v1::feedback_service_client::FeedbackServiceClient;
use cityserve_proto::v1::officer_service_client::OfficerServiceClient;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::transport::Channel;

pub const SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e";
/// The Chief every test server is bootstrapped with (`cityserve bootstrap-chief`).
pub const CHIEF: &str = "city-chief";
/// The Chief's home department.
pub const CHIEF_OFFICE: &str = "chief-office";

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// The Open311 gateway's address (HTTP).
    pub open311: SocketAddr,
    pub config: Config,
    pub channel: Channel,
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), cityserve::ServeError>>>,
    _dir: tempfile::TempDir,
    _pg: Option<cityserve_store_postgres::testing::TestDatabase>,
}

impl TestApp {
    /// Starts a server on `db`; `None` when PostgreSQL tests are explicitly opted out.
    pub async fn start(db: Db) -> Option<TestApp> {
        Self::start_with(db, |_| {}).await
    }

    /// Starts a server on `db` with `tweak` applied to its configuration.
    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
        log_to_test_output();
        let dir = tempfile::tempdir().unwrap();
        let (database_url, pg) = match db {
            Db::Sqlite => (format!("sqlite://{}", dir.path().join("cityserve.db").display()), None),
            Db::Postgres => {
                if cityserve_store_postgres::testing::postgres_tests_skipped() {
                    eprintln!("skipped: CITYSERVE_SKIP_POSTGRES_TESTS=1");
                    return None;
                }
                let pg = cityserve_store_postgres::testing::TestDatabase::create().await;
                (pg.url.clone(), Some(pg))
            }
        };
        let mut config = Config {
            database_url: database_url.clone(),
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some(SECRET.into()),
            shutdown_grace: Duration::from_secs(5),
            db_max_connections: 4,
            phone_country_code: "1".into(),
            ..Config::default()
        };
        tweak(&mut config);
        let spec = cityserve::bootstrap::ChiefSpec {
            department_id: CHIEF_OFFICE.into(),
            department_name: "Office of the Chief Customer Service Officer".into(),
            officer_id: CHIEF.into(),
            display_name: "Casey Chief".into(),
            email: "casey.chief@city.gov".into(),
            title: "Chief Customer Service Officer".into(),
            identity_subject: String::new(),
        };
        cityserve::bootstrap::bootstrap_chief(&config, &spec).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open311_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open311 = open311_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cityserve::serve_all(config.clone(), listener, Some(open311_listener), async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        let app = TestApp {
            addr,
            open311,
            config,
            channel,
            database_url,
            stop: Some(stop),
            server: Some(server),
            _dir: dir,
            _pg: pg,
        };
        app.wait_serving().await;
        Some(app)
    }

    /// Waits (by watching, not sleeping) until health reports SERVING.
    pub async fn wait_serving(&self) {
        wait_serving_on(&self.channel).await;
    }

    pub fn departments(&self) -> DepartmentServiceClient<Channel> {
        DepartmentServiceClient::new(self.channel.clone())
    }

    pub fn coordination(&self) -> CoordinationServiceClient<Channel> {
        CoordinationServiceClient::new(self.channel.clone())
    }

    pub fn feedback(&self) -> FeedbackServiceClient<Channel> {
        FeedbackServiceClient::new(self.channel.clone())
    }

    /// The count `sql` (a `SELECT count(*) …` both databases read alike) returns, read as the
    /// database owner, bypassing row-level security.
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if self.database_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// How many rows of any table, in any tenant, contain `needle` (read as the database owner,
    /// bypassing row-level security).
    pub async fn rows_containing(&self, needle: &str) -> Vec<(String, i64)> {
        use sqlx::Connection;
        let pattern = format!("%{needle}%");
        let mut hits = Vec::new();
        if self.database_url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url).await.unwrap();
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for t in tables {
                let cols: Vec<String> =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT name FROM pragma_table_info('{t}')")))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                let clause =
                    cols.iter().map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE ?1")).collect::<Vec<_>>().join(" OR ");
                let n: i64 =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM \"{t}\" WHERE {clause}")))
                        .bind(&pattern)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                hits.push((t, n));
            }
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url).await.unwrap();
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            for t in tables {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT count(*) FROM \"{t}\" x WHERE x::text LIKE $1"
                )))
                .bind(&pattern)
                .fetch_one(&mut conn)
                .await
                .unwrap();
                hits.push((t, n));
            }
        }
        hits.retain(|(_, n)| *n > 0);
        hits
    }

    pub fn service_accounts(
        &self,
    ) -> cityserve_proto::v1::service_account_service_client::ServiceAccountServiceClient<Channel> {
        cityserve_proto::v1::service_account_service_client::ServiceAccountServiceClient::new(self.channel.clone())
    }

    /// Registers (as the Chief) the internal application `id`, acting for `departments`, with the
    /// identity provider's client subject `client_id` ('' for none).
    pub async fn register_service(&self, id: &str, departments: &[&str], client_id: &str) -> pb::ServiceAccount {
        let r = pb::CreateServiceAccountRequest {
            service_account_id: id.into(),
            service_account: Some(pb::ServiceAccount {
                display_name: format!("App {id}"),
                departments: departments.iter().map(|d| format!("departments/{d}")).collect(),
                client_id: client_id.into(),
                ..Default::default()
            }),
            request_id: format!("register-{id}"),
        };
        self.service_accounts()
            .create_service_account(authed(r, &chief()))
            .await
            .unwrap()
            .into_inner()
            .service_account
            .unwrap()
    }

    pub fn officers(&self) -> OfficerServiceClient<Channel> {
        OfficerServiceClient::new(self.channel.clone())
    }

    /// Adds officer `id` to `dept` as the Chief.
    pub async fn create_officer(&self, dept: &str, id: &str) -> pb::Officer {
        self.officers()
            .create_officer(authed(
                pb::CreateOfficerRequest {
                    parent: format!("departments/{dept}"),
                    officer_id: id.into(),
                    officer: Some(pb::Officer {
                        display_name: format!("Officer {id}"),
                        email: format!("{id}@city.gov"),
                        title: "Customer Service Representative".into(),
                        ..Default::default()
                    }),
                    request_id: format!("officer-{id}"),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .officer
            .unwrap()
    }

    /// Appoints officer `id` (created if needed) CSO of `dept`, replacing `replaces`.
    pub async fn appoint_cso(&self, dept: &str, id: &str, replaces: &str) -> pb::Appointment {
        self.officers()
            .appoint_cso(authed(
                pb::AppointCsoRequest {
                    parent: format!("departments/{dept}"),
                    officer: format!("departments/{dept}/officers/{id}"),
                    replaces: replaces.into(),
                    request_id: format!("appoint-{dept}-{id}-{replaces}"),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .appointment
            .unwrap()
    }

    /// A CSO token for `dept`, for a freshly appointed officer `cso-{dept}` (the seat must be vacant).
    pub async fn cso(&self, dept: &str) -> String {
        let id = format!("cso-{dept}");
        self.create_officer(dept, &id).await;
        self.appoint_cso(dept, &id, "").await;
        token_for(&id, Role::Cso, &[dept])
    }

    /// A staff token for `dept`, for a freshly created officer `staff-{dept}`.
    pub async fn staff(&self, dept: &str) -> String {
        let id = format!("staff-{dept}");
        self.create_officer(dept, &id).await;
        token_for(&id, Role::Staff, &[dept])
    }

    /// Starts another server (a replica) on the same database and secrets; it stops when the
    /// returned handle is dropped.
    pub async fn replica(&self) -> Replica {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(cityserve::serve(self.config.clone(), listener, async {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        // A PostgreSQL server answers UNAVAILABLE until it has reached its database.
        wait_serving_on(&channel).await;
        Replica { channel, _stop: stop, server }
    }

    /// Stops the server and returns what `serve` returned.
    pub async fn shutdown(mut self) -> Result<(), cityserve::ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.server.take().unwrap().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }
}

/// Waits (by watching, not sleeping) until the server behind `channel` reports SERVING.
pub async fn wait_serving_on(channel: &Channel) {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let mut stream =
        client.watch(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
    let serving = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(msg) = stream.message().await.unwrap() {
            if msg.status == ServingStatus::Serving as i32 {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(serving, Ok(true), "server never reported SERVING");
}

/// A plain HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Every response header, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A minimal HTTP/1.1 client (one request per connection), so the Open311 tests speak plain
/// HTTP exactly as a 311 app would.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())
        })
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut out = String::new();
        let mut rest = rest;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.push_str(&after[..n]);
            rest = &after[n + 2..];
        }
        out
    } else {
        rest.to_owned()
    };
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    HttpResponse { status, content_type: header("content-type").unwrap_or_default(), body, headers }
}

/// Percent-encodes a form value.
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                        b' ' => "+".to_owned(),
                        _ => format!("%{b:02X}"),
                    })
                    .collect::<String>()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A second server process on the same database.
pub struct Replica {
    pub channel: Channel,
    _stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), cityserve::ServeError>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Sends the server's warnings and errors to the running test's captured output (once per test
/// binary), so a failing test shows the server's side too: the store failure behind an
/// `INTERNAL`, say. `CITYSERVE_TEST_LOG` (an `EnvFilter` directive) asks for more.
fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = std::env::var("CITYSERVE_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .with_ansi(false)
            .try_init();
    });
}

pub fn dept(id: &str) -> DepartmentId {
    DepartmentId::parse("id", id).unwrap()
}

/// A token for `subject` acting as `role` for `departments`. The server honours it only while
/// the subject holds that role.
pub fn token_for(subject: &str, role: Role, departments: &[&str]) -> String {
    let caller = Caller { subject: subject.into(), role, departments: departments.iter().map(|d| dept(d)).collect() };
    cityserve_api::mint_token(SECRET.as_bytes(), "cityserve", "cityserve", &caller, Duration::from_secs(600)).unwrap()
}

/// A validly signed token for `role` whose subject is no officer at all.
pub fn token(role: Role, departments: &[&str]) -> String {
    token_for(&format!("e2e-{}", role.as_str()), role, departments)
}

/// A token of the bootstrapped Chief.
pub fn chief() -> String {
    token_for(CHIEF, Role::Chief, &[])
}

/// Wraps `msg` with a bearer token.
pub fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

pub fn hours(h: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: h * 3600, nanos: 0 }
}

/// Creates a department as the Chief.
pub async fn create_department(app: &TestApp, id: &str) -> pb::Department {
    app.departments()
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: id.into(),
                department: Some(pb::Department {
                    display_name: format!("Department of {id}"),
                    description: "serves residents".into(),
                    ..Default::default()
                }),
                request_id: format!("create-{id}"),
            },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .department
        .unwrap()
}

/// Creates a service category as the Chief.
pub async fn create_category(app: &TestApp, dept: &str, id: &str) -> pb::ServiceCategory {
    let category =
        pb::ServiceCategory { display_name: id.to_uppercase(), keywords: vec![id.into()], ..Default::default() };
    create_category_as(app, dept, id, category, &chief()).await
}

/// Creates `dept`'s category `id` as `category` says, with `token`.
pub async fn create_category_as(
    app: &TestApp,
    dept: &str,
    id: &str,
    category: pb::ServiceCategory,
    token: &str,
) -> pb::ServiceCategory {
    app.departments()
        .create_service_category(authed(
            pb::CreateServiceCategoryRequest {
                parent: format!("departments/{dept}"),
                service_category_id: id.into(),
                service_category: Some(category),
                request_id: format!("cat-{dept}-{id}"),
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
        .service_category
        .unwrap()
}

/// The field names of a status's BadRequest details.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Defines `$name` once per backend: `mod $name { sqlite, postgres }`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($app:ident: &TestApp) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: &$crate::harness::TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = $crate::harness::TestApp::start($crate::harness::Db::Sqlite).await.unwrap();
                    run(&app).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(app) = $crate::harness::TestApp::start($crate::harness::Db::Postgres).await {
                        run(&app).await;
                    }
                }
            }
        )+
    };
}
