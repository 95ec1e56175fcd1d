//! `cityserve import` against the real server on both backends: a 10,000-row vendor file with 37
//! bad rows of every kind imports exactly the good ones and lists exactly the bad ones; running it
//! again, or after killing it halfway, never doubles a row; a CSO cannot import into another
//! department.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::Role;
use cityserve_import::{Options, Summary};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Rows in the big file, and the bad ones among them.
const ROWS: u64 = 10_000;
const BAD: usize = 37;

/// Writes the vendor file (their column names, mapped with `--map`); returns it and the line
/// numbers of the bad rows.
fn vendor_file(dir: &Path) -> (PathBuf, BTreeSet<u64>) {
    let mut out = String::from("Dept,Channel,Kind,Score,Comment,When,Email\n");
    let mut bad = BTreeSet::new();
    let mut line = 1;
    let mut good_lines = Vec::new();
    for i in 0..ROWS {
        line += 1;
        let dept = if i % 2 == 0 { "water" } else { "streets" };
        let when = format!("2026-{:02}-{:02}T10:{:02}:00-05:00", 1 + i % 9, 1 + i % 28, i % 60);
        let row = match i {
            // An unknown department (5), CSAT 7 (8), an unparseable time (6), a NUL byte (6), a
            // missing column (6) and a repeat of an earlier line (6).
            i if i % 1000 == 11 && i < 5000 => {
                format!("nowhere,SURVEY,SURVEY_RESPONSE,4,row {i},{when},r{i}@example.org")
            }
            i if i % 1000 == 13 && i < 8000 => {
                format!("{dept},SURVEY,SURVEY_RESPONSE,7,row {i},{when},r{i}@example.org")
            }
            i if i % 1000 == 17 && i < 6000 => {
                format!("{dept},SURVEY,SURVEY_RESPONSE,4,row {i},last tuesday,r{i}@example.org")
            }
            i if i % 1000 == 19 && i < 6000 => {
                format!("{dept},WEB,COMPLIMENT,5,\"row {i}\u{0} nul\",{when},r{i}@example.org")
            }
            i if i % 1000 == 23 && i < 6000 => format!("{dept},SURVEY,SURVEY_RESPONSE,4,row {i}"),
            i if i % 1000 == 29 && i < 6000 => {
                let (_, earlier) = &good_lines[good_lines.len() / 2];
                String::clone(earlier)
            }
            _ => {
                let row = format!(
                    "{dept},COMMENT_CARD,SURVEY_RESPONSE,{},\"row {i}, typed in\",{when},r{i}@example.org",
                    1 + i % 5
                );
                good_lines.push((line, row.clone()));
                out.push_str(&row);
                out.push('\n');
                continue;
            }
        };
        bad.insert(line);
        out.push_str(&row);
        out.push('\n');
    }
    assert_eq!(bad.len(), BAD);
    let path = dir.join("vendor-q3.csv");
    std::fs::write(&path, out).unwrap();
    (path, bad)
}

fn options(app: &TestApp, token: &str, file: &Path) -> Options {
    Options {
        server: format!("http://{}", app.addr),
        token: token.to_owned(),
        files: vec![file.to_owned()],
        map: "Dept=department,Channel=channel,Kind=kind,Score=csat,Comment=text,When=occur_time,Email=email".into(),
        in_flight: 4,
    }
}

async fn import(app: &TestApp, token: &str, file: &Path) -> Summary {
    let mut done = cityserve_import::run(&options(app, token, file)).await.unwrap();
    done.pop().unwrap().1
}

/// Feedback rows in the database (as its owner: every tenant).
async fn feedback_rows(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM feedback").await
}

/// The line numbers listed in an errors file.
fn listed(errors: &Path) -> BTreeSet<u64> {
    let mut r = csv::Reader::from_path(errors).unwrap();
    r.records().map(|rec| rec.unwrap()[0].parse().unwrap()).collect()
}

async fn city(app: &TestApp) {
    create_department(app, "water").await;
    create_department(app, "streets").await;
}

both_backends! {
    async fn import_files_the_good_rows_once_and_lists_every_bad_one(app: &TestApp) {
        city(app).await;
        let dir = tempfile::tempdir().unwrap();
        let (file, bad) = vendor_file(dir.path());
        let good = ROWS - BAD as u64;
        let first = import(app, &chief(), &file).await;
        assert_eq!((first.rows, first.imported, first.already_present, first.refused), (ROWS, good, 0, BAD as u64));
        let errors = first.errors_file.unwrap();
        assert_eq!(listed(&errors), bad, "exactly the bad lines, by line number");
        let text = std::fs::read_to_string(&errors).unwrap();
        for reason in ["csat", "occur_time", "feedback.text", "repeats line", "has 5 fields", "department"] {
            assert!(text.contains(reason), "{reason} missing from:\n{text}");
        }
        assert_eq!(feedback_rows(app).await, good as i64);

        // The same file again adds nothing.
        let again = import(app, &chief(), &file).await;
        assert_eq!((again.imported, again.already_present, again.refused), (0, good, BAD as u64));
        assert_eq!(feedback_rows(app).await, good as i64);
    }

    async fn an_import_killed_halfway_resumes_without_doubling(app: &TestApp) {
        city(app).await;
        let dir = tempfile::tempdir().unwrap();
        let (file, _) = vendor_file(dir.path());
        let opts = Options { in_flight: 1, ..options(app, &chief(), &file) };
        let task = tokio::spawn(async move { cityserve_import::run(&opts).await });
        // Kill it once some rows, but not all, are in.
        loop {
            let n = feedback_rows(app).await;
            if n > 0 {
                task.abort();
                assert!(n < (ROWS - BAD as u64) as i64, "killed too late to prove anything ({n} rows)");
                break;
            }
            tokio::task::yield_now().await;
        }
        let _ = task.await;
        // Resumed with other settings (more in flight): the same batches, so nothing is doubled.
        let resumed = import(app, &chief(), &file).await;
        assert_eq!(resumed.imported + resumed.already_present, ROWS - BAD as u64);
        assert!(resumed.already_present > 0, "{resumed:?}");
        assert_eq!(feedback_rows(app).await, (ROWS - BAD as u64) as i64);
    }

    async fn a_cso_imports_only_into_their_department(app: &TestApp) {
        city(app).await;
        let cso = app.cso("water").await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mixed.jsonl");
        std::fs::write(
            &file,
            "{\"department\":\"water\",\"channel\":\"PHONE\",\"kind\":\"QUESTION\",\"text\":\"when is my bill due?\"}\n\
             {\"department\":\"streets\",\"channel\":\"PHONE\",\"kind\":\"COMPLIMENT\",\"text\":\"smooth road\"}\n",
        )
        .unwrap();
        let mut opts = options(app, &cso, &file);
        opts.map.clear();
        let s = cityserve_import::run(&opts).await.unwrap().pop().unwrap().1;
        assert_eq!((s.imported, s.refused), (1, 1));
        let text = std::fs::read_to_string(s.errors_file.unwrap()).unwrap();
        assert!(text.contains("2,department,\"departments/streets not found"), "{text}");
    }
}

/// The example file of docs/import.md imports cleanly, so the documentation cannot rot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_example_file_imports() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    city(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feedback-history.csv");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/import/feedback-history.csv"), &file).unwrap();
    let mut opts = options(&app, &chief(), &file);
    opts.map.clear();
    let s = cityserve_import::run(&opts).await.unwrap().pop().unwrap().1;
    assert_eq!((s.rows, s.imported, s.refused), (5, 5, 0), "{s:?}");
}

/// The command itself: a summary line, the errors file, and exit status 1 while rows are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_command_reports_and_fails_on_refused_rows() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    city(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cards.csv");
    std::fs::write(
        &file,
        "department,channel,kind,csat\nwater,COMMENT_CARD,SURVEY_RESPONSE,5\nwater,COMMENT_CARD,SURVEY_RESPONSE,9\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_cityserve"))
        .args(["import", "--server", &format!("http://{}", app.addr)])
        .arg(&file)
        .env("CITYSERVE_TOKEN", token_for(CHIEF, Role::Chief, &[]))
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 rows: 1 imported, 0 already present, 1 refused"), "{stdout}");
    let errors = std::fs::read_to_string(dir.path().join("cards.csv.errors.csv")).unwrap();
    assert_eq!(errors.lines().nth(1), Some("3,feedback.csat,must be between 1 and 5"), "{errors}");
}
