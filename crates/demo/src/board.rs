//! What the demo city's board report draws on beyond the counters: customer themes applied to
//! recent complaints (suggested by the same keyword method staff see), Water's customer panel
//! with two sessions and findings whose outcomes link to the demo's dumb rule and initiative, and
//! an initiative dropped with its lessons.
use crate::{DemoError, chief_caller, cso, did, key, scope, store_err, wctx};
use chrono::{Duration, Utc};
use cityserve_domain::coordination::{Initiative, InitiativeStatus, lifecycle_after};
use cityserve_domain::panel::{
    FindingOutcome, MemberDetails, Panel, PanelAudience, PanelFinding, PanelFindingId, PanelId, PanelMemberId,
    PanelSession, PanelSessionId,
};
use cityserve_domain::theme::{Theme, ThemeId, suggest};
use cityserve_domain::{Action, AuditAction, FeedbackKind, InitiativeId, OfficerId, PageRequest};
use cityserve_store::feedback::FeedbackFilter;
use cityserve_store::panels::NewMember;
use cityserve_store::{CoordinationStore, FeedbackStore, PanelStore, ThemeStore, now_micros};

/// The city's themes: ID, name, keywords (matched as whole words in complaints' text).
const THEMES: [(&str, &str, &[&str]); 4] = [
    ("billing-confusion", "Billing confusion", &["bill", "billing", "charged"]),
    ("long-wait", "Waiting too long", &["a week", "two months", "since monday", "every day", "pending"]),
    ("left-unsafe", "Left open or unsafe", &["left open", "open and unsafe", "hanging over"]),
    ("no-answer", "Nobody answers", &["nobody", "never"]),
];

/// Departments whose recent complaints are tagged, and how many of each.
const TAGGED: [&str; 5] = ["water", "streets", "licenses-inspections", "parks", "sanitation"];
const RECENT: u32 = 60;

/// Seeds themes, the panel and the dropped initiative; returns how many tags were applied.
pub(crate) async fn seed_board<S: CoordinationStore + FeedbackStore + PanelStore + ThemeStore>(
    store: &S,
) -> Result<usize, DemoError> {
    let chief = chief_caller();
    let manage = scope(&chief, Action::ManageThemes, None)?;
    let mut themes = Vec::new();
    for (id, name, words) in THEMES {
        let t = Theme {
            id: ThemeId::parse("theme", id).unwrap_or_else(|_| unreachable!("slug")),
            display_name: name.into(),
            keywords: words.iter().map(|w| (*w).to_owned()).collect(),
            created_by: chief.subject.clone(),
            create_time: now_micros(),
        };
        let w = wctx(&manage, &chief, AuditAction::ThemeCreate);
        themes.push(
            store.create_theme(&w, &key(&format!("th-{id}")), &did("water"), &t).await.map_err(store_err("theme"))?,
        );
    }
    // Staff apply the best suggestion to each department's most recent complaints.
    let mut tagged = 0;
    for d in TAGGED {
        let c = cso(d);
        let s = scope(&c, Action::TagFeedback, Some(&did(d)))?;
        let filter =
            FeedbackFilter { department: Some(did(d)), kind: Some(FeedbackKind::Complaint), ..Default::default() };
        let page = store
            .list_feedback(&s, &filter, &PageRequest { size: RECENT, after: None })
            .await
            .map_err(store_err("feedback"))?;
        for f in page.items {
            if let Some(best) = suggest(&themes, &f.text, &[]).into_iter().next() {
                let w = wctx(&s, &c, AuditAction::FeedbackTag);
                store.tag_feedback(&w, &did(d), &f.id, &[best.theme], &[]).await.map_err(store_err("tag"))?;
                tagged += 1;
            }
        }
    }
    panel(store).await?;
    dropped_initiative(store).await?;
    Ok(tagged)
}

/// Water's customer panel: six members, last quarter's and this quarter's sessions, and three
/// findings (one led to the demo's dumb rule, one to its initiative, one closed with a reason).
async fn panel<S: PanelStore>(store: &S) -> Result<(), DemoError> {
    let c = cso("water");
    let water = did("water");
    let s = scope(&c, Action::ManagePanels, Some(&water))?;
    let w = wctx(&s, &c, AuditAction::PanelManage);
    let pid = PanelId::parse("panel", "water-customers").unwrap_or_else(|_| unreachable!("slug"));
    let now = now_micros();
    let p = Panel {
        department_id: water.clone(),
        id: pid.clone(),
        display_name: "Water customers' panel".into(),
        audience: PanelAudience::Residents,
        city_wide: false,
        purpose: "Residents tell the Water Commissioner first hand what billing and repairs are like".into(),
        member_count: 0,
        session_count: 0,
        create_time: now,
    };
    store.create_panel(&w, &key("panel-water"), &p).await.map_err(store_err("panel"))?;
    let mut members = Vec::new();
    for (i, name) in
        ["Ana Ortiz", "Ben Lee", "Chidi Okafor", "Dana Kowalski", "Eli Rosen", "Fatima Said"].iter().enumerate()
    {
        let m = NewMember {
            id: PanelMemberId::parse("member", &format!("m-demo-{i}")).unwrap_or_else(|_| unreachable!("slug")),
            details: MemberDetails {
                display_name: (*name).into(),
                email: format!("panel{i}@example.org"),
                phone: String::new(),
                organization: String::new(),
            },
            resident: None,
            consent_time: now - Duration::days(120),
        };
        let mw = wctx(&s, &c, AuditAction::PanelMemberManage);
        let added = store
            .add_panel_member(&mw, &key(&format!("pm-{i}")), &water, &pid, &m)
            .await
            .map_err(store_err("member"))?;
        members.push(added.id);
    }
    let today = Utc::now().date_naive();
    let sessions = [
        ("last-quarter", today - Duration::days(100), "Estimated bills; the shut-off notice wording", &members[..5]),
        ("this-quarter", today - Duration::days(10), "Leak repairs: how long the street stays open", &members[1..]),
    ];
    for (id, held_on, agenda, attended) in sessions {
        let session = PanelSession {
            department_id: water.clone(),
            panel_id: pid.clone(),
            id: PanelSessionId::parse("session", id).unwrap_or_else(|_| unreachable!("slug")),
            held_on,
            agenda: agenda.into(),
            executives: vec!["Water Commissioner".into(), "Deputy Revenue Commissioner".into()],
            officers: vec!["departments/water/officers/cso-water".into()],
            members: attended.to_vec(),
            create_time: now,
        };
        store.create_panel_session(&w, &key(&format!("ps-{id}")), &session).await.map_err(store_err("session"))?;
    }
    let findings = [
        (
            "permit-trip",
            "A bulk pickup needs a paper permit from another building",
            FindingOutcome::DumbRule,
            "dumbRules/dr-demo-1",
            "",
        ),
        (
            "cuts-left-open",
            "The street stays open for weeks after a leak is fixed",
            FindingOutcome::Initiative,
            "departments/streets/initiatives/in-demo-1",
            "",
        ),
        (
            "bill-font",
            "Bills are printed too small to read",
            FindingOutcome::Closed,
            "",
            "The new bill design already ships in January",
        ),
    ];
    for (id, summary, outcome, linked, note) in findings {
        let f = PanelFinding {
            department_id: water.clone(),
            panel_id: pid.clone(),
            id: PanelFindingId::parse("finding", id).unwrap_or_else(|_| unreachable!("slug")),
            session_id: Some(PanelSessionId::parse("session", "this-quarter").unwrap_or_else(|_| unreachable!("slug"))),
            summary: summary.into(),
            outcome: FindingOutcome::Open,
            outcome_resource: String::new(),
            outcome_note: String::new(),
            outcome_time: None,
            revision: 1,
            create_time: now,
        };
        let saved =
            store.create_panel_finding(&w, &key(&format!("pf-{id}")), &f).await.map_err(store_err("finding"))?;
        let rw = wctx(&s, &c, AuditAction::PanelFindingResolve);
        let next =
            PanelFinding { outcome, outcome_resource: linked.into(), outcome_note: note.into(), ..saved.clone() };
        store.resolve_panel_finding(&rw, &next, saved.revision).await.map_err(store_err("finding outcome"))?;
    }
    Ok(())
}

/// An initiative Streets proposed and dropped, with what it taught.
async fn dropped_initiative<S: CoordinationStore>(store: &S) -> Result<(), DemoError> {
    let c = cso("streets");
    let s = scope(&c, Action::ProposeInitiative, Some(&did("streets")))?;
    let now = now_micros();
    let proposed = Initiative {
        department_id: did("streets"),
        id: InitiativeId::parse("id", "in-demo-2").unwrap_or_else(|_| unreachable!("slug")),
        title: "One phone number for street cuts".into(),
        goal: "Residents call one number about any open street cut".into(),
        owner: OfficerId::parse("id", "cso-streets").unwrap_or_else(|_| unreachable!("slug")),
        members: vec![did("streets"), did("water")],
        status: InitiativeStatus::Proposed,
        milestones: vec![],
        cases: vec![],
        dumb_rules: vec![],
        create_time: now,
        update_time: now,
        revision: 1,
        lifecycle: Default::default(),
    };
    let created = store
        .create_initiative(&wctx(&s, &c, AuditAction::InitiativeCreate), &key("in-2"), &proposed)
        .await
        .map_err(store_err("initiative"))?;
    let lessons = "Residents did not want another number: they wanted one case that follows them, which \
                   the shared timeline already gives; the crews' joint schedule (in-demo-1) goes on instead.";
    let dropped = Initiative {
        status: InitiativeStatus::Dropped,
        lifecycle: lifecycle_after(Some(&created), InitiativeStatus::Dropped, lessons.into(), now_micros()),
        ..created.clone()
    };
    let ms = scope(&c, Action::ManageInitiatives, Some(&did("streets")))?;
    store
        .save_initiative(&wctx(&ms, &c, AuditAction::InitiativeManage), &dropped, created.revision)
        .await
        .map_err(store_err("initiative drop"))?;
    Ok(())
}
