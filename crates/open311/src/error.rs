//! Every failure of the gateway as the spec's error document: a list of `{code, description}` in
//! the requested format, for every status (400, 403, 404, 405, 413, 429 with `Retry-After`, 503);
//! never a stack trace, and never an internal detail.
use crate::format::{Format, V, respond};
use axum::response::Response;
use cityserve_api::ApiError;
use http::{HeaderValue, StatusCode, header};

/// A failed call: the status, what to tell the client, and for 429 when to come back.
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) status: StatusCode,
    pub(crate) messages: Vec<String>,
    /// Seconds until a retry can succeed (`Retry-After`).
    pub(crate) retry_after: Option<u64>,
}

/// What the gateway says when the database is away; the detail goes to the log only.
const UNAVAILABLE: &str = "the service is temporarily unavailable; retry later";

impl Fail {
    /// A failure with one message.
    pub(crate) fn new(status: StatusCode, msg: impl Into<String>) -> Fail {
        Fail { status, messages: vec![msg.into()], retry_after: None }
    }
    /// 400.
    pub(crate) fn bad(msg: impl Into<String>) -> Fail {
        Fail::new(StatusCode::BAD_REQUEST, msg)
    }
    /// 403.
    pub(crate) fn forbidden(msg: impl Into<String>) -> Fail {
        Fail::new(StatusCode::FORBIDDEN, msg)
    }
    /// 404.
    pub(crate) fn not_found(msg: impl Into<String>) -> Fail {
        Fail::new(StatusCode::NOT_FOUND, msg)
    }
    /// 503.
    pub(crate) fn unavailable() -> Fail {
        Fail::new(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE)
    }
    /// 429, come back in `seconds`.
    pub(crate) fn rate_limited(msg: impl Into<String>, seconds: u64) -> Fail {
        Fail { retry_after: Some(seconds), ..Fail::new(StatusCode::TOO_MANY_REQUESTS, msg) }
    }
    /// A store failure.
    pub(crate) fn store(e: cityserve_store::StoreError) -> Fail {
        match e {
            cityserve_store::StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "open311: database unavailable");
                Fail::unavailable()
            }
            cityserve_store::StoreError::NotFound => Fail::not_found("not found"),
            other => {
                tracing::error!(error = %other, "open311: store failure");
                Fail::bad("general service error")
            }
        }
    }

    /// The spec's error document for this failure.
    pub(crate) fn respond(self, format: Format) -> Response {
        let code = i64::from(self.status.as_u16());
        let items = self
            .messages
            .into_iter()
            .map(|d| V::Obj(vec![("code", V::Int(code)), ("description", V::Str(d))]))
            .collect();
        let mut r = respond(self.status, format, "errors", &V::List { item: "error", items });
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s.max(1)));
        }
        r
    }
}

/// Open311 names of the fields SubmitFeedback validation reports.
fn open311_field(field: &str) -> String {
    // An answer's violation names it as the client sent it: attribute[code].
    if let Some(rest) = field.strip_prefix("feedback.attributes[") {
        return format!("attribute[{rest}");
    }
    let name = match field {
        "feedback.text" => "description",
        "feedback.location.latitude" => "lat",
        "feedback.location.longitude" => "long",
        "feedback.location.address" => "address_string",
        "feedback.service_category_id" => "service_code",
        "resident.email" => "email",
        "resident.phone" => "phone",
        "request_id" => "Idempotency-Key",
        "feedback.device_id" => "device_id",
        "feedback.account_id" => "account_id",
        other => other,
    };
    name.to_owned()
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(v) => Fail {
                status: StatusCode::BAD_REQUEST,
                messages: v
                    .violations
                    .iter()
                    .map(|x| format!("{}: {}", open311_field(&x.field), x.description))
                    .collect(),
                retry_after: None,
            },
            ApiError::NotFound(what) => Fail::not_found(format!("{what} not found")),
            ApiError::PermissionDenied | ApiError::Unauthenticated(_) => Fail::forbidden("the api_key may not do this"),
            ApiError::FailedPrecondition(m) | ApiError::Contended(m) => Fail::bad(m),
            ApiError::IdempotencyMismatch => Fail::bad("Idempotency-Key was already used for a different request"),
            ApiError::AlreadyExists(what) => Fail::bad(format!("{what} already exists")),
            ApiError::Aborted => Fail::bad("the request conflicted with a concurrent change; retry"),
            ApiError::Unavailable => Fail::unavailable(),
            ApiError::Internal => Fail::bad("general service error"),
        }
    }
}

/// The document `v` under `root`, or the failure's error document.
pub(crate) fn finish(format: Format, root: &str, result: Result<V, Fail>) -> Response {
    match result {
        Ok(v) => respond(StatusCode::OK, format, root, &v),
        Err(f) => f.respond(format),
    }
}
