//! CityServe's gRPC layer: authentication, the service implementations, and the single place
//! where errors become `tonic::Status`.
//!
//! Each handler follows the same path, through the handler kit (`kit`): note the call for the
//! audit of a refusal, take the [`Caller`](cityserve_domain::Caller) the auth layer put into the
//! request, parse resource names, ask the domain policy for a tenant scope, validate the body,
//! call the store, encode the response.

#[macro_use]
mod kit;

pub mod api_keys;
pub mod audit;
mod calendar;
mod convert;
pub mod coordination;
pub mod cso_work;
pub mod departments;
pub mod error;
pub mod feedback;
pub mod layers;
mod names;
pub mod officers;
#[cfg(test)]
mod proptests;
pub mod service_accounts;
mod trace;

pub use api_keys::{ApiKeysApi, KeyDeriver, KeyRefused};
pub use audit::AuditApi;
pub use coordination::CoordinationApi;
pub use cso_work::{CsoWorkApi, CsoWorkStore};
pub use departments::DepartmentsApi;
pub use error::ApiError;
pub use feedback::FeedbackApi;
pub use layers::auth::{
    Audience, AuthConfig, Authenticator, Claims, DEFAULT_LEEWAY as DEFAULT_JWT_LEEWAY,
    DEFAULT_MAX_LIFETIME as DEFAULT_JWT_MAX_LIFETIME, mint_token,
};
pub use layers::oidc::{DEFAULT_REFRESH_INTERVAL as DEFAULT_OIDC_REFRESH_INTERVAL, MatchClaim, OidcConfig};
pub use layers::standing::{HomeDepartment, verify_standing};
pub use layers::{
    AuditLayer, AuthLayer, ConcurrencyLimitLayer, DeadlineLayer, DecodeErrorLayer, PageKeyLayer, PrefaceDeadline,
    StackSettings, StandingLayer, TenantRateLimitLayer, stack,
};
pub use officers::OfficersApi;
pub use service_accounts::ServiceAccountsApi;
