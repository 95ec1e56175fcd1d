//! Resident notices through the real server, on both backends: a CSO writes the Spanish texts,
//! a resident who chose e-mail hears of the acknowledgement and the resolution in Spanish from a
//! real SMTP sink, a resident who chose SMS hears through the gateway's webhook, a refusing relay
//! is retried and the notice becomes a dead letter the CSO sees, and erasing a resident cancels
//! the notice still waiting for them.
use crate::harness::*;
use crate::sinks::{HttpSink, SmtpSink};
use cityserve_proto::v1 as pb;
use std::time::Duration;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(20);

fn complaint(
    text: &str,
    email: &str,
    phone: &str,
    channel: pb::NoticeChannel,
    language: &str,
) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        parent: "departments/water".into(),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Phone as i32,
            kind: pb::FeedbackKind::Complaint as i32,
            text: text.into(),
            language_code: language.into(),
            ..Default::default()
        }),
        resident: Some(pb::ResidentContact {
            email: email.into(),
            phone: phone.into(),
            name: String::new(),
            notice_channel: channel as i32,
        }),
        request_id: format!("n-{text}"),
    }
}

async fn submit(app: &TestApp, r: pb::SubmitFeedbackRequest, token: &str) -> String {
    app.feedback().submit_feedback(authed(r, token)).await.unwrap().into_inner().feedback.unwrap().case
}

async fn acknowledge(app: &TestApp, case: &str, token: &str) {
    let r = pb::AcknowledgeCaseRequest { name: case.into(), ..Default::default() };
    app.feedback().acknowledge_case(authed(r, token)).await.unwrap();
}

async fn notices(app: &TestApp, case: &str, token: &str) -> Vec<pb::Notice> {
    let r = pb::ListNoticesRequest { parent: "departments/water".into(), case: case.into(), ..Default::default() };
    app.feedback().list_notices(authed(r, token)).await.unwrap().into_inner().notices
}

/// Polls the notices of `case` until every one is in `state` (and there are `n`).
async fn settled(app: &TestApp, case: &str, token: &str, n: usize, state: pb::NoticeState) -> Vec<pb::Notice> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = notices(app, case, token).await;
        if list.len() == n && list.iter().all(|x| x.state == state as i32) {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "notices of {case} never settled as {state:?}: {list:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn template(
    app: &TestApp,
    name: &str,
    subject: &str,
    body: &str,
    token: &str,
) -> Result<pb::NoticeTemplate, tonic::Status> {
    let r = pb::UpdateNoticeTemplateRequest {
        notice_template: Some(pb::NoticeTemplate {
            name: name.into(),
            subject: subject.into(),
            body: body.into(),
            ..Default::default()
        }),
        update_mask: None,
        allow_missing: true,
    };
    app.feedback().update_notice_template(authed(r, token)).await.map(|r| r.into_inner().notice_template.unwrap())
}

async fn residents_hear_of_their_cases(db: Db) {
    let smtp = SmtpSink::start().await;
    let gateway = HttpSink::start().await;
    let (smtp_url, sms_url) = (smtp.url(), gateway.url("/sms"));
    let Some(app) = TestApp::start_with(db, |c| {
        c.smtp_url = Some(smtp_url);
        c.smtp_from = "City of Springfield <noreply@springfield.gov>".into();
        c.sms_webhook_url = Some(sms_url);
        c.sms_webhook_token = Some("gateway-secret".into());
        c.notice_retry_base = Duration::from_millis(50);
        c.notice_max_attempts = 3;
    })
    .await
    else {
        return;
    };
    create_department(&app, "water").await;
    create_department(&app, "streets").await;
    let cso = app.cso("water").await;

    // The CSO writes the Spanish texts; the Chief the city-wide default. A text with an unknown
    // placeholder is refused naming the field; a CSO cannot write the city's texts.
    template(
        &app,
        "departments/water/noticeTemplates/acknowledged-es",
        "Recibido: {case}",
        "Hola. {department} tiene su caso {case}.",
        &cso,
    )
    .await
    .unwrap();
    template(
        &app,
        "noticeTemplates/resolved-es",
        "Resuelto: {case}",
        "{department} resolvió su caso {case}.",
        &chief(),
    )
    .await
    .unwrap();
    let bad = template(&app, "departments/water/noticeTemplates/resolved-es", "S", "Estimado {name}", &cso)
        .await
        .unwrap_err();
    assert_eq!((bad.code(), bad_fields(&bad)), (Code::InvalidArgument, vec!["notice_template.body".to_owned()]));
    let city = template(&app, "noticeTemplates/waiting-es", "S", "B", &cso).await.unwrap_err();
    assert_eq!(city.code(), Code::PermissionDenied);
    let staff = app.staff("water").await;
    let r = template(&app, "departments/water/noticeTemplates/waiting-es", "S", "B", &staff).await.unwrap_err();
    assert_eq!(r.code(), Code::PermissionDenied);

    // The preview picks the department's text for es-MX (its primary language), the city's for
    // the resolution, and the built-in English one for French.
    let preview = |event: pb::NoticeEvent, language: &str| pb::PreviewNoticeRequest {
        parent: "departments/water".into(),
        event: event as i32,
        language_code: language.into(),
        ..Default::default()
    };
    let p = app
        .feedback()
        .preview_notice(authed(preview(pb::NoticeEvent::Acknowledged, "es-MX"), &cso))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.notice_template, "departments/water/noticeTemplates/acknowledged-es");
    assert_eq!(p.subject, "Recibido: sample-case");
    let p = app
        .feedback()
        .preview_notice(authed(preview(pb::NoticeEvent::Resolved, "es"), &cso))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p.notice_template, "noticeTemplates/resolved-es");
    let p = app
        .feedback()
        .preview_notice(authed(preview(pb::NoticeEvent::Resolved, "fr"), &cso))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((p.notice_template.as_str(), p.subject.as_str()), ("", "Resolved: your report sample-case"));

    // A choice that cannot be kept is refused naming the field.
    let r = complaint("no-mail", "", "+1 215 555 0100", pb::NoticeChannel::Email, "es");
    let e = app.feedback().submit_feedback(authed(r, &cso)).await.unwrap_err();
    assert_eq!(bad_fields(&e), ["resident.notice_channel"]);

    // Ana chose e-mail and writes in Spanish: acknowledged, then resolved, two notices in Spanish.
    let case = submit(&app, complaint("ana", "ana@example.org", "", pb::NoticeChannel::Email, "es-US"), &cso).await;
    let case_id = case.rsplit('/').next().unwrap().to_owned();
    acknowledge(&app, &case, &cso).await;
    let r = pb::StartCaseRequest { name: case.clone(), ..Default::default() };
    app.feedback().start_case(authed(r, &cso)).await.unwrap();
    let r = pb::ResolveCaseRequest { name: case.clone(), note: "Leak fixed".into(), ..Default::default() };
    app.feedback().resolve_case(authed(r, &cso)).await.unwrap();
    let sent = settled(&app, &case, &cso, 2, pb::NoticeState::Sent).await;
    let mails = smtp.wait_for(2, WAIT).await;
    assert_eq!(smtp.mails().len(), 2, "exactly the two notices");
    let mut subjects: Vec<String> = mails.iter().map(|m| m.subject().unwrap()).collect();
    subjects.sort();
    assert_eq!(subjects, [format!("Recibido: {case_id}"), format!("Resuelto: {case_id}")]);
    for m in &mails {
        assert_eq!(m.to, ["ana@example.org"]);
        assert_eq!(m.header("Content-Language").as_deref(), Some("es-US"));
        let id = m.header("Message-ID").unwrap();
        assert!(sent.iter().any(|n| id.contains(n.name.rsplit('/').next().unwrap())), "{id} names its notice");
    }
    assert!(mails.iter().any(|m| m.body().contains(&format!("tiene su caso {case_id}"))));
    assert_eq!(sent[0].attempt_count, 1);

    // Bo chose SMS: the gateway hears of the acknowledgement, in English (no Spanish asked).
    let case = submit(&app, complaint("bo", "", "215-555-0123", pb::NoticeChannel::Sms, ""), &cso).await;
    acknowledge(&app, &case, &cso).await;
    let sms = gateway.wait_for(1, WAIT).await;
    let notice = settled(&app, &case, &cso, 1, pb::NoticeState::Sent).await;
    assert_eq!(sms[0].path, "/sms");
    assert_eq!(sms[0].body["to"], "+12155550123");
    assert_eq!(sms[0].body["language"], "en");
    assert!(sms[0].body["text"].as_str().unwrap().starts_with("Thank you for telling us."), "{:?}", sms[0].body);
    assert_eq!(sms[0].header("authorization").as_deref(), Some("Bearer gateway-secret"));
    let key = sms[0].header("idempotency-key").unwrap();
    assert_eq!(sms[0].body["message_id"], key.as_str());
    assert!(key.starts_with(notice[0].name.rsplit('/').next().unwrap()));

    // Cy chose e-mail but the relay refuses: three attempts, then a dead letter the CSO sees,
    // whose error names no address. Handing the case to Streets queues the next notice.
    smtp.set_refuse(true);
    let before = smtp.attempts();
    let case = submit(&app, complaint("cy", "cy@example.org", "", pb::NoticeChannel::Email, "en"), &cso).await;
    acknowledge(&app, &case, &cso).await;
    let dead = settled(&app, &case, &cso, 1, pb::NoticeState::DeadLetter).await;
    assert_eq!(dead[0].attempt_count, 3);
    assert!(dead[0].last_error.contains("451") && !dead[0].last_error.contains("cy@"), "{}", dead[0].last_error);
    assert_eq!(smtp.attempts() - before, 3);
    let r = pb::ListNoticesRequest {
        parent: "departments/water".into(),
        state: pb::NoticeState::DeadLetter as i32,
        ..Default::default()
    };
    let letters = app.feedback().list_notices(authed(r.clone(), &cso)).await.unwrap().into_inner().notices;
    assert_eq!(letters.len(), 1);
    let streets = app.cso("streets").await;
    let e = app.feedback().list_notices(authed(r, &streets)).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "another department's notices do not exist for its CSO");
    smtp.set_refuse(false);
    let r = pb::CloseCaseRequest {
        name: case.clone(),
        note: "Streets owns the kerb".into(),
        owner_department: "departments/streets".into(),
        ..Default::default()
    };
    app.feedback().close_case(authed(r, &cso)).await.unwrap();
    let all = notices(&app, &case, &cso).await;
    assert!(all.iter().any(|n| n.event == pb::NoticeEvent::Transferred as i32), "{all:?}");
    app.shutdown().await.unwrap();
}

async fn erasure_cancels_a_pending_notice(db: Db) {
    let smtp = SmtpSink::start().await;
    smtp.set_refuse(true);
    let url = smtp.url();
    let Some(app) = TestApp::start_with(db, |c| {
        c.smtp_url = Some(url);
        // One failed attempt, then a long wait: the notice is pending when the erasure comes.
        c.notice_retry_base = Duration::from_secs(3600);
    })
    .await
    else {
        return;
    };
    create_department(&app, "water").await;
    let cso = app.cso("water").await;
    let r = complaint("dee", "dee@example.org", "", pb::NoticeChannel::Email, "en");
    let submitted = app.feedback().submit_feedback(authed(r, &cso)).await.unwrap().into_inner().feedback.unwrap();
    let case = submitted.case.clone();
    acknowledge(&app, &case, &cso).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while notices(&app, &case, &cso).await.first().is_none_or(|n| n.attempt_count == 0) {
        assert!(tokio::time::Instant::now() < deadline, "the first attempt never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = pb::EraseResidentRequest { resident: format!("residents/{}", submitted.resident_key), contact: None };
    app.feedback().erase_resident(authed(r, &chief())).await.unwrap();
    let list = notices(&app, &case, &cso).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].state, pb::NoticeState::Cancelled as i32);
    assert_eq!(smtp.mails().len(), 0);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_hear_of_their_cases_sqlite() {
    residents_hear_of_their_cases(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn residents_hear_of_their_cases_postgres() {
    residents_hear_of_their_cases(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_cancels_a_pending_notice_sqlite() {
    erasure_cancels_a_pending_notice(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_cancels_a_pending_notice_postgres() {
    erasure_cancels_a_pending_notice(Db::Postgres).await;
}
