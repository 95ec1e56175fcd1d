//! The CSO's own work in the demo city: touchpoints where residents meet Water, Streets and
//! Revenue, a counter-service rubric in each, and observations with coaching (some already done),
//! so the moments-of-truth RPCs and the touchpoint figures have something to show.
use crate::{DemoError, cso, did, key, scope, store_err, wctx};
use chrono::{DateTime, Duration, Utc};
use cityserve_domain::observation::{
    CoachingAction, CoachingStatus, Observation, ObservationId, Rubric, RubricId, RubricItem, Score,
};
use cityserve_domain::{
    Action, AuditAction, Channel, OfficerId, Touchpoint, TouchpointId, TouchpointKind, TouchpointStatus,
};
use cityserve_store::{ObservationStore, TouchpointStore};

/// A demo touchpoint: ID, name, kind, channel, location.
type DemoTouchpoint = (&'static str, &'static str, TouchpointKind, Channel, &'static str);

/// Each department's touchpoints.
const TOUCHPOINTS: [(&str, [DemoTouchpoint; 3]); 3] = [
    (
        "water",
        [
            (
                "msb-counter",
                "Water Revenue counter, Municipal Services Building",
                TouchpointKind::Counter,
                Channel::InPerson,
                "1401 John F. Kennedy Blvd, concourse",
            ),
            ("billing-line", "Water billing phone line", TouchpointKind::PhoneLine, Channel::Phone, "(215) 685-6300"),
            ("leak-crew", "Leak response field crews", TouchpointKind::FieldCrew, Channel::InPerson, "City-wide"),
        ],
    ),
    (
        "streets",
        [
            (
                "permit-form",
                "Street-opening permit web form",
                TouchpointKind::WebForm,
                Channel::Web,
                "https://streets.example/permits",
            ),
            ("pothole-crew", "Pothole repair crews", TouchpointKind::FieldCrew, Channel::InPerson, "City-wide"),
            (
                "msb-counter",
                "Streets permit counter, Municipal Services Building",
                TouchpointKind::Counter,
                Channel::InPerson,
                "1401 John F. Kennedy Blvd, room 930",
            ),
        ],
    ),
    (
        "revenue",
        [
            (
                "msb-counter",
                "Revenue cashier counter, Municipal Services Building",
                TouchpointKind::Counter,
                Channel::InPerson,
                "1401 John F. Kennedy Blvd, concourse",
            ),
            ("tax-line", "Tax help phone line", TouchpointKind::PhoneLine, Channel::Phone, "(215) 686-6442"),
            ("payments-web", "Online payments", TouchpointKind::WebForm, Channel::Web, "https://revenue.example/pay"),
        ],
    ),
];

/// The rubric every demo department scores its counters on.
const ITEMS: [(&str, &str); 4] = [
    ("greeting", "Greeted within 30 seconds, by name where known"),
    ("clarity", "Explained what happens next in plain words"),
    ("first-contact-resolution", "Resolved at the first contact, or said who will and when"),
    ("courtesy", "Courteous throughout, also when saying no"),
];

fn id<T>(parse: fn(&str, &str) -> Result<T, cityserve_domain::ValidationError>, s: &str) -> T {
    parse("id", s).unwrap_or_else(|_| unreachable!("demo IDs are slugs"))
}

/// Touchpoints, rubrics and observations for the demo departments, recorded by each CSO.
pub(crate) async fn seed_moments<S: TouchpointStore + ObservationStore>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<usize, DemoError> {
    let mut recorded = 0;
    for (d, touchpoints) in TOUCHPOINTS {
        let department = did(d);
        let actor = cso(d);
        let manage = scope(&actor, Action::ManageTouchpoints, Some(&department))?;
        for (t, name, kind, channel, location) in touchpoints {
            let tp = Touchpoint {
                department_id: department.clone(),
                id: id(TouchpointId::parse, t),
                display_name: name.into(),
                kind,
                channel,
                location: location.into(),
                hours: Vec::new(),
                status: TouchpointStatus::Active,
                revision: 1,
                create_time: now,
                update_time: now,
            };
            store
                .create_touchpoint(
                    &wctx(&manage, &actor, AuditAction::TouchpointManage),
                    &key(&format!("tp-{d}-{t}")),
                    &tp,
                )
                .await
                .map_err(store_err("touchpoint"))?;
        }
        let rubric = Rubric {
            department_id: department.clone(),
            id: id(RubricId::parse, "counter-service"),
            version: 1,
            display_name: "Counter service".into(),
            items: ITEMS.iter().map(|(c, l)| RubricItem { code: (*c).into(), label: (*l).into() }).collect(),
            author: actor.subject.clone(),
            create_time: now,
        };
        let rubrics = scope(&actor, Action::ManageRubrics, Some(&department))?;
        store
            .create_rubric(&wctx(&rubrics, &actor, AuditAction::RubricManage), &key(&format!("rubric-{d}")), &rubric)
            .await
            .map_err(store_err("rubric"))?;
        let observe = scope(&actor, Action::ManageObservations, Some(&department))?;
        // Three visits a week apart to the first touchpoint: the greeting improves after coaching.
        for (week, greeting) in [(3i64, 2), (2, 3), (1, 4)] {
            let at = now - Duration::weeks(week);
            let staff = id(OfficerId::parse, &format!("staff-{d}-1"));
            let done = week > 1;
            let o = Observation {
                department_id: department.clone(),
                id: id(ObservationId::parse, &format!("ob-demo-{d}-{week}")),
                touchpoint: id(TouchpointId::parse, touchpoints[0].0),
                rubric: rubric.id.clone(),
                rubric_version: 1,
                observer: actor.subject.clone(),
                served_by: Some(staff.clone()),
                observe_time: at,
                scores: [("greeting", greeting), ("clarity", 4), ("first-contact-resolution", 3), ("courtesy", 5)]
                    .iter()
                    .map(|(c, s)| Score { code: (*c).into(), score: *s })
                    .collect(),
                notes: format!("Queue of {} at opening; the first resident waited before anyone looked up", 7 - week),
                coaching: vec![CoachingAction {
                    number: 1,
                    action: "Greet the queue as soon as it passes five; practise with the team lead".into(),
                    owner: staff,
                    due: (at + Duration::days(7)).date_naive(),
                    status: if done { CoachingStatus::Done } else { CoachingStatus::Open }.as_str().into(),
                    done_time: done.then(|| at + Duration::days(5)),
                }],
                revision: 1,
                create_time: at,
                update_time: at,
            };
            store
                .create_observation(
                    &wctx(&observe, &actor, AuditAction::ObservationRecord),
                    &key(&format!("ob-{d}-{week}")),
                    &o,
                )
                .await
                .map_err(store_err("observation"))?;
            recorded += 1;
        }
    }
    Ok(recorded)
}
