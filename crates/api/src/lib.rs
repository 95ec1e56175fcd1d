//! CityServe's gRPC layer: authentication, the service implementations, and the single place
//! where errors become `tonic::Status`.
//!
//! Each handler follows the same path: take the [`Caller`](cityserve_domain::Caller) the auth
//! layer put into the request, parse resource names, ask the domain policy for a tenant scope,
//! validate the body, call the store, encode the response.

/// Wraps a handler body: takes the caller the auth layer attached, runs `$body`, and maps its
/// error to `Status` in one place. Shared by every service module below. For audited RPCs it
/// first notes the caller and the named resource, in case the request is refused
/// ([`audit::AuditLayer`]).
macro_rules! handle {
    ($req:ident, |$caller:ident, $r:ident| $body:expr, $wrap:expr) => {{
        $crate::audit::note(&$req);
        let $caller = $crate::request::caller(&$req)?;
        let $r = $req.into_inner();
        match $body.await {
            Ok(v) => Ok(tonic::Response::new($wrap(v))),
            Err(e) => Err(tonic::Status::from(e)),
        }
    }};
}

pub mod api_keys;
pub mod audit;
pub mod auth;
mod convert;
pub mod coordination;
pub mod decode_errors;
pub mod departments;
pub mod error;
pub mod feedback;
pub mod limits;
mod names;
pub mod officers;
#[cfg(test)]
mod proptests;
mod request;
pub mod standing;

pub use api_keys::{ApiKeysApi, KeyDeriver, KeyRefused};
pub use audit::{AuditApi, AuditLayer};
pub use auth::{AuthConfig, AuthLayer, Authenticator, Claims, mint_token};
pub use coordination::CoordinationApi;
pub use decode_errors::DecodeErrorLayer;
pub use departments::DepartmentsApi;
pub use error::ApiError;
pub use feedback::FeedbackApi;
pub use limits::{ConcurrencyLimitLayer, DeadlineLayer, PrefaceDeadline, TenantRateLimitLayer};
pub use officers::OfficersApi;
pub use standing::{HomeDepartment, StandingLayer, verify_standing};
