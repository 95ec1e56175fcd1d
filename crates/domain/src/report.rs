//! Report-card arithmetic. Writes turn into [`Delta`]s (counter increments per department, day
//! and metric) that the store adds to its rollup table in the write's own transaction; a report
//! card sums the counters of its period and derives averages, rates and percentiles from them,
//! so reading one never scans feedback.
//!
//! Days are the city's local calendar days: a delta is keyed by the local date, in the rollups'
//! time zone (`rollup_zone`, the city calendar's zone as of the last rebuild), of the instant it
//! counts at. Durations are kept as
//! histograms with fixed bucket bounds ([`BUCKETS_SECS`]); a percentile is the upper bound of the
//! bucket that holds it, so it is exact to the bucket's width.
use crate::department::Channel;
use crate::feedback::{Case, CaseStatus, Feedback, FeedbackKind, NewFeedback, RecoveryKind};
use crate::ids::DepartmentId;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

mod movement;
mod themes;
pub use movement::{MOVEMENT_METRICS, Movement, SCORE_PART_CAP, movement, worst_movers};
pub use themes::{SharedTheme, shared_themes, theme_counts, theme_deltas};

/// The version of the counters' definitions. Stored with the rollups (`rollup_zone.version`):
/// rollups built under an older version are rebuilt from the raw rows when the server starts.
pub const ROLLUP_VERSION: i64 = 3;

/// Upper bounds (seconds) of the duration histogram's buckets; a last, open bucket holds the rest.
pub const BUCKETS_SECS: [i64; 17] = [
    60, 300, 900, 1_800, 3_600, 7_200, 14_400, 28_800, 43_200, 86_400, 172_800, 259_200, 432_000, 604_800, 1_209_600,
    2_592_000, 5_184_000,
];

/// One counter increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// The department the figure belongs to.
    pub department: DepartmentId,
    /// Local day number (days since 1970-01-01 of the local date, in the rollups' time zone).
    pub day: i64,
    /// Metric key, e.g. `fb.ch.phone`.
    pub metric: String,
    /// Increment.
    pub value: i64,
}

/// The local day number of `t` in `zone`: days from 1970-01-01 to the date the city's clocks
/// show at `t`.
pub fn local_day(t: DateTime<Utc>, zone: Tz) -> i64 {
    days(t.with_timezone(&zone).date_naive())
}

/// The UTC day number of `t` ([`local_day`] in UTC, the zone of a city with no calendar).
pub fn day_of(t: DateTime<Utc>) -> i64 {
    local_day(t, Tz::UTC)
}

/// The first instant of local date `date` in `zone`: its midnight, or where a zone skips
/// midnight (a DST change at 00:00), the first local time that exists that day.
pub fn local_midnight(date: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..=24 * 4)
        .find_map(|quarter| zone.from_local_datetime(&(midnight + Duration::minutes(15 * quarter))).earliest())
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
}

/// Where deltas go: a department's counters, keyed by local days of `zone`.
#[derive(Debug, Clone, Copy)]
struct Counts<'a> {
    department: &'a DepartmentId,
    zone: Tz,
}

impl Counts<'_> {
    fn one(&self, at: DateTime<Utc>, metric: impl Into<String>) -> Delta {
        self.add(at, metric, 1)
    }

    fn add(&self, at: DateTime<Utc>, metric: impl Into<String>, value: i64) -> Delta {
        Delta { department: self.department.clone(), day: local_day(at, self.zone), metric: metric.into(), value }
    }
}

fn bucket(secs: i64) -> usize {
    BUCKETS_SECS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS_SECS.len())
}

/// What a contact's report-card figures depend on: the same for a submission
/// ([`NewFeedback`]) and a stored record ([`Feedback`]), so a rebuild from the stored rows
/// counts what the submissions counted.
#[derive(Debug, Clone, Copy)]
pub struct ContactFacts<'a> {
    /// The department contacted.
    pub department: &'a DepartmentId,
    /// Its kind.
    pub kind: FeedbackKind,
    /// Its channel.
    pub channel: Channel,
    /// CSAT answer, if any.
    pub csat: Option<i32>,
    /// NPS answer, if any.
    pub nps: Option<i32>,
    /// Whether it names a service category.
    pub categorized: bool,
    /// Whether it came from an internal customer (another department).
    pub internal: bool,
    /// When it occurred.
    pub occurred_at: DateTime<Utc>,
    /// The touchpoint that served the resident, if named.
    pub touchpoint: Option<&'a str>,
    /// The officer who served the resident, if named.
    pub officer: Option<&'a str>,
}

impl<'a> From<&'a NewFeedback> for ContactFacts<'a> {
    fn from(f: &'a NewFeedback) -> Self {
        ContactFacts {
            department: &f.department_id,
            kind: f.kind,
            channel: f.channel,
            csat: f.csat,
            nps: f.nps,
            categorized: f.category.is_some(),
            internal: f.internal_customer.is_some(),
            occurred_at: f.occurred_at,
            touchpoint: f.served.touchpoint.as_ref().map(|(_, t)| t.as_str()),
            officer: f.served.officer.as_ref().map(|(_, o)| o.as_str()),
        }
    }
}

impl<'a> From<&'a Feedback> for ContactFacts<'a> {
    fn from(f: &'a Feedback) -> Self {
        ContactFacts {
            department: &f.department_id,
            kind: f.kind,
            channel: f.channel,
            csat: f.csat,
            nps: f.nps,
            categorized: f.category.is_some(),
            internal: f.internal_customer.is_some(),
            occurred_at: f.occurred_at,
            touchpoint: f.served.touchpoint.as_ref().map(|(_, t)| t.as_str()),
            officer: f.served.officer.as_ref().map(|(_, o)| o.as_str()),
        }
    }
}

/// What a feedback record received at `received_at` adds ([`contact_deltas`]).
pub fn feedback_deltas(f: &NewFeedback, received_at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    contact_deltas(ContactFacts::from(f), received_at, zone)
}

/// What a contact received at `received_at` adds, in the period it occurred (`occurred_at`,
/// which defaults to its receipt; never later than the receipt): volume by channel and kind,
/// ratings, and coverage for contacts that need no outcome (everything but complaints, whose
/// outcome is their resolution). Residents and internal customers (one department rating
/// another's service) are two populations, counted apart: residents' figures under `fb`, `csat.`,
/// `nps.`; internal customers' under `int.`. Days are local days of `zone`.
pub fn contact_deltas(f: ContactFacts<'_>, received_at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    // A contact cannot have happened after it was received (clients' clocks may run ahead).
    let (c, at) = (Counts { department: f.department, zone }, f.occurred_at.min(received_at));
    if f.internal {
        let mut out = vec![c.one(at, "int.fb"), c.one(at, format!("int.kind.{}", f.kind.as_str()))];
        if let Some(v) = f.csat {
            out.push(c.one(at, format!("int.csat.{v}")));
        }
        if let Some(n) = f.nps {
            out.push(c.one(at, format!("int.nps.{n}")));
        }
        return out;
    }
    let mut out = vec![
        c.one(at, "fb"),
        c.one(at, format!("fb.ch.{}", f.channel.as_str())),
        c.one(at, format!("fb.kind.{}", f.kind.as_str())),
    ];
    if let Some(v) = f.csat {
        out.push(c.one(at, format!("csat.{v}")));
    }
    if let Some(n) = f.nps {
        out.push(c.one(at, format!("nps.{n}")));
    }
    if f.categorized && f.kind != FeedbackKind::Complaint {
        out.push(c.one(at, "cov"));
    }
    // The moment of truth it is about: the same figures per touchpoint (`tp.{t}.`) and per
    // officer who served (`of.{o}.`), so their figures read from the counters, never a scan.
    for prefix in
        [f.touchpoint.map(|t| format!("tp.{t}.")), f.officer.map(|o| format!("of.{o}."))].into_iter().flatten()
    {
        out.push(c.one(at, format!("{prefix}fb")));
        out.push(c.one(at, format!("{prefix}kind.{}", f.kind.as_str())));
        if let Some(v) = f.csat {
            out.push(c.one(at, format!("{prefix}csat.{v}")));
        }
    }
    out
}

/// What recognising officer `officer` of `department` at `at` adds: one recognition on their
/// figures (`of.{o}.rec`), so an officer's figures read it from the counters.
pub fn recognition_deltas(department: &DepartmentId, officer: &str, at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    vec![Counts { department, zone }.one(at, format!("of.{officer}.rec"))]
}

/// What a moment-of-truth observation adds, on the day it happened: per touchpoint, and per
/// officer serving when one was, the observations, the items scored and the sum of their scores
/// (`tp.{t}.obs`, `.obs.n`, `.obs.sum`; `of.{o}.` likewise).
pub fn observation_deltas(o: &crate::observation::Observation, zone: Tz) -> Vec<Delta> {
    let c = Counts { department: &o.department_id, zone };
    let (n, sum) = (o.scores.len() as i64, o.scores.iter().map(|s| i64::from(s.score)).sum::<i64>());
    let mut out = Vec::new();
    let prefixes = [Some(format!("tp.{}.", o.touchpoint)), o.served_by.as_ref().map(|s| format!("of.{s}."))];
    for prefix in prefixes.into_iter().flatten() {
        out.push(c.one(o.observe_time, format!("{prefix}obs")));
        out.push(c.add(o.observe_time, format!("{prefix}obs.n"), n));
        out.push(c.add(o.observe_time, format!("{prefix}obs.sum"), sum));
    }
    out
}

/// What a recovery action of `kind` recorded at `at` on a case of `d` adds: one of its kind, when
/// it was taken.
pub fn recovery_deltas(d: &DepartmentId, kind: RecoveryKind, at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    vec![Counts { department: d, zone }.one(at, format!("rec.{}", kind.as_str()))]
}

/// Everything a case counts on its department's report cards, as a function of its state alone,
/// so that the counters maintained change by change ([`case_deltas`]) always equal a rebuild
/// from the stored cases:
/// - `case`: opened (also by accepting a hand-off), on the day received;
/// - `ack.n`, `ack.b{i}`, `ack.sla`: acknowledged, time to acknowledge, on time; on the day
///   acknowledged;
/// - `res.n`, `res.b{i}`, `res.sla` and the resident's wait `wait.n`, `wait.b{i}` (from their
///   first contact with the city, across every hand-off): resolved, on the day of the latest
///   resolution (a reopened and re-resolved case moves there);
/// - `cov`: a resolved case with a category, on the day received;
/// - `redirect`: closed as another department's ("not ours"), on the day closed;
/// - `reopen`: times reopened, on the day received;
/// - `loop`, `loop.sat`, `loop.unsat`: a follow-up linked, and the resident's answer, on the day
///   received.
///
/// Due times are settled once their clock stops (a hold or a calendar change moves only the
/// due times of clocks still running), so an on-time flag never changes after the fact.
pub fn case_contribution(case: &Case, zone: Tz) -> Vec<Delta> {
    let c = Counts { department: &case.department_id, zone };
    let mut out = vec![c.one(case.received_at, "case")];
    if let Some(at) = case.acknowledged_at {
        out.push(c.one(at, "ack.n"));
        out.push(c.one(at, format!("ack.b{}", bucket((at - case.received_at).num_seconds().max(0)))));
        if at <= case.acknowledge_due {
            out.push(c.one(at, "ack.sla"));
        }
    }
    if let Some(at) = case.resolved_at {
        out.push(c.one(at, "res.n"));
        out.push(c.one(at, format!("res.b{}", bucket((at - case.received_at).num_seconds().max(0)))));
        if at <= case.resolve_due {
            out.push(c.one(at, "res.sla"));
        }
        if case.category.is_some() {
            out.push(c.one(case.received_at, "cov"));
        }
        out.push(c.one(at, "wait.n"));
        out.push(c.one(at, format!("wait.b{}", bucket((at - case.first_contact_at).num_seconds().max(0)))));
    }
    if let (Some(_), Some(at)) = (&case.owner_department, case.closed_at) {
        out.push(c.one(at, "redirect"));
    }
    if case.reopen_count > 0 {
        out.push(c.add(case.received_at, "reopen", i64::from(case.reopen_count)));
    }
    if case.follow_up.is_some() {
        out.push(c.one(case.received_at, "loop"));
        match case.satisfied {
            Some(true) => out.push(c.one(case.received_at, "loop.sat")),
            Some(false) => out.push(c.one(case.received_at, "loop.unsat")),
            None => {}
        }
    }
    out
}

/// What opening a case adds (also for a case opened by accepting a hand-off).
pub fn case_opened_deltas(c: &Case, zone: Tz) -> Vec<Delta> {
    case_contribution(c, zone)
}

/// What a change of a case adds: its [`case_contribution`] after, less its contribution before
/// (counters that did not move are left out).
pub fn case_deltas(before: &Case, after: &Case, zone: Tz) -> Vec<Delta> {
    let mut net: BTreeMap<(DepartmentId, i64, String), i64> = BTreeMap::new();
    for d in case_contribution(after, zone) {
        *net.entry((d.department, d.day, d.metric)).or_default() += d.value;
    }
    for d in case_contribution(before, zone) {
        *net.entry((d.department, d.day, d.metric)).or_default() -= d.value;
    }
    net.into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|((department, day, metric), value)| Delta { department, day, metric, value })
        .collect()
}

/// What an imported case adds: everything its history would have added, as of its own times.
pub fn imported_case_deltas(c: &Case, zone: Tz) -> Vec<Delta> {
    case_contribution(c, zone)
}

/// Sums deltas of the same department, day and metric (a bulk write adds each counter once).
pub fn aggregate(deltas: impl IntoIterator<Item = Delta>) -> Vec<Delta> {
    let mut sums: BTreeMap<(DepartmentId, i64, String), i64> = BTreeMap::new();
    for d in deltas {
        *sums.entry((d.department, d.day, d.metric)).or_default() += d.value;
    }
    sums.into_iter().map(|((department, day, metric), value)| Delta { department, day, metric, value }).collect()
}

/// A hand-off sent: one out for the sender, one in for the receiver.
pub fn handoff_sent_deltas(from: &DepartmentId, to: &DepartmentId, at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    vec![Counts { department: from, zone }.one(at, "ho.out"), Counts { department: to, zone }.one(at, "ho.in")]
}

/// A ping-pong hand-off accepted: it counts on both report cards.
pub fn ping_pong_deltas(from: &DepartmentId, to: &DepartmentId, at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    vec![
        Counts { department: from, zone }.one(at, "ho.pingpong"),
        Counts { department: to, zone }.one(at, "ho.pingpong"),
    ]
}

/// An escalation raised against `d`.
pub fn escalation_deltas(d: &DepartmentId, at: DateTime<Utc>, zone: Tz) -> Vec<Delta> {
    vec![Counts { department: d, zone }.one(at, "esc")]
}

string_enum!(
    /// The length of a report period.
    PeriodKind {
        /// A local day.
        Day = "day",
        /// An ISO week (Monday to Sunday).
        Week = "week",
        /// A calendar month.
        Month = "month",
        /// A calendar quarter.
        Quarter = "quarter",
    }
);

/// A report period: `[start, end)` in local dates of the city's time zone `zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Its length.
    pub kind: PeriodKind,
    /// First day.
    pub start: NaiveDate,
    /// Day after the last.
    pub end: NaiveDate,
    /// The time zone its dates are in (the rollups' zone).
    pub zone: Tz,
}

fn month_start(y: i32, m: u32) -> NaiveDate {
    // Months 1-12 of years chrono supports always exist.
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(NaiveDate::MIN)
}

fn add_months(d: NaiveDate, n: u32) -> NaiveDate {
    let m0 = d.month0() + n;
    month_start(d.year() + i32::try_from(m0 / 12).unwrap_or(0), m0 % 12 + 1)
}

impl Period {
    /// The period of `kind` that contains local date `date` of `zone`.
    pub fn containing_in(kind: PeriodKind, date: NaiveDate, zone: Tz) -> Period {
        Period { zone, ..Period::containing(kind, date) }
    }

    /// The period of `kind` that contains `date`, in UTC.
    pub fn containing(kind: PeriodKind, date: NaiveDate) -> Period {
        let start = match kind {
            PeriodKind::Day => date,
            PeriodKind::Week => date - Duration::days(i64::from(date.weekday().num_days_from_monday())),
            PeriodKind::Month => month_start(date.year(), date.month()),
            PeriodKind::Quarter => month_start(date.year(), date.month0() / 3 * 3 + 1),
        };
        let end = match kind {
            PeriodKind::Day => start + Duration::days(1),
            PeriodKind::Week => start + Duration::days(7),
            PeriodKind::Month => add_months(start, 1),
            PeriodKind::Quarter => add_months(start, 3),
        };
        Period { kind, start, end, zone: Tz::UTC }
    }

    /// The period just before this one.
    pub fn previous(&self) -> Period {
        Period::containing_in(self.kind, self.start - Duration::days(1), self.zone)
    }

    /// The last day (inclusive).
    pub fn last(&self) -> NaiveDate {
        self.end - Duration::days(1)
    }

    /// First day as a day number.
    pub fn start_day(&self) -> i64 {
        days(self.start)
    }

    /// Day after the last, as a day number.
    pub fn end_day(&self) -> i64 {
        days(self.end)
    }

    /// Start as an instant: the first day's local midnight.
    pub fn start_time(&self) -> DateTime<Utc> {
        local_midnight(self.start, self.zone)
    }

    /// End (exclusive) as an instant: the local midnight after the last day.
    pub fn end_time(&self) -> DateTime<Utc> {
        local_midnight(self.end, self.zone)
    }
}

fn days(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)).num_days()
}

/// The day number of the 1st of the month containing day number `day` (the key of the
/// monthly rollups); `None` outside chrono's calendar.
pub fn month_of(day: i64) -> Option<i64> {
    let date = date_of(day)?;
    Some(days(month_start(date.year(), date.month())))
}

/// The day ranges a rollup sum over `[from_day, to_day)` reads: daily counters before the first
/// whole month, monthly counters for the whole months (as the day numbers of their 1sts), daily
/// counters after the last whole month. Empty ranges have `from >= to`; without a whole month
/// inside, everything is read from daily counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupRanges {
    /// Days before the first whole month.
    pub days_before: (i64, i64),
    /// Whole months: from the 1st of the first to the 1st of the month after the last.
    pub months: (i64, i64),
    /// Days after the last whole month.
    pub days_after: (i64, i64),
}

/// Splits `[from_day, to_day)` into [`RollupRanges`].
pub fn rollup_ranges(from_day: i64, to_day: i64) -> RollupRanges {
    let whole = (|| {
        let first = month_of(from_day)?;
        // The 1st of a month plus 31 days falls in the next month.
        let first_whole = if first == from_day { first } else { month_of(first.checked_add(31)?)? };
        let end_whole = month_of(to_day)?;
        (first_whole < end_whole).then_some((first_whole, end_whole))
    })();
    match whole {
        Some((a, b)) => RollupRanges { days_before: (from_day, a), months: (a, b), days_after: (b, to_day) },
        None => RollupRanges { days_before: (from_day, to_day), months: (0, 0), days_after: (0, 0) },
    }
}

/// Summed counters of one department (or of the city) over a period, by metric key.
pub type Metrics = BTreeMap<String, i64>;

/// Adds `other` into `into` (city-wide totals are the sum of departments' counters).
pub fn merge(into: &mut Metrics, other: &Metrics) {
    for (k, v) in other {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// Figures that are read live rather than from rollups (their tables stay small).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveFigures {
    /// Recognitions of the department's officers in the period.
    pub recognitions: i64,
    /// Current competency gaps (missing or expired) of the department's staff.
    pub competency_gaps: i64,
    /// Dumb rules affecting the department that the Chief killed or revised in the period.
    pub dumb_rules_retired: i64,
    /// The focus area of the department's plan for the period's year.
    pub focus: Option<FocusProgress>,
}

/// Progress on a plan's focus area.
#[derive(Debug, Clone, PartialEq)]
pub struct FocusProgress {
    /// The focus area.
    pub area: String,
    /// Its metric.
    pub metric: String,
    /// Value at the start of the year.
    pub baseline: f64,
    /// Target for the year.
    pub target: f64,
    /// The latest value reported by the end of the period.
    pub current: Option<f64>,
}

impl FocusProgress {
    /// Share of the way from baseline to target (may be below 0 or above 1).
    pub fn progress(&self) -> Option<f64> {
        let span = self.target - self.baseline;
        match self.current {
            Some(c) if span != 0.0 => Some((c - self.baseline) / span),
            _ => None,
        }
    }
}

/// A department's (or the city's) report card for a period.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportCard {
    /// Contacts received.
    pub volume: i64,
    /// Contacts by channel (only channels with contacts).
    pub by_channel: Vec<(Channel, i64)>,
    /// Contacts by kind (only kinds with contacts).
    pub by_kind: Vec<(FeedbackKind, i64)>,
    /// CSAT ratings 1..5: counts.
    pub csat_distribution: [i64; 5],
    /// Mean CSAT.
    pub csat_average: Option<f64>,
    /// NPS ratings 0..10: counts.
    pub nps_distribution: [i64; 11],
    /// Net promoter score, -100..100.
    pub nps: Option<f64>,
    /// Cases opened.
    pub cases_opened: i64,
    /// Cases acknowledged (first time).
    pub acknowledged: i64,
    /// Time to acknowledge, median and 90th percentile, in seconds.
    pub acknowledge_p50_secs: Option<i64>,
    /// See [`Self::acknowledge_p50_secs`].
    pub acknowledge_p90_secs: Option<i64>,
    /// Cases resolved (first time).
    pub resolved: i64,
    /// Time to resolve, median, in seconds.
    pub resolve_p50_secs: Option<i64>,
    /// Time to resolve, 90th percentile, in seconds.
    pub resolve_p90_secs: Option<i64>,
    /// Share of acknowledgements within target, percent.
    pub acknowledge_sla_percent: Option<f64>,
    /// Share of resolutions within target, percent.
    pub resolve_sla_percent: Option<f64>,
    /// Reopens per resolution.
    pub reopen_rate: Option<f64>,
    /// Reopens.
    pub reopens: i64,
    /// Hand-offs received.
    pub handoffs_in: i64,
    /// Hand-offs sent.
    pub handoffs_out: i64,
    /// Accepted hand-offs that bounced a case back to a department it had left.
    pub ping_pongs: i64,
    /// Escalations raised against the department.
    pub escalations: i64,
    /// Share of cases opened in the period whose loop was closed (follow-up recorded).
    pub closed_loop_share: Option<f64>,
    /// Of those follow-ups where the resident answered, the share satisfied, percent.
    pub closed_loop_satisfied_percent: Option<f64>,
    /// Cases closed as another department's responsibility ("not ours").
    pub redirected: i64,
    /// Recovery actions taken, by kind (only kinds taken).
    pub recovery_actions: Vec<(RecoveryKind, i64)>,
    /// Internal customers' figures (one department rating another), apart from residents'.
    pub internal: Population,
    /// Cases resolved in the period (first time), counted for the resident's wait.
    pub resident_waits: i64,
    /// The resident's wait (first contact with the city to this resolution, across every
    /// hand-off), median, in seconds.
    pub resident_wait_p50_secs: Option<i64>,
    /// The resident's wait, 90th percentile, in seconds.
    pub resident_wait_p90_secs: Option<i64>,
    /// Share of contacts with a category and an outcome recorded.
    pub coverage: Option<f64>,
    /// Customer themes on the feedback, by theme ID, most frequent first ([`theme_counts`]).
    pub themes: Vec<(String, i64)>,
    /// Live figures.
    pub live: LiveFigures,
}

/// One population's contact figures: volume, ratings and complaints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Population {
    /// Contacts.
    pub volume: i64,
    /// Complaints among them.
    pub complaints: i64,
    /// CSAT ratings 1..5: counts.
    pub csat_distribution: [i64; 5],
    /// Mean CSAT.
    pub csat_average: Option<f64>,
    /// NPS ratings 0..10: counts.
    pub nps_distribution: [i64; 11],
    /// Net promoter score, -100..100.
    pub nps: Option<f64>,
}

impl Population {
    /// The figures under metric prefix `p` (`""` for residents, `"int."` for internal customers).
    fn from_metrics(m: &Metrics, p: &str) -> Population {
        let mut csat = [0; 5];
        for (i, c) in csat.iter_mut().enumerate() {
            *c = get(m, &format!("{p}csat.{}", i + 1));
        }
        let mut nps = [0; 11];
        for (i, c) in nps.iter_mut().enumerate() {
            *c = get(m, &format!("{p}nps.{i}"));
        }
        let csat_n: i64 = csat.iter().sum();
        let csat_sum: i64 = csat.iter().enumerate().map(|(i, c)| (i as i64 + 1) * c).sum();
        let nps_n: i64 = nps.iter().sum();
        let promoters = nps[9] + nps[10];
        let detractors: i64 = nps[..=6].iter().sum();
        let kind = if p.is_empty() { "fb.kind" } else { "int.kind" };
        Population {
            volume: get(m, &format!("{p}fb")),
            complaints: get(m, &format!("{kind}.{}", FeedbackKind::Complaint.as_str())),
            csat_distribution: csat,
            csat_average: ratio(csat_sum, csat_n),
            nps_distribution: nps,
            nps: ratio((promoters - detractors) * 100, nps_n),
        }
    }
}

fn get(m: &Metrics, k: &str) -> i64 {
    m.get(k).copied().unwrap_or(0)
}

fn ratio(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The `q` quantile (0..1) of a histogram, as its bucket's upper bound (the open bucket reports
/// the last bound).
pub fn quantile(m: &Metrics, prefix: &str, q: f64) -> Option<i64> {
    let counts: Vec<i64> = (0..=BUCKETS_SECS.len()).map(|i| get(m, &format!("{prefix}.b{i}"))).collect();
    let n: i64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as i64).max(1);
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(BUCKETS_SECS[i.min(BUCKETS_SECS.len() - 1)]);
        }
    }
    None
}

impl ReportCard {
    /// Derives a card from summed counters and live figures.
    pub fn from_metrics(m: &Metrics, live: LiveFigures) -> ReportCard {
        let residents = Population::from_metrics(m, "");
        let volume = residents.volume;
        let (ack, res) = (get(m, "ack.n"), get(m, "res.n"));
        let (satisfied, unsatisfied) = (get(m, "loop.sat"), get(m, "loop.unsat"));
        ReportCard {
            volume,
            by_channel: Channel::ALL
                .iter()
                .map(|c| (*c, get(m, &format!("fb.ch.{}", c.as_str()))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            by_kind: FeedbackKind::ALL
                .iter()
                .map(|k| (*k, get(m, &format!("fb.kind.{}", k.as_str()))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            csat_distribution: residents.csat_distribution,
            csat_average: residents.csat_average,
            nps_distribution: residents.nps_distribution,
            nps: residents.nps,
            cases_opened: get(m, "case"),
            acknowledged: ack,
            acknowledge_p50_secs: quantile(m, "ack", 0.5),
            acknowledge_p90_secs: quantile(m, "ack", 0.9),
            resolved: res,
            resolve_p50_secs: quantile(m, "res", 0.5),
            resolve_p90_secs: quantile(m, "res", 0.9),
            acknowledge_sla_percent: ratio(get(m, "ack.sla") * 100, ack),
            resolve_sla_percent: ratio(get(m, "res.sla") * 100, res),
            reopen_rate: ratio(get(m, "reopen"), res),
            reopens: get(m, "reopen"),
            handoffs_in: get(m, "ho.in"),
            handoffs_out: get(m, "ho.out"),
            ping_pongs: get(m, "ho.pingpong"),
            escalations: get(m, "esc"),
            closed_loop_share: ratio(get(m, "loop"), get(m, "case")),
            closed_loop_satisfied_percent: ratio(satisfied * 100, satisfied + unsatisfied),
            redirected: get(m, "redirect"),
            recovery_actions: RecoveryKind::ALL
                .iter()
                .map(|k| (*k, get(m, &format!("rec.{}", k.as_str()))))
                .filter(|(_, n)| *n > 0)
                .collect(),
            internal: Population::from_metrics(m, "int."),
            resident_waits: get(m, "wait.n"),
            resident_wait_p50_secs: quantile(m, "wait", 0.5),
            resident_wait_p90_secs: quantile(m, "wait", 0.9),
            coverage: ratio(get(m, "cov"), volume),
            themes: theme_counts(m),
            live,
        }
    }
}

impl ReportCard {
    /// The residents' population figures (the card's top-level contact figures).
    pub fn residents(&self) -> Population {
        Population {
            volume: self.volume,
            complaints: self.by_kind.iter().find(|(k, _)| *k == FeedbackKind::Complaint).map_or(0, |(_, n)| *n),
            csat_distribution: self.csat_distribution,
            csat_average: self.csat_average,
            nps_distribution: self.nps_distribution,
            nps: self.nps,
        }
    }
}

/// What a period's figures are compared with: the previous period, over the same number of days
/// when the period is still running (`today` inside it; today counts as a whole day on both
/// sides), else whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comparison {
    /// The current period's counted days: `[start, end)` as day numbers.
    pub current: (i64, i64),
    /// The previous period's counted days: `[start, end)` as day numbers.
    pub previous: (i64, i64),
    /// Whether the current period is still running (the previous one is cut to match).
    pub partial: bool,
}

impl Period {
    /// What this period is compared with on day `today` (a day number).
    pub fn comparison(&self, today: i64) -> Comparison {
        let prev = self.previous();
        let (start, end) = (self.start_day(), self.end_day());
        if (start..end).contains(&today) {
            let elapsed = today + 1 - start;
            let prev_end = (prev.start_day() + elapsed).min(prev.end_day());
            Comparison { current: (start, today + 1), previous: (prev.start_day(), prev_end), partial: true }
        } else {
            Comparison { current: (start, end), previous: (prev.start_day(), prev.end_day()), partial: false }
        }
    }
}

/// The date of day number `day`; `None` outside chrono's calendar.
pub fn date_of(day: i64) -> Option<NaiveDate> {
    // Day 0 (1970-01-01) is day 719_163 of the common era.
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(day.checked_add(719_163)?).ok()?)
}

/// The instant local day number `day` begins in `zone`.
pub fn day_start(day: i64, zone: Tz) -> DateTime<Utc> {
    date_of(day).map_or_else(DateTime::default, |d| local_midnight(d, zone))
}

/// Whether a case counts as still owing its outcome (for coverage and breach scans).
pub fn outcome_pending(s: CaseStatus) -> bool {
    matches!(s, CaseStatus::Open | CaseStatus::Acknowledged | CaseStatus::InProgress)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn rollup_ranges_read_whole_months_from_monthly_counters_and_edges_from_days() {
        let day = |y, m, d| days(date(y, m, d));
        assert_eq!(month_of(day(2026, 2, 28)), Some(day(2026, 2, 1)));
        assert_eq!(month_of(day(2026, 3, 1)), Some(day(2026, 3, 1)));
        assert_eq!(month_of(day(1969, 12, 31)), Some(day(1969, 12, 1)));
        // A quarter is three whole months.
        let q = rollup_ranges(day(2026, 10, 1), day(2027, 1, 1));
        assert_eq!(q.months, (day(2026, 10, 1), day(2027, 1, 1)));
        assert!(q.days_before.0 >= q.days_before.1 && q.days_after.0 >= q.days_after.1);
        // Partial edges on both sides.
        let r = rollup_ranges(day(2026, 1, 15), day(2026, 4, 10));
        assert_eq!(r.days_before, (day(2026, 1, 15), day(2026, 2, 1)));
        assert_eq!(r.months, (day(2026, 2, 1), day(2026, 4, 1)));
        assert_eq!(r.days_after, (day(2026, 4, 1), day(2026, 4, 10)));
        // A week across a month end holds no whole month: days only.
        let w = rollup_ranges(day(2026, 3, 30), day(2026, 4, 6));
        assert_eq!(w.days_before, (day(2026, 3, 30), day(2026, 4, 6)));
        assert!(w.months.0 >= w.months.1);
    }

    #[test]
    fn periods_cover_their_calendar_unit() {
        let p = Period::containing(PeriodKind::Week, date(2026, 11, 26));
        assert_eq!((p.start, p.end), (date(2026, 11, 23), date(2026, 11, 30)));
        let p = Period::containing(PeriodKind::Month, date(2026, 12, 31));
        assert_eq!((p.start, p.end), (date(2026, 12, 1), date(2027, 1, 1)));
        let p = Period::containing(PeriodKind::Quarter, date(2026, 11, 26));
        assert_eq!((p.start, p.end), (date(2026, 10, 1), date(2027, 1, 1)));
        assert_eq!(p.previous().start, date(2026, 7, 1));
        let p = Period::containing(PeriodKind::Day, date(2026, 1, 1));
        assert_eq!(p.previous().start, date(2025, 12, 31));
        assert_eq!(p.end_day() - p.start_day(), 1);
    }

    #[test]
    fn cards_derive_rates_and_percentiles_from_counters() {
        let mut m = Metrics::new();
        for (k, v) in [
            ("fb", 10),
            ("fb.ch.phone", 6),
            ("fb.ch.web", 4),
            ("csat.1", 1),
            ("csat.5", 3),
            ("nps.10", 2),
            ("nps.8", 1),
            ("nps.3", 1),
            ("case", 4),
            ("res.n", 4),
            ("res.sla", 3),
            ("res.b4", 3), // <= 1 h
            ("res.b9", 1), // <= 1 day
            ("reopen", 1),
            ("loop", 2),
            ("cov", 5),
        ] {
            m.insert(k.into(), v);
        }
        let c = ReportCard::from_metrics(&m, LiveFigures::default());
        assert_eq!(c.volume, 10);
        assert_eq!(c.by_channel, vec![(Channel::Phone, 6), (Channel::Web, 4)]);
        assert_eq!(c.csat_average, Some(4.0));
        assert_eq!(c.nps, Some(25.0));
        assert_eq!(c.resolve_p50_secs, Some(3_600));
        assert_eq!(c.resolve_p90_secs, Some(86_400));
        assert_eq!(c.resolve_sla_percent, Some(75.0));
        assert_eq!(c.reopen_rate, Some(0.25));
        assert_eq!(c.closed_loop_share, Some(0.5));
        assert_eq!(c.coverage, Some(0.5));
        assert_eq!(c.acknowledge_sla_percent, None);
    }

    #[test]
    fn a_running_period_is_compared_with_the_same_days_of_the_previous_one() {
        let oct = Period::containing(PeriodKind::Month, date(2026, 10, 1));
        let today = days(date(2026, 10, 10));
        let c = oct.comparison(today);
        assert!(c.partial);
        assert_eq!(c.current, (days(date(2026, 10, 1)), days(date(2026, 10, 11))));
        assert_eq!(c.previous, (days(date(2026, 9, 1)), days(date(2026, 9, 11))));
        // March 31st against February: February is cut at its end.
        let mar = Period::containing(PeriodKind::Month, date(2026, 3, 1));
        assert_eq!(mar.comparison(days(date(2026, 3, 31))).previous, (days(date(2026, 2, 1)), days(date(2026, 3, 1))));
        // A closed period is compared whole.
        let c = oct.comparison(days(date(2026, 12, 5)));
        assert!(!c.partial);
        assert_eq!(c.previous, (days(date(2026, 9, 1)), days(date(2026, 10, 1))));
    }

    #[test]
    fn a_movement_needs_only_the_movement_metrics() {
        let d = DepartmentId::parse("d", "water").unwrap();
        let now =
            ReportCard { resolve_sla_percent: Some(70.0), cases_opened: 10, escalations: 3, ..ReportCard::default() };
        let mut all = Metrics::new();
        for (k, v) in [("res.n", 10), ("res.sla", 9), ("csat.2", 3), ("csat.5", 1), ("ho.pingpong", 2), ("esc", 4)] {
            all.insert(k.into(), v);
        }
        all.insert("case".into(), 20);
        for k in ["fb", "int.fb", "wait.n", "ack.n", "loop", "cov", "fb.kind.complaint"] {
            all.insert(k.into(), 7);
        }
        let named: Metrics =
            all.iter().filter(|(k, _)| MOVEMENT_METRICS.contains(&k.as_str())).map(|(k, v)| (k.clone(), *v)).collect();
        let whole = movement(&d, &now, &ReportCard::from_metrics(&all, LiveFigures::default()));
        let part = movement(&d, &now, &ReportCard::from_metrics(&named, LiveFigures::default()));
        assert_eq!(whole, part);
    }

    #[test]
    fn movement_scores_are_per_case_and_no_part_dominates() {
        let d = DepartmentId::parse("d", "water").unwrap();
        let card =
            |cases: i64, escalations: i64| ReportCard { cases_opened: cases, escalations, ..ReportCard::default() };
        // A big department with 200 more escalations on 10x the cases is not worse per case.
        let big = movement(&d, &card(10_000, 1_000), &card(1_000, 100));
        assert_eq!((big.escalation_change, big.escalation_rate_change, big.score), (900, Some(0.0), 0.0));
        // A flood of escalations counts at most the cap.
        let flood = movement(&d, &card(100, 357), &card(100, 2));
        assert_eq!(flood.score, SCORE_PART_CAP);
    }

    #[test]
    fn worst_movers_are_those_that_lost_most() {
        let d = |s: &str| DepartmentId::parse("d", s).unwrap();
        let card = |sla: f64| ReportCard { resolve_sla_percent: Some(sla), ..ReportCard::default() };
        let moves = vec![
            movement(&d("water"), &card(60.0), &card(90.0)),
            movement(&d("streets"), &card(80.0), &card(85.0)),
            movement(&d("parks"), &card(95.0), &card(90.0)),
        ];
        let worst = worst_movers(&moves, 3);
        assert_eq!(worst.iter().map(|m| m.department.as_str()).collect::<Vec<_>>(), ["water", "streets"]);
    }
}

/// The figures of one touchpoint or officer over a period, from its counters (`tp.{t}.` or
/// `of.{o}.`: [`contact_deltas`], [`observation_deltas`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MomentFigures {
    /// Residents' contacts naming it.
    pub contacts: i64,
    /// Of those, complaints.
    pub complaints: i64,
    /// Of those, compliments.
    pub compliments: i64,
    /// Of those, with a CSAT answer.
    pub csat_responses: i64,
    /// Mean CSAT, unless there is none or it is withheld.
    pub csat_average: Option<f64>,
    /// Whether the mean is withheld (fewer responses than the minimum).
    pub csat_withheld: bool,
    /// Observations of it.
    pub observations: i64,
    /// Mean score over every item scored in them.
    pub observation_average: Option<f64>,
    /// Recognitions (service heroes) of the officer.
    pub recognitions: i64,
}

/// The counter names a moment's figures read, for `prefix` (`tp.{t}.` or `of.{o}.`).
pub fn moment_metric_names(prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = ["fb", "kind.complaint", "kind.compliment", "obs", "obs.n", "obs.sum", "rec"]
        .iter()
        .map(|m| format!("{prefix}{m}"))
        .collect();
    names.extend((1..=5).map(|v| format!("{prefix}csat.{v}")));
    names
}

/// The figures under `prefix` in `m`. With `min_responses`, a CSAT mean built on fewer responses
/// is withheld (per-officer figures: nobody is singled out by a handful of answers).
pub fn moment_figures(m: &Metrics, prefix: &str, min_responses: Option<i64>) -> MomentFigures {
    let get = |k: &str| m.get(&format!("{prefix}{k}")).copied().unwrap_or(0);
    let answers: Vec<(i64, i64)> = (1..=5).map(|v| (v, get(&format!("csat.{v}")))).collect();
    let responses: i64 = answers.iter().map(|(_, n)| n).sum();
    let withheld = responses > 0 && min_responses.is_some_and(|min| responses < min);
    let csat_average =
        (responses > 0 && !withheld).then(|| answers.iter().map(|(v, n)| v * n).sum::<i64>() as f64 / responses as f64);
    let (items, sum) = (get("obs.n"), get("obs.sum"));
    MomentFigures {
        contacts: get("fb"),
        complaints: get("kind.complaint"),
        compliments: get("kind.compliment"),
        csat_responses: responses,
        csat_average,
        csat_withheld: withheld,
        observations: get("obs"),
        observation_average: (items > 0).then(|| sum as f64 / items as f64),
        recognitions: get("rec"),
    }
}

#[cfg(test)]
mod moment_tests {
    use super::*;

    #[test]
    fn an_officer_mean_on_four_responses_is_withheld_and_on_five_shown() {
        let mut m = Metrics::new();
        m.insert("of.dana.csat.5".into(), 3);
        m.insert("of.dana.csat.1".into(), 1);
        let four = moment_figures(&m, "of.dana.", Some(5));
        assert_eq!((four.csat_responses, four.csat_average, four.csat_withheld), (4, None, true));
        m.insert("of.dana.csat.4".into(), 1);
        let five = moment_figures(&m, "of.dana.", Some(5));
        assert_eq!((five.csat_average, five.csat_withheld), (Some(20.0 / 5.0), false));
        let tp = moment_figures(&m, "tp.counter.", None);
        assert_eq!((tp.csat_responses, tp.csat_average, tp.csat_withheld), (0, None, false));
    }
}
