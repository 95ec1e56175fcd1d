//! `POST requests`: a resident's report becomes a 311-channel complaint through the very path of
//! `SubmitFeedback`, acting as the Open311 client the `api_key` was issued to.
use crate::check_jurisdiction;
use crate::error::Fail;
use crate::format::V;
use crate::params::Params;
use crate::requests::notice;
use crate::services::parse_code;
use crate::{Gateway, UndeclaredAttributes};
use chrono::DateTime;
use cityserve_api::{ApiError, KeyRefused};
use cityserve_domain::Role;
use cityserve_proto::v1 as pb;
use cityserve_store::Open311Store;
use http::HeaderMap;

/// The spec's limit on `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4_000;

fn coordinate(ps: &Params, name: &str, limit: f64) -> Result<Option<f64>, Fail> {
    match ps.one(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() <= limit)
            .map(Some)
            .ok_or_else(|| Fail::bad(format!("{name} must be a number between -{limit} and {limit}"))),
    }
}

/// Files the form `body`. The key's budget is spent only when the request is filed: a request that
/// fails is counted against the key's (larger) allowance of refusals instead.
pub(crate) async fn post<S: Open311Store>(g: &Gateway<S>, headers: &HeaderMap, body: &[u8]) -> Result<V, Fail> {
    let ps = Params::parse(body);
    check_jurisdiction(&g.settings, &ps)?;
    let Some(presented) = ps.one("api_key") else {
        return Err(Fail::forbidden("api_key is required to post a request"));
    };
    let key = match g.keys.verify(&g.store, presented).await {
        Ok(k) => k,
        Err(KeyRefused::Invalid | KeyRefused::Revoked) => return Err(Fail::forbidden("api_key is not valid")),
        Err(KeyRefused::Unavailable) => return Err(Fail::unavailable()),
    };
    let per_minute = g.settings.requests_per_minute;
    if let Err(wait) = g.limiter.admit(&key.id, per_minute) {
        return Err(Fail::rate_limited(format!("rate limit exceeded; retry in {wait} s"), wait));
    }
    let result = file(g, headers, &ps, &key.id, &key.client_name).await;
    if result.is_err() {
        g.limiter.refused(&key.id, per_minute);
    }
    result
}

/// A POST's answers, in the order first sent: `attribute[code]=value`, and for a multiple-choice
/// list `attribute[code][]=key` repeated; `attribute[code][0]=key` (how form libraries write an
/// array) and a repeated `attribute[code]` gather the same way.
pub(crate) fn answers(ps: &Params) -> Vec<pb::AttributeAnswer> {
    let mut out: Vec<pb::AttributeAnswer> = Vec::new();
    for (k, v) in ps.pairs() {
        let Some((code, tail)) = k.strip_prefix("attribute[").and_then(|rest| rest.split_once(']')) else {
            continue;
        };
        let index = tail.strip_prefix('[').and_then(|t| t.strip_suffix(']'));
        if !(tail.is_empty() || index.is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit()))) {
            continue;
        }
        match out.iter_mut().find(|a| a.code == code) {
            Some(a) => a.values.push(v.to_owned()),
            None => out.push(pb::AttributeAnswer { code: code.to_owned(), values: vec![v.to_owned()] }),
        }
    }
    out
}

/// Applies the city's setting for answers to attributes the service does not define: kept as
/// they are (the default: nothing to read), dropped, or the request refused naming the first.
async fn undeclared<S: Open311Store>(
    g: &Gateway<S>,
    d: &cityserve_domain::DepartmentId,
    c: &cityserve_domain::ServiceCategoryId,
    code: &str,
    answers: Vec<pb::AttributeAnswer>,
) -> Result<Vec<pb::AttributeAnswer>, Fail> {
    let policy = g.settings.undeclared_attributes;
    if policy == UndeclaredAttributes::Keep || answers.is_empty() {
        return Ok(answers);
    }
    let (_, scope) = cityserve_domain::policy::gateway_read_scope();
    let defs = match g.store.get_service_category(&scope, d, c).await {
        Ok(category) => category.attributes,
        // Filing refuses a service that does not exist, as for any request.
        Err(cityserve_store::StoreError::NotFound) => return Ok(answers),
        Err(e) => return Err(Fail::store(e)),
    };
    let (declared, other): (Vec<_>, Vec<_>) =
        answers.into_iter().partition(|a| defs.iter().any(|def| def.code == a.code.trim()));
    match other.iter().find(|a| a.values.iter().any(|v| !v.trim().is_empty())) {
        Some(a) if policy == UndeclaredAttributes::Refuse => {
            Err(Fail::bad(format!("attribute[{}]: service {code} does not define it", a.code)))
        }
        _ => Ok(declared),
    }
}

async fn file<S: Open311Store>(
    g: &Gateway<S>,
    headers: &HeaderMap,
    ps: &Params,
    key_id: &str,
    client_name: &str,
) -> Result<V, Fail> {
    let code = ps.one("service_code").ok_or_else(|| Fail::bad("service_code was not provided"))?;
    let (d, category) = parse_code(code).ok_or_else(|| Fail::not_found(format!("service_code {code} not found")))?;
    let lat = coordinate(ps, "lat", 90.0)?;
    let long = coordinate(ps, "long", 180.0)?;
    if lat.is_some() != long.is_some() {
        return Err(Fail::bad("lat and long must be sent together"));
    }
    let address = ps.one("address_string").map(str::to_owned);
    let address_id = ps.one("address_id");
    if lat.is_none() && address.is_none() && address_id.is_none() {
        return Err(Fail::bad("a location is required: lat and long, address_string or address_id"));
    }
    let attributes = undeclared(g, &d, &category, code, answers(ps)).await?;
    let description = ps.one("description").unwrap_or_default();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Fail::bad(format!("description: at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    let text = description.to_owned();
    // The photo's reference is kept beside the description (returned as media_url), not in it.
    let media = match ps.one("media_url").filter(|m| !m.trim().is_empty()) {
        Some(m) => cityserve_domain::validation::media_urls("media_url", &[m.to_owned()]).map_err(|e| {
            let why = e.violations.first().map_or("is not valid", |v| v.description.as_str()).to_owned();
            Fail::bad(format!("media_url {why}"))
        })?,
        None => Vec::new(),
    };
    let address = address.unwrap_or_default();
    let address_id = address_id.unwrap_or_default().to_owned();
    let email = ps.one("email").unwrap_or_default();
    let phone = ps.one("phone").unwrap_or_default();
    // first_name and last_name are the resident's contact data, like the e-mail and phone.
    let name = [ps.one("first_name"), ps.one("last_name")].into_iter().flatten().map(str::trim);
    let name = name.filter(|n| !n.is_empty()).collect::<Vec<_>>().join(" ");
    let resident = (!email.is_empty() || !phone.is_empty()).then(|| pb::ResidentContact {
        email: email.to_owned(),
        phone: phone.to_owned(),
        name,
        // Open311 has no field for it: the resident keeps what they chose before.
        notice_channel: 0,
    });
    // A client's retry with the same Idempotency-Key files once.
    let request_id = match headers.get("idempotency-key").map(|v| v.to_str().map(str::trim)) {
        Some(Ok(k)) if !k.is_empty() && k.len() <= 64 && k.chars().all(|c| c.is_ascii_graphic()) => {
            format!("o311-{key_id}-{k}")
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
            location: Some(pb::Location { address, latitude: lat, longitude: long, address_id }),
            media_urls: media,
            attributes,
            device_id: ps.one("device_id").unwrap_or_default().to_owned(),
            account_id: ps.one("account_id").unwrap_or_default().to_owned(),
            ..Default::default()
        }),
        resident,
        request_id,
        survey_token: String::new(),
        resolved: None,
    };
    // The client files as an internal application of the department it files with.
    let caller = cityserve_domain::Caller {
        subject: format!("open311:{key_id}"),
        role: Role::Service,
        departments: vec![d.clone()],
    };
    let submitted = g.feedback.submit_from(caller, request, Some(client_name)).await.map_err(|e| match e {
        ApiError::FailedPrecondition(_) | ApiError::NotFound(_) => {
            Fail::not_found(format!("service_code {code} not found"))
        }
        other => Fail::from(other),
    })?;
    let case = submitted.case.ok_or_else(|| Fail::bad("general service error"))?;
    let due = case.resolve_due_time.map(|t| t.seconds).and_then(|s| DateTime::from_timestamp(s, 0));
    let id = case.name.rsplit('/').next().unwrap_or_default();
    Ok(V::List {
        item: "request",
        items: vec![V::Obj(vec![
            ("service_request_id", V::Str(format!("{d}.{id}"))),
            ("service_notice", V::opt(due.map(notice))),
            // The spec answers the account the request was filed for, as the client sent it.
            ("account_id", V::opt(submitted.feedback.map(|f| f.account_id).filter(|a| !a.is_empty()))),
        ])],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_gather_every_way_clients_write_them() {
        let ps = Params::parse(
            b"attribute%5Bstate%5D=open&attribute[sides][]=north&attribute[sides][]=south&attribute[flow][0]=3\
              &attribute[flow][1]=4&attribute[x][y]=no&attributes=no&attribute[state]=again",
        );
        let got: Vec<(String, Vec<String>)> = answers(&ps).into_iter().map(|a| (a.code, a.values)).collect();
        let want = [("state", vec!["open", "again"]), ("sides", vec!["north", "south"]), ("flow", vec!["3", "4"])];
        let want: Vec<(String, Vec<String>)> =
            want.into_iter().map(|(c, v)| (c.to_owned(), v.into_iter().map(str::to_owned).collect())).collect();
        assert_eq!(got, want);
    }
}
