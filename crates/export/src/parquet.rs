//! Parquet output, for a data warehouse: one typed column per export column (text as UTF-8
//! strings, whole numbers as INT64, real numbers as DOUBLE, instants as INT64 microseconds with
//! the TIMESTAMP logical type, every column optional), Snappy-compressed, rows gathered into row
//! groups of [`ROW_GROUP`] rows. A Parquet file ends with its footer, so it is written whole: an
//! interrupted Parquet export starts over (CSV and JSON Lines resume).
use crate::records::{Column, Kind, Record, cell};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use serde_json::Value;
use std::fs::File;
use std::sync::Arc;

/// Rows per row group: large enough for columnar reads to pay, small enough to hold in memory.
pub const ROW_GROUP: usize = 50_000;

/// A Parquet file being written.
pub struct ParquetOut {
    writer: SerializedFileWriter<File>,
    columns: Vec<Column>,
    pending: Vec<Record>,
}

fn error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// The schema of `columns`, in Parquet's message notation.
fn schema(columns: &[Column]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| {
            let ty = match c.kind {
                Kind::Text => "BYTE_ARRAY",
                Kind::Int => "INT64",
                Kind::Real => "DOUBLE",
                Kind::Bool => "BOOLEAN",
                Kind::Time => "INT64",
            };
            let logical = match c.kind {
                Kind::Text => " (UTF8)",
                Kind::Time => " (TIMESTAMP(MICROS,true))",
                _ => "",
            };
            format!("  OPTIONAL {ty} {}{logical};", c.name)
        })
        .collect();
    format!("message export {{\n{}\n}}", fields.join("\n"))
}

impl ParquetOut {
    /// Starts `file` for rows of `columns`.
    pub fn create(file: File, columns: &[Column]) -> std::io::Result<ParquetOut> {
        let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema(columns)).map_err(error)?);
        let props = Arc::new(WriterProperties::builder().set_compression(Compression::SNAPPY).build());
        let writer = SerializedFileWriter::new(file, schema, props).map_err(error)?;
        Ok(ParquetOut { writer, columns: columns.to_vec(), pending: Vec::new() })
    }

    /// Adds rows; a full row group is written.
    pub fn append(&mut self, rows: &[Record]) -> std::io::Result<()> {
        self.pending.extend_from_slice(rows);
        if self.pending.len() >= ROW_GROUP { self.flush() } else { Ok(()) }
    }

    /// Writes the rows gathered as one row group.
    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.pending);
        let mut group = self.writer.next_row_group().map_err(error)?;
        let mut i = 0;
        while let Some(mut column) = group.next_column().map_err(error)? {
            let kind = self.columns.get(i).map_or(Kind::Text, |c| c.kind);
            let values = rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null));
            let mut levels = Vec::with_capacity(rows.len());
            match kind {
                Kind::Text => {
                    let v = present(values, &mut levels, |v| Some(ByteArray::from(cell(v).into_bytes())));
                    column.typed::<ByteArrayType>().write_batch(&v, Some(&levels), None).map_err(error)?;
                }
                Kind::Int => {
                    let v = present(values, &mut levels, whole);
                    column.typed::<Int64Type>().write_batch(&v, Some(&levels), None).map_err(error)?;
                }
                Kind::Time => {
                    let v = present(values, &mut levels, micros);
                    column.typed::<Int64Type>().write_batch(&v, Some(&levels), None).map_err(error)?;
                }
                Kind::Real => {
                    let v = present(values, &mut levels, Value::as_f64);
                    column.typed::<DoubleType>().write_batch(&v, Some(&levels), None).map_err(error)?;
                }
                Kind::Bool => {
                    let v = present(values, &mut levels, Value::as_bool);
                    column.typed::<BoolType>().write_batch(&v, Some(&levels), None).map_err(error)?;
                }
            }
            column.close().map_err(error)?;
            i += 1;
        }
        group.close().map_err(error)?;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush()?;
        self.writer.close().map_err(error)?;
        Ok(())
    }
}

/// The values present (definition level 1) and absent (0), for an optional column.
fn present<'a, T>(
    values: impl Iterator<Item = &'a Value>,
    levels: &mut Vec<i16>,
    read: impl Fn(&Value) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for v in values {
        match if v.is_null() { None } else { read(v) } {
            Some(x) => {
                out.push(x);
                levels.push(1);
            }
            None => levels.push(0),
        }
    }
    out
}

/// A whole number, also as the proto3 JSON mapping writes 64-bit ones (as text).
fn whole(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// An RFC 3339 instant as microseconds since the epoch.
fn micros(v: &Value) -> Option<i64> {
    v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn rows_become_typed_columns() {
        let columns = vec![
            Column { name: "name".into(), kind: Kind::Text },
            Column { name: "csat".into(), kind: Kind::Int },
            Column { name: "occur_time".into(), kind: Kind::Time },
            Column { name: "latitude".into(), kind: Kind::Real },
            Column { name: "erased".into(), kind: Kind::Bool },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        let mut out = ParquetOut::create(File::create(&path).unwrap(), &columns).unwrap();
        out.append(&[
            vec![
                Value::from("a"),
                Value::from(4),
                Value::from("2026-03-01T12:00:00Z"),
                Value::from(39.95),
                Value::from(false),
            ],
            vec![Value::from("b"), Value::from("5"), Value::Null, Value::Null, Value::from(true)],
        ])
        .unwrap();
        out.finish().unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().file_metadata().num_rows(), 2);
        let rows: Vec<String> = reader.get_row_iter(None).unwrap().map(|r| r.unwrap().to_string()).collect();
        assert_eq!(
            rows[0],
            "{name: \"a\", csat: 4, occur_time: 2026-03-01 12:00:00.000000 +00:00, latitude: 39.95, erased: false}"
        );
        assert_eq!(rows[1], "{name: \"b\", csat: 5, occur_time: null, latitude: null, erased: true}");
    }
}
