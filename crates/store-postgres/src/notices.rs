//! Resident notices on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::notice_store!`]); row-level security keeps each department's notices
//! and templates to its officers, the city-wide templates readable by all.
use crate::PgStore;

cityserve_store_sql::notice_store!(PgStore);
