//! `DEADLINE_EXCEEDED` by the shorter of the server's `request_timeout` and the client's
//! `grpc-timeout` (tonic's own `Server::timeout` answers `CANCELLED`, which clients do not treat as
//! a deadline).
use futures::future::BoxFuture;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Status;

/// Ends each call after the shorter of `max` and the client's `grpc-timeout` with
/// `DEADLINE_EXCEEDED`. The deadline covers reading the request and producing the response
/// headers; for a server-streaming call (Watch) that is the set-up, not the open stream.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    /// A layer bounding every call by `max` (and by the client's shorter `grpc-timeout`).
    pub fn new(max: Duration) -> Self {
        Self { max }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService { inner, max: self.max }
    }
}

/// The service produced by [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct DeadlineService<S> {
    inner: S,
    max: Duration,
}

/// How much sooner than the client's `grpc-timeout` this layer ends a call. tonic's own timer
/// for the same header wraps the whole service stack, so it starts before this layer's (by the
/// time the request takes to reach it) and, on a busy server, can fire a timer tick sooner,
/// answering `CANCELLED` instead of `DEADLINE_EXCEEDED`. A tenth of the deadline, at most 10 ms,
/// keeps this layer's answer first.
fn ahead_of_tonic(client: Duration) -> Duration {
    (client / 10).min(Duration::from_millis(10))
}

/// Parses a `grpc-timeout` value (`1-8 digits` + `H`/`M`/`S`/`m`/`u`/`n`); `None` if malformed.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for DeadlineService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let client = req.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_grpc_timeout);
        let (limit, whose) = match client {
            Some(c) if c < self.max => (c.saturating_sub(ahead_of_tonic(c)), "client deadline (grpc-timeout)"),
            _ => (self.max, "server request timeout"),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(limit, fut).await {
                Ok(result) => result,
                Err(_) => Ok(Status::deadline_exceeded(format!("{whose} of {limit:?} exceeded")).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::layers::limits::testing::*;
    use std::convert::Infallible;
    use tokio::time::Instant;
    use tonic::Code;
    use tower::{Layer, ServiceExt};

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "m", "123456789S", "12x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_takes_the_shorter_of_client_and_server() {
        let slow = tower::service_fn(|_req: http::Request<()>| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, Infallible>(http::Response::new(()))
        });
        let svc = DeadlineLayer::new(Duration::from_secs(5)).layer(slow);

        let start = Instant::now();
        let res = svc.clone().oneshot(request("/cityserve.v1.X/Y", None)).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        let start = Instant::now();
        let mut req = request("/cityserve.v1.X/Y", None);
        req.headers_mut().insert("grpc-timeout", http::HeaderValue::from_static("200m"));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        // 10 ms ahead of the client's 200 ms, so tonic's own timer never answers first.
        assert_eq!(start.elapsed(), Duration::from_millis(190));

        // A longer client deadline does not extend the server's.
        let start = Instant::now();
        let mut req = request("/cityserve.v1.X/Y", None);
        req.headers_mut().insert("grpc-timeout", http::HeaderValue::from_static("60S"));
        let res = svc.oneshot(req).await.unwrap();
        assert_eq!(code(&res), Some(Code::DeadlineExceeded as i32));
        assert_eq!(start.elapsed(), Duration::from_secs(5));

        let fast = DeadlineLayer::new(Duration::from_secs(5)).layer(ok());
        assert_eq!(code(&fast.oneshot(request("/cityserve.v1.X/Y", None)).await.unwrap()), None);
    }
}
