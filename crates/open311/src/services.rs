//! The service catalogue: `GET services`, `GET services/{code}` and `GET discovery`.
use crate::error::Fail;
use crate::format::V;
use crate::params::{Params, w3c};
use crate::{Gateway, check_jurisdiction};
use chrono::{DateTime, Utc};
use cityserve_domain::{
    Department, DepartmentId, DepartmentStatus, PageRequest, ServiceAttribute, ServiceCategory, ServiceCategoryId,
    ServiceCategoryStatus,
};
use cityserve_store::Open311Store;
use std::collections::HashMap;

/// A service's code: `{department}.{category}`.
pub(crate) fn service_code(d: &DepartmentId, c: &ServiceCategoryId) -> String {
    format!("{d}.{c}")
}

/// The department and category a service code names.
pub(crate) fn parse_code(code: &str) -> Option<(DepartmentId, ServiceCategoryId)> {
    let (d, c) = code.split_once('.')?;
    Some((DepartmentId::parse("service_code", d).ok()?, ServiceCategoryId::parse("service_code", c).ok()?))
}

/// Departments with their categories: only active ones (the service list), or all of them
/// (archived departments and retired categories still name their old requests).
pub(crate) async fn catalogue<S: Open311Store>(
    store: &S,
    active_only: bool,
) -> Result<Vec<(Department, Vec<ServiceCategory>)>, Fail> {
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let department_status = active_only.then_some(DepartmentStatus::Active);
    let category_status = active_only.then_some(ServiceCategoryStatus::Active);
    let mut departments = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_departments(&scope, department_status, &PageRequest { size: 500, after })
            .await
            .map_err(Fail::store)?;
        departments.extend(page.items);
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    let mut out = Vec::with_capacity(departments.len());
    for d in departments {
        let mut categories = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_service_categories(&scope, &d.id, category_status, &PageRequest { size: 500, after })
                .await
                .map_err(Fail::store)?;
            categories.extend(page.items);
            match page.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        out.push((d, categories));
    }
    Ok(out)
}

/// Service names by `(department, category)`, and department names.
pub(crate) struct Names {
    pub(crate) services: HashMap<(DepartmentId, ServiceCategoryId), String>,
    pub(crate) departments: HashMap<DepartmentId, String>,
}

/// The names of every service and department, retired ones included.
pub(crate) async fn names<S: Open311Store>(store: &S) -> Result<Names, Fail> {
    let mut services = HashMap::new();
    let mut departments = HashMap::new();
    for (d, categories) in catalogue(store, false).await? {
        for c in categories {
            services.insert((d.id.clone(), c.id), c.display_name);
        }
        departments.insert(d.id, d.display_name);
    }
    Ok(Names { services, departments })
}

fn service_to_v(d: &Department, c: &ServiceCategory) -> V {
    V::Obj(vec![
        ("service_code", V::Str(service_code(&d.id, &c.id))),
        ("service_name", V::Str(c.display_name.clone())),
        ("description", V::Str(c.description.clone())),
        // A service with attributes has a definition worth fetching.
        ("metadata", V::Bool(!c.attributes.is_empty())),
        ("type", V::Str("realtime".into())),
        ("keywords", V::Str(c.keywords.join(", "))),
        ("group", V::Str(d.display_name.clone())),
    ])
}

/// `GET services`: every active category of every active department.
pub(crate) async fn services<S: Open311Store>(g: &Gateway<S>, ps: &Params) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let items = catalogue(&g.store, true)
        .await?
        .iter()
        .flat_map(|(d, cs)| cs.iter().map(move |c| service_to_v(d, c)))
        .collect();
    Ok(V::List { item: "service", items })
}

/// `GET services/{code}`: the service's definition.
pub(crate) async fn definition<S: Open311Store>(g: &Gateway<S>, code: &str, ps: &Params) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let (d, c) = parse_code(code).ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?;
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let category = match g.store.get_service_category(&scope, &d, &c).await {
        Ok(cat) if cat.status == ServiceCategoryStatus::Active => cat,
        Ok(_) | Err(cityserve_store::StoreError::NotFound) => {
            return Err(Fail::not_found(format!("service_code {code} not found")));
        }
        Err(e) => return Err(Fail::store(e)),
    };
    Ok(V::Obj(vec![
        ("service_code", V::Str(service_code(&category.department_id, &category.id))),
        ("attributes", V::List { item: "attribute", items: category.attributes.iter().map(attribute_to_v).collect() }),
    ]))
}

/// An attribute as the spec's service definition lists it.
fn attribute_to_v(a: &ServiceAttribute) -> V {
    let hint = (!a.datatype_description.is_empty()).then(|| a.datatype_description.clone());
    V::Obj(vec![
        ("variable", V::Bool(a.variable)),
        ("code", V::Str(a.code.clone())),
        ("datatype", V::Str(a.datatype.as_str().into())),
        ("required", V::Bool(a.required)),
        ("datatype_description", V::opt(hint)),
        ("order", V::Int(i64::from(a.order))),
        ("description", V::Str(a.description.clone())),
        (
            "values",
            V::List {
                item: "value",
                items: a
                    .values
                    .iter()
                    .map(|c| V::Obj(vec![("key", V::Str(c.key.clone())), ("name", V::Str(c.name.clone()))]))
                    .collect(),
            },
        ),
    ])
}

/// `GET discovery`: where the endpoint is (absolute: the configured public URL, else the host the
/// client reached), and when the catalogue last changed (the newest change of any department or
/// category, so a client caching the service list knows when to fetch it again).
pub(crate) async fn discovery<S: Open311Store>(g: &Gateway<S>, host: Option<&str>) -> Result<V, Fail> {
    let changed: DateTime<Utc> = catalogue(&g.store, false)
        .await?
        .iter()
        .flat_map(|(d, cs)| std::iter::once(d.update_time).chain(cs.iter().map(|c| c.update_time)))
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let base = match (g.settings.public_url.trim_end_matches('/'), host) {
        ("", Some(host)) => format!("http://{host}"),
        ("", None) => "http://localhost".to_owned(),
        (url, _) => url.to_owned(),
    };
    let changeset = V::Str(w3c(changed));
    Ok(V::Obj(vec![
        ("changeset", changeset.clone()),
        ("contact", V::Str("The city's Chief Customer Service Officer".into())),
        ("key_service", V::Str("API keys are issued by the Chief Customer Service Officer".into())),
        (
            "endpoints",
            V::List {
                item: "endpoint",
                items: vec![V::Obj(vec![
                    ("specification", V::Str("http://wiki.open311.org/GeoReport_v2".into())),
                    ("url", V::Str(format!("{base}/open311/v2"))),
                    ("changeset", changeset),
                    ("type", V::Str("production".into())),
                    (
                        "formats",
                        V::List {
                            item: "format",
                            items: vec![V::Str("application/json".into()), V::Str("text/xml".into())],
                        },
                    ),
                ])],
            },
        ),
        ("jurisdiction_id", V::Str(g.settings.jurisdiction_id.clone())),
    ]))
}
