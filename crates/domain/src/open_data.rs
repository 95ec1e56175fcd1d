//! The open-data profile of an export: what a city may publish of its feedback and cases on an
//! open-data portal, where anyone can download and join it with anything else.
//!
//! The rule is written once here and documented in docs/export.md ("The open-data profile"):
//! records keep what makes the figures (department, channel, kind, ratings, category, times,
//! case path) and lose what could lead to a person. Free text is kept, as residents' words are
//! what a city learns most from, but with every span that may identify someone replaced by
//! [`REDACTED`]: links, e-mail addresses, phone numbers, numbers of four or more digits (house
//! and account numbers, plates, years alike), and the resident's own name, e-mail and phone as
//! recorded with their contact details, wherever they appear. A rule by pattern cannot find every
//! name a resident writes of someone else; the profile is a floor a city's publisher reviews, not
//! a guarantee of anonymity.
use regex::Regex;
use std::sync::LazyLock;

/// What replaces a span that may identify someone.
pub const REDACTED: &str = "[redacted]";

/// Decimal places coordinates keep: three, about 110 m of latitude, a block rather than a door.
pub const COORDINATE_DECIMALS: i32 = 3;

/// Spans that identify whoever they are about, in the order they are replaced: links first (an
/// address in a link is a link), then e-mail addresses, then phone numbers (seven or more digits
/// with the usual separators), then any remaining run of four or more digits.
static PATTERNS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"(?i)\b(?:https?://|www\.)\S+",
        r"(?i)[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}",
        r"\+?\(?\d(?:[\s().-]*\d){6,}",
        r"\d{4,}",
    ]
    .iter()
    .filter_map(|p| Regex::new(p).ok())
    .collect()
});

/// `text` with every span the rule names replaced by [`REDACTED`]. `own` holds the resident's
/// own contact values (name, e-mail, phone; empty ones are skipped): each word of two or more
/// letters of them is struck wherever it stands as a word, whatever its case.
pub fn redact_text(text: &str, own: &[&str]) -> String {
    let mut out = text.to_owned();
    for pattern in PATTERNS.iter() {
        if pattern.is_match(&out) {
            out = pattern.replace_all(&out, REDACTED).into_owned();
        }
    }
    // An e-mail address's domain names no one; its local part often names the resident.
    let words: Vec<String> = own
        .iter()
        .map(|v| v.split_once('@').map_or(*v, |(local, _)| local))
        .flat_map(|v| v.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .map(regex::escape)
        .collect();
    if !words.is_empty()
        && let Ok(own) = Regex::new(&format!(r"(?iu)\b(?:{})\b", words.join("|")))
    {
        out = own.replace_all(&out, REDACTED).into_owned();
    }
    out
}

/// A coordinate rounded to [`COORDINATE_DECIMALS`] places.
pub fn round_coordinate(v: f64) -> f64 {
    let scale = 10f64.powi(COORDINATE_DECIMALS);
    (v * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_details_and_numbers_are_struck() {
        let text = "Call me at (215) 555-0101 or +1 215 555 0102, pat.doe@example.org; \
                    see https://example.org/p?id=9 — account 88123, 1401 Arch St.";
        let out = redact_text(text, &[]);
        for gone in ["555", "pat.doe", "example.org", "88123", "1401", "https"] {
            assert!(!out.contains(gone), "{gone} survived in {out}");
        }
        assert!(out.starts_with("Call me at [redacted] or [redacted], [redacted]; see [redacted]"), "{out}");
        assert!(out.ends_with("account [redacted], [redacted] Arch St."), "{out}");
    }

    #[test]
    fn the_residents_own_name_is_struck_as_a_word_in_any_case() {
        let own = ["Pat O'Doe", "kim.lee@example.org", ""];
        let out = redact_text("PAT here: my neighbour o'doe says Patricia and Kim know the example. doe!", &own);
        assert_eq!(
            out,
            "[redacted] here: my neighbour o'[redacted] says Patricia and [redacted] know the example. [redacted]!"
        );
    }

    #[test]
    fn words_without_anything_personal_stay() {
        let text = "The crew fixed the hydrant on 5th St in 2 days. Great work!";
        assert_eq!(redact_text(text, &["Jo"]), text);
    }

    #[test]
    fn coordinates_keep_a_block_not_a_door() {
        assert_eq!(round_coordinate(39.952_583), 39.953);
        assert_eq!(round_coordinate(-75.165_222), -75.165);
    }
}
