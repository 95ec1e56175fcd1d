//! Property tests ("fuzzing") of the API crate's request decoders and validators and of the
//! token parser: arbitrary input never panics, and is either accepted (keeping the rule) or
//! refused with a [`ValidationError`] naming the field (tokens: an [`AuthError`]). Round trips
//! where they exist. Module tests, so the crate-private parsers are reachable.
//!
//! Case counts: [`CASES`] per property ([`TOKEN_CASES`] for the ones that sign tokens) unless
//! `PROPTEST_CASES` is set; docs/security.md ("Bad input") records the totals.
#![allow(clippy::unwrap_used)]

use crate::layers::auth::{AuthConfig, AuthError, Authenticator, Claims, mint_token};
use crate::{convert, kit, names};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cityserve_domain::{Caller, DepartmentId, Role, ValidationError, etag_for};
use cityserve_proto::v1 as pb;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use std::time::Duration;

/// Cases per property (overridden by the `PROPTEST_CASES` environment variable).
const CASES: u32 = 512;
/// Cases per property that signs tokens (HMAC and JSON per case).
const TOKEN_CASES: u32 = 256;

fn config(cases: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c.failure_persistence = None;
    c
}

fn names_field(e: &ValidationError, field: &str) -> bool {
    !e.violations.is_empty()
        && e.violations.iter().all(|v| {
            v.field == field || v.field.starts_with(&format!("{field}.")) || v.field.starts_with(&format!("{field}["))
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => "[a-zA-Z0-9/ .*_-]{0,40}",
        1 => (any::<char>(), 0usize..5000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn slug() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,61}[a-z0-9]"
}

/// Resource-name-like strings: the right collections with arbitrary (often bad) segments.
fn name_like() -> impl Strategy<Value = String> {
    let seg = prop_oneof![slug(), text(), Just(String::new()), Just("-".to_owned())];
    let coll = prop::sample::select(vec![
        "departments",
        "serviceCategories",
        "serviceStandards",
        "officers",
        "appointments",
        "competencies",
        "plans",
        "feedback",
        "cases",
        "handoffs",
        "escalations",
        "initiatives",
        "dumbRules",
        "residents",
        "apiKeys",
        "",
    ]);
    prop::collection::vec((coll, seg), 0..4)
        .prop_map(|parts| parts.into_iter().flat_map(|(c, s)| [c.to_owned(), s]).collect::<Vec<_>>().join("/"))
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

fn auth() -> Authenticator {
    Authenticator::new(&AuthConfig {
        issuer: "cityserve".into(),
        audience: "cityserve".into(),
        hs256_secret: Some(SECRET.to_vec()),
        rs256_public_key_pem: None,
        leeway: crate::layers::auth::DEFAULT_LEEWAY,
        max_lifetime: crate::layers::auth::DEFAULT_MAX_LIFETIME,
        oidc: None,
    })
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn caller() -> impl Strategy<Value = Caller> {
    ("[a-zA-Z0-9@._-]{1,200}", prop::sample::select(Role::ALL.to_vec()), prop::collection::vec(slug(), 1..4)).prop_map(
        |(subject, role, ds)| Caller {
            subject,
            role,
            departments: ds.iter().map(|d| DepartmentId::parse("d", d).unwrap()).collect(),
        },
    )
}

/// One base64url JWT segment: arbitrary bytes or JSON of an arbitrary shape.
fn segment() -> impl Strategy<Value = String> {
    let alg = prop::sample::select(vec![
        "none", "None", "HS256", "hs256", "HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "", "HS256 ",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        alg.prop_map(|a| URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{a}","typ":"JWT"}}"#))),
        (text(), any::<i64>()).prop_map(|(s, n)| URL_SAFE_NO_PAD.encode(
            serde_json::json!({"sub": s, "role": s, "iss": "cityserve", "aud": "cityserve", "exp": n, "departments": [s]})
                .to_string()
        )),
        "[A-Za-z0-9_=+/-]{0,60}",
    ]
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn resource_names_never_panic_and_name_the_field(name in prop_oneof![name_like(), text()]) {
        macro_rules! check {
            ($($parse:expr),+) => {$(
                if let Err(e) = $parse("x.name", &name) {
                    prop_assert!(names_field(&e, "x.name"), "{}: {e:?}", stringify!($parse));
                }
            )+};
        }
        check!(
            names::department, names::category, names::standard, names::department_or_all, names::officer,
            names::appointment, names::competency, names::plan, names::feedback, names::case, names::resident,
            names::handoff, names::escalation, names::initiative, names::dumb_rule, crate::api_keys::key_id
        );
    }

    #[test]
    fn resource_names_round_trip(d in slug(), id in slug(), year in 2000i32..=2100) {
        use cityserve_domain::*;
        let dept = DepartmentId::parse("d", &d).unwrap();
        prop_assert_eq!(names::department("n", &names::department_name(&dept)).unwrap(), dept.clone());
        let c = ServiceCategoryId::parse("c", &id).unwrap();
        prop_assert_eq!(names::category("n", &names::category_name(&dept, &c)).unwrap(), (dept.clone(), c));
        let s = ServiceStandardId::parse("s", &id).unwrap();
        prop_assert_eq!(names::standard("n", &names::standard_name(&dept, &s)).unwrap(), (dept.clone(), s));
        let o = OfficerId::parse("o", &id).unwrap();
        prop_assert_eq!(names::officer("n", &names::officer_name(&dept, &o)).unwrap(), (dept.clone(), o));
        let a = AppointmentId::parse("a", &id).unwrap();
        prop_assert_eq!(names::appointment("n", &names::appointment_name(&dept, &a)).unwrap(), (dept.clone(), a));
        let k = CompetencyId::parse("k", &id).unwrap();
        prop_assert_eq!(names::competency("n", &names::competency_name(&dept, &k)).unwrap(), (dept.clone(), k));
        prop_assert_eq!(names::plan("n", &names::plan_name(&dept, year)).unwrap(), (dept.clone(), year));
        use cityserve_store::resource;
        let f = FeedbackId::parse("f", &id).unwrap();
        prop_assert_eq!(names::feedback("n", &resource::feedback(&dept, &f)).unwrap(), (dept.clone(), f));
        let cs = CaseId::parse("c", &id).unwrap();
        prop_assert_eq!(names::case("n", &resource::case(&dept, &cs)).unwrap(), (dept.clone(), cs));
        let h = HandoffId::parse("h", &id).unwrap();
        prop_assert_eq!(names::handoff("n", &resource::handoff(&dept, &h)).unwrap(), (dept.clone(), h));
        let e = EscalationId::parse("e", &id).unwrap();
        prop_assert_eq!(names::escalation("n", &resource::escalation(&dept, &e)).unwrap(), (dept.clone(), e));
        let i = InitiativeId::parse("i", &id).unwrap();
        prop_assert_eq!(names::initiative("n", &resource::initiative(&dept, &i)).unwrap(), (dept.clone(), i));
        let r = DumbRuleId::parse("r", &id).unwrap();
        prop_assert_eq!(names::dumb_rule("n", &resource::dumb_rule(&r)).unwrap(), r);
        prop_assert_eq!(crate::api_keys::key_id("n", &resource::api_key(&id)).unwrap(), id);
    }

    #[test]
    fn update_masks_name_each_unknown_path(paths in prop::collection::vec(prop_oneof![
        prop::sample::select(vec!["display_name", "description", "default_targets", "*", "name", "etag"]).prop_map(str::to_owned),
        text(),
    ], 0..8)) {
        let allowed = ["display_name", "description", "default_targets"];
        let mask = prost_types::FieldMask { paths: paths.clone() };
        for r in [kit::mask_paths(Some(&mask), &allowed, &allowed)] {
            match r {
                Ok(p) if paths.is_empty() || paths.iter().any(|p| p == "*") => prop_assert_eq!(p.len(), allowed.len()),
                Ok(p) => prop_assert!(p.iter().all(|p| allowed.contains(&p.as_str()))),
                Err(e) => {
                    let unknown: Vec<String> = paths
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| !allowed.contains(&p.as_str()))
                        .map(|(i, _)| format!("update_mask.paths[{i}]"))
                        .collect();
                    let named: Vec<String> = e.violations.iter().map(|v| v.field.clone()).collect();
                    prop_assert_eq!(named, unknown);
                }
            }
        }
    }

    #[test]
    fn etags_and_timestamps_never_panic(etag in text(), rev in any::<i64>(), current in any::<i64>(), secs in any::<i64>(), nanos in any::<i32>()) {
        match kit::expected_revision("x.etag", &etag, current) {
            Ok(r) => prop_assert_eq!(r, current),
            Err(crate::ApiError::Invalid(e)) => prop_assert!(names_field(&e, "x.etag")),
            Err(crate::ApiError::Aborted) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        prop_assert_eq!(kit::expected_revision("e", &etag_for(rev), rev).ok(), Some(rev));
        prop_assert!(matches!(kit::expected_revision("e", &etag_for(rev), rev.wrapping_add(1)), Err(crate::ApiError::Aborted)));
        let t = prost_types::Timestamp { seconds: secs, nanos };
        match kit::time_from_pb("x.time", Some(&t)) {
            Ok(Some(d)) => prop_assert_eq!(d.timestamp_subsec_nanos() % 1000, 0),
            Ok(None) => prop_assert!(false, "a timestamp was given"),
            Err(e) => prop_assert!(names_field(&e, "x.time")),
        }
    }

    #[test]
    fn durations_targets_and_enums_never_panic(a in any::<i64>(), an in any::<i32>(), r in any::<i64>(), rn in any::<i32>(), v in any::<i32>()) {
        let t = pb::ServiceTargets {
            acknowledge_within: Some(prost_types::Duration { seconds: a, nanos: an }),
            resolve_within: (rn != 7).then_some(prost_types::Duration { seconds: r, nanos: rn }),
            clock: v,
        };
        match convert::targets_from_pb("x.targets", Some(&t)) {
            Ok(got) => prop_assert_eq!((got.acknowledge_secs(), got.resolve_secs()), (a, r)),
            Err(e) => prop_assert!(names_field(&e, "x.targets"), "{e:?}"),
        }
        prop_assert!(names_field(&convert::targets_from_pb("x.targets", None).unwrap_err(), "x.targets"));
        if let Err(e) = convert::department_status_filter("x.s", v) { prop_assert!(names_field(&e, "x.s")); }
        if let Err(e) = convert::category_status_filter("x.s", v) { prop_assert!(names_field(&e, "x.s")); }
        if let Err(e) = convert::channel_from_pb("x.s", v) { prop_assert!(names_field(&e, "x.s")); }
        prop_assert_eq!(convert::channel_from_pb("c", convert::channel_to_pb(convert::channel_from_pb("c", v).unwrap_or(None)) as i32).ok().is_some(), true);
    }

    #[test]
    fn feedback_fields_never_panic(lang in text(), address in text(), lat in prop::option::of(any::<f64>()), lon in prop::option::of(any::<f64>())) {
        match crate::feedback::intake::language("x.language", &lang) {
            Ok(l) => prop_assert!(l.len() <= 35 && l.is_ascii()),
            Err(e) => prop_assert!(names_field(&e, "x.language")),
        }
        let loc = pb::Location { address, latitude: lat, longitude: lon, address_id: String::new() };
        match crate::feedback::intake::location("x.location", Some(&loc)) {
            Ok(l) => {
                prop_assert!(l.latitude.is_none_or(|v| (-90.0..=90.0).contains(&v)));
                prop_assert!(l.longitude.is_none_or(|v| (-180.0..=180.0).contains(&v)));
            }
            Err(e) => prop_assert!(names_field(&e, "x.location")),
        }
    }

    #[test]
    fn report_periods_and_request_ids_never_panic(kind in any::<i32>(), date in prop_oneof![text(), "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}"], request_id in text()) {
        if let Err(e) = crate::coordination::reports::period("x.period", kind, "x.date", &date) {
            prop_assert!(e.violations.iter().all(|v| v.field == "x.period" || v.field == "x.date"), "{e:?}");
        }
        let msg = pb::GetDepartmentRequest { name: request_id.clone() };
        match kit::idempotency(&request_id, &msg) {
            Ok(i) => prop_assert!(!i.request_id.is_empty() && i.request_id.len() <= 128 && i.request_hash.len() == 64),
            Err(e) => prop_assert!(names_field(&e, "request_id")),
        }
    }

    #[test]
    fn arbitrary_strings_are_not_tokens(token in prop_oneof![text(), "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,80}"]) {
        prop_assert!(auth().verify(&token).is_err());
    }

    #[test]
    fn jwt_shaped_strings_are_refused(h in segment(), p in segment(), s in segment()) {
        let token = format!("{h}.{p}.{s}");
        let r = auth().verify(&token);
        prop_assert!(matches!(r, Err(AuthError::Invalid(_) | AuthError::Expired)), "{r:?}");
    }

    #[test]
    fn authorization_metadata_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), prefix in any::<bool>()) {
        let mut raw = if prefix { b"Bearer ".to_vec() } else { Vec::new() };
        raw.extend(&bytes);
        // Bytes the transport would refuse never reach the layer; everything else must be refused
        // cleanly (non-ASCII: MALFORMED, since the value is not visible ASCII).
        if let Ok(v) = http::HeaderValue::from_bytes(&raw) {
            let r = auth().verify_header(Some(&v));
            prop_assert!(r.is_err());
            if v.to_str().is_err() {
                prop_assert_eq!(r, Err(AuthError::Malformed));
            }
        }
    }
}

proptest! {
    #![proptest_config(config(TOKEN_CASES))]

    #[test]
    fn valid_tokens_verify(c in caller()) {
        let t = mint_token(SECRET, "cityserve", "cityserve", &c, Duration::from_secs(600)).unwrap();
        let got = auth().verify(&t).unwrap();
        let want = if c.role.is_city_wide() { Caller { departments: vec![], ..c } } else { c };
        prop_assert_eq!(got, want);
    }

    #[test]
    fn altered_signatures_are_refused(c in caller(), at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_-]") {
        let t = mint_token(SECRET, "cityserve", "cityserve", &c, Duration::from_secs(600)).unwrap();
        let sig_start = t.rfind('.').unwrap() + 1;
        let i = sig_start + at.index(t.len() - sig_start);
        prop_assume!(t[i..=i] != with);
        let mut forged = t.clone();
        forged.replace_range(i..=i, &with);
        prop_assert!(matches!(auth().verify(&forged), Err(AuthError::Invalid(_))));
        // Signature stripped, or the token truncated anywhere.
        prop_assert!(auth().verify(&t[..sig_start]).is_err());
        prop_assert!(auth().verify(&t[..at.index(t.len())]).is_err());
    }

    #[test]
    fn altered_claims_keep_the_old_signature_and_are_refused(
        c in caller(),
        role in prop::sample::select(vec!["chief", "service", "auditor", "root"]),
        extra in slug(),
    ) {
        let t = mint_token(SECRET, "cityserve", "cityserve", &c, Duration::from_secs(600)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["role"] = role.into();
        claims["departments"].as_array_mut().unwrap().push(extra.into());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
        prop_assert!(matches!(auth().verify(&forged), Err(AuthError::Invalid(_))));
        // alg "none" with the claims and no (or the old) signature.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let bare = format!("{none}.{payload}.");
        prop_assert!(auth().verify(&bare).is_err());
        let resigned = format!("{none}.{payload}.{}", parts[2]);
        prop_assert!(auth().verify(&resigned).is_err());
        // Another HMAC algorithm with the same secret is not accepted either.
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        prop_assert!(matches!(auth().verify(&hs512), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn correctly_signed_garbage_claims_are_refused(
        sub in prop_oneof![text(), Just(String::new()), "[a-z]{201,300}"],
        role in prop_oneof![prop::sample::select(vec!["chief", "cso", "staff", "auditor", "service"]).prop_map(str::to_owned), text()],
        departments in prop::collection::vec(prop_oneof![slug(), text()], 0..3),
        iss in prop::sample::select(vec!["cityserve", "elsewhere", ""]),
        aud in prop::sample::select(vec!["cityserve", "elsewhere", ""]),
        exp_delta in -100_000i64..100_000,
    ) {
        let claims = Claims {
            sub: sub.clone(),
            role: role.clone(),
            departments: departments.clone(),
            iss: iss.into(),
            aud: aud.into(),
            exp: now().saturating_add_signed(exp_delta),
            iat: now(),
            nbf: None,
        };
        let t = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        match auth().verify(&t) {
            Ok(c) => {
                prop_assert!(iss == "cityserve" && aud == "cityserve" && exp_delta > -31);
                prop_assert_eq!(Some(c.role), Role::parse(&role));
                prop_assert!(!sub.trim().is_empty() && sub.len() <= 200);
                prop_assert!(departments.iter().all(|d| DepartmentId::parse("d", d).is_ok()));
            }
            Err(AuthError::Expired) => prop_assert!(exp_delta < 31),
            Err(AuthError::Invalid(_)) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn huge_tokens_are_refused(c in caller(), pad in 10_000usize..300_000) {
        let mut c = c;
        c.subject = "s".repeat(pad);
        let t = mint_token(SECRET, "cityserve", "cityserve", &c, Duration::from_secs(600)).unwrap();
        prop_assert!(matches!(auth().verify(&t), Err(AuthError::Invalid(_))));
        let junk = "A".repeat(pad);
        let junk = format!("{junk}.{junk}.{junk}");
        prop_assert!(auth().verify(&junk).is_err());
    }
}
