//! GeoReport v2 documents in JSON and XML. Both come from one tree, following the spec's Spark
//! convention: a list is a JSON array and an XML element of repeated items; a record is a JSON
//! object and an XML element of fields; a missing value is JSON `null` and an empty XML element.
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// A value in a GeoReport document.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// Text.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A number with a fraction (coordinates).
    Num(f64),
    /// `true`/`false`.
    Bool(bool),
    /// Missing.
    Null,
    /// Repeated items, each an XML element named `item`.
    List {
        /// XML element name of each item.
        item: &'static str,
        /// The items.
        items: Vec<V>,
    },
    /// Named fields, in order.
    Obj(Vec<(&'static str, V)>),
}

impl V {
    /// Text, or null when `None`.
    pub fn opt(s: Option<String>) -> V {
        s.map_or(V::Null, V::Str)
    }
}

/// The response format, from the resource's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: `application/json`.
    Json,
    /// `.xml`: `text/xml`.
    Xml,
}

impl Format {
    /// The format a request for `path` asked for: XML when its last segment ends in `.xml`, else
    /// JSON (the format of errors for paths that name no format at all).
    pub fn of_path(path: &str) -> Format {
        match path.rsplit('/').next().and_then(Format::split) {
            Some((_, f)) => f,
            None => Format::Json,
        }
    }

    /// Splits `name.ext` into the name and its format.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        let (name, ext) = file.rsplit_once('.')?;
        match ext {
            "json" => Some((name, Format::Json)),
            "xml" => Some((name, Format::Xml)),
            _ => None,
        }
    }
}

fn json(v: &V) -> serde_json::Value {
    match v {
        V::Str(s) => serde_json::Value::String(s.clone()),
        V::Int(i) => serde_json::Value::from(*i),
        V::Num(n) => serde_json::Number::from_f64(*n).map_or(serde_json::Value::Null, serde_json::Value::Number),
        V::Bool(b) => serde_json::Value::Bool(*b),
        V::Null => serde_json::Value::Null,
        V::List { items, .. } => serde_json::Value::Array(items.iter().map(json).collect()),
        V::Obj(fields) => serde_json::Value::Object(fields.iter().map(|(k, v)| ((*k).to_owned(), json(v))).collect()),
    }
}

/// Escapes text for XML element content. Characters XML 1.0 cannot carry are dropped.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A raw CR would reach the client as LF (XML 1.0 normalises line ends), so CRLF in a
            // description must travel as a character reference to come back byte for byte.
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

fn xml_into(tag: &str, v: &V, out: &mut String) {
    match v {
        V::Null => {
            out.push('<');
            out.push_str(tag);
            out.push_str("/>");
            return;
        }
        V::List { items, .. } if items.is_empty() => {
            out.push('<');
            out.push_str(tag);
            out.push_str("/>");
            return;
        }
        _ => {}
    }
    out.push('<');
    out.push_str(tag);
    out.push('>');
    match v {
        V::Str(s) => escape(s, out),
        V::Int(i) => out.push_str(&i.to_string()),
        V::Num(n) => out.push_str(&n.to_string()),
        V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Null => {}
        V::List { item, items } => {
            for i in items {
                xml_into(item, i, out);
            }
        }
        V::Obj(fields) => {
            for (k, v) in fields {
                xml_into(k, v, out);
            }
        }
    }
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

/// Renders `v` as a document whose XML root element is `root`.
pub fn render(format: Format, root: &str, v: &V) -> (String, &'static str) {
    match format {
        Format::Json => (json(v).to_string(), "application/json; charset=utf-8"),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            xml_into(root, v, &mut out);
            (out, "text/xml; charset=utf-8")
        }
    }
}

/// A response with `status` and the document `v`.
pub fn respond(status: StatusCode, format: Format, root: &str, v: &V) -> Response {
    let (body, content_type) = render(format, root, v);
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services() -> V {
        V::List {
            item: "service",
            items: vec![V::Obj(vec![
                ("service_code", V::Str("streets.pothole".into())),
                ("metadata", V::Bool(false)),
                ("description", V::Null),
                ("keywords", V::Str("road, hole & rut".into())),
            ])],
        }
    }

    #[test]
    fn lists_are_arrays_in_json_and_repeated_elements_in_xml() {
        let (j, ct) = render(Format::Json, "services", &services());
        assert_eq!(ct, "application/json; charset=utf-8");
        let parsed: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(parsed[0]["service_code"], "streets.pothole");
        assert_eq!(parsed[0]["metadata"], false);
        assert!(parsed[0]["description"].is_null());
        let (x, ct) = render(Format::Xml, "services", &services());
        assert_eq!(ct, "text/xml; charset=utf-8");
        assert_eq!(
            x,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>streets.pothole</service_code>\
             <metadata>false</metadata><description/><keywords>road, hole &amp; rut</keywords></service></services>"
        );
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(Format::split("services.json"), Some(("services", Format::Json)));
        assert_eq!(Format::split("streets.pothole.xml"), Some(("streets.pothole", Format::Xml)));
        assert_eq!(Format::split("services.html"), None);
        assert_eq!(Format::split("services"), None);
    }

    #[test]
    fn carriage_returns_survive_xml() {
        let (x, _) = render(Format::Xml, "d", &V::Str("one\r\ntwo\tthree".into()));
        assert!(x.ends_with("<d>one&#xD;\ntwo\tthree</d>"), "{x}");
    }

    #[test]
    fn errors_for_unknown_paths_follow_the_extension() {
        assert_eq!(Format::of_path("/open311/v2/a/b/c.xml"), Format::Xml);
        assert_eq!(Format::of_path("/open311/v2/a/b/c.json"), Format::Json);
        assert_eq!(Format::of_path("/elsewhere"), Format::Json);
    }

    #[test]
    fn xml_drops_characters_it_cannot_carry() {
        let (x, _) = render(Format::Xml, "d", &V::Str("a\u{1}b<c>".into()));
        assert!(x.ends_with("<d>ab&lt;c&gt;</d>"));
    }
}
