//! `cityserve.v1.ApiKeyService`: API keys of Open311 clients, and their verification.
//!
//! A key is `{id}.{secret}`. The secret is derived from the key ID with a server-side HMAC secret,
//! so a retried CreateApiKey can hand out the same key again, while the database holds only the
//! SHA-256 of the secret: a copy of the database does not reveal any key.
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{ctx, generated_id, idempotency, list_scope, next_page_token, page};
use crate::layers::standing::HomeDepartment;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cityserve_domain::validation::required_text;
use cityserve_domain::{Action, AuditAction, Caller, DepartmentId, ValidationError};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::api_key_service_server::ApiKeyService;
use cityserve_store::open311::{ApiKey, Open311Store};
use cityserve_store::resource;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

/// Derives keys' secrets from their IDs. Every replica must use the same secret.
#[derive(Clone)]
pub struct KeyDeriver {
    secret: Vec<u8>,
}

impl std::fmt::Debug for KeyDeriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyDeriver(..)")
    }
}

/// Why a presented key was refused. The gateway answers each with 403 and the same message, so
/// a caller cannot tell a wrong secret from a revoked key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefused {
    /// Not of the form `{id}.{secret}`, unknown, or the secret does not match.
    Invalid,
    /// The key was revoked.
    Revoked,
    /// The database could not be asked.
    Unavailable,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyDeriver {
    /// A deriver with `secret` (at least 32 bytes, from the server's secret store).
    pub fn new(secret: &[u8]) -> Self {
        Self { secret: secret.to_vec() }
    }

    fn secret_of(&self, id: &str) -> String {
        // HMAC accepts keys of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.secret) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(b"cityserve open311 api key v1\0");
        mac.update(id.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The key handed to the client for key `id`.
    pub fn key_for(&self, id: &str) -> String {
        format!("{id}.{}", self.secret_of(id))
    }

    /// The stored hash of key `id`'s secret.
    pub fn hash_for(&self, id: &str) -> String {
        hex(&Sha256::digest(self.secret_of(id).as_bytes()))
    }

    /// Checks a presented key against the store: returns the key's record if it is valid.
    pub async fn verify<S: Open311Store>(&self, store: &S, presented: &str) -> Result<ApiKey, KeyRefused> {
        let Some((id, secret)) = presented.trim().split_once('.') else { return Err(KeyRefused::Invalid) };
        if id.is_empty() || id.len() > 64 || secret.is_empty() || secret.len() > 128 {
            return Err(KeyRefused::Invalid);
        }
        let (_, scope) = cityserve_domain::policy::gateway_read_scope();
        let key = match store.get_api_key(&scope, id).await {
            Ok(k) => k,
            Err(cityserve_store::StoreError::NotFound) => return Err(KeyRefused::Invalid),
            Err(_) => return Err(KeyRefused::Unavailable),
        };
        let presented_hash = hex(&Sha256::digest(secret.as_bytes()));
        // Constant-time comparison of the two hashes.
        let same = presented_hash.len() == key.key_hash.len()
            && presented_hash.bytes().zip(key.key_hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if !same {
            return Err(KeyRefused::Invalid);
        }
        if key.revoke_time.is_some() {
            return Err(KeyRefused::Revoked);
        }
        Ok(key)
    }
}

/// The ApiKeyService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct ApiKeysApi<S> {
    store: S,
    keys: KeyDeriver,
}

fn key_to_pb(k: &ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        name: resource::api_key(&k.id),
        client_name: k.client_name.clone(),
        creator: k.created_by.clone(),
        create_time: Some(timestamp(k.create_time)),
        revoker: k.revoked_by.clone().unwrap_or_default(),
        revoke_time: k.revoke_time.map(timestamp),
    }
}

pub(crate) fn key_id(field: &str, name: &str) -> Result<String, ValidationError> {
    let id = name.strip_prefix("apiKeys/").unwrap_or_default();
    cityserve_domain::ids::check_slug(field, id)
        .map_err(|_| ValidationError::one(field, "must have the form apiKeys/{api_key}"))?;
    Ok(id.to_owned())
}

impl<S: Open311Store> ApiKeysApi<S> {
    /// A service backed by `store`, deriving keys with `keys`.
    pub fn new(store: S, keys: KeyDeriver) -> Self {
        Self { store, keys }
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::api_key_service_server::ApiKeyServiceServer<Self> {
        pb::api_key_service_server::ApiKeyServiceServer::new(self)
    }

    fn home(caller: &Caller, home: Option<DepartmentId>) -> Result<DepartmentId, ApiError> {
        // The Chief's home department holds the audit trail of city-wide keys.
        home.or_else(|| caller.departments.first().cloned())
            .ok_or_else(|| ApiError::FailedPrecondition("the caller has no home department to audit in".into()))
    }

    async fn create(
        &self,
        caller: Caller,
        home: Option<DepartmentId>,
        r: pb::CreateApiKeyRequest,
    ) -> Result<pb::CreateApiKeyResponse, ApiError> {
        let body = r.api_key.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let client = errors.check(required_text("api_key.client_name", &body.client_name, 100));
        let idem = errors
            .check(idempotency(&r.request_id, &pb::CreateApiKeyRequest { request_id: String::new(), ..r.clone() }));
        errors.into_result()?;
        let (Some(client_name), Some(idem)) = (client, idem) else {
            return Err(ValidationError::one("api_key", "is invalid").into());
        };
        let scope = list_scope(&caller, Action::ManageApiKeys, None, "apiKeys")?;
        let home = Self::home(&caller, home)?;
        let id = generated_id("k");
        let key = ApiKey {
            key_hash: self.keys.hash_for(&id),
            id,
            client_name,
            created_by: caller.subject.clone(),
            create_time: cityserve_store::now_micros(),
            revoked_by: None,
            revoke_time: None,
        };
        let stored = self
            .store
            .create_api_key(&ctx(&scope, &caller, AuditAction::ApiKeyManage), &idem, &home, &key)
            .await
            .map_err(|e| ApiError::from_store(e, "api key"))?;
        Ok(pb::CreateApiKeyResponse { key: self.keys.key_for(&stored.id), api_key: Some(key_to_pb(&stored)) })
    }

    async fn get(&self, caller: Caller, name: &str) -> Result<ApiKey, ApiError> {
        let id = key_id("name", name)?;
        let scope = list_scope(&caller, Action::ReadApiKeys, None, name)?;
        self.store.get_api_key(&scope, &id).await.map_err(|e| ApiError::from_store(e, name))
    }

    async fn list(&self, caller: Caller, r: pb::ListApiKeysRequest) -> Result<pb::ListApiKeysResponse, ApiError> {
        let page = page(r.page_size, &r.page_token, "api_keys")?;
        let scope = list_scope(&caller, Action::ReadApiKeys, None, "apiKeys")?;
        let p = self.store.list_api_keys(&scope, &page).await.map_err(|e| ApiError::from_store(e, "apiKeys"))?;
        Ok(pb::ListApiKeysResponse {
            api_keys: p.items.iter().map(key_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, "api_keys"),
        })
    }

    async fn revoke(&self, caller: Caller, home: Option<DepartmentId>, name: &str) -> Result<ApiKey, ApiError> {
        let id = key_id("name", name)?;
        let scope = list_scope(&caller, Action::ManageApiKeys, None, name)?;
        let home = Self::home(&caller, home)?;
        self.store
            .revoke_api_key(&ctx(&scope, &caller, AuditAction::ApiKeyManage), &home, &id)
            .await
            .map_err(|e| ApiError::from_store(e, name))
    }
}

#[tonic::async_trait]
impl<S: Open311Store> ApiKeyService for ApiKeysApi<S> {
    async fn create_api_key(
        &self,
        req: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.create(c, home, r), |x| x)
    }

    async fn get_api_key(&self, req: Request<pb::GetApiKeyRequest>) -> Result<Response<pb::GetApiKeyResponse>, Status> {
        handle!(req, |c, r| async move { self.get(c, &r.name).await }, |k: ApiKey| pb::GetApiKeyResponse {
            api_key: Some(key_to_pb(&k))
        })
    }

    async fn list_api_keys(
        &self,
        req: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        handle!(req, |c, r| self.list(c, r), |x| x)
    }

    async fn revoke_api_key(
        &self,
        req: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| async move { self.revoke(c, home, &r.name).await }, |k: ApiKey| {
            pb::RevokeApiKeyResponse { api_key: Some(key_to_pb(&k)) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_and_only_their_hash_is_kept() {
        let d = KeyDeriver::new(&[7u8; 32]);
        let key = d.key_for("k-1");
        assert!(key.starts_with("k-1."));
        assert_eq!(key, d.key_for("k-1"), "a retry hands out the same key");
        assert_ne!(key, d.key_for("k-2"));
        assert_ne!(key, KeyDeriver::new(&[8u8; 32]).key_for("k-1"));
        let secret = key.split_once('.').unwrap().1;
        assert_eq!(d.hash_for("k-1"), hex(&Sha256::digest(secret.as_bytes())));
        assert!(!d.hash_for("k-1").contains(secret));
    }
}
