//! Shared behaviour of [`crate::ImportStore`] backends.
use super::{chief, ctx, dept, scope, seed_department};
use crate::StoreError;
use crate::coordination::CoordinationStore;
use crate::import::{ImportStore, ImportedCase, ImportedContact};
use chrono::{Duration, TimeZone, Utc};
use cityserve_domain::report::{self, LiveFigures, ReportCard};
use cityserve_domain::{
    Action, CaseId, CaseStatus, Channel, FeedbackId, FeedbackKind, Location, NewFeedback, ServiceCategoryId,
};

fn contact(id: &str, kind: FeedbackKind, channel: Channel, csat: Option<i32>) -> NewFeedback {
    NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: dept("water"),
        id: FeedbackId::parse("id", id).unwrap(),
        channel,
        kind,
        csat,
        nps: None,
        text: format!("historical {id}"),
        language: "en".into(),
        category: None,
        location: Location::default(),
        occurred_at: Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
        resident: None,
        internal_customer: None,
        survey: None,
        served: Default::default(),
        source: None,
    }
}

pub async fn history_imports_in_bulk_with_its_counters<S: ImportStore + CoordinationStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::SubmitFeedback, Some(&dept("water")));
    let w = ctx(&s, &c, "feedback.import");
    let received = Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap();
    let resolved_case = ImportedCase {
        status: CaseStatus::Closed,
        acknowledge_due: received + Duration::hours(24),
        resolve_due: received + Duration::hours(240),
        acknowledged_at: Some(received + Duration::minutes(30)),
        resolved_at: Some(received + Duration::hours(300)),
        closed_at: Some(received + Duration::hours(301)),
        reopen_count: 0,
        first_contact_at: None,
        assignee: None,
        follow_up: Some(FeedbackId::parse("id", "fb-h2").unwrap()),
        satisfied: Some(true),
    };
    let items: Vec<ImportedContact> = (0..1_000)
        .map(|i| {
            let (kind, case) = match i {
                0 => (FeedbackKind::Complaint, Some(resolved_case.clone())),
                _ => (FeedbackKind::SurveyResponse, None),
            };
            ImportedContact {
                feedback: contact(
                    &format!("fb-h{i}"),
                    kind,
                    if i % 2 == 0 { Channel::Phone } else { Channel::Web },
                    Some(5),
                ),
                resident_key: (i < 3).then(|| "r-historical".to_owned()),
                received_at: received + Duration::seconds(i),
                case,
            }
        })
        .collect();
    assert_eq!(store.import_contacts(&w, &dept("water"), &items).await.unwrap(), 1_000);

    let read = scope(&c, Action::ReadCases, Some(&dept("water")));
    let case = store.get_case(&read, &dept("water"), &CaseId::parse("c", "fb-h0").unwrap()).await.unwrap();
    assert_eq!(case.status, CaseStatus::Closed);
    assert_eq!(case.received_at, received);
    let fb = store.get_feedback(&read, &dept("water"), &FeedbackId::parse("id", "fb-h999").unwrap()).await.unwrap();
    assert_eq!(fb.received_at, received + Duration::seconds(999));

    let day = report::day_of(received);
    let all = scope(&c, Action::ReadReportCards, None);
    let rows = store.rollup_metrics(&all, Some(&[dept("water")]), day, day + 30).await.unwrap();
    let card = ReportCard::from_metrics(&rows[0].1, LiveFigures::default());
    assert_eq!(card.volume, 1_000);
    assert_eq!(card.by_channel, vec![(Channel::Phone, 500), (Channel::Web, 500)]);
    assert_eq!(card.csat_average, Some(5.0));
    assert_eq!((card.cases_opened, card.acknowledged, card.resolved), (1, 1, 1));
    assert_eq!(card.acknowledge_sla_percent, Some(100.0));
    assert_eq!(card.resolve_sla_percent, Some(0.0), "resolved after its due time");
    assert_eq!(card.closed_loop_share, Some(1.0));

    // A bad item fails the whole batch; an existing ID too.
    let mut bad = contact("fb-x1", FeedbackKind::Compliment, Channel::Web, None);
    bad.category = Some(ServiceCategoryId::parse("id", "nope").unwrap());
    let bad_batch = [
        ImportedContact {
            feedback: contact("fb-x0", FeedbackKind::Compliment, Channel::Web, None),
            resident_key: None,
            received_at: received,
            case: None,
        },
        ImportedContact { feedback: bad, resident_key: None, received_at: received, case: None },
    ];
    assert!(matches!(
        store.import_contacts(&w, &dept("water"), &bad_batch).await,
        Err(StoreError::FailedPrecondition(_))
    ));
    assert_eq!(
        store.get_feedback(&read, &dept("water"), &FeedbackId::parse("id", "fb-x0").unwrap()).await,
        Err(StoreError::NotFound),
        "nothing of a failed batch is written"
    );
    let again = [ImportedContact {
        feedback: contact("fb-h5", FeedbackKind::Compliment, Channel::Web, None),
        resident_key: None,
        received_at: received,
        case: None,
    }];
    assert_eq!(store.import_contacts(&w, &dept("water"), &again).await, Err(StoreError::AlreadyExists));
    // An existing ID after new ones, in one statement: the new rows that went in before it do
    // not stand either.
    let mut behind = vec![
        ImportedContact {
            feedback: contact("fb-z0", FeedbackKind::Compliment, Channel::Web, None),
            resident_key: None,
            received_at: received,
            case: None,
        },
        ImportedContact {
            feedback: contact("fb-z1", FeedbackKind::Compliment, Channel::Web, None),
            resident_key: None,
            received_at: received,
            case: None,
        },
    ];
    behind.extend(again);
    assert_eq!(store.import_contacts(&w, &dept("water"), &behind).await, Err(StoreError::AlreadyExists));
    for id in ["fb-z0", "fb-z1"] {
        assert_eq!(
            store.get_feedback(&read, &dept("water"), &FeedbackId::parse("id", id).unwrap()).await,
            Err(StoreError::NotFound),
            "{id}: nothing of an import refused for a duplicate is written"
        );
    }
    let complaint_without_case = [ImportedContact {
        feedback: contact("fb-y", FeedbackKind::Complaint, Channel::Web, None),
        resident_key: None,
        received_at: received,
        case: None,
    }];
    assert!(matches!(
        store.import_contacts(&w, &dept("water"), &complaint_without_case).await,
        Err(StoreError::FailedPrecondition(_))
    ));
}
