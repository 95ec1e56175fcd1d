//! The demo city: seven departments with CSOs, staff, categories and standards; months of
//! feedback over every channel (bulk-loaded with its own times, so report cards have history);
//! cases in every state; and, on top, live hand-offs (one ping-pong), escalations, a dumb rule
//! with votes and a decision, an initiative, recognitions and a plan with focus progress, all made
//! through the normal store paths. A scale of N loads N contacts (millions for benchmarks).
//!
//! The crate works on any store ([`load_with`]); `cityserve demo` (the server crate) opens the
//! configured database, appoints the first Chief and calls it.
//!
//! - [`city`]: the departments, their categories and the channel and kind mix;
//! - [`generate`]: the generated contacts, on threads of their own ahead of the imports;
//! - [`seed`]: each department's officers, categories and standards;
//! - [`live`]: the live coordination on top.
mod board;
mod city;
mod generate;
mod live;
mod moments;
mod seed;

use chrono::Utc;
use cityserve_domain::coordination::BREACH_SCAN_ACTOR;
use cityserve_domain::policy::system_scope;
use cityserve_domain::{
    Action, AuditAction, Caller, DepartmentId, FeedbackId, FeedbackKind, Role, TenantScope, authorize,
};
use cityserve_store::coordination::CoordinationStore;
use cityserve_store::import::{ImportStore, ImportedContact};
use cityserve_store::{Idempotency, Open311Store, StoreError, WriteCtx, now_micros};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::mpsc;

use city::CITY;

/// The demo's frequent caller: a resident key with 1,000 contacts across departments (the
/// benchmark's `timeline` scenario reads it).
pub const FREQUENT_CALLER: &str = "r-00000000000000000000000000000001";

/// Contacts per batch a department's generator hands to its import (each department loads in one
/// transaction, whatever the batch size).
pub(crate) const IMPORT_BATCH: usize = 10_000;

/// Batches a department's generator may run ahead of its import.
const PREFETCH: usize = 2;

/// What to load.
#[derive(Debug, Clone)]
pub struct DemoSpec {
    /// How many contacts (feedback records) in all.
    pub scale: u64,
    /// Over how many months back from now.
    pub months: u32,
    /// Random seed (the same seed loads the same city).
    pub seed: u64,
}

impl Default for DemoSpec {
    fn default() -> Self {
        Self { scale: 5_000, months: 6, seed: 311 }
    }
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct DemoReport {
    /// Departments created.
    pub departments: usize,
    /// Moments-of-truth observations recorded (with touchpoints and rubrics).
    pub observations: usize,
    /// Customer themes applied to recent complaints (with the panel and a dropped initiative).
    pub theme_tags: usize,
    /// Contacts loaded.
    pub contacts: u64,
    /// Seconds the bulk load of contacts took.
    pub load_seconds: f64,
    /// Escalations raised by the breach scan at the end.
    pub escalations: usize,
    /// Of those, digests (one escalation for a department's many breaches found at once).
    pub digests: usize,
    /// The breaches the scan found (each digest counts all it covers).
    pub breaches: i64,
}

/// Why the demo could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The demo city is there already.
    #[error("the demo city is already loaded in this database (department streets exists)")]
    AlreadyLoaded,
    /// A store call failed.
    #[error("{0}: {1}")]
    Store(&'static str, StoreError),
    /// Opening the database or appointing the first Chief failed.
    #[error(transparent)]
    Open(Box<dyn std::error::Error + Send + Sync>),
    /// Generated feedback broke a rule the API enforces (a bug in the generator).
    #[error("demo feedback: {0}")]
    Invalid(#[from] cityserve_domain::ValidationError),
}

pub(crate) fn did(s: &str) -> DepartmentId {
    // The demo's IDs are constants that are valid slugs.
    DepartmentId::parse("department", s).unwrap_or_else(|_| unreachable!("demo department IDs are slugs"))
}

pub(crate) fn key(id: &str) -> Idempotency {
    Idempotency { request_id: format!("demo-{id}"), request_hash: format!("demo-{id}") }
}

pub(crate) fn store_err(what: &'static str) -> impl Fn(StoreError) -> DemoError {
    move |e| DemoError::Store(what, e)
}

/// The Chief who appears as the demo's actor.
pub(crate) fn chief_caller() -> Caller {
    Caller { subject: "chief-cso".into(), role: Role::Chief, departments: Vec::new() }
}

pub(crate) fn cso(d: &str) -> Caller {
    Caller { subject: format!("cso-{d}"), role: Role::Cso, departments: vec![did(d)] }
}

pub(crate) fn scope(c: &Caller, a: Action, d: Option<&DepartmentId>) -> Result<TenantScope, DemoError> {
    authorize(c, a, d).map_err(|_| DemoError::Store("authorize", StoreError::NotFound))
}

pub(crate) fn wctx<'a>(scope: &'a TenantScope, actor: &'a Caller, action: AuditAction) -> WriteCtx<'a> {
    WriteCtx { scope, actor, action: action.as_str(), trace_id: None }
}

/// How many generated contacts `spec` loads in bulk: what [`load_with`]'s progress counts up to
/// (the frequent caller's 1,000 come on top).
pub fn bulk_contacts(spec: &DemoSpec) -> u64 {
    let total_weight: u64 = CITY.iter().map(|d| u64::from(d.weight)).sum();
    CITY.iter().map(|d| spec.scale * u64::from(d.weight) / total_weight).sum()
}

/// Loads the demo city into `store`, importing up to `parallel` departments at once (1 or 2; more
/// counts as 2), each in a transaction on a connection of its own: 2 suits PostgreSQL on two
/// cores, while SQLite has a single writer and takes 1. `progress` counts the bulk contacts
/// handed to the database so far, up to [`bulk_contacts`], for a progress display.
pub async fn load_with<
    S: ImportStore
        + CoordinationStore
        + Open311Store
        + cityserve_store::CalendarStore
        + cityserve_store::TouchpointStore
        + cityserve_store::ObservationStore
        + cityserve_store::PanelStore
        + cityserve_store::ThemeStore,
>(
    store: &S,
    spec: &DemoSpec,
    parallel: usize,
    progress: &Arc<AtomicU64>,
) -> Result<DemoReport, DemoError> {
    let chief = chief_caller();
    let all = scope(&chief, Action::CreateDepartment, None)?;
    if store.get_department(&all, &did("streets")).await.is_ok() {
        return Err(DemoError::AlreadyLoaded);
    }
    let mut report = DemoReport::default();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    for d in CITY {
        seed::seed_department(store, d).await?;
        report.departments += 1;
    }
    seed::seed_calendars(store).await?;
    // Counters are keyed by the city's local days: rekey the (still empty) counters in the
    // calendar's zone now, so the history lands in Philadelphia's days and the next start has
    // nothing to rebuild.
    let (rollups_actor, rollups_scope) = system_scope("cityserve-demo");
    store
        .rebuild_rollups(&wctx(&rollups_scope, &rollups_actor, AuditAction::RollupsRebuild), true, &Default::default())
        .await
        .map_err(|e| DemoError::Store("rebuild rollups", e))?;
    report.observations = moments::seed_moments(store, now_micros()).await?;
    let start = std::time::Instant::now();
    let now = now_micros();
    let span_secs = i64::from(spec.months.max(1)) * 30 * 86_400;
    let total_weight: u64 = CITY.iter().map(|d| u64::from(d.weight)).sum();
    // Each department's contacts are generated on a blocking thread of their own, at most
    // `PREFETCH` batches ahead of its import, so generation overlaps the database's work.
    let mut queue = VecDeque::new();
    let mut generators = Vec::new();
    let mut next_serial = 1;
    for (i, d) in (0u64..).zip(CITY) {
        let count = spec.scale * u64::from(d.weight) / total_weight;
        let (tx, rx) = mpsc::channel(PREFETCH);
        let (first, seed) = (next_serial, spec.seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        next_serial += count;
        let sent = Arc::clone(progress);
        generators.push(tokio::task::spawn_blocking(move || {
            generate::generate(d, first, count, seed, now, span_secs, &tx, &sent)
        }));
        queue.push_back((d, rx));
    }
    // The biggest departments first, so parallel imports finish close together.
    queue.make_contiguous().sort_by_key(|(d, _)| std::cmp::Reverse(d.weight));
    let queue = std::sync::Mutex::new(queue);
    let worker = || async {
        let mut loaded = 0;
        loop {
            let job = queue.lock().ok().and_then(|mut q| q.pop_front());
            let Some((d, rx)) = job else { return Ok::<u64, DemoError>(loaded) };
            let s = scope(&chief, Action::SubmitFeedback, Some(&did(d.id)))?;
            let w = wctx(&s, &chief, AuditAction::FeedbackImport);
            loaded += store.import_stream(&w, &did(d.id), rx).await.map_err(store_err("import"))?;
        }
    };
    let (a, b) = tokio::try_join!(worker(), async { if parallel > 1 { worker().await } else { Ok(0) } })?;
    report.contacts = a + b;
    for g in generators {
        g.await.map_err(|e| DemoError::Store("generate", StoreError::Internal(e.to_string())))??;
    }
    report.load_seconds = start.elapsed().as_secs_f64();
    // A frequent caller (`FREQUENT_CALLER`): 1,000 contacts across every department, the
    // benchmark's timeline.
    for (i, d) in CITY.iter().enumerate() {
        let s = scope(&chief, Action::SubmitFeedback, Some(&did(d.id)))?;
        let w = wctx(&s, &chief, AuditAction::FeedbackImport);
        let share = 1_000 / CITY.len() + usize::from(i < 1_000 % CITY.len());
        let batch: Vec<ImportedContact> = (0..share)
            .map(|n| {
                let mut c = generate::contact(&mut rng, d, 0, now, span_secs).swap_remove(0);
                c.feedback.id = FeedbackId::parse("id", &format!("fb-frequent-{}-{n:04}", d.id))
                    .unwrap_or_else(|_| unreachable!("demo feedback IDs are slugs"));
                c.feedback.kind = FeedbackKind::Question;
                c.case = None;
                c.resident_key = Some(FREQUENT_CALLER.to_owned());
                c.feedback.check_measures().map(|()| c)
            })
            .collect::<Result<_, _>>()?;
        store.import_contacts(&w, &did(d.id), &batch).await.map_err(store_err("import"))?;
    }
    live::live_coordination(store).await?;
    report.theme_tags = board::seed_board(store).await?;
    let (scanner, system) = system_scope(BREACH_SCAN_ACTOR);
    let sw = wctx(&system, &scanner, AuditAction::EscalationCreate);
    // The history's old open cases make the first scan a flood: it arrives as digests.
    let raised = store.scan_breaches(&sw, Utc::now(), 1_000).await.map_err(store_err("breach scan"))?;
    report.escalations = raised.len();
    report.digests = raised.iter().filter(|e| e.breach_count > 1).count();
    report.breaches = raised.iter().map(|e| i64::from(e.breach_count)).sum();
    Ok(report)
}
