//! Shared behaviour of [`crate::AuditStore`] backends.
use super::{chief, cso, dept, page, scope, seed_department};
use crate::audit::{AuditEvent, AuditFilter, AuditStore, OUTCOME_OK, Refusal};
use cityserve_domain::policy::refusal_audit_scope;
use cityserve_domain::{Action, Caller, Role};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn auditor() -> Caller {
    Caller { subject: "auditor-1".into(), role: Role::Auditor, departments: vec![] }
}

async fn all<S: AuditStore>(store: &S, caller: &Caller, filter: &AuditFilter) -> Vec<AuditEvent> {
    let s = scope(caller, Action::ReadAudit, None);
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = store.list_audit_events(&s, filter, &page(2, after)).await.unwrap();
        out.extend(p.items);
        match p.next_after {
            Some(a) => after = Some(a),
            None => return out,
        }
    }
}

pub async fn audit_log_lists_newest_first_with_filters_and_refusals<S: AuditStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let (c, w) = (chief(), cso("water"));

    // A CSO of water acting on a streets case: refused, audited in the CSO's own department.
    let refused = Refusal {
        actor: &w,
        action: "case.acknowledge",
        resource: "departments/streets/cases/c-1",
        outcome: "not_found",
        trace_id: Some(TRACE),
    };
    let own = refusal_audit_scope(&w, &dept("water")).unwrap();
    store.record_refusal(&own, &dept("water"), &refused).await.unwrap();
    // City-wide callers are audited where the API puts them; an auditor's insert must pass RLS too.
    let a = auditor();
    let denied = Refusal {
        actor: &a,
        action: "department.update",
        resource: "departments/streets",
        outcome: "permission_denied",
        trace_id: None,
    };
    store.record_refusal(&refusal_audit_scope(&a, &dept("streets")).unwrap(), &dept("streets"), &denied).await.unwrap();

    let every = all(store, &c, &AuditFilter::default()).await;
    assert_eq!(every.len(), 4, "two creates and two refusals: {every:?}");
    assert!(every.windows(2).all(|p| p[0].id > p[1].id), "newest first, no duplicates across pages");
    let newest = &every[0];
    assert_eq!(
        (newest.department.as_str(), newest.actor_subject.as_str(), newest.actor_role.as_str()),
        ("streets", "auditor-1", "auditor")
    );
    assert_eq!((newest.outcome.as_str(), newest.trace_id.as_deref()), ("permission_denied", None));
    let r = &every[1];
    assert_eq!((r.department.as_str(), r.action.as_str()), ("water", "case.acknowledge"));
    assert_eq!((r.resource.as_str(), r.outcome.as_str()), ("departments/streets/cases/c-1", "not_found"));
    assert_eq!(
        (r.actor_subject.as_str(), r.actor_role.as_str(), r.trace_id.as_deref()),
        ("cso-water", "cso", Some(TRACE))
    );
    assert!(every[2..].iter().all(|e| e.outcome == OUTCOME_OK && e.action == "department.create"), "{every:?}");
    assert_eq!(all(store, &a, &AuditFilter::default()).await, every, "auditors read the same log");

    // Filters.
    let ids = |es: Vec<AuditEvent>| es.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let f = AuditFilter { outcome: Some("not_found".into()), ..AuditFilter::default() };
    assert_eq!(ids(all(store, &c, &f).await), [r.id]);
    let f = AuditFilter { actor_subject: Some("cso-water".into()), ..AuditFilter::default() };
    assert_eq!(ids(all(store, &c, &f).await), [r.id]);
    let f = AuditFilter { action_prefix: Some("department.".into()), ..AuditFilter::default() };
    assert_eq!(ids(all(store, &c, &f).await), [every[0].id, every[2].id, every[3].id]);
    let f = AuditFilter { action_prefix: Some("department_".into()), ..AuditFilter::default() };
    assert!(all(store, &c, &f).await.is_empty(), "a prefix is literal (no LIKE wildcards)");
    let f = AuditFilter { action_prefix: Some("%".into()), ..AuditFilter::default() };
    assert!(all(store, &c, &f).await.is_empty(), "a prefix is literal (no LIKE wildcards)");
    let f =
        AuditFilter { outcome: Some(OUTCOME_OK.into()), action_prefix: Some("case.".into()), ..AuditFilter::default() };
    assert!(all(store, &c, &f).await.is_empty(), "filters combine");
    let (oldest, newest_t) = (every[3].occurred_at, every[0].occurred_at);
    let f = AuditFilter { start: Some(newest_t + chrono::Duration::seconds(1)), ..AuditFilter::default() };
    assert!(all(store, &c, &f).await.is_empty());
    let f = AuditFilter { end: Some(oldest), ..AuditFilter::default() };
    assert!(all(store, &c, &f).await.is_empty(), "end is exclusive");
    let f = AuditFilter {
        start: Some(oldest),
        end: Some(newest_t + chrono::Duration::seconds(1)),
        ..AuditFilter::default()
    };
    assert_eq!(all(store, &c, &f).await.len(), 4, "start is inclusive");

    // One department's log.
    let water = scope(&c, Action::ReadAudit, Some(&dept("water")));
    let p = store.list_audit_events(&water, &AuditFilter::default(), &page(10, None)).await.unwrap();
    assert_eq!(ids(p.items), [every[1].id, every[3].id]);
    assert_eq!(p.next_after, None);

    // A refusal can only be recorded where its scope reaches.
    let err = store.record_refusal(&own, &dept("streets"), &refused).await.unwrap_err();
    assert_eq!(err, crate::StoreError::NotFound);
    assert_eq!(all(store, &c, &AuditFilter::default()).await.len(), 4);
}
