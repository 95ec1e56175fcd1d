//! Hand-offs on SQLite: the shared implementation ([`cityserve_store_sql::handoff_store!`]); the
//! writer connection serialises every write, so no row is locked.
use crate::SqliteStore;

cityserve_store_sql::handoff_store!(SqliteStore);
