//! Per-request helpers shared by every service: who is calling, idempotency keys, trace ids.
use crate::error::ApiError;
use cityserve_domain::{Caller, ValidationError};
use cityserve_store::Idempotency;
use sha2::{Digest, Sha256};

/// The caller the auth layer attached. Missing only if the layer was not installed, which is a
/// wiring bug, so it answers UNAUTHENTICATED rather than trusting anything.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, ApiError> {
    req.extensions().get::<Caller>().cloned().ok_or_else(|| ApiError::Unauthenticated("no credentials".into()))
}

/// Validates a `request_id` and fingerprints the request it came with. `without_id` must be the
/// request message with `request_id` cleared, so a retry with the same body matches.
pub fn idempotency<M: prost::Message>(request_id: &str, without_id: &M) -> Result<Idempotency, ValidationError> {
    let id = request_id.trim();
    if id.is_empty() {
        return Err(ValidationError::one("request_id", "is required: send a unique ID (e.g. a UUID) per create"));
    }
    if id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValidationError::one("request_id", "must be 1-128 printable ASCII characters"));
    }
    let hash = Sha256::digest(without_id.encode_to_vec());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Ok(Idempotency { request_id: id.to_owned(), request_hash: hex })
}

/// The current request's trace id, for audit records: the RPC span's, else the one the request
/// arrived with in `traceparent` (when no OpenTelemetry subscriber is installed).
pub fn trace_id() -> Option<String> {
    cityserve_telemetry::current_trace_id().or_else(crate::audit::incoming_trace_id)
}

/// Records the tenant on the RPC span.
pub fn record_tenant(tenant: &str) {
    tracing::Span::current().record("tenant", tenant);
}
