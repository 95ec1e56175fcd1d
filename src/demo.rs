//! `cityserve demo`: loads a realistic city so a newcomer sees a living system at once — seven
//! departments with CSOs, staff, categories and standards; months of feedback over every channel
//! (bulk-loaded with its own times, so report cards have history); cases in every state; and, on
//! top, live hand-offs (one ping-pong), escalations, a dumb rule with votes and a decision, an
//! initiative, recognitions and a plan with focus progress, all made through the normal store
//! paths. `--scale N` loads N contacts (millions for benchmarks).
use crate::config::Config;
use crate::{Backend, ServeError, backend_of};
use chrono::{DateTime, Datelike, Duration, Utc};
use cityserve_domain::coordination::{
    BREACH_SCAN_ACTOR, HandoffKind, HandoffResponse, Initiative, InitiativeStatus, Milestone, NewDumbRule, NewHandoff,
    RuleDecision, RuleVerdict, RuleVote,
};
use cityserve_domain::policy::{handoff_scope, system_scope};
use cityserve_domain::{
    Action, AppointmentId, AuditAction, Caller, CaseId, CaseStatus, Channel, DepartmentId, DumbRuleId, FeedbackId,
    FeedbackKind, HandoffId, InitiativeId, Location, NewAppointment, NewDepartment, NewFeedback, NewOfficer,
    NewRecognition, NewServiceCategory, NewServiceStandard, OfficerId, OfficerKind, PlanContent, RecognitionId, Role,
    Seat, ServiceCategoryId, ServiceStandardId, ServiceTargets, TenantScope, authorize,
};
use cityserve_store::coordination::{CoordinationStore, NewEscalation};
use cityserve_store::import::{ImportStore, ImportedCase, ImportedContact};
use cityserve_store::{Idempotency, Open311Store, StoreError, WriteCtx, now_micros};
use cityserve_store_postgres::{PgOptions, PgStore};
use cityserve_store_sqlite::{SqliteOptions, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use tokio::sync::mpsc;

/// The demo's frequent caller: a resident key with 1,000 contacts across departments (the
/// benchmark's `timeline` scenario reads it).
pub const FREQUENT_CALLER: &str = "r-00000000000000000000000000000001";

/// Contacts per batch a department's generator hands to its import (each department loads in one
/// transaction, whatever the batch size).
const IMPORT_BATCH: usize = 10_000;

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
    /// Contacts loaded.
    pub contacts: u64,
    /// Seconds the bulk load of contacts took.
    pub load_seconds: f64,
    /// Escalations raised by the breach scan at the end.
    pub escalations: usize,
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
    /// Bootstrap or opening the database failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The first Chief could not be appointed.
    #[error(transparent)]
    Bootstrap(#[from] crate::bootstrap::BootstrapError),
    /// Generated feedback broke a rule the API enforces (a bug in the generator).
    #[error("demo feedback: {0}")]
    Invalid(#[from] cityserve_domain::ValidationError),
}

struct Dept {
    id: &'static str,
    name: &'static str,
    weight: u32,
    /// (category, name, keywords, complaint text)
    categories: &'static [(&'static str, &'static str, &'static str, &'static str)],
    /// Default targets: acknowledge, resolve (hours).
    targets: (i64, i64),
}

const CITY: &[Dept] = &[
    Dept {
        id: "streets",
        name: "Streets Department",
        weight: 22,
        categories: &[
            ("pothole", "Pothole", "road,hole,asphalt", "Pothole on the corner is getting deeper every day"),
            (
                "street-cut",
                "Street cut not restored",
                "trench,cut,excavation",
                "The street cut outside my house was left open",
            ),
            (
                "street-light",
                "Street light out",
                "light,lamp,dark",
                "The street light on my block has been out for a week",
            ),
            ("snow", "Snow removal", "snow,plow,ice", "My street was never plowed after the storm"),
        ],
        targets: (24, 240),
    },
    Dept {
        id: "water",
        name: "Water Department",
        weight: 18,
        categories: &[
            (
                "leak",
                "Water main or hydrant leak",
                "leak,hydrant,main",
                "Water has been running down the street since Monday",
            ),
            (
                "water-bill",
                "Water bill question",
                "bill,charge,meter",
                "My water bill doubled and nobody can tell me why",
            ),
            ("sewer", "Sewer backup", "sewer,drain,backup", "The sewer backed up into my basement"),
        ],
        targets: (8, 120),
    },
    Dept {
        id: "licenses-inspections",
        name: "Licenses & Inspections",
        weight: 12,
        categories: &[
            ("permit", "Permit application", "permit,license", "My permit application has been pending for two months"),
            (
                "vacant-property",
                "Vacant property",
                "vacant,abandoned,blight",
                "The vacant house next door is open and unsafe",
            ),
        ],
        targets: (48, 480),
    },
    Dept {
        id: "parks-recreation",
        name: "Parks & Recreation",
        weight: 10,
        categories: &[
            ("park-maintenance", "Park maintenance", "park,bench,playground", "The playground swings are broken"),
            ("tree", "Tree care", "tree,branch,root", "A large branch is hanging over the sidewalk"),
        ],
        targets: (48, 336),
    },
    Dept {
        id: "revenue",
        name: "Department of Revenue",
        weight: 12,
        categories: &[
            ("property-tax", "Property tax", "tax,assessment", "My property tax bill shows a payment I already made"),
            (
                "payment-plan",
                "Payment plan",
                "payment,installment",
                "I applied for a payment plan and heard nothing back",
            ),
        ],
        targets: (24, 240),
    },
    Dept {
        id: "sanitation",
        name: "Sanitation",
        weight: 16,
        categories: &[
            (
                "missed-collection",
                "Missed trash collection",
                "trash,collection,recycling",
                "Trash on my block was not collected this week",
            ),
            (
                "illegal-dumping",
                "Illegal dumping",
                "dumping,debris",
                "Someone dumped tires in the alley behind my house",
            ),
        ],
        targets: (24, 72),
    },
    Dept {
        id: "contact-311",
        name: "311 Contact Center",
        weight: 10,
        categories: &[(
            "general",
            "General question",
            "question,information",
            "I was transferred three times and nobody could help",
        )],
        targets: (4, 48),
    },
];

const CHANNELS: &[(Channel, u32)] = &[
    (Channel::ThreeOneOne, 24),
    (Channel::Phone, 18),
    (Channel::Web, 18),
    (Channel::Email, 10),
    (Channel::Survey, 10),
    (Channel::InPerson, 6),
    (Channel::Social, 6),
    (Channel::CommentCard, 4),
    (Channel::Intercept, 4),
];

const KINDS: &[(FeedbackKind, u32)] = &[
    (FeedbackKind::Complaint, 35),
    (FeedbackKind::SurveyResponse, 25),
    (FeedbackKind::Compliment, 15),
    (FeedbackKind::Question, 15),
    (FeedbackKind::Suggestion, 10),
];

fn pick<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total.max(1));
    for (t, w) in items {
        if n < *w {
            return *t;
        }
        n -= w;
    }
    items[0].0
}

fn did(s: &str) -> DepartmentId {
    // The demo's IDs are constants that are valid slugs.
    DepartmentId::parse("department", s).unwrap_or_else(|_| unreachable!("demo department IDs are slugs"))
}

fn key(id: &str) -> Idempotency {
    Idempotency { request_id: format!("demo-{id}"), request_hash: format!("demo-{id}") }
}

fn store_err(what: &'static str) -> impl Fn(StoreError) -> DemoError {
    move |e| DemoError::Store(what, e)
}

/// Opens the configured database and loads the demo city.
pub async fn load(config: &Config, spec: &DemoSpec) -> Result<DemoReport, DemoError> {
    let chief = crate::bootstrap::ChiefSpec {
        department_id: "chief-office".into(),
        department_name: "Office of the Chief Customer Service Officer".into(),
        officer_id: "chief-cso".into(),
        display_name: "Casey Chief".into(),
        email: "casey.chief@city.example".into(),
        title: "Chief Customer Service Officer".into(),
    };
    match crate::bootstrap::bootstrap_chief(config, &chief).await {
        Ok(_) | Err(crate::bootstrap::BootstrapError::ChiefExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match backend_of(&config.database_url) {
        Backend::Sqlite => {
            let store = SqliteStore::connect(&config.database_url, SqliteOptions { max_connections: 4, migrate: true })
                .await
                .map_err(ServeError::from)?;
            let out = load_with(&store, spec, 1).await;
            store.close().await;
            out
        }
        Backend::Postgres => {
            let options = PgOptions { max_connections: 4, migrate: true, app_role: config.db_app_role.clone() };
            let store = PgStore::connect(&config.database_url, options).await.map_err(ServeError::from)?;
            let out = load_with(&store, spec, 2).await;
            store.close().await;
            out
        }
    }
}

/// The Chief who appears as the demo's actor.
fn chief_caller() -> Caller {
    Caller { subject: "chief-cso".into(), role: Role::Chief, departments: Vec::new() }
}

fn cso(d: &str) -> Caller {
    Caller { subject: format!("cso-{d}"), role: Role::Cso, departments: vec![did(d)] }
}

fn scope(c: &Caller, a: Action, d: Option<&DepartmentId>) -> Result<TenantScope, DemoError> {
    authorize(c, a, d).map_err(|_| DemoError::Store("authorize", StoreError::NotFound))
}

fn wctx<'a>(scope: &'a TenantScope, actor: &'a Caller, action: AuditAction) -> WriteCtx<'a> {
    WriteCtx { scope, actor, action: action.as_str(), trace_id: None }
}

/// Loads the demo city into `store`, importing up to `parallel` departments at once (1 or 2; more
/// counts as 2), each in a transaction on a connection of its own: 2 suits PostgreSQL on two
/// cores, while SQLite has a single writer and takes 1.
pub async fn load_with<S: ImportStore + CoordinationStore + Open311Store>(
    store: &S,
    spec: &DemoSpec,
    parallel: usize,
) -> Result<DemoReport, DemoError> {
    let chief = chief_caller();
    let all = scope(&chief, Action::CreateDepartment, None)?;
    if store.get_department(&all, &did("streets")).await.is_ok() {
        return Err(DemoError::AlreadyLoaded);
    }
    let mut report = DemoReport::default();
    let mut rng = StdRng::seed_from_u64(spec.seed);
    for d in CITY {
        seed_department(store, d).await?;
        report.departments += 1;
    }
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
        generators.push(tokio::task::spawn_blocking(move || generate(d, first, count, seed, now, span_secs, &tx)));
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
                let mut c = contact(&mut rng, d, 0, now, span_secs).swap_remove(0);
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
    live_coordination(store).await?;
    let (scanner, system) = system_scope(BREACH_SCAN_ACTOR);
    let sw = wctx(&system, &scanner, AuditAction::EscalationCreate);
    report.escalations = store.scan_breaches(&sw, Utc::now(), 200).await.map_err(store_err("breach scan"))?.len();
    Ok(report)
}

async fn seed_department<S: CoordinationStore>(store: &S, d: &Dept) -> Result<(), DemoError> {
    let chief = chief_caller();
    let id = did(d.id);
    let s = scope(&chief, Action::CreateDepartment, Some(&id))?;
    let targets = ServiceTargets::new(d.targets.0 * 3600, d.targets.1 * 3600)
        .map_err(|_| DemoError::Store("targets", StoreError::Internal("bad demo targets".into())))?;
    store
        .create_department(
            &wctx(&s, &chief, AuditAction::DepartmentCreate),
            &key(&format!("dept-{}", d.id)),
            &NewDepartment {
                id: id.clone(),
                display_name: d.name.into(),
                description: format!("{} (demo city)", d.name),
                default_targets: targets,
            },
        )
        .await
        .map_err(store_err("department"))?;
    for (c, name, keywords, _) in d.categories {
        let cid =
            ServiceCategoryId::parse("category", c).map_err(|_| DemoError::Store("category", StoreError::NotFound))?;
        store
            .create_service_category(
                &wctx(&s, &chief, AuditAction::ServiceCategoryCreate),
                &key(&format!("cat-{}-{c}", d.id)),
                &NewServiceCategory {
                    department_id: id.clone(),
                    id: cid.clone(),
                    display_name: (*name).into(),
                    description: format!("{name} in the city"),
                    keywords: keywords.split(',').map(str::to_owned).collect(),
                },
            )
            .await
            .map_err(store_err("category"))?;
    }
    // Phone calls are promised a faster acknowledgement.
    let (c, ..) = d.categories[0];
    let phone = ServiceTargets::new((d.targets.0 * 3600 / 4).max(60), d.targets.1 * 3600)
        .map_err(|_| DemoError::Store("targets", StoreError::Internal("bad demo targets".into())))?;
    store
        .create_service_standard(
            &wctx(&s, &chief, AuditAction::ServiceCategoryCreate),
            &key(&format!("std-{}", d.id)),
            &NewServiceStandard {
                department_id: id.clone(),
                id: ServiceStandardId::parse("id", &format!("{c}-phone"))
                    .map_err(|_| DemoError::Store("standard", StoreError::NotFound))?,
                category: ServiceCategoryId::parse("category", c).ok(),
                channel: Some(Channel::Phone),
                targets: phone,
            },
        )
        .await
        .map_err(store_err("standard"))?;
    let officer = |oid: &str, name: &str, title: &str| NewOfficer {
        department_id: id.clone(),
        id: OfficerId::parse("officer", oid).unwrap_or_else(|_| unreachable!("demo officer IDs are slugs")),
        display_name: name.into(),
        email: format!("{oid}@city.example"),
        title: title.into(),
        kind: OfficerKind::Staff,
    };
    for (oid, name, title) in [
        (format!("cso-{}", d.id), format!("CSO of {}", d.name), "Customer Service Officer"),
        (format!("staff-{}-1", d.id), format!("Frontline 1, {}", d.name), "Customer Service Representative"),
        (format!("staff-{}-2", d.id), format!("Frontline 2, {}", d.name), "Customer Service Representative"),
    ] {
        store
            .create_officer(&wctx(&s, &chief, AuditAction::OfficerCreate), &key(&oid), &officer(&oid, &name, title))
            .await
            .map_err(store_err("officer"))?;
    }
    let appoint = scope(&chief, Action::AppointCso, Some(&id))?;
    store
        .appoint(
            &wctx(&appoint, &chief, AuditAction::AppointmentCso),
            &key(&format!("appoint-{}", d.id)),
            &NewAppointment {
                department_id: id.clone(),
                id: AppointmentId::parse("id", &format!("ap-demo-{}", d.id))
                    .map_err(|_| DemoError::Store("appointment", StoreError::NotFound))?,
                seat: Seat::Cso,
                officer_id: OfficerId::parse("officer", &format!("cso-{}", d.id))
                    .map_err(|_| DemoError::Store("appointment", StoreError::NotFound))?,
                replaces: None,
            },
        )
        .await
        .map_err(store_err("appointment"))?;
    Ok(())
}

/// Generates the `count` contacts of `d` (serial numbers from `first`, random stream `seed`) and
/// sends them in batches of [`IMPORT_BATCH`]; stops early when the import hangs up.
fn generate(
    d: &'static Dept,
    first: u64,
    count: u64,
    seed: u64,
    now: DateTime<Utc>,
    span_secs: i64,
    tx: &mpsc::Sender<Vec<ImportedContact>>,
) -> Result<(), cityserve_domain::ValidationError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut batch = Vec::with_capacity(IMPORT_BATCH + 1);
    for serial in first..first + count {
        for c in contact(&mut rng, d, serial, now, span_secs) {
            // The same guarantees as the API's intake (CSAT, NPS, language, coordinates).
            c.feedback.check_measures()?;
            batch.push(c);
        }
        if batch.len() >= IMPORT_BATCH
            && tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH + 1))).is_err()
        {
            return Ok(());
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok(())
}

/// One contact (two when a closed complaint gets a follow-up survey).
fn contact(rng: &mut StdRng, d: &Dept, serial: u64, now: DateTime<Utc>, span_secs: i64) -> Vec<ImportedContact> {
    let id = did(d.id);
    let received = now - Duration::seconds(rng.random_range(3_600..span_secs.max(3_601)));
    let channel = pick(rng, CHANNELS);
    let kind = pick(rng, KINDS);
    let (cat, _, _, complaint_text) = d.categories[rng.random_range(0..d.categories.len())];
    // A quarter of contacts name a resident, drawn from a pool that grows with the city (about
    // one resident per ten contacts so far) so repeat callers stay realistic at any scale; key 1
    // is the benchmark's frequent caller and no one else.
    let pool = (serial / 10).max(2_000);
    let resident_key = (rng.random_range(0..4) == 0).then(|| format!("r-{:032x}", 2 + rng.random_range(0..pool)));
    let (csat, nps) = match kind {
        FeedbackKind::SurveyResponse => (Some(rng.random_range(1..=5)), Some(rng.random_range(0..=10))),
        FeedbackKind::Compliment => (Some(rng.random_range(4..=5)), None),
        FeedbackKind::Complaint => ((rng.random_range(0..3) == 0).then(|| rng.random_range(1..=3)), None),
        _ => (None, None),
    };
    let text = match kind {
        FeedbackKind::Complaint => complaint_text.to_owned(),
        FeedbackKind::Compliment => "The crew was quick and polite. Thank you!".to_owned(),
        FeedbackKind::Question => "How long does this usually take?".to_owned(),
        FeedbackKind::Suggestion => "An online status page would save everyone a phone call.".to_owned(),
        FeedbackKind::SurveyResponse => "Survey answer".to_owned(),
    };
    let feedback = |fid: String, kind: FeedbackKind, text: String, csat, nps| NewFeedback {
        department_id: id.clone(),
        id: FeedbackId::parse("id", &fid).unwrap_or_else(|_| unreachable!("demo feedback IDs are slugs")),
        channel,
        kind,
        csat,
        nps,
        text,
        language: "en".into(),
        category: ServiceCategoryId::parse("category", cat).ok(),
        location: Location { address: String::new(), latitude: None, longitude: None },
        occurred_at: received,
        resident: None,
        internal_customer: None,
        source: None,
    };
    let fid = format!("fb-demo-{serial:09}");
    let mut out = Vec::with_capacity(2);
    let mut case = None;
    let mut follow_up = None;
    if kind == FeedbackKind::Complaint {
        let ack = Duration::seconds(d.targets.0 * 3600);
        let res = Duration::seconds(d.targets.1 * 3600);
        let age = now - received;
        let ack_at = received + Duration::seconds((ack.num_seconds() as f64 * rng.random_range(0.05..1.6)) as i64);
        let res_at = received + Duration::seconds((res.num_seconds() as f64 * rng.random_range(0.1..1.5)) as i64);
        let roll: u32 = rng.random_range(0..100);
        let (status, acknowledged_at, resolved_at, closed_at) = if res_at < now && roll < 85 {
            let closed = res_at + Duration::hours(rng.random_range(1..72));
            if closed < now && roll < 70 {
                (CaseStatus::Closed, Some(ack_at.min(res_at)), Some(res_at), Some(closed))
            } else {
                (CaseStatus::Resolved, Some(ack_at.min(res_at)), Some(res_at), None)
            }
        } else if ack_at < now && roll < 95 {
            (
                if roll.is_multiple_of(2) { CaseStatus::InProgress } else { CaseStatus::Acknowledged },
                Some(ack_at),
                None,
                None,
            )
        } else {
            (CaseStatus::Open, None, None, None)
        };
        let _ = age;
        if status == CaseStatus::Closed && rng.random_range(0..3) == 0 {
            follow_up = Some(format!("fb-demo-{serial:09}-fu"));
        }
        case = Some(ImportedCase {
            status,
            acknowledge_due: received + ack,
            resolve_due: received + res,
            acknowledged_at,
            resolved_at,
            closed_at,
            reopen_count: i32::from(status == CaseStatus::InProgress && rng.random_range(0..10) == 0),
            assignee: (status != CaseStatus::Open).then(|| {
                OfficerId::parse("officer", &format!("staff-{}-{}", d.id, rng.random_range(1..=2)))
                    .unwrap_or_else(|_| unreachable!("demo officer IDs are slugs"))
            }),
            follow_up: follow_up
                .as_ref()
                .map(|f| FeedbackId::parse("id", f).unwrap_or_else(|_| unreachable!("demo feedback IDs are slugs"))),
            satisfied: follow_up.as_ref().map(|_| rng.random_range(0..4) != 0),
        });
    }
    out.push(ImportedContact {
        feedback: feedback(fid, kind, text, csat, nps),
        resident_key: resident_key.clone(),
        received_at: received,
        case: case.clone(),
    });
    if let (Some(fu), Some(c)) = (follow_up, case) {
        let at = c.closed_at.unwrap_or(received) + Duration::hours(1);
        if at < now {
            out.push(ImportedContact {
                feedback: NewFeedback {
                    channel: Channel::Survey,
                    occurred_at: at,
                    ..feedback(
                        fu,
                        FeedbackKind::SurveyResponse,
                        "Follow-up survey".into(),
                        Some(rng.random_range(2..=5)),
                        None,
                    )
                },
                resident_key,
                received_at: at,
                case: None,
            });
        } else if let Some(first) = out.first_mut()
            && let Some(case) = first.case.as_mut()
        {
            case.follow_up = None;
            case.satisfied = None;
        }
    }
    out
}

/// Live activity through the normal paths: hand-offs (with a ping-pong), escalations, a dumb
/// rule, an initiative, recognitions and a plan.
async fn live_coordination<S: CoordinationStore>(store: &S) -> Result<(), DemoError> {
    let chief = chief_caller();
    let submit = |d: &str, n: &str, text: &str| NewFeedback {
        department_id: did(d),
        id: FeedbackId::parse("id", &format!("fb-live-{n}")).unwrap_or_else(|_| unreachable!("slug")),
        channel: Channel::Phone,
        kind: FeedbackKind::Complaint,
        csat: Some(1),
        nps: None,
        text: text.into(),
        language: "en".into(),
        category: None,
        location: Location::default(),
        occurred_at: now_micros(),
        resident: None,
        internal_customer: None,
        source: None,
    };
    let mut ids = Vec::new();
    for (d, n, text) in [
        ("streets", "1", "The street cut outside 12 Elm St was left open after the water main repair"),
        ("streets", "2", "Sidewalk caved in where a pipe was replaced"),
        ("sanitation", "3", "Bulk pickup was refused because of a permit I never heard of"),
    ] {
        let s = scope(&chief, Action::SubmitFeedback, Some(&did(d)))?;
        let f = submit(d, n, text);
        f.check_measures()?;
        store
            .submit_feedback(&wctx(&s, &chief, AuditAction::FeedbackSubmit), &key(&format!("live-{n}")), &f)
            .await
            .map_err(store_err("feedback"))?;
        ids.push(f.id);
    }
    // Streets -> Water -> Streets: one ping-pong on both report cards.
    let handoff = |from: &'static str, to: &'static str, case: &CaseId, n: &str, kind: HandoffKind| NewHandoff {
        department_id: did(from),
        id: HandoffId::parse("id", &format!("ho-demo-{n}")).unwrap_or_else(|_| unreachable!("slug")),
        case_id: case.clone(),
        to_department: did(to),
        kind,
        reason: "The work was done by the other department".into(),
    };
    let send = |from: &'static str, to: &'static str| {
        let c = cso(from);
        handoff_scope(&c, Action::SendHandoff, &did(from), &did(to)).map(|s| (c, s))
    };
    let respond = |from: &'static str, to: &'static str| {
        let c = cso(to);
        handoff_scope(&c, Action::RespondHandoff, &did(to), &did(from)).map(|s| (c, s))
    };
    let deny = |_| DemoError::Store("authorize", StoreError::NotFound);
    let first = CaseId::from_feedback(&ids[0]);
    let (c, s) = send("streets", "water").map_err(deny)?;
    let h1 = handoff("streets", "water", &first, "1", HandoffKind::Transfer);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-1"), &h1)
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = respond("streets", "water").map_err(deny)?;
    let water_case = FeedbackId::parse("id", "fb-live-water-1").unwrap_or_else(|_| unreachable!("slug"));
    store
        .respond_handoff(
            &wctx(&s, &c, AuditAction::HandoffRespond),
            &did("streets"),
            &h1.id,
            &HandoffResponse::Accept { new_case: water_case.clone(), category: None },
            None,
        )
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = send("water", "streets").map_err(deny)?;
    let h2 = handoff("water", "streets", &CaseId::from_feedback(&water_case), "2", HandoffKind::Transfer);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-2"), &h2)
        .await
        .map_err(store_err("hand-off"))?;
    let (c, s) = respond("water", "streets").map_err(deny)?;
    let back = FeedbackId::parse("id", "fb-live-streets-2").unwrap_or_else(|_| unreachable!("slug"));
    store
        .respond_handoff(
            &wctx(&s, &c, AuditAction::HandoffRespond),
            &did("water"),
            &h2.id,
            &HandoffResponse::Accept { new_case: back, category: None },
            None,
        )
        .await
        .map_err(store_err("hand-off"))?;
    // A pending referral, waiting for Water's answer.
    let (c, s) = send("streets", "water").map_err(deny)?;
    let h3 = handoff("streets", "water", &CaseId::from_feedback(&ids[1]), "3", HandoffKind::Referral);
    store
        .send_handoff(&wctx(&s, &c, AuditAction::HandoffSend), &key("ho-3"), &h3)
        .await
        .map_err(store_err("hand-off"))?;
    // Sanitation escalates the bulk-pickup complaint to the Chief.
    let c = cso("sanitation");
    let s = scope(&c, Action::Escalate, Some(&did("sanitation")))?;
    let esc = NewEscalation {
        department_id: did("sanitation"),
        id: cityserve_domain::EscalationId::parse("id", "es-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        case_id: CaseId::from_feedback(&ids[2]),
        reason: "Resident caught between a permit rule and a missed pickup".into(),
    };
    store
        .escalate_case(&wctx(&s, &c, AuditAction::EscalationCreate), &key("es-1"), &esc)
        .await
        .map_err(store_err("escalation"))?;
    // The dumb rule behind it, voted on and decided.
    let c = cso("sanitation");
    let s = scope(&c, Action::ReportDumbRule, Some(&did("sanitation")))?;
    let rule = NewDumbRule {
        id: DumbRuleId::parse("id", "dr-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        text: "Bulk pickup requires a paper permit collected in person from Licenses & Inspections".into(),
        affected: vec![did("licenses-inspections"), did("sanitation")],
        evidence: vec![(did("sanitation"), ids[2].clone())],
        reporter_department: Some(did("sanitation")),
    };
    store
        .report_dumb_rule(&wctx(&s, &c, AuditAction::DumbRuleReport), &key("dr-1"), &rule)
        .await
        .map_err(store_err("dumb rule"))?;
    let mut current = None;
    for (d, verdict) in [("sanitation", RuleVerdict::Kill), ("licenses-inspections", RuleVerdict::Revise)] {
        let c = cso(d);
        let s = scope(&c, Action::VoteDumbRule, Some(&did(d)))?;
        let vote = RuleVote {
            department_id: did(d),
            voter: OfficerId::parse("id", &format!("cso-{d}")).unwrap_or_else(|_| unreachable!("slug")),
            verdict,
            comment: "Residents should not need a second trip".into(),
            update_time: now_micros(),
        };
        current = Some(
            store
                .vote_dumb_rule(&wctx(&s, &c, AuditAction::DumbRuleVote), &rule.id, &vote)
                .await
                .map_err(store_err("vote"))?,
        );
    }
    if let Some(r) = current {
        let s = scope(&chief, Action::DecideDumbRule, None)?;
        let decision = RuleDecision {
            verdict: RuleVerdict::Kill,
            rationale: "The permit check moves online and into the pickup booking".into(),
            decided_by: chief.subject.clone(),
            decide_time: now_micros(),
        };
        if let Ok(next) = cityserve_domain::coordination::decide(&r, decision) {
            store
                .decide_dumb_rule(&wctx(&s, &chief, AuditAction::DumbRuleDecide), &next, r.revision)
                .await
                .map_err(store_err("decision"))?;
        }
    }
    // An initiative across Streets and Water.
    let c = cso("streets");
    let s = scope(&c, Action::ProposeInitiative, Some(&did("streets")))?;
    let now = now_micros();
    let initiative = Initiative {
        department_id: did("streets"),
        id: InitiativeId::parse("id", "in-demo-1").unwrap_or_else(|_| unreachable!("slug")),
        title: "Street cuts closed within five days".into(),
        goal: "No street cut left open more than five days after a utility repair".into(),
        owner: OfficerId::parse("id", "cso-streets").unwrap_or_else(|_| unreachable!("slug")),
        members: vec![did("streets"), did("water")],
        status: InitiativeStatus::Active,
        milestones: vec![
            Milestone {
                title: "Shared map of open cuts".into(),
                due_time: Some(now + Duration::days(30)),
                done_time: None,
            },
            Milestone {
                title: "Joint crew schedule".into(),
                due_time: Some(now + Duration::days(60)),
                done_time: None,
            },
        ],
        cases: vec![(did("streets"), first)],
        dumb_rules: vec![],
        create_time: now,
        update_time: now,
        revision: 1,
    };
    store
        .create_initiative(&wctx(&s, &c, AuditAction::InitiativeCreate), &key("in-1"), &initiative)
        .await
        .map_err(store_err("initiative"))?;
    // Service heroes, and Water's plan with progress on its focus area.
    for (n, (who, d)) in [("staff-water-1", "water"), ("staff-streets-2", "streets")].into_iter().enumerate() {
        let c = cso(if d == "water" { "streets" } else { "water" });
        let s = scope(&c, Action::RecognizeOfficer, Some(&did(d)))?;
        let r = NewRecognition {
            department_id: did(d),
            id: RecognitionId::parse("id", &format!("rc-demo-{n}")).unwrap_or_else(|_| unreachable!("slug")),
            officer_id: OfficerId::parse("id", who).unwrap_or_else(|_| unreachable!("slug")),
            story: "Walked a resident through three departments' forms and called back the same day".into(),
            feedback: None,
        };
        store
            .create_recognition(&wctx(&s, &c, AuditAction::RecognitionCreate), &key(&format!("rc-{n}")), &r)
            .await
            .map_err(store_err("recognition"))?;
    }
    let c = cso("water");
    let s = scope(&c, Action::DraftPlan, Some(&did("water")))?;
    let year = now.year();
    let content = PlanContent {
        vision: "Every resident gets one clear answer".into(),
        mission: "Safe water, fair bills, fast repairs".into(),
        voice_of_customer: "Post-contact surveys on every channel".into(),
        training_programme: "De-escalation and billing literacy for all frontline staff".into(),
        engagement_plan: "Quarterly community meetings".into(),
        focus_area: "Billing questions answered on first contact".into(),
        focus_metric: "first-contact resolution rate".into(),
        focus_baseline: 0.55,
        focus_target: 0.8,
    };
    store
        .create_plan(&wctx(&s, &c, AuditAction::PlanDraft), &key("plan-water"), &did("water"), year, &content)
        .await
        .map_err(store_err("plan"))?;
    store
        .record_focus_progress(&wctx(&s, &c, AuditAction::PlanDraft), &did("water"), year, 0.63)
        .await
        .map_err(store_err("focus"))?;
    Ok(())
}
