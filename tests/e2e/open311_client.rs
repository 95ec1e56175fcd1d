//! The Open311 gateway against a stock Open311 client library: `tests/open311-client/check.mjs`
//! lists services, reads a definition (a service asking a question of every datatype), files a
//! request answering them and reads it back through the npm
//! `open311` package, and validates every raw JSON response against the GeoReport v2 JSON Schemas
//! in `tests/open311-client/schemas/`.
//!
//! Needs Node and npm; the client's pinned packages are installed on first use into the
//! git-ignored `tests/open311-client/node_modules` ([`crate::tools::npm_packages`]).
use crate::harness::*;
use crate::tools::npm_packages;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::api_key_service_client::ApiKeyServiceClient;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// How long the whole client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

const INSTALL: &str = "install Node.js 20+ with npm (Debian/Ubuntu: apt-get install nodejs npm), \
                       then run: tests/tools/npm-ci tests/open311-client";

/// The client project's folder, after checking that Node runs and installing the client's pinned
/// packages on first use.
async fn client_dir() -> PathBuf {
    match tokio::process::Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}): {INSTALL}", out.status),
        Err(e) => panic!("cannot run `node` ({e}): {INSTALL}"),
    }
    let dir = npm_packages("tests/open311-client").await;
    for package in ["open311", "ajv", "ajv-formats"] {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(manifest.is_file(), "{} is missing after the install: {INSTALL}", manifest.display());
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_open311_client_lists_files_and_reads_back() {
    let dir = client_dir().await;
    let app = TestApp::start_with(Db::Sqlite, |c| c.open311_jurisdiction_id = "city.gov".into()).await.unwrap();
    create_department(&app, "streets").await;
    create_category(&app, "streets", "pothole").await;
    create_category(&app, "streets", "graffiti").await;
    // The service the client files with asks a question of every datatype.
    crate::open311_attributes::create_asking(
        &app,
        "streets",
        "hydrant",
        crate::open311_attributes::hydrant_questions(),
    )
    .await;
    let key = ApiKeyServiceClient::new(app.channel.clone())
        .create_api_key(authed(
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey { client_name: "open311-npm".into(), ..Default::default() }),
                request_id: "key-open311-npm".into(),
            },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .key;

    let endpoint = format!("http://{}/open311/v2/", app.open311);
    let child = tokio::process::Command::new("node")
        .arg(dir.join("check.mjs"))
        .args(["--endpoint", &endpoint, "--api-key", &key, "--service-code", "streets.hydrant"])
        .args(["--jurisdiction", "city.gov"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node check.mjs` ({e}): {INSTALL}"));
    let out = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("check.mjs did not finish within {CLIENT_TIMEOUT:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check.mjs failed ({}):\n{stdout}{stderr}", out.status);
    assert!(stdout.contains("check.mjs: all 7 steps passed"), "unexpected output:\n{stdout}{stderr}");
    assert!(stdout.contains("400 naming attribute[state] left unanswered"), "unexpected output:\n{stdout}{stderr}");
    println!("{stdout}");
    // Both reports (the library's and the raw POST) kept every answer and the photo.
    let filed = app
        .feedback()
        .list_feedback(authed(
            pb::ListFeedbackRequest { parent: "departments/streets".into(), page_size: 10, ..Default::default() },
            &chief(),
        ))
        .await
        .unwrap()
        .into_inner()
        .feedback;
    assert_eq!(filed.len(), 2, "{filed:?}");
    for f in &filed {
        let codes: Vec<&str> = f.attributes.iter().map(|a| a.code.as_str()).collect();
        assert_eq!(codes, ["state", "water_going", "flow", "since", "notes", "cap_number"], "{f:?}");
        let going = f.attributes.iter().find(|a| a.code == "water_going").unwrap();
        assert_eq!(going.values, ["street", "sidewalk"], "a list answer arrives whole");
        assert_eq!(f.media_urls, ["https://photos.example.org/open311-client/pothole.jpg"]);
    }
}
