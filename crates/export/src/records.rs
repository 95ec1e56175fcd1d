//! What one exported row holds: named values in a fixed column order, the same for CSV and JSON
//! Lines.
//!
//! - Feedback uses the import's column names (docs/import.md), so an export of one city imports
//!   into another with `cityserve import`; the columns only an export writes (`name`,
//!   `receive_time`, `resident_key`, `case`, `erased`) are ones the import skips.
//! - Cases and report cards are their messages as the proto3 JSON mapping writes them (field
//!   names as in the .proto files, every field present), one column per field; a field holding
//!   a list or a message is one JSON text in a CSV cell.
use cityserve_proto::v1 as pb;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::Value;
use std::sync::LazyLock;

/// What a column holds: how Parquet types it (CSV and JSON Lines write every value as the proto3
/// JSON mapping does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text (also enum names, and lists and messages as JSON text).
    Text,
    /// A whole number.
    Int,
    /// A real number.
    Real,
    /// True or false.
    Bool,
    /// An instant (RFC 3339 text; microseconds since the epoch, UTC, in Parquet).
    Time,
}

/// A column: its name and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The name (a proto field name).
    pub name: String,
    /// What it holds.
    pub kind: Kind,
}

/// The columns of a feedback export, in order.
pub const FEEDBACK_COLUMNS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("department", Kind::Text),
    ("channel", Kind::Text),
    ("kind", Kind::Text),
    ("csat", Kind::Int),
    ("nps", Kind::Int),
    ("text", Kind::Text),
    ("language_code", Kind::Text),
    ("service_category_id", Kind::Text),
    ("occur_time", Kind::Time),
    ("receive_time", Kind::Time),
    ("internal_customer", Kind::Text),
    ("address", Kind::Text),
    ("latitude", Kind::Real),
    ("longitude", Kind::Real),
    ("resident_key", Kind::Text),
    ("case", Kind::Text),
    ("erased", Kind::Bool),
];

/// [`FEEDBACK_COLUMNS`] as columns.
pub fn feedback_columns() -> Vec<Column> {
    FEEDBACK_COLUMNS.iter().map(|(name, kind)| Column { name: (*name).to_owned(), kind: *kind }).collect()
}

/// One row: a value per column, in the columns' order (`Null` for none).
pub type Record = Vec<Value>;

fn time(t: Option<&prost_types::Timestamp>) -> Value {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .map_or(Value::Null, |t| Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))
}

fn text(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { Value::String(s.to_owned()) }
}

/// `CHANNEL_WEB` as the import writes it: `WEB`.
fn short(name: Option<&str>, prefix: &str) -> Value {
    name.map_or(Value::Null, |n| text(n.strip_prefix(prefix).unwrap_or(n)))
}

/// The department ID of a resource name `departments/{d}/…`.
fn department_of(name: &str) -> &str {
    name.strip_prefix("departments/").and_then(|r| r.split('/').next()).unwrap_or_default()
}

/// A piece of feedback as a row of [`FEEDBACK_COLUMNS`].
pub fn feedback(f: &pb::Feedback) -> Record {
    let channel = pb::Channel::try_from(f.channel).ok().map(|c| c.as_str_name());
    let kind = pb::FeedbackKind::try_from(f.kind).ok().map(|k| k.as_str_name());
    let location = f.location.clone().unwrap_or_default();
    vec![
        text(&f.name),
        text(department_of(&f.name)),
        short(channel, "CHANNEL_"),
        short(kind, "FEEDBACK_KIND_"),
        f.csat.map_or(Value::Null, Value::from),
        f.nps.map_or(Value::Null, Value::from),
        text(&f.text),
        text(&f.language_code),
        text(&f.service_category_id),
        time(f.occur_time.as_ref()),
        time(f.receive_time.as_ref()),
        text(&f.internal_customer),
        text(&location.address),
        location.latitude.map_or(Value::Null, Value::from),
        location.longitude.map_or(Value::Null, Value::from),
        text(&f.resident_key),
        text(&f.case),
        Value::Bool(f.erased),
    ]
}

static POOL: LazyLock<Option<DescriptorPool>> =
    LazyLock::new(|| DescriptorPool::decode(cityserve_proto::FILE_DESCRIPTOR_SET).ok());

/// A message's fields as columns (proto names, in field-number order) and values, by reflection
/// over the descriptors the server itself is built from.
#[derive(Clone)]
pub struct Shape {
    descriptor: MessageDescriptor,
    columns: Vec<Column>,
}

impl Shape {
    /// The shape of `cityserve.v1.{message}`, e.g. `Case` or `ReportCard`.
    pub fn of(message: &str) -> Option<Shape> {
        let descriptor = POOL.as_ref()?.get_message_by_name(&format!("cityserve.v1.{message}"))?;
        let columns = descriptor.fields().map(|f| Column { name: f.name().to_owned(), kind: kind_of(&f) }).collect();
        Some(Shape { descriptor, columns })
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// `message` (of this shape) as a row.
    pub fn record(&self, message: &impl prost::Message) -> Record {
        let mut dynamic = DynamicMessage::new(self.descriptor.clone());
        if prost::Message::merge(&mut dynamic, message.encode_to_vec().as_slice()).is_err() {
            return vec![Value::Null; self.columns.len()];
        }
        let options = SerializeOptions::new().use_proto_field_name(true).skip_default_fields(false);
        let json = dynamic.serialize_with_options(serde_json::value::Serializer, &options).unwrap_or(Value::Null);
        self.columns.iter().map(|c| json.get(&c.name).cloned().unwrap_or(Value::Null)).collect()
    }
}

/// What a field's values are, as a column.
fn kind_of(f: &prost_reflect::FieldDescriptor) -> Kind {
    use prost_reflect::Kind as K;
    if f.is_list() || f.is_map() {
        return Kind::Text;
    }
    match f.kind() {
        K::Int32
        | K::Int64
        | K::Uint32
        | K::Uint64
        | K::Sint32
        | K::Sint64
        | K::Fixed32
        | K::Fixed64
        | K::Sfixed32
        | K::Sfixed64 => Kind::Int,
        K::Double | K::Float => Kind::Real,
        K::Bool => Kind::Bool,
        K::Message(m) if m.full_name() == "google.protobuf.Timestamp" => Kind::Time,
        _ => Kind::Text,
    }
}

/// A value as a CSV cell: text as it is, numbers and booleans as JSON writes them, lists and
/// messages as JSON text, nothing as an empty cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_rows_use_the_import_columns() {
        let f = pb::Feedback {
            name: "departments/water/feedback/fb-1".into(),
            channel: pb::Channel::Web as i32,
            kind: pb::FeedbackKind::Complaint as i32,
            csat: Some(2),
            text: "Bill doubled".into(),
            occur_time: Some(prost_types::Timestamp { seconds: 1_772_366_400, nanos: 0 }),
            location: Some(pb::Location { latitude: Some(39.95), longitude: Some(-75.16), ..Default::default() }),
            ..Default::default()
        };
        let r = feedback(&f);
        assert_eq!(r.len(), FEEDBACK_COLUMNS.len());
        let get = |c: &str| cell(&r[FEEDBACK_COLUMNS.iter().position(|x| x.0 == c).unwrap()]);
        assert_eq!(get("department"), "water");
        assert_eq!((get("channel").as_str(), get("kind").as_str()), ("WEB", "COMPLAINT"));
        assert_eq!((get("csat").as_str(), get("nps").as_str()), ("2", ""));
        assert_eq!(get("occur_time"), "2026-03-01T12:00:00Z");
        assert_eq!(get("latitude"), "39.95");
        assert_eq!(get("erased"), "false");
    }

    #[test]
    fn cases_are_their_fields_by_reflection() {
        let shape = Shape::of("Case").unwrap();
        let names: Vec<&str> = shape.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(&names[..3], ["name", "feedback", "state"]);
        let kind = |n: &str| shape.columns().iter().find(|c| c.name == n).unwrap().kind;
        assert_eq!((kind("reopen_count"), kind("receive_time"), kind("notes")), (Kind::Int, Kind::Time, Kind::Text));
        assert_eq!((kind("overdue"), kind("state"), kind("held")), (Kind::Bool, Kind::Text, Kind::Text));
        let c = pb::Case {
            name: "departments/water/cases/fb-1".into(),
            state: pb::CaseState::Acknowledged as i32,
            reopen_count: 1,
            notes: vec![pb::CaseNote { text: "called".into(), ..Default::default() }],
            ..Default::default()
        };
        let r = shape.record(&c);
        let get = |col: &str| cell(&r[names.iter().position(|x| *x == col).unwrap()]);
        assert_eq!(get("state"), "CASE_STATE_ACKNOWLEDGED");
        assert_eq!(get("reopen_count"), "1");
        assert!(get("notes").contains(r#""text":"called""#), "{}", get("notes"));
        assert_eq!(get("assignee"), "");
    }
}
