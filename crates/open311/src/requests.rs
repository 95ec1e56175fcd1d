//! The public list of service requests: `GET requests`, `GET requests/{id}` and `GET tokens/{id}`.
use crate::error::Fail;
use crate::format::V;
use crate::params::{Params, w3c, w3c_time};
use crate::services::{Names, names, parse_code, service_code};
use crate::{Gateway, check_jurisdiction};
use chrono::{DateTime, Duration, Utc};
use cityserve_domain::{CaseId, CaseStatus, DepartmentId};
use cityserve_store::Open311Store;
use cityserve_store::open311::{RequestQuery, RequestStatus, ServiceRequestRow};
use std::sync::Arc;

/// The longest range of `GET requests` (the spec's 90 days).
const MAX_RANGE_DAYS: i64 = 90;
/// The most requests one `GET requests` returns (the spec's default and our page size limit).
const MAX_PAGE_SIZE: u32 = 1_000;

/// The department and case a `service_request_id` (`{department}.{case}`) names.
pub(crate) fn parse_request_id(id: &str) -> Option<(DepartmentId, CaseId)> {
    let (d, c) = id.split_once('.')?;
    Some((DepartmentId::parse("service_request_id", d).ok()?, CaseId::parse("service_request_id", c).ok()?))
}

/// The `service_notice` of a request: when it is expected to be resolved. The same words in the
/// POST answer and in every later GET.
pub(crate) fn notice(resolve_due: DateTime<Utc>) -> String {
    format!("Expected to be resolved by {}.", w3c(resolve_due))
}

fn request_to_v(r: &ServiceRequestRow, names: &Names) -> V {
    let f = &r.feedback;
    let c = &r.case;
    let closed = matches!(c.status, CaseStatus::Resolved | CaseStatus::Closed);
    let code = f.category.as_ref().map(|cat| service_code(&f.department_id, cat));
    let service_name =
        f.category.as_ref().and_then(|cat| names.services.get(&(f.department_id.clone(), cat.clone())).cloned());
    let agency = c.owner_department.as_ref().unwrap_or(&f.department_id);
    V::Obj(vec![
        ("service_request_id", V::Str(format!("{}.{}", f.department_id, f.id))),
        ("status", V::Str(if closed { "closed" } else { "open" }.into())),
        ("status_notes", V::opt(r.status_note.clone())),
        ("service_name", V::opt(service_name)),
        ("service_code", V::opt(code)),
        ("description", V::Str(f.text.clone())),
        ("agency_responsible", V::Str(names.departments.get(agency).cloned().unwrap_or_else(|| agency.to_string()))),
        ("service_notice", V::Str(notice(c.resolve_due))),
        ("requested_datetime", V::Str(w3c(f.received_at))),
        ("updated_datetime", V::Str(w3c(c.update_time))),
        ("expected_datetime", V::Str(w3c(c.resolve_due))),
        ("address", V::Str(f.location.address.clone())),
        ("address_id", V::opt(Some(f.location.address_id.clone()).filter(|a| !a.is_empty()))),
        ("zipcode", V::Null),
        ("lat", f.location.latitude.map_or(V::Null, V::Num)),
        ("long", f.location.longitude.map_or(V::Null, V::Num)),
        ("media_url", V::opt(f.media.first().cloned())),
    ])
}

/// The store query for `ps`, or `None` when the filters can match nothing (a window that starts
/// in the future: a poller whose clock runs ahead gets an empty list, not an error).
fn query(ps: &Params, now: DateTime<Utc>) -> Result<Option<RequestQuery>, Fail> {
    let ids = ps.list("service_request_id");
    if !ids.is_empty() {
        // The spec: service_request_id overrides every other parameter.
        let ids = ids.into_iter().take(MAX_PAGE_SIZE as usize).filter_map(parse_request_id).collect();
        return Ok(Some(RequestQuery {
            ids: Some(ids),
            services: Vec::new(),
            from: now,
            to: now,
            statuses: Vec::new(),
            offset: 0,
            limit: MAX_PAGE_SIZE,
        }));
    }
    let mut services = Vec::new();
    for code in ps.list("service_code") {
        services.push(parse_code(code).ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?);
    }
    let end = ps.one("end_date").map(|v| w3c_time("end_date", v)).transpose()?;
    let start = ps.one("start_date").map(|v| w3c_time("start_date", v)).transpose()?;
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) if s > now => return Ok(None),
        (Some(s), None) => (s, (s + Duration::days(MAX_RANGE_DAYS)).min(now)),
        (None, Some(e)) => (e - Duration::days(MAX_RANGE_DAYS), e),
        (None, None) => (now - Duration::days(MAX_RANGE_DAYS), now),
    };
    if to < from {
        return Err(Fail::bad("end_date must not be before start_date"));
    }
    if to - from > Duration::days(MAX_RANGE_DAYS) {
        return Err(Fail::bad(format!("start_date and end_date may not span more than {MAX_RANGE_DAYS} days")));
    }
    let mut statuses = Vec::new();
    for s in ps.list("status") {
        statuses.push(match s {
            "open" => RequestStatus::Open,
            "closed" => RequestStatus::Closed,
            other => return Err(Fail::bad(format!("status {other} is not open or closed"))),
        });
    }
    // The `page`/`page_size` extension (1-based pages).
    let page_size = match ps.one("page_size") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| Fail::bad(format!("page_size must be a whole number between 1 and {MAX_PAGE_SIZE}")))?,
        None => MAX_PAGE_SIZE,
    };
    let page = match ps.one("page") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && *n <= 1_000_000)
            .ok_or_else(|| Fail::bad("page must be a whole number from 1"))?,
        None => 1,
    };
    Ok(Some(RequestQuery {
        ids: None,
        services,
        from,
        to,
        statuses,
        offset: (page - 1).saturating_mul(page_size),
        limit: page_size,
    }))
}

/// `GET requests`.
pub(crate) async fn requests<S: Open311Store>(g: &Gateway<S>, ps: &Params) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let Some(query) = query(ps, Utc::now())? else {
        return Ok(V::List { item: "request", items: Vec::new() });
    };
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let rows = g.store.service_requests(&scope, &query).await.map_err(Fail::store)?;
    let names = names_of(g, &rows).await?;
    Ok(V::List { item: "request", items: rows.iter().map(|r| request_to_v(r, &names)).collect() })
}

/// How long the names of services and departments are reused between requests: a public
/// tracker polls the list all day, and the names change rarely. A row naming a service or
/// department the cached names lack reads them again at once.
const NAMES_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// The names `rows` need: the cached ones while fresh and complete for them, else read again.
async fn names_of<S: Open311Store>(g: &Gateway<S>, rows: &[ServiceRequestRow]) -> Result<Arc<Names>, Fail> {
    let cached = g.names.lock().map(|c| c.clone()).unwrap_or_default();
    if let Some((at, names)) = cached {
        let known = |r: &ServiceRequestRow| {
            let f = &r.feedback;
            let agency = r.case.owner_department.as_ref().unwrap_or(&f.department_id);
            names.departments.contains_key(agency)
                && f.category
                    .as_ref()
                    .is_none_or(|c| names.services.contains_key(&(f.department_id.clone(), c.clone())))
        };
        if at.elapsed() < NAMES_TTL && rows.iter().all(known) {
            return Ok(names);
        }
    }
    let fresh = Arc::new(names(&g.store).await?);
    if let Ok(mut c) = g.names.lock() {
        *c = Some((std::time::Instant::now(), fresh.clone()));
    }
    Ok(fresh)
}

/// `GET requests/{id}`: the list of one, or 404.
pub(crate) async fn one<S: Open311Store>(g: &Gateway<S>, id: &str, ps: Params) -> Result<V, Fail> {
    let ps = ps.only("jurisdiction_id").with("service_request_id", id);
    let v = requests(g, &ps).await?;
    match &v {
        V::List { items, .. } if items.is_empty() => Err(Fail::not_found(format!("service_request_id {id} not found"))),
        _ => Ok(v),
    }
}

/// `GET tokens/{token}`: requests are created in real time, so a token is its service_request_id.
pub(crate) async fn token<S: Open311Store>(g: &Gateway<S>, token: &str, ps: &Params) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let ids = parse_request_id(token).map(|x| vec![x]).unwrap_or_default();
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let now = Utc::now();
    let query = RequestQuery {
        ids: Some(ids),
        services: Vec::new(),
        from: now,
        to: now,
        statuses: Vec::new(),
        offset: 0,
        limit: 1,
    };
    let rows = g.store.service_requests(&scope, &query).await.map_err(Fail::store)?;
    if rows.is_empty() {
        return Err(Fail::not_found(format!("token {token} not found")));
    }
    Ok(V::List {
        item: "request",
        items: vec![V::Obj(vec![
            ("service_request_id", V::Str(token.to_owned())),
            ("token", V::Str(token.to_owned())),
        ])],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let (d, c) = parse_request_id("water.fb-0193abc").unwrap();
        assert_eq!((d.as_str(), c.as_str()), ("water", "fb-0193abc"));
        assert!(parse_request_id("water").is_none());
    }

    #[test]
    fn service_request_id_overrides_every_other_filter() {
        let now = Utc::now();
        let ps = Params::query(Some("service_request_id=water.fb-1&status=nonsense&start_date=never&service_code=x"));
        let q = query(&ps, now).unwrap().unwrap();
        assert_eq!(q.ids.unwrap().len(), 1);
        assert!(q.services.is_empty() && q.statuses.is_empty());
    }

    #[test]
    fn a_window_in_the_future_matches_nothing() {
        let now = Utc::now();
        let ps = Params::query(Some("start_date=2999-01-01T00:00:00Z"));
        assert!(query(&ps, now).unwrap().is_none());
        let both = Params::query(Some("start_date=2026-02-01&end_date=2026-01-01"));
        assert!(query(&both, now).is_err(), "an explicit end before the start is still an error");
    }

    #[test]
    fn repeated_statuses_are_all_honoured() {
        let ps = Params::query(Some("status=open&status=closed"));
        let q = query(&ps, Utc::now()).unwrap().unwrap();
        assert_eq!(q.statuses, [RequestStatus::Open, RequestStatus::Closed]);
    }
}
