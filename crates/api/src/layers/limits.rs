//! What the overload-protection layers share (which paths are exempt, how a refusal looks), and
//! what they are: tower layers in front of the gRPC router, plus a guard for connections
//! that never start talking:
//!
//! - [`DeadlineLayer`](super::DeadlineLayer): every call ends by the shorter of the server's `request_timeout` and the
//!   client's `grpc-timeout`, answering `DEADLINE_EXCEEDED` (tonic's own `Server::timeout`
//!   answers `CANCELLED "Timeout expired"`, which clients do not treat as a deadline).
//! - [`ConcurrencyLimitLayer`](super::ConcurrencyLimitLayer): at most `max` calls in flight across all connections; the next one
//!   is answered at once with `UNAVAILABLE` and `retry-after` metadata instead of queueing.
//! - [`TenantRateLimitLayer`](super::TenantRateLimitLayer): a token bucket per tenant (each department of the authenticated
//!   caller; city-wide roles by subject); an empty bucket answers `RESOURCE_EXHAUSTED` with
//!   `retry-after`.
//! - [`PrefaceDeadline`](super::PrefaceDeadline): closes a connection that has not sent its first bytes in time.
//!
//! Health checks and reflection are never shed or rate limited, so probes keep answering while
//! the server sheds load. Rejections are trailers-only gRPC responses (HTTP 200, `grpc-status`
//! and `grpc-message` in the headers), so they also pass through the gRPC-Web translation when
//! these layers sit after `GrpcWebLayer`.
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Paths that are never shed or rate limited: health probes and reflection.
pub fn exempt(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.")
}

/// A trailers-only rejection carrying `retry-after: <seconds>` metadata.
pub(super) fn reject<B: Default>(code: Code, message: String, retry_after_secs: u64) -> http::Response<B> {
    let mut metadata = MetadataMap::new();
    metadata.insert("retry-after", MetadataValue::from(retry_after_secs.max(1)));
    Status::with_metadata(code, message, metadata).into_http()
}

/// Helpers for the layers' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]
    use cityserve_domain::{Caller, DepartmentId, Role};
    use std::convert::Infallible;

    pub(crate) type Res = http::Response<()>;

    pub(crate) fn request(path: &str, caller: Option<Caller>) -> http::Request<()> {
        let mut req = http::Request::builder().uri(path).body(()).unwrap();
        if let Some(c) = caller {
            req.extensions_mut().insert(c);
        }
        req
    }

    pub(crate) fn code(res: &Res) -> Option<i32> {
        res.headers().get("grpc-status").map(|v| v.to_str().unwrap().parse().unwrap())
    }

    pub(crate) fn retry_after(res: &Res) -> Option<u64> {
        res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap())
    }

    pub(crate) fn ok()
    -> impl tower::Service<http::Request<()>, Response = Res, Error = Infallible, Future: Send + 'static> + Clone {
        tower::service_fn(|_req: http::Request<()>| async { Ok::<_, Infallible>(http::Response::new(())) })
    }

    pub(crate) fn cso(dept: &str) -> Caller {
        Caller {
            subject: format!("cso-{dept}"),
            role: Role::Cso,
            departments: vec![DepartmentId::parse("d", dept).unwrap()],
        }
    }

    pub(crate) fn chief(subject: &str) -> Caller {
        Caller { subject: subject.into(), role: Role::Chief, departments: vec![] }
    }
}
