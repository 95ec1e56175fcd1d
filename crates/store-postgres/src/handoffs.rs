//! Hand-offs on PostgreSQL: the shared implementation ([`cityserve_store_sql::handoff_store!`]),
//! with the case and the hand-off locked (`FOR UPDATE`) where an answer or a second hand-off
//! must wait.
use crate::PgStore;

cityserve_store_sql::handoff_store!(PgStore);
