//! Events out: every outbox event, relayed to NATS JetStream so the city's other systems (the data
//! warehouse, the 311 CRM, the work-order system, the open-data portal) follow CityServe without a
//! gRPC `Watch` stream each.
//!
//! - **One publisher at a time.** Every replica runs [`Publisher::run`]; only the holder of the
//!   `nats-publisher` lease ([`LeaseStore`]) publishes. The holder renews it with each batch (and
//!   every [`Settings::lease_ttl`] / 3 when idle); a replica that dies stops renewing and another
//!   takes over once the lease expires.
//! - **Nothing lost, nothing doubled.** Events are read in delivery order (commit order; see
//!   [`CoordinationStore::events_after`]) and published in that order, each with its sequence as
//!   `Nats-Msg-Id`; after JetStream acknowledges a batch, the last sequence is saved in the lease
//!   ([`LeaseStore::advance_lease`]), and a new holder resumes after it. A batch published but not
//!   yet saved when its publisher died is published again by the next one and dropped by the
//!   stream's duplicate window (the next holder starts within the lease time, far inside it).
//! - **Subjects** `{prefix}.{department}.{event type}`, e.g. `cityserve.water.case.update`; the
//!   payload is the event as JSON (sequence, department, type, resource, payload of IDs and field
//!   names, time). Events never carry personal data (the outbox holds none).
//! - **Lag** is the OpenTelemetry gauge `cityserve.events.publish_lag` (seconds from an event's
//!   commit to its acknowledgement by JetStream, for the newest event published).
use async_nats::jetstream::{self, stream};
use cityserve_store::coordination::{EventCursor, EventFilter};
use cityserve_store::{CoordinationStore, LeaseStore};
use std::time::Duration;
use tokio::sync::watch;

/// The lease's name.
pub const LEASE: &str = "nats-publisher";
/// Events read and published per batch.
const BATCH: u32 = 500;
/// The header carrying the event's sequence (also its `Nats-Msg-Id`).
pub const SEQUENCE_HEADER: &str = "CityServe-Sequence";

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The JetStream stream, created if missing (e.g. `CITYSERVE`).
    pub stream: String,
    /// The first token of every subject (e.g. `cityserve`).
    pub subject_prefix: String,
    /// How long the stream keeps messages (its `max_age`).
    pub max_age: Duration,
    /// How long a publisher's lease lasts without renewal: the longest a dead publisher delays
    /// its successor.
    pub lease_ttl: Duration,
    /// Who this replica is, as lease holder (unique per process).
    pub holder: String,
}

/// A failure that ends one publishing session (the loop reconnects and tries again).
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("nats: {0}")]
    Nats(String),
    #[error("store: {0}")]
    Store(#[from] cityserve_store::StoreError),
    #[error("the lease was lost to another replica")]
    LeaseLost,
    #[error("shutting down")]
    Shutdown,
}

fn nats(e: impl std::fmt::Display) -> Failure {
    Failure::Nats(e.to_string())
}

/// Relays the outbox of `store` to NATS JetStream.
pub struct Publisher<S> {
    store: S,
    settings: Settings,
}

impl<S: CoordinationStore + LeaseStore> Publisher<S> {
    /// A publisher over `store`.
    pub fn new(store: S, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// Publishes until `shutdown` turns true; reconnects (and re-takes the lease) after any
    /// failure, with backoff. Releases the lease on the way out.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let (_, system) = cityserve_domain::policy::system_scope("nats-publisher");
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.session(&mut shutdown).await {
                Err(Failure::Shutdown) => break,
                Err(Failure::LeaseLost) => {
                    tracing::info!("nats publisher: lease taken by another replica");
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "nats publisher failed; retrying");
                    if sleep_or_shutdown(backoff, &mut shutdown).await {
                        break;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
                Ok(()) => {}
            }
        }
        if let Err(e) = self.store.release_lease(&system, LEASE, &self.settings.holder).await {
            tracing::warn!(error = %e, "nats publisher: could not release its lease");
        }
    }

    /// Connects, waits for the lease, and publishes while holding it.
    async fn session(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), Failure> {
        let (_, system) = cityserve_domain::policy::system_scope("nats-publisher");
        let s = &self.settings;
        let client = async_nats::connect(&s.url).await.map_err(nats)?;
        let js = jetstream::new(client);
        js.get_or_create_stream(stream::Config {
            name: s.stream.clone(),
            subjects: vec![format!("{}.>", s.subject_prefix)],
            max_age: s.max_age,
            duplicate_window: Duration::from_secs(120),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
        let renew_every = s.lease_ttl / 3;
        // Wait for the lease.
        let lease = loop {
            if let Some(lease) = self.store.acquire_lease(&system, LEASE, &s.holder, s.lease_ttl).await? {
                break lease;
            }
            if sleep_or_shutdown(renew_every, shutdown).await {
                return Err(Failure::Shutdown);
            }
        };
        tracing::info!(after = ?lease.position, "nats publisher: holding the lease, publishing");
        let mut cursor = lease.position.map_or(EventCursor::Start, EventCursor::After);
        let mut signal = self.store.event_signal();
        let lag = opentelemetry::global::meter("cityserve")
            .f64_gauge("cityserve.events.publish_lag")
            .with_unit("s")
            .with_description("Seconds from an event's commit to JetStream's acknowledgement, newest event published")
            .build();
        let all = EventFilter::default();
        loop {
            if *shutdown.borrow() {
                return Err(Failure::Shutdown);
            }
            signal.borrow_and_update();
            let events = self.store.events_after(&system, &all, cursor, BATCH).await?;
            if let Some(last) = events.last() {
                let mut acks = Vec::with_capacity(events.len());
                for e in &events {
                    let subject = format!("{}.{}.{}", s.subject_prefix, e.department_id, e.event_type);
                    let mut headers = async_nats::HeaderMap::new();
                    let id = e.sequence.to_string();
                    headers.insert("Nats-Msg-Id", id.as_str());
                    headers.insert(SEQUENCE_HEADER, id.as_str());
                    let body = serde_json::json!({
                        "sequence": e.sequence,
                        "department": e.department_id.as_str(),
                        "type": e.event_type,
                        "resource": e.resource,
                        "payload": serde_json::from_str::<serde_json::Value>(&e.payload).unwrap_or(serde_json::Value::Null),
                        "time": e.occurred_at.to_rfc3339(),
                    });
                    acks.push(js.publish_with_headers(subject, headers, body.to_string().into()).await.map_err(nats)?);
                }
                for ack in acks {
                    ack.await.map_err(nats)?;
                }
                let seconds = (chrono::Utc::now() - last.occurred_at).num_milliseconds() as f64 / 1000.0;
                lag.record(seconds.max(0.0), &[]);
                cursor = EventCursor::After(last.sequence);
                if !self.store.advance_lease(&system, LEASE, &s.holder, last.sequence, s.lease_ttl).await? {
                    return Err(Failure::LeaseLost);
                }
                if events.len() == BATCH as usize {
                    continue;
                }
            } else {
                lag.record(0.0, &[]);
            }
            // Idle: wait for new events, renewing the lease on time.
            tokio::select! {
                _ = signal.changed() => {}
                () = tokio::time::sleep(renew_every) => {
                    let position = match cursor { EventCursor::After(p) => Some(p), EventCursor::Start => None };
                    let held = match position {
                        Some(p) => self.store.advance_lease(&system, LEASE, &s.holder, p, s.lease_ttl).await?,
                        None => self.store.acquire_lease(&system, LEASE, &s.holder, s.lease_ttl).await?.is_some(),
                    };
                    if !held {
                        return Err(Failure::LeaseLost);
                    }
                }
                _ = shutdown.changed() => return Err(Failure::Shutdown),
            }
        }
    }
}

/// Sleeps `d`; `true` when shutdown came first.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        _ = shutdown.changed() => true,
    }
}
