//! docs/api-reference.md is generated from the protos' own comments (the descriptor set the
//! server serves for reflection), so it cannot drift: this test fails when the committed file is
//! stale. Regenerate with `UPDATE_API_REFERENCE=1 cargo test --test api_reference`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet, field_descriptor_proto,
};

fn comment(file: &FileDescriptorProto, path: &[i32]) -> String {
    file.source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path))
        .and_then(|l| l.leading_comments.clone())
        .map(|c| c.lines().map(str::trim).collect::<Vec<_>>().join(" ").trim().to_owned())
        .unwrap_or_default()
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn type_name(f: &prost_types::FieldDescriptorProto) -> String {
    use field_descriptor_proto::{Label, Type};
    let base = match f.r#type() {
        Type::Message | Type::Enum => {
            f.type_name().trim_start_matches('.').trim_start_matches("cityserve.v1.").to_owned()
        }
        other => format!("{other:?}").to_lowercase(),
    };
    let repeated = f.label() == Label::Repeated;
    let optional = f.proto3_optional();
    match (repeated, optional) {
        (true, _) => format!("repeated {base}"),
        (_, true) => format!("optional {base}"),
        _ => base,
    }
}

fn message(out: &mut String, file: &FileDescriptorProto, m: &DescriptorProto, path: &[i32]) {
    // Map entries are shown as their map field.
    if m.options.as_ref().is_some_and(|o| o.map_entry()) {
        return;
    }
    out.push_str(&format!("### `{}`\n\n{}\n\n", m.name(), comment(file, path)));
    if !m.field.is_empty() {
        out.push_str("| Field | Type | Description |\n|---|---|---|\n");
        for (i, f) in m.field.iter().enumerate() {
            let mut p = path.to_vec();
            p.extend([2, i32::try_from(i).unwrap()]);
            out.push_str(&format!("| `{}` | `{}` | {} |\n", f.name(), type_name(f), cell(&comment(file, &p))));
        }
        out.push('\n');
    }
    for (i, e) in m.enum_type.iter().enumerate() {
        let mut p = path.to_vec();
        p.extend([4, i32::try_from(i).unwrap()]);
        enumeration(out, file, e, &p);
    }
    for (i, n) in m.nested_type.iter().enumerate() {
        let mut p = path.to_vec();
        p.extend([3, i32::try_from(i).unwrap()]);
        message(out, file, n, &p);
    }
}

fn enumeration(out: &mut String, file: &FileDescriptorProto, e: &EnumDescriptorProto, path: &[i32]) {
    out.push_str(&format!(
        "### enum `{}`\n\n{}\n\n| Value | Number | Description |\n|---|---|---|\n",
        e.name(),
        comment(file, path)
    ));
    for (i, v) in e.value.iter().enumerate() {
        let mut p = path.to_vec();
        p.extend([2, i32::try_from(i).unwrap()]);
        out.push_str(&format!("| `{}` | {} | {} |\n", v.name(), v.number(), cell(&comment(file, &p))));
    }
    out.push('\n');
}

fn render() -> String {
    let set = FileDescriptorSet::decode(cityserve_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut out = String::from(
        "# CityServe API reference\n\nGenerated from the comments of `proto/cityserve/v1/*.proto` by \
         `tests/api_reference.rs` (regenerate: `UPDATE_API_REFERENCE=1 cargo test --test api_reference`). \
         For worked examples see [api.md](api.md).\n\n",
    );
    let mut files: Vec<&FileDescriptorProto> = set.file.iter().filter(|f| f.package() == "cityserve.v1").collect();
    files.sort_by_key(|f| f.name().to_owned());
    for file in files {
        out.push_str(&format!("## `{}`\n\n", file.name()));
        for (i, s) in file.service.iter().enumerate() {
            let si = i32::try_from(i).unwrap();
            out.push_str(&format!(
                "### service `{}`\n\n{}\n\n| RPC | Request | Response | Description |\n|---|---|---|---|\n",
                s.name(),
                comment(file, &[6, si])
            ));
            for (j, m) in s.method.iter().enumerate() {
                let stream = if m.server_streaming() { "stream " } else { "" };
                out.push_str(&format!(
                    "| `{}` | `{}` | `{stream}{}` | {} |\n",
                    m.name(),
                    m.input_type().trim_start_matches(".cityserve.v1."),
                    m.output_type().trim_start_matches(".cityserve.v1."),
                    cell(&comment(file, &[6, si, 2, i32::try_from(j).unwrap()]))
                ));
            }
            out.push('\n');
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            enumeration(&mut out, file, e, &[5, i32::try_from(i).unwrap()]);
        }
        for (i, m) in file.message_type.iter().enumerate() {
            message(&mut out, file, m, &[4, i32::try_from(i).unwrap()]);
        }
    }
    out
}

#[test]
fn the_api_reference_matches_the_protos() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/api-reference.md");
    let fresh = render();
    assert!(fresh.contains("service `CoordinationService`") && fresh.contains("Watch"), "comments were found");
    if std::env::var("UPDATE_API_REFERENCE").is_ok_and(|v| v == "1") {
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "docs/api-reference.md is stale: regenerate with UPDATE_API_REFERENCE=1 cargo test --test api_reference"
    );
}
