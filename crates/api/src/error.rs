//! The API's error type and its mapping to gRPC status codes: the one place errors become
//! `tonic::Status`.
use cityserve_domain::{Denied, DomainError, ValidationError};
use cityserve_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Why an API call failed, in terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Bad input; every offending field is named.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No valid credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The caller can see the resource but its role may not do this.
    #[error("the caller's role may not perform this operation")]
    PermissionDenied,
    /// Missing, or belongs to a tenant the caller cannot see (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The `request_id` was used for a different request.
    #[error("request_id was already used for a different request")]
    IdempotencyMismatch,
    /// The etag is stale.
    #[error("the resource was changed since it was read: read it again and retry with the new etag")]
    Aborted,
    /// A concurrent change won; the message says what to re-read.
    #[error("{0}")]
    Contended(String),
    /// Not allowed in the resource's current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency (the database) is unavailable; retry later.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or an unexpected database state; details go to the log only.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Maps a store error, naming the resource for NOT_FOUND / ALREADY_EXISTS messages.
    pub fn from_store(err: StoreError, resource: &str) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound(resource.to_owned()),
            StoreError::AlreadyExists => ApiError::AlreadyExists(resource.to_owned()),
            StoreError::IdempotencyMismatch => ApiError::IdempotencyMismatch,
            StoreError::Conflict => ApiError::Aborted,
            StoreError::Contended(m) => ApiError::Contended(m),
            StoreError::FailedPrecondition(m) => ApiError::FailedPrecondition(m),
            StoreError::Invalid(e) => ApiError::Invalid(e),
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Internal(detail) => {
                tracing::error!(error = %detail, "store failure");
                ApiError::Internal
            }
        }
    }

    /// Maps a policy denial; `resource` names what was asked for (for NOT_FOUND).
    pub fn from_denied(denied: Denied, resource: &str) -> Self {
        match denied {
            Denied::NotFound => ApiError::NotFound(resource.to_owned()),
            Denied::PermissionDenied => ApiError::PermissionDenied,
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(v) => ApiError::Invalid(v),
            DomainError::FailedPrecondition(m) => ApiError::FailedPrecondition(m),
        }
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Status {
        let message = err.to_string();
        match err {
            ApiError::Invalid(v) => {
                let violations: Vec<FieldViolation> =
                    v.violations.iter().map(|f| FieldViolation::new(f.field.clone(), f.description.clone())).collect();
                Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(violations))
            }
            ApiError::Unauthenticated(_) => Status::unauthenticated(message),
            ApiError::PermissionDenied => Status::permission_denied(message),
            ApiError::NotFound(_) => Status::not_found(message),
            ApiError::AlreadyExists(_) => Status::already_exists(message),
            ApiError::IdempotencyMismatch => Status::already_exists(message),
            ApiError::Aborted | ApiError::Contended(_) => Status::aborted(message),
            ApiError::FailedPrecondition(_) => Status::failed_precondition(message),
            ApiError::Unavailable => Status::unavailable(message),
            ApiError::Internal => Status::internal(message),
        }
    }
}

impl ApiError {
    /// This refusal as a `google.rpc.Status` message, exactly as it would travel in the
    /// `grpc-status-details-bin` trailer: what an item-by-item batch answers in an item's place.
    pub fn into_rpc_status(self) -> tonic_types::pb::Status {
        let status = Status::from(self);
        match <tonic_types::pb::Status as prost::Message>::decode(status.details()) {
            Ok(rich) if !status.details().is_empty() => rich,
            _ => tonic_types::pb::Status {
                code: status.code() as i32,
                message: status.message().to_owned(),
                details: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn validation_errors_carry_bad_request_details() {
        let status: Status = ApiError::Invalid(ValidationError::one("department.display_name", "is required")).into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("department.display_name"));
        let details = status.get_error_details();
        let bad = details.bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "department.display_name");
    }

    #[test]
    fn store_errors_map_to_canonical_codes() {
        let code = |e| Status::from(ApiError::from_store(e, "department 'x'")).code();
        assert_eq!(code(StoreError::NotFound), Code::NotFound);
        assert_eq!(code(StoreError::AlreadyExists), Code::AlreadyExists);
        assert_eq!(code(StoreError::Conflict), Code::Aborted);
        assert_eq!(code(StoreError::Unavailable("down".into())), Code::Unavailable);
        let internal = Status::from(ApiError::from_store(StoreError::Internal("secret detail".into()), "x"));
        assert_eq!(internal.code(), Code::Internal);
        assert!(!internal.message().contains("secret"), "details stay in the log");
    }
}
