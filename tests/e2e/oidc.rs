//! The city's own identity provider: an OpenID Connect provider started inside the test
//! (discovery and JWKS over HTTP, keys generated now), its tokens signing officers in by the
//! subject on their record, roles following seats whatever the token says, keys fetched again on
//! rotation (once), and the tokens a city's security team would try refused.
use crate::harness::*;
use cityserve_proto::v1 as pb;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The audience the provider issues CityServe's tokens for (the app's client ID).
pub(crate) const CLIENT_ID: &str = "api://cityserve-test";

/// An identity provider: publishes `keys` at its JWKS URL and counts how often it is fetched.
pub(crate) struct Provider {
    pub(crate) issuer: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

/// A signing key with its `kid`.
pub(crate) struct Key {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
}

impl Key {
    pub(crate) fn es256(kid: &str) -> Key {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Key { kid: kid.into(), alg: Algorithm::ES256, encoding: EncodingKey::from_ec_der(&pair.serialize_der()) }
    }

    fn rs256(kid: &str) -> Key {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        Key { kid: kid.into(), alg: Algorithm::RS256, encoding: EncodingKey::from_rsa_der(der.as_bytes()) }
    }

    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        jwk
    }

    /// A token for `claims`, signed by this key.
    pub(crate) fn sign(&self, claims: &serde_json::Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A JSON answer.
fn json(v: &serde_json::Value) -> ([(http::HeaderName, &'static str); 1], String) {
    ([(http::header::CONTENT_TYPE, "application/json")], v.to_string())
}

impl Provider {
    pub(crate) async fn start(published: &[&Key]) -> Provider {
        use axum::routing::get;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(published.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let discovery = serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/keys"),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        });
        let (k, n) = (keys.clone(), jwks_fetches.clone());
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(move || async move { json(&discovery) }))
            .route(
                "/keys",
                get(move || {
                    let (k, n) = (k.clone(), n.clone());
                    async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        let set = JwkSet { keys: k.lock().unwrap().clone() };
                        json(&serde_json::to_value(set).unwrap())
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Provider { issuer, keys, jwks_fetches }
    }

    /// Claims as a provider issues them: its own subject, an array audience, a `roles` claim
    /// CityServe must ignore, valid for an hour.
    pub(crate) fn claims(&self, sub: &str) -> serde_json::Value {
        let now = jsonwebtoken::get_current_timestamp();
        serde_json::json!({
            "iss": self.issuer,
            "aud": ["https://graph.example", CLIENT_ID],
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "role": "chief",
            "roles": ["CityServe.Chief"],
        })
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

async fn start(db: Db, provider: &Provider) -> Option<TestApp> {
    let issuer = provider.issuer.clone();
    TestApp::start_with(db, move |c| {
        c.oidc_issuer = issuer;
        c.oidc_audience = CLIENT_ID.into();
    })
    .await
}

fn get(name: &str) -> pb::GetDepartmentRequest {
    pb::GetDepartmentRequest { name: format!("departments/{name}") }
}

fn new_officer(id: &str) -> pb::CreateOfficerRequest {
    pb::CreateOfficerRequest {
        parent: "departments/water".into(),
        officer_id: id.into(),
        officer: Some(pb::Officer {
            display_name: format!("Officer {id}"),
            email: format!("{id}@city.gov"),
            ..Default::default()
        }),
        request_id: format!("new-{id}"),
    }
}

/// Gives officer `name` the provider subject `subject` (an update naming only that field).
pub(crate) async fn link(app: &TestApp, officer: &pb::Officer, subject: &str) -> pb::Officer {
    let body = pb::Officer { name: officer.name.clone(), identity_subject: subject.into(), ..Default::default() };
    let r = pb::UpdateOfficerRequest {
        officer: Some(body),
        update_mask: Some(prost_types::FieldMask { paths: vec!["identity_subject".into()] }),
    };
    app.officers().update_officer(authed(r, &chief())).await.unwrap().into_inner().officer.unwrap()
}

async fn a_provider_token_signs_an_officer_in(db: Db) {
    let first = Key::es256("es-1");
    let provider = Provider::start(&[&first]).await;
    let Some(app) = start(db, &provider).await else { return };
    create_department(&app, "water").await;
    create_department(&app, "streets").await;
    let ana = app.create_officer("water", "ana").await;
    let linked = link(&app, &ana, "00u1a2b3c4-okta").await;
    assert_eq!(linked.identity_subject, "00u1a2b3c4-okta");
    assert_eq!(linked.title, ana.title, "an update naming only the subject changes only it");

    // Signed in as Ana, staff of Water: her department reads, another is not found, and the
    // token's `role: chief` and `roles` are not honoured.
    let token = first.sign(&provider.claims("00u1a2b3c4-okta"));
    let water = app.departments().get_department(authed(get("water"), &token)).await.unwrap().into_inner();
    assert_eq!(water.department.unwrap().name, "departments/water");
    let streets = app.departments().get_department(authed(get("streets"), &token)).await.unwrap_err();
    assert_eq!(streets.code(), tonic::Code::NotFound, "{streets:?}");
    let refused = app.officers().create_officer(authed(new_officer("bo"), &token)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "staff cannot add officers: {refused:?}");

    // Appointed CSO, the same token acts as Water's CSO at once: roles follow seats.
    app.appoint_cso("water", "ana", "").await;
    app.officers().create_officer(authed(new_officer("bo"), &token)).await.expect("a CSO adds officers");

    // The provider rotates: a new RS256 key is published and used. It is fetched once.
    let before = provider.fetches();
    let second = Key::rs256("rs-2");
    provider.keys.lock().unwrap().push(second.jwk());
    let rotated = second.sign(&provider.claims("00u1a2b3c4-okta"));
    app.departments().get_department(authed(get("water"), &rotated)).await.expect("the new key works");
    app.departments().get_department(authed(get("water"), &rotated)).await.expect("and again");
    assert_eq!(provider.fetches(), before + 1, "the new kid is fetched once");

    let unauthenticated = |r: Result<tonic::Response<pb::GetDepartmentResponse>, tonic::Status>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.code(), tonic::Code::Unauthenticated, "{what}: {e:?}");
        e
    };
    // A key the provider never published: refused, and (so soon after the last fetch) without
    // asking the provider again.
    let stranger = Key::es256("es-9");
    let forged = stranger.sign(&provider.claims("00u1a2b3c4-okta"));
    unauthenticated(app.departments().get_department(authed(get("water"), &forged)).await, "unknown key");
    assert_eq!(provider.fetches(), before + 1, "an unknown kid does not fetch again within the interval");
    // A published kid with another key's signature.
    let mut claims = provider.claims("00u1a2b3c4-okta");
    let wrong = Key { kid: "es-1".into(), ..Key::es256("x") }.sign(&claims);
    unauthenticated(app.departments().get_department(authed(get("water"), &wrong)).await, "bad signature");
    // Not valid yet.
    let now = jsonwebtoken::get_current_timestamp();
    claims["nbf"] = (now + 600).into();
    let early = first.sign(&claims);
    unauthenticated(app.departments().get_department(authed(get("water"), &early)).await, "nbf ahead");
    // Longer-lived than the 24 h maximum.
    let mut claims = provider.claims("00u1a2b3c4-okta");
    claims["exp"] = (now + 48 * 3600).into();
    let long = first.sign(&claims);
    let e = unauthenticated(app.departments().get_department(authed(get("water"), &long)).await, "two days");
    assert!(e.message().contains("lifetime"), "{e:?}");
    // Another audience only.
    let mut claims = provider.claims("00u1a2b3c4-okta");
    claims["aud"] = "api://another-app".into();
    let other = first.sign(&claims);
    unauthenticated(app.departments().get_department(authed(get("water"), &other)).await, "wrong audience");
    // A provider user who is no officer.
    let nobody = first.sign(&provider.claims("00u-not-on-the-roster"));
    unauthenticated(app.departments().get_department(authed(get("water"), &nobody)).await, "not an officer");

    // Deactivated, Ana's provider token no longer signs her in.
    let deactivate = pb::DeactivateOfficerRequest { name: ana.name.clone(), etag: String::new() };
    app.officers().deactivate_officer(authed(deactivate, &chief())).await.unwrap();
    unauthenticated(app.departments().get_department(authed(get("water"), &token)).await, "deactivated");

    // The city's own development tokens still work beside the provider's.
    app.departments().get_department(authed(get("water"), &chief())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_token_signs_an_officer_in_sqlite() {
    a_provider_token_signs_an_officer_in(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_token_signs_an_officer_in_postgres() {
    a_provider_token_signs_an_officer_in(Db::Postgres).await;
}

/// Two officers cannot carry one provider subject, and a malformed one is refused by field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_subjects_are_unique_and_checked() {
    let app = TestApp::start(Db::Sqlite).await.unwrap();
    create_department(&app, "water").await;
    let ana = app.create_officer("water", "ana").await;
    let bo = app.create_officer("water", "bo").await;
    link(&app, &ana, "subject-1").await;
    let body = pb::Officer { name: bo.name.clone(), identity_subject: "subject-1".into(), ..Default::default() };
    let mask = Some(prost_types::FieldMask { paths: vec!["identity_subject".into()] });
    let r = pb::UpdateOfficerRequest { officer: Some(body.clone()), update_mask: mask.clone() };
    let e = app.officers().update_officer(authed(r, &chief())).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::AlreadyExists, "{e:?}");
    let bad = pb::Officer { identity_subject: "has a space".into(), ..body };
    let r = pb::UpdateOfficerRequest { officer: Some(bad), update_mask: mask };
    let e = app.officers().update_officer(authed(r, &chief())).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("officer.identity_subject"), "{e:?}");
}
