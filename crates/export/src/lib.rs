//! `cityserve export`: takes a city's feedback, cases or report cards out (CSV, JSON Lines or
//! Parquet) for its data warehouse,
//! its auditors or its open-data portal, as a client of the running server, so an export sees
//! exactly what its token may see and is audited like any other read of many residents' data.
//!
//! - feedback and cases stream through `ExportFeedback` in chunks; [`sink`] writes each chunk and
//!   its resume point, so `--resume` after a dropped connection or Ctrl-C continues where the
//!   file ends, with every row exactly once;
//! - report cards are read period by period through `GetReportCard`;
//! - [`records`] decides the columns: feedback in the import's columns (an export imports into
//!   another city), cases and cards field by field.
//!
//! Dates (`--from 2026-01-01`) are local days of the city's time zone, read from the server. See
//! docs/export.md.
pub mod parquet;
pub mod records;
pub mod sink;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::coordination_service_client::CoordinationServiceClient;
use cityserve_proto::v1::department_service_client::DepartmentServiceClient;
use cityserve_proto::v1::feedback_service_client::FeedbackServiceClient;
use records::{Shape, feedback_columns};
use sink::{Format, Sink};
use std::path::PathBuf;
use tonic::transport::{Channel, Endpoint};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    /// Every piece of feedback that occurred in the period.
    Feedback,
    /// Every complaint case received in the period, with its path.
    Cases,
    /// The report card of every period (day, week, month or quarter) in the span.
    ReportCards,
}

impl What {
    /// `feedback`, `cases` or `report-cards`.
    pub fn parse(s: &str) -> Option<What> {
        match s {
            "feedback" => Some(What::Feedback),
            "cases" => Some(What::Cases),
            "report-cards" => Some(What::ReportCards),
            _ => None,
        }
    }
}

/// What to export, from where, to where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, e.g. `http://127.0.0.1:50051`.
    pub server: String,
    /// A bearer token: a CSO exports their own department, the Chief or an auditor any.
    pub token: String,
    /// One department's ID, or `None` for every department the token may see.
    pub department: Option<String>,
    /// Feedback, cases or report cards.
    pub what: What,
    /// The open-data profile (feedback and cases): nothing that could identify a resident.
    pub open_data: bool,
    /// First day (a local date, `YYYY-MM-DD`) or instant (RFC 3339) of the span; `None` from the
    /// beginning (required for report cards).
    pub from: Option<String>,
    /// First day or instant after the span; `None` up to now.
    pub to: Option<String>,
    /// Report cards: `day`, `week`, `month` or `quarter`.
    pub period: String,
    /// The output file: `.csv`, or `.jsonl`/`.ndjson` for JSON Lines.
    pub out: PathBuf,
    /// Continue an export that stopped, from `OUT.resume`.
    pub resume: bool,
    /// Rows per chunk (0: the server's default).
    pub chunk_size: i32,
}

/// Why an export could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// The output could not be written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The server could not be reached or refused the export.
    #[error("{0}")]
    Server(String),
}

fn request<T>(message: T, token: &str) -> Result<tonic::Request<T>, ExportError> {
    let mut r = tonic::Request::new(message);
    let value =
        format!("Bearer {token}").parse().map_err(|_| ExportError::Usage("the token is not valid text".into()))?;
    r.metadata_mut().insert("authorization", value);
    Ok(r)
}

fn server_error(status: &tonic::Status) -> ExportError {
    ExportError::Server(format!("{:?}: {}", status.code(), status.message()))
}

/// Runs an export; answers the rows in the file.
pub async fn run(o: &Options) -> Result<u64, ExportError> {
    if o.token.trim().is_empty() {
        return Err(ExportError::Usage("a token is needed: --token or CITYSERVE_TOKEN".into()));
    }
    if !o.server.starts_with("http://") {
        return Err(ExportError::Usage(
            "--server must be an http:// address (for a TLS-only server, export through a local port-forward)".into(),
        ));
    }
    let channel = Endpoint::from_shared(o.server.clone())
        .map_err(|e| ExportError::Usage(format!("--server: {e}")))?
        .connect()
        .await
        .map_err(|e| ExportError::Server(format!("cannot reach {}: {e}", o.server)))?;
    let zone = city_zone(&channel, &o.token).await?;
    let from = o.from.as_deref().map(|v| instant("--from", v, zone)).transpose()?;
    let to = o.to.as_deref().map(|v| instant("--to", v, zone)).transpose()?;
    match o.what {
        What::Feedback | What::Cases => stream(o, &channel, from, to).await,
        What::ReportCards => {
            let from = from.ok_or_else(|| ExportError::Usage("report cards need --from".into()))?;
            cards(o, &channel, zone, from, to.unwrap_or_else(Utc::now)).await
        }
    }
}

/// The city's time zone, in which dates are days.
async fn city_zone(channel: &Channel, token: &str) -> Result<chrono_tz::Tz, ExportError> {
    let mut client = DepartmentServiceClient::new(channel.clone());
    let r = request(pb::GetCityCalendarRequest { name: "calendar".into() }, token)?;
    let calendar = client.get_city_calendar(r).await.map_err(|s| server_error(&s))?.into_inner();
    let zone = calendar.city_calendar.map(|c| c.time_zone).unwrap_or_default();
    zone.parse().map_err(|_| ExportError::Server(format!("the city's time zone {zone:?} is unknown here")))
}

/// A local date's first instant in `zone`, or an RFC 3339 instant.
fn instant(option: &str, v: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, ExportError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map_err(|_| ExportError::Usage(format!("{option} {v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time")))?;
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    zone.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ExportError::Usage(format!("{option} {v:?}: no such local time")))
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn file_error(o: &Options, e: impl std::fmt::Display) -> ExportError {
    ExportError::File { path: o.out.clone(), message: e.to_string() }
}

/// Feedback or cases through `ExportFeedback`, chunk by chunk.
async fn stream(
    o: &Options,
    channel: &Channel,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<u64, ExportError> {
    let case_shape = Shape::of("Case").ok_or_else(|| ExportError::Usage("no Case descriptor".into()))?;
    let columns = if o.what == What::Cases { case_shape.columns().to_vec() } else { feedback_columns() };
    let format = Format::of(&o.out);
    if o.resume && format == Format::Parquet {
        return Err(ExportError::Usage(
            "--resume: a Parquet file is written whole; run the export again without --resume".into(),
        ));
    }
    let (mut sink, at) = Sink::open(&o.out, format, &columns, o.resume).map_err(|e| file_error(o, e))?;
    let label = o.out.file_name().map_or_else(|| o.out.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut progress = cityserve_progress::Progress::counting(&label, "rows");
    progress.advance(at.rows);
    let parent = format!("departments/{}", o.department.as_deref().unwrap_or("-"));
    let req = pb::ExportFeedbackRequest {
        parent,
        content: if o.what == What::Cases { pb::ExportContent::Cases } else { pb::ExportContent::Feedback } as i32,
        profile: if o.open_data { pb::ExportProfile::OpenData } else { pb::ExportProfile::Caller } as i32,
        start_time: from.map(timestamp),
        end_time: to.map(timestamp),
        chunk_size: o.chunk_size,
        resume_token: at.token,
    };
    let mut client = FeedbackServiceClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
    let stopped = |s: tonic::Status| {
        ExportError::Server(format!(
            "{:?}: {} (the rows so far are kept: run again with --resume)",
            s.code(),
            s.message()
        ))
    };
    let mut chunks = client.export_feedback(request(req, &o.token)?).await.map_err(|s| server_error(&s))?.into_inner();
    while let Some(chunk) = chunks.message().await.map_err(stopped)? {
        let rows: Vec<records::Record> = if o.what == What::Cases {
            chunk.cases.iter().map(|c| case_shape.record(c)).collect()
        } else {
            chunk.feedback.iter().map(records::feedback).collect()
        };
        sink.append(&rows, &chunk.resume_token).map_err(|e| file_error(o, e))?;
        progress.advance(rows.len() as u64);
    }
    progress.finish();
    sink.finish().map_err(|e| file_error(o, e))
}

/// The report cards of every period from `from` to `to`, department by department.
async fn cards(
    o: &Options,
    channel: &Channel,
    zone: chrono_tz::Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, ExportError> {
    let period = match o.period.as_str() {
        "day" => pb::ReportPeriod::Day,
        "week" => pb::ReportPeriod::Week,
        "month" => pb::ReportPeriod::Month,
        "quarter" => pb::ReportPeriod::Quarter,
        other => return Err(ExportError::Usage(format!("--period {other:?}: day, week, month or quarter"))),
    };
    let departments = match &o.department {
        Some(d) => vec![d.clone()],
        None => departments(channel, &o.token).await?,
    };
    let shape = Shape::of("ReportCard").ok_or_else(|| ExportError::Usage("no ReportCard descriptor".into()))?;
    let (mut sink, _) = Sink::open(&o.out, Format::of(&o.out), shape.columns(), false).map_err(|e| file_error(o, e))?;
    let mut progress = cityserve_progress::Progress::counting("report cards", "cards");
    let mut client = CoordinationServiceClient::new(channel.clone());
    let first_day = from.with_timezone(&zone).date_naive();
    for d in &departments {
        let mut day = first_day;
        loop {
            let r = pb::GetReportCardRequest {
                department: format!("departments/{d}"),
                period: period as i32,
                date: day.format("%Y-%m-%d").to_string(),
            };
            let card = match client.get_report_card(request(r, &o.token)?).await {
                Ok(c) => c.into_inner().report_card,
                // Every department was asked for: those out of the token's reach are skipped.
                Err(s) if o.department.is_none() && s.code() == tonic::Code::NotFound => None,
                Err(s) => return Err(server_error(&s)),
            };
            let Some(card) = card else { break };
            sink.append(&[shape.record(&card)], "").map_err(|e| file_error(o, e))?;
            progress.advance(1);
            let end = card
                .end_time
                .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
                .ok_or_else(|| ExportError::Server("a report card without an end time".into()))?;
            if end >= to {
                break;
            }
            day = end.with_timezone(&zone).date_naive();
        }
    }
    progress.finish();
    sink.finish().map_err(|e| file_error(o, e))
}

/// Every department's ID the token may see (ListDepartments, all pages).
async fn departments(channel: &Channel, token: &str) -> Result<Vec<String>, ExportError> {
    let mut client = DepartmentServiceClient::new(channel.clone());
    let (mut out, mut page_token) = (Vec::new(), String::new());
    loop {
        let r = pb::ListDepartmentsRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_departments(request(r, token)?).await.map_err(|s| server_error(&s))?.into_inner();
        out.extend(page.departments.iter().filter_map(|d| d.name.strip_prefix("departments/").map(str::to_owned)));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_the_citys_days() {
        let zone: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(instant("--from", "2026-11-01", zone).unwrap().to_rfc3339(), "2026-11-01T04:00:00+00:00");
        assert_eq!(instant("--to", "2026-11-02", zone).unwrap().to_rfc3339(), "2026-11-02T05:00:00+00:00");
        assert_eq!(instant("--to", "2026-11-02T10:00:00Z", zone).unwrap().to_rfc3339(), "2026-11-02T10:00:00+00:00");
        assert!(matches!(instant("--from", "last week", zone), Err(ExportError::Usage(_))));
    }
}
