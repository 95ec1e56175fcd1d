//! The tower layers in front of the gRPC services.
pub mod audit;
pub mod auth;
pub mod decode_errors;
pub mod limits;
pub mod page_keys;
pub mod standing;

pub use audit::AuditLayer;
pub use auth::AuthLayer;
pub use decode_errors::DecodeErrorLayer;
pub use limits::{ConcurrencyLimitLayer, DeadlineLayer, PrefaceDeadline, TenantRateLimitLayer};
pub use page_keys::PageKeyLayer;
pub use standing::StandingLayer;
