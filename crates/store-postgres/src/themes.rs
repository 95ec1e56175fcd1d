//! Customer themes: the shared implementation ([`cityserve_store_sql::theme_store!`]).
use crate::PgStore;

cityserve_store_sql::theme_store!(PgStore);
