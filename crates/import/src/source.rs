//! Reading an import file into rows: CSV (a header row, RFC 4180 quoting, UTF-8 with or without a
//! byte-order mark) or JSON Lines (one object a line), with a vendor's column names mapped to ours.
//! A row that cannot be read (a missing column, a line that is not JSON, a repeat of an earlier
//! line) is kept as a refusal with its line number, never dropped.
use crate::columns::{EXPORTED_ONLY, is_column};
use std::collections::HashMap;

/// One data row: its line number in the file and its `(column, value)` cells, or why it was
/// refused before reaching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The cells by our column names, or the refusal `(field, reason)`.
    pub cells: Result<Vec<(String, String)>, (String, String)>,
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// From the file name: `.jsonl`/`.ndjson` are JSON Lines, anything else CSV.
    pub fn of(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson") => Format::JsonLines,
            _ => Format::Csv,
        }
    }
}

/// A file that cannot be imported at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Not UTF-8, or unreadable CSV structure.
    #[error("{0}")]
    Unreadable(String),
    /// A header names a column that is not a feedback field (after `--map`).
    #[error(
        "unknown column {0:?}; the columns are the feedback fields by their proto names (see docs/import.md), or map yours with --map \"Theirs=ours\""
    )]
    UnknownColumn(String),
}

/// `--map "Score=csat,Dept=department,RespondentID="` as a lookup from their names to ours; a
/// column mapped to nothing is left out of the import.
pub fn parse_map(spec: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (theirs, ours) = pair.split_once('=').ok_or_else(|| format!("--map: {pair:?} is not Theirs=ours"))?;
        let ours = ours.trim();
        if !ours.is_empty() && !is_column(ours) {
            return Err(format!("--map: {ours:?} is not a column"));
        }
        map.insert(theirs.trim().to_owned(), ours.to_owned());
    }
    Ok(map)
}

/// Our name for their column `name`: `None` when the map leaves it out.
fn column(name: &str, map: &HashMap<String, String>) -> Result<Option<String>, SourceError> {
    let name = name.trim();
    match map.get(name).map(String::as_str) {
        Some("") => Ok(None),
        Some(ours) => Ok(Some(ours.to_owned())),
        None if is_column(name) => Ok(Some(name.to_owned())),
        None if EXPORTED_ONLY.contains(&name) => Ok(None),
        None => Err(SourceError::UnknownColumn(name.to_owned())),
    }
}

/// Reads every row of `bytes` (the whole file).
pub fn rows(bytes: &[u8], format: Format, map: &HashMap<String, String>) -> Result<Vec<Row>, SourceError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut rows = match format {
        Format::Csv => csv_rows(bytes, map)?,
        Format::JsonLines => json_rows(bytes, map)?,
    };
    refuse_repeats(&mut rows);
    Ok(rows)
}

fn csv_rows(bytes: &[u8], map: &HashMap<String, String>) -> Result<Vec<Row>, SourceError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader.headers().map_err(|e| SourceError::Unreadable(format!("the header row: {e}")))?.clone();
    let columns = header.iter().map(|h| column(h, map)).collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, csv::Position::line);
                if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
                    continue; // a blank line
                }
                let cells = if record.len() == columns.len() {
                    Ok(columns
                        .iter()
                        .zip(record.iter())
                        .filter_map(|(c, v)| c.as_ref().map(|c| (c.clone(), v.to_owned())))
                        .collect())
                } else {
                    Err(("row".to_owned(), format!("has {} fields, the header has {}", record.len(), columns.len())))
                };
                rows.push(Row { line, cells });
            }
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    rows.push(Row { line, cells: Err(("row".into(), "is not UTF-8".into())) });
                    continue;
                }
                return Err(SourceError::Unreadable(format!("line {line}: {e}")));
            }
        }
    }
    Ok(rows)
}

fn json_rows(bytes: &[u8], map: &HashMap<String, String>) -> Result<Vec<Row>, SourceError> {
    let mut rows = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let cells = match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(raw) {
            Err(e) => Err(("row".to_owned(), format!("is not a JSON object: {e}"))),
            Ok(object) => {
                let mut cells = Vec::with_capacity(object.len());
                for (k, v) in object {
                    let text = match v {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    if let Some(c) = column(&k, map)? {
                        cells.push((c, text));
                    }
                }
                Ok(cells)
            }
        };
        rows.push(Row { line, cells });
    }
    Ok(rows)
}

/// A row identical to an earlier one is a repeat (a vendor's export glitch), refused naming the
/// line it repeats, so a file never files one contact twice.
fn refuse_repeats(rows: &mut [Row]) {
    let mut seen: HashMap<Vec<(String, String)>, u64> = HashMap::new();
    for row in rows.iter_mut() {
        if let Ok(cells) = &row.cells {
            if let Some(first) = seen.get(cells) {
                row.cells = Err(("row".to_owned(), format!("repeats line {first}")));
            } else {
                seen.insert(cells.clone(), row.line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_bom_quotes_and_a_vendor_map() {
        let file = "\u{FEFF}Dept,Score,text,Id\nwater,5,\"Quick, kind\nand clear\",1\nstreets,1\nwater,5,\"Quick, kind\nand clear\",1\n";
        let map = parse_map("Dept=department, Score=csat,Id=").unwrap();
        let rows = rows(file.as_bytes(), Format::Csv, &map).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].cells.as_ref().unwrap()[2], ("text".into(), "Quick, kind\nand clear".into()));
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[0].cells.as_ref().unwrap().len(), 3, "the unmapped Id is left out");
        assert_eq!(rows[1].cells.as_ref().unwrap_err().1, "has 2 fields, the header has 4");
        assert_eq!(rows[2].line, 5);
        assert_eq!(rows[2].cells.as_ref().unwrap_err().1, "repeats line 2");
    }

    #[test]
    fn unknown_columns_refuse_the_file() {
        let e = rows(b"department,mood\nwater,happy\n", Format::Csv, &HashMap::new()).unwrap_err();
        assert!(matches!(e, SourceError::UnknownColumn(c) if c == "mood"));
        assert!(parse_map("Score=happiness").is_err());
    }

    #[test]
    fn json_lines_with_numbers_and_a_broken_line() {
        let file = b"{\"department\":\"water\",\"csat\":4}\n\nnot json\n{\"department\":\"streets\",\"nps\":null}\r\n";
        let rows = rows(file, Format::JsonLines, &HashMap::new()).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].cells.as_ref().unwrap().contains(&("csat".into(), "4".into())));
        assert_eq!(rows[1].line, 3);
        assert!(rows[1].cells.is_err());
        assert_eq!(rows[2].line, 4);
    }
}
