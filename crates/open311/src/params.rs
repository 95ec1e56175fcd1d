//! Query and form parameters as GeoReport v2 clients send them: empty values count as absent, a
//! parameter may repeat (`status=open&status=closed`) or carry a comma-separated list, and dates
//! come in any of the W3C date-time profiles the spec names.
use crate::error::Fail;
use chrono::{DateTime, NaiveDate, Utc};

/// The decoded `name=value` pairs of a query string or a form body, in order.
#[derive(Debug, Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes `application/x-www-form-urlencoded` bytes (a query string or a POST body).
    pub(crate) fn parse(bytes: &[u8]) -> Params {
        Params(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// Decodes an optional query string.
    pub(crate) fn query(query: Option<&str>) -> Params {
        Params::parse(query.unwrap_or_default().as_bytes())
    }

    /// The first non-empty value of `name`, trimmed.
    pub(crate) fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim())
    }

    /// Every value of `name`, from repeated parameters and comma-separated lists alike, trimmed,
    /// empty ones left out, in the order sent.
    pub(crate) fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Every pair, in order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Keeps only the parameters named `name`.
    pub(crate) fn only(mut self, name: &str) -> Params {
        self.0.retain(|(k, _)| k == name);
        self
    }

    /// Adds a parameter.
    pub(crate) fn with(mut self, name: &str, value: &str) -> Params {
        self.0.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Parses a W3C date-time (<https://www.w3.org/TR/NOTE-datetime>) as the spec uses it: seconds
/// with or without a fraction (`2026-12-04T11:30:00-05:00`), minutes only
/// (`2026-12-04T11:30-05:00`), or a whole day (`2026-12-04`, from its first instant in UTC). A
/// `+` of an offset that arrived unescaped in a query string (and so became a space) is read as
/// `+`.
pub(crate) fn w3c_time(name: &str, v: &str) -> Result<DateTime<Utc>, Fail> {
    let v = v.trim().replace(' ', "+");
    let parsed = DateTime::parse_from_rfc3339(&v)
        .ok()
        .or_else(|| {
            // Minute precision: `YYYY-MM-DDThh:mm` then the zone designator.
            let (minutes, zone) = (v.get(..16)?, v.get(16..)?);
            let zone_ok = zone.eq_ignore_ascii_case("z") || zone.starts_with(['+', '-']);
            (minutes.as_bytes().get(10) == Some(&b'T') && zone_ok)
                .then(|| DateTime::parse_from_rfc3339(&format!("{minutes}:00{zone}")).ok())
                .flatten()
        })
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
        });
    parsed.ok_or_else(|| {
        Fail::bad(format!(
            "{name} must be a W3C date-time, e.g. 2026-01-01T00:00:00Z, 2026-01-01T09:30-05:00 or 2026-01-01"
        ))
    })
}

/// Formats an instant as the spec's W3C date-time, in UTC with seconds.
pub(crate) fn w3c(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_listed_values_are_all_kept() {
        let ps = Params::query(Some("status=open&status=closed&service_code=a.b,%20c.d&status="));
        assert_eq!(ps.list("status"), ["open", "closed"]);
        assert_eq!(ps.list("service_code"), ["a.b", "c.d"]);
        assert_eq!(ps.one("status"), Some("open"));
        assert!(ps.list("nothing").is_empty());
    }

    #[test]
    fn every_w3c_profile_the_spec_names_parses() {
        let at = |s: &str| w3c_time("start_date", s).map(w3c).unwrap();
        assert_eq!(at("2026-12-04T11:30:00-05:00"), "2026-12-04T16:30:00Z");
        assert_eq!(at("2026-12-04T11:30:15.250Z"), "2026-12-04T11:30:15Z");
        assert_eq!(at("2026-12-04T11:30-05:00"), "2026-12-04T16:30:00Z");
        assert_eq!(at("2026-12-04T11:30Z"), "2026-12-04T11:30:00Z");
        assert_eq!(at("2026-12-04T11:30 01:00"), "2026-12-04T10:30:00Z", "an unescaped + arrives as a space");
        assert_eq!(at("2026-12-04"), "2026-12-04T00:00:00Z");
        for bad in ["yesterday", "2026-12-04T11:30", "2026-13-01", "2026-12-04T11:30:00", "2026-12-04T11-05:00"] {
            let e = w3c_time("start_date", bad).unwrap_err();
            assert!(e.messages[0].starts_with("start_date"), "{bad}: {:?}", e.messages);
        }
    }
}
