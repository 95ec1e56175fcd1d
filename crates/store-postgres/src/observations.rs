//! Rubrics and observations on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::observation_store!`]), under the tenant-isolation policy of
//! migration 0022.
use crate::PgStore;

cityserve_store_sql::observation_store!(PgStore);
