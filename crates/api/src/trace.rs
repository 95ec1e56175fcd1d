//! The trace id audit rows and write contexts record: the RPC span's (with an OpenTelemetry
//! subscriber), else the one the request arrived with in its W3C `traceparent` header, which
//! the audit layer keeps for the duration of the call ([`scope`]).

tokio::task_local! {
    /// The trace id of the request's W3C `traceparent`, for audit rows when no OpenTelemetry
    /// subscriber is installed (with one, the RPC span carries the same trace id).
    static INCOMING_TRACE: Option<String>;
}

/// The trace id the current request arrived with in `traceparent`, if any.
fn incoming_trace_id() -> Option<String> {
    INCOMING_TRACE.try_with(Clone::clone).ok().flatten()
}

/// The trace id of a W3C `traceparent` header (`00-{trace id}-{parent id}-{flags}`).
pub(crate) fn traceparent_trace_id(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get("traceparent")?.to_str().ok()?.trim();
    let mut parts = v.split('-');
    let (version, trace, parent) = (parts.next()?, parts.next()?, parts.next()?);
    let _flags = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex(version, 2) && version != "ff" && hex(trace, 32) && hex(parent, 16) && trace.bytes().any(|b| b != b'0'))
        .then(|| trace.to_owned())
}

/// Runs `call` with `trace` as the request's incoming trace id.
pub(crate) fn scope<F: std::future::Future>(
    trace: Option<String>,
    call: F,
) -> tokio::task::futures::TaskLocalFuture<Option<String>, F> {
    INCOMING_TRACE.scope(trace, call)
}

/// The current request's trace id, for audit records: the RPC span's, else the one the request
/// arrived with in `traceparent` (when no OpenTelemetry subscriber is installed).
pub(crate) fn trace_id() -> Option<String> {
    cityserve_telemetry::current_trace_id().or_else(incoming_trace_id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trace_ids_are_read_from_valid_traceparents_only() {
        let tp = |v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert("traceparent", http::HeaderValue::from_static(v));
            traceparent_trace_id(&h)
        };
        assert_eq!(
            tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(tp("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), None);
        assert_eq!(tp("garbage"), None);
    }
}
