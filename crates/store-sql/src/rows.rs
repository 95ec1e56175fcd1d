//! One conversion per row type, from a result row (either database, through [`SqlRow`]) into its
//! domain type. The statements that produce these rows select the columns their `*_COLUMNS`
//! constants name ([`crate::departments`], [`crate::officers`]).
use crate::{SqlRow, corrupt};
use cityserve_domain::coordination::{
    DumbRule, DumbRuleStatus, Escalation, EscalationStatus, EscalationTrigger, Handoff, HandoffKind, HandoffStatus,
    Initiative, InitiativeStatus, RuleDecision, RuleVerdict,
};
use cityserve_domain::officer::roles_from_string;
use cityserve_domain::{
    Appointment, AppointmentId, Case, CaseId, CaseStatus, Channel, Competency, CompetencyId, Department, DepartmentId,
    DepartmentStatus, Feedback, FeedbackId, FeedbackKind, Location, Officer, OfficerId, OfficerKind, OfficerStatus,
    Plan, PlanChange, PlanRevision, PlanStatus, Recognition, RecognitionId, Seat, ServiceCategory, ServiceCategoryId,
    ServiceCategoryStatus, ServiceStandard, ServiceStandardId, ServiceTargets, TrainingRecord, TrainingRecordId,
};
use cityserve_domain::{Clock, DumbRuleId, EscalationId, HandoffId, InitiativeId};
use cityserve_store::StoreResult;
use cityserve_store::coordination::Event;

/// A list kept as JSON in a text column, `''` for none ([`json_column`] writes it): service
/// attributes and their answers.
pub fn json_list<T: serde::de::DeserializeOwned>(row: &impl SqlRow, col: &str) -> StoreResult<Vec<T>> {
    let text = row.text(col)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&text).map_err(|_| corrupt(col))
}

/// The text column of a list [`json_list`] reads: `''` for none, else compact JSON.
pub fn json_column<T: serde::Serialize>(items: &[T]) -> String {
    if items.is_empty() {
        return String::new();
    }
    serde_json::to_string(items).unwrap_or_default()
}

/// A `departments` row ([`crate::departments::DEPARTMENT_COLUMNS`]).
pub fn department(row: &impl SqlRow) -> StoreResult<Department> {
    Ok(Department {
        id: row.id("department_id", DepartmentId::parse)?,
        display_name: row.text("display_name")?,
        description: row.text("description")?,
        status: row.word("status", DepartmentStatus::parse)?,
        default_targets: ServiceTargets::new(row.int("default_ack_secs")?, row.int("default_resolve_secs")?)
            .map_err(|_| corrupt("default targets"))?
            .on(row.word("default_clock", Clock::parse)?),
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// A `service_categories` row ([`crate::departments::CATEGORY_COLUMNS`]).
pub fn category(row: &impl SqlRow) -> StoreResult<ServiceCategory> {
    Ok(ServiceCategory {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("category_id", ServiceCategoryId::parse)?,
        display_name: row.text("display_name")?,
        description: row.text("description")?,
        keywords: row.json("keywords")?,
        attributes: json_list(row, "attributes")?,
        public: row.flag("public")?,
        status: row.word("status", ServiceCategoryStatus::parse)?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// A `service_standards` row ([`crate::departments::STANDARD_COLUMNS`]).
pub fn standard(row: &impl SqlRow) -> StoreResult<ServiceStandard> {
    Ok(ServiceStandard {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("standard_id", ServiceStandardId::parse)?,
        category: row.opt_id("category_id", ServiceCategoryId::parse)?,
        channel: row.opt_word("channel", Channel::parse)?,
        targets: ServiceTargets::new(row.int("ack_secs")?, row.int("resolve_secs")?)
            .map_err(|_| corrupt("targets"))?
            .on(row.word("clock", Clock::parse)?),
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// An officer with its current seat and recognition count ([`crate::officers::OFFICER_SELECT`]).
pub fn officer(row: &impl SqlRow) -> StoreResult<Officer> {
    Ok(Officer {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("officer_id", OfficerId::parse)?,
        display_name: row.text("display_name")?,
        email: row.text("email")?,
        title: row.text("title")?,
        identity_subject: row.text("identity_subject")?,
        kind: row.word("kind", OfficerKind::parse)?,
        status: row.word("status", OfficerStatus::parse)?,
        seat: row.opt_word("seat", Seat::parse)?,
        recognition_count: row.int("recognition_count")?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// A `service_accounts` row ([`crate::service_accounts::SERVICE_ACCOUNT_COLUMNS`]).
pub fn service_account(row: &impl SqlRow) -> StoreResult<cityserve_domain::ServiceAccount> {
    let departments = row
        .text("departments")?
        .split(',')
        .map(|d| DepartmentId::parse("departments", d).map_err(|_| corrupt("departments")))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(cityserve_domain::ServiceAccount {
        id: row.id("account_id", cityserve_domain::ServiceAccountId::parse)?,
        display_name: row.text("display_name")?,
        departments,
        client_id: row.text("client_id")?,
        status: row.word("status", cityserve_domain::ServiceAccountStatus::parse)?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// An `appointments` row ([`crate::officers::APPOINTMENT_COLUMNS`]).
pub fn appointment(row: &impl SqlRow) -> StoreResult<Appointment> {
    Ok(Appointment {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("appointment_id", AppointmentId::parse)?,
        seat: row.word("seat", Seat::parse)?,
        officer_id: row.id("officer_id", OfficerId::parse)?,
        start_time: row.time("start_time")?,
        end_time: row.opt_time("end_time")?,
        appointed_by: row.text("appointed_by")?,
        ended_by: row.opt_text("ended_by")?,
        end_reason: row.text("end_reason")?,
    })
}

/// A `competencies` row ([`crate::officers::COMPETENCY_COLUMNS`]).
pub fn competency(row: &impl SqlRow) -> StoreResult<Competency> {
    Ok(Competency {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("competency_id", CompetencyId::parse)?,
        display_name: row.text("display_name")?,
        description: row.text("description")?,
        required_for: roles_from_string(&row.text("required_for")?).ok_or_else(|| corrupt("required_for"))?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// A `training_records` row ([`crate::officers::TRAINING_COLUMNS`]).
pub fn training(row: &impl SqlRow) -> StoreResult<TrainingRecord> {
    Ok(TrainingRecord {
        department_id: row.id("department_id", DepartmentId::parse)?,
        officer_id: row.id("officer_id", OfficerId::parse)?,
        id: row.id("record_id", TrainingRecordId::parse)?,
        competency_id: row.id("competency_id", CompetencyId::parse)?,
        complete_time: row.time("complete_time")?,
        expire_time: row.opt_time("expire_time")?,
        notes: row.text("notes")?,
        recorded_by: row.text("recorded_by")?,
        create_time: row.time("create_time")?,
    })
}

/// A `recognitions` row ([`crate::officers::RECOGNITION_COLUMNS`]).
pub fn recognition(row: &impl SqlRow) -> StoreResult<Recognition> {
    Ok(Recognition {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("recognition_id", RecognitionId::parse)?,
        officer_id: row.id("officer_id", OfficerId::parse)?,
        recognized_by: row.text("recognized_by")?,
        story: row.text("story")?,
        feedback: row.opt_text("feedback")?,
        create_time: row.time("create_time")?,
    })
}

/// A `plans` row ([`crate::officers::PLAN_COLUMNS`]).
pub fn plan(row: &impl SqlRow) -> StoreResult<Plan> {
    Ok(Plan {
        department_id: row.id("department_id", DepartmentId::parse)?,
        year: row.int32("year")?,
        content: row.json("content")?,
        status: row.word("status", PlanStatus::parse)?,
        review_comment: row.text("review_comment")?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// A `plan_revisions` row ([`crate::officers::REVISION_COLUMNS`]).
pub fn plan_revision(row: &impl SqlRow) -> StoreResult<PlanRevision> {
    Ok(PlanRevision {
        department_id: row.id("department_id", DepartmentId::parse)?,
        year: row.int32("year")?,
        revision: row.int("revision")?,
        change: row.word("change", PlanChange::parse)?,
        content: row.json("content")?,
        status: row.word("status", PlanStatus::parse)?,
        comment: row.text("comment")?,
        author: row.text("author")?,
        create_time: row.time("create_time")?,
    })
}

/// A `feedback` row ([`crate::feedback::FEEDBACK_COLUMNS`]).
pub fn feedback(row: &impl SqlRow) -> StoreResult<Feedback> {
    let kind = row.word("kind", FeedbackKind::parse)?;
    let feedback_id = row.id("feedback_id", FeedbackId::parse)?;
    let department_id = row.id("department_id", DepartmentId::parse)?;
    Ok(Feedback {
        department_id: department_id.clone(),
        case_id: (kind == FeedbackKind::Complaint).then(|| CaseId::from_feedback(&feedback_id)),
        id: feedback_id,
        channel: row.word("channel", Channel::parse)?,
        kind,
        csat: row.opt_int32("csat")?,
        nps: row.opt_int32("nps")?,
        text: row.text("text")?,
        language: row.text("language")?,
        category: row.opt_id("category_id", ServiceCategoryId::parse)?,
        location: Location {
            address: row.text("address")?,
            latitude: row.opt_real("latitude")?,
            longitude: row.opt_real("longitude")?,
            address_id: row.text("address_id")?,
        },
        media: row.text("media_urls")?.lines().map(str::to_owned).collect(),
        attributes: json_list(row, "attributes")?,
        client_ids: cityserve_domain::ClientIds {
            device_id: row.text("device_id")?,
            account_id: row.text("account_id")?,
        },
        occurred_at: row.time("occurred_at")?,
        received_at: row.time("received_at")?,
        resident_key: row.opt_text("resident_key")?,
        internal_customer: row.opt_id("internal_customer", DepartmentId::parse)?,
        source: row.opt_text("source")?,
        erased: row.flag("erased")?,
        served: cityserve_domain::feedback::Served {
            touchpoint: row
                .opt_id("touchpoint_id", cityserve_domain::TouchpointId::parse)?
                .map(|t| (department_id.clone(), t)),
            officer: row.opt_id("served_by", OfficerId::parse)?.map(|o| (department_id.clone(), o)),
        },
    })
}

/// A `cases` row ([`crate::feedback::CASE_COLUMNS`]), without its notes and recovery actions.
pub fn case(row: &impl SqlRow) -> StoreResult<Case> {
    Ok(Case {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("case_id", CaseId::parse)?,
        status: row.word("status", CaseStatus::parse)?,
        assignee: row.opt_id("assignee", OfficerId::parse)?,
        category: row.opt_id("category_id", ServiceCategoryId::parse)?,
        channel: row.word("channel", Channel::parse)?,
        received_at: row.time("received_at")?,
        // NULL before migration 0013 and for imported history: the case's own receipt.
        first_contact_at: row.opt_time("first_contact_at")?.map_or_else(|| row.time("received_at"), Ok)?,
        waiting_since: row.opt_time("waiting_since")?,
        waited_secs: row.int("waited_secs")?,
        acknowledge_due: row.time("acknowledge_due")?,
        resolve_due: row.time("resolve_due")?,
        acknowledged_at: row.opt_time("acknowledged_at")?,
        resolved_at: row.opt_time("resolved_at")?,
        closed_at: row.opt_time("closed_at")?,
        owner_department: row.opt_id("owner_department", DepartmentId::parse)?,
        reopen_count: row.int32("reopen_count")?,
        recovery: Vec::new(),
        notes: Vec::new(),
        follow_up: row.opt_id("follow_up", FeedbackId::parse)?,
        satisfied: row.opt_flag("satisfied")?,
        resident_key: row.opt_text("resident_key")?,
        revision: row.int("revision")?,
        update_time: row.time("update_time")?,
    })
}

/// An `escalations` row.
pub fn escalation(row: &impl SqlRow) -> StoreResult<Escalation> {
    let handoff =
        match (row.opt_id("handoff_department", DepartmentId::parse)?, row.opt_id("handoff_id", HandoffId::parse)?) {
            (Some(d), Some(h)) => Some((d, h)),
            _ => None,
        };
    Ok(Escalation {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("escalation_id", EscalationId::parse)?,
        case_department: row.id("case_department", DepartmentId::parse)?,
        case_id: row.id("case_id", CaseId::parse)?,
        handoff,
        trigger: row.word("trigger", EscalationTrigger::parse)?,
        status: row.word("status", EscalationStatus::parse)?,
        reason: row.text("reason")?,
        resolution: row.text("resolution")?,
        created_by: row.text("created_by")?,
        create_time: row.time("create_time")?,
        acknowledge_time: row.opt_time("acknowledge_time")?,
        resolve_time: row.opt_time("resolve_time")?,
        revision: row.int("revision")?,
        breach_count: row.int32("breach_count")?,
        digest_cases: row.text("digest_cases")?.lines().map(str::to_owned).collect(),
    })
}

/// A `handoffs` row ([`crate::coordination::HANDOFF_COLUMNS`]).
pub fn handoff(row: &impl SqlRow) -> StoreResult<Handoff> {
    Ok(Handoff {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("handoff_id", HandoffId::parse)?,
        case_id: row.id("case_id", CaseId::parse)?,
        to_department: row.id("to_department", DepartmentId::parse)?,
        kind: row.word("kind", HandoffKind::parse)?,
        status: row.word("status", HandoffStatus::parse)?,
        reason: row.text("reason")?,
        decline_reason: row.text("decline_reason")?,
        path: row.ids("path", DepartmentId::parse)?,
        ping_pong: row.flag("ping_pong")?,
        accept_due: row.time("accept_due")?,
        created_by: row.text("created_by")?,
        create_time: row.time("create_time")?,
        responded_by: row.text("responded_by")?,
        respond_time: row.opt_time("respond_time")?,
        received_case: row.opt_id("received_case", CaseId::parse)?,
        revision: row.int("revision")?,
    })
}

/// An `initiatives` row ([`crate::coordination::INITIATIVE_COLUMNS`]) with its members.
pub fn initiative(row: &impl SqlRow, members: Vec<DepartmentId>) -> StoreResult<Initiative> {
    Ok(Initiative {
        department_id: row.id("department_id", DepartmentId::parse)?,
        id: row.id("initiative_id", InitiativeId::parse)?,
        title: row.text("title")?,
        goal: row.text("goal")?,
        owner: row.id("owner", OfficerId::parse)?,
        members,
        status: row.word("status", InitiativeStatus::parse)?,
        milestones: row.json("milestones")?,
        cases: row.json("cases")?,
        dumb_rules: row.json("dumb_rules")?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
        lifecycle: cityserve_domain::coordination::InitiativeLifecycle {
            start_time: row.opt_time("start_time")?,
            end_time: row.opt_time("end_time")?,
            lessons: row.text("lessons")?,
        },
    })
}

/// A `dumb_rules` row, without its affected departments, evidence and votes.
pub fn dumb_rule(row: &impl SqlRow) -> StoreResult<DumbRule> {
    let decision = match row.opt_word("verdict", RuleVerdict::parse)? {
        Some(verdict) => Some(RuleDecision {
            verdict,
            rationale: row.text("rationale")?,
            decided_by: row.text("decided_by")?,
            decide_time: row.opt_time("decide_time")?.ok_or_else(|| corrupt("decide_time"))?,
        }),
        None => None,
    };
    Ok(DumbRule {
        id: row.id("rule_id", DumbRuleId::parse)?,
        text: row.text("text")?,
        affected: Vec::new(),
        evidence: Vec::new(),
        votes: Vec::new(),
        status: row.word("status", DumbRuleStatus::parse)?,
        decision,
        reported_by: row.text("reported_by")?,
        reporter_department: row.opt_id("reporter_department", DepartmentId::parse)?,
        create_time: row.time("create_time")?,
        update_time: row.time("update_time")?,
        revision: row.int("revision")?,
    })
}

/// An `events` row (the payload as JSON text).
pub fn event(row: &impl SqlRow) -> StoreResult<Event> {
    Ok(Event {
        sequence: row.int("seq")?,
        department_id: row.id("department_id", DepartmentId::parse)?,
        event_type: row.text("event_type")?,
        resource: row.text("resource")?,
        payload: row.text("payload")?,
        occurred_at: row.time("occurred_at")?,
    })
}
