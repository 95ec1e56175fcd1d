//! The follow-up survey's public page, on the Open311 listener: `GET /surveys/v1/{token}` shows
//! the three questions (how satisfied, 1–5; was it resolved; anything else), `POST` the same path
//! files the answer through `SubmitFeedback` with the token, which links it to the case the
//! invitation was sent for. The token is the only credential: it is signed, names one invitation
//! of one case, takes one answer, and expires (a later answer is kept as ordinary feedback).
//!
//! A form post is answered with a small HTML page; a JSON post (`Content-Type:
//! application/json`, e.g. from a 311 app) with `{"feedback": …, "linked": …}`. Retrying the
//! same answer is idempotent (the invitation's ID is the request ID); a different second answer
//! is 409.
use crate::Gateway;
use crate::params::Params;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use cityserve_api::ApiError;
use cityserve_domain::{Caller, Role};
use cityserve_proto::v1 as pb;
use cityserve_store::Open311Store;
use http::{HeaderMap, StatusCode, header};
use std::sync::Arc;

/// The longest free-text answer.
const TEXT_MAX: usize = 2_000;

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], page)
        .into_response()
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn invalid_link(as_json: bool) -> Response {
    let msg = "This survey link is not valid.";
    if as_json {
        json(StatusCode::NOT_FOUND, serde_json::json!({ "error": msg }))
    } else {
        html(StatusCode::NOT_FOUND, msg, "")
    }
}

/// `GET /surveys/v1/{token}`: the form.
pub(crate) async fn page<S: Open311Store>(State(g): State<Arc<Gateway<S>>>, Path(token): Path<String>) -> Response {
    if g.feedback.survey_token(&token).is_none() {
        return invalid_link(false);
    }
    let choices: String = (1..=5)
        .map(|i| format!("<label><input type=\"radio\" name=\"csat\" value=\"{i}\" required> {i}</label> "))
        .collect();
    let body = format!(
        "<form method=\"post\"><p>How satisfied are you with how we handled your report? (1 = not at all, 5 = \
         very)</p><p>{choices}</p><p>Was it resolved?</p><p><label><input type=\"radio\" name=\"resolved\" \
         value=\"yes\"> Yes</label> <label><input type=\"radio\" name=\"resolved\" value=\"no\"> No</label></p>\
         <p><label>Anything else? <textarea name=\"text\" maxlength=\"{TEXT_MAX}\"></textarea></label></p>\
         <p><button type=\"submit\">Send</button></p></form>"
    );
    html(StatusCode::OK, "How did we do?", &body)
}

/// The answer's fields, from a form or a JSON body.
struct Answer {
    csat: Option<String>,
    resolved: Option<String>,
    text: String,
    language: String,
}

fn answer_of(headers: &HeaderMap, body: &[u8]) -> Result<(Answer, bool), String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if is_json {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|_| "the body is not JSON".to_owned())?;
        let text_of = |k: &str| match &v[k] {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        let a = Answer {
            csat: text_of("csat"),
            resolved: text_of("resolved"),
            text: text_of("text").unwrap_or_default(),
            language: text_of("language").unwrap_or_default(),
        };
        return Ok((a, true));
    }
    let ps = Params::parse(body);
    let a = Answer {
        csat: ps.one("csat").map(str::to_owned),
        resolved: ps.one("resolved").map(str::to_owned),
        text: ps.one("text").unwrap_or_default().to_owned(),
        language: ps.one("language").unwrap_or_default().to_owned(),
    };
    Ok((a, false))
}

/// `POST /surveys/v1/{token}`: files the answer.
pub(crate) async fn answer<S: Open311Store>(
    State(g): State<Arc<Gateway<S>>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (a, as_json) = match answer_of(&headers, &body) {
        Ok(x) => x,
        Err(msg) => return json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": msg })),
    };
    let refuse = |status: StatusCode, msg: String| {
        if as_json {
            json(status, serde_json::json!({ "error": msg }))
        } else {
            html(status, "We could not take your answer", &format!("<p>{}</p>", escape(&msg)))
        }
    };
    let Some((department, invitation, linking)) = g.feedback.survey_token(&token) else {
        return invalid_link(as_json);
    };
    let csat = match a.csat.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(v) => match v.parse::<i32>() {
            Ok(n) => Some(n),
            Err(_) => return refuse(StatusCode::BAD_REQUEST, "csat: must be a number from 1 to 5".into()),
        },
    };
    let resolved = match a.resolved.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("yes" | "true") => Some(true),
        Some("no" | "false") => Some(false),
        Some(_) => return refuse(StatusCode::BAD_REQUEST, "resolved: must be yes or no".into()),
    };
    if a.text.chars().count() > TEXT_MAX {
        return refuse(StatusCode::BAD_REQUEST, format!("text: must be at most {TEXT_MAX} characters"));
    }
    let request = pb::SubmitFeedbackRequest {
        parent: format!("departments/{department}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Survey as i32,
            kind: pb::FeedbackKind::SurveyResponse as i32,
            csat,
            text: a.text,
            language_code: a.language,
            ..Default::default()
        }),
        resident: None,
        // The invitation's ID: a retried post files once.
        request_id: format!("survey-{invitation}"),
        survey_token: token,
        resolved,
    };
    // The page files as the department's survey intake; the token is what authorizes it.
    let caller = Caller { subject: "survey-page".into(), role: Role::Service, departments: vec![department] };
    match g.feedback.submit_from(caller, request, Some("survey page")).await {
        Ok(r) => {
            let name = r.feedback.map(|f| f.name).unwrap_or_default();
            if as_json {
                json(StatusCode::CREATED, serde_json::json!({ "feedback": name, "linked": linking }))
            } else {
                html(StatusCode::CREATED, "Thank you", "<p>Your answer has reached the department.</p>")
            }
        }
        Err(ApiError::Invalid(v)) => {
            let msg =
                v.violations.iter().map(|x| format!("{}: {}", x.field, x.description)).collect::<Vec<_>>().join("; ");
            refuse(StatusCode::BAD_REQUEST, msg)
        }
        Err(ApiError::FailedPrecondition(_) | ApiError::IdempotencyMismatch) => {
            refuse(StatusCode::CONFLICT, "This survey was already answered.".into())
        }
        Err(ApiError::Unavailable) => refuse(StatusCode::SERVICE_UNAVAILABLE, "Please try again in a minute.".into()),
        Err(e) => {
            tracing::warn!(error = %e, "survey answer failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.".into())
        }
    }
}

/// `s` safe inside HTML text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
