//! [`OfficerStore`] on SQLite: the shared implementation ([`cityserve_store_sql::officer_store!`]).
use crate::{SqliteStore, claim_key, corrupt, db_err, in_scope, read_department, record};
use cityserve_store_sql::officers::prelude::*;

cityserve_store_sql::officer_reads!();

cityserve_store_sql::officer_store!(SqliteStore);

// Service accounts: the other identities the standing check reads.
cityserve_store_sql::service_account_store!(SqliteStore);
