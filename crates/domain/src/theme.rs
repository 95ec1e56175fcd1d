//! Customer themes ("customer secrets"): city-wide labels such as "billing confusion" or "no call
//! back" that CSOs and staff apply to feedback, so the needs departments have in common show.
//!
//! Suggestions are transparent, not a model: a theme's keywords (words or phrases) are looked for
//! in the feedback's text and its category's keywords, as whole words, case-insensitively; a
//! theme scores one point per keyword found, and themes are suggested by score, then ID.
use crate::ValidationError;
use crate::validation::required_text;
use chrono::{DateTime, Utc};

pub use crate::ids::ThemeId;

/// A city-wide theme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Its ID.
    pub id: ThemeId,
    /// Its name, e.g. "Billing confusion".
    pub display_name: String,
    /// Lowercase keywords or phrases that suggest it.
    pub keywords: Vec<String>,
    /// Who added it.
    pub created_by: String,
    /// When.
    pub create_time: DateTime<Utc>,
}

/// Checks a theme's keywords: 1-30, each 2-60 characters, lowercased and trimmed, no commas.
pub fn keywords(field: &str, given: &[String]) -> Result<Vec<String>, ValidationError> {
    let mut errors = ValidationError::default();
    if given.is_empty() || given.len() > 30 {
        errors.push(field, "must hold 1-30 keywords");
    }
    let mut out: Vec<String> = Vec::new();
    for (i, k) in given.iter().enumerate() {
        let k = k.trim().to_lowercase();
        if !(2..=60).contains(&k.chars().count()) || k.contains(',') || k.chars().any(char::is_control) {
            errors.push(format!("{field}[{i}]"), "must be 2-60 characters without a comma or control characters");
        } else if !out.contains(&k) {
            out.push(k);
        }
    }
    errors.into_result().map(|()| out)
}

/// Checks a theme's name.
pub fn display_name(field: &str, value: &str) -> Result<String, ValidationError> {
    required_text(field, value, 120)
}

/// A suggested theme and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The theme.
    pub theme: ThemeId,
    /// How many of its keywords were found.
    pub score: usize,
    /// Those keywords.
    pub matched: Vec<String>,
}

/// `text` as lowercase words separated by single spaces, padded with a space on each side, so a
/// keyword phrase matches whole words only.
fn words(text: &str) -> String {
    let mut out = String::from(" ");
    for w in text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        out.push_str(w);
        out.push(' ');
    }
    out
}

/// The themes whose keywords occur in `text` or `category_keywords`, best first.
pub fn suggest(themes: &[Theme], text: &str, category_keywords: &[String]) -> Vec<Suggestion> {
    let haystack = words(&format!("{text} {}", category_keywords.join(" ")));
    let mut out: Vec<Suggestion> = themes
        .iter()
        .filter_map(|t| {
            let matched: Vec<String> = t.keywords.iter().filter(|k| haystack.contains(&words(k))).cloned().collect();
            (!matched.is_empty()).then(|| Suggestion { theme: t.id.clone(), score: matched.len(), matched })
        })
        .collect();
    out.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.theme.cmp(&b.theme)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme(id: &str, k: &[&str]) -> Theme {
        Theme {
            id: ThemeId::parse("t", id).expect("id"),
            display_name: id.into(),
            keywords: k.iter().map(|s| (*s).into()).collect(),
            created_by: "c".into(),
            create_time: Utc::now(),
        }
    }

    #[test]
    fn suggestions_match_whole_words_and_rank_by_keywords_found() {
        let themes = [
            theme("billing-confusion", &["bill", "charged twice", "estimate"]),
            theme("no-call-back", &["call back", "never called"]),
        ];
        let s = suggest(&themes, "I was CHARGED twice on my bill, and nobody will call back!", &[]);
        assert_eq!(
            s.iter().map(|x| (x.theme.as_str(), x.score)).collect::<Vec<_>>(),
            [("billing-confusion", 2), ("no-call-back", 1)]
        );
        assert!(suggest(&themes, "billing department", &[]).is_empty(), "whole words only");
        assert_eq!(suggest(&themes, "", &["estimate".into()])[0].matched, ["estimate"]);
    }
}
