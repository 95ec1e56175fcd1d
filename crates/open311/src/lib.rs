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
//! Errors are the spec's list of `{code, description}`, in the format the path asked for, for
//! every status: 400, 403, 404, 405 (another method), 413 (a body over [`MAX_BODY_BYTES`]), 429
//! with `Retry-After` when a key exceeds its rate, 503 while the database is unavailable; never a
//! stack trace.
//!
//! Files: [`format`] renders JSON and XML from one tree; `params` reads query strings and forms;
//! `services`, `requests` and `post` are the resources; `limiter` the per-key budgets; `error`
//! the error documents.
pub mod format;

mod error;
mod limiter;
mod params;
mod post;
mod requests;
mod services;
mod survey;

pub use post::MAX_DESCRIPTION_CHARS;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{MethodRouter, get};
use cityserve_api::{FeedbackApi, KeyDeriver};
use cityserve_store::Open311Store;
use error::{Fail, finish};
use format::Format;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use params::Params;
use std::sync::Arc;
use std::time::Instant;

/// Largest POST body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Gateway settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The city's `jurisdiction_id` (e.g. `city.gov`); empty accepts any (one jurisdiction).
    pub jurisdiction_id: String,
    /// Requests per minute one API key may file (its burst too).
    pub requests_per_minute: u32,
    /// The gateway's public base URL as clients reach it (e.g. `https://311.city.gov`), for the
    /// absolute endpoint URL in `discovery`; empty: the host the client connected to, over http.
    pub public_url: String,
    /// What a POST's answers to attributes the service does not define become.
    pub undeclared_attributes: UndeclaredAttributes,
}

/// What the gateway does with `attribute[code]` values for codes the service does not define.
/// Many 311 apps send their own (an app version, a device's locale) with every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UndeclaredAttributes {
    /// Kept with the request as extra data (one value each), visible over gRPC.
    #[default]
    Keep,
    /// Dropped before filing.
    Ignore,
    /// The request is refused (400 naming the attribute).
    Refuse,
}

impl UndeclaredAttributes {
    /// `keep`, `ignore` or `refuse`.
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim() {
            "keep" => Some(UndeclaredAttributes::Keep),
            "ignore" => Some(UndeclaredAttributes::Ignore),
            "refuse" => Some(UndeclaredAttributes::Refuse),
            _ => None,
        }
    }
}

/// The gateway's state.
pub struct Gateway<S> {
    store: S,
    feedback: FeedbackApi<S>,
    keys: KeyDeriver,
    settings: Settings,
    limiter: limiter::Limiter,
    /// The names of services and departments the request lists last read, and when.
    names: std::sync::Mutex<Option<(std::time::Instant, Arc<services::Names>)>>,
}

impl<S: Open311Store> Gateway<S> {
    /// A gateway over `store`, filing through `feedback` and checking keys with `keys`.
    pub fn new(store: S, feedback: FeedbackApi<S>, keys: KeyDeriver, settings: Settings) -> Self {
        Self { store, feedback, keys, settings, limiter: limiter::Limiter::default(), names: Default::default() }
    }

    /// The HTTP routes under `/open311/v2/`.
    pub fn router(self) -> Router {
        let state = Arc::new(self);
        // Another method on a resource is the spec's error document too (405 with `Allow`).
        let only = |m: MethodRouter<Arc<Gateway<S>>>| m.fallback(method_not_allowed);
        Router::new()
            .route("/open311/v2/{file}", only(get(top_get::<S>).post(top_post::<S>)))
            .route("/open311/v2/services/{file}", only(get(service_definition::<S>)))
            .route("/open311/v2/requests/{file}", only(get(one_request::<S>)))
            .route("/open311/v2/tokens/{file}", only(get(token::<S>)))
            .route("/surveys/v1/{token}", only(get(survey::page::<S>).post(survey::answer::<S>)))
            .fallback(not_found)
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn(log_request))
            .with_state(state)
    }
}

/// 404 unless `jurisdiction_id`, when given, is the configured city's.
pub(crate) fn check_jurisdiction(settings: &Settings, ps: &Params) -> Result<(), Fail> {
    match ps.one("jurisdiction_id") {
        Some(j) if !settings.jurisdiction_id.is_empty() && j != settings.jurisdiction_id => {
            Err(Fail::not_found(format!("jurisdiction_id {j} not found")))
        }
        _ => Ok(()),
    }
}

async fn top_get<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some((name, fmt)) = Format::split(&file) else { return unknown(Format::Json) };
    let ps = Params::query(query.as_deref());
    match name {
        "services" => finish(fmt, "services", services::services(&g, &ps).await),
        "requests" => finish(fmt, "service_requests", requests::requests(&g, &ps).await),
        "discovery" => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let result = async {
                check_jurisdiction(&g.settings, &ps)?;
                services::discovery(&g, host).await
            }
            .await;
            finish(fmt, "discovery", result)
        }
        _ => Fail::not_found(format!("{name} is not a GeoReport v2 resource")).respond(fmt),
    }
}

async fn top_post<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let fmt = match Format::split(&file) {
        Some(("requests", fmt)) => fmt,
        Some((_, fmt)) => return Fail::not_found("only requests can be posted").respond(fmt),
        None => return unknown(Format::Json),
    };
    match body {
        Ok(body) => finish(fmt, "service_requests", post::post(&g, &headers, &body).await),
        Err(rejection) => {
            let status = rejection.status();
            let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("the request body is over {MAX_BODY_BYTES} bytes")
            } else {
                "the request body could not be read".to_owned()
            };
            Fail::new(status, msg).respond(fmt)
        }
    }
}

async fn service_definition<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((code, fmt)) = Format::split(&file) else { return unknown(Format::Json) };
    let ps = Params::query(query.as_deref());
    finish(fmt, "service_definition", services::definition(&g, code, &ps).await)
}

async fn one_request<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((id, fmt)) = Format::split(&file) else { return unknown(Format::Json) };
    finish(fmt, "service_requests", requests::one(&g, id, Params::query(query.as_deref())).await)
}

async fn token<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some((token, fmt)) = Format::split(&file) else { return unknown(Format::Json) };
    let ps = Params::query(query.as_deref());
    finish(fmt, "service_requests", requests::token(&g, token, &ps).await)
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

/// 404 for a path that names no GeoReport v2 resource.
fn unknown(fmt: Format) -> Response {
    Fail::not_found("not a GeoReport v2 resource; see /open311/v2/discovery.json").respond(fmt)
}

/// Any unknown path, in the format its last segment asks for.
async fn not_found(uri: Uri) -> Response {
    unknown(Format::of_path(uri.path()))
}

/// A method the resource does not take.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    let top = path.strip_prefix("/open311/v2/").is_some_and(|rest| !rest.contains('/'));
    let allow = if top { "GET, POST" } else { "GET" };
    let msg = format!("{method} is not allowed here; use {allow}");
    let mut r = Fail::new(StatusCode::METHOD_NOT_ALLOWED, msg).respond(Format::of_path(path));
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        let (d, c) = services::parse_code("streets.pothole").unwrap();
        assert_eq!(services::service_code(&d, &c), "streets.pothole");
        assert!(services::parse_code("streets").is_none());
        assert!(services::parse_code("Streets.pothole").is_none());
    }

    #[test]
    fn jurisdiction_is_checked_when_given() {
        let ps = Params::query(Some("status=&status=open&jurisdiction_id=city.gov"));
        let s = Settings {
            jurisdiction_id: "city.gov".into(),
            requests_per_minute: 60,
            public_url: String::new(),
            undeclared_attributes: UndeclaredAttributes::Keep,
        };
        assert!(check_jurisdiction(&s, &ps).is_ok());
        let other = Params::query(Some("jurisdiction_id=elsewhere.gov"));
        assert!(check_jurisdiction(&s, &other).is_err());
    }
}
