//! Sending rows to the server in batches over `BatchSubmitFeedback`, several in flight.
//!
//! Each batch's `request_id` is derived from the file's content hash, its first line and the lines
//! it carries, so the same file sends the same batches in every run: running an import again, or
//! after a crash or Ctrl-C, replays what was filed instead of doubling it. Batches go item by item
//! (`allow_partial_success`): the server files the good rows and answers a status for each bad
//! one, so one bad row costs only itself. A server that refuses a batch whole because of some of
//! its rows (the field violations or the message name `requests[i]`) gets those rows refused and
//! the rest sent again as a new batch.
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::feedback_service_client::FeedbackServiceClient;
use sha2::{Digest, Sha256};
use std::time::Duration;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Filed by this run.
    Imported,
    /// Filed by an earlier run of the same file (its batch was replayed).
    AlreadyPresent,
    /// Refused: the field and the reason.
    Refused(String, String),
}

/// Rows of one department on their way to the server.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `departments/{department}`.
    pub parent: String,
    /// `(line, request)` in file order.
    pub rows: Vec<(u64, pb::SubmitFeedbackRequest)>,
}

/// An error that stops the whole import (the server is away, the token is refused).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String);

/// How long a batch is retried while the server answers UNAVAILABLE and the like (a restart, a
/// database failover, load shedding), with backoff from 200 ms up to 5 s between tries.
const RETRY_FOR: Duration = Duration::from_secs(120);

/// Sends `batch` until every row has an outcome. `since` is when the import began: rows the
/// server received before it were filed by an earlier run.
pub async fn send(
    client: &mut FeedbackServiceClient<Channel>,
    token: &str,
    file_hash: &str,
    mut batch: Batch,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(u64, Outcome)>, Fatal> {
    let mut outcomes = Vec::with_capacity(batch.rows.len());
    let mut backoff = Duration::from_millis(200);
    let mut retrying_since: Option<std::time::Instant> = None;
    while !batch.rows.is_empty() {
        let request = pb::BatchSubmitFeedbackRequest {
            parent: batch.parent.clone(),
            requests: batch.rows.iter().map(|(_, r)| r.clone()).collect(),
            request_id: batch_key(file_hash, &batch),
            allow_partial_success: true,
        };
        let mut call = tonic::Request::new(request);
        let bearer =
            format!("Bearer {token}").parse().map_err(|_| Fatal("the token is not valid header text".into()))?;
        call.metadata_mut().insert("authorization", bearer);
        match client.batch_submit_feedback(call).await {
            Ok(response) => {
                let pb::BatchSubmitFeedbackResponse { results, statuses } = response.into_inner();
                for (i, ((line, _), result)) in batch.rows.iter().zip(results).enumerate() {
                    if let Some(status) = statuses.get(i).filter(|s| s.code != 0) {
                        let (field, reason) = item_refusal(status);
                        outcomes.push((*line, Outcome::Refused(field, reason)));
                        continue;
                    }
                    let received = result
                        .feedback
                        .and_then(|f| f.receive_time)
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)));
                    let earlier = received.is_some_and(|t| t < since);
                    outcomes.push((*line, if earlier { Outcome::AlreadyPresent } else { Outcome::Imported }));
                }
                return Ok(outcomes);
            }
            Err(status) => match status.code() {
                Code::InvalidArgument | Code::FailedPrecondition | Code::AlreadyExists => {
                    let refused = refused_items(&status, batch.rows.len());
                    if refused.is_empty() {
                        // Not about particular rows: the batch as a whole is refused.
                        let reason = status.message().to_owned();
                        outcomes.extend(
                            batch.rows.drain(..).map(|(l, _)| (l, Outcome::Refused("row".into(), reason.clone()))),
                        );
                    } else {
                        let mut i = 0;
                        batch.rows.retain(|(line, _)| {
                            let keep = match refused.iter().find(|(at, _, _)| *at == i) {
                                Some((_, field, reason)) => {
                                    outcomes.push((*line, Outcome::Refused(field.clone(), reason.clone())));
                                    false
                                }
                                None => true,
                            };
                            i += 1;
                            keep
                        });
                    }
                }
                Code::NotFound | Code::PermissionDenied => {
                    // The department does not exist, or is not the caller's to file for.
                    let reason = format!("{} not found, or not yours to import into", batch.parent);
                    outcomes.extend(
                        batch.rows.drain(..).map(|(l, _)| (l, Outcome::Refused("department".into(), reason.clone()))),
                    );
                }
                Code::Unavailable | Code::DeadlineExceeded | Code::ResourceExhausted | Code::Aborted
                    if retrying_since.get_or_insert_with(std::time::Instant::now).elapsed() < RETRY_FOR =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                _ => {
                    return Err(Fatal(format!(
                        "the server refused the import: {:?}: {}",
                        status.code(),
                        status.message()
                    )));
                }
            },
        }
    }
    Ok(outcomes)
}

/// The field and the reason of one item's refusal in an item-by-item answer: the first field
/// violation (within the row), or the message without its `requests[i]: ` prefix.
fn item_refusal(status: &tonic_types::pb::Status) -> (String, String) {
    for any in status.details.iter().filter(|a| a.type_url.ends_with("google.rpc.BadRequest")) {
        let Ok(bad) = <tonic_types::pb::BadRequest as prost::Message>::decode(any.value.as_slice()) else { continue };
        if let Some(v) = bad.field_violations.first() {
            let field = item_of(&v.field).map_or(v.field.as_str(), |(_, f)| f);
            return (field.to_owned(), v.description.clone());
        }
    }
    let message = status.message.split_once(": ").filter(|(head, _)| item_of(head).is_some());
    ("row".to_owned(), message.map_or(status.message.as_str(), |(_, m)| m).to_owned())
}

/// The rows a refusal names: `(index, field within the row, reason)`.
fn refused_items(status: &Status, len: usize) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    let mut add = |text: &str, reason: &str| {
        if let Some((i, field)) = item_of(text)
            && i < len
            && !out.iter().any(|(at, _, _): &(usize, String, String)| *at == i)
        {
            out.push((i, field.to_owned(), reason.to_owned()));
        }
    };
    if let Some(bad) = status.get_details_bad_request() {
        for v in &bad.field_violations {
            add(&v.field, &v.description);
        }
    }
    // FAILED_PRECONDITION and ALREADY_EXISTS name the item in the message: `requests[3]: ...`.
    if let Some((head, reason)) = status.message().split_once(": ") {
        add(head, reason);
    }
    out
}

/// `requests[3].feedback.csat` as `(3, "feedback.csat")`.
fn item_of(field: &str) -> Option<(usize, &str)> {
    let rest = field.strip_prefix("requests[")?;
    let (index, rest) = rest.split_once(']')?;
    Some((index.parse().ok()?, rest.strip_prefix('.').unwrap_or("row")))
}

/// The batch's idempotency key: the file, where the batch starts and which lines it carries.
fn batch_key(file_hash: &str, batch: &Batch) -> String {
    let mut lines = Sha256::new();
    for (line, _) in &batch.rows {
        lines.update(line.to_le_bytes());
    }
    let digest: String = lines.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let first = batch.rows.first().map_or(0, |(l, _)| *l);
    format!("impb-{file_hash}-{first}-{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_fields_are_read_from_violations_and_messages() {
        assert_eq!(item_of("requests[3].feedback.csat"), Some((3, "feedback.csat")));
        assert_eq!(item_of("requests[12]"), Some((12, "row")));
        assert_eq!(item_of("parent"), None);
        let status = Status::failed_precondition("requests[2]: service category pothole is not active");
        assert_eq!(
            refused_items(&status, 5),
            [(2, "row".to_owned(), "service category pothole is not active".to_owned())]
        );
        assert!(refused_items(&status, 2).is_empty(), "an index past the batch is ignored");
    }

    #[test]
    fn an_item_status_names_the_field_within_the_row() {
        let status: Status = Status::with_error_details(
            Code::InvalidArgument,
            "bad",
            tonic_types::ErrorDetails::with_bad_request(vec![tonic_types::FieldViolation::new(
                "requests[4].feedback.csat",
                "must be 1-5",
            )]),
        );
        let rich = <tonic_types::pb::Status as prost::Message>::decode(status.details()).expect("details");
        assert_eq!(item_refusal(&rich), ("feedback.csat".to_owned(), "must be 1-5".to_owned()));
        let plain = tonic_types::pb::Status {
            code: Code::FailedPrecondition as i32,
            message: "requests[2]: service category pothole is not active".into(),
            details: Vec::new(),
        };
        assert_eq!(item_refusal(&plain), ("row".to_owned(), "service category pothole is not active".to_owned()));
    }

    #[test]
    fn the_same_rows_make_the_same_key() {
        let batch = |lines: &[u64]| Batch {
            parent: "departments/water".into(),
            rows: lines.iter().map(|l| (*l, pb::SubmitFeedbackRequest::default())).collect(),
        };
        assert_eq!(batch_key("abc", &batch(&[2, 3, 4])), batch_key("abc", &batch(&[2, 3, 4])));
        assert_ne!(batch_key("abc", &batch(&[2, 3, 4])), batch_key("abc", &batch(&[2, 4])));
        assert!(batch_key(&"f".repeat(16), &batch(&[u64::MAX])).len() <= 128);
    }
}
