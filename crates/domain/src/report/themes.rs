//! Customer-theme counters: how often each theme was applied to a department's feedback, by the
//! day the contact occurred (`theme.{t}`), and the themes several departments share.
use super::{Counts, Delta, Metrics};
use crate::ids::DepartmentId;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The counter prefix of theme counts.
const PREFIX: &str = "theme.";

/// What tagging (`value` 1) or untagging (`-1`) one piece of `department`'s feedback with theme
/// `theme` changes: its theme count on the day the contact occurred (`occurred_at`, never later
/// than `received_at`, as [`super::contact_deltas`] counts it), so the card's theme counts and
/// volume cover the same contacts.
pub fn theme_deltas(
    department: &DepartmentId,
    theme: &str,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    value: i64,
    zone: Tz,
) -> Vec<Delta> {
    vec![Counts { department, zone }.add(occurred_at.min(received_at), format!("{PREFIX}{theme}"), value)]
}

/// The theme counts in summed counters: most frequent first, ties by theme ID; zeros left out.
pub fn theme_counts(m: &Metrics) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = m
        .range(PREFIX.to_owned()..)
        .take_while(|(k, _)| k.starts_with(PREFIX))
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k[PREFIX.len()..].to_owned(), *n))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// A theme found in the feedback of more than one department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTheme {
    /// The theme's ID.
    pub theme: String,
    /// Pieces of feedback carrying it, across the departments.
    pub count: i64,
    /// The departments and their counts, most first (ties by department).
    pub departments: Vec<(DepartmentId, i64)>,
}

/// The themes shared by two or more of `cards` (each department's [`theme_counts`]): most
/// departments first, then most feedback, then theme ID; at most `limit`.
pub fn shared_themes<'a>(
    cards: impl IntoIterator<Item = (&'a DepartmentId, &'a [(String, i64)])>,
    limit: usize,
) -> Vec<SharedTheme> {
    let mut by_theme: std::collections::BTreeMap<&str, Vec<(DepartmentId, i64)>> = Default::default();
    for (d, counts) in cards {
        for (t, n) in counts {
            by_theme.entry(t.as_str()).or_default().push((d.clone(), *n));
        }
    }
    let mut out: Vec<SharedTheme> = by_theme
        .into_iter()
        .filter(|(_, ds)| ds.len() >= 2)
        .map(|(t, mut ds)| {
            ds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            SharedTheme { theme: t.to_owned(), count: ds.iter().map(|(_, n)| n).sum(), departments: ds }
        })
        .collect();
    out.sort_by(|a, b| {
        b.departments.len().cmp(&a.departments.len()).then(b.count.cmp(&a.count)).then_with(|| a.theme.cmp(&b.theme))
    });
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("department", s).unwrap()
    }

    #[test]
    fn counts_come_from_the_theme_counters_only() {
        let m: Metrics = [("fb".to_owned(), 9), ("theme.late".to_owned(), 2), ("theme.billing".to_owned(), 5)]
            .into_iter()
            .chain([("theme.gone".to_owned(), 0), ("themes".to_owned(), 4), ("tp.x.fb".to_owned(), 1)])
            .collect();
        assert_eq!(theme_counts(&m), vec![("billing".to_owned(), 5), ("late".to_owned(), 2)]);
    }

    #[test]
    fn only_themes_of_two_departments_are_shared() {
        let (water, streets, revenue) = (d("water"), d("streets"), d("revenue"));
        let w = vec![("billing".to_owned(), 4), ("callback".to_owned(), 1)];
        let s = vec![("callback".to_owned(), 2), ("potholes".to_owned(), 9)];
        let r = vec![("billing".to_owned(), 1), ("callback".to_owned(), 1)];
        let shared = shared_themes([(&water, w.as_slice()), (&streets, s.as_slice()), (&revenue, r.as_slice())], 10);
        assert_eq!(shared.len(), 2);
        assert_eq!(shared[0].theme, "callback");
        assert_eq!(shared[0].count, 4);
        assert_eq!(shared[0].departments[0], (streets.clone(), 2));
        assert_eq!(shared[1].theme, "billing");
        assert_eq!(shared[1].departments, vec![(water, 4), (revenue, 1)]);
        assert!(shared_themes([(&streets, s.as_slice())], 10).is_empty());
    }
}
