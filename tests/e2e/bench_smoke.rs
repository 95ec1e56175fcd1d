//! The load generator's CI smoke test: short runs against the demo city (gRPC and Open311) must
//! report zero errors (the benchmark itself is run by hand, see docs/benchmarks.md).
use crate::harness::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_runs_clean_against_the_demo_city() {
    // As crates/bench/run.sh serves it: no per-tenant rate limit (every call is the Chief's, and
    // the `case` scenario alone can pass 200 writes a second).
    let app = TestApp::start_with(Db::Sqlite, |c| {
        c.open311_requests_per_minute = 1_000_000;
        c.tenant_requests_per_second = 0;
    })
    .await
    .unwrap();
    cityserve::demo::load(&app.config, &cityserve::demo::DemoSpec { scale: 300, months: 3, seed: 1 }).await.unwrap();
    let key = cityserve_proto::v1::api_key_service_client::ApiKeyServiceClient::new(app.channel.clone())
        .create_api_key(authed(
            cityserve_proto::v1::CreateApiKeyRequest {
                api_key: Some(cityserve_proto::v1::ApiKey { client_name: "bench".into(), ..Default::default() }),
                request_id: "key-bench".into(),
            },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .key;
    use cityserve_bench::Scenario;
    for scenario in [Scenario::Noop, Scenario::Mix, Scenario::Case, Scenario::Open311List, Scenario::Open311Post] {
        let report = cityserve_bench::run(cityserve_bench::Settings {
            target: format!("http://{}", app.addr),
            token: chief(),
            scenario,
            connections: 2,
            concurrency: 8,
            rate: None,
            duration: Duration::from_millis(700),
            warmup: Duration::from_millis(100),
            department: "water".into(),
            resident: "r-00000000000000000000000000000001".into(),
            open311: Some(app.open311.to_string()),
            api_key: Some(key.clone()),
            open311_service: "water.hydrant".into(),
            open311_fields: "address_string=5th%20St&attribute%5Bstate%5D=open".into(),
        })
        .await
        .unwrap();
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.errors, 0, "{:?}", report.codes);
    }
}
