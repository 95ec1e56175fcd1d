//! CityServe's gRPC layer: authentication, the service implementations, and the single place
//! where errors become `tonic::Status`.
//!
//! Each handler follows the same path: take the [`Caller`](cityserve_domain::Caller) the auth
//! layer put into the request, parse resource names, ask the domain policy for a tenant scope,
//! validate the body, call the store, encode the response.

/// Wraps a handler body: takes the caller the auth layer attached, runs `$body`, and maps its
/// error to `Status` in one place. Shared by every service module below.
macro_rules! handle {
    ($req:ident, |$caller:ident, $r:ident| $body:expr, $wrap:expr) => {{
        let $caller = $crate::request::caller(&$req)?;
        let $r = $req.into_inner();
        match $body.await {
            Ok(v) => Ok(tonic::Response::new($wrap(v))),
            Err(e) => Err(tonic::Status::from(e)),
        }
    }};
}

pub mod api_keys;
pub mod auth;
mod convert;
pub mod coordination;
pub mod departments;
pub mod error;
pub mod feedback;
mod names;
pub mod officers;
mod request;
pub mod standing;

pub use api_keys::{ApiKeysApi, KeyDeriver, KeyRefused};
pub use auth::{AuthConfig, AuthLayer, Authenticator, Claims, mint_token};
pub use coordination::CoordinationApi;
pub use departments::DepartmentsApi;
pub use error::ApiError;
pub use feedback::FeedbackApi;
pub use officers::OfficersApi;
pub use standing::{HomeDepartment, StandingLayer, verify_standing};
