//! The storage contract: the per-subdomain traits every backend implements ([`Store`] is all of them), its error type, and the
//! shared test [`suite`] each backend runs (via [`backend_tests!`]) so behaviour is identical on
//! SQLite and PostgreSQL.
//!
//! Every tenant-scoped call takes a [`TenantScope`], which only the domain's policy can create.
//! Writes take a [`WriteCtx`] so the audit record and the outbox event are written in the same
//! transaction as the change.

use cityserve_domain::{Caller, TenantScope};

pub mod audit;
pub mod board;
pub mod calendar;
pub mod coordination;
pub mod departments;
pub mod dumb_rules;
pub mod escalations;
pub mod events;
pub mod feedback;
pub mod group_commit;
pub mod handoffs;
pub mod import;
pub mod initiatives;
pub mod lease;
pub mod notices;
pub mod observations;
pub mod officers;
pub mod open311;
pub mod panels;
pub mod reports;
pub mod service_accounts;
pub mod suite;
pub mod themes;
pub mod touchpoints;

pub use audit::AuditStore;
pub use board::BoardStore;
pub use calendar::CalendarStore;
pub use coordination::CoordinationStore;
pub use departments::DepartmentStore;
pub use dumb_rules::DumbRuleStore;
pub use escalations::EscalationStore;
pub use events::EventStore;
pub use feedback::FeedbackStore;
pub use handoffs::HandoffStore;
pub use import::ImportStore;
pub use initiatives::InitiativeStore;
pub use lease::{Lease, LeaseStore};
pub use notices::NoticeStore;
pub use observations::ObservationStore;
pub use officers::OfficerStore;
pub use open311::Open311Store;
pub use panels::PanelStore;
pub use reports::{ReportStore, RollupRebuild};
pub use service_accounts::ServiceAccountStore;
pub use themes::ThemeStore;
pub use touchpoints::TouchpointStore;

/// Why a store call failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// No such row within the caller's scope (rows of other tenants are reported the same way).
    #[error("not found")]
    NotFound,
    /// A row with the same key (or unique combination) exists already.
    #[error("already exists")]
    AlreadyExists,
    /// The idempotency key was used before for a different request.
    #[error("request_id was already used for a different request")]
    IdempotencyMismatch,
    /// The expected revision (etag) is stale.
    #[error("the resource was changed since it was read (stale etag)")]
    Conflict,
    /// A concurrent change won (e.g. the seat's current appointment is not the one the caller
    /// replaces); the message says what to re-read. Never contains PII.
    #[error("{0}")]
    Contended(String),
    /// The operation is not allowed in the current state; the message says why. Never contains PII.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The input does not fit what is stored (answers against their service category's
    /// attributes): checked in the write's transaction, where the definitions are read.
    #[error(transparent)]
    Invalid(cityserve_domain::ValidationError),
    /// The database is unreachable or shutting down; the call may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else; details are logged, not returned to clients.
    #[error("database error: {0}")]
    Internal(String),
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// Who is writing, for what, and under which scope. Each write records one audit row and one
/// outbox event from this context, in the write's own transaction.
#[derive(Debug, Clone)]
pub struct WriteCtx<'a> {
    /// The authorized tenant scope.
    pub scope: &'a TenantScope,
    /// The authenticated caller (audited as subject and role).
    pub actor: &'a Caller,
    /// Audit action name, e.g. `department.update`; also the outbox event type.
    pub action: &'static str,
    /// W3C trace id of the request, for correlating audit rows with traces.
    pub trace_id: Option<String>,
}

/// An idempotency key with a fingerprint of the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The client's `request_id`.
    pub request_id: String,
    /// Hash of the request body without the `request_id`; a retry must match it.
    pub request_hash: String,
}

/// Everything CityServe stores: the one bound for code that needs the whole store (the server,
/// the API services). Each backend implements the per-subdomain traits; this follows.
pub trait Store:
    DepartmentStore
    + CalendarStore
    + OfficerStore
    + FeedbackStore
    + CoordinationStore
    + ImportStore
    + AuditStore
    + Open311Store
    + NoticeStore
    + TouchpointStore
    + ObservationStore
    + ThemeStore
    + PanelStore
    + BoardStore
{
}

impl<T> Store for T where
    T: DepartmentStore
        + CalendarStore
        + OfficerStore
        + FeedbackStore
        + CoordinationStore
        + ImportStore
        + AuditStore
        + Open311Store
        + NoticeStore
        + TouchpointStore
        + ObservationStore
        + ThemeStore
        + PanelStore
        + BoardStore
{
}

/// Generates the shared [`suite`] as `#[tokio::test]` functions for one backend. `$factory` is an
/// async function returning `Some((store, guard))`; the guard lives until the test ends (e.g. to
/// drop a temporary database). It returns `None` only when the backend's tests were explicitly
/// opted out, and then the test passes without running.
#[macro_export]
macro_rules! backend_tests {
    ($factory:path) => {
        $crate::backend_tests!(@each $factory;
            department_crud_and_listing,
            pagination_is_stable_and_complete,
            create_is_idempotent,
            idempotency_keys_are_scoped_by_calling_tenant_and_subject,
            concurrent_retries_create_once,
            stale_revision_is_rejected,
            scope_hides_other_tenants,
            categories_and_standards,
            standard_pairs_are_unique,
            writes_are_audited_with_events,
            officer_crud_and_filters,
            identity_provider_users_sign_in_as_one_officer,
            service_accounts_register_change_and_sign_in,
            appointments_keep_history_and_one_cso_per_seat,
            concurrent_appointments_to_one_seat_one_wins,
            chief_seat_and_network,
            competency_gaps_list_missing_and_expired,
            recognitions_newest_first_and_counted,
            plans_keep_every_revision,
            officer_scope_hides_other_tenants,
            feedback_submit_is_idempotent_under_concurrent_retries,
            feedback_batch_is_all_or_nothing,
            feedback_batch_item_by_item,
            a_batch_names_each_resident_once,
            case_lifecycle_with_due_times_from_standards,
            cases_filter_and_sort_by_due,
            timeline_spans_departments_with_details_in_scope,
            erasure_keeps_statistics_and_removes_pii,
            feedback_scope_hides_other_tenants,
            export_reads_a_period_and_the_contact_values,
            handoff_path_and_ping_pong_count_on_both_cards,
            breach_scan_escalates_exactly_once_with_racing_scanners,
            escalations_are_raised_and_settled,
            initiatives_are_visible_to_member_departments,
            dumb_rules_take_votes_and_a_decision,
            report_card_figures_match_a_hand_computed_data_set,
            watch_resumes_without_gaps_or_duplicates,
            coordination_scope_hides_other_tenants,
            api_keys_are_issued_listed_and_revoked,
            open311_requests_are_filtered_and_paged,
            history_imports_in_bulk_with_its_counters,
            audit_log_lists_newest_first_with_filters_and_refusals,
            monthly_rollups_sum_like_the_days_they_cover,
            rollups_kept_by_writes_equal_a_rebuild,
            leases_are_held_by_one_holder_at_a_time,
            live_writes_reach_the_month_of_their_day,
            live_figures_of_many_departments_match_one_by_one,
            calendar_changes_reschedule_open_cases,
            a_flood_of_breaches_arrives_as_one_digest,
            a_case_waiting_on_the_resident_stops_its_clocks,
            notices_follow_case_changes_and_erasure,
            notice_templates_have_revisions_and_a_city_default,
            touchpoints_are_kept_per_department_and_named_by_feedback,
            observations_keep_their_rubric_version_and_stay_in_their_department,
            panels_keep_attendance_when_members_are_erased,
        );
    };
    (@each $factory:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some((store, _guard)) = $factory().await else { return };
                $crate::suite::$name(&store).await;
            }
        )+
    };
}

/// Resource names as recorded in audit rows and events (the same strings the API uses).
pub mod resource {
    use cityserve_domain::{
        AppointmentId, CompetencyId, DepartmentId, OfficerId, RecognitionId, ServiceCategoryId, ServiceStandardId,
        TrainingRecordId,
    };

    /// `departments/{d}`.
    pub fn department(d: &DepartmentId) -> String {
        format!("departments/{d}")
    }

    /// `calendar`: the city's calendar.
    pub const CITY_CALENDAR: &str = "calendar";

    /// `departments/{d}/calendar`.
    pub fn department_calendar(d: &DepartmentId) -> String {
        format!("departments/{d}/calendar")
    }

    /// `departments/{d}/serviceCategories/{c}`.
    pub fn category(d: &DepartmentId, c: &ServiceCategoryId) -> String {
        format!("departments/{d}/serviceCategories/{c}")
    }

    /// `departments/{d}/serviceStandards/{s}`.
    pub fn standard(d: &DepartmentId, s: &ServiceStandardId) -> String {
        format!("departments/{d}/serviceStandards/{s}")
    }

    /// `departments/{d}/officers/{o}`.
    pub fn officer(d: &DepartmentId, o: &OfficerId) -> String {
        format!("departments/{d}/officers/{o}")
    }

    /// `departments/{d}/appointments/{a}`.
    pub fn appointment(d: &DepartmentId, a: &AppointmentId) -> String {
        format!("departments/{d}/appointments/{a}")
    }

    /// `departments/{d}/competencies/{c}`.
    pub fn competency(d: &DepartmentId, c: &CompetencyId) -> String {
        format!("departments/{d}/competencies/{c}")
    }

    /// `departments/{d}/officers/{o}/trainingRecords/{t}`.
    pub fn training_record(d: &DepartmentId, o: &OfficerId, t: &TrainingRecordId) -> String {
        format!("departments/{d}/officers/{o}/trainingRecords/{t}")
    }

    /// `departments/{d}/recognitions/{r}`.
    pub fn recognition(d: &DepartmentId, r: &RecognitionId) -> String {
        format!("departments/{d}/recognitions/{r}")
    }

    /// `departments/{d}/plans/{year}`.
    pub fn plan(d: &DepartmentId, year: i32) -> String {
        format!("departments/{d}/plans/{year}")
    }

    /// `departments/{d}/feedback/{f}`.
    pub fn feedback(d: &DepartmentId, f: &cityserve_domain::FeedbackId) -> String {
        format!("departments/{d}/feedback/{f}")
    }

    /// `departments/{d}/cases/{c}`.
    pub fn case(d: &DepartmentId, c: &cityserve_domain::CaseId) -> String {
        format!("departments/{d}/cases/{c}")
    }

    /// `themes/{t}`: a city-wide customer theme (any ID string: counters hold themes as text).
    pub fn theme(t: &str) -> String {
        format!("themes/{t}")
    }

    /// `departments/{d}/panels/{p}`: a customer feedback panel.
    pub fn panel(d: &DepartmentId, p: &cityserve_domain::panel::PanelId) -> String {
        format!("departments/{d}/panels/{p}")
    }

    /// `departments/{d}/panels/{p}/members/{m}`.
    pub fn panel_member(
        d: &DepartmentId,
        p: &cityserve_domain::panel::PanelId,
        m: &cityserve_domain::panel::PanelMemberId,
    ) -> String {
        format!("departments/{d}/panels/{p}/members/{m}")
    }

    /// `departments/{d}/panels/{p}/sessions/{s}`.
    pub fn panel_session(
        d: &DepartmentId,
        p: &cityserve_domain::panel::PanelId,
        s: &cityserve_domain::panel::PanelSessionId,
    ) -> String {
        format!("departments/{d}/panels/{p}/sessions/{s}")
    }

    /// `departments/{d}/panels/{p}/findings/{f}`.
    pub fn panel_finding(
        d: &DepartmentId,
        p: &cityserve_domain::panel::PanelId,
        f: &cityserve_domain::panel::PanelFindingId,
    ) -> String {
        format!("departments/{d}/panels/{p}/findings/{f}")
    }

    /// `departments/{d}/touchpoints/{t}`: a place or channel where residents meet a department.
    pub fn touchpoint(d: &DepartmentId, t: &cityserve_domain::TouchpointId) -> String {
        format!("departments/{d}/touchpoints/{t}")
    }

    /// `departments/{d}/rubrics/{r}`: what observers score at a department's touchpoints.
    pub fn rubric(d: &DepartmentId, r: &cityserve_domain::observation::RubricId) -> String {
        format!("departments/{d}/rubrics/{r}")
    }

    /// `departments/{d}/observations/{o}`: a moment-of-truth observation.
    pub fn observation(d: &DepartmentId, o: &cityserve_domain::observation::ObservationId) -> String {
        format!("departments/{d}/observations/{o}")
    }

    /// `departments/{d}/notices/{n}`: a notice to a resident and its delivery.
    pub fn notice(d: &DepartmentId, n: &str) -> String {
        format!("departments/{d}/notices/{n}")
    }

    /// `departments/{d}/noticeTemplates/{t}`, or `noticeTemplates/{t}` for the city-wide default.
    pub fn notice_template(d: Option<&DepartmentId>, t: &str) -> String {
        match d {
            Some(d) => format!("departments/{d}/noticeTemplates/{t}"),
            None => format!("noticeTemplates/{t}"),
        }
    }

    /// `residents/{key}`: a resident, by pseudonymous key (never by contact details).
    pub fn resident(key: &str) -> String {
        format!("residents/{key}")
    }

    /// `departments/{d}/handoffs/{h}` (named under the sending department).
    pub fn handoff(d: &DepartmentId, h: &cityserve_domain::HandoffId) -> String {
        format!("departments/{d}/handoffs/{h}")
    }

    /// `departments/{d}/escalations/{e}`.
    pub fn escalation(d: &DepartmentId, e: &cityserve_domain::EscalationId) -> String {
        format!("departments/{d}/escalations/{e}")
    }

    /// `departments/{d}/initiatives/{i}` (named under the lead department).
    pub fn initiative(d: &DepartmentId, i: &cityserve_domain::InitiativeId) -> String {
        format!("departments/{d}/initiatives/{i}")
    }

    /// `dumbRules/{r}`: the register is city-wide.
    pub fn dumb_rule(r: &cityserve_domain::DumbRuleId) -> String {
        format!("dumbRules/{r}")
    }

    /// `apiKeys/{k}`: Open311 client keys are city-wide.
    pub fn api_key(k: &str) -> String {
        format!("apiKeys/{k}")
    }

    /// `serviceAccounts/{a}`: the city's internal applications are city-wide.
    pub fn service_account(a: &str) -> String {
        format!("serviceAccounts/{a}")
    }

    /// `departments/{d}/plans/{year}/revisions/{n}`.
    pub fn plan_revision(d: &DepartmentId, year: i32, n: i64) -> String {
        format!("departments/{d}/plans/{year}/revisions/{n}")
    }
}

/// The key space of a caller's idempotency keys: its calling tenant (the departments it belongs
/// to; none for city-wide roles) and subject. Two callers with different key spaces never see or
/// replay each other's `request_id`s, even when both write into the same department.
pub fn key_space(actor: &Caller) -> String {
    let tenants: Vec<&str> = actor.departments.iter().map(|d| d.as_str()).collect();
    format!("{}/{}", tenants.join(","), actor.subject)
}

/// A new time-ordered ID (`{prefix}-{UUIDv7}`) for rows the server creates on its own (e.g.
/// escalations raised by the breach scan): sorting by ID sorts by creation time.
pub fn generated_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Microsecond precision, the finest both databases store, so a value returned from a write
/// equals what a later read returns.
pub fn now_micros() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
