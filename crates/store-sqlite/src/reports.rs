//! Report-card figures on SQLite: the shared implementation ([`cityserve_store_sql::report_store!`]).
use crate::SqliteStore;

/// Whether the SQL text `value` is one of the comma-separated words in the SQL text `list`.
fn listed_in(list: &str, value: &str) -> String {
    format!("instr(',' || {list} || ',', ',' || {value} || ',') > 0")
}

cityserve_store_sql::report_store!(SqliteStore);
