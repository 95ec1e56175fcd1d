//! Shared behaviour of [`crate::Open311Store`] backends.
use super::{chief, ctx, dept, idem, page, scope, seed_department};
use crate::StoreError;
use crate::open311::{ApiKey, Open311Store, RequestQuery, RequestStatus};
use chrono::{Duration, TimeZone, Utc};
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::{
    Action, CaseEntry, CaseId, CaseNote, Channel, FeedbackId, FeedbackKind, Location, NewFeedback, NewServiceCategory,
    ServiceCategoryId,
};

fn key(id: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        client_name: "fixmystreet".into(),
        key_hash: "ab".repeat(32),
        created_by: String::new(),
        create_time: Utc::now(),
        revoked_by: None,
        revoke_time: None,
    }
}

pub async fn api_keys_are_issued_listed_and_revoked<S: Open311Store>(store: &S) {
    seed_department(store, "chief-office").await;
    let c = chief();
    let s = scope(&c, Action::CreateDepartment, None);
    let w = ctx(&s, &c, "api_key.manage");
    let home = dept("chief-office");
    let a = store.create_api_key(&w, &idem("k1", "h"), &home, &key("k-1")).await.unwrap();
    assert_eq!((a.client_name.as_str(), a.created_by.as_str()), ("fixmystreet", "chief-1"));
    assert_eq!(store.create_api_key(&w, &idem("k1", "h"), &home, &key("k-9")).await.unwrap(), a, "a retry");
    store.create_api_key(&w, &idem("k2", "h"), &home, &key("k-2")).await.unwrap();
    let listed = store.list_api_keys(&s, &page(1, None)).await.unwrap();
    assert_eq!(listed.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k-1"]);
    let rest = store.list_api_keys(&s, &page(10, listed.next_after)).await.unwrap();
    assert_eq!(rest.items.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["k-2"]);
    let revoked = store.revoke_api_key(&w, &home, "k-1").await.unwrap();
    assert!(revoked.revoke_time.is_some());
    assert_eq!(store.revoke_api_key(&w, &home, "k-1").await.unwrap(), revoked, "revoking again changes nothing");
    assert_eq!(store.get_api_key(&s, "k-1").await.unwrap(), revoked);
    assert_eq!(store.get_api_key(&s, "k-x").await, Err(StoreError::NotFound));
    assert_eq!(store.revoke_api_key(&w, &home, "k-x").await, Err(StoreError::NotFound));
    assert!(store.count_audit_records(&s, &home).await.unwrap() >= 3, "issuing and revoking are audited");
}

pub async fn open311_requests_are_filtered_and_paged<S: Open311Store>(store: &S) {
    seed_department(store, "streets").await;
    let c = chief();
    let cs = scope(&c, Action::ManageServiceCatalog, Some(&dept("streets")));
    for cat in ["pothole", "graffiti"] {
        store
            .create_service_category(
                &ctx(&cs, &c, "catalog.create"),
                &idem(cat, "h"),
                &NewServiceCategory {
                    department_id: dept("streets"),
                    id: ServiceCategoryId::parse("id", cat).unwrap(),
                    display_name: cat.into(),
                    description: String::new(),
                    keywords: vec![],
                    attributes: Vec::new(),
                    public: false,
                },
            )
            .await
            .unwrap();
    }
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("streets")));
    for (i, (cat, source)) in
        [("pothole", Some("app")), ("graffiti", Some("app")), ("pothole", None), ("pothole", Some("kiosk"))]
            .into_iter()
            .enumerate()
    {
        let f = NewFeedback {
            media: Vec::new(),
            attributes: Vec::new(),
            client_ids: Default::default(),
            department_id: dept("streets"),
            id: FeedbackId::parse("id", &format!("fb-{i}")).unwrap(),
            channel: Channel::ThreeOneOne,
            kind: FeedbackKind::Complaint,
            csat: None,
            nps: None,
            text: format!("request {i}"),
            language: "en".into(),
            category: Some(ServiceCategoryId::parse("id", cat).unwrap()),
            location: Location {
                address: "1 Main St".into(),
                latitude: Some(39.9),
                longitude: Some(-75.1),
                address_id: String::new(),
            },
            occurred_at: Utc.with_ymd_and_hms(2026, 5, 1, 9, 0, 0).unwrap(),
            resident: None,
            internal_customer: None,
            survey: None,
            served: Default::default(),
            source: source.map(str::to_owned),
        };
        store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(&format!("f{i}"), "h"), &f).await.unwrap();
    }
    // Close fb-0 with a public note and an internal one.
    let ms = scope(&c, Action::ManageCases, Some(&dept("streets")));
    let w = ctx(&ms, &c, "case.manage");
    let id = CaseId::parse("c", "fb-0").unwrap();
    let case = store.get_case(&ms, &dept("streets"), &id).await.unwrap();
    let note = |text: &str, public: bool| {
        Some(CaseEntry::Note(CaseNote { text: text.into(), public, actor: "chief-1".into(), at: Utc::now() }))
    };
    let started = transition(&case, &CaseTransition::Start, Utc::now()).unwrap();
    let case = store.save_case(&w, &started, case.revision, note("Crew sent", true).as_ref()).await.unwrap();
    let resolved = transition(&case, &CaseTransition::Resolve, Utc::now()).unwrap();
    store.save_case(&w, &resolved, case.revision, note("internal: overtime", false).as_ref()).await.unwrap();

    let all = scope(&c, Action::ReadCases, None);
    let now = Utc::now();
    let q = RequestQuery {
        ids: None,
        services: vec![],
        from: now - Duration::days(90),
        to: now + Duration::minutes(1),
        statuses: vec![],
        offset: 0,
        limit: 100,
    };
    let rows = store.service_requests(&all, &q).await.unwrap();
    let ids = |rows: &[crate::open311::ServiceRequestRow]| {
        let mut v: Vec<String> = rows.iter().map(|r| r.feedback.id.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&rows), ["fb-0", "fb-1", "fb-3"], "only requests filed through Open311");
    let fb0 = rows.iter().find(|r| r.feedback.id.as_str() == "fb-0").unwrap();
    assert_eq!(fb0.status_note.as_deref(), Some("Crew sent"), "the newest public note");
    assert_eq!(fb0.case.status, cityserve_domain::CaseStatus::Resolved);
    assert_eq!(fb0.feedback.source.as_deref(), Some("app"));
    let closed =
        store.service_requests(&all, &RequestQuery { statuses: vec![RequestStatus::Closed], ..q.clone() }).await;
    assert_eq!(ids(&closed.unwrap()), ["fb-0"]);
    let open = store.service_requests(&all, &RequestQuery { statuses: vec![RequestStatus::Open], ..q.clone() }).await;
    assert_eq!(ids(&open.unwrap()), ["fb-1", "fb-3"]);
    let potholes = RequestQuery {
        services: vec![(dept("streets"), ServiceCategoryId::parse("id", "pothole").unwrap())],
        ..q.clone()
    };
    assert_eq!(ids(&store.service_requests(&all, &potholes).await.unwrap()), ["fb-0", "fb-3"]);
    let by_id = RequestQuery {
        ids: Some(vec![
            (dept("streets"), CaseId::parse("c", "fb-1").unwrap()),
            (dept("streets"), CaseId::parse("c", "fb-2").unwrap()),
        ]),
        ..q.clone()
    };
    assert_eq!(
        ids(&store.service_requests(&all, &by_id).await.unwrap()),
        ["fb-1"],
        "fb-2 did not come through Open311"
    );
    let old = RequestQuery { from: now - Duration::days(200), to: now - Duration::days(100), ..q.clone() };
    assert!(store.service_requests(&all, &old).await.unwrap().is_empty());
    let first = store.service_requests(&all, &RequestQuery { limit: 2, ..q.clone() }).await.unwrap();
    let second = store.service_requests(&all, &RequestQuery { limit: 2, offset: 2, ..q.clone() }).await.unwrap();
    assert_eq!(first.len() + second.len(), 3);
    assert!(first.iter().all(|a| second.iter().all(|b| a.feedback.id != b.feedback.id)));
}
