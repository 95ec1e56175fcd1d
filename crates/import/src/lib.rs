//! `cityserve import FILE…`: brings a city's history in (a survey vendor's CSV, a 311 CRM's
//! export, comment cards typed into a spreadsheet) as a client of the running server, so every row
//! goes through the validation, authorization, idempotency and audit of any other call.
//!
//! - [`source`] reads CSV or JSON Lines into rows (with `--map` for a vendor's column names);
//! - [`columns`] turns a row into a `SubmitFeedbackRequest` (parsing only: the rules are the
//!   server's);
//! - [`submit`] sends them in batches of one department, several in flight, with keys derived
//!   from the file's content so a re-run or a resumed run never doubles a row;
//! - [`progress`] shows how far it got.
//!
//! Every refused row is written to `FILE.errors.csv` with its line, field and reason; nothing is
//! dropped silently. See docs/import.md.
pub mod columns;
pub mod source;
pub mod submit;

use cityserve_proto::v1::feedback_service_client::FeedbackServiceClient;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use submit::{Batch, Outcome};
use tonic::transport::{Channel, Endpoint};

/// Rows per `BatchSubmitFeedback` call. Fixed, not an option: a batch's idempotency key is
/// derived from the rows it carries, so every run of a file must cut it into the same batches for
/// a resumed or repeated run to replay instead of filing again.
pub const BATCH_ROWS: usize = 500;

/// What to import and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, e.g. `http://127.0.0.1:50051`.
    pub server: String,
    /// A bearer token: a CSO's imports into their department, a Chief's or a service account's
    /// into any department it may file for.
    pub token: String,
    /// The files.
    pub files: Vec<PathBuf>,
    /// `--map "Theirs=ours,…"`.
    pub map: String,
    /// Batches in flight at once.
    pub in_flight: usize,
}

/// What an import of one file did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows read.
    pub rows: u64,
    /// Rows this run filed.
    pub imported: u64,
    /// Rows an earlier run of the same file had filed.
    pub already_present: u64,
    /// Rows refused (listed in the errors file).
    pub refused: u64,
    /// Where the refused rows are listed, when there are any.
    pub errors_file: Option<PathBuf>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Bad options.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The server could not be reached or refused the import as a whole.
    #[error("{0}")]
    Server(String),
}

/// The errors file of `path`: `path` + `.errors.csv`.
pub fn errors_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".errors.csv");
    PathBuf::from(name)
}

/// Imports every file in turn; one summary per file.
pub async fn run(options: &Options) -> Result<Vec<(PathBuf, Summary)>, ImportError> {
    if options.token.trim().is_empty() {
        return Err(ImportError::Usage("a token is needed: --token or CITYSERVE_TOKEN".into()));
    }
    let map = source::parse_map(&options.map).map_err(ImportError::Usage)?;
    if !options.server.starts_with("http://") {
        return Err(ImportError::Usage(
            "--server must be an http:// address (for a TLS-only server, import through a local port-forward)".into(),
        ));
    }
    let channel = Endpoint::from_shared(options.server.clone())
        .map_err(|e| ImportError::Usage(format!("--server: {e}")))?
        .connect()
        .await
        .map_err(|e| ImportError::Server(format!("cannot reach {}: {e}", options.server)))?;
    let mut out = Vec::with_capacity(options.files.len());
    for path in &options.files {
        let summary = import_file(options, &channel, &map, path).await?;
        out.push((path.clone(), summary));
    }
    Ok(out)
}

async fn import_file(
    options: &Options,
    channel: &Channel,
    map: &HashMap<String, String>,
    path: &Path,
) -> Result<Summary, ImportError> {
    let file_error = |message: String| ImportError::File { path: path.to_owned(), message };
    let bytes = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    let file_hash: String = Sha256::digest(&bytes).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let rows = source::rows(&bytes, source::Format::of(path), map).map_err(|e| file_error(e.to_string()))?;
    let mut outcomes: BTreeMap<u64, Outcome> = BTreeMap::new();
    // Rows are sent per department, in file order.
    let mut departments: BTreeMap<String, Vec<(u64, cityserve_proto::v1::SubmitFeedbackRequest)>> = BTreeMap::new();
    for row in &rows {
        let request = row
            .cells
            .as_ref()
            .map_err(|(f, r)| columns::CellError { field: f.clone(), reason: r.clone() })
            .and_then(|cells| columns::request(cells, format!("imp-{file_hash}-{}", row.line)));
        match request {
            Ok(r) => departments.entry(r.parent.clone()).or_default().push((row.line, r)),
            Err(e) => {
                outcomes.insert(row.line, Outcome::Refused(e.field, e.reason));
            }
        }
    }
    let batches: Vec<Batch> = departments
        .into_iter()
        .flat_map(|(parent, rows)| {
            rows.chunks(BATCH_ROWS)
                .map(|chunk| Batch { parent: parent.clone(), rows: chunk.to_vec() })
                .collect::<Vec<_>>()
        })
        .collect();
    // Rows the server received before this run began were filed by an earlier run. This split
    // relies on the client's clock agreeing with the server's (as NTP keeps them); the row counts
    // do not depend on it.
    let since = chrono::Utc::now();
    let label = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut progress = cityserve_progress::Progress::new(&label, rows.len() as u64, "rows");
    progress.advance(outcomes.len() as u64);
    let client = FeedbackServiceClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
    let mut sent = futures::stream::iter(batches)
        .map(|batch| {
            let mut client = client.clone();
            let (token, hash) = (options.token.clone(), file_hash.clone());
            async move { submit::send(&mut client, &token, &hash, batch, since).await }
        })
        .buffer_unordered(options.in_flight.max(1));
    while let Some(result) = sent.next().await {
        let done = result.map_err(|e| ImportError::Server(e.0))?;
        progress.advance(done.len() as u64);
        outcomes.extend(done);
    }
    progress.finish();
    let mut summary = Summary { rows: rows.len() as u64, ..Summary::default() };
    let mut refused = Vec::new();
    for (line, outcome) in &outcomes {
        match outcome {
            Outcome::Imported => summary.imported += 1,
            Outcome::AlreadyPresent => summary.already_present += 1,
            Outcome::Refused(field, reason) => refused.push((*line, field.as_str(), reason.as_str())),
        }
    }
    summary.refused = refused.len() as u64;
    let errors = errors_path(path);
    if refused.is_empty() {
        // A stale list from an earlier run would say rows were refused that no longer are.
        let _ = std::fs::remove_file(&errors);
    } else {
        write_errors(&errors, &refused).map_err(|e| file_error(format!("writing {}: {e}", errors.display())))?;
        summary.errors_file = Some(errors);
    }
    Ok(summary)
}

/// `line,field,reason`, one refused row a line, in file order.
fn write_errors(path: &Path, refused: &[(u64, &str, &str)]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["line", "field", "reason"])?;
    for (line, field, reason) in refused {
        w.write_record([line.to_string().as_str(), field, reason])?;
    }
    w.flush()?;
    Ok(())
}
