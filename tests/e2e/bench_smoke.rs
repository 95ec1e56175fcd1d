//! The load generator's CI smoke test: a short mixed run against the demo city must report zero
//! errors (the benchmark itself is run by hand, see docs/benchmarks.md).
use crate::harness::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_runs_clean_against_the_demo_city() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    cityserve::demo::load(&app.config, &cityserve::demo::DemoSpec { scale: 300, months: 3, seed: 1 }).await.unwrap();
    for scenario in [cityserve_bench::Scenario::Noop, cityserve_bench::Scenario::Mix] {
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
        })
        .await
        .unwrap();
        assert!(report.calls > 0, "{report:?}");
        assert_eq!(report.errors, 0, "{:?}", report.codes);
    }
}
