//! Resident notices on SQLite: the shared implementation ([`cityserve_store_sql::notice_store!`]),
//! written on the writer connection like every other write.
use crate::SqliteStore;

cityserve_store_sql::notice_store!(SqliteStore);
