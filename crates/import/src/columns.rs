//! The columns of an import file: the feedback fields by their proto names, and how each cell
//! becomes part of a `SubmitFeedbackRequest`. Only parsing happens here (text to numbers, times and
//! enum values); every rule about what is allowed (CSAT 1-5, text limits, which departments exist)
//! is the server's, so an import gets exactly the validation of any other call.
use chrono::{DateTime, NaiveDate, Utc};
use cityserve_proto::v1 as pb;

/// Every column an import file may have, in the order the documentation lists them.
pub const COLUMNS: &[(&str, &str)] = &[
    ("department", "the department the feedback is for, `water` or `departments/water` (required)"),
    ("channel", "SURVEY, INTERCEPT, PHONE, COMMENT_CARD, WEB, EMAIL, SOCIAL, IN_PERSON or 311"),
    ("kind", "COMPLAINT, COMPLIMENT, SUGGESTION, QUESTION or SURVEY_RESPONSE"),
    ("csat", "satisfaction 1-5, or empty"),
    ("nps", "likelihood to recommend 0-10, or empty"),
    ("text", "the resident's words"),
    ("language_code", "BCP 47 tag of the text, e.g. en or es-US"),
    ("service_category_id", "the department's service category, e.g. water-bill"),
    ("occur_time", "when the contact happened: RFC 3339 (2026-03-01T10:15:00-05:00) or a day (2026-03-01)"),
    ("email", "the resident's e-mail (stored apart, never exported to open data)"),
    ("phone", "the resident's phone"),
    ("internal_customer", "for feedback from another department: that department"),
    ("address", "where, as text"),
    ("latitude", "where: latitude"),
    ("longitude", "where: longitude"),
];

/// Columns `cityserve export` writes that an import skips: what the server assigns (the name, the
/// receive time, the resident key, the case) is assigned anew in the city imported into.
pub const EXPORTED_ONLY: &[&str] = &["name", "receive_time", "resident_key", "case", "erased"];

/// A cell that could not be read: the column and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    /// The column (our name, after `--map`).
    pub field: String,
    /// What is wrong, for the errors file.
    pub reason: String,
}

impl CellError {
    fn new(field: &str, reason: impl Into<String>) -> CellError {
        CellError { field: field.to_owned(), reason: reason.into() }
    }
}

/// Whether `name` is a known column.
pub fn is_column(name: &str) -> bool {
    COLUMNS.iter().any(|(c, _)| *c == name)
}

/// `water` or `departments/water` as a resource name.
fn department_name(v: &str) -> String {
    if v.starts_with("departments/") { v.to_owned() } else { format!("departments/{v}") }
}

fn enum_value(field: &str, v: &str, prefix: &str, parse: impl Fn(&str) -> Option<i32>) -> Result<i32, CellError> {
    let upper = v.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    let full = if upper.starts_with(prefix) { upper } else { format!("{prefix}{upper}") };
    parse(&full).filter(|n| *n != 0).ok_or_else(|| CellError::new(field, format!("unknown value {v:?}")))
}

fn number<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, CellError> {
    v.trim().parse().map_err(|_| CellError::new(field, format!("{v:?} is not a number")))
}

fn time(field: &str, v: &str) -> Result<prost_types::Timestamp, CellError> {
    let v = v.trim();
    let t: DateTime<Utc> = DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(12, 0, 0)).map(|t| t.and_utc())
        })
        .ok_or_else(|| CellError::new(field, format!("{v:?} is not a time (RFC 3339, or YYYY-MM-DD)")))?;
    Ok(prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 })
}

/// Builds the request of one row from its `(column, value)` cells; empty cells count as absent.
/// `request_id` makes a re-run of the same row file it once.
pub fn request(cells: &[(String, String)], request_id: String) -> Result<pb::SubmitFeedbackRequest, CellError> {
    let mut r = pb::SubmitFeedbackRequest { request_id, ..Default::default() };
    let mut f = pb::Feedback::default();
    let mut location = pb::Location::default();
    let mut contact = pb::ResidentContact::default();
    for (column, value) in cells {
        if value.trim().is_empty() {
            continue;
        }
        let v = value.as_str();
        match column.as_str() {
            "department" => r.parent = department_name(v.trim()),
            "channel" => {
                f.channel = enum_value(column, v, "CHANNEL_", |s| pb::Channel::from_str_name(s).map(|c| c as i32))?
            }
            "kind" => {
                f.kind =
                    enum_value(column, v, "FEEDBACK_KIND_", |s| pb::FeedbackKind::from_str_name(s).map(|k| k as i32))?
            }
            "csat" => f.csat = Some(number(column, v)?),
            "nps" => f.nps = Some(number(column, v)?),
            "text" => f.text = v.to_owned(),
            "language_code" => f.language_code = v.trim().to_owned(),
            "service_category_id" => f.service_category_id = v.trim().to_owned(),
            "occur_time" => f.occur_time = Some(time(column, v)?),
            "email" => contact.email = v.trim().to_owned(),
            "phone" => contact.phone = v.trim().to_owned(),
            "internal_customer" => f.internal_customer = department_name(v.trim()),
            "address" => location.address = v.to_owned(),
            "latitude" => location.latitude = Some(number(column, v)?),
            "longitude" => location.longitude = Some(number(column, v)?),
            other => return Err(CellError::new(other, "is not a column")),
        }
    }
    if r.parent.is_empty() {
        return Err(CellError::new("department", "is required"));
    }
    if location != pb::Location::default() {
        f.location = Some(location);
    }
    if contact != pb::ResidentContact::default() {
        r.resident = Some(contact);
    }
    r.feedback = Some(f);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn a_row_becomes_a_submission() {
        let r = request(
            &cells(&[
                ("department", "water"),
                ("channel", "comment card"),
                ("kind", "COMPLAINT"),
                ("csat", "2"),
                ("nps", ""),
                ("text", "Bill doubled"),
                ("occur_time", "2026-03-01"),
                ("email", "pat@example.org"),
                ("internal_customer", "departments/streets"),
                ("latitude", "39.95"),
                ("longitude", "-75.16"),
            ]),
            "imp-1".into(),
        )
        .unwrap();
        assert_eq!(r.parent, "departments/water");
        let f = r.feedback.unwrap();
        assert_eq!(f.channel, pb::Channel::CommentCard as i32);
        assert_eq!(f.kind, pb::FeedbackKind::Complaint as i32);
        assert_eq!((f.csat, f.nps), (Some(2), None));
        assert_eq!(f.internal_customer, "departments/streets");
        assert_eq!(f.location.unwrap().latitude, Some(39.95));
        assert_eq!(r.resident.unwrap().email, "pat@example.org");
        assert_eq!(f.occur_time.unwrap().seconds, 1_772_366_400);
        assert_eq!(
            request(&cells(&[("department", "x"), ("channel", "311")]), String::new())
                .unwrap()
                .feedback
                .unwrap()
                .channel,
            pb::Channel::Channel311 as i32
        );
    }

    #[test]
    fn unreadable_cells_name_their_column() {
        for (row, field) in [
            (&[("department", "x"), ("csat", "five")][..], "csat"),
            (&[("department", "x"), ("occur_time", "last week")][..], "occur_time"),
            (&[("department", "x"), ("channel", "pigeon")][..], "channel"),
            (&[("channel", "WEB")][..], "department"),
        ] {
            assert_eq!(request(&cells(row), String::new()).unwrap_err().field, field, "{row:?}");
        }
    }
}
