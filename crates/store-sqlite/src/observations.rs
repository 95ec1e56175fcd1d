//! Rubrics and observations on SQLite: the shared implementation
//! ([`cityserve_store_sql::observation_store!`]).
use crate::SqliteStore;

cityserve_store_sql::observation_store!(SqliteStore);
