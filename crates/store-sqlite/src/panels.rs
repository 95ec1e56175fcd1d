//! Feedback panels on SQLite: the shared implementation ([`cityserve_store_sql::panel_store!`]).
use crate::SqliteStore;

cityserve_store_sql::panel_store!(SqliteStore);
