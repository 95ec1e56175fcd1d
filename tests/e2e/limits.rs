//! Limits and transport: per-tenant rate limit, global concurrency limit with load shedding,
//! deadlines (the client's shorter `grpc-timeout` wins), silent connections, TLS with mutual
//! authentication.
use crate::harness::*;
use cityserve_proto::v1 as pb;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

fn retry_after(status: &tonic::Status) -> Option<u64> {
    status.metadata().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

async fn get_department(app: &TestApp, dept: &str, token: &str) -> Result<(), tonic::Status> {
    app.departments()
        .get_department(authed(pb::GetDepartmentRequest { name: format!("departments/{dept}") }, token))
        .await
        .map(|_| ())
}

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let res = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await?;
    Ok(res.into_inner().status)
}

/// Holds SQLite's write lock from outside the server, so the server's writes wait (up to its 5 s
/// busy timeout) while reads go on (WAL): a reliable way to keep a call in flight.
struct WriteLock(sqlx::SqliteConnection);

impl WriteLock {
    async fn take(app: &TestApp) -> WriteLock {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
        WriteLock(conn)
    }

    async fn release(mut self) {
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
    }
}

fn new_department(id: &str) -> pb::CreateDepartmentRequest {
    pb::CreateDepartmentRequest {
        department_id: id.into(),
        department: Some(pb::Department { display_name: format!("Department of {id}"), ..Default::default() }),
        request_id: format!("create-{id}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_tenant_rate_is_refused_while_other_tenants_go_on() {
    // 5 per second, bursts of 10. The Chief (a tenant of its own, by subject) sets up with 6 calls.
    let app = TestApp::start_with(Db::Sqlite, |c| c.tenant_requests_per_second = 5).await.unwrap();
    create_department(&app, "water").await;
    create_department(&app, "parks").await;
    let water = app.cso("water").await;
    let parks = app.cso("parks").await;

    let mut ok = 0;
    let mut refused = None;
    for _ in 0..30 {
        match get_department(&app, "water", &water).await {
            Ok(()) => ok += 1,
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    let refused = refused.expect("the burst was refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!((10..=12).contains(&ok), "about a burst (10) went through first: {ok}");
    assert!(retry_after(&refused).is_some_and(|s| s >= 1), "retry-after metadata: {:?}", refused.metadata());
    assert!(refused.message().contains("departments/water") || refused.message().contains("water"));

    // Another department is unaffected, and so are health checks.
    get_department(&app, "parks", &parks).await.unwrap();
    assert_eq!(health(app.channel.clone()).await.unwrap(), ServingStatus::Serving as i32);

    // The bucket refills: after the advertised wait, water is served again.
    tokio::time::sleep(Duration::from_secs(retry_after(&refused).unwrap())).await;
    get_department(&app, "water", &water).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_concurrent_requests_calls_are_shed_with_retry_after() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.max_concurrent_requests = 1).await.unwrap();
    create_department(&app, "water").await;

    // An open Watch stream does not hold the slot: it counts only while being set up.
    let watch = app
        .coordination()
        .watch(authed(pb::WatchRequest::default(), &chief()))
        .await
        .expect("watch opens")
        .into_inner();
    get_department(&app, "water", &chief()).await.expect("a unary call beside an open stream");

    // A write held in flight by the database lock occupies the one slot.
    let lock = WriteLock::take(&app).await;
    let hold = || {
        let mut client = app.departments();
        tokio::spawn(async move { client.create_department(authed(new_department("held"), &chief())).await })
    };
    let mut held = hold();
    let shed = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            // Under load a probe can win the slot before the held call reaches the server, and
            // the held call is then the one shed: hold again until it is the one in flight.
            if held.is_finished() {
                held = hold();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            match get_department(&app, "water", &chief()).await {
                Err(s) if s.code() == Code::Unavailable => return s,
                _ => {}
            }
        }
    })
    .await
    .expect("a second call is shed while the first is in flight");
    assert_eq!(retry_after(&shed), Some(1), "retry-after metadata: {:?}", shed.metadata());
    assert!(shed.message().contains("overloaded"), "{}", shed.message());

    // Probes are never shed.
    assert_eq!(health(app.channel.clone()).await.unwrap(), ServingStatus::Serving as i32);

    lock.release().await;
    held.await.unwrap().expect("the held call completes once the lock is gone");
    get_department(&app, "water", &chief()).await.expect("the slot is free again");
    drop(watch);
}

/// Calls CreateDepartment over gRPC-Web (HTTP/1.1) with `grpc-timeout: <timeout>` if given, and
/// returns the headers and trailers as text with the time the server took. A raw client, because
/// tonic's client enforces `grpc-timeout` itself and would race the server's answer.
async fn create_department_raw(app: &TestApp, id: &str, timeout: Option<&str>) -> (String, Duration) {
    use prost::Message;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let msg = new_department(id).encode_to_vec();
    let mut body = vec![0u8];
    body.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&msg);
    let timeout = timeout.map(|t| format!("grpc-timeout: {t}\r\n")).unwrap_or_default();
    let head = format!(
        "POST /cityserve.v1.DepartmentService/CreateDepartment HTTP/1.1\r\nhost: {}\r\n\
         content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\nauthorization: Bearer {}\r\n{timeout}\
         content-length: {}\r\nconnection: close\r\n\r\n",
        app.addr,
        chief(),
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await.unwrap().unwrap();
    (String::from_utf8_lossy(&out).to_ascii_lowercase().replace("%20", " "), start.elapsed())
}

fn grpc_status_of(text: &str) -> Option<i32> {
    text.split("grpc-status:")
        .nth(1)
        .and_then(|rest| rest.trim_start().chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_the_shorter_of_client_and_server() {
    let app = TestApp::start_with(Db::Sqlite, |c| c.request_timeout = Duration::from_secs(2)).await.unwrap();
    let lock = WriteLock::take(&app).await;

    // The client's 300 ms deadline wins over the server's 2 s: DEADLINE_EXCEEDED (4) from the
    // server, not tonic's CANCELLED.
    let (text, took) = create_department_raw(&app, "slow", Some("300m")).await;
    assert_eq!(grpc_status_of(&text), Some(Code::DeadlineExceeded as i32), "{text}");
    assert!(text.contains("grpc-timeout"), "names the client deadline: {text}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1500), "{took:?}");

    // With a longer client deadline, or none, the server's request_timeout ends the call.
    for timeout in [Some("30S"), None] {
        let (text, took) = create_department_raw(&app, "slower", timeout).await;
        assert_eq!(grpc_status_of(&text), Some(Code::DeadlineExceeded as i32), "{text}");
        assert!(text.contains("request timeout"), "{text}");
        assert!(took >= Duration::from_millis(1900) && took < Duration::from_millis(4500), "{took:?}");
    }

    // The tonic client sees the deadline too (its own timer races the server's answer).
    let mut req = authed(new_department("slowest"), &chief());
    req.set_timeout(Duration::from_millis(300));
    let err = app.departments().create_department(req).await.unwrap_err();
    assert!(matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled), "{err:?}");

    lock.release().await;
    create_department(&app, "fast").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the silent connection");
    assert!(start.elapsed() >= Duration::from_secs(5), "not before the preface deadline");
}

/// A CA, a server certificate for localhost and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
    ca: String,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.distinguished_name.push(DnType::CommonName, "CityServe test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();

    let server_key = KeyPair::generate().unwrap();
    let server_params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(DnType::CommonName, "e2e-client");
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
    Pki { dir, ca: ca.pem(), client_cert: client.pem(), client_key: client_key.serialize_pem() }
}

async fn tls_channel(
    addr: std::net::SocketAddr,
    pki: &Pki,
    with_client_cert: bool,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca)).domain_name("localhost");
    if with_client_cert {
        tls = tls.identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    }
    tonic::transport::Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_client_certificates() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let config = cityserve::config::Config {
        database_url: format!("sqlite://{}", data.path().join("cityserve.db").display()),
        data_dir: data.path().to_path_buf(),
        jwt_secret: Some(SECRET.into()),
        shutdown_grace: Duration::from_secs(5),
        tls_cert_file: Some(pki.dir.path().join("server.pem")),
        tls_key_file: Some(pki.dir.path().join("server.key")),
        tls_client_ca_file: Some(pki.dir.path().join("ca.pem")),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cityserve::serve_all(config, listener, None, async {
        let _ = stopped.await;
    }));

    // With a client certificate: SERVING (once the database check has run).
    let channel = tls_channel(addr, &pki, true).await.expect("mutual TLS handshake");
    let serving = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if health(channel.clone()).await.ok() == Some(ServingStatus::Serving as i32) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(serving.is_ok(), "health over mutual TLS reports SERVING");
    // Without a client certificate the handshake (or the first call) is refused.
    let refused = match tls_channel(addr, &pki, false).await {
        Err(_) => true,
        Ok(channel) => health(channel).await.is_err(),
    };
    assert!(refused, "a client without a certificate is refused");

    // Plaintext to the TLS listener gets nowhere either.
    let plain = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}")).unwrap().connect().await?;
        health(channel).await.map_err(|e| Box::new(e) as Box<dyn std::error::Error>)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(tokio::time::timeout(Duration::from_secs(10), plain).await.map(|r| r.is_err()).unwrap_or(true));

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
