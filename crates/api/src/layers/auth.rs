//! Bearer-token authentication: JWT verification (HS256 shared secret, optionally an RS256 public
//! key, optionally the city's OpenID Connect provider through [`super::oidc`]) and the tower layer
//! that turns a valid token into a [`Caller`] in the request extensions.
use cityserve_domain::{Caller, DepartmentId, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Status;

/// Token verification settings.
#[derive(Clone)]
pub struct AuthConfig {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// HS256 shared secret (also used by `cityserve token` to mint tokens).
    pub hs256_secret: Option<Vec<u8>>,
    /// RS256 public key in PEM form, for tokens issued by an external identity provider.
    pub rs256_public_key_pem: Option<Vec<u8>>,
    /// Clock skew allowed between the issuer and this server, for `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// The longest lifetime (`exp` − `iat`) a token may have: a longer one is refused, so a
    /// token leaked from a log or a laptop cannot serve for years.
    pub max_lifetime: Duration,
    /// The city's identity provider, when its tokens are accepted.
    pub oidc: Option<super::oidc::OidcConfig>,
}

/// [`AuthConfig::leeway`] unless configured.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// [`AuthConfig::max_lifetime`] unless configured: a working day and then some.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl std::fmt::Debug for AuthConfig {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("rs256_public_key_pem", &self.rs256_public_key_pem.is_some())
            .field("leeway", &self.leeway)
            .field("max_lifetime", &self.max_lifetime)
            .field("oidc", &self.oidc)
            .finish()
    }
}

/// The claims CityServe reads from (and puts into) a token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Subject: officer ID or service client name.
    pub sub: String,
    /// Role: `chief`, `cso`, `staff`, `auditor` or `service`.
    pub role: String,
    /// Departments the subject belongs to (required for department-bound roles).
    #[serde(default)]
    pub departments: Vec<String>,
    /// Issuer.
    pub iss: String,
    /// Audience: one, or a list that must include ours (identity providers send both forms).
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch (required: it bounds the token's lifetime).
    pub iat: u64,
    /// Not valid before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// A token's `aud`: a string or an array of strings (RFC 7519, section 4.1.3).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several; ours must be among them.
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(a: &str) -> Self {
        Audience::One(a.to_owned())
    }
}

/// Why a token was rejected. The text goes back to the client, so it never includes the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `authorization` metadata.
    #[error("missing bearer token: send 'authorization: Bearer <token>'")]
    Missing,
    /// Not `Bearer <token>` or not valid UTF-8.
    #[error("malformed authorization metadata: expected 'Bearer <token>'")]
    Malformed,
    /// Expired.
    #[error("token expired")]
    Expired,
    /// Bad signature, issuer, audience, algorithm or claims.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The server's key material is unusable.
    #[error("authentication is misconfigured: {0}")]
    Config(String),
    /// The identity provider or the database could not be asked (try again).
    #[error("cannot verify the token now: {0}")]
    Unavailable(String),
}

impl AuthError {
    /// The status a client gets: `UNAVAILABLE` when the verdict could not be reached (retry),
    /// else `UNAUTHENTICATED`.
    pub fn status(&self) -> Status {
        match self {
            AuthError::Unavailable(_) => Status::unavailable(self.to_string()),
            _ => Status::unauthenticated(self.to_string()),
        }
    }
}

/// The claims read from an identity provider's token: who, and for how long. Roles and
/// departments come from the officer it names, never from the provider.
#[derive(Debug, Deserialize)]
struct ProviderClaims {
    sub: String,
    exp: u64,
    iat: u64,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or the string `"true"` as some providers send it.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
}

/// A bearer token sorted by who can verify it.
#[derive(Debug)]
pub enum Credential {
    /// Verified here and now: a development (HS256) or RS256-key token.
    Caller(Caller),
    /// Signed with a key (`kid`) of the identity provider: verified by [`Authenticator::sign_in`].
    Provider(String),
}

/// Largest bearer token [`Authenticator::verify`] decodes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<Vec<(Algorithm, DecodingKey)>>,
    issuer: String,
    audience: String,
    leeway: Duration,
    max_lifetime: Duration,
    provider: Option<Arc<super::oidc::ProviderKeys>>,
    /// Tokens that verified, answered again without a new verification (shared by the clones).
    verified: Arc<super::verified_tokens::VerifiedTokens>,
}

impl Authenticator {
    /// Builds a verifier; at least one key must be configured.
    pub fn new(config: &AuthConfig) -> Result<Self, AuthError> {
        let mut keys = Vec::new();
        if let Some(secret) = &config.hs256_secret {
            if secret.len() < 32 {
                return Err(AuthError::Config("the HS256 secret must be at least 32 bytes".into()));
            }
            keys.push((Algorithm::HS256, DecodingKey::from_secret(secret)));
        }
        if let Some(pem) = &config.rs256_public_key_pem {
            let key =
                DecodingKey::from_rsa_pem(pem).map_err(|e| AuthError::Config(format!("RS256 public key: {e}")))?;
            keys.push((Algorithm::RS256, key));
        }
        let provider = match &config.oidc {
            Some(oidc) => Some(Arc::new(super::oidc::ProviderKeys::new(oidc.clone())?)),
            None => None,
        };
        if keys.is_empty() && provider.is_none() {
            return Err(AuthError::Config("no HS256 secret, RS256 public key or identity provider configured".into()));
        }
        Ok(Self {
            keys: Arc::new(keys),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
            max_lifetime: config.max_lifetime,
            provider,
            verified: Arc::default(),
        })
    }

    /// The identity provider's key set, when one is configured.
    pub fn provider(&self) -> Option<&Arc<super::oidc::ProviderKeys>> {
        self.provider.as_ref()
    }

    /// The validation both kinds of token share: signature algorithm, issuer, audience, `exp`,
    /// `nbf`, the leeway.
    fn validation(&self, alg: Algorithm, issuer: &str, audience: &str) -> Validation {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation
    }

    /// `iat` not ahead of now, and a lifetime within the maximum.
    fn check_times(&self, iat: u64, exp: u64) -> Result<(), AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        if iat > now.saturating_add(self.leeway.as_secs()) {
            return Err(AuthError::Invalid("issued in the future (iat)".into()));
        }
        if exp.saturating_sub(iat) > self.max_lifetime.as_secs() {
            return Err(AuthError::Invalid(format!(
                "lifetime (exp - iat) over the {} s this server accepts",
                self.max_lifetime.as_secs()
            )));
        }
        Ok(())
    }

    /// Sorts `token`: a provider's token (a `kid` in its header, RS256 or ES256, with a provider
    /// configured) is left to [`Authenticator::sign_in`]; any other is verified now.
    pub fn credential(&self, token: &str) -> Result<Credential, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large".into()));
        }
        if self.provider.is_some() {
            let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("not a JWT".into()))?;
            if header.kid.is_some() && matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
                return Ok(Credential::Provider(token.to_owned()));
            }
        }
        self.verify(token).map(Credential::Caller)
    }

    /// Verifies a provider's `token` (its key fetched by `kid` as needed) and returns who signs
    /// in, by the configured claim.
    pub async fn sign_in(&self, token: &str) -> Result<cityserve_store::officers::SignIn, AuthError> {
        use super::oidc::MatchClaim;
        use cityserve_store::officers::SignIn;
        let provider = self.provider.as_ref().ok_or_else(|| AuthError::Invalid("no identity provider".into()))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("not a JWT".into()))?;
        let kid = header.kid.as_deref().ok_or_else(|| AuthError::Invalid("no key ID (kid)".into()))?;
        let (alg, key) = provider.key(kid).await?;
        if alg != header.alg {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not the key's", header.alg)));
        }
        let config = provider.config();
        let validation = self.validation(alg, &config.issuer, &config.audience);
        let data = jsonwebtoken::decode::<ProviderClaims>(token, &key, &validation).map_err(refusal)?;
        let claims = data.claims;
        self.check_times(claims.iat, claims.exp)?;
        match config.match_claim {
            MatchClaim::Subject => {
                if claims.sub.is_empty() || claims.sub.len() > 255 {
                    return Err(AuthError::Invalid("subject must be 1-255 characters".into()));
                }
                Ok(SignIn::Subject(claims.sub))
            }
            MatchClaim::Email => {
                let verified = match &claims.email_verified {
                    Some(serde_json::Value::Bool(b)) => *b,
                    Some(serde_json::Value::String(s)) => s == "true",
                    _ => false,
                };
                match (claims.email, &claims.email_verified) {
                    (Some(e), _) if verified && !e.is_empty() && e.len() <= 320 => Ok(SignIn::Email(e)),
                    // No e-mail claim of any kind: an application's client-credentials token.
                    (None, None) if !claims.sub.is_empty() && claims.sub.len() <= 255 => Ok(SignIn::Client(claims.sub)),
                    _ => Err(AuthError::Invalid("no verified e-mail claim".into())),
                }
            }
        }
    }

    /// Verifies `token` and returns the caller it names. A token that verified before and has
    /// not expired is answered as then, without a new verification
    /// ([`super::verified_tokens`] says why that is the same answer).
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // Refuse oversized input before base64- and JSON-decoding it (real tokens are < 2 KiB).
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid("token too large".into()));
        }
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(caller) = self.verified.get(token, now, self.leeway.as_secs()) {
            return Ok(caller);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("not a JWT".into()))?;
        let key = self
            .keys
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .map(|(_, k)| k)
            .ok_or_else(|| AuthError::Invalid(format!("algorithm {:?} is not accepted", header.alg)))?;
        let validation = self.validation(header.alg, &self.issuer, &self.audience);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(refusal)?;
        let claims = &data.claims;
        self.check_times(claims.iat, claims.exp)?;
        let caller = caller_from_claims(claims)?;
        self.verified.insert(token, &caller, claims.exp);
        Ok(caller)
    }

    /// Verifies the `authorization` header value (`Bearer <token>`) of a development or RS256-key
    /// token.
    pub fn verify_header(&self, value: Option<&http::HeaderValue>) -> Result<Caller, AuthError> {
        self.verify(bearer(value)?)
    }
}

/// The token of an `authorization` header value (`Bearer <token>`).
pub fn bearer(value: Option<&http::HeaderValue>) -> Result<&str, AuthError> {
    let value = value.ok_or(AuthError::Missing)?;
    let text = value.to_str().map_err(|_| AuthError::Malformed)?;
    text.strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Malformed)
}

/// Why `jsonwebtoken` refused a token, in words for the client.
fn refusal(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
        jsonwebtoken::errors::ErrorKind::ImmatureSignature => AuthError::Invalid("not valid yet (nbf)".into()),
        jsonwebtoken::errors::ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
        jsonwebtoken::errors::ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
        jsonwebtoken::errors::ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
        _ => AuthError::Invalid("unreadable claims".into()),
    }
}

fn caller_from_claims(claims: &Claims) -> Result<Caller, AuthError> {
    let role = Role::parse(&claims.role).ok_or_else(|| AuthError::Invalid("unknown role".into()))?;
    if claims.sub.trim().is_empty() || claims.sub.len() > 200 {
        return Err(AuthError::Invalid("subject must be 1-200 characters".into()));
    }
    let departments = claims
        .departments
        .iter()
        .map(|d| DepartmentId::parse("departments", d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| AuthError::Invalid("departments claim holds an invalid department ID".into()))?;
    if !role.is_city_wide() && departments.is_empty() {
        return Err(AuthError::Invalid(format!("role {role} requires at least one department")));
    }
    let departments = if role.is_city_wide() { Vec::new() } else { departments };
    Ok(Caller { subject: claims.sub.clone(), role, departments })
}

/// Mints an HS256 token for `caller`, valid for `ttl`. Used by `cityserve token` and tests.
pub fn mint_token(
    secret: &[u8],
    issuer: &str,
    audience: &str,
    caller: &Caller,
    ttl: Duration,
) -> Result<String, AuthError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| AuthError::Config("system clock before 1970".into()))?
        .as_secs();
    let claims = Claims {
        sub: caller.subject.clone(),
        role: caller.role.as_str().to_owned(),
        departments: caller.departments.iter().map(|d| d.to_string()).collect(),
        iss: issuer.to_owned(),
        aud: audience.into(),
        exp: now.saturating_add(ttl.as_secs()),
        iat: now,
        nbf: None,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .map_err(|e| AuthError::Config(e.to_string()))
}

/// Tower layer that authenticates every CityServe RPC (paths under `/cityserve.`) and inserts
/// the [`Caller`] into the request extensions. Health checks and reflection stay open so probes
/// and tooling work without credentials.
#[derive(Clone)]
pub struct AuthLayer {
    authenticator: Authenticator,
    sign_in: Option<super::oidc::SignInFn>,
}

impl AuthLayer {
    /// A layer verifying with `authenticator`.
    pub fn new(authenticator: Authenticator) -> Self {
        Self { authenticator, sign_in: None }
    }

    /// Signs identity-provider users in with `sign_in` (without it, provider tokens are refused).
    pub fn with_sign_in(mut self, sign_in: super::oidc::SignInFn) -> Self {
        self.sign_in = Some(sign_in);
        self
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, authenticator: self.authenticator.clone(), sign_in: self.sign_in.clone() }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Authenticator,
    sign_in: Option<super::oidc::SignInFn>,
}

/// Whether a request path needs a token.
fn protected(path: &str) -> bool {
    path.starts_with("/cityserve.")
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        futures::future::Either<S::Future, futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        use futures::FutureExt;
        if !protected(req.uri().path()) {
            return futures::future::Either::Left(self.inner.call(req));
        }
        let refuse = |e: AuthError| {
            tracing::debug!(reason = %e, "rejected credentials");
            futures::future::Either::Right(futures::future::ready(Ok(e.status().into_http())).boxed())
        };
        let credential = bearer(req.headers().get(http::header::AUTHORIZATION))
            .and_then(|token| self.authenticator.credential(token));
        match credential {
            Ok(Credential::Caller(caller)) => {
                tracing::Span::current().record("enduser.role", caller.role.as_str());
                req.extensions_mut().insert(caller);
                futures::future::Either::Left(self.inner.call(req))
            }
            Ok(Credential::Provider(token)) => {
                let Some(sign_in) = self.sign_in.clone() else {
                    return refuse(AuthError::Invalid("identity provider tokens are not accepted here".into()));
                };
                // The clone that was polled ready serves this request; the fresh clone stays behind.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let authenticator = self.authenticator.clone();
                let span = tracing::Span::current();
                futures::future::Either::Right(
                    async move {
                        let signed_in = match authenticator.sign_in(&token).await {
                            Ok(who) => sign_in(who).await,
                            Err(e) => Err(e),
                        };
                        match signed_in {
                            Ok(caller) => {
                                span.record("enduser.role", caller.role.as_str());
                                req.extensions_mut().insert(caller);
                                inner.call(req).await
                            }
                            Err(e) => {
                                tracing::debug!(reason = %e, "rejected identity provider token");
                                Ok(e.status().into_http())
                            }
                        }
                    }
                    .boxed(),
                )
            }
            Err(e) => refuse(e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn auth() -> Authenticator {
        Authenticator::new(&AuthConfig {
            issuer: "cityserve".into(),
            audience: "cityserve".into(),
            hs256_secret: Some(SECRET.to_vec()),
            rs256_public_key_pem: None,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            oidc: None,
        })
        .unwrap()
    }

    fn signed(claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn claims_now() -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub: "chief-cso".into(),
            role: "chief".into(),
            departments: vec![],
            iss: "cityserve".into(),
            aud: "cityserve".into(),
            exp: now + 600,
            iat: now,
            nbf: None,
        }
    }

    /// A verifier trusting an identity provider `https://idp.test` that signs with the HS256 key
    /// `SECRET` under `kid` k1 (the claim rules do not depend on the algorithm), matching `by`.
    fn provider(by: super::super::oidc::MatchClaim) -> Authenticator {
        let a = Authenticator::new(&AuthConfig {
            issuer: "cityserve".into(),
            audience: "cityserve".into(),
            hs256_secret: None,
            rs256_public_key_pem: None,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            oidc: Some(super::super::oidc::OidcConfig {
                issuer: "https://idp.test".into(),
                audience: "api://cityserve".into(),
                match_claim: by,
                refresh_interval: Duration::from_secs(3600),
            }),
        })
        .unwrap();
        a.provider().unwrap().insert("k1", Algorithm::HS256, DecodingKey::from_secret(SECRET));
        a
    }

    fn provider_token(extra: serde_json::Value) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "iss": "https://idp.test", "aud": ["api://cityserve"], "sub": "00u-ana", "iat": now, "exp": now + 600,
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    #[tokio::test]
    async fn provider_users_are_named_by_subject_or_by_a_verified_email() {
        use super::super::oidc::MatchClaim;
        use cityserve_store::officers::SignIn;
        let by_sub = provider(MatchClaim::Subject);
        assert_eq!(by_sub.sign_in(&provider_token(serde_json::json!({}))).await, Ok(SignIn::Subject("00u-ana".into())));
        let by_email = provider(MatchClaim::Email);
        for verified in [serde_json::json!(true), serde_json::json!("true")] {
            let t = provider_token(serde_json::json!({ "email": "ana@city.gov", "email_verified": verified }));
            assert_eq!(by_email.sign_in(&t).await, Ok(SignIn::Email("ana@city.gov".into())));
        }
        for unverified in [
            serde_json::json!({ "email": "ana@city.gov", "email_verified": false }),
            serde_json::json!({ "email": "ana@city.gov" }),
            serde_json::json!({ "email": "ana@city.gov", "email_verified": "yes" }),
            serde_json::json!({ "email_verified": true }),
        ] {
            let refused = by_email.sign_in(&provider_token(unverified.clone())).await;
            assert!(matches!(refused, Err(AuthError::Invalid(_))), "{unverified}: {refused:?}");
        }
        // The provider's own rules: its issuer, its audience for us, an unknown kid.
        let other_issuer = provider_token(serde_json::json!({ "iss": "https://evil.test" }));
        assert_eq!(by_sub.sign_in(&other_issuer).await, Err(AuthError::Invalid("wrong issuer".into())));
        let ours_only = provider_token(serde_json::json!({ "aud": "cityserve" }));
        assert_eq!(by_sub.sign_in(&ours_only).await, Err(AuthError::Invalid("wrong audience".into())));
        // Without a secret or key of its own, the server still refuses tokens it cannot place.
        assert!(matches!(by_sub.credential(&signed(&claims_now())), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn a_token_that_verified_is_answered_again_and_a_refused_one_is_not_kept() {
        let auth = auth();
        let token = signed(&claims_now());
        assert_eq!(auth.verify(&token).unwrap().subject, "chief-cso");
        assert_eq!(auth.verified.len(), 1);
        assert_eq!(auth.verify(&token).unwrap().subject, "chief-cso", "from the kept answer");
        assert_eq!(auth.clone().verified.len(), 1, "clones share what is kept");
        // The same claims with another signature are other bytes: verified, and refused.
        let (signed_part, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{signed_part}.{}", "A".repeat(43));
        assert!(matches!(auth.verify(&forged), Err(AuthError::Invalid(_))));
        let mut expired = claims_now();
        expired.iat -= 7_200;
        expired.exp = expired.iat + 600;
        assert!(auth.verify(&signed(&expired)).is_err(), "expired");
        assert_eq!(auth.verified.len(), 1, "refusals are not kept");
    }

    #[test]
    fn provider_tokens_with_audience_lists_and_nbf_are_read() {
        let mut c = claims_now();
        c.aud = Audience::Many(vec!["account".into(), "cityserve".into()]);
        c.nbf = Some(c.iat);
        assert_eq!(auth().verify(&signed(&c)).unwrap().subject, "chief-cso");
        c.aud = Audience::Many(vec!["account".into(), "elsewhere".into()]);
        assert_eq!(auth().verify(&signed(&c)), Err(AuthError::Invalid("wrong audience".into())));
    }

    #[test]
    fn tokens_not_yet_valid_issued_ahead_or_too_long_lived_are_refused() {
        let mut early = claims_now();
        early.nbf = Some(early.iat + 300);
        assert_eq!(auth().verify(&signed(&early)), Err(AuthError::Invalid("not valid yet (nbf)".into())));
        let mut ahead = claims_now();
        ahead.iat += 300;
        ahead.exp += 300;
        assert_eq!(auth().verify(&signed(&ahead)), Err(AuthError::Invalid("issued in the future (iat)".into())));
        let mut skewed = claims_now();
        skewed.iat += 20;
        assert!(auth().verify(&signed(&skewed)).is_ok(), "within the leeway");
        let mut ten_years = claims_now();
        ten_years.exp = ten_years.iat + 10 * 365 * 86_400;
        assert!(matches!(auth().verify(&signed(&ten_years)), Err(AuthError::Invalid(m)) if m.contains("lifetime")));
        let mut day = claims_now();
        day.exp = day.iat + 24 * 3600;
        assert!(auth().verify(&signed(&day)).is_ok(), "a day is the default maximum");
        let strict = Authenticator::new(&AuthConfig {
            issuer: "cityserve".into(),
            audience: "cityserve".into(),
            hs256_secret: Some(SECRET.to_vec()),
            rs256_public_key_pem: None,
            leeway: Duration::ZERO,
            max_lifetime: Duration::from_secs(3600),
            oidc: None,
        })
        .unwrap();
        assert!(strict.verify(&signed(&skewed)).is_err(), "no leeway");
        assert!(strict.verify(&signed(&day)).is_err(), "an hour's maximum");
    }

    fn cso() -> Caller {
        Caller {
            subject: "o-17".into(),
            role: Role::Cso,
            departments: vec![DepartmentId::parse("d", "water").unwrap()],
        }
    }

    #[test]
    fn minted_tokens_verify() {
        let t = mint_token(SECRET, "cityserve", "cityserve", &cso(), Duration::from_secs(60)).unwrap();
        assert_eq!(auth().verify(&t).unwrap(), cso());
        let header = http::HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
        assert_eq!(auth().verify_header(Some(&header)).unwrap(), cso());
    }

    #[test]
    fn bad_tokens_are_rejected_with_a_reason() {
        let other =
            mint_token(b"another-secret-another-secret-xx", "cityserve", "cityserve", &cso(), Duration::from_secs(60));
        assert!(matches!(auth().verify(&other.unwrap()), Err(AuthError::Invalid(_))));
        let wrong_aud = mint_token(SECRET, "cityserve", "elsewhere", &cso(), Duration::from_secs(60)).unwrap();
        assert!(matches!(auth().verify(&wrong_aud), Err(AuthError::Invalid(_))));
        assert_eq!(auth().verify_header(None), Err(AuthError::Missing));
        let basic = http::HeaderValue::from_static("Basic abc");
        assert_eq!(auth().verify_header(Some(&basic)), Err(AuthError::Malformed));
        assert!(matches!(auth().verify("garbage"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let claims = Claims {
            sub: "x".into(),
            role: "chief".into(),
            departments: vec![],
            iss: "cityserve".into(),
            aud: "cityserve".into(),
            exp: 1_000,
            iat: 0,
            nbf: None,
        };
        let t =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        assert_eq!(auth().verify(&t), Err(AuthError::Expired));
    }

    #[test]
    fn department_roles_need_departments() {
        let lone = Caller { departments: vec![], ..cso() };
        let t = mint_token(SECRET, "cityserve", "cityserve", &lone, Duration::from_secs(60)).unwrap();
        assert!(matches!(auth().verify(&t), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn short_secrets_are_refused() {
        let cfg = AuthConfig {
            issuer: "i".into(),
            audience: "a".into(),
            hs256_secret: Some(b"short".to_vec()),
            rs256_public_key_pem: None,
            leeway: DEFAULT_LEEWAY,
            max_lifetime: DEFAULT_MAX_LIFETIME,
            oidc: None,
        };
        assert!(matches!(Authenticator::new(&cfg), Err(AuthError::Config(_))));
    }
}
