//! Tokens of the city's own identity provider (OpenID Connect: Entra ID, Okta, Keycloak,
//! Login.gov): its signing keys, found through discovery and its JWKS, and the sign-in that maps a
//! provider user to an officer.
//!
//! The provider says *who* signs in, never what they may do: a verified provider token names an
//! officer (by the subject set on their record, or by a verified e-mail claim), and the role is the
//! one that officer holds right now ([`cityserve_domain::officer::role_held`]), re-checked by the
//! standing layer like any other caller's.
//!
//! Keys are cached by `kid`. A token signed with a `kid` not in the cache fetches the JWKS again
//! (a provider rotating its keys publishes the new one before using it), at most once per
//! [`OidcConfig::refresh_interval`], so a flood of tokens with made-up `kid`s costs the provider
//! one request per interval, not one per token.
use super::auth::AuthError;
use super::standing::StandingCache;
use cityserve_domain::officer::role_held;
use cityserve_domain::{Caller, Role, policy};
use cityserve_store::OfficerStore;
use cityserve_store::officers::SignIn;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How a provider token is matched to an officer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchClaim {
    /// The token's `sub` against the officer's `identity_subject` (the default: subjects never
    /// change, e-mail addresses do).
    #[default]
    Subject,
    /// The token's `email` (with `email_verified` true) against the officer's work e-mail.
    Email,
}

impl MatchClaim {
    /// Parses the `oidc_match_claim` setting: `sub` or `email`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sub" => Some(MatchClaim::Subject),
            "email" => Some(MatchClaim::Email),
            _ => None,
        }
    }
}

/// The identity provider this server trusts.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL, exactly as its tokens' `iss` (e.g.
    /// `https://login.microsoftonline.com/{tenant}/v2.0`); discovery is read from
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The audience the provider puts in tokens for CityServe (the application's client ID, or
    /// its API identifier URI).
    pub audience: String,
    /// Which claim names the officer.
    pub match_claim: MatchClaim,
    /// The shortest time between two fetches of the JWKS for an unknown `kid`.
    pub refresh_interval: Duration,
}

/// [`OidcConfig::refresh_interval`] unless configured.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How long a request to the provider may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The provider's signing keys, by `kid`.
pub struct ProviderKeys {
    config: OidcConfig,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, (Algorithm, DecodingKey)>>,
    /// When the JWKS was last fetched (or tried) for an unknown `kid`, for the rate limit; held
    /// across every fetch so concurrent tokens with a new `kid` fetch once.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<String> = self.keys.read().map(|k| k.keys().cloned().collect()).unwrap_or_default();
        f.debug_struct("ProviderKeys").field("issuer", &self.config.issuer).field("kids", &kids).finish()
    }
}

impl ProviderKeys {
    /// A key set for `config`, empty until the first token (or [`ProviderKeys::refresh`]).
    pub fn new(config: OidcConfig) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(|e| AuthError::Config(format!("identity provider client: {e}")))?;
        Ok(Self { config, http, keys: RwLock::new(HashMap::new()), fetched: tokio::sync::Mutex::new(None) })
    }

    /// The configuration.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The key `kid` names, fetching the JWKS again if it is unknown and the last fetch is older
    /// than the refresh interval.
    pub async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), AuthError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        {
            let mut fetched = self.fetched.lock().await;
            // Another token may have fetched while this one waited.
            if let Some(k) = self.cached(kid) {
                return Ok(k);
            }
            if fetched.is_some_and(|at| at.elapsed() < self.config.refresh_interval) {
                return Err(AuthError::Invalid("signed with a key the identity provider does not publish".into()));
            }
            *fetched = Some(Instant::now());
            self.fetch().await?;
        }
        self.cached(kid)
            .ok_or_else(|| AuthError::Invalid("signed with a key the identity provider does not publish".into()))
    }

    /// Fetches discovery and the JWKS now (at start-up, so the first sign-in does not wait). Not
    /// counted against the refresh interval, which limits fetches for unknown `kid`s only.
    pub async fn refresh(&self) -> Result<usize, AuthError> {
        let _one_at_a_time = self.fetched.lock().await;
        self.fetch().await
    }

    /// Puts a key in the cache as if the JWKS had published it (unit tests).
    #[cfg(test)]
    pub(crate) fn insert(&self, kid: &str, alg: Algorithm, key: DecodingKey) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(kid.to_owned(), (alg, key));
        }
    }

    fn cached(&self, kid: &str) -> Option<(Algorithm, DecodingKey)> {
        self.keys.read().ok()?.get(kid).cloned()
    }

    /// Reads discovery, then the JWKS it points to, and replaces the cached keys with the
    /// signing keys found (RS256 and ES256 on P-256; others are skipped). Returns how many.
    async fn fetch(&self) -> Result<usize, AuthError> {
        let issuer = self.config.issuer.trim_end_matches('/');
        let discovery: serde_json::Value = self.get_json(&format!("{issuer}/.well-known/openid-configuration")).await?;
        if discovery.get("issuer").and_then(|v| v.as_str()) != Some(self.config.issuer.as_str()) {
            return Err(AuthError::Config("the provider's discovery document names another issuer".into()));
        }
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| AuthError::Config("the provider's discovery document has no jwks_uri".into()))?
            .to_owned();
        let set: JwkSet = serde_json::from_value(self.get_json(&jwks_uri).await?)
            .map_err(|e| AuthError::Config(format!("the provider's JWKS is unreadable: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = &jwk.common.key_id else { continue };
            if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
                continue;
            }
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::RS256), AlgorithmParameters::RSA(_)) | (None, AlgorithmParameters::RSA(_)) => {
                    Algorithm::RS256
                }
                (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(p))
                | (None, AlgorithmParameters::EllipticCurve(p))
                    if p.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid.clone(), (alg, key));
                }
                Err(e) => tracing::warn!(kid = %kid, error = %e, "identity provider key skipped"),
            }
        }
        let n = keys.len();
        tracing::info!(issuer = %self.config.issuer, keys = n, "identity provider keys fetched");
        if let Ok(mut cached) = self.keys.write() {
            *cached = keys;
        }
        Ok(n)
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, AuthError> {
        let unavailable = |e: &dyn std::fmt::Display| AuthError::Unavailable(format!("identity provider: {e}"));
        let response = self.http.get(url).send().await.map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(unavailable(&format!("{url} answered {}", response.status())));
        }
        let body = response.bytes().await.map_err(|e| unavailable(&e))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(AuthError::Config(format!("{url}: document over {MAX_DOCUMENT_BYTES} bytes")));
        }
        serde_json::from_slice(&body).map_err(|e| AuthError::Config(format!("{url}: not JSON: {e}")))
    }
}

/// Maps a verified provider user to the officer they are, with the role they hold now.
pub type SignInFn = Arc<dyn Fn(SignIn) -> futures::future::BoxFuture<'static, Result<Caller, AuthError>> + Send + Sync>;

/// Sign-ins remembered: the caller, when looked up, under which standing generation.
type SignIns = HashMap<SignIn, (Caller, Instant, u64)>;

/// A [`SignInFn`] reading `store`: the officer the claim names ([`OfficerStore::signing_in`]) and
/// what they hold ([`OfficerStore::standing`]), remembered like standings: for the standing TTL,
/// and forgotten at once when officers or appointments change through this server
/// ([`StandingCache::generation`]).
pub fn store_sign_in<S: OfficerStore>(store: S, standings: StandingCache) -> SignInFn {
    let remembered: Arc<Mutex<SignIns>> = Arc::default();
    Arc::new(move |who: SignIn| {
        let (store, remembered, standings) = (store.clone(), remembered.clone(), standings.clone());
        Box::pin(async move {
            let generation = standings.generation();
            if let Ok(r) = remembered.lock()
                && let Some((caller, at, g)) = r.get(&who)
                && at.elapsed() < standings.ttl()
                && *g == generation
            {
                return Ok(caller.clone());
            }
            let at = Instant::now();
            let (_, scope) = policy::sign_in_scope();
            let unavailable = |e: cityserve_store::StoreError| AuthError::Unavailable(e.to_string());
            let not_an_officer =
                || AuthError::Invalid("the identity provider's user is no active officer or service account".into());
            let caller = match store.signing_in(&scope, &who).await.map_err(unavailable)? {
                Some(officer) => {
                    let standing = store.standing(&scope, officer.as_str()).await.map_err(unavailable)?;
                    let (role, departments) = role_held(&standing).ok_or_else(not_an_officer)?;
                    Caller { subject: officer.as_str().to_owned(), role, departments }
                }
                // No officer: an application's client-credentials token, if a service account
                // carries its subject; it acts for the account's departments.
                None => {
                    let client = match &who {
                        SignIn::Subject(s) | SignIn::Client(s) => s.as_str(),
                        SignIn::Email(_) => "",
                    };
                    let account = store
                        .service_account_of_client(&scope, client)
                        .await
                        .map_err(unavailable)?
                        .ok_or_else(not_an_officer)?;
                    Caller {
                        subject: account.id.as_str().to_owned(),
                        role: Role::Service,
                        departments: account.departments,
                    }
                }
            };
            if let Ok(mut r) = remembered.lock()
                && standings.generation() == generation
                && !standings.ttl().is_zero()
            {
                // Bounded: a city's staff, not an attacker's list of subjects (unknown ones are
                // refused above and never remembered).
                if r.len() >= 100_000 {
                    r.clear();
                }
                r.insert(who, (caller.clone(), at, generation));
            }
            Ok(caller)
        })
    })
}
