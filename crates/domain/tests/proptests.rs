//! Property tests ("fuzzing") of every domain parser and validator a request reaches: arbitrary
//! strings, bytes and numbers never panic, and the result is either a value that keeps the rule
//! or a [`ValidationError`] naming the field it was given. Round trips where they exist.
//!
//! Case counts: [`CASES`] per property unless `PROPTEST_CASES` is set (docs/security.md, "Bad
//! input", records the totals).
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_domain::feedback::{country_code, normalise_email, normalise_phone_in, resident_key};
use cityserve_domain::ids::check_slug;
use cityserve_domain::officer::{PlanContent, plan_year, story, work_email};
use cityserve_domain::page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use cityserve_domain::validation::{keywords, optional_text, required_text};
use cityserve_domain::{
    DepartmentId, FeedbackId, OfficerId, PageKey, PageRequest, PageToken, ServiceTargets, ValidationError, etag_for,
    revision_from_etag,
};
use proptest::prelude::*;

/// Cases per property (overridden by the `PROPTEST_CASES` environment variable).
const CASES: u32 = 512;

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = CASES;
    }
    c.failure_persistence = None;
    c
}

/// Every violation names `field` (or a sub-path of it), and there is at least one.
fn key() -> PageKey {
    PageKey::new(b"proptest page key")
}

fn names_field(e: &ValidationError, field: &str) -> bool {
    !e.violations.is_empty()
        && e.violations.iter().all(|v| {
            v.field == field || v.field.starts_with(&format!("{field}.")) || v.field.starts_with(&format!("{field}["))
        })
}

/// Any text: arbitrary Unicode, invalid UTF-8 made lossy, control characters, and (sometimes)
/// oversized values.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => "[ \\t\\n\\r\\x00-\\x1f\\x7fa-zA-Z0-9@+().\\-_/é€😀]{0,40}",
        1 => (any::<char>(), 0usize..12_000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn slug() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,61}[a-z0-9]"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn text_validators_never_panic_and_keep_their_rules(value in text(), max in 0usize..5000) {
        for (required, r) in [(true, required_text("x.y", &value, max)), (false, optional_text("x.y", &value, max))] {
            match r {
                Ok(v) => {
                    prop_assert!(v.chars().count() <= max);
                    prop_assert_eq!(v.trim(), v.as_str());
                    prop_assert!(!v.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')));
                    prop_assert!(!required || !v.is_empty());
                }
                Err(e) => prop_assert!(names_field(&e, "x.y"), "{e:?}"),
            }
        }
    }

    #[test]
    fn keywords_are_bounded_normalised_and_name_the_entry(values in prop::collection::vec(text(), 0..25)) {
        match keywords("k", &values) {
            Ok(k) => {
                prop_assert!(k.len() <= 20);
                for (i, w) in k.iter().enumerate() {
                    prop_assert_eq!(w.to_lowercase(), w.clone());
                    prop_assert!(!w.is_empty());
                    prop_assert!(!k[..i].contains(w), "duplicates are dropped");
                }
            }
            Err(e) => prop_assert!(names_field(&e, "k"), "{e:?}"),
        }
    }

    #[test]
    fn slugs_accept_exactly_the_documented_shape(value in prop_oneof![text(), slug()]) {
        let shaped = (2..=63).contains(&value.len())
            && value.starts_with(|c: char| c.is_ascii_lowercase())
            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.ends_with('-');
        match check_slug("department_id", &value) {
            Ok(()) => prop_assert!(shaped),
            Err(e) => {
                prop_assert!(!shaped);
                prop_assert!(names_field(&e, "department_id"));
            }
        }
        prop_assert_eq!(DepartmentId::parse("d", &value).is_ok(), shaped);
        prop_assert_eq!(OfficerId::parse("o", &value).is_ok(), shaped);
        // Serde goes through the same check.
        let json = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(serde_json::from_str::<FeedbackId>(&json).is_ok(), shaped);
    }

    #[test]
    fn slugs_round_trip(value in slug()) {
        let id = DepartmentId::parse("d", &value).unwrap();
        prop_assert_eq!(id.to_string(), value.clone());
        prop_assert_eq!(id.as_str(), value.as_str());
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<DepartmentId>(&json).unwrap(), id);
    }

    #[test]
    fn page_requests_never_panic(size in any::<i32>(), token in prop_oneof![text(), "[A-Za-z0-9_-]{0,200}"], filter in text()) {
        match PageRequest::parse(&key(), size, &token, &filter) {
            Ok(p) => {
                prop_assert!(size >= 0);
                prop_assert!((1..=MAX_PAGE_SIZE).contains(&p.size));
                if size == 0 {
                    prop_assert_eq!(p.size, DEFAULT_PAGE_SIZE);
                }
                prop_assert_eq!(p.after.is_some(), !token.is_empty());
            }
            Err(e) => {
                let field = if size < 0 { "page_size" } else { "page_token" };
                prop_assert!(names_field(&e, field), "{e:?}");
            }
        }
    }

    #[test]
    fn page_tokens_round_trip_and_stay_bound_to_their_filter(
        after in any::<String>(),
        filter in any::<String>(),
        other in any::<String>(),
        size in 0i32..=i32::MAX,
    ) {
        let token = PageToken::encode(&key(), &after, &filter);
        if token.len() <= 1024 {
            prop_assert_eq!(PageRequest::parse(&key(), size, &token, &filter).unwrap().after, Some(after.clone()));
        }
        if other != filter {
            let e = PageRequest::parse(&key(), size, &token, &other).unwrap_err();
            prop_assert!(names_field(&e, "page_token"));
        }
    }

    #[test]
    fn tampered_and_forged_page_tokens_are_refused_by_field(
        after in "[a-z0-9-]{1,30}",
        filter in "[a-z=&]{0,30}",
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        body in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        use base64::Engine;
        let mut token = PageToken::encode(&key(), &after, &filter).into_bytes();
        for (i, b) in &flips {
            let i = i.index(token.len());
            token[i] = *b;
        }
        let token = String::from_utf8_lossy(&token).into_owned();
        if let Err(e) = PageRequest::parse(&key(), 10, &token, &filter) {
            prop_assert!(names_field(&e, "page_token"));
        }
        // Base64 of arbitrary bytes (often not JSON, sometimes JSON of the wrong shape).
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&body);
        if let Err(e) = PageRequest::parse(&key(), 10, &forged, &filter) {
            prop_assert!(names_field(&e, "page_token"));
        }
    }

    #[test]
    fn emails_normalise_idempotently(value in prop_oneof![text(), "[ a-zA-Z0-9.]{0,20}@[a-zA-Z0-9.]{0,20}"]) {
        match normalise_email("resident.email", &value) {
            Ok(v) if v.is_empty() => prop_assert!(value.trim().is_empty()),
            Ok(v) => {
                prop_assert!(v.len() <= 254 && v.contains('@'));
                prop_assert_eq!(normalise_email("resident.email", &v).unwrap(), v);
            }
            Err(e) => prop_assert!(names_field(&e, "resident.email")),
        }
        match work_email("officer.email", &value) {
            Ok(v) => prop_assert_eq!(work_email("officer.email", &v).unwrap(), v),
            Err(e) => prop_assert!(names_field(&e, "officer.email")),
        }
    }

    #[test]
    fn phones_normalise_idempotently(
        value in prop_oneof![text(), "\\+?[0-9 ().-]{0,25}", "[0-9 ().-]{7,20} ?(ext\\.?|x|#|extension) ?[0-9]{0,9}"],
        cc in prop_oneof![Just(String::new()), "[0-9]{1,3}", text()],
    ) {
        // The calling code comes from configuration, checked by `country_code` first.
        let Ok(cc) = country_code("phone_country_code", &cc) else { return Ok(()) };
        prop_assert!(cc.len() <= 3 && cc.chars().all(|c| c.is_ascii_digit()));
        match normalise_phone_in("resident.phone", &value, &cc) {
            Ok(v) if v.is_empty() => prop_assert!(value.trim().is_empty()),
            Ok(v) => {
                let (number, ext) = v.split_once(";ext=").unwrap_or((&v, "0"));
                prop_assert!(!ext.is_empty() && ext.chars().all(|c| c.is_ascii_digit()));
                let digits = number.strip_prefix('+').unwrap_or(number);
                prop_assert!((7..=15).contains(&digits.len()));
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
                prop_assert_eq!(normalise_phone_in("resident.phone", &v, &cc).unwrap(), v);
            }
            Err(e) => prop_assert!(names_field(&e, "resident.phone")),
        }
    }

    #[test]
    fn country_codes_never_panic(value in text()) {
        if let Err(e) = country_code("cc", &value) {
            prop_assert!(names_field(&e, "cc"));
        }
    }

    #[test]
    fn resident_keys_accept_exactly_r_and_32_hex(value in prop_oneof![text(), "r-[0-9a-f]{32}", "r-[0-9a-fé]{30,33}"]) {
        let shaped = value.len() == 34
            && value.starts_with("r-")
            && value[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        match resident_key("name", &value) {
            Ok(k) => { prop_assert!(shaped); prop_assert_eq!(k, value); }
            Err(e) => { prop_assert!(!shaped); prop_assert!(names_field(&e, "name")); }
        }
    }

    #[test]
    fn service_targets_validate_any_seconds(ack in any::<i64>(), res in any::<i64>(), small in (1i64..40_000_000, 1i64..40_000_000)) {
        for (a, r) in [(ack, res), small] {
            match ServiceTargets::new(a, r) {
                Ok(t) => {
                    prop_assert!(a > 0 && r >= a);
                    prop_assert_eq!((t.acknowledge_secs(), t.resolve_secs()), (a, r));
                }
                Err(e) => {
                    prop_assert!(!e.violations.is_empty());
                    prop_assert!(e.violations.iter().all(|v| v.field == "acknowledge_within" || v.field == "resolve_within"));
                }
            }
        }
    }

    #[test]
    fn etags_round_trip_and_garbage_is_none(rev in any::<i64>(), garbage in text()) {
        prop_assert_eq!(revision_from_etag(&etag_for(rev)), Some(rev));
        if let Some(r) = revision_from_etag(&garbage) {
            // Only something of the etag's shape parses (a leading '+' or zeros aside).
            prop_assert!(garbage.starts_with("W/\"") && garbage.ends_with('"'));
            prop_assert_eq!(revision_from_etag(&etag_for(r)), Some(r));
        }
    }

    #[test]
    fn plan_fields_never_panic(year in any::<i32>(), text in text(), baseline in any::<f64>(), target in any::<f64>()) {
        match plan_year("name", year) {
            Ok(y) => prop_assert!((2000..=2100).contains(&y)),
            Err(e) => prop_assert!(names_field(&e, "name")),
        }
        if let Err(e) = story("recognition.story", &text) {
            prop_assert!(names_field(&e, "recognition.story"));
        }
        let content = PlanContent { vision: text.clone(), focus_baseline: baseline, focus_target: target, ..PlanContent::default() };
        match content.validate("plan") {
            Ok(()) => prop_assert!(baseline.is_finite() && target.is_finite()),
            Err(e) => prop_assert!(names_field(&e, "plan")),
        }
    }
}
