//! Shared behaviour of [`crate::TouchpointStore`] backends, and of feedback naming the touchpoint
//! and officer that served the resident.
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::{FeedbackStore, StoreError, TouchpointStore};
use chrono::Utc;
use cityserve_domain::feedback::Served;
use cityserve_domain::{Action, Channel, FeedbackKind, Touchpoint, TouchpointId, TouchpointKind, TouchpointStatus};

fn counter(d: &str, id: &str) -> Touchpoint {
    let now = Utc::now();
    Touchpoint {
        department_id: dept(d),
        id: TouchpointId::parse("id", id).unwrap(),
        display_name: "Water Revenue counter, Municipal Services Building".into(),
        kind: TouchpointKind::Counter,
        channel: Channel::InPerson,
        location: "1401 JFK Blvd".into(),
        hours: Vec::new(),
        status: TouchpointStatus::Active,
        revision: 1,
        create_time: now,
        update_time: now,
    }
}

pub async fn touchpoints_are_kept_per_department_and_named_by_feedback<S: TouchpointStore + FeedbackStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let w = scope(&c, Action::ManageTouchpoints, Some(&dept("water")));
    let made = store
        .create_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &idem("t1", "h1"), &counter("water", "msb-counter"))
        .await
        .unwrap();
    assert_eq!((made.revision, made.status), (1, TouchpointStatus::Active));
    // A retry returns the same; the ID taken by another request is refused.
    let again = store
        .create_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &idem("t1", "h1"), &counter("water", "msb-counter"))
        .await
        .unwrap();
    assert_eq!(again, made);
    assert_eq!(
        store
            .create_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &idem("t2", "h2"), &counter("water", "msb-counter"))
            .await,
        Err(StoreError::AlreadyExists)
    );
    let s = scope(&c, Action::ManageTouchpoints, Some(&dept("streets")));
    store
        .create_touchpoint(&ctx(&s, &c, "touchpoint.manage"), &idem("t3", "h3"), &counter("streets", "crew-a"))
        .await
        .unwrap();

    // Another department's CSO sees none of Water's.
    let theirs = scope(&cso("streets"), Action::ReadTouchpoints, None);
    let id = TouchpointId::parse("id", "msb-counter").unwrap();
    assert_eq!(store.get_touchpoint(&theirs, &dept("water"), &id).await, Err(StoreError::NotFound));
    let listed = store.list_touchpoints(&w, &dept("water"), None, &page(10, None)).await.unwrap();
    assert_eq!(listed.items, vec![made.clone()]);

    // Feedback names the touchpoint that served the resident, and it reads back.
    let f = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let mut item = super::item("water", "fb-tp1", FeedbackKind::Compliment, Channel::InPerson);
    item.served = Served { touchpoint: Some((dept("water"), id.clone())), officer: None };
    let stored = store.submit_feedback(&ctx(&f, &c, "feedback.submit"), &idem("f1", "f1"), &item).await.unwrap();
    assert_eq!(stored.feedback.served.touchpoint, Some((dept("water"), id.clone())));
    // Another department's touchpoint, a missing one and (below) a retired one are refused alike.
    let refusal = |t: &str, d: &str| {
        format!("touchpoint departments/{d}/touchpoints/{t} is not an active touchpoint of department water")
    };
    for (i, (d, t)) in [("streets", "crew-a"), ("water", "nowhere")].into_iter().enumerate() {
        let mut bad = super::item("water", &format!("fb-tpx{i}"), FeedbackKind::Compliment, Channel::InPerson);
        bad.served.touchpoint = Some((dept(d), TouchpointId::parse("id", t).unwrap()));
        let e = store.submit_feedback(&ctx(&f, &c, "feedback.submit"), &idem(&format!("fx{i}"), "x"), &bad).await;
        assert_eq!(e.map(|_| ()), Err(StoreError::FailedPrecondition(refusal(t, d))));
    }
    let mut retired = made.clone();
    retired.status = TouchpointStatus::Retired;
    let retired = store.update_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &retired, made.revision).await.unwrap();
    assert_eq!((retired.status, retired.revision), (TouchpointStatus::Retired, 2));
    assert_eq!(
        store.update_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &retired, made.revision).await,
        Err(StoreError::Conflict)
    );
    let mut late = super::item("water", "fb-tp2", FeedbackKind::Compliment, Channel::InPerson);
    late.served.touchpoint = Some((dept("water"), id.clone()));
    let e = store.submit_feedback(&ctx(&f, &c, "feedback.submit"), &idem("f2", "f2"), &late).await;
    assert_eq!(e.map(|_| ()), Err(StoreError::FailedPrecondition(refusal("msb-counter", "water"))));
    let active =
        store.list_touchpoints(&w, &dept("water"), Some(TouchpointStatus::Active), &page(10, None)).await.unwrap();
    assert!(active.items.is_empty());
}

pub async fn observations_keep_their_rubric_version_and_stay_in_their_department<
    S: TouchpointStore + crate::ObservationStore + FeedbackStore,
>(
    store: &S,
) {
    use cityserve_domain::observation::{
        CoachingAction, Observation, ObservationId, Rubric, RubricId, RubricItem, Score,
    };
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let w = scope(&c, Action::ManageTouchpoints, Some(&dept("water")));
    store
        .create_touchpoint(&ctx(&w, &c, "touchpoint.manage"), &idem("t1", "h1"), &counter("water", "msb-counter"))
        .await
        .unwrap();
    let s = scope(&c, Action::ManageTouchpoints, Some(&dept("streets")));
    store
        .create_touchpoint(&ctx(&s, &c, "touchpoint.manage"), &idem("t2", "h2"), &counter("streets", "crew-a"))
        .await
        .unwrap();
    let item = |code: &str| RubricItem { code: code.into(), label: format!("{code} label") };
    let v1 = Rubric {
        department_id: dept("water"),
        id: RubricId::parse("id", "counter").unwrap(),
        version: 1,
        display_name: "Counter".into(),
        items: vec![item("greeting"), item("clarity")],
        author: c.subject.clone(),
        create_time: Utc::now(),
    };
    let made = store.create_rubric(&ctx(&w, &c, "rubric.manage"), &idem("r1", "r1"), &v1).await.unwrap();
    assert_eq!(made.version, 1);
    let observation = |id: &str, touchpoint: &str, version: i32, code: &str| Observation {
        department_id: dept("water"),
        id: ObservationId::parse("id", id).unwrap(),
        touchpoint: TouchpointId::parse("id", touchpoint).unwrap(),
        rubric: v1.id.clone(),
        rubric_version: version,
        observer: c.subject.clone(),
        served_by: None,
        observe_time: Utc::now(),
        scores: vec![Score { code: code.into(), score: 4 }],
        notes: String::new(),
        coaching: Vec::<CoachingAction>::new(),
        revision: 1,
        create_time: Utc::now(),
        update_time: Utc::now(),
    };
    let first = store
        .create_observation(
            &ctx(&w, &c, "observation.record"),
            &idem("o1", "o1"),
            &observation("ob-1", "msb-counter", 1, "clarity"),
        )
        .await
        .unwrap();
    // Revised: version 2; a stale revision loses; the old observation keeps version 1.
    let v2 = Rubric { items: vec![item("greeting"), item("courtesy")], ..v1.clone() };
    let revised = store.revise_rubric(&ctx(&w, &c, "rubric.manage"), &v2, 1).await.unwrap();
    assert_eq!(revised.version, 2);
    assert_eq!(store.revise_rubric(&ctx(&w, &c, "rubric.manage"), &v2, 1).await, Err(StoreError::Conflict));
    let old = store.get_observation(&w, &dept("water"), &first.id).await.unwrap();
    assert_eq!((old.rubric_version, old.scores[0].code.as_str()), (1, "clarity"));
    assert_eq!(store.get_rubric(&w, &dept("water"), &v1.id, Some(1)).await.unwrap().items[1].code, "clarity");
    assert_eq!(store.get_rubric(&w, &dept("water"), &v1.id, None).await.unwrap().version, 2);
    // Another department's touchpoint does not exist in Water; Streets' CSO sees nothing of Water's.
    assert_eq!(
        store
            .create_observation(
                &ctx(&w, &c, "observation.record"),
                &idem("o2", "o2"),
                &observation("ob-2", "crew-a", 2, "courtesy")
            )
            .await,
        Err(StoreError::NotFound)
    );
    let theirs = scope(&cso("streets"), Action::ReadObservations, None);
    assert_eq!(store.get_observation(&theirs, &dept("water"), &first.id).await, Err(StoreError::NotFound));
    assert_eq!(store.list_rubrics(&w, &dept("water"), &page(10, None)).await.unwrap().items, vec![revised]);
}
