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
        survey_token: String::new(),
        resolved: None,
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

/// Polls the notices of `case` (survey invitations aside) until every one is in `state` (and
/// there are `n`).
async fn settled(app: &TestApp, case: &str, token: &str, n: usize, state: pb::NoticeState) -> Vec<pb::Notice> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut list = notices(app, case, token).await;
        list.retain(|x| x.event != pb::NoticeEvent::SurveyInvitation as i32);
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
    // The resolution also queued the survey invitation; with no survey page configured there is
    // nowhere to answer, so it is cancelled rather than sent.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let all = notices(&app, &case, &cso).await;
        let invite = all.iter().find(|n| n.event == pb::NoticeEvent::SurveyInvitation as i32).unwrap();
        if invite.state == pb::NoticeState::Cancelled as i32 {
            break;
        }
        assert_eq!(invite.state, pb::NoticeState::Pending as i32);
        assert!(tokio::time::Instant::now() < deadline, "the invitation was never cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// The token in a survey invitation's link.
fn token_in(body: &str) -> String {
    let at = body.find("/surveys/v1/").expect("a survey link") + "/surveys/v1/".len();
    body[at..].split_whitespace().next().unwrap().trim_end_matches(['.', ',']).to_owned()
}

async fn closed_loop(app: &TestApp) -> (Option<f64>, Option<f64>) {
    let r = pb::GetReportCardRequest {
        department: "departments/water".into(),
        period: pb::ReportPeriod::Day as i32,
        date: String::new(),
    };
    let card = app.coordination().get_report_card(authed(r, &chief())).await.unwrap().into_inner().report_card.unwrap();
    (card.closed_loop_share, card.closed_loop_satisfied_percent)
}

async fn case_of(app: &TestApp, name: &str) -> pb::Case {
    let r = pb::GetCaseRequest { name: name.into() };
    app.feedback().get_case(authed(r, &chief())).await.unwrap().into_inner().case.unwrap()
}

/// Submits, acknowledges, starts and resolves a complaint of a resident who wants e-mails;
/// returns the case and the token of the survey invitation that follows.
async fn resolved_with_invitation(app: &TestApp, smtp: &SmtpSink, who: &str, token: &str) -> (String, String) {
    let before = smtp.mails().len();
    let case =
        submit(app, complaint(who, &format!("{who}@example.org"), "", pb::NoticeChannel::Email, "en"), token).await;
    acknowledge(app, &case, token).await;
    let r = pb::StartCaseRequest { name: case.clone(), ..Default::default() };
    app.feedback().start_case(authed(r, token)).await.unwrap();
    let r = pb::ResolveCaseRequest { name: case.clone(), ..Default::default() };
    app.feedback().resolve_case(authed(r, token)).await.unwrap();
    // Acknowledged, resolved, and the invitation.
    let mails = smtp.wait_for(before + 3, WAIT).await;
    let invite = mails[before..]
        .iter()
        .find(|m| m.subject().is_some_and(|s| s.starts_with("How did we do?")))
        .expect("a survey invitation");
    assert_eq!(invite.to, [format!("{who}@example.org")]);
    (case, token_in(&invite.body()))
}

async fn survey_answers_link_themselves(db: Db) {
    let smtp = SmtpSink::start().await;
    let url = smtp.url();
    let Some(app) = TestApp::start_with(db, |c| {
        c.smtp_url = Some(url);
        c.survey_delay = Duration::ZERO;
        c.survey_public_url = "https://311.springfield.gov/surveys/v1".into();
    })
    .await
    else {
        return;
    };
    // Open every hour of every day, so the invitation is not held for opening hours.
    let week = [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ];
    let calendar = pb::CityCalendar {
        name: "calendar".into(),
        time_zone: "America/New_York".into(),
        opening_hours: week
            .iter()
            .map(|d| pb::OpeningHours {
                day_of_week: d.number_from_monday() as i32,
                open_time: "00:00".into(),
                close_time: "24:00".into(),
            })
            .collect(),
        ..Default::default()
    };
    let r = pb::UpdateCityCalendarRequest { city_calendar: Some(calendar), update_mask: None };
    app.departments().update_city_calendar(authed(r, &chief())).await.unwrap();
    create_department(&app, "water").await;
    create_department(&app, "streets").await;
    let cso = app.cso("water").await;

    // Ana answers on the public page: her answer is linked to her case, and the closed loop shows.
    let (case, token) = resolved_with_invitation(&app, &smtp, "ana", &cso).await;
    let page = http(app.open311, "GET", &format!("/surveys/v1/{token}"), &[], None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"csat\""));
    assert_eq!(closed_loop(&app).await, (Some(0.0), None));
    let answer = r#"{"csat": 5, "resolved": "yes", "text": "Fixed the same day"}"#;
    let json = [("content-type", "application/json")];
    let posted = http(app.open311, "POST", &format!("/surveys/v1/{token}"), &json, Some(answer)).await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    assert_eq!(posted.json()["linked"], true);
    let feedback = posted.json()["feedback"].as_str().unwrap().to_owned();
    let linked = case_of(&app, &case).await;
    assert_eq!((linked.follow_up.as_str(), linked.resident_satisfied), (feedback.as_str(), Some(true)));
    assert_eq!(closed_loop(&app).await, (Some(1.0), Some(100.0)));

    // The same post again files nothing new; another answer with the same token is refused.
    let again = http(app.open311, "POST", &format!("/surveys/v1/{token}"), &json, Some(answer)).await;
    assert_eq!((again.status, again.json()["feedback"].as_str()), (201, Some(feedback.as_str())));
    let other = r#"{"csat": 1, "resolved": "no"}"#;
    let replay = http(app.open311, "POST", &format!("/surveys/v1/{token}"), &json, Some(other)).await;
    assert_eq!(replay.status, 409);
    assert_eq!(case_of(&app, &case).await.resident_satisfied, Some(true), "a replay changes nothing");

    // A forged token (one character changed) is not a link at all, on the page and in a batch.
    let last = token.chars().last().unwrap();
    let forged = format!("{}{}", &token[..token.len() - 1], if last == '0' { '1' } else { '0' });
    assert_eq!(http(app.open311, "GET", &format!("/surveys/v1/{forged}"), &[], None).await.status, 404);
    assert_eq!(http(app.open311, "POST", &format!("/surveys/v1/{forged}"), &json, Some(other)).await.status, 404);

    // A survey vendor's batch links Bo's answer by its token; a token of Water in a batch for
    // Streets is refused naming the item, and a used one is refused as answered.
    let (case2, token2) = resolved_with_invitation(&app, &smtp, "bo", &cso).await;
    let item = |token: &str| pb::SubmitFeedbackRequest {
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Survey as i32,
            kind: pb::FeedbackKind::SurveyResponse as i32,
            csat: Some(2),
            ..Default::default()
        }),
        survey_token: token.into(),
        resolved: Some(false),
        ..Default::default()
    };
    let batch = |parent: &str, token: &str, id: &str| pb::BatchSubmitFeedbackRequest {
        parent: parent.into(),
        requests: vec![item(token)],
        request_id: id.into(),
        allow_partial_success: false,
    };
    let foreign = app
        .feedback()
        .batch_submit_feedback(authed(batch("departments/streets", &token2, "v-1"), &chief()))
        .await
        .unwrap_err();
    assert_eq!(
        (foreign.code(), bad_fields(&foreign)),
        (Code::InvalidArgument, vec!["requests[0].survey_token".to_owned()])
    );
    let forged_item = app
        .feedback()
        .batch_submit_feedback(authed(batch("departments/water", &forged, "v-2"), &chief()))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&forged_item), ["requests[0].survey_token"]);
    app.feedback().batch_submit_feedback(authed(batch("departments/water", &token2, "v-3"), &chief())).await.unwrap();
    let linked2 = case_of(&app, &case2).await;
    assert!(!linked2.follow_up.is_empty());
    assert_eq!(linked2.resident_satisfied, Some(false));
    let used = app
        .feedback()
        .batch_submit_feedback(authed(batch("departments/water", &token, "v-4"), &chief()))
        .await
        .unwrap_err();
    assert_eq!(used.code(), Code::FailedPrecondition);

    // An expired token still files the answer, as ordinary feedback linked to nothing.
    let key = cityserve_domain::survey::SurveyKey::derived_from(SECRET.as_bytes());
    let expired = key.sign(&cityserve_domain::survey::SurveyClaims {
        department: dept("water"),
        case_id: case.rsplit('/').next().unwrap().into(),
        notice_id: "n-expired".into(),
        expires_at: chrono::Utc::now() - chrono::Duration::hours(1),
    });
    let late = http(app.open311, "POST", &format!("/surveys/v1/{expired}"), &json, Some(other)).await;
    assert_eq!((late.status, late.json()["linked"].as_bool()), (201, Some(false)));
    assert_eq!(case_of(&app, &case).await.follow_up, feedback, "the late answer links nothing");
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_answers_link_themselves_sqlite() {
    survey_answers_link_themselves(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_answers_link_themselves_postgres() {
    survey_answers_link_themselves(Db::Postgres).await;
}

/// Two servers on one PostgreSQL database, both with the relay configured: one holds the
/// notifier's lease, so every notice reaches the relay once, whichever server took the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_send_each_notice_once() {
    let smtp = SmtpSink::start().await;
    let url = smtp.url();
    let Some(app) = TestApp::start_with(Db::Postgres, |c| c.smtp_url = Some(url)).await else {
        return;
    };
    let replica = app.replica().await;
    create_department(&app, "water").await;
    let cso = app.cso("water").await;
    let mut cases = Vec::new();
    for i in 0..12 {
        let who = format!("r{i}");
        cases.push(
            submit(&app, complaint(&who, &format!("{who}@example.org"), "", pb::NoticeChannel::Email, "en"), &cso)
                .await,
        );
    }
    // Half the acknowledgements through each server.
    for (i, case) in cases.iter().enumerate() {
        let r = pb::AcknowledgeCaseRequest { name: case.clone(), ..Default::default() };
        let channel = if i % 2 == 0 { app.channel.clone() } else { replica.channel.clone() };
        pb::feedback_service_client::FeedbackServiceClient::new(channel)
            .acknowledge_case(authed(r, &cso))
            .await
            .unwrap();
    }
    for case in &cases {
        settled(&app, case, &cso, 1, pb::NoticeState::Sent).await;
    }
    let mails = smtp.mails();
    let ids: std::collections::BTreeSet<String> = mails.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!((mails.len(), ids.len()), (12, 12), "each notice once");
    drop(replica);
    app.shutdown().await.unwrap();
}
