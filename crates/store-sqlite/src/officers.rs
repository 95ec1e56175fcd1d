//! [`OfficerStore`] on SQLite: the shared implementation ([`cityserve_store_sql::officer_store!`]).
use crate::{SqliteStore, claim_key, corrupt, db_err, in_scope, read_department, record};
use cityserve_store_sql::officers::prelude::*;

cityserve_store_sql::officer_reads!();

cityserve_store_sql::officer_store!(SqliteStore);
