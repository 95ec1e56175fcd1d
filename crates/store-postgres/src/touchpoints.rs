//! Touchpoints on PostgreSQL: the shared implementation ([`cityserve_store_sql::touchpoint_store!`]),
//! under the tenant-isolation policy of migration 0021.
use crate::PgStore;

cityserve_store_sql::touchpoint_store!(PgStore);
