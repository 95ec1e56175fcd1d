//! The board report's reads on SQLite: the shared implementation ([`cityserve_store_sql::board_store!`]).
use crate::SqliteStore;

cityserve_store_sql::board_store!(SqliteStore);
