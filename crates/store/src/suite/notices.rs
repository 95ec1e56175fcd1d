//! Shared behaviour of [`crate::NoticeStore`] backends: notices queued with case changes, read
//! with their addresses by the notifier, cancelled by erasure; templates with revisions.
use super::{chief, cso, ctx, dept, idem, page, scope, seed_department};
use crate::notices::{Delivery, NoticeFilter};
use crate::{FeedbackStore, NoticeStore, StoreError};
use chrono::Utc;
use cityserve_domain::feedback::{CaseTransition, transition};
use cityserve_domain::notice::{NoticeChannel, NoticeEvent, NoticeState, NoticeTemplate};
use cityserve_domain::{Action, Channel, Contact, FeedbackKind, ResidentKeyer};

fn complaint(d: &str, id: &str, email: &str, channel: Option<NoticeChannel>) -> cityserve_domain::NewFeedback {
    let mut f = super::item(d, id, FeedbackKind::Complaint, Channel::Phone);
    f.language = "es-US".into();
    f.resident = ResidentKeyer::new(b"suite-resident-key-0123456789").resident(Contact {
        email: email.into(),
        phone: String::new(),
        name: String::new(),
        notice_channel: channel,
    });
    f
}

pub async fn notices_follow_case_changes_and_erasure<S: FeedbackStore + NoticeStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let m = scope(&c, Action::ManageCases, Some(&dept("water")));
    let submit = |id: &'static str, email: &'static str, ch: Option<NoticeChannel>| {
        let f = complaint("water", id, email, ch);
        let s = s.clone();
        let c = c.clone();
        async move { store.submit_feedback(&ctx(&s, &c, "feedback.submit"), &idem(id, id), &f).await.unwrap() }
    };
    let wants = submit("fb-n1", "ana@example.org", Some(NoticeChannel::Email)).await.case.unwrap();
    let silent = submit("fb-n2", "bo@example.org", None).await.case.unwrap();
    let now = Utc::now();
    for case in [&wants, &silent] {
        let ack = transition(case, &CaseTransition::Acknowledge, now).unwrap();
        store.save_case(&ctx(&m, &c, "case.update"), &ack, case.revision, None).await.unwrap();
    }
    // Only the resident who chose a channel gets a notice, in their complaint's language.
    let read = scope(&c, Action::ReadNotices, Some(&dept("water")));
    let listed = store.list_notices(&read, &dept("water"), &NoticeFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(listed.items.len(), 1, "{listed:?}");
    let n = &listed.items[0];
    assert_eq!((n.case_id.as_str(), n.event, n.channel), ("fb-n1", NoticeEvent::Acknowledged, NoticeChannel::Email));
    assert_eq!((n.state, n.language.as_str(), n.attempts), (NoticeState::Pending, "es-US", 0));

    // The notifier reads it with the address; another department's CSO cannot see it.
    let (_, system) = cityserve_domain::policy::system_scope("notifier");
    let due = store.due_notices(&system, Utc::now(), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].address.as_str(), due[0].department_name.as_str()), ("ana@example.org", "Department of water"));
    let other = cso("streets");
    let theirs = scope(&other, Action::ReadNotices, None);
    assert_eq!(
        store.list_notices(&theirs, &dept("water"), &NoticeFilter::default(), &page(10, None)).await,
        Err(StoreError::NotFound)
    );
    assert!(store.due_notices(&theirs, Utc::now(), 10).await.is_err(), "only the system scope reads addresses");

    // A retry is scheduled, then it is sent; a sent notice is not due again.
    let later = Utc::now() + chrono::Duration::minutes(5);
    store
        .record_delivery(
            &system,
            &dept("water"),
            &n.id,
            &Delivery::Retry { at: later, error: "smtp: transient 451".into() },
        )
        .await
        .unwrap();
    assert!(store.due_notices(&system, Utc::now(), 10).await.unwrap().is_empty());
    let due = store.due_notices(&system, later, 10).await.unwrap();
    assert_eq!(due[0].notice.attempts, 1);
    assert_eq!(due[0].notice.last_error, "smtp: transient 451");
    store.record_delivery(&system, &dept("water"), &n.id, &Delivery::Sent(Utc::now())).await.unwrap();
    assert!(store.due_notices(&system, later, 10).await.unwrap().is_empty());
    let sent = store
        .list_notices(
            &read,
            &dept("water"),
            &NoticeFilter { state: Some(NoticeState::Sent), case_id: None },
            &page(10, None),
        )
        .await
        .unwrap();
    assert_eq!((sent.items.len(), sent.items[0].attempts), (1, 2));

    // Resolving queues the next; erasing the resident before it goes out cancels it.
    let current = store.get_case(&m, &dept("water"), &wants.id).await.unwrap();
    let wip = transition(&current, &CaseTransition::Start, now).unwrap();
    let wip = store.save_case(&ctx(&m, &c, "case.update"), &wip, current.revision, None).await.unwrap();
    let done = transition(&wip, &CaseTransition::Resolve, now).unwrap();
    store.save_case(&ctx(&m, &c, "case.update"), &done, wip.revision, None).await.unwrap();
    let pending = NoticeFilter { state: Some(NoticeState::Pending), case_id: Some("fb-n1".into()) };
    let queued = store.list_notices(&read, &dept("water"), &pending, &page(10, None)).await.unwrap();
    // Newest first: the resolution queues its notice, then the survey invitation.
    let events: Vec<_> = queued.items.iter().map(|n| n.event).collect();
    assert_eq!(events, [NoticeEvent::SurveyInvitation, NoticeEvent::Resolved]);
    let key = wants.resident_key.clone().unwrap();
    let e = scope(&c, Action::EraseResident, None);
    store.erase_resident(&ctx(&e, &c, "resident.erase"), &key).await.unwrap();
    assert!(store.due_notices(&system, later, 10).await.unwrap().is_empty(), "nothing reaches an erased resident");
    let cancelled = NoticeFilter { state: Some(NoticeState::Cancelled), case_id: None };
    assert_eq!(store.list_notices(&read, &dept("water"), &cancelled, &page(10, None)).await.unwrap().items.len(), 2);
}

pub async fn notice_templates_have_revisions_and_a_city_default<S: NoticeStore + crate::DepartmentStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let w = dept("water");
    let s = scope(&c, Action::ManageNoticeTemplates, Some(&w));
    let template = |d: Option<&str>, subject: &str| NoticeTemplate {
        department_id: d.map(dept),
        event: NoticeEvent::Resolved,
        language: "es".into(),
        subject: subject.into(),
        body: "Su caso {case} está resuelto.".into(),
        revision: 0,
        update_time: Utc::now(),
    };
    let ctx_ = ctx(&s, &c, "notice_template.manage");
    let saved = store.put_notice_template(&ctx_, &w, &template(Some("water"), "Resuelto"), None).await.unwrap();
    assert_eq!(saved.revision, 1);
    assert_eq!(
        store.put_notice_template(&ctx_, &w, &template(Some("water"), "Otra vez"), None).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        store.put_notice_template(&ctx_, &w, &template(Some("water"), "Viejo"), Some(7)).await,
        Err(StoreError::Conflict)
    );
    let changed = store.put_notice_template(&ctx_, &w, &template(Some("water"), "Listo"), Some(1)).await.unwrap();
    assert_eq!((changed.subject.as_str(), changed.revision), ("Listo", 2));
    let all = scope(&c, Action::ManageNoticeTemplates, None);
    store
        .put_notice_template(&ctx(&all, &c, "notice_template.manage"), &w, &template(None, "Ciudad"), None)
        .await
        .unwrap();

    // A CSO reads their department's and the city's texts, not another department's.
    let theirs = scope(&cso("water"), Action::ReadNotices, Some(&w));
    assert_eq!(store.notice_templates(&theirs, Some(&w)).await.unwrap(), vec![changed.clone()]);
    assert_eq!(store.notice_templates(&theirs, None).await.unwrap()[0].subject, "Ciudad");
    seed_department(store, "streets").await;
    let streets = scope(&cso("streets"), Action::ReadNotices, None);
    assert_eq!(store.notice_templates(&streets, Some(&w)).await, Err(StoreError::NotFound));

    assert_eq!(
        store.delete_notice_template(&ctx_, &w, Some(&w), NoticeEvent::Resolved, "es", Some(1)).await,
        Err(StoreError::Conflict)
    );
    store.delete_notice_template(&ctx_, &w, Some(&w), NoticeEvent::Resolved, "es", Some(2)).await.unwrap();
    assert!(store.notice_templates(&s, Some(&w)).await.unwrap().is_empty());
    assert_eq!(
        store.delete_notice_template(&ctx_, &w, Some(&w), NoticeEvent::Resolved, "es", None).await,
        Err(StoreError::NotFound)
    );
}
