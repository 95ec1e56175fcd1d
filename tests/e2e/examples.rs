//! The client examples under `examples/` against the real server, so they cannot rot: the Python
//! client (official grpcio) calls every service, `buf curl` calls through reflection and through
//! the protos, and the gRPC-Web browser client type-checks and builds.
//!
//! These tests need python3 (with venv) and npm; when one is missing they fail with what to
//! install, they never skip. The first run installs the Python packages into
//! `examples/python/.venv`, the npm packages into `examples/typescript/node_modules` and the buf CLI
//! into `tests/tools/buf/node_modules` (all git-ignored and reused by later runs; see
//! [`crate::tools`]).
use crate::harness::*;
use crate::tools::{buf, npm_packages, repo};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// Runs `program args` in `dir` (killed after `limit`) and returns its output; panics with `hint`
/// when the program cannot be started at all.
async fn run(dir: &Path, program: &Path, args: &[&str], limit: Duration, hint: &str) -> Output {
    let started = Instant::now();
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(limit, child).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => panic!("cannot run {}: {e}\n{hint}", program.display()),
        Err(_) => panic!("{} {args:?} did not finish within {limit:?}", program.display()),
    };
    // Tokens stay out of the log.
    let shown: Vec<&str> = args.iter().map(|a| if a.contains("eyJ") { "<token>" } else { *a }).collect();
    eprintln!("{} {}: {} in {:.1?}", program.display(), shown.join(" "), out.status, started.elapsed());
    out
}

/// Panics with the command's output unless it succeeded.
fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails (never skips) when `program --version` does not run.
async fn require_tool(program: &str, hint: &str) {
    let ok = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    assert!(ok, "`{program}` is needed by the examples tests but is not installed or not on PATH.\n{hint}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_example_calls_every_service() {
    let hint = "Install Python 3 with venv and pip (Debian/Ubuntu: apt-get install python3 python3-venv); \
                examples/python/setup.sh then creates examples/python/.venv from PyPI.";
    require_tool("python3", hint).await;
    let dir = repo().join("examples/python");
    // Idempotent: creates the venv and installs the pinned packages only the first time.
    let setup = run(&dir, &dir.join("setup.sh"), &[], Duration::from_secs(600), hint).await;
    assert_ok("examples/python/setup.sh", &setup);

    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let target = app.addr.to_string();
    let token = chief();
    let out = run(
        &dir,
        &dir.join(".venv/bin/python"),
        &["cityserve_example.py", "--target", &target, "--token", &token],
        Duration::from_secs(120),
        hint,
    )
    .await;
    assert_ok("examples/python/cityserve_example.py", &out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for service in
        ["DepartmentService.", "OfficerService.", "FeedbackService.", "CoordinationService.", "ApiKeyService."]
    {
        assert!(stdout.contains(service), "the example never called {service}:\n{stdout}");
    }
    assert!(stdout.contains("OK: every CityServe service answered"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buf_curl_lists_departments() {
    let root = repo();
    let buf = buf().await;
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    let url = format!("http://{}/cityserve.v1.DepartmentService/ListDepartments", app.addr);
    let auth = format!("authorization: Bearer {}", chief());
    // Through server reflection (no protos needed), then from the repository's protos.
    for schema in [&["--reflect"][..], &["--schema", "proto"][..]] {
        let mut args = vec!["curl", "--protocol", "grpc", "--http2-prior-knowledge"];
        args.extend_from_slice(schema);
        args.extend_from_slice(&["-H", &auth, "--data", r#"{"page_size": 10}"#, &url]);
        let out = run(&root, &buf, &args, Duration::from_secs(60), "").await;
        assert_ok(&format!("buf {}", args.join(" ")), &out);
        let body: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("buf curl printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(body["departments"][0]["name"], format!("departments/{CHIEF_OFFICE}"), "{schema:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_example_builds() {
    let hint = "Install Node.js 20.19+ with npm (Debian/Ubuntu: apt-get install nodejs npm).";
    require_tool("npm", hint).await;
    // `npm ci` only when node_modules does not match the committed lock file.
    let dir = npm_packages("examples/typescript").await;
    let npm = Path::new("npm");
    let generate = run(&dir, npm, &["run", "generate"], Duration::from_secs(120), hint).await;
    assert_ok("npm run generate (examples/typescript)", &generate);
    let build = run(&dir, npm, &["run", "build"], Duration::from_secs(300), hint).await;
    assert_ok("npm run build (examples/typescript)", &build);
    assert!(dir.join("dist/index.html").exists(), "vite build wrote no dist/index.html");
}
