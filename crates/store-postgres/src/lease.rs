//! Leases on PostgreSQL: the shared implementation ([`cityserve_store_sql::lease_store!`]); the
//! `leases` table's row-level security admits the system scope only.
use crate::PgStore;

cityserve_store_sql::lease_store!(PgStore);
