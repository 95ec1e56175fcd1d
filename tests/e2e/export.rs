//! `cityserve export` and `ExportFeedback` against the real server on both backends: a
//! department's export imports into an empty city with the same report card; the open-data
//! profile holds none of the contact values a test resident gave, wherever they wrote them; a
//! CSO exports only their department and every export is audited; an export resumed from a
//! chunk's token holds every row exactly once.
use crate::both_backends;
use crate::harness::*;
use cityserve_export::{Options, What};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::audit_service_client::AuditServiceClient;
use std::collections::BTreeSet;
use std::path::Path;

/// The contact values of the residents the tests create; none may reach an open-data file.
const EMAIL: &str = "pat.quimby@example.org";
const PHONE: &str = "215-555-0142";
const PHONE_DIGITS: &str = "5550142";
const FIRST: &str = "Quimby";
const LAST: &str = "Zamfir";
const ADDRESS: &str = "1401 Arch St";

fn options(app: &TestApp, token: &str, what: What, out: &Path) -> Options {
    Options {
        server: format!("http://{}", app.addr),
        token: token.to_owned(),
        department: Some("water".into()),
        what,
        open_data: false,
        from: None,
        to: None,
        period: "month".into(),
        out: out.to_owned(),
        resume: false,
        chunk_size: 7,
    }
}

/// `n` contacts with Water (every kind, channel and rating in turn, a third with a resident) and
/// three with Streets, all within the last hour.
async fn history(app: &TestApp, n: i64) {
    let kinds = [
        pb::FeedbackKind::Complaint,
        pb::FeedbackKind::Compliment,
        pb::FeedbackKind::SurveyResponse,
        pb::FeedbackKind::Suggestion,
    ];
    let channels = [pb::Channel::Web, pb::Channel::Phone, pb::Channel::CommentCard, pb::Channel::Channel311];
    let now = chrono::Utc::now();
    for i in 0..n + 3 {
        let dept = if i < n { "water" } else { "streets" };
        let t = now - chrono::Duration::seconds(60 * i + 7);
        let feedback = pb::Feedback {
            channel: channels[i as usize % 4] as i32,
            kind: kinds[i as usize % 4] as i32,
            csat: (i % 3 != 0).then_some(1 + (i % 5) as i32),
            nps: (i % 2 == 0).then_some((i % 11) as i32),
            text: format!("contact {i}: the meter reading"),
            service_category_id: if dept == "water" && i % 5 == 0 { "leak".into() } else { String::new() },
            occur_time: Some(prost_types::Timestamp { seconds: t.timestamp(), nanos: 0 }),
            location: (i % 4 == 1).then(|| pb::Location {
                latitude: Some(39.95 + i as f64 / 1000.0),
                longitude: Some(-75.16),
                ..Default::default()
            }),
            ..Default::default()
        };
        let resident =
            (i % 3 == 0).then(|| pb::ResidentContact { email: format!("r{i}@example.org"), ..Default::default() });
        let r = pb::SubmitFeedbackRequest {
            parent: format!("departments/{dept}"),
            feedback: Some(feedback),
            resident,
            request_id: format!("hist-{i}"),
            survey_token: String::new(),
            resolved: None,
        };
        app.feedback().submit_feedback(authed(r, &chief())).await.unwrap();
    }
}

async fn city(app: &TestApp) {
    create_department(app, "water").await;
    create_department(app, "streets").await;
    create_category(app, "water", "leak").await;
}

/// Water's report cards of this month and the previous one (the history may cross the start of
/// a month).
async fn cards(app: &TestApp) -> Vec<pb::ReportCard> {
    let today = chrono::Utc::now().date_naive();
    let mut out = Vec::new();
    for day in [today, today - chrono::Duration::days(31)] {
        let r = pb::GetReportCardRequest {
            department: "departments/water".into(),
            period: pb::ReportPeriod::Month as i32,
            date: day.format("%Y-%m-%d").to_string(),
        };
        out.push(
            app.coordination().get_report_card(authed(r, &chief())).await.unwrap().into_inner().report_card.unwrap(),
        );
    }
    out
}

/// Every row's `name` in an export file.
fn names(file: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(file).unwrap();
    let at = r.headers().unwrap().iter().position(|h| h == "name").unwrap();
    r.records().map(|rec| rec.unwrap()[at].to_owned()).collect()
}

/// Every chunk of an export RPC, as sent.
async fn chunks(app: &TestApp, token: &str, r: pb::ExportFeedbackRequest) -> Vec<pb::ExportFeedbackResponse> {
    let mut stream = app.feedback().export_feedback(authed(r, token)).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(c) = stream.message().await.unwrap() {
        out.push(c);
    }
    out
}

both_backends! {
    async fn an_exported_department_imports_into_an_empty_city_with_the_same_report_card(app: &TestApp) {
        city(app).await;
        history(app, 40).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("water.csv");
        let rows = cityserve_export::run(&options(app, &chief(), What::Feedback, &file)).await.unwrap();
        assert_eq!(rows, 40, "Water's rows only");
        assert_eq!(names(&file).iter().collect::<BTreeSet<_>>().len(), 40, "each row once");
        let jsonl = dir.path().join("water.jsonl");
        assert_eq!(cityserve_export::run(&options(app, &chief(), What::Feedback, &jsonl)).await.unwrap(), 40);
        let jsonl_names: Vec<String> = std::fs::read_to_string(&jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["name"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(jsonl_names, names(&file), "JSON Lines and CSV hold the same rows in the same order");
        let parquet = dir.path().join("water.parquet");
        assert_eq!(cityserve_export::run(&options(app, &chief(), What::Feedback, &parquet)).await.unwrap(), 40);
        {
            use parquet::file::reader::{FileReader, SerializedFileReader};
            let reader = SerializedFileReader::new(std::fs::File::open(&parquet).unwrap()).unwrap();
            assert_eq!(reader.metadata().file_metadata().num_rows(), 40);
            let first = reader.get_row_iter(None).unwrap().next().unwrap().unwrap().to_string();
            assert!(first.starts_with(&format!("{{name: \"{}\", department: \"water\"", names(&file)[0])), "{first}");
        }

        let db = if app.database_url.starts_with("sqlite:") { Db::Sqlite } else { Db::Postgres };
        let empty = TestApp::start(db).await.unwrap();
        city(&empty).await;
        let import = cityserve_import::Options {
            server: format!("http://{}", empty.addr),
            token: chief(),
            files: vec![file.clone()],
            map: String::new(),
            in_flight: 2,
        };
        let s = cityserve_import::run(&import).await.unwrap().pop().unwrap().1;
        assert_eq!((s.rows, s.imported, s.refused), (40, 40, 0), "{s:?}");
        assert_eq!(cards(&empty).await, cards(app).await);
        assert!(cards(app).await.iter().map(|c| c.volume).sum::<i64>() > 0, "the cards count the history");
    }

    async fn the_open_data_profile_names_no_one(app: &TestApp) {
        city(app).await;
        let words = format!("I am {FIRST} {LAST}, call {PHONE} or write {EMAIL}: the hydrant at {ADDRESS} leaks");
        let r = pb::SubmitFeedbackRequest {
            parent: "departments/water".into(),
            feedback: Some(pb::Feedback {
                channel: pb::Channel::Web as i32,
                kind: pb::FeedbackKind::Complaint as i32,
                text: words.to_lowercase(),
                location: Some(pb::Location {
                    address: ADDRESS.into(),
                    latitude: Some(39.954_321),
                    longitude: Some(-75.163_789),
                    ..Default::default()
                }),
                device_id: "device-q-77".into(),
                account_id: "acct-q-77".into(),
                media_urls: vec!["https://photos.example.org/q77.jpg".into()],
                ..Default::default()
            }),
            resident: Some(pb::ResidentContact {
                email: EMAIL.into(),
                phone: PHONE.into(),
                name: format!("{FIRST} {LAST}"),
                notice_channel: 0,
            }),
            request_id: "od-1".into(),
            ..Default::default()
        };
        let submitted = app.feedback().submit_feedback(authed(r, &chief())).await.unwrap().into_inner();
        let key = submitted.feedback.unwrap().resident_key;
        assert!(!key.is_empty());
        let case = submitted.case.unwrap();
        let note = pb::AddCaseNoteRequest {
            name: case.name.clone(),
            text: format!("called {FIRST} back on {PHONE}"),
            ..Default::default()
        };
        app.feedback().add_case_note(authed(note, &chief())).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.jsonl");
        cityserve_export::run(&options(app, &chief(), What::Feedback, &full)).await.unwrap();
        let full = std::fs::read_to_string(&full).unwrap();
        assert!(full.contains(&key) && full.contains(&LAST.to_lowercase()), "the caller's view has the key and the words");

        let mut published = String::new();
        for what in [What::Feedback, What::Cases] {
            for ext in ["csv", "jsonl"] {
                let out = dir.path().join(format!("open-{what:?}.{ext}"));
                let o = Options { open_data: true, ..options(app, &chief(), what, &out) };
                assert_eq!(cityserve_export::run(&o).await.unwrap(), 1);
                published.push_str(&std::fs::read_to_string(&out).unwrap());
            }
        }
        let lower = published.to_lowercase();
        for value in [EMAIL, "pat.quimby", PHONE, PHONE_DIGITS, FIRST, LAST, ADDRESS, "1401", &key, "device-q-77", "acct-q-77", "q77.jpg"] {
            assert!(!lower.contains(&value.to_lowercase()), "{value} is in the open-data export:\n{published}");
        }
        assert!(published.contains("the hydrant at [redacted] arch st leaks"), "{published}");
        assert!(published.contains("39.954") && published.contains("-75.164"), "coordinates kept to a block");
    }

    async fn a_cso_exports_only_their_department_and_every_export_is_audited(app: &TestApp) {
        city(app).await;
        history(app, 5).await;
        let cso = app.cso("water").await;
        let all = pb::ExportFeedbackRequest { parent: "departments/-".into(), ..Default::default() };
        let got = chunks(app, &cso, all.clone()).await;
        let feedback: Vec<_> = got.iter().flat_map(|c| c.feedback.iter()).collect();
        assert_eq!(feedback.len(), 5);
        assert!(feedback.iter().all(|f| f.name.starts_with("departments/water/")));
        let chief_sees: usize = chunks(app, &chief(), all).await.iter().map(|c| c.feedback.len()).sum();
        assert_eq!(chief_sees, 8);

        let streets = pb::ExportFeedbackRequest { parent: "departments/streets".into(), ..Default::default() };
        let e = app.feedback().export_feedback(authed(streets, &cso)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");

        let audit = pb::ListAuditEventsRequest { parent: "departments/-".into(), page_size: 500, ..Default::default() };
        let events = AuditServiceClient::new(app.channel.clone())
            .list_audit_events(authed(audit, &chief()))
            .await
            .unwrap()
            .into_inner()
            .audit_events;
        let exports: Vec<_> = events.iter().filter(|e| e.action == "feedback.export").collect();
        let done: Vec<_> = exports.iter().filter(|e| e.outcome == "ok").map(|e| (e.role.as_str(), e.resource.as_str())).collect();
        assert_eq!(done.len(), 3, "the CSO's in Water, the Chief's in Water and Streets: {exports:?}");
        assert!(done.contains(&("cso", "departments/water/feedback?profile=caller")), "{exports:?}");
        assert!(done.contains(&("chief", "departments/streets/feedback?profile=caller")), "{exports:?}");
        assert_eq!(exports.iter().filter(|e| e.outcome == "not_found").count(), 1, "the refusal is audited too");
    }

    async fn an_export_resumed_from_a_chunk_holds_every_row_once(app: &TestApp) {
        city(app).await;
        history(app, 25).await;
        let r = pb::ExportFeedbackRequest {
            parent: "departments/water".into(),
            chunk_size: 4,
            ..Default::default()
        };
        let whole = chunks(app, &chief(), r.clone()).await;
        assert_eq!(whole.len(), 7);
        assert!(whole[..6].iter().all(|c| c.feedback.len() == 4 && !c.resume_token.is_empty()));
        assert!(whole[6].resume_token.is_empty());
        // Stopped after the third chunk, resumed from its token.
        let rest = chunks(app, &chief(), pb::ExportFeedbackRequest { resume_token: whole[2].resume_token.clone(), ..r.clone() }).await;
        let mut names: Vec<String> = whole[..3].iter().chain(rest.iter()).flat_map(|c| c.feedback.iter().map(|f| f.name.clone())).collect();
        assert_eq!(names.len(), 25);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 25);

        // A token is bound to the export it came from.
        let other = pb::ExportFeedbackRequest { profile: pb::ExportProfile::OpenData as i32, resume_token: whole[2].resume_token.clone(), ..r };
        let e = app.feedback().export_feedback(authed(other, &chief())).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["resume_token"]);
    }

    async fn an_export_command_stopped_halfway_resumes_without_doubling(app: &TestApp) {
        city(app).await;
        history(app, 60).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("water.csv");
        let o = Options { chunk_size: 1, ..options(app, &chief(), What::Feedback, &out) };
        // The connection drops halfway: a proxy passes the server's first 8 KB and cuts it.
        let cut = cutting_proxy(app.addr, 8 * 1024).await;
        let first = Options { server: format!("http://{cut}"), ..o.clone() };
        let stopped = cityserve_export::run(&first).await;
        assert!(stopped.is_err(), "the export saw its connection drop: {stopped:?}");
        let resume = cityserve_export::sink::resume_path(&out);
        assert!(resume.exists(), "a stopped export leaves its resume point");
        let stopped_at = names(&out).len();
        assert!(stopped_at > 0 && stopped_at < 60, "stopped halfway, not at {stopped_at} rows");
        let rows = cityserve_export::run(&Options { resume: true, ..o }).await.unwrap();
        assert_eq!(rows, 60);
        let mut all = names(&out);
        assert_eq!(all.len(), 60);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 60, "no row twice");
        assert!(!resume.exists(), "a finished export leaves no resume point");
    }

    async fn a_period_exports_what_occurred_in_it(app: &TestApp) {
        city(app).await;
        history(app, 10).await;
        // Contacts every minute from now - 7 s back: the last five minutes hold five.
        let now = chrono::Utc::now();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("recent.csv");
        let o = Options {
            from: Some((now - chrono::Duration::seconds(60 * 4 + 30)).to_rfc3339()),
            to: Some(now.to_rfc3339()),
            ..options(app, &chief(), What::Feedback, &out)
        };
        assert_eq!(cityserve_export::run(&o).await.unwrap(), 5);
        let cases = dir.path().join("cases.csv");
        let o = Options { department: None, ..options(app, &chief(), What::Cases, &cases) };
        // Complaints are every fourth contact: 0, 4, 8 of Water, 12 of Streets.
        assert_eq!(cityserve_export::run(&o).await.unwrap(), 4);
        let text = std::fs::read_to_string(&cases).unwrap();
        assert!(text.lines().next().unwrap().contains("first_contact_time"), "{text}");
    }
}

/// The command itself, report cards: one row per department and month, and a summary line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_command_writes_report_cards() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    city(&app).await;
    history(&app, 4).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cards.csv");
    let from = (chrono::Utc::now() - chrono::Duration::days(40)).format("%Y-%m-%d").to_string();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_cityserve"))
        .args(["export", "--what", "report-cards", "--period", "month", "--from", &from])
        .arg("--out")
        .arg(&out)
        .args(["--server", &format!("http://{}", app.addr)])
        .env("CITYSERVE_TOKEN", chief())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    let mut r = csv::Reader::from_path(&out).unwrap();
    let header = r.headers().unwrap().clone();
    assert_eq!(&header[0], "department");
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    // Three departments (the Chief's office, Water, Streets), each over two or three months.
    let departments: BTreeSet<&str> = rows.iter().map(|r| &r[0]).collect();
    assert_eq!(departments.len(), 3, "{rows:?}");
    assert!(rows.len() >= 6 && rows.len() <= 9, "{rows:?}");
    let volume = header.iter().position(|h| h == "volume").unwrap();
    let water: i64 =
        rows.iter().filter(|r| &r[0] == "departments/water").map(|r| r[volume].parse::<i64>().unwrap()).sum();
    assert_eq!(water, 4);
    assert!(stdout.contains(&format!("{} rows", rows.len())), "{stdout}");
}

/// A TCP proxy to `to` that passes at most `limit` bytes from the server, then closes both sides:
/// a connection dropped in the middle of a stream.
async fn cutting_proxy(to: std::net::SocketAddr, limit: usize) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(to).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let mut passed = 0;
                let mut buf = vec![0u8; 1024];
                while passed < limit {
                    let n = match sr.read(&mut buf[..(limit - passed).min(1024)]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    passed += n;
                }
                up.abort();
                let _ = cw.shutdown().await;
            });
        }
    });
    at
}
