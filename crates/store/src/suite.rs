//! The behaviour every backend must show, written once and run against each backend through
//! [`crate::backend_tests!`]. Panics on failure (it is test code).
#![allow(clippy::unwrap_used, missing_docs)]

use crate::{DepartmentStore, Idempotency, StoreError, WriteCtx};
use cityserve_domain::{
    Action, Caller, Channel, DepartmentId, DepartmentStatus, NewDepartment, NewServiceCategory, NewServiceStandard,
    PageRequest, Role, ServiceCategoryId, ServiceCategoryStatus, ServiceStandardId, ServiceTargets, TenantScope,
    authorize,
};

mod audit;
mod calendar;
mod coordination;
mod feedback;
mod idempotency;
mod import;
mod initiatives;
mod lease;
mod monthly_rollups;
mod notices;
mod officers;
mod open311;
mod panels;
mod rollup_rebuild;
mod touchpoints;
pub use audit::*;
pub use calendar::*;
pub use coordination::*;
pub use feedback::*;
pub use idempotency::*;
pub use import::*;
pub use initiatives::*;
pub use lease::*;
pub use monthly_rollups::*;
pub use notices::*;
pub use officers::*;
pub use open311::*;
pub use panels::*;
pub use rollup_rebuild::*;
pub use touchpoints::*;

fn dept(id: &str) -> DepartmentId {
    DepartmentId::parse("id", id).unwrap()
}

fn chief() -> Caller {
    Caller { subject: "chief-1".into(), role: Role::Chief, departments: vec![] }
}

fn cso(of: &str) -> Caller {
    Caller { subject: format!("cso-{of}"), role: Role::Cso, departments: vec![dept(of)] }
}

fn scope(caller: &Caller, action: Action, target: Option<&DepartmentId>) -> TenantScope {
    authorize(caller, action, target).unwrap()
}

fn ctx<'a>(scope: &'a TenantScope, actor: &'a Caller, action: &'static str) -> WriteCtx<'a> {
    WriteCtx { scope, actor, action, trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()) }
}

fn idem(request_id: &str, hash: &str) -> Idempotency {
    Idempotency { request_id: request_id.into(), request_hash: hash.into() }
}

fn new_dept(id: &str) -> NewDepartment {
    NewDepartment {
        id: dept(id),
        display_name: format!("Department of {id}"),
        description: "Keeps the city running".into(),
        default_targets: ServiceTargets::new(86_400, 10 * 86_400).unwrap(),
    }
}

fn page(size: u32, after: Option<String>) -> PageRequest {
    PageRequest { size, after }
}

/// Creates `id` as the Chief with a fresh request id.
pub async fn seed_department<S: DepartmentStore>(store: &S, id: &str) {
    let c = chief();
    let s = scope(&c, Action::CreateDepartment, Some(&dept(id)));
    store
        .create_department(&ctx(&s, &c, "department.create"), &idem(&format!("seed-{id}"), id), &new_dept(id))
        .await
        .unwrap();
}

pub async fn department_crud_and_listing<S: DepartmentStore>(store: &S) {
    let c = chief();
    let s = scope(&c, Action::CreateDepartment, Some(&dept("streets")));
    let created = store
        .create_department(&ctx(&s, &c, "department.create"), &idem("r1", "h1"), &new_dept("streets"))
        .await
        .unwrap();
    assert_eq!(created.id, dept("streets"));
    assert_eq!(created.status, DepartmentStatus::Active);
    assert_eq!(created.default_targets.acknowledge_secs(), 86_400);
    assert!(created.revision >= 1);

    let read = store.get_department(&s, &dept("streets")).await.unwrap();
    assert_eq!(read, created);
    let missing = scope(&c, Action::ReadDepartment, Some(&dept("nowhere")));
    assert_eq!(store.get_department(&missing, &dept("nowhere")).await, Err(StoreError::NotFound));

    let mut changed = read.clone();
    changed.display_name = "Streets Department".into();
    changed.status = DepartmentStatus::Archived;
    changed.default_targets = ServiceTargets::new(3_600, 7_200).unwrap();
    let updated = store.update_department(&ctx(&s, &c, "department.update"), &changed, read.revision).await.unwrap();
    assert_eq!(updated.display_name, "Streets Department");
    assert_eq!(updated.status, DepartmentStatus::Archived);
    assert_eq!(updated.default_targets.resolve_secs(), 7_200);
    assert!(updated.revision > read.revision);
    assert!(updated.update_time >= read.update_time);
    assert_eq!(updated.create_time, read.create_time);
    assert_eq!(store.get_department(&s, &dept("streets")).await.unwrap(), updated);

    seed_department(store, "water").await;
    let all = scope(&c, Action::ReadDepartment, None);
    let active = store.list_departments(&all, Some(DepartmentStatus::Active), &page(10, None)).await.unwrap();
    assert_eq!(active.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["water"]);
    let archived = store.list_departments(&all, Some(DepartmentStatus::Archived), &page(10, None)).await.unwrap();
    assert_eq!(archived.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["streets"]);
    let both = store.list_departments(&all, None, &page(10, None)).await.unwrap();
    assert_eq!(both.items.len(), 2);
    assert_eq!(both.next_after, None);
}

pub async fn pagination_is_stable_and_complete<S: DepartmentStore>(store: &S) {
    for i in 0..7 {
        seed_department(store, &format!("d{i}")).await;
    }
    let all = scope(&chief(), Action::ReadDepartment, None);
    let first = store.list_departments(&all, None, &page(3, None)).await.unwrap();
    assert_eq!(first.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["d0", "d1", "d2"]);
    assert_eq!(first.next_after.as_deref(), Some("d2"));
    // An insert before the cursor must not shift the next page.
    seed_department(store, "d00").await;
    let second = store.list_departments(&all, None, &page(3, first.next_after.clone())).await.unwrap();
    assert_eq!(second.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["d3", "d4", "d5"]);
    let third = store.list_departments(&all, None, &page(3, second.next_after.clone())).await.unwrap();
    assert_eq!(third.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["d6"]);
    assert_eq!(third.next_after, None);
}

pub async fn create_is_idempotent<S: DepartmentStore>(store: &S) {
    let c = chief();
    let s = scope(&c, Action::CreateDepartment, Some(&dept("parks")));
    let w = ctx(&s, &c, "department.create");
    let a = store.create_department(&w, &idem("same", "h"), &new_dept("parks")).await.unwrap();
    let b = store.create_department(&w, &idem("same", "h"), &new_dept("parks")).await.unwrap();
    assert_eq!(a, b, "a retry returns the original result");
    assert_eq!(
        store.create_department(&w, &idem("same", "other-body"), &new_dept("parks")).await,
        Err(StoreError::IdempotencyMismatch)
    );
    assert_eq!(
        store.create_department(&w, &idem("new-key", "h"), &new_dept("parks")).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(store.count_audit_records(&s, &dept("parks")).await.unwrap(), 1, "retries write nothing");
}

pub async fn concurrent_retries_create_once<S: DepartmentStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::ManageServiceCatalog, Some(&dept("water")));
    let new = NewServiceCategory {
        department_id: dept("water"),
        id: ServiceCategoryId::parse("id", "leak").unwrap(),
        display_name: "Leak".into(),
        description: String::new(),
        keywords: vec!["leak".into()],
        attributes: Vec::new(),
        public: false,
    };
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, s, c, new) = (store.clone(), s.clone(), c.clone(), new.clone());
        tasks.push(tokio::spawn(async move {
            store.create_service_category(&ctx(&s, &c, "catalog.create"), &idem("retry-me", "h"), &new).await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap().unwrap());
    }
    assert!(results.windows(2).all(|w| w[0] == w[1]), "every retry sees the same category");
    let listed = store.list_service_categories(&s, &dept("water"), None, &page(10, None)).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(store.count_events(&s, &dept("water")).await.unwrap(), 2, "department + one category");
}

pub async fn stale_revision_is_rejected<S: DepartmentStore>(store: &S) {
    seed_department(store, "revenue").await;
    let c = chief();
    let s = scope(&c, Action::UpdateDepartment, Some(&dept("revenue")));
    let w = ctx(&s, &c, "department.update");
    let v1 = store.get_department(&s, &dept("revenue")).await.unwrap();
    let mut a = v1.clone();
    a.description = "first writer".into();
    let v2 = store.update_department(&w, &a, v1.revision).await.unwrap();
    let mut b = v1.clone();
    b.description = "second writer, stale".into();
    assert_eq!(store.update_department(&w, &b, v1.revision).await, Err(StoreError::Conflict));
    assert_eq!(store.get_department(&s, &dept("revenue")).await.unwrap(), v2, "the stale write changed nothing");
}

pub async fn scope_hides_other_tenants<S: DepartmentStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    let c = chief();
    let water_scope = scope(&c, Action::ManageServiceCatalog, Some(&dept("water")));
    let cat = NewServiceCategory {
        department_id: dept("water"),
        id: ServiceCategoryId::parse("id", "leak").unwrap(),
        display_name: "Leak".into(),
        description: String::new(),
        keywords: vec![],
        attributes: Vec::new(),
        public: false,
    };
    store.create_service_category(&ctx(&water_scope, &c, "catalog.create"), &idem("c1", "h"), &cat).await.unwrap();

    // A CSO of Streets: a scope that reaches only Streets. Misusing it for Water must fail.
    let streets_cso = cso("streets");
    let streets = scope(&streets_cso, Action::ReadServiceCatalog, Some(&dept("streets")));
    assert_eq!(store.get_department(&streets, &dept("water")).await, Err(StoreError::NotFound));
    assert_eq!(store.get_service_category(&streets, &dept("water"), &cat.id).await, Err(StoreError::NotFound));
    let listed = store.list_service_categories(&streets, &dept("water"), None, &page(10, None)).await;
    assert!(matches!(listed, Err(StoreError::NotFound)) || listed.is_ok_and(|p| p.items.is_empty()));
    let own = scope(&streets_cso, Action::ReadDepartment, None);
    let visible = store.list_departments(&own, None, &page(10, None)).await.unwrap();
    assert_eq!(visible.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["streets"]);

    let mut water = store.get_department(&water_scope, &dept("water")).await.unwrap();
    let rev = water.revision;
    water.display_name = "hijacked".into();
    let streets_w = scope(&streets_cso, Action::UpdateDepartment, Some(&dept("streets")));
    assert_eq!(
        store.update_department(&ctx(&streets_w, &streets_cso, "department.update"), &water, rev).await,
        Err(StoreError::NotFound)
    );
    assert_ne!(store.get_department(&water_scope, &dept("water")).await.unwrap().display_name, "hijacked");
}

pub async fn categories_and_standards<S: DepartmentStore>(store: &S) {
    seed_department(store, "streets").await;
    let c = cso("streets");
    let s = scope(&c, Action::ManageServiceCatalog, Some(&dept("streets")));
    let pothole = ServiceCategoryId::parse("id", "pothole").unwrap();
    let cat = store
        .create_service_category(
            &ctx(&s, &c, "catalog.create"),
            &idem("c1", "h"),
            &NewServiceCategory {
                department_id: dept("streets"),
                id: pothole.clone(),
                display_name: "Pothole".into(),
                description: "Holes in the road".into(),
                keywords: vec!["pothole".into(), "road".into()],
                attributes: Vec::new(),
                public: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(cat.keywords, ["pothole", "road"]);
    assert_eq!(cat.status, ServiceCategoryStatus::Active);
    let mut retired = cat.clone();
    retired.status = ServiceCategoryStatus::Retired;
    retired.keywords = vec!["hole".into()];
    let retired = store.update_service_category(&ctx(&s, &c, "catalog.retire"), &retired, cat.revision).await.unwrap();
    assert_eq!(retired.status, ServiceCategoryStatus::Retired);
    assert_eq!(store.get_service_category(&s, &dept("streets"), &pothole).await.unwrap(), retired);
    let active =
        store.list_service_categories(&s, &dept("streets"), Some(ServiceCategoryStatus::Active), &page(10, None)).await;
    assert!(active.unwrap().items.is_empty());

    let new_std = NewServiceStandard {
        department_id: dept("streets"),
        id: ServiceStandardId::parse("id", "pothole-phone").unwrap(),
        category: Some(pothole.clone()),
        channel: Some(Channel::Phone),
        targets: ServiceTargets::new(600, 3_600).unwrap(),
    };
    let st = store.create_service_standard(&ctx(&s, &c, "standard.create"), &idem("s1", "h"), &new_std).await.unwrap();
    assert_eq!(st.category.as_ref(), Some(&pothole));
    assert_eq!(st.channel, Some(Channel::Phone));
    let web = NewServiceStandard {
        id: ServiceStandardId::parse("id", "web").unwrap(),
        category: None,
        channel: Some(Channel::ThreeOneOne),
        ..new_std.clone()
    };
    store.create_service_standard(&ctx(&s, &c, "standard.create"), &idem("s2", "h"), &web).await.unwrap();
    let mut changed = st.clone();
    changed.targets = ServiceTargets::new(60, 120).unwrap();
    let changed = store.update_service_standard(&ctx(&s, &c, "standard.update"), &changed, st.revision).await.unwrap();
    assert_eq!(changed.targets.acknowledge_secs(), 60);
    assert_eq!(
        store.update_service_standard(&ctx(&s, &c, "standard.update"), &changed, st.revision).await,
        Err(StoreError::Conflict)
    );
    let all = store.all_service_standards(&s, &dept("streets")).await.unwrap();
    assert_eq!(all.len(), 2);
    let p1 = store.list_service_standards(&s, &dept("streets"), &page(1, None)).await.unwrap();
    assert_eq!(p1.items[0].id.as_str(), "pothole-phone");
    let p2 = store.list_service_standards(&s, &dept("streets"), &page(1, p1.next_after)).await.unwrap();
    assert_eq!(p2.items[0].id.as_str(), "web");
    assert_eq!(p2.next_after, None);

    assert_eq!(
        store
            .delete_service_standard(&ctx(&s, &c, "standard.delete"), &dept("streets"), &st.id, Some(st.revision))
            .await,
        Err(StoreError::Conflict)
    );
    store.delete_service_standard(&ctx(&s, &c, "standard.delete"), &dept("streets"), &st.id, None).await.unwrap();
    assert_eq!(store.get_service_standard(&s, &dept("streets"), &st.id).await, Err(StoreError::NotFound));
    assert_eq!(
        store.delete_service_standard(&ctx(&s, &c, "standard.delete"), &dept("streets"), &st.id, None).await,
        Err(StoreError::NotFound)
    );
}

pub async fn standard_pairs_are_unique<S: DepartmentStore>(store: &S) {
    seed_department(store, "water").await;
    let c = chief();
    let s = scope(&c, Action::ManageServiceCatalog, Some(&dept("water")));
    let a = NewServiceStandard {
        department_id: dept("water"),
        id: ServiceStandardId::parse("id", "phone").unwrap(),
        category: None,
        channel: Some(Channel::Phone),
        targets: ServiceTargets::new(60, 600).unwrap(),
    };
    store.create_service_standard(&ctx(&s, &c, "standard.create"), &idem("a", "h"), &a).await.unwrap();
    let same_pair = NewServiceStandard { id: ServiceStandardId::parse("id", "phone-two").unwrap(), ..a.clone() };
    assert_eq!(
        store.create_service_standard(&ctx(&s, &c, "standard.create"), &idem("b", "h"), &same_pair).await,
        Err(StoreError::AlreadyExists)
    );
}

pub async fn writes_are_audited_with_events<S: DepartmentStore>(store: &S) {
    seed_department(store, "sanitation").await;
    let c = chief();
    let s = scope(&c, Action::UpdateDepartment, Some(&dept("sanitation")));
    let d = store.get_department(&s, &dept("sanitation")).await.unwrap();
    store.update_department(&ctx(&s, &c, "department.update"), &d, d.revision).await.unwrap();
    assert_eq!(store.count_audit_records(&s, &dept("sanitation")).await.unwrap(), 2);
    assert_eq!(store.count_events(&s, &dept("sanitation")).await.unwrap(), 2);
    // A failed write leaves no trace.
    let _ = store.update_department(&ctx(&s, &c, "department.update"), &d, d.revision).await;
    assert_eq!(store.count_audit_records(&s, &dept("sanitation")).await.unwrap(), 2);
}
