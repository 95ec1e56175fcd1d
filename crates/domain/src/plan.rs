//! Customer-service plans: a department's yearly plan, its review by the Chief and its revisions.
use crate::ids::DepartmentId;
use crate::validation::ValidationError;
use chrono::{DateTime, Utc};

string_enum!(
    /// Where a customer-service plan is in its review.
    PlanStatus {
        /// Being written by the CSO.
        Draft = "draft",
        /// Waiting for the Chief's review.
        Submitted = "submitted",
        /// The Chief asked for changes.
        ChangesRequested = "changes_requested",
        /// Approved by the Chief.
        Approved = "approved",
    }
);

/// The content of a department's yearly customer-service plan.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PlanContent {
    /// Vision statement.
    pub vision: String,
    /// Mission statement.
    pub mission: String,
    /// How the department listens: the Voice-of-the-Customer process.
    pub voice_of_customer: String,
    /// The training programme for frontline staff.
    pub training_programme: String,
    /// The feedback and engagement plan.
    pub engagement_plan: String,
    /// The year's focus area.
    pub focus_area: String,
    /// The metric that measures the focus area.
    pub focus_metric: String,
    /// The metric's value at the start.
    pub focus_baseline: f64,
    /// The metric's target for the year.
    pub focus_target: f64,
}

/// Maximum length of a plan statement.
pub const MAX_PLAN_TEXT: usize = 10_000;

impl PlanContent {
    /// Validates the content; `prefix` is the request field holding it (e.g. `plan`).
    pub fn validate(&self, prefix: &str) -> Result<(), ValidationError> {
        let mut errs = ValidationError::default();
        let f = |name: &str| format!("{prefix}.{name}");
        // Statements are free text (newlines and tabs allowed); the focus names are single lines.
        for (name, value) in [
            ("vision", &self.vision),
            ("mission", &self.mission),
            ("voice_of_customer", &self.voice_of_customer),
            ("training_programme", &self.training_programme),
            ("engagement_plan", &self.engagement_plan),
        ] {
            errs.check(crate::validation::optional_text(&f(name), value, MAX_PLAN_TEXT));
        }
        for (name, value) in [("focus_area", &self.focus_area), ("focus_metric", &self.focus_metric)] {
            errs.check(crate::validation::single_line(&f(name), value, MAX_PLAN_TEXT));
        }
        for (name, v) in [("focus_baseline", self.focus_baseline), ("focus_target", self.focus_target)] {
            if !v.is_finite() {
                errs.push(f(name), "must be a finite number");
            }
        }
        errs.into_result()
    }

    /// Fields that must be filled before the plan can be submitted for review.
    pub fn missing_for_submission(&self) -> Vec<&'static str> {
        [
            ("vision", &self.vision),
            ("mission", &self.mission),
            ("voice_of_customer", &self.voice_of_customer),
            ("training_programme", &self.training_programme),
            ("engagement_plan", &self.engagement_plan),
            ("focus_area", &self.focus_area),
            ("focus_metric", &self.focus_metric),
        ]
        .into_iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(n, _)| n)
        .collect()
    }
}

/// A department's customer-service plan for a year.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The department.
    pub department_id: DepartmentId,
    /// The calendar year.
    pub year: i32,
    /// The statements and the focus metric.
    pub content: PlanContent,
    /// Review state.
    pub status: PlanStatus,
    /// The Chief's latest review comment.
    pub review_comment: String,
    /// Creation time.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision counter (etag); every revision is kept as a [`PlanRevision`].
    pub revision: i64,
}

/// One kept revision of a plan: the state after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRevision {
    /// The department.
    pub department_id: DepartmentId,
    /// The year.
    pub year: i32,
    /// The revision number (1 = created).
    pub revision: i64,
    /// What happened: `create`, `edit`, `submit`, `approve`, `request_changes`.
    pub change: PlanChange,
    /// Content at this revision.
    pub content: PlanContent,
    /// Status after the change.
    pub status: PlanStatus,
    /// Review comment given with this change (reviews only).
    pub comment: String,
    /// Subject of the caller who made the change.
    pub author: String,
    /// When.
    pub create_time: DateTime<Utc>,
}

string_enum!(
    /// The kind of change a plan revision records.
    PlanChange {
        /// Drafted.
        Create = "create",
        /// Content edited.
        Edit = "edit",
        /// Submitted for review.
        Submit = "submit",
        /// Approved by the Chief.
        Approve = "approve",
        /// Sent back by the Chief.
        RequestChanges = "request_changes",
    }
);

/// Why a plan change is not allowed in the plan's current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanTransitionError {
    /// Under review: neither edits nor resubmission until the Chief decides.
    #[error("the plan is under review; wait for the Chief's decision")]
    UnderReview,
    /// Only a submitted plan can be reviewed.
    #[error("only a submitted plan can be reviewed")]
    NotSubmitted,
    /// Only a draft (or one sent back) can be submitted.
    #[error("only a draft or a plan sent back for changes can be submitted")]
    NotSubmittable,
    /// Required statements are empty.
    #[error("the plan cannot be submitted without: {0}")]
    Incomplete(String),
}

/// Applies `change` to `plan` (content for edits, comment for reviews) and returns the new state.
/// Editing an approved plan reopens it as a draft, so a changed plan is always re-reviewed.
pub fn plan_transition(
    plan: &Plan,
    change: PlanChange,
    content: Option<PlanContent>,
    comment: &str,
) -> Result<Plan, PlanTransitionError> {
    let mut next = plan.clone();
    match change {
        PlanChange::Create => {}
        PlanChange::Edit => {
            if plan.status == PlanStatus::Submitted {
                return Err(PlanTransitionError::UnderReview);
            }
            if let Some(c) = content {
                next.content = c;
            }
            if plan.status == PlanStatus::Approved {
                next.status = PlanStatus::Draft;
            }
        }
        PlanChange::Submit => {
            if !matches!(plan.status, PlanStatus::Draft | PlanStatus::ChangesRequested) {
                return Err(if plan.status == PlanStatus::Submitted {
                    PlanTransitionError::UnderReview
                } else {
                    PlanTransitionError::NotSubmittable
                });
            }
            let missing = plan.content.missing_for_submission();
            if !missing.is_empty() {
                return Err(PlanTransitionError::Incomplete(missing.join(", ")));
            }
            next.status = PlanStatus::Submitted;
        }
        PlanChange::Approve | PlanChange::RequestChanges => {
            if plan.status != PlanStatus::Submitted {
                return Err(PlanTransitionError::NotSubmitted);
            }
            next.status =
                if change == PlanChange::Approve { PlanStatus::Approved } else { PlanStatus::ChangesRequested };
            next.review_comment = comment.to_owned();
        }
    }
    Ok(next)
}

/// Validates a plan year.
pub fn plan_year(field: &str, year: i32) -> Result<i32, ValidationError> {
    if (2000..=2100).contains(&year) {
        Ok(year)
    } else {
        Err(ValidationError::one(field, "must be between 2000 and 2100"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("id", s).unwrap()
    }

    #[test]
    fn plan_texts_refuse_nul_and_focus_names_refuse_line_breaks() {
        let ok = PlanContent { vision: "Line one\nline two".into(), ..PlanContent::default() };
        assert!(ok.validate("plan").is_ok());
        let nul = PlanContent { mission: "a\0b".into(), ..PlanContent::default() };
        assert_eq!(nul.validate("plan").unwrap_err().violations[0].field, "plan.mission");
        let broken = PlanContent { focus_metric: "a\nb".into(), ..PlanContent::default() };
        assert_eq!(broken.validate("plan").unwrap_err().violations[0].field, "plan.focus_metric");
    }

    #[test]
    fn plan_review_cycle() {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let plan = Plan {
            department_id: d("water"),
            year: 2026,
            content: PlanContent::default(),
            status: PlanStatus::Draft,
            review_comment: String::new(),
            create_time: t,
            update_time: t,
            revision: 1,
        };
        assert!(matches!(
            plan_transition(&plan, PlanChange::Submit, None, ""),
            Err(PlanTransitionError::Incomplete(_))
        ));
        let full = PlanContent {
            vision: "v".into(),
            mission: "m".into(),
            voice_of_customer: "voc".into(),
            training_programme: "t".into(),
            engagement_plan: "e".into(),
            focus_area: "calls".into(),
            focus_metric: "answer rate".into(),
            focus_baseline: 0.7,
            focus_target: 0.9,
        };
        let edited = plan_transition(&plan, PlanChange::Edit, Some(full), "").unwrap();
        let submitted = plan_transition(&edited, PlanChange::Submit, None, "").unwrap();
        assert_eq!(submitted.status, PlanStatus::Submitted);
        assert_eq!(plan_transition(&submitted, PlanChange::Edit, None, ""), Err(PlanTransitionError::UnderReview));
        let back = plan_transition(&submitted, PlanChange::RequestChanges, None, "sharpen the metric").unwrap();
        assert_eq!((back.status, back.review_comment.as_str()), (PlanStatus::ChangesRequested, "sharpen the metric"));
        assert_eq!(plan_transition(&back, PlanChange::Approve, None, ""), Err(PlanTransitionError::NotSubmitted));
        let approved = plan_transition(
            &plan_transition(&back, PlanChange::Submit, None, "").unwrap(),
            PlanChange::Approve,
            None,
            "ok",
        )
        .unwrap();
        assert_eq!(approved.status, PlanStatus::Approved);
        assert_eq!(plan_transition(&approved, PlanChange::Edit, None, "").unwrap().status, PlanStatus::Draft);
    }
}
