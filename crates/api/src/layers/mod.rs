//! The tower layers in front of the gRPC services, and [`stack`], the one place that orders them.
//!
//! From the outside in (a request passes them top to bottom, its response bottom to top):
//!
//! | Layer | Why here |
//! | --- | --- |
//! | RPC telemetry | outermost: the span and metrics see every call and its final code, including every refusal below |
//! | CORS (when configured) | browsers' preflights are answered before anything else looks at them |
//! | gRPC-Web | translates browser calls; everything below speaks plain gRPC, so its refusals reach browsers too |
//! | [`DeadlineLayer`] | bounds the whole call (the shorter of `request_timeout` and the client's `grpc-timeout`) with `DEADLINE_EXCEEDED` |
//! | [`ConcurrencyLimitLayer`] | sheds load (`UNAVAILABLE` + `retry-after`) before any work is done, authentication included |
//! | [`AuthLayer`] | verifies the token and attaches the `Caller` (an identity provider's user signed in as the officer they are); everything below knows who calls |
//! | [`TenantRateLimitLayer`] | per tenant of the verified caller (`RESOURCE_EXHAUSTED` + `retry-after`), so needs the caller |
//! | the database gate (the server's) | while the database is not ready, `cityserve.v1` calls answer `UNAVAILABLE` |
//! | [`AuditLayer`] | records refusals of audited calls by a verified caller; below the gate so its rows can be written, above the standing check so a caller refused for standing is recorded too |
//! | [`PageKeyLayer`] | gives the handler kit the page-token key and the RPC, so tokens are bound to both |
//! | [`StandingLayer`] | "roles follow appointments": the token's role must still be held by its subject |
//! | [`DecodeErrorLayer`] | innermost, so every layer above (audit, telemetry) sees undecodable bodies as `INVALID_ARGUMENT` rather than tonic's `INTERNAL` |
pub mod audit;
pub mod auth;
pub mod concurrency;
pub mod deadline;
pub mod decode_errors;
pub mod limits;
pub mod oidc;
pub mod page_keys;
pub mod preface;
pub mod standing;
pub mod tenant_rate;
pub mod verified_tokens;

pub use audit::AuditLayer;
pub use auth::AuthLayer;
pub use concurrency::ConcurrencyLimitLayer;
pub use deadline::DeadlineLayer;
pub use decode_errors::DecodeErrorLayer;
pub use page_keys::PageKeyLayer;
pub use preface::PrefaceDeadline;
pub use standing::StandingLayer;
pub use tenant_rate::TenantRateLimitLayer;

use crate::layers::auth::Authenticator;
use cityserve_domain::PageKey;
use cityserve_store::{AuditStore, OfficerStore};
use cityserve_telemetry::RpcTelemetryLayer;
use std::time::Duration;
use tower::layer::util::{Identity, Stack};
use tower::util::Either;
use tower_http::cors::CorsLayer;

/// What the layer stack takes from the server's configuration.
pub struct StackSettings {
    /// The longest any call may take.
    pub request_timeout: Duration,
    /// Calls in flight before new ones are shed.
    pub max_concurrent_requests: usize,
    /// Requests per second per tenant (burst twice that); 0 disables the limit.
    pub tenant_requests_per_second: u32,
    /// How long a verified standing is remembered.
    pub standing_cache_ttl: Duration,
    /// CORS for browser apps, when any origin is allowed.
    pub cors: Option<CorsLayer>,
    /// The key page tokens are authenticated with.
    pub page_key: PageKey,
}

/// The layer stack [`stack`] builds, outermost last in the type (as `tower::ServiceBuilder`
/// nests them).
pub type Layers<S, G> = Stack<
    DecodeErrorLayer,
    Stack<
        StandingLayer<S>,
        Stack<
            PageKeyLayer,
            Stack<
                AuditLayer<S>,
                Stack<
                    G,
                    Stack<
                        TenantRateLimitLayer,
                        Stack<
                            AuthLayer,
                            Stack<
                                ConcurrencyLimitLayer,
                                Stack<
                                    DeadlineLayer,
                                    Stack<
                                        tonic_web::GrpcWebLayer,
                                        Stack<Either<CorsLayer, Identity>, Stack<RpcTelemetryLayer, Identity>>,
                                    >,
                                >,
                            >,
                        >,
                    >,
                >,
            >,
        >,
    >,
>;

/// Builds the layers in front of the gRPC services, in the order (and for the reasons) the
/// module documentation gives. `gate` is the server's database gate.
pub fn stack<S: AuditStore + OfficerStore + Clone, G>(
    settings: StackSettings,
    authenticator: Authenticator,
    store: S,
    gate: G,
) -> Layers<S, G> {
    let standings = standing::StandingCache::new(settings.standing_cache_ttl);
    tower::ServiceBuilder::new()
        .layer(RpcTelemetryLayer::new())
        .option_layer(settings.cors)
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(DeadlineLayer::new(settings.request_timeout))
        .layer(ConcurrencyLimitLayer::new(settings.max_concurrent_requests))
        .layer(AuthLayer::new(authenticator).with_sign_in(oidc::store_sign_in(store.clone(), standings.clone())))
        .layer(TenantRateLimitLayer::new(settings.tenant_requests_per_second))
        .layer(gate)
        .layer(AuditLayer::new(store.clone()))
        .layer(PageKeyLayer::new(settings.page_key))
        .layer(StandingLayer::with_cache(store, standings))
        .layer(DecodeErrorLayer)
        .into_inner()
}
