//! The board report's reads on PostgreSQL: the shared implementation ([`cityserve_store_sql::board_store!`]).
use crate::PgStore;

cityserve_store_sql::board_store!(PgStore);
