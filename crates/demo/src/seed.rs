//! Each department's seed: the department, its categories and standards, its CSO and staff.
use crate::city::Dept;
use crate::{DemoError, chief_caller, did, key, scope, store_err, wctx};
use cityserve_domain::{
    Action, AppointmentId, AuditAction, Channel, NewAppointment, NewDepartment, NewOfficer, NewServiceCategory,
    NewServiceStandard, OfficerId, OfficerKind, Seat, ServiceCategoryId, ServiceStandardId, ServiceTargets,
};
use cityserve_store::coordination::CoordinationStore;
use cityserve_store::{DepartmentStore, StoreError};

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
    let category_id = |c: &str| {
        ServiceCategoryId::parse("category", c).map_err(|_| DemoError::Store("category", StoreError::NotFound))
    };
    let mut categories = Vec::with_capacity(d.categories.len() + 1);
    for (c, name, keywords, _) in d.categories {
        categories.push(NewServiceCategory {
            department_id: id.clone(),
            id: category_id(c)?,
            display_name: (*name).into(),
            description: format!("{name} in the city"),
            keywords: keywords.split(',').map(str::to_owned).collect(),
            attributes: Vec::new(),
            public: crate::city::PUBLIC_CATEGORIES.contains(c),
        });
    }
    let (owner, c, name) = crate::city::HYDRANT;
    if owner == d.id {
        let attributes =
            cityserve_domain::attributes::check_definitions("attributes", &crate::city::hydrant_attributes())
                .map_err(|_| DemoError::Store("category", StoreError::Internal("bad demo attributes".into())))?;
        categories.push(NewServiceCategory {
            department_id: id.clone(),
            id: category_id(c)?,
            display_name: name.into(),
            description: "An open, leaking or damaged fire hydrant".into(),
            keywords: vec!["hydrant".into(), "fire".into(), "water".into()],
            attributes,
            public: true,
        });
    }
    for category in &categories {
        store
            .create_service_category(
                &wctx(&s, &chief, AuditAction::ServiceCategoryCreate),
                &key(&format!("cat-{}-{}", d.id, category.id)),
                category,
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
        identity_subject: String::new(),
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

/// The city's calendar: Philadelphia's time zone, City Hall's hours (Monday to Friday
/// 08:00-17:00) and the city's holidays; Water's emergency line runs around the clock, holidays
/// included; Licenses and Inspections keeps its targets in business days.
pub(crate) async fn seed_calendars<S: cityserve_store::CalendarStore + DepartmentStore>(
    store: &S,
) -> Result<(), DemoError> {
    use chrono::{NaiveDate, Weekday};
    use cityserve_domain::{CityCalendar, Clock, DepartmentCalendar, Holiday, OpeningHours};
    let chief = chief_caller();
    let weekdays = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];
    let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    let holiday = |d: NaiveDate, yearly: bool, name: &str| Holiday { date: d, yearly, name: name.to_owned() };
    let city = CityCalendar {
        time_zone: chrono_tz::America::New_York,
        hours: weekdays.iter().map(|&day| OpeningHours { day, opens: 8 * 60, closes: 17 * 60 }).collect(),
        holidays: vec![
            holiday(date(2020, 1, 1), true, "New Year's Day"),
            holiday(date(2020, 6, 19), true, "Juneteenth"),
            holiday(date(2020, 7, 4), true, "Independence Day"),
            holiday(date(2026, 9, 7), false, "Labor Day"),
            holiday(date(2026, 11, 26), false, "Thanksgiving Day"),
            holiday(date(2026, 11, 27), false, "Day after Thanksgiving"),
            holiday(date(2020, 12, 25), true, "Christmas Day"),
        ],
        revision: 0,
        update_time: None,
    };
    let all = scope(&chief, Action::ManageCityCalendar, None)?;
    store
        .update_city_calendar(&wctx(&all, &chief, AuditAction::CityCalendarUpdate), &city, 0)
        .await
        .map_err(store_err("city calendar"))?;
    let water = did("water");
    let s = scope(&chief, Action::ManageServiceCatalog, Some(&water))?;
    let always = DepartmentCalendar {
        hours: [weekdays.as_slice(), &[Weekday::Sat, Weekday::Sun]]
            .concat()
            .into_iter()
            .map(|day| OpeningHours { day, opens: 0, closes: 24 * 60 })
            .collect(),
        open_on_city_holidays: true,
        ..DepartmentCalendar::city_default(water)
    };
    store
        .update_department_calendar(&wctx(&s, &chief, AuditAction::DepartmentCalendarUpdate), &always, 0)
        .await
        .map_err(store_err("water calendar"))?;
    let licenses = did("licenses-inspections");
    let s = scope(&chief, Action::UpdateDepartment, Some(&licenses))?;
    let mut d = store.get_department(&s, &licenses).await.map_err(store_err("licenses"))?;
    d.default_targets = d.default_targets.on(Clock::Business);
    let rev = d.revision;
    store
        .update_department(&wctx(&s, &chief, AuditAction::DepartmentUpdate), &d, rev)
        .await
        .map_err(store_err("licenses targets"))?;
    Ok(())
}
