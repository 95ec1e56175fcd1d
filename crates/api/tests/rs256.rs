//! Tokens from an external identity provider (RS256), verified with its public key alone. The key
//! pair under `fixtures/` exists only for this test.
#![allow(clippy::unwrap_used, missing_docs)]

use cityserve_api::{AuthConfig, Authenticator, Claims};
use cityserve_domain::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const PRIVATE: &[u8] = include_bytes!("fixtures/rs256-test-private.pem");
const PUBLIC: &[u8] = include_bytes!("fixtures/rs256-test-public.pem");

fn claims(role: &str, departments: &[&str]) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        sub: "officer-7".into(),
        role: role.into(),
        departments: departments.iter().map(|d| d.to_string()).collect(),
        iss: "https://idp.city.example".into(),
        aud: "cityserve".into(),
        exp: now + 300,
        iat: now,
        nbf: None,
    }
}

fn authenticator(with_hs256: bool) -> Authenticator {
    Authenticator::new(&AuthConfig {
        issuer: "https://idp.city.example".into(),
        audience: "cityserve".into(),
        hs256_secret: with_hs256.then(|| b"0123456789abcdef0123456789abcdef".to_vec()),
        rs256_public_key_pem: Some(PUBLIC.to_vec()),
        leeway: cityserve_api::DEFAULT_JWT_LEEWAY,
        max_lifetime: cityserve_api::DEFAULT_JWT_MAX_LIFETIME,
        oidc: None,
    })
    .unwrap()
}

#[test]
fn rs256_tokens_from_the_identity_provider_verify() {
    let key = EncodingKey::from_rsa_pem(PRIVATE).unwrap();
    let token = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims("cso", &["water"]), &key).unwrap();
    for auth in [authenticator(false), authenticator(true)] {
        let caller = auth.verify(&token).unwrap();
        assert_eq!(caller.role, Role::Cso);
        assert_eq!(caller.departments[0].as_str(), "water");
    }
}

#[test]
fn an_hs256_token_signed_with_the_public_key_is_rejected() {
    // The classic algorithm-confusion attack: HS256 keyed with the RSA public key's bytes.
    let forged =
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims("chief", &[]), &EncodingKey::from_secret(PUBLIC))
            .unwrap();
    assert!(authenticator(false).verify(&forged).is_err());
    assert!(authenticator(true).verify(&forged).is_err());
}
