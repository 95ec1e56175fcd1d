//! Report-card figures on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::report_store!`]); counters are summed over their shards.
use crate::PgStore;

/// Whether the SQL text `value` is one of the comma-separated words in the SQL text `list`.
fn listed_in(list: &str, value: &str) -> String {
    format!("{value} = ANY (string_to_array({list}, ','))")
}

cityserve_store_sql::report_store!(PgStore);
