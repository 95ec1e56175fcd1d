//! Shared behaviour of [`crate::OfficerStore`] backends.
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::officers::AppointmentFilter;
use crate::{OfficerStore, StoreError};
use chrono::{Duration, Utc};
use cityserve_domain::officer::{GapReason, check_standing, competency_gaps};
use cityserve_domain::{
    Action, AppointmentId, Caller, CompetencyId, NewAppointment, NewCompetency, NewOfficer, NewRecognition,
    NewTrainingRecord, OfficerFilter, OfficerId, OfficerKind, OfficerStatus, PlanChange, PlanContent, PlanStatus,
    RecognitionId, Role, Seat, TrainingRecordId,
};

fn oid(id: &str) -> OfficerId {
    OfficerId::parse("id", id).unwrap()
}

fn new_officer(d: &str, id: &str, kind: OfficerKind) -> NewOfficer {
    NewOfficer {
        department_id: dept(d),
        id: oid(id),
        display_name: format!("Officer {id}"),
        email: format!("{id}@city.gov"),
        title: "Customer Service Representative".into(),
        identity_subject: String::new(),
        kind,
    }
}

/// Creates an officer as the Chief.
pub async fn seed_officer<S: OfficerStore>(store: &S, d: &str, id: &str) {
    let c = chief();
    let s = scope(&c, Action::ManageOfficers, Some(&dept(d)));
    store
        .create_officer(
            &ctx(&s, &c, "officer.create"),
            &idem(&format!("seed-{id}"), id),
            &new_officer(d, id, OfficerKind::Staff),
        )
        .await
        .unwrap();
}

static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A time-ordered ID for tests (the API uses UUIDv7; any increasing slug will do here).
fn next_id(prefix: &str) -> String {
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{:020}-{n:06}", Utc::now().timestamp_micros())
}

async fn appoint<S: OfficerStore>(
    store: &S,
    seat: Seat,
    d: &str,
    officer: &str,
    replaces: Option<&AppointmentId>,
) -> Result<cityserve_domain::Appointment, StoreError> {
    let c = chief();
    let s = scope(&c, if seat == Seat::Chief { Action::AppointChief } else { Action::AppointCso }, Some(&dept(d)));
    let new = NewAppointment {
        department_id: dept(d),
        id: AppointmentId::parse("id", &next_id("ap")).unwrap(),
        seat,
        officer_id: oid(officer),
        replaces: replaces.cloned(),
    };
    store.appoint(&ctx(&s, &c, "appointment.cso"), &idem(&new.id.to_string(), "h"), &new).await
}

pub async fn officer_crud_and_filters<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::ManageOfficers, Some(&dept("water")));
    let ann = store
        .create_officer(
            &ctx(&s, &c, "officer.create"),
            &idem("o1", "h1"),
            &new_officer("water", "ann", OfficerKind::Staff),
        )
        .await
        .unwrap();
    assert_eq!(
        (ann.status, ann.seat, ann.role(), ann.recognition_count),
        (OfficerStatus::Active, None, Role::Staff, 0)
    );
    let again = store
        .create_officer(
            &ctx(&s, &c, "officer.create"),
            &idem("o1", "h1"),
            &new_officer("water", "ann", OfficerKind::Staff),
        )
        .await
        .unwrap();
    assert_eq!(again, ann, "a retry returns the same officer");
    assert_eq!(
        store
            .create_officer(
                &ctx(&s, &c, "officer.create"),
                &idem("o1", "other"),
                &new_officer("water", "ann", OfficerKind::Staff)
            )
            .await,
        Err(StoreError::IdempotencyMismatch)
    );
    assert_eq!(
        store
            .create_officer(
                &ctx(&s, &c, "officer.create"),
                &idem("o2", "h2"),
                &new_officer("water", "ann", OfficerKind::Staff)
            )
            .await,
        Err(StoreError::AlreadyExists)
    );
    store
        .create_officer(
            &ctx(&s, &c, "officer.create"),
            &idem("o3", "h3"),
            &new_officer("water", "aud", OfficerKind::Auditor),
        )
        .await
        .unwrap();
    seed_officer(store, "water", "bob").await;

    let all = |role, status| OfficerFilter { department: Some(dept("water")), role, status };
    let ids = |p: cityserve_domain::Page<cityserve_domain::Officer>| {
        p.items.into_iter().map(|o| o.id.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(store.list_officers(&s, &all(None, None), &page(10, None)).await.unwrap()), ["ann", "aud", "bob"]);
    assert_eq!(ids(store.list_officers(&s, &all(Some(Role::Auditor), None), &page(10, None)).await.unwrap()), ["aud"]);
    let first = store.list_officers(&s, &all(Some(Role::Staff), None), &page(1, None)).await.unwrap();
    assert_eq!(first.next_after.as_deref(), Some("ann"));
    assert_eq!(
        ids(store.list_officers(&s, &all(Some(Role::Staff), None), &page(1, first.next_after)).await.unwrap()),
        ["bob"]
    );

    let mut changed = ann.clone();
    changed.title = "Senior Representative".into();
    let updated = store.update_officer(&ctx(&s, &c, "officer.update"), &changed, ann.revision).await.unwrap();
    assert_eq!(updated.title, "Senior Representative");
    assert!(updated.revision > ann.revision);
    assert_eq!(
        store.update_officer(&ctx(&s, &c, "officer.update"), &changed, ann.revision).await,
        Err(StoreError::Conflict)
    );

    let gone =
        store.deactivate_officer(&ctx(&s, &c, "officer.deactivate"), &dept("water"), &oid("bob"), None).await.unwrap();
    assert_eq!(gone.status, OfficerStatus::Inactive);
    assert_eq!(
        ids(store.list_officers(&s, &all(None, Some(OfficerStatus::Active)), &page(10, None)).await.unwrap()),
        ["ann", "aud"]
    );
}

pub async fn appointments_keep_history_and_one_cso_per_seat<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    seed_officer(store, "water", "ann").await;
    seed_officer(store, "water", "bob").await;
    let first = appoint(store, Seat::Cso, "water", "ann", None).await.unwrap();
    assert!(first.end_time.is_none());
    assert!(
        matches!(appoint(store, Seat::Cso, "water", "bob", None).await, Err(StoreError::Contended(_))),
        "appointing over a seat the caller believed vacant is refused"
    );
    let second = appoint(store, Seat::Cso, "water", "bob", Some(&first.id)).await.unwrap();
    let c = chief();
    let s = scope(&c, Action::ReadOfficers, Some(&dept("water")));
    let ended = store.get_appointment(&s, &dept("water"), &first.id).await.unwrap();
    assert!(ended.end_time.is_some(), "the replaced appointment ended");
    assert_eq!(ended.end_reason, format!("replaced by {}", second.id));
    assert!(
        matches!(appoint(store, Seat::Cso, "water", "ann", Some(&first.id)).await, Err(StoreError::Contended(_))),
        "a stale `replaces` is refused"
    );

    let history = store
        .list_appointments(
            &s,
            &AppointmentFilter { department: Some(dept("water")), ..Default::default() },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(
        history.items.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![second.id.clone(), first.id.clone()]
    );
    let active = store
        .list_appointments(
            &s,
            &AppointmentFilter { department: Some(dept("water")), active_only: true, ..Default::default() },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!(active.items.len(), 1);
    assert_eq!(store.get_officer(&s, &dept("water"), &oid("ann")).await.unwrap().seat, None);
    assert_eq!(store.get_officer(&s, &dept("water"), &oid("bob")).await.unwrap().seat, Some(Seat::Cso));

    // Standing follows the appointment: ann's old CSO token is refused, bob's accepted.
    let as_cso = |who: &str| Caller { subject: who.into(), role: Role::Cso, departments: vec![dept("water")] };
    let standing_scope = scope(&as_cso("ann"), Action::CheckStanding, None);
    let ann = store.standing(&standing_scope, "ann").await.unwrap();
    assert!(check_standing(&as_cso("ann"), &ann).is_err());
    let bob = store.standing(&standing_scope, "bob").await.unwrap();
    assert_eq!(check_standing(&as_cso("bob"), &bob), Ok(()));
    assert_eq!(store.standing(&standing_scope, "nobody").await.unwrap().officer, None);

    let cw = scope(&c, Action::AppointCso, Some(&dept("water")));
    let vacated =
        store.end_appointment(&ctx(&cw, &c, "appointment.end"), &dept("water"), &second.id, "retired").await.unwrap();
    assert_eq!(vacated.end_reason, "retired");
    assert!(matches!(
        store.end_appointment(&ctx(&cw, &c, "appointment.end"), &dept("water"), &second.id, "again").await,
        Err(StoreError::FailedPrecondition(_))
    ));
    appoint(store, Seat::Cso, "water", "ann", None).await.unwrap();
}

pub async fn concurrent_appointments_to_one_seat_one_wins<S: OfficerStore>(store: &S) {
    // Two Chiefs' assistants, both seeing the seat vacant, appoint different people at once; and
    // then both replace the winner at once. Several seats make a real overlap likely.
    for d in ["parks", "fleet", "water", "streets"] {
        seed_department(store, d).await;
        let (p, q) = (format!("{d}-pat"), format!("{d}-quinn"));
        seed_officer(store, d, &p).await;
        seed_officer(store, d, &q).await;
        let race = |replaces: Option<AppointmentId>| {
            let (s1, s2) = (store.clone(), store.clone());
            let (p, q, r1, r2) = (p.clone(), q.clone(), replaces.clone(), replaces);
            async move {
                let one = tokio::spawn(async move { appoint(&s1, Seat::Cso, d, &p, r1.as_ref()).await });
                let two = tokio::spawn(async move { appoint(&s2, Seat::Cso, d, &q, r2.as_ref()).await });
                [one.await.unwrap(), two.await.unwrap()]
            }
        };
        let results = race(None).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "exactly one appointment wins: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(StoreError::Contended(_)))), "{results:?}");
        let winner = results.into_iter().find_map(Result::ok).unwrap();
        let results = race(Some(winner.id.clone())).await;
        // One of the two is the sitting CSO (FailedPrecondition); the other replaces them.
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
        let c = chief();
        let s = scope(&c, Action::ReadOfficers, Some(&dept(d)));
        let filter = AppointmentFilter { department: Some(dept(d)), active_only: true, ..Default::default() };
        assert_eq!(store.list_appointments(&s, &filter, &page(10, None)).await.unwrap().items.len(), 1);
    }
}

pub async fn chief_seat_and_network<S: OfficerStore>(store: &S) {
    for d in ["mdo", "water", "streets"] {
        seed_department(store, d).await;
    }
    seed_officer(store, "mdo", "chief-a").await;
    seed_officer(store, "mdo", "chief-b").await;
    seed_officer(store, "water", "wendy").await;
    let c = chief();
    let network_scope = scope(&c, Action::ReadCsoNetwork, None);
    assert!(store.cso_network(&network_scope, 2026).await.unwrap().chief.is_none());
    let chief_a = appoint(store, Seat::Chief, "mdo", "chief-a", None).await.unwrap();
    appoint(store, Seat::Cso, "water", "wendy", None).await.unwrap();

    let ds = scope(&c, Action::DraftPlan, Some(&dept("water")));
    store
        .create_plan(&ctx(&ds, &c, "plan.create"), &idem("p1", "h"), &dept("water"), 2026, &PlanContent::default())
        .await
        .unwrap();

    let net = store.cso_network(&network_scope, 2026).await.unwrap();
    assert_eq!(net.chief.as_ref().map(|(_, o)| o.id.to_string()), Some("chief-a".into()));
    let row = |id: &str| net.departments.iter().find(|s| s.department_id == dept(id)).unwrap().clone();
    assert_eq!(row("water").cso.map(|(_, o)| o.id.to_string()), Some("wendy".into()));
    assert_eq!(row("water").plan_status, Some(PlanStatus::Draft));
    assert!(row("streets").cso.is_none(), "a department without a CSO is listed as a gap");
    assert_eq!(row("streets").plan_status, None);
    assert_eq!(net.departments.len(), 3);

    let s = scope(&c, Action::ManageOfficers, Some(&dept("mdo")));
    assert!(matches!(
        store.deactivate_officer(&ctx(&s, &c, "officer.deactivate"), &dept("mdo"), &oid("chief-a"), None).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert!(matches!(
        store.end_appointment(&ctx(&s, &c, "appointment.end"), &dept("mdo"), &chief_a.id, "bye").await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert!(matches!(appoint(store, Seat::Chief, "mdo", "chief-b", None).await, Err(StoreError::Contended(_))));
    appoint(store, Seat::Chief, "mdo", "chief-b", Some(&chief_a.id)).await.unwrap();
    let net = store.cso_network(&network_scope, 2026).await.unwrap();
    assert_eq!(net.chief.map(|(_, o)| o.id.to_string()), Some("chief-b".into()));
    let as_chief = |who: &str| Caller { subject: who.into(), role: Role::Chief, departments: vec![] };
    let ss = scope(&as_chief("chief-a"), Action::CheckStanding, None);
    assert!(check_standing(&as_chief("chief-a"), &store.standing(&ss, "chief-a").await.unwrap()).is_err());
    assert_eq!(check_standing(&as_chief("chief-b"), &store.standing(&ss, "chief-b").await.unwrap()), Ok(()));
    // Deactivating a CSO ends the appointment: the seat becomes a gap.
    let ws = scope(&c, Action::ManageOfficers, Some(&dept("water")));
    store.deactivate_officer(&ctx(&ws, &c, "officer.deactivate"), &dept("water"), &oid("wendy"), None).await.unwrap();
    let net = store.cso_network(&network_scope, 2026).await.unwrap();
    assert!(net.departments.iter().find(|s| s.department_id == dept("water")).unwrap().cso.is_none());
}

pub async fn competency_gaps_list_missing_and_expired<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    for o in ["ann", "bob", "cat"] {
        seed_officer(store, "water", o).await;
    }
    let c = chief();
    let s = scope(&c, Action::ManageCompetencies, Some(&dept("water")));
    let comp = |id: &str, roles: Vec<Role>| NewCompetency {
        department_id: dept("water"),
        id: CompetencyId::parse("id", id).unwrap(),
        display_name: id.into(),
        description: String::new(),
        required_for: roles,
    };
    store
        .create_competency(
            &ctx(&s, &c, "competency.create"),
            &idem("c1", "h"),
            &comp("de-escalation", vec![Role::Staff]),
        )
        .await
        .unwrap();
    store
        .create_competency(&ctx(&s, &c, "competency.create"), &idem("c2", "h"), &comp("plain-language", vec![]))
        .await
        .unwrap();
    let now = Utc::now();
    let train = |o: &str, comp: &str, expires: Option<chrono::DateTime<Utc>>, key: &str| NewTrainingRecord {
        department_id: dept("water"),
        officer_id: oid(o),
        id: TrainingRecordId::parse("id", &next_id("tr")).unwrap(),
        competency_id: CompetencyId::parse("id", comp).unwrap(),
        complete_time: now - Duration::days(400),
        expire_time: expires,
        notes: key.into(),
    };
    store
        .create_training_record(
            &ctx(&s, &c, "training.create"),
            &idem("t1", "h"),
            &train("ann", "de-escalation", None, "t1"),
        )
        .await
        .unwrap();
    store
        .create_training_record(
            &ctx(&s, &c, "training.create"),
            &idem("t2", "h"),
            &train("bob", "de-escalation", Some(now - Duration::days(30)), "t2"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .create_training_record(
                &ctx(&s, &c, "training.create"),
                &idem("t3", "h"),
                &train("zed", "de-escalation", None, "t3")
            )
            .await,
        Err(StoreError::NotFound),
        "training of an unknown officer"
    );
    let rs = scope(&c, Action::ReadTraining, Some(&dept("water")));
    let records = store.list_training_records(&rs, &dept("water"), &oid("bob"), &page(10, None)).await.unwrap();
    assert_eq!(records.items.len(), 1);
    let snap = store.competency_snapshot(&rs, &dept("water")).await.unwrap();
    assert_eq!(snap.officers.len(), 3);
    let gaps = competency_gaps(&snap.officers, &snap.competencies, &snap.records, now);
    let got: Vec<(String, bool)> =
        gaps.iter().map(|g| (g.officer_id.to_string(), matches!(g.reason, GapReason::Expired(_)))).collect();
    assert_eq!(got, vec![("bob".to_string(), true), ("cat".to_string(), false)]);

    let mut changed =
        store.get_competency(&rs, &dept("water"), &CompetencyId::parse("id", "plain-language").unwrap()).await.unwrap();
    changed.required_for = vec![Role::Staff];
    store.update_competency(&ctx(&s, &c, "competency.update"), &changed, changed.revision).await.unwrap();
    let snap = store.competency_snapshot(&rs, &dept("water")).await.unwrap();
    assert_eq!(competency_gaps(&snap.officers, &snap.competencies, &snap.records, now).len(), 5);
}

pub async fn recognitions_newest_first_and_counted<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    seed_officer(store, "water", "ann").await;
    seed_officer(store, "streets", "sam").await;
    let from = cso("streets");
    let s = scope(&from, Action::RecognizeOfficer, Some(&dept("water")));
    let mut ids = Vec::new();
    for i in 0..3 {
        let new = NewRecognition {
            department_id: dept("water"),
            id: RecognitionId::parse("id", &next_id("rc")).unwrap(),
            officer_id: oid("ann"),
            story: format!("fixed the leak #{i}"),
            feedback: None,
        };
        let r = store
            .create_recognition(&ctx(&s, &from, "recognition.create"), &idem(&format!("r{i}"), "h"), &new)
            .await
            .unwrap();
        assert_eq!(r.recognized_by, "cso-streets");
        ids.push(r.id);
    }
    let c = chief();
    let all = scope(&c, Action::ReadRecognitions, None);
    let listed = store.list_recognitions(&all, None, &page(2, None)).await.unwrap();
    assert_eq!(listed.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone(), ids[1].clone()]);
    let rest = store.list_recognitions(&all, None, &page(2, listed.next_after)).await.unwrap();
    assert_eq!(rest.items.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![ids[0].clone()]);
    let streets_only = scope(&cso("streets"), Action::ReadRecognitions, None);
    assert!(store.list_recognitions(&streets_only, None, &page(10, None)).await.unwrap().items.is_empty());
    let ws = scope(&c, Action::ReadOfficers, Some(&dept("water")));
    assert_eq!(store.get_officer(&ws, &dept("water"), &oid("ann")).await.unwrap().recognition_count, 3);
}

pub async fn plans_keep_every_revision<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    let author = cso("water");
    let s = scope(&author, Action::DraftPlan, Some(&dept("water")));
    let plan = store
        .create_plan(&ctx(&s, &author, "plan.create"), &idem("p", "h"), &dept("water"), 2026, &PlanContent::default())
        .await
        .unwrap();
    assert_eq!((plan.status, plan.revision), (PlanStatus::Draft, 1));
    assert_eq!(
        store
            .create_plan(
                &ctx(&s, &author, "plan.create"),
                &idem("p2", "h"),
                &dept("water"),
                2026,
                &PlanContent::default()
            )
            .await,
        Err(StoreError::AlreadyExists)
    );
    let mut edited = plan.clone();
    edited.content.vision = "No wrong door".into();
    let edited =
        store.save_plan(&ctx(&s, &author, "plan.update"), &edited, plan.revision, PlanChange::Edit, "").await.unwrap();
    assert_eq!(
        store.save_plan(&ctx(&s, &author, "plan.update"), &edited, plan.revision, PlanChange::Edit, "").await,
        Err(StoreError::Conflict)
    );
    let mut submitted = edited.clone();
    submitted.status = PlanStatus::Submitted;
    let submitted = store
        .save_plan(&ctx(&s, &author, "plan.submit"), &submitted, edited.revision, PlanChange::Submit, "")
        .await
        .unwrap();
    let c = chief();
    let cs = scope(&c, Action::ReviewPlan, Some(&dept("water")));
    let mut back = submitted.clone();
    back.status = PlanStatus::ChangesRequested;
    back.review_comment = "add a metric".into();
    let back = store
        .save_plan(&ctx(&cs, &c, "plan.review"), &back, submitted.revision, PlanChange::RequestChanges, "add a metric")
        .await
        .unwrap();
    assert_eq!(back.revision, 4);
    let revisions = store.list_plan_revisions(&cs, &dept("water"), 2026, &page(3, None)).await.unwrap();
    assert_eq!(
        revisions.items.iter().map(|r| (r.revision, r.change, r.status)).collect::<Vec<_>>(),
        vec![
            (1, PlanChange::Create, PlanStatus::Draft),
            (2, PlanChange::Edit, PlanStatus::Draft),
            (3, PlanChange::Submit, PlanStatus::Submitted)
        ]
    );
    assert_eq!(revisions.items[1].content.vision, "No wrong door");
    assert_eq!(revisions.items[0].author, "cso-water");
    let last = store.list_plan_revisions(&cs, &dept("water"), 2026, &page(3, revisions.next_after)).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert_eq!((last.items[0].comment.as_str(), last.items[0].author.as_str()), ("add a metric", "chief-1"));
    assert_eq!(store.list_plans(&cs, &dept("water"), &page(10, None)).await.unwrap().items.len(), 1);
}

pub async fn officer_scope_hides_other_tenants<S: OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    seed_officer(store, "streets", "sam").await;
    seed_officer(store, "water", "ann").await;
    let water = cso("water");
    let own = scope(&water, Action::ReadOfficers, None);
    let listed = store.list_officers(&own, &OfficerFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(listed.items.iter().map(|o| o.id.to_string()).collect::<Vec<_>>(), ["ann"]);
    assert_eq!(store.get_officer(&own, &dept("streets"), &oid("sam")).await, Err(StoreError::NotFound));
    let ws = scope(&water, Action::ManageOfficers, Some(&dept("water")));
    assert_eq!(
        store.deactivate_officer(&ctx(&ws, &water, "officer.deactivate"), &dept("streets"), &oid("sam"), None).await,
        Err(StoreError::NotFound)
    );
    let c = chief();
    let ss = scope(&c, Action::ReadOfficers, Some(&dept("streets")));
    assert_eq!(store.get_officer(&ss, &dept("streets"), &oid("sam")).await.unwrap().status, OfficerStatus::Active);
}

/// A provider user signs in as the one active officer their subject (or e-mail) names, across
/// departments; a subject on no record, a deactivated officer and an e-mail two active officers
/// share name no one; two officers cannot carry one subject.
pub async fn identity_provider_users_sign_in_as_one_officer<S: OfficerStore>(store: &S) {
    use crate::officers::SignIn;
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let create = |d: &'static str, id: &'static str, email: &'static str, subject: &'static str| {
        let c = c.clone();
        async move {
            let s = scope(&c, Action::ManageOfficers, Some(&dept(d)));
            let new = NewOfficer {
                email: email.into(),
                identity_subject: subject.into(),
                ..new_officer(d, id, OfficerKind::Staff)
            };
            store.create_officer(&ctx(&s, &c, "officer.create"), &idem(&format!("sign-in-{id}"), id), &new).await
        }
    };
    create("water", "ana", "ana@city.gov", "idp-ana").await.unwrap();
    create("streets", "sam", "shared@city.gov", "idp-sam").await.unwrap();
    create("water", "wes", "shared@city.gov", "").await.unwrap();
    let clash = create("streets", "sid", "sid@city.gov", "idp-ana").await;
    assert!(matches!(clash, Err(StoreError::AlreadyExists)), "{clash:?}");

    let (_, s) = cityserve_domain::policy::sign_in_scope();
    let s = &s;
    let who = |w: SignIn| async move { store.signing_in(s, &w).await.unwrap() };
    assert_eq!(who(SignIn::Subject("idp-ana".into())).await, Some(oid("ana")));
    assert_eq!(who(SignIn::Subject("idp-sam".into())).await, Some(oid("sam")), "in any department");
    assert_eq!(who(SignIn::Subject("idp-nobody".into())).await, None);
    assert_eq!(who(SignIn::Subject(String::new())).await, None, "an empty subject names no one");
    assert_eq!(who(SignIn::Email("ANA@city.gov".into())).await, Some(oid("ana")), "e-mail case does not matter");
    assert_eq!(who(SignIn::Email("shared@city.gov".into())).await, None, "a shared address names no one");

    let ws = scope(&c, Action::ManageOfficers, Some(&dept("water")));
    store.deactivate_officer(&ctx(&ws, &c, "officer.deactivate"), &dept("water"), &oid("ana"), None).await.unwrap();
    assert_eq!(who(SignIn::Subject("idp-ana".into())).await, None, "a deactivated officer signs in no more");
    store.deactivate_officer(&ctx(&ws, &c, "officer.deactivate"), &dept("water"), &oid("wes"), None).await.unwrap();
    assert_eq!(who(SignIn::Email("shared@city.gov".into())).await, Some(oid("sam")), "once the address is Sam's alone");
}

/// Service accounts: registered once (a retry returns the same account), listed by ID, changed
/// only at the expected revision, found by client ID only while active; a client ID is one
/// account's.
pub async fn service_accounts_register_change_and_sign_in<S: OfficerStore>(store: &S) {
    use cityserve_domain::{PageRequest, ServiceAccount, ServiceAccountId, ServiceAccountStatus};
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let s = scope(&c, Action::ManageServiceAccounts, None);
    let account = |id: &str, client: &str| ServiceAccount {
        id: ServiceAccountId::parse("id", id).unwrap(),
        display_name: format!("App {id}"),
        departments: vec![dept("streets"), dept("water")],
        client_id: client.into(),
        status: ServiceAccountStatus::Active,
        create_time: Utc::now(),
        update_time: Utc::now(),
        revision: 1,
    };
    let home = dept("water");
    let crm = store
        .create_service_account(
            &ctx(&s, &c, "service_account.manage"),
            &idem("sa-1", "h"),
            &home,
            &account("crm", "0oa-crm"),
        )
        .await
        .unwrap();
    assert_eq!(crm.departments, [dept("streets"), dept("water")]);
    let again = store
        .create_service_account(
            &ctx(&s, &c, "service_account.manage"),
            &idem("sa-1", "h"),
            &home,
            &account("crm", "0oa-crm"),
        )
        .await
        .unwrap();
    assert_eq!(again, crm, "a retry returns the same account");
    let clash = store
        .create_service_account(
            &ctx(&s, &c, "service_account.manage"),
            &idem("sa-2", "h"),
            &home,
            &account("wo", "0oa-crm"),
        )
        .await;
    assert!(matches!(clash, Err(StoreError::AlreadyExists)), "{clash:?}");
    store
        .create_service_account(&ctx(&s, &c, "service_account.manage"), &idem("sa-3", "h"), &home, &account("bi", ""))
        .await
        .unwrap();

    let (_, read) = cityserve_domain::policy::sign_in_scope();
    let first = store.list_service_accounts(&read, &PageRequest { size: 1, after: None }).await.unwrap();
    assert_eq!(first.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["bi"]);
    let rest =
        store.list_service_accounts(&read, &PageRequest { size: 5, after: first.next_after.clone() }).await.unwrap();
    assert_eq!(rest.items.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["crm"]);
    assert_eq!(store.service_account_of_client(&read, "0oa-crm").await.unwrap().map(|a| a.id), Some(crm.id.clone()));
    assert_eq!(store.service_account_of_client(&read, "").await.unwrap(), None, "an empty client ID names none");

    let off =
        ServiceAccount { status: ServiceAccountStatus::Inactive, departments: vec![dept("water")], ..crm.clone() };
    let stale = store.update_service_account(&ctx(&s, &c, "service_account.manage"), &home, &off, 7).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let saved =
        store.update_service_account(&ctx(&s, &c, "service_account.manage"), &home, &off, crm.revision).await.unwrap();
    assert_eq!(
        (saved.status, saved.revision, saved.departments.clone()),
        (ServiceAccountStatus::Inactive, 2, vec![dept("water")])
    );
    assert_eq!(store.get_service_account(&read, &crm.id).await.unwrap(), saved);
    assert_eq!(
        store.service_account_of_client(&read, "0oa-crm").await.unwrap(),
        None,
        "inactive accounts sign no one in"
    );
}
