//! `ExportFeedback`: a period's feedback or cases in chunks, for a data warehouse, an auditor or
//! the city's open-data portal. Each chunk is a page of the listing the caller could page through
//! with ListFeedback or ListCases (same scope, same order, same store reads), carrying a token to
//! resume after it; the open-data profile strips each chunk by the rule in
//! [`cityserve_domain::open_data`]. Every department is audited once, before its first row leaves.
use super::intake::feedback_to_pb;
use super::*;
use cityserve_domain::open_data::{redact_text, round_coordinate};
use cityserve_store::feedback::Period;
use std::collections::{BTreeSet, HashMap};
use std::pin::Pin;
use tokio_stream::Stream;

/// Rows per chunk when the request leaves it to the server.
const DEFAULT_CHUNK: u32 = 500;
/// The most rows per chunk.
const MAX_CHUNK: i32 = 1_000;
/// Chunks read ahead of a slow client.
const CHUNKS_AHEAD: usize = 2;

pub(crate) type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportFeedbackResponse, Status>> + Send>>;

/// What an export reads and what it leaves out, checked.
struct Export {
    cases: bool,
    open_data: bool,
    department: Option<DepartmentId>,
    period: Option<Period>,
    page: cityserve_domain::PageRequest,
    filter_key: String,
}

impl<S: FeedbackStore> FeedbackApi<S> {
    pub(super) async fn export(&self, caller: Caller, r: pb::ExportFeedbackRequest) -> Result<ExportStream, ApiError> {
        let x = checked(&r)?;
        let what = label("department", &r.parent);
        let action = if x.cases { Action::ReadCases } else { Action::ReadFeedback };
        let scope = list_scope(&caller, action, x.department.as_ref(), &what)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::ExportFeedbackResponse, Status>>(CHUNKS_AHEAD);
        let store = self.store.clone();
        let trace_id = crate::trace::trace_id();
        tokio::spawn(crate::kit::within_call(async move {
            let mut audited = BTreeSet::new();
            let mut page = x.page.clone();
            loop {
                let chunk = chunk(&store, &scope, &x, &page).await;
                let (mut out, next, departments) = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                };
                let new: Vec<DepartmentId> = departments.into_iter().filter(|d| !audited.contains(d)).collect();
                if !new.is_empty() {
                    let ctx = cityserve_store::WriteCtx {
                        scope: &scope,
                        actor: &caller,
                        action: AuditAction::FeedbackExport.as_str(),
                        trace_id: trace_id.clone(),
                    };
                    for d in &new {
                        let resource = format!(
                            "{}/{}?profile={}",
                            resource::department(d),
                            if x.cases { "cases" } else { "feedback" },
                            if x.open_data { "open_data" } else { "caller" }
                        );
                        if let Err(e) = store.audit_export(&ctx, std::slice::from_ref(d), &resource).await {
                            let _ = tx.send(Err(Status::from(ApiError::from_store(e, "export")))).await;
                            return;
                        }
                    }
                    audited.extend(new);
                }
                out.resume_token = next_page_token(next.clone(), &x.filter_key);
                if tx.send(Ok(out)).await.is_err() {
                    return;
                }
                match next {
                    Some(after) => page.after = Some(after),
                    None => return,
                }
            }
        }));
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}

/// Validates the request and binds its resume token to everything that shapes the rows.
fn checked(r: &pb::ExportFeedbackRequest) -> Result<Export, ApiError> {
    let mut errors = ValidationError::default();
    let department = errors.check(names::department_or_all("parent", &r.parent)).flatten();
    let cases = match pb::ExportContent::try_from(r.content) {
        Ok(pb::ExportContent::Unspecified | pb::ExportContent::Feedback) => false,
        Ok(pb::ExportContent::Cases) => true,
        Err(_) => {
            errors.push("content", "is not a known ExportContent");
            false
        }
    };
    let open_data = match pb::ExportProfile::try_from(r.profile) {
        Ok(pb::ExportProfile::Unspecified | pb::ExportProfile::Caller) => false,
        Ok(pb::ExportProfile::OpenData) => true,
        Err(_) => {
            errors.push("profile", "is not a known ExportProfile");
            false
        }
    };
    let start = errors.check(time_from_pb("start_time", r.start_time.as_ref())).flatten();
    let end = errors.check(time_from_pb("end_time", r.end_time.as_ref())).flatten();
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errors.push("end_time", "must be after start_time");
    }
    if !(0..=MAX_CHUNK).contains(&r.chunk_size) {
        errors.push("chunk_size", format!("must be 0-{MAX_CHUNK}"));
    }
    errors.into_result()?;
    let period = (start.is_some() || end.is_some()).then(|| Period {
        start: start.unwrap_or(chrono::DateTime::UNIX_EPOCH),
        // Far enough for any record, near enough for every database's time type.
        end: end.unwrap_or_else(|| chrono::DateTime::UNIX_EPOCH + Duration::days(365 * 8_000)),
    });
    let filter_key =
        format!("export?parent={}&content={}&profile={}&start={:?}&end={:?}", r.parent, cases, open_data, start, end);
    let mut page = page(1, &r.resume_token, &filter_key)
        .map_err(|_| ValidationError::one("resume_token", "is not a token returned by this export"))?;
    page.size = if r.chunk_size == 0 { DEFAULT_CHUNK } else { r.chunk_size as u32 };
    Ok(Export { cases, open_data, department, period, page, filter_key })
}

/// One chunk: the response (without its token), where the next one starts, and the departments
/// it holds rows of.
async fn chunk<S: FeedbackStore>(
    store: &S,
    scope: &TenantScope,
    x: &Export,
    page: &cityserve_domain::PageRequest,
) -> Result<(pb::ExportFeedbackResponse, Option<String>, BTreeSet<DepartmentId>), ApiError> {
    let what = "export";
    if x.cases {
        let filter = CaseFilter { department: x.department.clone(), received: x.period, ..CaseFilter::default() };
        let p = store
            .list_cases(scope, &filter, CaseOrder::Newest, page)
            .await
            .map_err(|e| ApiError::from_store(e, what))?;
        let departments = p.items.iter().map(|c| c.department_id.clone()).collect();
        let cases =
            p.items.iter().map(|c| if x.open_data { open_case(case_to_pb(c)) } else { case_to_pb(c) }).collect();
        return Ok((pb::ExportFeedbackResponse { cases, ..Default::default() }, p.next_after, departments));
    }
    let filter = FeedbackFilter { department: x.department.clone(), occurred: x.period, ..FeedbackFilter::default() };
    let p = store.list_feedback(scope, &filter, page).await.map_err(|e| ApiError::from_store(e, what))?;
    let departments: BTreeSet<DepartmentId> = p.items.iter().map(|f| f.department_id.clone()).collect();
    let mut own: HashMap<(DepartmentId, String), Vec<String>> = HashMap::new();
    if x.open_data {
        for d in &departments {
            let keys: Vec<&str> =
                p.items.iter().filter(|f| &f.department_id == d).filter_map(|f| f.resident_key.as_deref()).collect();
            let values = store.contact_values(scope, d, &keys).await.map_err(|e| ApiError::from_store(e, what))?;
            own.extend(values.into_iter().map(|(k, v)| ((d.clone(), k), v)));
        }
    }
    let feedback = p
        .items
        .iter()
        .map(|f| {
            if !x.open_data {
                return feedback_to_pb(f);
            }
            let key = (f.department_id.clone(), f.resident_key.clone().unwrap_or_default());
            let values: Vec<&str> = own.get(&key).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
            open_feedback(feedback_to_pb(f), &values)
        })
        .collect();
    Ok((pb::ExportFeedbackResponse { feedback, ..Default::default() }, p.next_after, departments))
}

/// A piece of feedback as the open-data profile publishes it (docs/export.md).
fn open_feedback(mut f: pb::Feedback, own: &[&str]) -> pb::Feedback {
    f.text = redact_text(&f.text, own);
    f.resident_key.clear();
    f.device_id.clear();
    f.account_id.clear();
    f.media_urls.clear();
    if let Some(l) = f.location.as_mut() {
        l.address.clear();
        l.address_id.clear();
        l.latitude = l.latitude.map(round_coordinate);
        l.longitude = l.longitude.map(round_coordinate);
    }
    for a in &mut f.attributes {
        for v in &mut a.values {
            *v = redact_text(v, own);
        }
    }
    f
}

/// A case as the open-data profile publishes it: its path and figures, no notes, no staff.
fn open_case(mut c: pb::Case) -> pb::Case {
    c.notes.clear();
    c.assignee.clear();
    c.etag.clear();
    for a in &mut c.recovery_actions {
        a.note.clear();
        a.actor.clear();
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_data_keeps_the_figures_and_drops_the_person() {
        let f = pb::Feedback {
            name: "departments/water/feedback/fb-1".into(),
            csat: Some(2),
            text: "Pat Doe here, 215-555-0101: the hydrant at 1401 Arch leaks".into(),
            resident_key: "r-0123".into(),
            device_id: "dev".into(),
            account_id: "acct".into(),
            media_urls: vec!["https://example.org/p.jpg".into()],
            location: Some(pb::Location {
                address: "1401 Arch St".into(),
                address_id: "A1".into(),
                latitude: Some(39.954_321),
                longitude: Some(-75.163_789),
            }),
            attributes: vec![pb::AttributeAnswer { code: "who".into(), values: vec!["Pat".into()] }],
            ..Default::default()
        };
        let o = open_feedback(f, &["Pat Doe"]);
        assert_eq!(o.text, "[redacted] [redacted] here, [redacted]: the hydrant at [redacted] Arch leaks");
        assert_eq!((o.csat, o.name.as_str()), (Some(2), "departments/water/feedback/fb-1"));
        assert!(o.resident_key.is_empty() && o.device_id.is_empty() && o.account_id.is_empty());
        assert!(o.media_urls.is_empty());
        let l = o.location.unwrap();
        assert_eq!((l.address.as_str(), l.address_id.as_str()), ("", ""));
        assert_eq!((l.latitude, l.longitude), (Some(39.954), Some(-75.164)));
        assert_eq!(o.attributes[0].values, vec!["[redacted]".to_owned()]);
    }

    #[test]
    fn bad_requests_name_their_fields() {
        let r = pb::ExportFeedbackRequest {
            parent: "departments/Water!".into(),
            content: 9,
            profile: 9,
            start_time: Some(prost_types::Timestamp { seconds: 100, nanos: 0 }),
            end_time: Some(prost_types::Timestamp { seconds: 50, nanos: 0 }),
            chunk_size: 5_000,
            resume_token: String::new(),
        };
        let Err(ApiError::Invalid(v)) = checked(&r) else { panic!("not invalid") };
        let fields: Vec<&str> = v.violations.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["parent", "content", "profile", "end_time", "chunk_size"]);
    }
}
