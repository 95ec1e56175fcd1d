//! Undecodable request bodies are the client's fault: INVALID_ARGUMENT, not INTERNAL.
//!
//! tonic answers a request whose protobuf body does not decode (or whose gRPC framing is broken)
//! with `INTERNAL` — `tonic-prost` maps every `prost::DecodeError` to `Status::internal`, following
//! grpc's status-code table. CityServe promises that bad input never looks like a server fault, so
//! this layer rewrites exactly those statuses. They are recognised by tonic's fixed message texts:
//! the request is decoded before any handler runs, so the status arrives in the response headers
//! (a trailers-only response) and the handlers' own `INTERNAL` ("internal error") is untouched.
use std::task::{Context, Poll};

/// Messages (prefixes) tonic uses for request bodies it could not decode.
const DECODE_ERRORS: &[&str] =
    &["failed to decode Protobuf message", "Unexpected EOF decoding stream", "protocol error: received message with"];

/// Tower layer mapping tonic's request-decode `INTERNAL` to `INVALID_ARGUMENT`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DecodeErrorLayer;

impl<S> tower::Layer<S> for DecodeErrorLayer {
    type Service = DecodeErrorService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DecodeErrorService { inner }
    }
}

/// The service produced by [`DecodeErrorLayer`].
#[derive(Clone, Debug)]
pub struct DecodeErrorService<S> {
    inner: S,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for DecodeErrorService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::MapOk<S::Future, fn(http::Response<ResBody>) -> http::Response<ResBody>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        use futures::TryFutureExt;
        self.inner.call(req).map_ok(rewrite as fn(_) -> _)
    }
}

fn rewrite<B>(mut res: http::Response<B>) -> http::Response<B> {
    let headers = res.headers_mut();
    if headers.get("grpc-status").is_none_or(|s| s.as_bytes() != b"13") {
        return res;
    }
    let message = headers.get("grpc-message").map(|m| percent_decode(m.as_bytes())).unwrap_or_default();
    if DECODE_ERRORS.iter().any(|p| message.starts_with(p)) {
        tracing::debug!(%message, "undecodable request body");
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
        headers.insert(
            "grpc-message",
            http::HeaderValue::from_static("invalid%20request%20body%3A%20not%20a%20valid%20protobuf%20message"),
        );
    }
    res
}

/// Decodes the percent-encoding of a `grpc-message` (invalid escapes are kept as they are).
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (raw[i], raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(code: tonic::Status) -> (String, String) {
        let res = rewrite(code.into_http::<()>());
        let h = |n: &str| res.headers().get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        (h("grpc-status"), percent_decode(h("grpc-message").as_bytes()))
    }

    #[test]
    fn decode_errors_become_invalid_argument_and_handler_errors_stay() {
        let decode = tonic::Status::internal("failed to decode Protobuf message: invalid wire type value: 7");
        let (code, message) = status(decode);
        assert_eq!(code, "3");
        assert!(message.contains("not a valid protobuf message"), "{message}");
        assert_eq!(status(tonic::Status::internal("Unexpected EOF decoding stream.")).0, "3");
        assert_eq!(status(tonic::Status::internal("internal error")).0, "13");
        assert_eq!(status(tonic::Status::not_found("failed to decode Protobuf message")).0, "5");
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode(b"a%20b%2"), "a b%2");
        assert_eq!(percent_decode(b"%ff%zz"), "\u{fffd}%zz");
    }
}
