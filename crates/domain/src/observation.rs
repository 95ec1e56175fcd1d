//! Moments-of-truth observations: a CSO (or staff they delegate) watches a touchpoint at work,
//! scores it item by item against the department's rubric, notes what they saw, and agrees
//! coaching actions with owners and due dates that are followed to done.
//!
//! Rubrics are versioned: revising one adds a version, and every observation keeps the version it
//! was scored against, so a changed rubric never rewrites old observations.
use crate::validation::{optional_text, required_text};
use crate::{DepartmentId, OfficerId, TouchpointId, ValidationError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use crate::ids::{ObservationId, RubricId};

/// The lowest score of an item.
pub const SCORE_MIN: i32 = 1;
/// The highest score of an item.
pub const SCORE_MAX: i32 = 5;
/// The most items a rubric has.
pub const ITEMS_MAX: usize = 20;
/// The most coaching actions one observation agrees.
pub const ACTIONS_MAX: usize = 20;
/// The longest notes of an observation.
pub const NOTES_MAX: usize = 4_000;

/// One thing a rubric scores, e.g. `greeting`: "Greeted within 30 seconds".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RubricItem {
    /// Its code, a slug unique within the rubric version.
    pub code: String,
    /// What the observer judges.
    pub label: String,
}

/// One version of a department's rubric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rubric {
    /// The department.
    pub department_id: DepartmentId,
    /// The rubric's ID.
    pub id: RubricId,
    /// Its version, from 1; revising adds the next.
    pub version: i32,
    /// Its name, e.g. "Counter service".
    pub display_name: String,
    /// What it scores, in order.
    pub items: Vec<RubricItem>,
    /// Who wrote this version.
    pub author: String,
    /// When this version was written.
    pub create_time: DateTime<Utc>,
}

/// Checks a rubric's items: 1-20, codes slugs and unique, labels required.
pub fn rubric_items(field: &str, items: &[(String, String)]) -> Result<Vec<RubricItem>, ValidationError> {
    let mut errors = ValidationError::default();
    if items.is_empty() || items.len() > ITEMS_MAX {
        errors.push(field, format!("must hold 1-{ITEMS_MAX} items"));
    }
    let mut out: Vec<RubricItem> = Vec::new();
    for (i, (code, label)) in items.iter().enumerate() {
        let code = errors.check(crate::ids::check_slug(&format!("{field}[{i}].code"), code).map(|()| code.clone()));
        if let Some(c) = &code
            && out.iter().any(|x| &x.code == c)
        {
            errors.push(format!("{field}[{i}].code"), "repeats an earlier item's code");
        }
        let label = errors.check(required_text(&format!("{field}[{i}].label"), label, 200));
        if let (Some(code), Some(label)) = (code, label) {
            out.push(RubricItem { code, label });
        }
    }
    errors.into_result().map(|()| out)
}

/// An item's score in an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The rubric item's code.
    pub code: String,
    /// 1 (poor) to 5 (excellent).
    pub score: i32,
}

/// Checks an observation's scores against the rubric version it is scored on: codes of its
/// items, each at most once, 1-5, at least one.
pub fn scores(field: &str, rubric: &Rubric, given: &[(String, i32)]) -> Result<Vec<Score>, ValidationError> {
    let mut errors = ValidationError::default();
    if given.is_empty() {
        errors.push(field, "must score at least one item of the rubric");
    }
    let mut out: Vec<Score> = Vec::new();
    for (i, (code, score)) in given.iter().enumerate() {
        if !rubric.items.iter().any(|x| &x.code == code) {
            errors.push(
                format!("{field}[{i}].code"),
                format!("is not an item of version {} of the rubric", rubric.version),
            );
        } else if out.iter().any(|s| &s.code == code) {
            errors.push(format!("{field}[{i}].code"), "is scored twice");
        }
        if !(SCORE_MIN..=SCORE_MAX).contains(score) {
            errors.push(format!("{field}[{i}].score"), format!("must be {SCORE_MIN}-{SCORE_MAX}"));
        }
        out.push(Score { code: code.clone(), score: *score });
    }
    errors.into_result().map(|()| out)
}

string_enum!(
    /// Where a coaching action stands.
    CoachingStatus {
        /// Agreed, not done yet.
        Open = "open",
        /// Done.
        Done = "done",
    }
);

/// A coaching action agreed at an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoachingAction {
    /// Its number within the observation, from 1.
    pub number: i32,
    /// What is to be done, e.g. "Role-play the billing explanation with Dana".
    pub action: String,
    /// Who owns it: an officer of the department.
    pub owner: OfficerId,
    /// By when (a local date).
    pub due: NaiveDate,
    /// Open or done (stored spelling).
    pub status: String,
    /// When it was marked done.
    pub done_time: Option<DateTime<Utc>>,
}

impl CoachingAction {
    /// Whether it is done.
    pub fn is_done(&self) -> bool {
        self.status == CoachingStatus::Done.as_str()
    }
}

/// A moment-of-truth observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// The department.
    pub department_id: DepartmentId,
    /// Its ID.
    pub id: ObservationId,
    /// The touchpoint observed.
    pub touchpoint: TouchpointId,
    /// The rubric and the version it was scored on.
    pub rubric: RubricId,
    /// That version.
    pub rubric_version: i32,
    /// Who observed (the caller's subject).
    pub observer: String,
    /// The officer who was serving, if one was.
    pub served_by: Option<OfficerId>,
    /// When the moment happened.
    pub observe_time: DateTime<Utc>,
    /// Scores by item.
    pub scores: Vec<Score>,
    /// What the observer saw.
    pub notes: String,
    /// Coaching agreed.
    pub coaching: Vec<CoachingAction>,
    /// Revision (etag).
    pub revision: i64,
    /// When recorded.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
}

impl Observation {
    /// The mean score, for figures.
    pub fn mean_score(&self) -> Option<f64> {
        if self.scores.is_empty() {
            return None;
        }
        Some(self.scores.iter().map(|s| f64::from(s.score)).sum::<f64>() / self.scores.len() as f64)
    }
}

/// Checks an observation's notes.
pub fn notes(field: &str, value: &str) -> Result<String, ValidationError> {
    optional_text(field, value, NOTES_MAX)
}

/// Checks a coaching action's text.
pub fn action_text(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, 500)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rubric() -> Rubric {
        Rubric {
            department_id: DepartmentId::parse("d", "water").expect("id"),
            id: RubricId::parse("r", "counter").expect("id"),
            version: 2,
            display_name: "Counter".into(),
            items: vec![
                RubricItem { code: "greeting".into(), label: "Greeted".into() },
                RubricItem { code: "clarity".into(), label: "Clear".into() },
            ],
            author: "cso".into(),
            create_time: Utc::now(),
        }
    }

    #[test]
    fn scores_name_items_of_their_version_once_within_one_to_five() {
        let r = rubric();
        assert!(scores("s", &r, &[("greeting".into(), 5), ("clarity".into(), 1)]).is_ok());
        let e = scores("s", &r, &[("courtesy".into(), 3), ("greeting".into(), 6), ("greeting".into(), 2)]).unwrap_err();
        let fields: Vec<_> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["s[0].code", "s[1].score", "s[2].code"]);
        assert!(scores("s", &r, &[]).is_err());
    }

    #[test]
    fn rubric_items_are_unique_slugs_with_labels() {
        let ok = rubric_items("i", &[("greeting".into(), "Greeted".into())]).expect("ok");
        assert_eq!(ok[0].code, "greeting");
        let e = rubric_items("i", &[("a".into(), "".into()), ("dup".into(), "x".into()), ("dup".into(), "y".into())])
            .unwrap_err();
        let fields: Vec<_> = e.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["i[0].code", "i[0].label", "i[2].code"]);
    }
}
