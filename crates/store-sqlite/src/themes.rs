//! Customer themes: the shared implementation ([`cityserve_store_sql::theme_store!`]).
use crate::SqliteStore;

cityserve_store_sql::theme_store!(SqliteStore);
