//! The Open311 GeoReport v2 gateway: existing 311 apps, kiosks and vendor tools file into
//! CityServe's feedback stream without a change on their side.
//!
//! Mapping:
//! - a **service** is an active service category of an active department; its `service_code` is
//!   `{department}.{category}`, its `group` the department's name, its `keywords` the category's;
//! - `POST requests` files a complaint on the 311 channel through the very path of
//!   `SubmitFeedback` (validation, authorization, idempotency, audit, events), acting as the
//!   Open311 client the `api_key` was issued to; the resident's e-mail and phone become their
//!   contact details; `service_request_id` is `{department}.{case}`;
//! - `GET requests` shows the complaints filed through Open311: `status` is `open` until the case
//!   is resolved or closed, `status_notes` its newest public note, `expected_datetime` its
//!   resolve-by time from the service standards, `agency_responsible` the owning department.
//!
//! Errors are the spec's list of `{code, description}` with status 400, 403, 404 (and 429 when a
//! key exceeds its rate, 503 while the database is unavailable); never a stack trace.
pub mod format;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use cityserve_api::{ApiError, FeedbackApi, KeyDeriver, KeyRefused};
use cityserve_domain::{
    CaseId, CaseStatus, Department, DepartmentId, DepartmentStatus, PageRequest, Role, ServiceCategory,
    ServiceCategoryId, ServiceCategoryStatus,
};
use cityserve_proto::v1 as pb;
use cityserve_store::Open311Store;
use cityserve_store::open311::{RequestQuery, RequestStatus, ServiceRequestRow};
use format::{Format, V, error, respond};
use http::{HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The longest range of `GET requests` (the spec's 90 days).
const MAX_RANGE_DAYS: i64 = 90;
/// The most requests one `GET requests` returns (the spec's default and our page size limit).
const MAX_PAGE_SIZE: u32 = 1_000;
/// Largest POST body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The city's `jurisdiction_id` (e.g. `city.gov`); empty accepts any (one jurisdiction).
    pub jurisdiction_id: String,
    /// Requests per minute one API key may file (its burst too).
    pub requests_per_minute: u32,
}

/// Per-key token buckets.
#[derive(Debug, Default)]
struct Limiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    /// Takes one token of `key`'s bucket; `Err(seconds)` until the next token when empty.
    fn take(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let burst = f64::from(per_minute.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil() as u64)
        }
    }
}

/// The gateway's state.
pub struct Gateway<S> {
    store: S,
    feedback: FeedbackApi<S>,
    keys: KeyDeriver,
    settings: Settings,
    limiter: Limiter,
}

impl<S: Open311Store> Gateway<S> {
    /// A gateway over `store`, filing through `feedback` and checking keys with `keys`.
    pub fn new(store: S, feedback: FeedbackApi<S>, keys: KeyDeriver, settings: Settings) -> Self {
        Self { store, feedback, keys, settings, limiter: Limiter::default() }
    }

    /// The HTTP routes under `/open311/v2/`.
    pub fn router(self) -> Router {
        let state = Arc::new(self);
        Router::new()
            .route("/open311/v2/{file}", get(top_get::<S>).post(top_post::<S>))
            .route("/open311/v2/services/{file}", get(service_definition::<S>))
            .route("/open311/v2/requests/{file}", get(one_request::<S>))
            .route("/open311/v2/tokens/{file}", get(token::<S>))
            .fallback(not_found)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(log_request))
            .with_state(state)
    }
}

/// A failed call: the status and what to tell the client.
struct Fail(StatusCode, Vec<String>);

impl Fail {
    fn bad(msg: impl Into<String>) -> Fail {
        Fail(StatusCode::BAD_REQUEST, vec![msg.into()])
    }
    fn not_found(msg: impl Into<String>) -> Fail {
        Fail(StatusCode::NOT_FOUND, vec![msg.into()])
    }
    fn store(e: cityserve_store::StoreError) -> Fail {
        match e {
            cityserve_store::StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "open311: database unavailable");
                Fail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    vec!["the service is temporarily unavailable; retry later".into()],
                )
            }
            cityserve_store::StoreError::NotFound => Fail::not_found("not found"),
            other => {
                tracing::error!(error = %other, "open311: store failure");
                Fail::bad("general service error")
            }
        }
    }
}

/// Open311 names of the fields SubmitFeedback validation reports.
fn open311_field(field: &str) -> &str {
    match field {
        "feedback.text" => "description",
        "feedback.location.latitude" => "lat",
        "feedback.location.longitude" => "long",
        "feedback.location.address" => "address_string",
        "feedback.service_category_id" => "service_code",
        "resident.email" => "email",
        "resident.phone" => "phone",
        "request_id" => "Idempotency-Key",
        other => other,
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(v) => Fail(
                StatusCode::BAD_REQUEST,
                v.violations.iter().map(|x| format!("{}: {}", open311_field(&x.field), x.description)).collect(),
            ),
            ApiError::NotFound(what) => Fail::not_found(format!("{what} not found")),
            ApiError::PermissionDenied | ApiError::Unauthenticated(_) => {
                Fail(StatusCode::FORBIDDEN, vec!["the api_key may not do this".into()])
            }
            ApiError::FailedPrecondition(m) | ApiError::Contended(m) => Fail::bad(m),
            ApiError::IdempotencyMismatch => {
                Fail::bad("Idempotency-Key was already used for a different request".to_owned())
            }
            ApiError::AlreadyExists(what) => Fail::bad(format!("{what} already exists")),
            ApiError::Aborted => Fail::bad("the request conflicted with a concurrent change; retry"),
            ApiError::Unavailable => Fail(
                StatusCode::SERVICE_UNAVAILABLE,
                vec!["the service is temporarily unavailable; retry later".into()],
            ),
            ApiError::Internal => Fail::bad("general service error"),
        }
    }
}

fn finish(format: Format, root: &str, result: Result<V, Fail>) -> Response {
    match result {
        Ok(v) => respond(StatusCode::OK, format, root, &v),
        Err(Fail(status, msgs)) => error(status, format, &msgs),
    }
}

fn params(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

/// The first non-empty value of `name` (the spec treats empty parameters as absent).
fn param<'a>(ps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    ps.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
}

fn w3c(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn check_jurisdiction(settings: &Settings, ps: &[(String, String)]) -> Result<(), Fail> {
    match param(ps, "jurisdiction_id") {
        Some(j) if !settings.jurisdiction_id.is_empty() && j != settings.jurisdiction_id => {
            Err(Fail::not_found(format!("jurisdiction_id {j} not found")))
        }
        _ => Ok(()),
    }
}

fn service_code(d: &DepartmentId, c: &ServiceCategoryId) -> String {
    format!("{d}.{c}")
}

fn parse_code(code: &str) -> Option<(DepartmentId, ServiceCategoryId)> {
    let (d, c) = code.split_once('.')?;
    Some((DepartmentId::parse("service_code", d).ok()?, ServiceCategoryId::parse("service_code", c).ok()?))
}

fn parse_request_id(id: &str) -> Option<(DepartmentId, CaseId)> {
    let (d, c) = id.split_once('.')?;
    Some((DepartmentId::parse("service_request_id", d).ok()?, CaseId::parse("service_request_id", c).ok()?))
}

/// Every active department with its active categories.
/// Departments with their categories: only active ones (the service list), or all of them
/// (archived departments and retired categories still name their old requests).
async fn catalogue<S: Open311Store>(
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

fn service_to_v(d: &Department, c: &ServiceCategory) -> V {
    V::Obj(vec![
        ("service_code", V::Str(service_code(&d.id, &c.id))),
        ("service_name", V::Str(c.display_name.clone())),
        ("description", V::Str(c.description.clone())),
        ("metadata", V::Bool(false)),
        ("type", V::Str("realtime".into())),
        ("keywords", V::Str(c.keywords.join(", "))),
        ("group", V::Str(d.display_name.clone())),
    ])
}

async fn services<S: Open311Store>(g: &Gateway<S>, ps: &[(String, String)]) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let items = catalogue(&g.store, true)
        .await?
        .iter()
        .flat_map(|(d, cs)| cs.iter().map(move |c| service_to_v(d, c)))
        .collect();
    Ok(V::List { item: "service", items })
}

fn discovery(g_settings: &Settings) -> V {
    V::Obj(vec![
        ("changeset", V::Str("2026-11-26T00:00:00Z".into())),
        ("contact", V::Str("The city's Chief Customer Service Officer".into())),
        ("key_service", V::Str("API keys are issued by the Chief Customer Service Officer".into())),
        (
            "endpoints",
            V::List {
                item: "endpoint",
                items: vec![V::Obj(vec![
                    ("specification", V::Str("http://wiki.open311.org/GeoReport_v2".into())),
                    ("url", V::Str("/open311/v2".into())),
                    ("changeset", V::Str("2026-11-26T00:00:00Z".into())),
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
        ("jurisdiction_id", V::Str(g_settings.jurisdiction_id.clone())),
    ])
}

async fn top_get<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((name, fmt)) = Format::split(&file) else { return not_found().await };
    let ps = params(query.as_deref());
    match name {
        "services" => finish(fmt, "services", services(&g, &ps).await),
        "requests" => finish(fmt, "service_requests", requests(&g, &ps).await),
        "discovery" => finish(fmt, "discovery", Ok(discovery(&g.settings))),
        _ => error(StatusCode::NOT_FOUND, fmt, &[format!("{name} is not a GeoReport v2 resource")]),
    }
}

async fn top_post<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match Format::split(&file) {
        Some(("requests", fmt)) => finish(fmt, "service_requests", post_request(&g, &headers, &body).await),
        Some((_, fmt)) => error(StatusCode::NOT_FOUND, fmt, &["only requests can be posted".into()]),
        None => not_found().await,
    }
}

async fn service_definition<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((code, fmt)) = Format::split(&file) else { return not_found().await };
    let ps = params(query.as_deref());
    let result = async {
        check_jurisdiction(&g.settings, &ps)?;
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
            ("attributes", V::List { item: "attribute", items: Vec::new() }),
        ]))
    }
    .await;
    finish(fmt, "service_definition", result)
}

/// Service names by `(department, category)`, and department names.
struct Names {
    services: HashMap<(DepartmentId, ServiceCategoryId), String>,
    departments: HashMap<DepartmentId, String>,
}

async fn names<S: Open311Store>(store: &S) -> Result<Names, Fail> {
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
        ("service_notice", V::Null),
        ("requested_datetime", V::Str(w3c(f.received_at))),
        ("updated_datetime", V::Str(w3c(c.update_time))),
        ("expected_datetime", V::Str(w3c(c.resolve_due))),
        ("address", V::Str(f.location.address.clone())),
        ("address_id", V::Null),
        ("zipcode", V::Null),
        ("lat", f.location.latitude.map_or(V::Null, V::Num)),
        ("long", f.location.longitude.map_or(V::Null, V::Num)),
        ("media_url", V::Null),
    ])
}

fn parse_time(name: &str, v: &str) -> Result<DateTime<Utc>, Fail> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| Fail::bad(format!("{name} must be a W3C date-time with a time zone, e.g. 2026-01-01T00:00:00Z")))
}

async fn requests<S: Open311Store>(g: &Gateway<S>, ps: &[(String, String)]) -> Result<V, Fail> {
    check_jurisdiction(&g.settings, ps)?;
    let now = Utc::now();
    let ids = param(ps, "service_request_id").map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .take(MAX_PAGE_SIZE as usize)
            .filter_map(parse_request_id)
            .collect::<Vec<_>>()
    });
    let mut services = Vec::new();
    if let Some(codes) = param(ps, "service_code") {
        for code in codes.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            services.push(parse_code(code).ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?);
        }
    }
    let end = param(ps, "end_date").map(|v| parse_time("end_date", v)).transpose()?;
    let start = param(ps, "start_date").map(|v| parse_time("start_date", v)).transpose()?;
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) => (s, e),
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
    if let Some(list) = param(ps, "status") {
        for s in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            statuses.push(match s {
                "open" => RequestStatus::Open,
                "closed" => RequestStatus::Closed,
                other => return Err(Fail::bad(format!("status {other} is not open or closed"))),
            });
        }
    }
    // The `page`/`page_size` extension (1-based pages).
    let page_size = match param(ps, "page_size") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| Fail::bad(format!("page_size must be a whole number between 1 and {MAX_PAGE_SIZE}")))?,
        None => MAX_PAGE_SIZE,
    };
    let page = match param(ps, "page") {
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && *n <= 1_000_000)
            .ok_or_else(|| Fail::bad("page must be a whole number from 1"))?,
        None => 1,
    };
    let query = RequestQuery {
        ids,
        services,
        from,
        to,
        statuses,
        offset: (page - 1).saturating_mul(page_size),
        limit: page_size,
    };
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let rows = g.store.service_requests(&scope, &query).await.map_err(Fail::store)?;
    let names = names(&g.store).await?;
    Ok(V::List { item: "request", items: rows.iter().map(|r| request_to_v(r, &names)).collect() })
}

async fn one_request<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((id, fmt)) = Format::split(&file) else { return not_found().await };
    let mut ps = params(query.as_deref());
    ps.retain(|(k, _)| k == "jurisdiction_id");
    ps.push(("service_request_id".into(), id.to_owned()));
    let result = async {
        let v = requests(&g, &ps).await?;
        match &v {
            V::List { items, .. } if items.is_empty() => {
                Err(Fail::not_found(format!("service_request_id {id} not found")))
            }
            _ => Ok(v),
        }
    }
    .await;
    finish(fmt, "service_requests", result)
}

async fn token<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((token, fmt)) = Format::split(&file) else { return not_found().await };
    let ps = params(query.as_deref());
    let result = async {
        check_jurisdiction(&g.settings, &ps)?;
        // Requests are created in real time: a token is its service_request_id.
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
    .await;
    finish(fmt, "service_requests", result)
}

fn coordinate(ps: &[(String, String)], name: &str, limit: f64) -> Result<Option<f64>, Fail> {
    match param(ps, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() <= limit)
            .map(Some)
            .ok_or_else(|| Fail::bad(format!("{name} must be a number between -{limit} and {limit}"))),
    }
}

async fn post_request<S: Open311Store>(g: &Gateway<S>, headers: &HeaderMap, body: &[u8]) -> Result<V, Fail> {
    let ps: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    check_jurisdiction(&g.settings, &ps)?;
    let Some(presented) = param(&ps, "api_key") else {
        return Err(Fail(StatusCode::FORBIDDEN, vec!["api_key is required to post a request".into()]));
    };
    let key = match g.keys.verify(&g.store, presented).await {
        Ok(k) => k,
        Err(KeyRefused::Invalid | KeyRefused::Revoked) => {
            return Err(Fail(StatusCode::FORBIDDEN, vec!["api_key is not valid".into()]));
        }
        Err(KeyRefused::Unavailable) => {
            return Err(Fail(
                StatusCode::SERVICE_UNAVAILABLE,
                vec!["the service is temporarily unavailable; retry later".into()],
            ));
        }
    };
    if let Err(wait) = g.limiter.take(&key.id, g.settings.requests_per_minute) {
        return Err(Fail(StatusCode::TOO_MANY_REQUESTS, vec![format!("rate limit exceeded; retry in {wait} s")]));
    }
    let code = param(&ps, "service_code").ok_or_else(|| Fail::bad("service_code was not provided"))?;
    let (d, category) = parse_code(code).ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?;
    let lat = coordinate(&ps, "lat", 90.0)?;
    let long = coordinate(&ps, "long", 180.0)?;
    if lat.is_some() != long.is_some() {
        return Err(Fail::bad("lat and long must be sent together"));
    }
    let address = param(&ps, "address_string").map(str::to_owned);
    let address_id = param(&ps, "address_id");
    if lat.is_none() && address.is_none() && address_id.is_none() {
        return Err(Fail::bad("a location is required: lat and long, address_string or address_id"));
    }
    if let Some((k, _)) = ps.iter().find(|(k, v)| k.starts_with("attribute[") && !v.trim().is_empty()) {
        return Err(Fail::bad(format!("{k}: service {code} defines no attributes")));
    }
    let mut text = param(&ps, "description").unwrap_or_default().to_owned();
    if let Some(m) = param(&ps, "media_url") {
        text = if text.is_empty() { format!("Media: {m}") } else { format!("{text}\n\nMedia: {m}") };
    }
    let address = match (address, address_id) {
        (Some(a), _) => a,
        (None, Some(id)) => format!("address_id {id}"),
        (None, None) => String::new(),
    };
    let email = param(&ps, "email").unwrap_or_default();
    let phone = param(&ps, "phone").unwrap_or_default();
    let resident = (!email.is_empty() || !phone.is_empty())
        .then(|| pb::ResidentContact { email: email.to_owned(), phone: phone.to_owned() });
    // A client's retry with the same Idempotency-Key files once.
    let request_id = match headers.get("idempotency-key").map(|v| v.to_str().map(str::trim)) {
        Some(Ok(k)) if !k.is_empty() && k.len() <= 64 && k.chars().all(|c| c.is_ascii_graphic()) => {
            format!("o311-{}-{k}", key.id)
        }
        Some(_) => return Err(Fail::bad("Idempotency-Key must be 1-64 printable ASCII characters")),
        None => format!("o311-{}", uuid::Uuid::now_v7().simple()),
    };
    let request = pb::SubmitFeedbackRequest {
        parent: format!("departments/{d}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Channel311 as i32,
            kind: pb::FeedbackKind::Complaint as i32,
            text,
            service_category_id: category.to_string(),
            location: Some(pb::Location { address, latitude: lat, longitude: long }),
            ..Default::default()
        }),
        resident,
        request_id,
    };
    // The client files as an internal application of the department it files with.
    let caller = cityserve_domain::Caller {
        subject: format!("open311:{}", key.id),
        role: Role::Service,
        departments: vec![d.clone()],
    };
    let submitted = g.feedback.submit_from(caller, request, Some(&key.client_name)).await.map_err(|e| match e {
        ApiError::FailedPrecondition(_) | ApiError::NotFound(_) => {
            Fail::not_found(format!("service_code {code} not found"))
        }
        other => Fail::from(other),
    })?;
    let case = submitted.case.ok_or_else(|| Fail::bad("general service error"))?;
    let due = case.resolve_due_time.map(|t| t.seconds).and_then(|s| DateTime::from_timestamp(s, 0));
    let notice = due.map(|t| format!("Expected to be resolved by {}.", w3c(t)));
    let id = case.name.rsplit('/').next().unwrap_or_default();
    Ok(V::List {
        item: "request",
        items: vec![V::Obj(vec![
            ("service_request_id", V::Str(format!("{d}.{id}"))),
            ("service_notice", V::opt(notice)),
            ("account_id", V::Null),
        ])],
    })
}

/// One log line per request: method, path (never the body or the query, which may carry a key
/// or contact details), status and time taken.
async fn log_request(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%method, %path, status, elapsed_ms, "open311 request");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms, "open311 request");
    }
    response
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, Format::Json, &["not a GeoReport v2 resource; see /open311/v2/discovery.json".into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_ids_round_trip() {
        let (d, c) = parse_code("streets.pothole").unwrap();
        assert_eq!(service_code(&d, &c), "streets.pothole");
        assert!(parse_code("streets").is_none());
        assert!(parse_code("Streets.pothole").is_none());
        let (d, c) = parse_request_id("water.fb-0193abc").unwrap();
        assert_eq!((d.as_str(), c.as_str()), ("water", "fb-0193abc"));
    }

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let l = Limiter::default();
        for _ in 0..3 {
            assert!(l.take("k", 3).is_ok());
        }
        let wait = l.take("k", 3).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.take("other", 3).is_ok(), "buckets are per key");
    }

    #[test]
    fn empty_parameters_count_as_absent() {
        let ps = params(Some("status=&status=open&jurisdiction_id=city.gov"));
        assert_eq!(param(&ps, "status"), Some("open"));
        let s = Settings { jurisdiction_id: "city.gov".into(), requests_per_minute: 60 };
        assert!(check_jurisdiction(&s, &ps).is_ok());
        let other = params(Some("jurisdiction_id=elsewhere.gov"));
        assert!(check_jurisdiction(&s, &other).is_err());
    }
}
