//! Each department's seed: the department, its categories and standards, its CSO and staff.
use crate::city::Dept;
use crate::{DemoError, chief_caller, did, key, scope, store_err, wctx};
use cityserve_domain::{
    Action, AppointmentId, AuditAction, Channel, NewAppointment, NewDepartment, NewOfficer, NewServiceCategory,
    NewServiceStandard, OfficerId, OfficerKind, Seat, ServiceCategoryId, ServiceStandardId, ServiceTargets,
};
use cityserve_store::StoreError;
use cityserve_store::coordination::CoordinationStore;

/// Creates `d` with its categories, standards and officers.
pub(crate) async fn seed_department<S: CoordinationStore>(store: &S, d: &Dept) -> Result<(), DemoError> {
    let chief = chief_caller();
    let id = did(d.id);
    let s = scope(&chief, Action::CreateDepartment, Some(&id))?;
    let targets = ServiceTargets::new(d.targets.0 * 3600, d.targets.1 * 3600)
        .map_err(|_| DemoError::Store("targets", StoreError::Internal("bad demo targets".into())))?;
    store
        .create_department(
            &wctx(&s, &chief, AuditAction::DepartmentCreate),
            &key(&format!("dept-{}", d.id)),
            &NewDepartment {
                id: id.clone(),
                display_name: d.name.into(),
                description: format!("{} (demo city)", d.name),
                default_targets: targets,
            },
        )
        .await
        .map_err(store_err("department"))?;
    for (c, name, keywords, _) in d.categories {
        let cid =
            ServiceCategoryId::parse("category", c).map_err(|_| DemoError::Store("category", StoreError::NotFound))?;
        store
            .create_service_category(
                &wctx(&s, &chief, AuditAction::ServiceCategoryCreate),
                &key(&format!("cat-{}-{c}", d.id)),
                &NewServiceCategory {
                    department_id: id.clone(),
                    id: cid.clone(),
                    display_name: (*name).into(),
                    description: format!("{name} in the city"),
                    keywords: keywords.split(',').map(str::to_owned).collect(),
                },
            )
            .await
            .map_err(store_err("category"))?;
    }
    // Phone calls are promised a faster acknowledgement.
    let (c, ..) = d.categories[0];
    let phone = ServiceTargets::new((d.targets.0 * 3600 / 4).max(60), d.targets.1 * 3600)
        .map_err(|_| DemoError::Store("targets", StoreError::Internal("bad demo targets".into())))?;
    store
        .create_service_standard(
            &wctx(&s, &chief, AuditAction::ServiceCategoryCreate),
            &key(&format!("std-{}", d.id)),
            &NewServiceStandard {
                department_id: id.clone(),
                id: ServiceStandardId::parse("id", &format!("{c}-phone"))
                    .map_err(|_| DemoError::Store("standard", StoreError::NotFound))?,
                category: ServiceCategoryId::parse("category", c).ok(),
                channel: Some(Channel::Phone),
                targets: phone,
            },
        )
        .await
        .map_err(store_err("standard"))?;
    let officer = |oid: &str, name: &str, title: &str| NewOfficer {
        department_id: id.clone(),
        id: OfficerId::parse("officer", oid).unwrap_or_else(|_| unreachable!("demo officer IDs are slugs")),
        display_name: name.into(),
        email: format!("{oid}@city.example"),
        title: title.into(),
        kind: OfficerKind::Staff,
    };
    for (oid, name, title) in [
        (format!("cso-{}", d.id), format!("CSO of {}", d.name), "Customer Service Officer"),
        (format!("staff-{}-1", d.id), format!("Frontline 1, {}", d.name), "Customer Service Representative"),
        (format!("staff-{}-2", d.id), format!("Frontline 2, {}", d.name), "Customer Service Representative"),
    ] {
        store
            .create_officer(&wctx(&s, &chief, AuditAction::OfficerCreate), &key(&oid), &officer(&oid, &name, title))
            .await
            .map_err(store_err("officer"))?;
    }
    let appoint = scope(&chief, Action::AppointCso, Some(&id))?;
    store
        .appoint(
            &wctx(&appoint, &chief, AuditAction::AppointmentCso),
            &key(&format!("appoint-{}", d.id)),
            &NewAppointment {
                department_id: id.clone(),
                id: AppointmentId::parse("id", &format!("ap-demo-{}", d.id))
                    .map_err(|_| DemoError::Store("appointment", StoreError::NotFound))?,
                seat: Seat::Cso,
                officer_id: OfficerId::parse("officer", &format!("cso-{}", d.id))
                    .map_err(|_| DemoError::Store("appointment", StoreError::NotFound))?,
                replaces: None,
            },
        )
        .await
        .map_err(store_err("appointment"))?;
    Ok(())
}
