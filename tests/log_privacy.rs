//! No secret and no personal data in the logs: the real binary runs with debug logging while a
//! scenario sends residents' e-mails, phone numbers and addresses through every intake path
//! (gRPC feedback, timeline lookups by contact, erasure, Open311 POSTs, a refused bad e-mail, a
//! notice e-mailed to the resident through a real SMTP sink) and officers' e-mails, then every
//! captured log line is searched for them and for the signing secret, the bearer token and the
//! Open311 key.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/sinks.rs"]
mod sinks;

use cityserve_proto::v1 as pb;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const SECRET: &str = "log-privacy-secret-0123456789abcdef-XYZ";
const RESIDENT_EMAIL: &str = "maria.private.resident@example.org";
const RESIDENT_PHONE: &str = "(215) 555-0199";
const PHONE_DIGITS: &str = "2155550199";
const ADDRESS: &str = "1401 Secretive Lane";
const RESIDENT_NAME: &str = "Maria Privatename";
const OFFICER_EMAIL: &str = "officer.private.person@city.example";
const OPEN311_EMAIL: &str = "open311.private.resident@example.org";
const OPEN311_PHONE: &str = "267-555-0177";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn authed<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secret_and_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let (port, open311) = (free_port(), free_port());
    let smtp = sinks::SmtpSink::start().await;
    let smtp_url = smtp.url();
    let bin = env!("CARGO_BIN_EXE_cityserve");
    let env = |cmd: &mut tokio::process::Command| {
        cmd.env("CITYSERVE_DATABASE_URL", format!("sqlite://{}", dir.path().join("c.db").display()))
            .env("CITYSERVE_DATA_DIR", dir.path())
            .env("CITYSERVE_JWT_SECRET", SECRET)
            .env("CITYSERVE_LISTEN", format!("127.0.0.1:{port}"))
            .env("CITYSERVE_OPEN311_LISTEN", format!("127.0.0.1:{open311}"))
            .env("CITYSERVE_LOG_FORMAT", "json")
            .env("CITYSERVE_LOG", "debug")
            .env("CITYSERVE_PHONE_COUNTRY_CODE", "1")
            .env("CITYSERVE_SMTP_URL", &smtp_url)
            .env_remove("CITYSERVE_CONFIG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut boot = tokio::process::Command::new(bin);
    env(&mut boot);
    let out = boot
        .args(["bootstrap-chief", "--department", "mdo", "--officer-id", "chief-cso", "--name", "Casey Chief"])
        .args(["--email", "casey.private.chief@city.example"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    for s in [&out.stdout, &out.stderr] {
        lines.lock().unwrap().extend(String::from_utf8_lossy(s).lines().map(str::to_owned));
    }
    let mut serve = tokio::process::Command::new(bin);
    env(&mut serve);
    let mut child =
        serve.arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let streams: Vec<Box<dyn tokio::io::AsyncRead + Unpin + Send>> =
        vec![Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
    for s in streams {
        let lines = lines.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(s).lines();
            while let Ok(Some(l)) = r.next_line().await {
                lines.lock().unwrap().push(l);
            }
        });
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let channel = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(c) = tonic::transport::Channel::from_shared(endpoint.clone()).unwrap().connect().await {
                let mut h = tonic_health::pb::health_client::HealthClient::new(c.clone());
                if let Ok(r) = h.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await
                    && r.into_inner().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
                {
                    return c;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("server never reported SERVING");
    let chief_caller = cityserve_domain::Caller {
        subject: "chief-cso".into(),
        role: cityserve_domain::Role::Chief,
        departments: vec![],
    };
    let chief =
        cityserve_api::mint_token(SECRET.as_bytes(), "cityserve", "cityserve", &chief_caller, Duration::from_secs(300))
            .unwrap();

    let mut departments = pb::department_service_client::DepartmentServiceClient::new(channel.clone());
    departments
        .create_department(authed(
            pb::CreateDepartmentRequest {
                department_id: "water".into(),
                department: Some(pb::Department { display_name: "Water".into(), ..Default::default() }),
                request_id: "d1".into(),
            },
            &chief,
        ))
        .await
        .unwrap();
    departments
        .create_service_category(authed(
            pb::CreateServiceCategoryRequest {
                parent: "departments/water".into(),
                service_category_id: "leak".into(),
                service_category: Some(pb::ServiceCategory { display_name: "Leak".into(), ..Default::default() }),
                request_id: "c1".into(),
            },
            &chief,
        ))
        .await
        .unwrap();
    pb::officer_service_client::OfficerServiceClient::new(channel.clone())
        .create_officer(authed(
            pb::CreateOfficerRequest {
                parent: "departments/water".into(),
                officer_id: "wanda".into(),
                officer: Some(pb::Officer {
                    display_name: "Wanda Worker".into(),
                    email: OFFICER_EMAIL.into(),
                    ..Default::default()
                }),
                request_id: "o1".into(),
            },
            &chief,
        ))
        .await
        .unwrap();
    let mut feedback = pb::feedback_service_client::FeedbackServiceClient::new(channel.clone());
    let contact = || {
        Some(pb::ResidentContact {
            email: RESIDENT_EMAIL.into(),
            phone: RESIDENT_PHONE.into(),
            name: RESIDENT_NAME.into(),
            notice_channel: pb::NoticeChannel::Email as i32,
        })
    };
    let case = feedback
        .submit_feedback(authed(
            pb::SubmitFeedbackRequest {
                parent: "departments/water".into(),
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Phone as i32,
                    kind: pb::FeedbackKind::Complaint as i32,
                    text: format!("Leak in front of {ADDRESS}, call me at {RESIDENT_PHONE}"),
                    location: Some(pb::Location {
                        address: ADDRESS.into(),
                        latitude: None,
                        longitude: None,
                        address_id: String::new(),
                    }),
                    ..Default::default()
                }),
                resident: contact(),
                request_id: "f1".into(),
                survey_token: String::new(),
                resolved: None,
            },
            &chief,
        ))
        .await
        .unwrap()
        .into_inner()
        .feedback
        .unwrap()
        .case;
    // Acknowledging the case e-mails the resident: the notifier's lines name the notice only.
    feedback
        .acknowledge_case(authed(pb::AcknowledgeCaseRequest { name: case, ..Default::default() }, &chief))
        .await
        .unwrap();
    let mails = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails[0].to, [RESIDENT_EMAIL]);
    // A refused e-mail is named by field, not echoed.
    let bad = feedback
        .submit_feedback(authed(
            pb::SubmitFeedbackRequest {
                parent: "departments/water".into(),
                feedback: Some(pb::Feedback {
                    channel: pb::Channel::Web as i32,
                    kind: pb::FeedbackKind::Question as i32,
                    ..Default::default()
                }),
                resident: Some(pb::ResidentContact {
                    email: "not-an-email-private-value".into(),
                    phone: String::new(),
                    name: String::new(),
                    notice_channel: 0,
                }),
                request_id: "f2".into(),
                survey_token: String::new(),
                resolved: None,
            },
            &chief,
        ))
        .await
        .unwrap_err();
    assert!(!bad.message().contains("not-an-email-private-value"));
    feedback
        .get_resident_timeline(authed(
            pb::GetResidentTimelineRequest { resident: String::new(), contact: contact() },
            &chief,
        ))
        .await
        .unwrap();
    let key = pb::api_key_service_client::ApiKeyServiceClient::new(channel.clone())
        .create_api_key(authed(
            pb::CreateApiKeyRequest {
                api_key: Some(pb::ApiKey { client_name: "kiosk".into(), ..Default::default() }),
                request_id: "k1".into(),
            },
            &chief,
        ))
        .await
        .unwrap()
        .into_inner()
        .key;
    // An Open311 POST with contact details, over plain HTTP.
    let body = format!(
        "api_key={}&service_code=water.leak&address_string=1401+Secretive+Lane&email={}&phone={}&first_name=Olu&last_name=Secretsurname&description=Leak",
        key.replace('.', "%2E"),
        OPEN311_EMAIL.replace('@', "%40"),
        OPEN311_PHONE
    );
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", open311)).await.unwrap();
    let req = format!(
        "POST /open311/v2/requests.json?api_key={key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut s, &mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    feedback
        .erase_resident(authed(pb::EraseResidentRequest { resident: String::new(), contact: contact() }, &chief))
        .await
        .unwrap();

    let pid = child.id().unwrap().to_string();
    assert!(tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(exit.success());
    tokio::time::sleep(Duration::from_millis(100)).await;

    let logs = lines.lock().unwrap().clone();
    assert!(logs.len() > 10, "debug logging produced lines: {}", logs.len());
    assert!(logs.iter().any(|l| l.contains("rpc finished")), "RPCs are logged");
    let secret_part = key.split_once('.').unwrap().1.to_owned();
    let needles: Vec<(&str, String)> = vec![
        ("resident e-mail", RESIDENT_EMAIL.into()),
        ("resident phone", PHONE_DIGITS.into()),
        ("resident phone as typed", RESIDENT_PHONE.into()),
        ("address", ADDRESS.into()),
        ("resident name", "Privatename".into()),
        ("Open311 last name", "Secretsurname".into()),
        ("officer e-mail", OFFICER_EMAIL.into()),
        ("chief e-mail", "casey.private.chief".into()),
        ("Open311 e-mail", "open311.private.resident".into()),
        ("Open311 phone", "2675550177".into()),
        ("Open311 phone as sent", OPEN311_PHONE.into()),
        ("refused e-mail", "not-an-email-private-value".into()),
        ("signing secret", SECRET.into()),
        ("bearer token", chief.clone()),
        ("Open311 key secret", secret_part),
    ];
    let mut leaks = Vec::new();
    for (what, needle) in &needles {
        if let Some(l) = logs.iter().find(|l| l.contains(needle.as_str())) {
            leaks.push(format!("{what} in: {l}"));
        }
    }
    assert!(leaks.is_empty(), "{} log lines checked; leaks:\n{}", logs.len(), leaks.join("\n"));
    println!("{} log lines checked for {} needles: no leak", logs.len(), needles.len());
}
