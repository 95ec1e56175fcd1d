//! Feedback panels on PostgreSQL: the shared implementation ([`cityserve_store_sql::panel_store!`]), under the tenant-isolation policy of migration 0024.
use crate::PgStore;

cityserve_store_sql::panel_store!(PgStore);
