//! `Watch`: the live event stream, resumable from a sequence number.
use super::*;

pub(super) fn json_to_pb(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => {
            Kind::ListValue(prost_types::ListValue { values: a.into_iter().map(json_to_pb).collect() })
        }
        serde_json::Value::Object(o) => {
            Kind::StructValue(prost_types::Struct { fields: o.into_iter().map(|(k, v)| (k, json_to_pb(v))).collect() })
        }
    };
    prost_types::Value { kind: Some(kind) }
}

pub(super) fn event_to_pb(e: Event) -> pb::WatchResponse {
    let payload = match serde_json::from_str::<serde_json::Value>(&e.payload) {
        Ok(serde_json::Value::Object(o)) => {
            Some(prost_types::Struct { fields: o.into_iter().map(|(k, v)| (k, json_to_pb(v))).collect() })
        }
        _ => None,
    };
    pb::WatchResponse {
        sequence: e.sequence,
        department: resource::department(&e.department_id),
        event_type: e.event_type,
        resource: e.resource,
        payload,
        occur_time: Some(timestamp(e.occurred_at)),
    }
}

pub(super) type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

impl<S: CoordinationStore> CoordinationApi<S> {
    pub(super) async fn watch(&self, caller: Caller, r: pb::WatchRequest) -> Result<WatchStream, ApiError> {
        let mut errors = ValidationError::default();
        let mut departments = Vec::new();
        for (i, d) in r.departments.iter().enumerate() {
            if let Some(d) = errors.check(names::department(&format!("departments[{i}]"), d)) {
                departments.push(d);
            }
        }
        if r.event_type_prefixes.len() > 20 {
            errors.push("event_type_prefixes", "must have at most 20 entries");
        }
        for (i, p) in r.event_type_prefixes.iter().enumerate() {
            if p.is_empty() || p.len() > 64 || !p.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_') {
                errors.push(format!("event_type_prefixes[{i}]"), "must be 1-64 characters of a-z, '.' and '_'");
            }
        }
        if r.after_sequence.is_some_and(|s| s < 0) {
            errors.push("after_sequence", "must not be negative");
        }
        errors.into_result()?;
        let scope = list_scope(&caller, Action::WatchEvents, None, "events")?;
        for d in &departments {
            if !scope.allows(d) {
                return Err(ApiError::NotFound(resource::department(d)));
            }
        }
        let cursor = match (r.after_sequence, r.from_start) {
            (Some(0), _) | (None, true) => EventCursor::Start,
            (Some(s), _) => EventCursor::After(s),
            (None, false) => {
                let latest = self.store.latest_event(&scope).await.map_err(|e| ApiError::from_store(e, "events"))?;
                latest.map_or(EventCursor::Start, EventCursor::After)
            }
        };
        let filter = EventFilter {
            departments: (!departments.is_empty()).then_some(departments),
            type_prefixes: r.event_type_prefixes.clone(),
        };
        // Fail fast on a cursor the caller may not resume from.
        let first = self
            .store
            .events_after(&scope, &filter, cursor, WATCH_BATCH)
            .await
            .map_err(|e| ApiError::from_store(e, "after_sequence"))?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::WatchResponse, Status>>(WATCH_BATCH as usize);
        let store = self.store.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let mut signal = store.event_signal();
            signal.borrow_and_update();
            let mut cursor = cursor;
            let mut batch = first;
            loop {
                let empty = batch.is_empty();
                for e in batch {
                    cursor = EventCursor::After(e.sequence);
                    if tx.send(Ok(event_to_pb(e))).await.is_err() {
                        return;
                    }
                }
                if empty {
                    tokio::select! {
                        changed = signal.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(WATCH_POLL).await;
                            }
                        }
                        () = tokio::time::sleep(WATCH_POLL) => {}
                        () = tx.closed() => return,
                        res = shutdown.changed() => {
                            let stop = res.is_err() || *shutdown.borrow();
                            if stop {
                                let status =
                                    Status::unavailable("the server is shutting down; resume with after_sequence");
                                let _ = tx.send(Err(status)).await;
                                return;
                            }
                        }
                    }
                    signal.borrow_and_update();
                }
                batch = match store.events_after(&scope, &filter, cursor, WATCH_BATCH).await {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(ApiError::from_store(e, "events")))).await;
                        return;
                    }
                };
            }
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }
}
