//! Authentication at the edge: every CityServe RPC needs a valid bearer token.
use crate::both_backends;
use crate::harness::*;
use cityserve_domain::{Caller, Role};
use cityserve_proto::v1 as pb;
use std::time::Duration;
use tonic::Code;

fn get() -> pb::GetDepartmentRequest {
    pb::GetDepartmentRequest { name: "departments/water".into() }
}

both_backends! {
    async fn bad_credentials_are_unauthenticated(app: &TestApp) {
        create_department(app, "water").await;
        let mut client = app.departments();
        let err = client.get_department(tonic::Request::new(get())).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert!(err.message().contains("missing bearer token"));

        let other_key = cityserve_api::mint_token(
            b"a-completely-different-secret-value!",
            "cityserve",
            "cityserve",
            &Caller { subject: "x".into(), role: Role::Chief, departments: vec![] },
            Duration::from_secs(60),
        )
        .unwrap();
        let expired = {
            use jsonwebtoken::{EncodingKey, Header, encode};
            let claims = cityserve_api::Claims {
                sub: "x".into(),
                role: "chief".into(),
                departments: vec![],
                iss: "cityserve".into(),
                aud: "cityserve".into(),
                exp: 1_000_000,
                iat: 999_000,
                nbf: None,
            };
            encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
        };
        for (token, why) in [(other_key.as_str(), "bad signature"), (expired.as_str(), "expired"), ("not.a.jwt", "invalid")] {
            let err = client.get_department(authed(get(), token)).await.unwrap_err();
            assert_eq!(err.code(), Code::Unauthenticated, "{why}");
        }
        assert!(client.get_department(authed(get(), &chief())).await.is_ok());
    }

    async fn a_ten_year_token_is_refused(app: &TestApp) {
        create_department(app, "water").await;
        use jsonwebtoken::{EncodingKey, Header, encode};
        let now = jsonwebtoken::get_current_timestamp();
        let token = |lifetime: u64, aud: cityserve_api::Audience| {
            let claims = cityserve_api::Claims {
                sub: CHIEF.into(),
                role: "chief".into(),
                departments: vec![],
                iss: "cityserve".into(),
                aud,
                exp: now + lifetime,
                iat: now,
                nbf: Some(now),
            };
            encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
        };
        let mut client = app.departments();
        let decade = token(10 * 365 * 86_400, "cityserve".into());
        let err = client.get_department(authed(get(), &decade)).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert!(err.message().contains("lifetime"), "{err:?}");
        // An identity provider's token: an audience list holding ours, an hour long.
        let provider = token(3600, cityserve_api::Audience::Many(vec!["account".into(), "cityserve".into()]));
        assert!(client.get_department(authed(get(), &provider)).await.is_ok());
    }
}
