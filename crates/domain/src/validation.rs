//! Field-level validation that names the offending field, so clients can show it next to the input.
use std::fmt;

/// One broken rule on one field. `field` is a path such as `department.display_name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the offending field in the request, dot-separated.
    pub field: String,
    /// What is wrong, in words a developer can act on. Never echoes the submitted value.
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field` with `description`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { field: field.into(), description: description.into() }
    }
}

/// One or more field violations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationError {
    /// Every violation found, in request order.
    pub violations: Vec<FieldViolation>,
}

impl ValidationError {
    /// A single violation.
    pub fn one(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self { violations: vec![FieldViolation::new(field, description)] }
    }

    /// Adds a violation.
    pub fn push(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.violations.push(FieldViolation::new(field, description));
    }

    /// Records the error of `result`, if any, and returns its value.
    pub fn check<T>(&mut self, result: Result<T, ValidationError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.violations.extend(e.violations);
                None
            }
        }
    }

    /// `Ok(())` when no violation was recorded.
    pub fn into_result(self) -> Result<(), ValidationError> {
        if self.violations.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Prefixes every field path with `prefix.`.
    pub fn within(mut self, prefix: &str) -> Self {
        for v in &mut self.violations {
            v.field = format!("{prefix}.{}", v.field);
        }
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
        write!(f, "invalid argument: {}", parts.join("; "))
    }
}

impl std::error::Error for ValidationError {}

/// Checks a required human-readable text: trimmed, not empty, at most `max` characters, no control
/// characters. Returns the trimmed text.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::one(field, "is required"));
    }
    optional_text(field, v, max)
}

/// Checks an optional text: at most `max` characters, no control characters except newlines and
/// tabs. Returns the trimmed text.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ValidationError::one(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(ValidationError::one(field, "must not contain control characters"));
    }
    Ok(v.to_owned())
}

/// The most media references one piece of feedback carries.
pub const MEDIA_MAX: usize = 5;
/// The longest media reference, in characters (what browsers and 311 clients handle).
pub const MEDIA_URL_MAX: usize = 2_048;

/// Checks media references (photos of a pothole, a video of a leak): at most [`MEDIA_MAX`], each
/// an absolute `http` or `https` URL with a host, at most [`MEDIA_URL_MAX`] characters, without
/// spaces or control characters. CityServe keeps the reference, never the file. Each bad one is
/// named `field[i]`.
pub fn media_urls(field: &str, values: &[String]) -> Result<Vec<String>, ValidationError> {
    if values.len() > MEDIA_MAX {
        return Err(ValidationError::one(field, format!("must hold at most {MEDIA_MAX} references")));
    }
    let mut errors = ValidationError::default();
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        let v = value.trim();
        let host = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
        let host = host.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
        let problem = if v.chars().count() > MEDIA_URL_MAX {
            Some(format!("must be at most {MEDIA_URL_MAX} characters"))
        } else if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Some("must not contain spaces or control characters".to_owned())
        } else if host.is_none_or(|h| h.is_empty() || h.starts_with(':') || h.ends_with('@')) {
            Some("must be an absolute http or https URL with a host".to_owned())
        } else {
            None
        };
        match problem {
            Some(p) => errors.push(format!("{field}[{i}]"), p),
            None => out.push(v.to_owned()),
        }
    }
    errors.into_result()?;
    Ok(out)
}

/// Checks a single-line text (a filter, a label, a reference): at most `max` characters and no
/// control characters at all (no NUL, no newline). Returns the trimmed text, possibly empty.
///
/// The one rule for text that reaches storage: single-line fields use this, free text
/// ([`optional_text`], [`required_text`]) may also hold newlines and tabs. NUL is refused
/// everywhere (PostgreSQL cannot store it in `text`).
pub fn single_line(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ValidationError::one(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(ValidationError::one(field, "must not contain control characters"));
    }
    Ok(v.to_owned())
}

/// Checks a list of keywords: at most 20, each 1-50 characters, de-duplicated (case-insensitive)
/// and lower-cased.
pub fn keywords(field: &str, values: &[String]) -> Result<Vec<String>, ValidationError> {
    if values.len() > 20 {
        return Err(ValidationError::one(field, "must have at most 20 entries"));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    let mut errors = ValidationError::default();
    for (i, k) in values.iter().enumerate() {
        match required_text(&format!("{field}[{i}]"), k, 50) {
            Ok(k) => {
                let k = k.to_lowercase();
                if !out.contains(&k) {
                    out.push(k);
                }
            }
            Err(e) => errors.violations.extend(e.violations),
        }
    }
    errors.into_result().map(|()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_text_trims_and_names_the_field() {
        assert_eq!(required_text("a.b", "  Streets ", 10).ok(), Some("Streets".into()));
        let e = required_text("a.b", "   ", 10).unwrap_err();
        assert_eq!(e.violations[0].field, "a.b");
        assert!(required_text("x", "elevenchars", 10).is_err());
        assert!(required_text("x", "bell\u{7}", 10).is_err());
        assert!(required_text("x", "nul\0", 10).is_err());
        assert_eq!(optional_text("x", "two\nlines", 10).ok(), Some("two\nlines".into()));
    }

    #[test]
    fn single_lines_refuse_every_control_character() {
        assert_eq!(single_line("f", " a b ", 10).ok(), Some("a b".into()));
        for bad in ["a\0b", "a\nb", "a\tb", "a\u{1b}b", "a\u{85}b"] {
            assert_eq!(single_line("f", bad, 10).unwrap_err().violations[0].field, "f");
        }
        assert!(single_line("f", &"x".repeat(11), 10).is_err());
    }

    #[test]
    fn media_references_are_absolute_web_urls() {
        let ok = media_urls("m", &[" https://photos.example.org/p/1.jpg ".into(), "http://x.example:8080".into()]);
        assert_eq!(ok.unwrap(), ["https://photos.example.org/p/1.jpg", "http://x.example:8080"]);
        for bad in [
            "ftp://x.example/a",
            "/relative.jpg",
            "https://",
            "https:///path",
            "https://a b",
            "https://a\0",
            "javascript:alert(1)",
        ] {
            let e = media_urls("m", &["https://fine.example".into(), bad.into()]).unwrap_err();
            assert_eq!(e.violations[0].field, "m[1]", "{bad}");
        }
        let long = format!("https://x.example/{}", "a".repeat(MEDIA_URL_MAX));
        assert!(media_urls("m", &[long]).is_err());
        assert_eq!(
            media_urls("m", &vec!["https://x.example".into(); MEDIA_MAX + 1]).unwrap_err().violations[0].field,
            "m"
        );
    }

    #[test]
    fn keywords_are_normalised_and_bounded() {
        let k = keywords("k", &["Pothole".into(), "pothole".into(), "Road".into()]).unwrap();
        assert_eq!(k, vec!["pothole", "road"]);
        let e = keywords("k", &["ok".into(), "".into()]).unwrap_err();
        assert_eq!(e.violations[0].field, "k[1]");
        assert!(keywords("k", &vec!["a".to_string(); 21]).is_err());
    }
}
