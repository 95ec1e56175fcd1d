//! The output file of an export and its resume point.
//!
//! Rows are appended chunk by chunk. After each chunk is on disk, `FILE.resume` records the
//! server's resume token, the file's length and the rows written; `--resume` cuts the file back
//! to that length (dropping a chunk half-written when the export was stopped) and continues
//! from the token, so a resumed export holds every row exactly once. The resume file is removed
//! when the export completes. Parquet files are written whole ([`crate::parquet`]).
use crate::parquet::ParquetOut;
use crate::records::{Column, Record, cell};
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (RFC 4180 quoting, UTF-8).
    Csv,
    /// One JSON object per line.
    JsonLines,
    /// Apache Parquet, typed columns.
    Parquet,
}

impl Format {
    /// From the file name: `.jsonl`/`.ndjson` are JSON Lines, `.parquet` Parquet, anything else
    /// CSV.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("jsonl" | "ndjson") => Format::JsonLines,
            Some("parquet") => Format::Parquet,
            _ => Format::Csv,
        }
    }
}

/// Where an interrupted export stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The token of the last chunk on disk.
    pub token: String,
    /// The file's length after it.
    pub length: u64,
    /// Rows written so far.
    pub rows: u64,
}

/// `path` + `.resume`.
pub fn resume_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".resume");
    PathBuf::from(name)
}

/// An export's output file.
pub struct Sink {
    out: Out,
    path: PathBuf,
    columns: Vec<String>,
    at: Resume,
}

/// Rows as text, appended and resumable; or a Parquet file, written whole.
enum Out {
    Text(File, Format),
    Parquet(Box<ParquetOut>),
}

impl Sink {
    /// Opens `path` for rows of `columns`: continuing an interrupted export when `resume` is set
    /// and one was recorded, else from an empty file. Answers where it continues from.
    pub fn open(path: &Path, format: Format, columns: &[Column], resume: bool) -> std::io::Result<(Sink, Resume)> {
        if format == Format::Parquet {
            let out = Out::Parquet(Box::new(ParquetOut::create(File::create(path)?, columns)?));
            let sink = Sink { out, path: path.to_owned(), columns: Vec::new(), at: Resume::default() };
            return Ok((sink, Resume::default()));
        }
        let columns: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
        let recorded = if resume { read_resume(&resume_path(path))? } else { None };
        let (file, at) = match recorded {
            Some(at) => {
                let mut file = OpenOptions::new().write(true).open(path)?;
                file.set_len(at.length)?;
                file.seek(SeekFrom::End(0))?;
                (file, at)
            }
            None => {
                let mut file = File::create(path)?;
                if format == Format::Csv {
                    let mut w = csv::Writer::from_writer(Vec::new());
                    w.write_record(&columns).map_err(std::io::Error::other)?;
                    file.write_all(&w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?)?;
                }
                let length = file.stream_position()?;
                (file, Resume { length, ..Resume::default() })
            }
        };
        let sink = Sink { out: Out::Text(file, format), path: path.to_owned(), columns, at: at.clone() };
        Ok((sink, at))
    }

    /// Appends a chunk of rows and records `token` as the point to resume from after it.
    pub fn append(&mut self, rows: &[Record], token: &str) -> std::io::Result<()> {
        let (file, format) = match &mut self.out {
            Out::Parquet(p) => {
                self.at.rows += rows.len() as u64;
                return p.append(rows);
            }
            Out::Text(file, format) => (file, *format),
        };
        let mut bytes = Vec::new();
        match format {
            Format::Csv | Format::Parquet => {
                let mut w = csv::Writer::from_writer(&mut bytes);
                for r in rows {
                    w.write_record(r.iter().map(cell)).map_err(std::io::Error::other)?;
                }
                w.flush()?;
            }
            Format::JsonLines => {
                for r in rows {
                    let object: Map<String, Value> = self.columns.iter().cloned().zip(r.iter().cloned()).collect();
                    serde_json::to_writer(&mut bytes, &object)?;
                    bytes.push(b'\n');
                }
            }
        }
        file.write_all(&bytes)?;
        file.sync_data()?;
        self.at = Resume {
            token: token.to_owned(),
            length: self.at.length + bytes.len() as u64,
            rows: self.at.rows + rows.len() as u64,
        };
        write_resume(&resume_path(&self.path), &self.at)
    }

    /// Rows written so far (counting those of the run resumed).
    pub fn rows(&self) -> u64 {
        self.at.rows
    }

    /// The export is complete: the resume point is dropped (a Parquet file gets its footer).
    pub fn finish(self) -> std::io::Result<u64> {
        if let Out::Parquet(p) = self.out {
            p.finish()?;
            return Ok(self.at.rows);
        }
        match std::fs::remove_file(resume_path(&self.path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        Ok(self.at.rows)
    }
}

fn read_resume(path: &Path) -> std::io::Result<Option<Resume>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
    let field = |k: &str| v.get(k).ok_or_else(|| std::io::Error::other(format!("{}: no {k}", path.display())));
    Ok(Some(Resume {
        token: field("token")?.as_str().unwrap_or_default().to_owned(),
        length: field("length")?.as_u64().unwrap_or_default(),
        rows: field("rows")?.as_u64().unwrap_or_default(),
    }))
}

/// Written beside and renamed over, so a crash leaves the old point or the new, never half.
fn write_resume(path: &Path, at: &Resume) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let v = serde_json::json!({ "token": at.token, "length": at.length, "rows": at.rows });
    std::fs::write(&tmp, v.to_string())?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Kind;

    fn columns() -> Vec<Column> {
        ["a", "b"].iter().map(|n| Column { name: (*n).to_owned(), kind: Kind::Text }).collect()
    }

    #[test]
    fn a_resumed_export_drops_the_half_written_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let (mut sink, at) = Sink::open(&path, Format::Csv, &columns(), true).unwrap();
        assert_eq!(at.rows, 0);
        sink.append(&[vec![Value::from(1), Value::from("x, y")]], "t1").unwrap();
        drop(sink);
        // A chunk written but not recorded: the export stopped in between.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"2,half").unwrap();
        let (mut sink, at) = Sink::open(&path, Format::Csv, &columns(), true).unwrap();
        assert_eq!((at.token.as_str(), at.rows), ("t1", 1));
        sink.append(&[vec![Value::from(2), Value::Null]], "").unwrap();
        assert_eq!(sink.finish().unwrap(), 2);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a,b\n1,\"x, y\"\n2,\n");
        assert!(!resume_path(&path).exists());
    }

    #[test]
    fn json_lines_name_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let (mut sink, _) = Sink::open(&path, Format::of(&path), &columns(), false).unwrap();
        sink.append(&[vec![Value::from(1), Value::Null]], "").unwrap();
        sink.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1,\"b\":null}\n");
    }
}
