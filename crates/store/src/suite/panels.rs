//! Shared behaviour of feedback panels and the board report's reads: members keyed like the
//! resident's feedback and erased either way (their own erasure or the resident's) with the
//! attendance kept, sessions and findings staying in their panel, and the quarter's records.
use super::feedback::{item, resident};
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::panels::NewMember;
use crate::{BoardStore, FeedbackStore, PanelStore, StoreError};
use chrono::Duration;
use cityserve_domain::panel::{
    FindingOutcome, MemberDetails, Panel, PanelAudience, PanelFinding, PanelFindingId, PanelId, PanelMemberId,
    PanelSession, PanelSessionId,
};
use cityserve_domain::{Action, Channel, FeedbackKind};

fn member(id: &str, email: &str) -> NewMember {
    NewMember {
        id: PanelMemberId::parse("id", id).unwrap(),
        details: MemberDetails {
            display_name: format!("Member {id}"),
            email: email.into(),
            phone: String::new(),
            organization: String::new(),
        },
        resident: Some(resident(email, "")),
        consent_time: crate::now_micros() - Duration::days(3),
    }
}

pub async fn panels_keep_attendance_when_members_are_erased<S: PanelStore + FeedbackStore + BoardStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let w = scope(&c, Action::ManagePanels, Some(&dept("water")));
    let wctx = ctx(&w, &c, "panel.manage");
    let pid = PanelId::parse("id", "customers").unwrap();
    let now = crate::now_micros();
    let panel = Panel {
        department_id: dept("water"),
        id: pid.clone(),
        display_name: "Customers".into(),
        audience: PanelAudience::Residents,
        city_wide: false,
        purpose: String::new(),
        member_count: 0,
        session_count: 0,
        create_time: now,
    };
    store.create_panel(&wctx, &idem("p1", "h"), &panel).await.unwrap();
    assert_eq!(store.create_panel(&wctx, &idem("p2", "h2"), &panel).await, Err(StoreError::AlreadyExists));

    // A resident who gave feedback joins: the member carries the same key.
    let f = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let mut fb = item("water", "fb-ana", FeedbackKind::Complaint, Channel::Phone);
    fb.resident = Some(resident("ana@example.org", ""));
    let done = store.submit_feedback(&ctx(&f, &c, "feedback.submit"), &idem("f1", "f1"), &fb).await.unwrap();
    let ana = store
        .add_panel_member(&wctx, &idem("m1", "h"), &dept("water"), &pid, &member("m-ana", "ana@example.org"))
        .await
        .unwrap();
    assert_eq!(ana.resident_key, done.feedback.resident_key, "keyed like her feedback");
    let ben = store
        .add_panel_member(&wctx, &idem("m2", "h"), &dept("water"), &pid, &member("m-ben", "ben@example.org"))
        .await
        .unwrap();

    let session = |id: &str, members: Vec<PanelMemberId>| PanelSession {
        department_id: dept("water"),
        panel_id: pid.clone(),
        id: PanelSessionId::parse("id", id).unwrap(),
        held_on: now.date_naive(),
        agenda: "Bills".into(),
        executives: vec!["Water Commissioner".into()],
        officers: vec![],
        members,
        create_time: now,
    };
    let s1 = store
        .create_panel_session(&wctx, &idem("s1", "h"), &session("s-one", vec![ana.id.clone(), ben.id.clone()]))
        .await
        .unwrap();
    assert_eq!(s1.members.len(), 2);

    // Ben asks to be erased; Ana's erasure as a resident blanks her membership too.
    let erased = store.erase_panel_member(&wctx, &dept("water"), &pid, &ben.id).await.unwrap();
    assert!(erased.details.is_none() && erased.resident_key.is_none() && erased.erase_time.is_some());
    let es = scope(&c, Action::EraseResident, None);
    let key = ana.resident_key.clone().unwrap();
    store.erase_resident(&ctx(&es, &c, "resident.erase"), &key).await.unwrap();
    let members = store.list_panel_members(&w, &dept("water"), &pid, &page(10, None)).await.unwrap();
    assert_eq!(members.items.len(), 2);
    assert!(members.items.iter().all(|m| m.details.is_none() && m.resident_key.is_none()));
    let sessions = store.list_panel_sessions(&w, &dept("water"), &pid, &page(10, None)).await.unwrap();
    assert_eq!(sessions.items[0].members.len(), 2, "attendance stays");
    assert_eq!(store.get_panel(&w, &dept("water"), &pid).await.unwrap().member_count, 0);
    assert!(matches!(
        store.create_panel_session(&wctx, &idem("s2", "h"), &session("s-two", vec![ben.id.clone()])).await,
        Err(StoreError::FailedPrecondition(_))
    ));

    // Another department sees nothing of it.
    let theirs = scope(&cso("streets"), Action::ReadPanels, None);
    assert_eq!(store.get_panel(&theirs, &dept("water"), &pid).await, Err(StoreError::NotFound));

    // A finding from the session, given an outcome once; a stale revision loses.
    let finding = PanelFinding {
        department_id: dept("water"),
        panel_id: pid.clone(),
        id: PanelFindingId::parse("id", "bills").unwrap(),
        session_id: Some(s1.id.clone()),
        summary: "Bills are unreadable".into(),
        outcome: FindingOutcome::Open,
        outcome_resource: String::new(),
        outcome_note: String::new(),
        outcome_time: None,
        revision: 1,
        create_time: now,
    };
    let made = store.create_panel_finding(&wctx, &idem("f-1", "h"), &finding).await.unwrap();
    let stray = PanelFinding {
        id: PanelFindingId::parse("id", "stray").unwrap(),
        session_id: Some(PanelSessionId::parse("id", "nope").unwrap()),
        ..finding.clone()
    };
    assert!(matches!(
        store.create_panel_finding(&wctx, &idem("f-2", "h"), &stray).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let closed = PanelFinding {
        outcome: FindingOutcome::Closed,
        outcome_note: "Redesign ships in January".into(),
        ..made.clone()
    };
    let saved = store.resolve_panel_finding(&wctx, &closed, made.revision).await.unwrap();
    assert_eq!((saved.outcome, saved.revision), (FindingOutcome::Closed, made.revision + 1));
    assert!(saved.outcome_time.is_some());
    assert_eq!(store.resolve_panel_finding(&wctx, &closed, made.revision).await, Err(StoreError::Conflict));
    let open =
        store.list_panel_findings(&w, &dept("water"), &pid, Some(FindingOutcome::Open), &page(10, None)).await.unwrap();
    assert!(open.items.is_empty());

    // The board reads the quarter's findings; a span before them finds none.
    let board = scope(&c, Action::ReadCityDashboard, None);
    let facts = store.board_facts(&board, now - Duration::days(1), now + Duration::days(1)).await.unwrap();
    assert_eq!(facts.findings.len(), 1);
    assert_eq!(facts.findings[0].outcome, FindingOutcome::Closed);
    let earlier = store.board_facts(&board, now - Duration::days(100), now - Duration::days(90)).await.unwrap();
    assert!(earlier.findings.is_empty());
}
