//! Every string field of every request message, found in the descriptor set, receives a NUL
//! byte, a forged page token and an oversized value, one at a time, through the real server on
//! SQLite and on PostgreSQL, sent by the Chief (who gets furthest past authorization). Nothing
//! may answer INTERNAL (or UNKNOWN): bad input is the client's error and is named as such.
//!
//! Each request starts from the RPC's template in the authorization matrix, filled with the
//! matrix's fixture, so the bad value meets real resources: past name parsing, authorization and
//! the etag check, as deep as validation lets it go. Nested messages are walked (repeated ones
//! through their first element) down to a few levels.
use crate::authz_matrix::{OWN, Rpc, fill, seed, table};
use crate::both_backends;
use crate::harness::*;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value};
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tonic::Code;

/// How deep nested messages are walked.
const DEPTH: usize = 3;

/// Paths (field descriptors from the request down) to every string field under `m`.
fn string_paths(m: &MessageDescriptor, depth: usize) -> Vec<Vec<FieldDescriptor>> {
    let mut out = Vec::new();
    for f in m.fields() {
        if f.is_map() {
            continue;
        }
        match f.kind() {
            Kind::String => out.push(vec![f]),
            Kind::Message(inner) if depth > 0 && !inner.full_name().starts_with("google.protobuf.") => {
                for mut tail in string_paths(&inner, depth - 1) {
                    tail.insert(0, f.clone());
                    out.push(tail);
                }
            }
            Kind::Message(inner) if inner.full_name() == "google.protobuf.FieldMask" => {
                for mut tail in string_paths(&inner, 0) {
                    tail.insert(0, f.clone());
                    out.push(tail);
                }
            }
            _ => {}
        }
    }
    out
}

/// Sets the string at `path` under `msg` to `value` (a repeated field becomes `[value]`; a
/// repeated message on the way is entered at its first element, created if missing).
fn set_path(msg: &mut DynamicMessage, path: &[FieldDescriptor], value: &str) {
    let (f, rest) = path.split_first().unwrap();
    if rest.is_empty() {
        let v = Value::String(value.to_owned());
        msg.set_field(f, if f.is_list() { Value::List(vec![v]) } else { v });
        return;
    }
    let Kind::Message(inner) = f.kind() else { unreachable!("only messages lead to strings") };
    match msg.get_field_mut(f) {
        Value::List(items) => {
            if items.is_empty() {
                items.push(Value::Message(DynamicMessage::new(inner)));
            }
            if let Value::Message(m) = &mut items[0] {
                set_path(m, rest, value);
            }
        }
        Value::Message(m) => set_path(m, rest, value),
        other => panic!("unexpected value {other:?} at {}", f.full_name()),
    }
}

/// A page token of the right shape (base64 JSON with a cursor and a MAC) that this server did not
/// make: a non-numeric cursor and a made-up MAC.
fn forged_token() -> String {
    use base64::Engine;
    let json = r#"{"a":"not-a-number","m":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// Sends `msg`, waiting out the per-tenant rate limit as a well-behaved client does (the walk
/// sends faster than the limit allows), so every bad value really reaches the handler.
async fn call(rpc: &Rpc, method: &prost_reflect::MethodDescriptor, msg: &DynamicMessage) -> Result<(), tonic::Status> {
    let mut tries = 0;
    loop {
        match call_once(rpc, method, msg).await {
            Err(s) if tries < 5 && s.code() == Code::ResourceExhausted => {
                tries += 1;
                tokio::time::sleep(retry_after(&s)).await;
            }
            other => return other,
        }
    }
}

/// The wait a rate-limit refusal advises (its `retry-after` header), one second if it names none.
fn retry_after(s: &tonic::Status) -> Duration {
    let secs = s.metadata().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
    Duration::from_secs(secs)
}

async fn call_once(
    rpc: &Rpc,
    method: &prost_reflect::MethodDescriptor,
    msg: &DynamicMessage,
) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(rpc.channel.clone());
    grpc.ready().await.map_err(|e| tonic::Status::unknown(format!("not ready: {e}")))?;
    let path: http::uri::PathAndQuery =
        format!("/{}/{}", method.parent_service().full_name(), method.name()).parse().unwrap();
    let mut req = tonic::Request::new(msg.encode_to_vec());
    req.set_timeout(Duration::from_secs(20));
    req.metadata_mut().insert("authorization", format!("Bearer {}", chief()).parse().unwrap());
    if method.is_server_streaming() {
        let mut stream = grpc.server_streaming(req, path, RawCodec).await?.into_inner();
        // A stream that accepted its request answers nothing at once; a refusal comes first.
        match tokio::time::timeout(Duration::from_millis(100), stream.message()).await {
            Ok(Err(status)) => Err(status),
            _ => Ok(()),
        }
    } else {
        grpc.unary(req, path, RawCodec).await.map(|_| ())
    }
}

use crate::authz_matrix::RawCodec;

both_backends! {
    async fn no_string_field_of_any_request_answers_internal(app: &TestApp) {
        let pool = prost_reflect::DescriptorPool::decode(cityserve_proto::FILE_DESCRIPTOR_SET).unwrap();
        let rpc = Rpc { pool, channel: app.channel.clone() };
        let fx = seed(app, &rpc).await;
        let specs = table();
        let n = AtomicU64::new(1_000_000);
        let bad = [("NUL", "a\0b".to_owned()), ("forged page token", forged_token()), ("oversized", "x".repeat(100_000))];
        let started = std::time::Instant::now();
        let (mut calls, mut fields) = (0, 0);
        let mut internal = Vec::new();
        for (name, method) in rpc.methods() {
            let json = fill(specs[name.as_str()].template, &fx[OWN], &n);
            let mut de = serde_json::Deserializer::from_str(&json);
            let base = DynamicMessage::deserialize(method.input(), &mut de).unwrap();
            for path in string_paths(&method.input(), DEPTH) {
                fields += 1;
                let field: Vec<&str> = path.iter().map(|f| f.name()).collect();
                for (what, value) in &bad {
                    // Fresh request ids and suffixes, so creations do not replay earlier ones.
                    let json = fill(specs[name.as_str()].template, &fx[OWN], &n);
                    let mut de = serde_json::Deserializer::from_str(&json);
                    let mut msg = DynamicMessage::deserialize(base.descriptor(), &mut de).unwrap();
                    set_path(&mut msg, &path, value);
                    calls += 1;
                    if let Err(s) = call(&rpc, &method, &msg).await
                        && matches!(s.code(), Code::Internal | Code::Unknown)
                    {
                        internal.push(format!("{name} {} = {what}: {:?} {}", field.join("."), s.code(), s.message()));
                    }
                }
            }
        }
        eprintln!("{fields} string fields, {calls} calls in {:?}", started.elapsed());
        assert!(fields > 100, "the walk found the request strings ({fields})");
        assert!(internal.is_empty(), "{} calls answered INTERNAL/UNKNOWN:\n{}", internal.len(), internal.join("\n"));
        still_serving(app).await;
    }
}

/// The server still answers an ordinary call.
async fn still_serving(app: &TestApp) {
    let get = cityserve_proto::v1::GetDepartmentRequest { name: format!("departments/{OWN}") };
    let mut r = app.departments().get_department(authed(get.clone(), &chief())).await;
    if let Err(s) = &r
        && s.code() == Code::ResourceExhausted
    {
        // The walk may have spent this second's budget: a refusal that says "retry after" is the
        // server still serving; the retry must then succeed.
        tokio::time::sleep(retry_after(s)).await;
        r = app.departments().get_department(authed(get, &chief())).await;
    }
    assert!(r.is_ok(), "the server stopped serving: {r:?}");
}
