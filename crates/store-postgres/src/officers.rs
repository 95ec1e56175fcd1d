//! [`OfficerStore`] on PostgreSQL: the shared implementation ([`cityserve_store_sql::officer_store!`]).
//! Every transaction, reads included, starts with the scope's row-level-security settings
//! (`PgStore::begin`).
use crate::{PgStore, claim_key, corrupt, db_err, in_scope, read_department, record};
use cityserve_store_sql::officers::prelude::*;

cityserve_store_sql::officer_reads!();

cityserve_store_sql::officer_store!(PgStore);

// Service accounts: the other identities the standing check reads.
cityserve_store_sql::service_account_store!(PgStore);
