//! Shared behaviour of [`crate::FeedbackStore`] backends.
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::feedback::{BatchMode, CaseFilter, CaseOrder, FeedbackFilter, Period, Source};
use crate::{FeedbackStore, StoreError};
use chrono::{Duration, TimeZone, Utc};
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::{
    Action, Caller, CaseEntry, CaseNote, CaseStatus, Channel, Contact, FeedbackId, FeedbackKind, Location, NewFeedback,
    NewServiceCategory, NewServiceStandard, OfficerId, RecoveryAction, RecoveryKind, ResidentKeyer, ResidentRef,
    ServiceCategoryId, ServiceStandardId, ServiceTargets, TenantScope,
};

/// The resident's e-mail used throughout the suite.
pub const EMAIL: &str = "ann.resident@example.org";
/// The resident's phone.
pub const PHONE: &str = "+12155550100";
/// Free text naming the resident's address.
pub const SECRET_TEXT: &str = "The street cut outside 1401 Walnut St was left open";
/// Strings that must not survive an erasure anywhere in the database.
pub const PII_NEEDLES: [&str; 4] = [EMAIL, "2155550100", "Walnut", "Called +1215"];

fn keyer() -> ResidentKeyer {
    ResidentKeyer::new(b"suite-resident-key-0123456789")
}

fn fid(id: &str) -> FeedbackId {
    FeedbackId::parse("id", id).unwrap()
}

fn cat(id: &str) -> ServiceCategoryId {
    ServiceCategoryId::parse("id", id).unwrap()
}

pub(super) fn resident(email: &str, phone: &str) -> ResidentRef {
    keyer()
        .resident(Contact { email: email.into(), phone: phone.into(), name: String::new(), notice_channel: None })
        .unwrap()
}

pub(super) fn item(d: &str, id: &str, kind: FeedbackKind, channel: Channel) -> NewFeedback {
    NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: dept(d),
        id: fid(id),
        channel,
        kind,
        csat: Some(2),
        nps: Some(3),
        text: SECRET_TEXT.into(),
        language: "en".into(),
        category: None,
        location: Location {
            address: "1401 Walnut St".into(),
            latitude: Some(39.95),
            longitude: Some(-75.16),
            address_id: String::new(),
        },
        occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
        resident: Some(resident(EMAIL, PHONE)),
        internal_customer: None,
        survey: None,
        served: Default::default(),
        source: None,
    }
}

/// Adds category `c` and a standard for (c, channel) with the given targets, as the Chief.
async fn seed_standard<S: FeedbackStore>(store: &S, d: &str, c: &str, channel: Channel, ack: i64, resolve: i64) {
    let chief = chief();
    let s = scope(&chief, Action::ManageServiceCatalog, Some(&dept(d)));
    let category = NewServiceCategory {
        department_id: dept(d),
        id: cat(c),
        display_name: c.into(),
        description: String::new(),
        keywords: vec![],
        attributes: Vec::new(),
        public: false,
    };
    store
        .create_service_category(&ctx(&s, &chief, "catalog.create"), &idem(&format!("cat-{c}"), c), &category)
        .await
        .unwrap();
    let standard = NewServiceStandard {
        department_id: dept(d),
        id: ServiceStandardId::parse("id", &format!("{c}-std")).unwrap(),
        category: Some(cat(c)),
        channel: Some(channel),
        targets: ServiceTargets::new(ack, resolve).unwrap(),
    };
    store
        .create_service_standard(&ctx(&s, &chief, "catalog.create"), &idem(&format!("std-{c}"), c), &standard)
        .await
        .unwrap();
}

pub async fn feedback_submit_is_idempotent_under_concurrent_retries<S: FeedbackStore>(store: &S) {
    seed_department(store, "streets").await;
    let c = cso("streets");
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("streets")));
    let new = item("streets", "fb-1", FeedbackKind::Complaint, Channel::Phone);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, s, c, new) = (store.clone(), s.clone(), c.clone(), new.clone());
        tasks.push(tokio::spawn(async move {
            store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("call-77", "h1"), &new).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "every retry sees the same feedback");
    let first = &results[0];
    assert_eq!(first.feedback.id, fid("fb-1"));
    assert_eq!(first.case.as_ref().map(|c| c.status), Some(CaseStatus::Open));
    let read = scope(&c, Action::ReadFeedback, Some(&dept("streets")));
    let filter = FeedbackFilter { department: Some(dept("streets")), ..FeedbackFilter::default() };
    assert_eq!(store.list_feedback(&read, &filter, &page(10, None)).await.unwrap().items.len(), 1);
    // The same key with another body is refused; another key with the same ID is a duplicate.
    let other = item("streets", "fb-2", FeedbackKind::Compliment, Channel::Web);
    assert_eq!(
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("call-77", "h2"), &other).await,
        Err(StoreError::IdempotencyMismatch)
    );
    assert_eq!(
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("call-78", "h1"), &new).await,
        Err(StoreError::AlreadyExists)
    );
    // An unknown or retired category is refused, naming the category.
    let mut bad = item("streets", "fb-3", FeedbackKind::Question, Channel::Web);
    bad.category = Some(cat("no-such"));
    let err = store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("q-1", "h3"), &bad).await.unwrap_err();
    assert!(matches!(&err, StoreError::FailedPrecondition(m) if m.contains("no-such")), "{err:?}");
}

/// Parks with `n` survey responses ready to file in a batch (IDs `{prefix}{i}`), item `bad`
/// naming a category Parks does not have; the Chief and their scope to file them with.
async fn parks_batch<S: FeedbackStore>(
    store: &S,
    prefix: &str,
    n: usize,
    bad: usize,
) -> (Caller, TenantScope, Vec<NewFeedback>) {
    seed_department(store, "parks").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("parks")));
    let mut items: Vec<NewFeedback> =
        (0..n).map(|i| item("parks", &format!("{prefix}{i}"), FeedbackKind::SurveyResponse, Channel::Survey)).collect();
    items[bad].category = Some(cat("missing"));
    (c, s, items)
}

pub async fn feedback_batch_is_all_or_nothing<S: FeedbackStore>(store: &S) {
    let (c, s, mut items) = parks_batch(store, "fb-b", 5, 3).await;
    let err = store
        .submit_feedback_batch(
            &ctx(&s, &c, "feedback.submit"),
            &idem("import-1", "h1"),
            &dept("parks"),
            &items,
            BatchMode::AllOrNothing,
        )
        .await
        .unwrap_err();
    assert_eq!(err.0, Some(3), "the failing item is named");
    let read = scope(&c, Action::ReadFeedback, Some(&dept("parks")));
    let filter = FeedbackFilter { department: Some(dept("parks")), ..FeedbackFilter::default() };
    assert!(store.list_feedback(&read, &filter, &page(10, None)).await.unwrap().items.is_empty(), "nothing kept");
    assert_eq!(store.count_events(&read, &dept("parks")).await.unwrap(), 1, "only the department's event");

    items[3].category = None;
    let done = store
        .submit_feedback_batch(
            &ctx(&s, &c, "feedback.submit"),
            &idem("import-2", "h2"),
            &dept("parks"),
            &items,
            BatchMode::AllOrNothing,
        )
        .await
        .unwrap();
    assert_eq!(done.len(), 5);
    let again = store
        .submit_feedback_batch(
            &ctx(&s, &c, "feedback.submit"),
            &idem("import-2", "h2"),
            &dept("parks"),
            &items,
            BatchMode::AllOrNothing,
        )
        .await
        .unwrap();
    assert_eq!(again, done, "a retried batch returns the same results");
    let listed = store.list_feedback(&read, &filter, &page(3, None)).await.unwrap();
    assert_eq!(listed.items.len(), 3);
    assert_eq!(listed.items[0].id, fid("fb-b4"), "newest first");
    let rest = store.list_feedback(&read, &filter, &page(3, listed.next_after)).await.unwrap();
    assert_eq!(rest.items.len(), 2);
    assert!(rest.next_after.is_none());
}

/// Item by item, a refused item costs only itself, and a retry answers the same refusal.
pub async fn feedback_batch_item_by_item<S: FeedbackStore>(store: &S) {
    let (c, s, items) = parks_batch(store, "fb-e", 4, 1).await;
    let w = ctx(&s, &c, "feedback.submit");
    let out = store
        .submit_feedback_batch(&w, &idem("each-1", "h1"), &dept("parks"), &items, BatchMode::EachItem)
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert!(matches!(&out[1], Err(StoreError::FailedPrecondition(m)) if m.contains("missing")), "{:?}", out[1]);
    let filed: Vec<_> = out.iter().filter_map(|r| r.as_ref().ok()).map(|s| s.feedback.id.clone()).collect();
    assert_eq!(filed, [fid("fb-e0"), fid("fb-e2"), fid("fb-e3")], "the others are filed, in order");
    let read = scope(&c, Action::ReadFeedback, Some(&dept("parks")));
    let filter = FeedbackFilter { department: Some(dept("parks")), ..FeedbackFilter::default() };
    assert_eq!(store.list_feedback(&read, &filter, &page(10, None)).await.unwrap().items.len(), 3);

    let again = store
        .submit_feedback_batch(&w, &idem("each-1", "h1"), &dept("parks"), &items, BatchMode::EachItem)
        .await
        .unwrap();
    assert_eq!(again, out, "a retry answers the same results and the same refusal");
    assert_eq!(store.list_feedback(&read, &filter, &page(10, None)).await.unwrap().items.len(), 3, "nothing doubled");
    let other_mode =
        store.submit_feedback_batch(&w, &idem("each-1", "h1"), &dept("parks"), &items, BatchMode::AllOrNothing).await;
    assert_eq!(other_mode.unwrap_err().1, StoreError::IdempotencyMismatch, "the key belongs to the item-by-item call");
}

pub async fn case_lifecycle_with_due_times_from_standards<S: FeedbackStore>(store: &S) {
    seed_department(store, "streets").await;
    super::seed_officer(store, "streets", "sam-streets").await;
    seed_standard(store, "streets", "street-cut", Channel::Phone, 3600, 3 * 86_400).await;
    let c = cso("streets");
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("streets")));
    let mut new = item("streets", "fb-c1", FeedbackKind::Complaint, Channel::Phone);
    new.category = Some(cat("street-cut"));
    let before = Utc::now() - Duration::seconds(1);
    let case =
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("c1", "h"), &new).await.unwrap().case.unwrap();
    assert!(case.received_at >= before);
    assert_eq!(case.acknowledge_due - case.received_at, Duration::hours(1), "standard for street-cut by phone");
    assert_eq!(case.resolve_due - case.received_at, Duration::days(3));
    // The same category by e-mail falls back to the department default (1 day / 10 days).
    let mut by_mail = item("streets", "fb-c2", FeedbackKind::Complaint, Channel::Email);
    by_mail.category = Some(cat("street-cut"));
    let other =
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("c2", "h"), &by_mail).await.unwrap().case.unwrap();
    assert_eq!(other.acknowledge_due - other.received_at, Duration::days(1));

    let m = scope(&c, Action::ManageCases, Some(&dept("streets")));
    let now = Utc::now();
    let mut ack = transition(&case, &CaseTransition::Acknowledge, now).unwrap();
    ack.assignee = Some(OfficerId::parse("id", "sam-streets").unwrap());
    let ack = store.save_case(&ctx(&m, &c, "case.update"), &ack, case.revision, None).await.unwrap();
    assert_eq!((ack.status, ack.revision), (CaseStatus::Acknowledged, case.revision + 1));
    // A stale revision loses.
    let stale = transition(&case, &CaseTransition::Start, now).unwrap();
    assert_eq!(
        store.save_case(&ctx(&m, &c, "case.update"), &stale, case.revision, None).await,
        Err(StoreError::Conflict)
    );
    // An assignee must be an active officer of the department.
    let mut wrong = ack.clone();
    wrong.assignee = Some(OfficerId::parse("id", "nobody").unwrap());
    assert!(matches!(
        store.save_case(&ctx(&m, &c, "case.update"), &wrong, ack.revision, None).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    let wip = transition(&ack, &CaseTransition::Start, now).unwrap();
    let apology = CaseEntry::Recovery(RecoveryAction {
        kind: RecoveryKind::Apology,
        note: "Apologised by phone".into(),
        actor: c.subject.clone(),
        at: now,
    });
    let wip = store.save_case(&ctx(&m, &c, "case.update"), &wip, ack.revision, Some(&apology)).await.unwrap();
    let note =
        CaseEntry::Note(CaseNote { text: "Crew booked".into(), public: false, actor: c.subject.clone(), at: now });
    let wip = store.save_case(&ctx(&m, &c, "case.update"), &wip, wip.revision, Some(&note)).await.unwrap();
    assert_eq!(wip.recovery.len(), 1);
    assert_eq!(wip.notes.len(), 1);
    let done = transition(&wip, &CaseTransition::Resolve, now).unwrap();
    let done = store.save_case(&ctx(&m, &c, "case.update"), &done, wip.revision, None).await.unwrap();
    assert_eq!(done.status, CaseStatus::Resolved);

    // Closed loop: a follow-up survey response is linked; other kinds are refused.
    let survey = item("streets", "fb-s1", FeedbackKind::SurveyResponse, Channel::Survey);
    store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("s1", "h"), &survey).await.unwrap();
    let mut linked = done.clone();
    linked.follow_up = Some(fid("fb-c2"));
    assert!(matches!(
        store.save_case(&ctx(&m, &c, "case.update"), &linked, done.revision, None).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    linked.follow_up = Some(fid("fb-s1"));
    linked.satisfied = Some(true);
    let linked = store.save_case(&ctx(&m, &c, "case.update"), &linked, done.revision, None).await.unwrap();
    assert_eq!((linked.follow_up.clone(), linked.satisfied), (Some(fid("fb-s1")), Some(true)));
    let read = scope(&c, Action::ReadCases, Some(&dept("streets")));
    assert_eq!(store.get_case(&read, &dept("streets"), &case.id).await.unwrap(), linked);

    // "Not ours" closure names the owning department, which must exist.
    let nowhere = transition(&other, &CaseTransition::CloseNotOurs(dept("nowhere")), now).unwrap();
    let err = store.save_case(&ctx(&m, &c, "case.update"), &nowhere, other.revision, None).await.unwrap_err();
    assert!(matches!(&err, StoreError::FailedPrecondition(m) if m.contains("nowhere")), "{err:?}");
    seed_department(store, "water").await;
    let not_ours = transition(&other, &CaseTransition::CloseNotOurs(dept("water")), now).unwrap();
    let closed = store.save_case(&ctx(&m, &c, "case.update"), &not_ours, other.revision, None).await.unwrap();
    assert_eq!((closed.status, closed.owner_department), (CaseStatus::Closed, Some(dept("water"))));
}

pub async fn cases_filter_and_sort_by_due<S: FeedbackStore>(store: &S) {
    seed_department(store, "water").await;
    seed_standard(store, "water", "leak", Channel::Phone, 60, 600).await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    // Three complaints: two by phone about leaks (fast standard), one by web (default targets).
    for (id, channel) in [("fb-1", Channel::Web), ("fb-2", Channel::Phone), ("fb-3", Channel::Phone)] {
        let mut f = item("water", id, FeedbackKind::Complaint, channel);
        f.category = Some(cat("leak"));
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(id, "h"), &f).await.unwrap();
    }
    let read = scope(&c, Action::ReadCases, Some(&dept("water")));
    let all = CaseFilter { department: Some(dept("water")), ..CaseFilter::default() };
    let newest = store.list_cases(&read, &all, CaseOrder::Newest, &page(10, None)).await.unwrap();
    let ids: Vec<_> = newest.items.iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["fb-3", "fb-2", "fb-1"]);
    let first = store.list_cases(&read, &all, CaseOrder::ResolveDue, &page(2, None)).await.unwrap();
    let second =
        store.list_cases(&read, &all, CaseOrder::ResolveDue, &page(2, first.next_after.clone())).await.unwrap();
    let ids: Vec<_> = first.items.iter().chain(&second.items).map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["fb-2", "fb-3", "fb-1"], "soonest resolve-by first, across pages");
    // Overdue in two hours: the phone cases (10-minute resolve target), not the web one.
    let later = CaseFilter { overdue_at: Some(Utc::now() + Duration::hours(2)), ..all.clone() };
    let overdue = store.list_cases(&read, &later, CaseOrder::ResolveDue, &page(10, None)).await.unwrap();
    assert_eq!(overdue.items.len(), 2);
    assert!(overdue.items.iter().all(|c| c.overdue(Utc::now() + Duration::hours(2))));
    let open = CaseFilter { status: Some(CaseStatus::Resolved), ..all.clone() };
    assert!(store.list_cases(&read, &open, CaseOrder::Newest, &page(10, None)).await.unwrap().items.is_empty());
    let leak = CaseFilter { category: Some(cat("leak")), ..all };
    assert_eq!(store.list_cases(&read, &leak, CaseOrder::Newest, &page(10, None)).await.unwrap().items.len(), 3);
}

pub async fn timeline_spans_departments_with_details_in_scope<S: FeedbackStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    let chief = chief();
    let streets = scope(&chief, Action::SubmitFeedback, Some(&dept("streets")));
    let water = scope(&chief, Action::SubmitFeedback, Some(&dept("water")));
    // The resident calls Streets giving only a phone, then writes to Water with e-mail and phone.
    let mut call = item("streets", "fb-t1", FeedbackKind::Complaint, Channel::Phone);
    call.resident = Some(resident("", PHONE));
    let first =
        store.submit_feedback(&ctx(&streets, &chief, "feedback.submit"), &idem("t1", "h"), &call).await.unwrap();
    let key = first.feedback.resident_key.clone().unwrap();
    assert_eq!(Some(&key), call.resident.as_ref().map(|r| &r.key), "a new resident keeps the key drawn for them");
    let mut mail = item("water", "fb-t2", FeedbackKind::Question, Channel::Email);
    mail.occurred_at += Duration::days(1);
    mail.resident = Some(resident(EMAIL, PHONE));
    let second = store.submit_feedback(&ctx(&water, &chief, "feedback.submit"), &idem("t2", "h"), &mail).await.unwrap();
    assert_eq!(second.feedback.resident_key.as_deref(), Some(key.as_str()), "one resident, one key");
    // From now on the e-mail alone finds them too.
    let ts = scope(&chief, Action::ReadTimeline, None);
    let by_mail = store.find_resident(&ts, &resident(EMAIL, "").identifiers).await.unwrap();
    assert_eq!(by_mail.as_deref(), Some(key.as_str()));
    assert_eq!(store.find_resident(&ts, &resident("nobody@example.org", "").identifiers).await.unwrap(), None);

    let water_cso = cso("water");
    let ws = scope(&water_cso, Action::ReadTimeline, None);
    let audits_before = store.count_audit_records(&streets, &dept("streets")).await.unwrap();
    let rows = store.resident_timeline(&ctx(&ws, &water_cso, "timeline.read"), &[dept("water")], &key).await.unwrap();
    assert_eq!(rows.len(), 2, "both departments' contacts, in time order");
    assert_eq!((rows[0].department_id.as_str(), rows[0].channel), ("streets", Channel::Phone));
    assert_eq!(rows[0].case_status, Some(CaseStatus::Open));
    assert_eq!(rows[0].details, None, "another department's details stay in that department");
    assert_eq!(rows[1].details, Some((FeedbackKind::Question, SECRET_TEXT.to_owned())));
    assert_eq!(
        store.count_audit_records(&streets, &dept("streets")).await.unwrap(),
        audits_before + 1,
        "the department whose contact was disclosed sees the read in its audit log"
    );
    let cs = scope(&chief, Action::ReadTimeline, None);
    let full = store.resident_timeline(&ctx(&cs, &chief, "timeline.read"), &[], &key).await.unwrap();
    assert!(full.iter().all(|r| r.details.is_some()), "the Chief sees every entry in full");
    // Anonymous feedback never appears in a timeline.
    let mut anon = item("water", "fb-t3", FeedbackKind::Compliment, Channel::CommentCard);
    anon.resident = None;
    store.submit_feedback(&ctx(&water, &chief, "feedback.submit"), &idem("t3", "h"), &anon).await.unwrap();
    assert_eq!(store.resident_timeline(&ctx(&cs, &chief, "timeline.read"), &[], &key).await.unwrap().len(), 2);
    // A contact recorded late but made earlier comes first: the timeline is in time order, not
    // in the order the store learnt of it.
    let mut visit = item("streets", "fb-t4", FeedbackKind::Suggestion, Channel::InPerson);
    visit.occurred_at -= Duration::days(2);
    visit.resident = Some(resident(EMAIL, ""));
    visit.text = "é".repeat(300);
    store.submit_feedback(&ctx(&streets, &chief, "feedback.submit"), &idem("t4", "h"), &visit).await.unwrap();
    let rows = store.resident_timeline(&ctx(&ws, &water_cso, "timeline.read"), &[dept("water")], &key).await.unwrap();
    let order: Vec<(&str, bool)> = rows.iter().map(|r| (r.feedback_id.as_str(), r.details.is_some())).collect();
    assert_eq!(order, [("fb-t4", false), ("fb-t1", false), ("fb-t2", true)]);
    let full = store.resident_timeline(&ctx(&cs, &chief, "timeline.read"), &[], &key).await.unwrap();
    let cut = full[0].details.as_ref().map(|(_, text)| text.chars().count());
    assert_eq!(cut, Some(141), "a long text is read only as far as its summary needs");
    let nobody = store.resident_timeline(&ctx(&cs, &chief, "timeline.read"), &[], "r-nobody").await.unwrap();
    assert!(nobody.is_empty(), "a resident with no contacts has an empty timeline");
}

/// Gives the suite's resident a complaint with a note in `streets` and `water` (both created
/// here) and then erases them, as the Chief. Backend tests scan the raw tables afterwards.
pub async fn seed_and_erase_resident<S: FeedbackStore>(store: &S) {
    seed_resident_complaints(store).await;
    let chief = chief();
    let es = scope(&chief, Action::EraseResident, None);
    let key = known_key(store, EMAIL).await;
    store.erase_resident(&ctx(&es, &chief, "resident.erase"), &key).await.unwrap();
}

/// The key the store holds for the resident with e-mail `email` (keys are random: found through
/// the identity index, as the API finds them).
async fn known_key<S: FeedbackStore>(store: &S, email: &str) -> String {
    let s = scope(&chief(), Action::ReadTimeline, None);
    store.find_resident(&s, &resident(email, "").identifiers).await.unwrap().expect("a known resident")
}

/// Gives the suite's resident a complaint with a note in `streets` and `water` (both created here).
pub async fn seed_resident_complaints<S: FeedbackStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    let chief = chief();
    for (d, id) in [("streets", "fb-e1"), ("water", "fb-e2")] {
        let s = scope(&chief, Action::SubmitFeedback, Some(&dept(d)));
        let f = item(d, id, FeedbackKind::Complaint, Channel::Phone);
        let case =
            store.submit_feedback(&ctx(&s, &chief, "feedback.submit"), &idem(id, "h"), &f).await.unwrap().case.unwrap();
        let m = scope(&chief, Action::ManageCases, Some(&dept(d)));
        let note = CaseEntry::Note(CaseNote {
            text: format!("Called {PHONE}"),
            public: false,
            actor: "chief-1".into(),
            at: Utc::now(),
        });
        store.save_case(&ctx(&m, &chief, "case.update"), &case, case.revision, Some(&note)).await.unwrap();
    }
}

pub async fn erasure_keeps_statistics_and_removes_pii<S: FeedbackStore>(store: &S) {
    seed_resident_complaints(store).await;
    let chief = chief();
    let mut other = item("water", "fb-e3", FeedbackKind::Compliment, Channel::Web);
    other.resident = Some(resident("someone.else@example.org", ""));
    let s = scope(&chief, Action::SubmitFeedback, Some(&dept("water")));
    store.submit_feedback(&ctx(&s, &chief, "feedback.submit"), &idem("e3", "h"), &other).await.unwrap();

    let key = known_key(store, EMAIL).await;
    let es = scope(&chief, Action::EraseResident, None);
    let erasure = store.erase_resident(&ctx(&es, &chief, "resident.erase"), &key).await.unwrap();
    assert_eq!(erasure.feedback_erased, 2);
    assert_eq!(erasure.contacts_deleted, 2);
    assert_eq!(erasure.departments, [dept("streets"), dept("water")]);

    let read = scope(&chief, Action::ReadFeedback, None);
    let all = store.list_feedback(&read, &FeedbackFilter::default(), &page(10, None)).await.unwrap().items;
    assert_eq!(all.len(), 3, "the statistics keep every row");
    for f in all.iter().filter(|f| f.id != fid("fb-e3")) {
        assert!(f.erased && f.text.is_empty() && f.location == Location::default() && f.resident_key.is_none());
        assert_eq!((f.csat, f.nps, f.kind), (Some(2), Some(3), FeedbackKind::Complaint), "ratings survive");
    }
    let kept = all.iter().find(|f| f.id == fid("fb-e3")).unwrap();
    assert!(!kept.erased && !kept.text.is_empty(), "other residents are untouched");
    let cases = scope(&chief, Action::ReadCases, Some(&dept("streets")));
    let case = store
        .get_case(&cases, &dept("streets"), &cityserve_domain::CaseId::parse("id", "fb-e1").unwrap())
        .await
        .unwrap();
    assert!(case.notes.iter().all(|n| n.text.is_empty()) && case.resident_key.is_none());
    let ts = scope(&chief, Action::ReadTimeline, None);
    assert!(store.resident_timeline(&ctx(&ts, &chief, "timeline.read"), &[], &key).await.unwrap().is_empty());
    assert_eq!(store.find_resident(&ts, &resident(EMAIL, PHONE).identifiers).await.unwrap(), None, "identifiers gone");
    let again = store.erase_resident(&ctx(&es, &chief, "resident.erase"), &key).await.unwrap();
    assert_eq!((again.feedback_erased, again.contacts_deleted), (0, 0), "erasing twice erases nothing more");
}

pub async fn feedback_scope_hides_other_tenants<S: FeedbackStore>(store: &S) {
    seed_department(store, "streets").await;
    seed_department(store, "water").await;
    let chief = chief();
    let s = scope(&chief, Action::SubmitFeedback, Some(&dept("streets")));
    let mut f = item("streets", "fb-x1", FeedbackKind::Complaint, Channel::Phone);
    f.internal_customer = Some(dept("water"));
    store.submit_feedback(&ctx(&s, &chief, "feedback.submit"), &idem("x1", "h"), &f).await.unwrap();
    let water = cso("water");
    let read = scope(&water, Action::ReadFeedback, None);
    assert_eq!(store.get_feedback(&read, &dept("streets"), &fid("fb-x1")).await, Err(StoreError::NotFound));
    assert!(store.list_feedback(&read, &FeedbackFilter::default(), &page(10, None)).await.unwrap().items.is_empty());
    let cases = scope(&water, Action::ReadCases, None);
    let case_id = cityserve_domain::CaseId::parse("id", "fb-x1").unwrap();
    assert_eq!(store.get_case(&cases, &dept("streets"), &case_id).await, Err(StoreError::NotFound));
    assert!(
        store
            .list_cases(&cases, &CaseFilter::default(), CaseOrder::Newest, &page(10, None))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Internal-customer feedback is told apart from residents'.
    let sr = scope(&chief, Action::ReadFeedback, Some(&dept("streets")));
    let internal = FeedbackFilter {
        department: Some(dept("streets")),
        source: Some(Source::InternalCustomers),
        ..FeedbackFilter::default()
    };
    let residents = FeedbackFilter { source: Some(Source::Residents), ..internal.clone() };
    assert_eq!(store.list_feedback(&sr, &internal, &page(10, None)).await.unwrap().items.len(), 1);
    assert!(store.list_feedback(&sr, &residents, &page(10, None)).await.unwrap().items.is_empty());
}

/// An export's reads: feedback by when it occurred and cases by when they were received, within a
/// period; and the contact values the open-data profile strikes from free text, only in scope.
pub async fn export_reads_a_period_and_the_contact_values<S: FeedbackStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "parks").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let named = keyer()
        .resident(Contact {
            email: EMAIL.into(),
            phone: PHONE.into(),
            name: "Ann Resident".into(),
            notice_channel: None,
        })
        .unwrap();
    for (i, id) in ["fb-1", "fb-2", "fb-3"].iter().enumerate() {
        let mut f = item("water", id, FeedbackKind::Complaint, Channel::Web);
        f.occurred_at = Utc.with_ymd_and_hms(2026, 5, 1 + i as u32, 9, 0, 0).unwrap();
        f.resident = Some(named.clone());
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(id, "h"), &f).await.unwrap();
    }
    let read = scope(&c, Action::ReadFeedback, Some(&dept("water")));
    let day = |d: u32| Utc.with_ymd_and_hms(2026, 5, d, 0, 0, 0).unwrap();
    let may_2 = FeedbackFilter {
        department: Some(dept("water")),
        occurred: Some(Period { start: day(2), end: day(3) }),
        ..FeedbackFilter::default()
    };
    let got = store.list_feedback(&read, &may_2, &page(10, None)).await.unwrap().items;
    assert_eq!(got.iter().map(|f| f.id.to_string()).collect::<Vec<_>>(), ["fb-2"], "the end is exclusive");
    let cases = scope(&c, Action::ReadCases, Some(&dept("water")));
    let received = |start, end| CaseFilter {
        department: Some(dept("water")),
        received: Some(Period { start, end }),
        ..CaseFilter::default()
    };
    let now = Utc::now();
    let today = received(now - Duration::hours(1), now + Duration::hours(1));
    assert_eq!(store.list_cases(&cases, &today, CaseOrder::Newest, &page(10, None)).await.unwrap().items.len(), 3);
    let may = received(day(1), day(4));
    assert!(
        store.list_cases(&cases, &may, CaseOrder::Newest, &page(10, None)).await.unwrap().items.is_empty(),
        "cases go by when they were received, not when the contact occurred"
    );

    let key = got[0].resident_key.clone().unwrap();
    let values = store.contact_values(&read, &dept("water"), &[key.as_str(), "r-unknown"]).await.unwrap();
    assert_eq!(values.len(), 1);
    assert_eq!(values[0].0, key);
    let mut v = values[0].1.clone();
    v.sort();
    assert_eq!(v, [PHONE, "Ann Resident", EMAIL]);
    assert!(store.contact_values(&read, &dept("water"), &[]).await.unwrap().is_empty());
    // Another department's contacts are out of a Water scope.
    let water_cso = cso("water");
    let own = scope(&water_cso, Action::ReadFeedback, Some(&dept("water")));
    assert_eq!(store.contact_values(&own, &dept("parks"), &[key.as_str()]).await, Err(StoreError::NotFound));
}

/// A batch's submissions resolve residents as one at a time would: a contact named twice in
/// one batch (first by e-mail, then by e-mail and phone, then by phone alone) is one resident,
/// and its details with the department merge, the later given ones winning.
pub async fn a_batch_names_each_resident_once<S: FeedbackStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let person = |email: &str, phone: &str, name: &str| {
        keyer()
            .resident(Contact { email: email.into(), phone: phone.into(), name: name.into(), notice_channel: None })
            .unwrap()
    };
    let mut items: Vec<NewFeedback> =
        (0..4).map(|i| item("water", &format!("fb-r{i}"), FeedbackKind::Complaint, Channel::Web)).collect();
    items[0].resident = Some(person(EMAIL, "", ""));
    items[1].resident = Some(person(EMAIL, PHONE, "A. Resident"));
    items[2].resident = Some(person("", PHONE, "Ann Resident"));
    items[3].resident = Some(person("other.resident@example.org", "", "Bo"));
    let done = store
        .submit_feedback_batch(
            &ctx(&s, &c, "feedback.submit"),
            &idem("residents-1", "h"),
            &dept("water"),
            &items,
            BatchMode::AllOrNothing,
        )
        .await
        .unwrap();
    let keys: Vec<String> = done.iter().map(|d| d.as_ref().unwrap().feedback.resident_key.clone().unwrap()).collect();
    assert_eq!(keys[0], keys[1], "the same e-mail");
    assert_eq!(keys[1], keys[2], "the phone the batch's second submission recorded");
    assert_ne!(keys[2], keys[3], "another resident");
    let read = scope(&c, Action::ReadFeedback, Some(&dept("water")));
    let values = store.contact_values(&read, &dept("water"), &[keys[0].as_str()]).await.unwrap();
    let mut v = values[0].1.clone();
    v.sort();
    assert_eq!(v, [PHONE, "Ann Resident", EMAIL], "one row of details, the newest name");
    // Later, alone, the phone still leads to the same resident.
    let mut later = item("water", "fb-r9", FeedbackKind::Compliment, Channel::Web);
    later.resident = Some(person("", PHONE, ""));
    let alone =
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem("residents-2", "h"), &later).await.unwrap();
    assert_eq!(alone.feedback.resident_key.as_deref(), Some(keys[0].as_str()));
}
