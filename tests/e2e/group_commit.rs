//! Group commit through the real server: 64 submitters at once, valid, refused and repeated
//! requests mixed in the same batches, each answered as it would be alone; a retry of all of them
//! answers the same and adds nothing. 64 timeline reads at once, by callers of three scopes, each
//! answered with what its caller may see and audited exactly once. 64 case changes at once, two
//! racing for each of sixteen cases and others refused by the rules or the store, each answered
//! as it would be alone.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use tonic::Code;

/// What one submitter sends, and what it must get back.
#[derive(Clone)]
struct Call {
    request: pb::SubmitFeedbackRequest,
    token: String,
    /// `Ok` or the status code the request must meet.
    want: Result<(), Code>,
}

fn request(parent: &str, id: &str, kind: pb::FeedbackKind, text: &str, email: &str) -> pb::SubmitFeedbackRequest {
    pb::SubmitFeedbackRequest {
        parent: format!("departments/{parent}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Web as i32,
            kind: kind as i32,
            text: text.into(),
            ..Default::default()
        }),
        resident: (!email.is_empty()).then(|| pb::ResidentContact { email: email.into(), ..Default::default() }),
        request_id: id.into(),
        survey_token: String::new(),
        resolved: None,
    }
}

/// The 64 calls: 40 valid (a third complaints, eight from one new resident), 8 copies of one
/// request, 2 requests under one ID with different bodies, 6 refused by the store (an unknown
/// category), 4 refused by validation (CSAT 7), 4 for a department outside the caller's scope.
fn calls(parks: &str, water: &str) -> (Vec<Call>, usize) {
    let mut calls = Vec::new();
    for i in 0..40 {
        let kind = if i % 3 == 0 { pb::FeedbackKind::Complaint } else { pb::FeedbackKind::Compliment };
        let email = if i % 5 == 0 { "same.resident@example.org".to_owned() } else { format!("r{i}@example.org") };
        let (dept, token) = if i % 2 == 0 { ("parks", parks) } else { ("water", water) };
        let request = request(dept, &format!("ok-{i}"), kind, &format!("valid {i}"), &email);
        calls.push(Call { request, token: token.into(), want: Ok(()) });
    }
    for _ in 0..8 {
        let request = request("parks", "same-8", pb::FeedbackKind::Compliment, "sent eight times", "");
        calls.push(Call { request, token: parks.into(), want: Ok(()) });
    }
    for text in ["one body", "another body"] {
        let request = request("water", "two-bodies", pb::FeedbackKind::Compliment, text, "");
        // One of the two is filed; the other is told the ID is taken (checked below).
        calls.push(Call { request, token: water.into(), want: Err(Code::Unknown) });
    }
    for i in 0..6 {
        let mut request = request("parks", &format!("no-category-{i}"), pb::FeedbackKind::Complaint, "x", "");
        if let Some(f) = request.feedback.as_mut() {
            f.service_category_id = "no-such-category".into();
        }
        calls.push(Call { request, token: parks.into(), want: Err(Code::FailedPrecondition) });
    }
    for i in 0..4 {
        let mut request = request("water", &format!("csat-{i}"), pb::FeedbackKind::SurveyResponse, "x", "");
        if let Some(f) = request.feedback.as_mut() {
            f.csat = Some(7);
        }
        calls.push(Call { request, token: water.into(), want: Err(Code::InvalidArgument) });
    }
    for i in 0..4 {
        let request = request("parks", &format!("other-department-{i}"), pb::FeedbackKind::Compliment, "x", "");
        calls.push(Call { request, token: water.into(), want: Err(Code::NotFound) });
    }
    // 40 valid, one of the eight copies, one of the two bodies.
    (calls, 42)
}

/// Sends every call at once (released together by a barrier); the answers in call order.
async fn send_all(app: &TestApp, calls: &[Call]) -> Vec<Result<pb::Feedback, tonic::Status>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let mut tasks = Vec::new();
    for call in calls {
        let (mut client, barrier, call) = (app.feedback(), Arc::clone(&barrier), call.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let answer = client.submit_feedback(authed(call.request, &call.token)).await;
            answer.map(|r| r.into_inner().feedback.expect("feedback"))
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("task"));
    }
    answers
}

async fn all_feedback(app: &TestApp, dept: &str) -> Vec<pb::Feedback> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .feedback()
            .list_feedback(authed(
                pb::ListFeedbackRequest {
                    parent: format!("departments/{dept}"),
                    page_size: 100,
                    page_token,
                    ..Default::default()
                },
                &chief(),
            ))
            .await
            .expect("list")
            .into_inner();
        out.extend(page.feedback);
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

both_backends! {
    async fn sixty_four_submitters_each_get_their_own_answer(app: &TestApp) {
        create_department(app, "parks").await;
        create_department(app, "water").await;
        let (parks, water) = (app.staff("parks").await, app.staff("water").await);
        let (calls, filed) = calls(&parks, &water);
        assert_eq!(calls.len(), 64);

        let first = send_all(app, &calls).await;
        let mut two_bodies = Vec::new();
        for (call, answer) in calls.iter().zip(&first) {
            match (&call.want, answer) {
                (Ok(()), Ok(f)) => assert_eq!(f.text, call.request.feedback.as_ref().expect("feedback").text),
                (Err(Code::Unknown), answer) => two_bodies.push(answer.as_ref().map(|f| f.text.clone()).map_err(|e| e.code())),
                (Err(code), Err(status)) => assert_eq!(status.code(), *code, "{}: {}", call.request.request_id, status.message()),
                (want, got) => panic!("{}: wanted {want:?}, got {got:?}", call.request.request_id),
            }
        }
        // The two bodies under one ID: exactly one filed, the other refused as a reused ID.
        two_bodies.sort_by_key(|a| a.is_err());
        assert!(matches!(two_bodies.as_slice(), [Ok(_), Err(Code::AlreadyExists)]), "{two_bodies:?}");
        // The eight copies are one record.
        let copies: HashSet<&str> =
            first.iter().zip(&calls).filter(|(_, c)| c.request.request_id == "same-8").map(|(a, _)| a.as_ref().expect("filed").name.as_str()).collect();
        assert_eq!(copies.len(), 1, "eight copies, one feedback");

        let stored: Vec<pb::Feedback> = [all_feedback(app, "parks").await, all_feedback(app, "water").await].concat();
        assert_eq!(stored.len(), filed, "every accepted request once, nothing of the refused ones");
        assert!(stored.iter().all(|f| !f.text.is_empty() && f.text != "x"));
        // The submissions did share transactions: a batch stamps its rows with one receipt time.
        let receipts: HashSet<String> = stored.iter().map(|f| format!("{:?}", f.receive_time)).collect();
        assert!(receipts.len() < stored.len(), "{} receipts for {} rows: no batch formed", receipts.len(), stored.len());
        // The new resident of eight submissions across two departments is one resident.
        let keys: HashSet<&str> = stored.iter().filter(|f| f.text.starts_with("valid ") && f.text[6..].parse::<u32>().is_ok_and(|i| i % 5 == 0)).map(|f| f.resident_key.as_str()).collect();
        assert_eq!(keys.len(), 1, "one resident key for one contact: {keys:?}");
        // Each accepted complaint opened one case, counted once on the report card.
        let cases = app.feedback().list_cases(authed(pb::ListCasesRequest { parent: "departments/-".into(), page_size: 100, ..Default::default() }, &chief())).await.expect("cases").into_inner();
        assert_eq!(cases.cases.len(), 14, "complaints ok-0, ok-3, … ok-39");
        let mut per_department = BTreeMap::new();
        for f in &stored {
            *per_department.entry(f.name.split('/').nth(1).unwrap_or_default().to_owned()).or_insert(0) += 1;
        }
        assert_eq!(per_department, BTreeMap::from([("parks".to_owned(), 21), ("water".to_owned(), 21)]));
        // Every accepted submission was audited and announced once.
        let events = app.count("SELECT count(*) FROM events WHERE event_type = 'feedback.submit'").await;
        assert_eq!(events, filed as i64, "one event per accepted submission");

        // Everything again, at once: the same answers, nothing added.
        let again = send_all(app, &calls).await;
        for ((call, a), b) in calls.iter().zip(&first).zip(&again) {
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(a.name, b.name, "{}", call.request.request_id),
                (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{}", call.request.request_id),
                (a, b) => panic!("{}: {a:?} then {b:?}", call.request.request_id),
            }
        }
        let after: usize = all_feedback(app, "parks").await.len() + all_feedback(app, "water").await.len();
        assert_eq!(after, filed, "a retry of every request added nothing");
        assert_eq!(app.count("SELECT count(*) FROM events WHERE event_type = 'feedback.submit'").await, filed as i64);
    }
}

both_backends! {
    async fn sixty_four_timeline_reads_are_each_audited_once(app: &TestApp) {
        for d in ["parks", "water", "streets"] {
            create_department(app, d).await;
        }
        let (water, parks, streets) = (app.cso("water").await, app.cso("parks").await, app.staff("streets").await);
        // One resident who wrote to Water and to Streets.
        let email = "two.departments@example.org";
        for (dept, token) in [("water", &water), ("streets", &streets)] {
            let filed = request(dept, &format!("tl-{dept}"), pb::FeedbackKind::Question, &format!("asked {dept}"), email);
            app.feedback().submit_feedback(authed(filed, token)).await.expect("filed");
        }
        // The Chief's reads are audited in the two departments disclosed, Water's CSO's in Water
        // and Streets, the Parks CSO's in Parks too (its own, though it disclosed nothing there).
        let readers: Vec<(&str, String, &[&str])> = (0..64)
            .map(|i| match i % 3 {
                0 => ("chief", chief(), &["streets", "water"][..]),
                1 => ("water", water.clone(), &["streets", "water"][..]),
                _ => ("parks", parks.clone(), &["parks", "streets", "water"][..]),
            })
            .collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(readers.len()));
        let mut tasks = Vec::new();
        for (_, token, _) in &readers {
            let (mut client, barrier, token) = (app.feedback(), Arc::clone(&barrier), token.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let contact = pb::ResidentContact { email: email.into(), ..Default::default() };
                let read = pb::GetResidentTimelineRequest { resident: String::new(), contact: Some(contact) };
                client.get_resident_timeline(authed(read, &token)).await.map(|r| r.into_inner())
            }));
        }
        for ((who, _, _), task) in readers.iter().zip(tasks) {
            let timeline = task.await.expect("task").unwrap_or_else(|e| panic!("{who}: {e}"));
            let shown: Vec<(&str, bool)> =
                timeline.entries.iter().map(|e| (e.department.as_str(), e.redacted)).collect();
            let (water_shown, streets_shown) = match *who {
                "chief" => (true, true),
                "water" => (true, false),
                _ => (false, false),
            };
            let mut want = vec![("departments/water", !water_shown), ("departments/streets", !streets_shown)];
            want.sort();
            let mut got = shown.clone();
            got.sort();
            assert_eq!(got, want, "{who} sees each department's entry as its scope allows");
        }
        // Each read audited once in each of its departments: nothing lost, nothing doubled.
        for d in ["parks", "streets", "water"] {
            let want = readers.iter().filter(|(_, _, audited)| audited.contains(&d)).count() as i64;
            let sql = format!("SELECT count(*) FROM audit_log WHERE action = 'timeline.read' AND department_id = '{d}'");
            assert_eq!(app.count(&sql).await, want, "timeline audit rows in {d}");
        }
    }
}

/// Files a complaint in `dept`; its case's resource name.
async fn complaint(app: &TestApp, dept: &str, token: &str, i: usize) -> String {
    let filed = request(dept, &format!("case-{dept}-{i}"), pb::FeedbackKind::Complaint, &format!("broken {i}"), "");
    let answer = app.feedback().submit_feedback(authed(filed, token)).await.expect("filed").into_inner();
    answer.case.expect("a complaint opens a case").name
}

/// A case change one caller sends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    Start,
    Resolve,
    AssignNobody,
}

both_backends! {
    async fn sixty_four_case_changes_each_get_their_own_answer(app: &TestApp) {
        create_department(app, "parks").await;
        create_department(app, "water").await;
        let (parks, water) = (app.staff("parks").await, app.staff("water").await);
        let mut parks_cases = Vec::new();
        for i in 0..16 {
            parks_cases.push(complaint(app, "parks", &parks, i).await);
        }
        let mut water_cases = Vec::new();
        for i in 0..8 {
            water_cases.push(complaint(app, "water", &water, i).await);
        }
        // 32 starts, two for each Parks case (one of each pair wins); 8 resolves of open cases
        // (refused by the transition rules), 8 assignments to an officer who does not exist
        // (refused by the store, inside the batch), 16 starts of Water's cases by Parks' staff.
        let mut calls: Vec<(String, String, Change)> = Vec::new();
        for name in parks_cases.iter().chain(&parks_cases) {
            calls.push((name.clone(), parks.clone(), Change::Start));
        }
        for name in &water_cases {
            calls.push((name.clone(), water.clone(), Change::Resolve));
            calls.push((name.clone(), water.clone(), Change::AssignNobody));
            calls.push((name.clone(), parks.clone(), Change::Start));
            calls.push((name.clone(), parks.clone(), Change::Start));
        }
        assert_eq!(calls.len(), 64);
        let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
        let mut tasks = Vec::new();
        for (name, token, change) in calls.clone() {
            let (mut client, barrier) = (app.feedback(), Arc::clone(&barrier));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let answer = match change {
                    Change::Start => {
                        let req = pb::StartCaseRequest { name, ..Default::default() };
                        client.start_case(authed(req, &token)).await.map(|r| r.into_inner().case)
                    }
                    Change::Resolve => {
                        let req = pb::ResolveCaseRequest { name, ..Default::default() };
                        client.resolve_case(authed(req, &token)).await.map(|r| r.into_inner().case)
                    }
                    Change::AssignNobody => {
                        let req = pb::AssignCaseRequest { name, assignee: "nobody".into(), ..Default::default() };
                        client.assign_case(authed(req, &token)).await.map(|r| r.into_inner().case)
                    }
                };
                answer.map(|c| c.expect("case"))
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("task"));
        }
        // Of each pair of starts, one moved the case and the other lost: to the revision it
        // read (ABORTED) or, had it read after the winner, to the rules (FAILED_PRECONDITION).
        for name in &parks_cases {
            let outcomes: Vec<_> = calls.iter().zip(&answers).filter(|((n, _, _), _)| n == name).map(|(_, a)| a).collect();
            let won: Vec<&pb::Case> = outcomes.iter().filter_map(|a| a.as_ref().ok()).collect();
            assert_eq!(won.len(), 1, "{name}: one start of two wins: {outcomes:?}");
            assert_eq!(won[0].state, pb::CaseState::InProgress as i32, "{name}");
            let lost = outcomes.iter().find_map(|a| a.as_ref().err()).expect("one lost");
            assert!(matches!(lost.code(), Code::Aborted | Code::FailedPrecondition), "{name}: {lost:?}");
        }
        for ((name, _, change), answer) in calls.iter().zip(&answers).filter(|((n, _, _), _)| water_cases.contains(n)) {
            let code = answer.as_ref().map(|_| Code::Ok).unwrap_or_else(|e| e.code());
            let want = match change {
                Change::Resolve | Change::AssignNobody => Code::FailedPrecondition,
                Change::Start => Code::NotFound,
            };
            assert_eq!(code, want, "{name} {change:?}: {answer:?}");
        }
        // What is stored: each Parks case moved once, no Water case moved; one audit row and
        // one event per change made, one audit row (as refused) and no event per change refused.
        for (name, token, state) in parks_cases
            .iter()
            .map(|n| (n, &parks, pb::CaseState::InProgress))
            .chain(water_cases.iter().map(|n| (n, &water, pb::CaseState::Open)))
        {
            let case = app
                .feedback()
                .get_case(authed(pb::GetCaseRequest { name: name.clone() }, token))
                .await
                .expect("case")
                .into_inner()
                .case
                .expect("case");
            assert_eq!(case.state, state as i32, "{name}");
            assert!(case.assignee.is_empty(), "{name}: assigned to nobody");
        }
        let audited = "SELECT count(*) FROM audit_log WHERE action = 'case.update' AND outcome";
        assert_eq!(app.count(&format!("{audited} = 'ok'")).await, 16, "one row per change made");
        assert_eq!(app.count(&format!("{audited} <> 'ok'")).await, 48, "one row per change refused");
        assert_eq!(app.count("SELECT count(*) FROM events WHERE event_type = 'case.update'").await, 16);
        assert_eq!(app.count("SELECT count(*) FROM cases WHERE status = 'in_progress'").await, 16);
    }
}
