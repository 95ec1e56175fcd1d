//! Touchpoints on SQLite: the shared implementation ([`cityserve_store_sql::touchpoint_store!`]).
use crate::SqliteStore;

cityserve_store_sql::touchpoint_store!(SqliteStore);
