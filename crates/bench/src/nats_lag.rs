//! Events-out lag: while a scenario runs, subscribe to CityServe's NATS subjects and measure, for
//! every event message, the time from the event (its `time`, taken in the writing transaction)
//! to its arrival here. The server's own gauge (`cityserve.events.publish_lag`) says the same for
//! the newest event only; this gives the distribution.
use crate::BenchError;
use futures::StreamExt;
use std::time::Duration;

/// The lag distribution of the events received.
#[derive(Debug, Clone, Default)]
pub struct LagReport {
    /// Event messages received.
    pub messages: u64,
    /// Median lag, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile lag, milliseconds.
    pub p99_ms: f64,
    /// Largest lag, milliseconds.
    pub max_ms: f64,
}

impl LagReport {
    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "messages": self.messages,
            "lag_ms": {"p50": self.p50_ms, "p99": self.p99_ms, "max": self.max_ms},
        })
    }
}

async fn subscribe(url: &str, subject: &str) -> Result<async_nats::Subscriber, BenchError> {
    let client = async_nats::connect(url).await.map_err(|e| BenchError::Invalid(format!("nats {url}: {e}")))?;
    client
        .subscribe(subject.to_owned())
        .await
        .map_err(|e| BenchError::Invalid(format!("nats subscribe {subject}: {e}")))
}

/// Waits until no event has arrived on `subject` for `quiet` (at most `limit`): a publisher that
/// starts with a backlog (a new stream over an old outbox) has caught up, so the lag measured
/// afterwards is the lag of new writes.
pub async fn settle(url: &str, subject: &str, quiet: Duration, limit: Duration) -> Result<u64, BenchError> {
    let mut sub = subscribe(url, subject).await?;
    let end = tokio::time::Instant::now() + limit;
    let mut seen = 0;
    while tokio::time::Instant::now() < end {
        match tokio::time::timeout(quiet, sub.next()).await {
            Ok(Some(_)) => seen += 1,
            Ok(None) | Err(_) => return Ok(seen),
        }
    }
    Err(BenchError::Invalid(format!("events on {subject} did not settle within {limit:?}")))
}

/// Subscribes to `subject` on `url` and measures every event message that arrives within `window`
/// and was written after the watch began.
pub async fn watch(url: &str, subject: &str, window: Duration) -> Result<LagReport, BenchError> {
    let mut sub = subscribe(url, subject).await?;
    let began = chrono::Utc::now();
    let mut lags_ms = Vec::new();
    let end = tokio::time::Instant::now() + window;
    while let Ok(Some(msg)) = tokio::time::timeout_at(end, sub.next()).await {
        let arrived = chrono::Utc::now();
        let time = serde_json::from_slice::<serde_json::Value>(&msg.payload)
            .ok()
            .and_then(|v| v.get("time").and_then(|t| t.as_str()).map(str::to_owned))
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok());
        if let Some(t) = time.filter(|t| *t >= began) {
            lags_ms.push((arrived - t.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    lags_ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if lags_ms.is_empty() { 0.0 } else { lags_ms[((lags_ms.len() - 1) as f64 * q).round() as usize] }
    };
    Ok(LagReport {
        messages: lags_ms.len() as u64,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: lags_ms.last().copied().unwrap_or(0.0),
    })
}
