//! The server as operators and tools see it: health, reflection, gRPC-Web, shutdown, and row-level
//! security underneath the store.
use crate::both_backends;
use crate::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends! {
    async fn health_and_reflection_need_no_token(app: &TestApp) {
        let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel.clone());
        for service in ["", "cityserve.v1.DepartmentService"] {
            let r = health
                .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32, "{service:?}");
        }

        use tonic_reflection::pb::v1 as r1;
        let mut client = r1::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
        let req = r1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(String::new())),
        };
        let mut stream = client.server_reflection_info(futures::stream::iter([req])).await.unwrap().into_inner();
        let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            stream.message().await.unwrap().unwrap().message_response
        else {
            panic!("unexpected reflection answer");
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.contains(&"cityserve.v1.DepartmentService".to_string()), "{names:?}");
        assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");

        use tonic_reflection::pb::v1alpha as ra;
        let mut client = ra::server_reflection_client::ServerReflectionClient::new(app.channel.clone());
        let req = ra::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(ra::server_reflection_request::MessageRequest::FileContainingSymbol(
                "cityserve.v1.DepartmentService".into(),
            )),
        };
        let mut stream = client.server_reflection_info(futures::stream::iter([req])).await.unwrap().into_inner();
        let answer = stream.message().await.unwrap().unwrap().message_response;
        assert!(
            matches!(answer, Some(ra::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "v1alpha reflection serves the descriptors"
        );
    }
}

/// A browser-style gRPC-Web call over plain HTTP/1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_over_http1() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // An empty HealthCheckRequest in one gRPC frame: flag 0, length 0.
    let body = [0u8, 0, 0, 0, 0];
    let head = format!(
        "POST /grpc.health.v1.Health/Check HTTP/1.1\r\nhost: {}\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: application/grpc-web"), "{text}");
    assert!(text.contains("grpc-status:0") || text.contains("grpc-status: 0"), "trailer frame with OK: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_graceful_and_clean() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    create_department(&app, "water").await;
    let addr = app.addr;
    app.shutdown().await.expect("serve returns Ok after draining");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

/// Proves row-level security underneath the store: a raw query as the app role with another
/// tenant set sees nothing of this tenant, even with an explicit WHERE on its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rls_hides_other_tenants_from_raw_queries() {
    let Some(app) = TestApp::start(Db::Postgres).await else { return };
    create_department(&app, "water").await;
    create_department(&app, "streets").await;
    create_category(&app, "streets", "pothole").await;
    create_category(&app, "water", "leak").await;

    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    sqlx::query("SET ROLE cityserve_app").execute(&mut conn).await.unwrap();
    let streets_rows = "SELECT count(*) FROM service_categories WHERE department_id = 'streets'";
    assert_eq!(count(&mut conn, "water", streets_rows).await, 0, "water's session cannot see streets' rows");
    assert_eq!(count(&mut conn, "streets", streets_rows).await, 1);
    assert_eq!(count(&mut conn, "water", "SELECT count(*) FROM departments").await, 1);
    assert_eq!(count(&mut conn, "", "SELECT count(*) FROM departments").await, 0, "no tenant set: nothing visible");
    assert_eq!(count(&mut conn, "water", "SELECT count(*) FROM audit_log WHERE department_id = 'streets'").await, 0);
}

/// Counts the rows `sql` returns in a transaction whose tenant is `tenant`, as the app role.
async fn count(conn: &mut sqlx::PgConnection, tenant: &str, sql: &'static str) -> i64 {
    use sqlx::Connection;
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant_ids', $1, true), set_config('app.role', 'cso', true)")
        .bind(tenant)
        .execute(&mut *tx)
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
    n
}

/// A request over `max_message_bytes` is refused before it reaches a handler, and the server
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused() {
    use cityserve_proto::v1 as pb;
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let huge = pb::CreateDepartmentRequest {
        department_id: "water".into(),
        department: Some(pb::Department {
            display_name: "Water".into(),
            description: "x".repeat(5 * 1024 * 1024),
            ..Default::default()
        }),
        request_id: "big".into(),
    };
    let mut client = app.departments().max_encoding_message_size(usize::MAX);
    let err = client.create_department(authed(huge, &chief())).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"));
    create_department(&app, "water").await;
}
