//! The SQL both storage backends share, written once: statement texts (sqlx binds `$1`, `$2`, …
//! by number on SQLite too, so one text serves both databases) and one conversion per row type
//! into domain types ([`rows`]), reading columns through [`SqlRow`].
//!
//! No connection handling lives here: each backend runs these statements on its own connections
//! inside its one write path (the stores written once are macros expanded in each backend, naming
//! the backend's hooks as `crate::…`), and keeps only what truly differs (PostgreSQL's
//! row-level-security begin, arrays, row locks, UNNEST and SKIP LOCKED; SQLite's writer
//! connection, `IN` lists and multi-row statements).
//!
//! The two databases store two things differently, and [`SqlRow`] hides both: instants
//! (`timestamptz` on PostgreSQL, microseconds since the epoch in an `INTEGER` on SQLite) and JSON
//! (`jsonb` on PostgreSQL, text on SQLite).

#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

pub mod args;
pub mod audit;
pub mod board;
pub mod calendar;
pub mod coordination;
#[macro_use]
pub mod departments;
pub mod dumb_rules;
pub mod escalations;
#[macro_use]
pub mod feedback;
pub mod handoffs;
pub mod import;
pub mod initiatives;
pub mod lease;
pub mod notices;
pub mod observations;
pub mod officers;
pub mod panels;
pub mod reports;
pub mod rollups;
pub mod rows;
pub mod service_accounts;
pub mod themes;
pub mod touchpoints;
pub mod write;

use chrono::{DateTime, Utc};

use cityserve_domain::report::Delta;
use cityserve_domain::{DepartmentId, TenantScope, ValidationError};
use cityserve_store::{StoreError, StoreResult};
#[doc(hidden)]
pub use futures;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// Fails with [`StoreError::NotFound`] unless `scope` allows `department` (a department out of
/// scope looks like a missing one).
pub fn in_scope(scope: &TenantScope, department: &DepartmentId) -> StoreResult<()> {
    if scope.allows(department) { Ok(()) } else { Err(StoreError::NotFound) }
}

/// [`cityserve_domain::report::month_of`], for a day number read or computed by the store.
pub fn month_of(day: i64) -> StoreResult<i64> {
    cityserve_domain::report::month_of(day)
        .ok_or_else(|| StoreError::Internal(format!("day number {day} is out of range")))
}

/// Counter increments summed per key (department, day or month, metric), in key order.
pub type Summed<'a> = BTreeMap<(&'a str, i64, &'a str), i64>;

/// Report-card counter increments summed per key, once per table: the daily rollups and their
/// months' `rollups_monthly` rows (an upsert cannot touch one row twice in one statement).
pub fn sum_deltas(deltas: &[Delta]) -> StoreResult<(Summed<'_>, Summed<'_>)> {
    let mut daily = Summed::new();
    let mut monthly = Summed::new();
    for d in deltas {
        *daily.entry((d.department.as_str(), d.day, d.metric.as_str())).or_default() += d.value;
        *monthly.entry((d.department.as_str(), month_of(d.day)?, d.metric.as_str())).or_default() += d.value;
    }
    Ok((daily, monthly))
}

/// Whether officer `$2` is an active officer of department `$1`.
pub const ACTIVE_OFFICER: &str =
    "SELECT 1 FROM officers WHERE department_id = $1 AND officer_id = $2 AND status = 'active'";

/// Helpers every backend has, expanded at its crate root: `require_active_officer`. They run on
/// `crate::Conn` and map errors with `crate::db_err`.
#[macro_export]
macro_rules! backend_helpers {
    () => {
        /// Fails with a precondition error unless `officer` is an active officer of `department`.
        pub(crate) async fn require_active_officer(
            conn: &mut crate::Conn,
            department: &cityserve_domain::DepartmentId,
            officer: &cityserve_domain::OfficerId,
        ) -> cityserve_store::StoreResult<()> {
            let found = sqlx::query($crate::ACTIVE_OFFICER)
                .bind(department.as_str())
                .bind(officer.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            if found.is_none() {
                return Err(cityserve_store::StoreError::FailedPrecondition(format!(
                    "{officer} is not an active officer of department {department}"
                )));
            }
            Ok(())
        }
    };
}

/// A stored value that does not read back as what was written.
pub fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

/// `sql` with `lock` (a backend's row lock, e.g. `FOR UPDATE`) appended; unchanged without one
/// (a database that needs no row locks).
pub fn with_lock(sql: &str, lock: Option<&str>) -> String {
    match lock {
        Some(l) => format!("{sql} {l}"),
        None => sql.to_owned(),
    }
}

/// IDs read as texts (a list column, or one column of several rows), parsed; a corrupt row if
/// one does not parse.
pub fn parse_ids<T>(
    col: &str,
    texts: &[String],
    parse: fn(&str, &str) -> Result<T, ValidationError>,
) -> StoreResult<Vec<T>> {
    texts.iter().map(|v| parse(col, v).map_err(|_| corrupt(col))).collect()
}

fn decode(col: &str, e: sqlx::Error) -> StoreError {
    StoreError::Internal(format!("cannot read column {col}: {e}"))
}

/// Reading a result row's columns, the same way on both databases.
pub trait SqlRow {
    /// A text column.
    fn text(&self, col: &str) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    /// A 64-bit integer column (`bigint`; also `count(*)`).
    fn int(&self, col: &str) -> StoreResult<i64>;
    /// A nullable 64-bit integer column.
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    /// A 32-bit integer column (`integer` on PostgreSQL).
    fn int32(&self, col: &str) -> StoreResult<i32>;
    /// A nullable 32-bit integer column.
    fn opt_int32(&self, col: &str) -> StoreResult<Option<i32>>;
    /// A boolean (`boolean` on PostgreSQL, 0 or 1 on SQLite).
    fn flag(&self, col: &str) -> StoreResult<bool>;
    /// A nullable boolean.
    fn opt_flag(&self, col: &str) -> StoreResult<Option<bool>>;
    /// A nullable floating-point column.
    fn opt_real(&self, col: &str) -> StoreResult<Option<f64>>;
    /// An instant.
    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>>;
    /// A nullable instant.
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// A JSON document.
    fn json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<T>;
    /// A nullable JSON document.
    fn opt_json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<Option<T>>;
    /// A nullable list of texts (`text[]` on PostgreSQL, a JSON array in text on SQLite).
    fn opt_texts(&self, col: &str) -> StoreResult<Option<Vec<String>>>;

    /// A list of texts.
    fn texts(&self, col: &str) -> StoreResult<Vec<String>> {
        self.opt_texts(col)?.ok_or_else(|| corrupt(col))
    }

    /// A list of texts parsed into IDs (a corrupt row if one does not parse).
    fn ids<T>(&self, col: &str, parse: fn(&str, &str) -> Result<T, ValidationError>) -> StoreResult<Vec<T>> {
        parse_ids(col, &self.texts(col)?, parse)
    }

    /// A text column parsed into an ID (a corrupt row if it does not parse).
    fn id<T>(&self, col: &str, parse: fn(&str, &str) -> Result<T, ValidationError>) -> StoreResult<T> {
        let v = self.text(col)?;
        parse(col, &v).map_err(|_| corrupt(col))
    }

    /// A nullable text column parsed into an ID.
    fn opt_id<T>(&self, col: &str, parse: fn(&str, &str) -> Result<T, ValidationError>) -> StoreResult<Option<T>> {
        self.opt_text(col)?.map(|v| parse(col, &v).map_err(|_| corrupt(col))).transpose()
    }

    /// A text column parsed into one of a fixed set of words (an enum's `parse`).
    fn word<T>(&self, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
        let v = self.text(col)?;
        parse(&v).ok_or_else(|| corrupt(col))
    }

    /// A nullable text column parsed into one of a fixed set of words.
    fn opt_word<T>(&self, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<Option<T>> {
        self.opt_text(col)?.map(|v| parse(&v).ok_or_else(|| corrupt(col))).transpose()
    }
}

/// The columns both databases read the same way.
macro_rules! common_columns {
    () => {
        fn text(&self, col: &str) -> StoreResult<String> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn int(&self, col: &str) -> StoreResult<i64> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn int32(&self, col: &str) -> StoreResult<i32> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn opt_int32(&self, col: &str) -> StoreResult<Option<i32>> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
        fn opt_real(&self, col: &str) -> StoreResult<Option<f64>> {
            sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
        }
    };
}

#[cfg(feature = "postgres")]
impl SqlRow for sqlx::postgres::PgRow {
    common_columns!();

    fn flag(&self, col: &str) -> StoreResult<bool> {
        sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
    }

    fn opt_flag(&self, col: &str) -> StoreResult<Option<bool>> {
        sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
    }

    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
    }

    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<T> {
        let sqlx::types::Json(v): sqlx::types::Json<T> = sqlx::Row::try_get(self, col).map_err(|_| corrupt(col))?;
        Ok(v)
    }

    fn opt_json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<Option<T>> {
        let v: Option<sqlx::types::Json<T>> = sqlx::Row::try_get(self, col).map_err(|_| corrupt(col))?;
        Ok(v.map(|sqlx::types::Json(v)| v))
    }

    fn opt_texts(&self, col: &str) -> StoreResult<Option<Vec<String>>> {
        sqlx::Row::try_get(self, col).map_err(|e| decode(col, e))
    }
}

#[cfg(feature = "sqlite")]
impl SqlRow for sqlx::sqlite::SqliteRow {
    common_columns!();

    fn flag(&self, col: &str) -> StoreResult<bool> {
        Ok(self.int(col)? != 0)
    }

    fn opt_flag(&self, col: &str) -> StoreResult<Option<bool>> {
        Ok(self.opt_int(col)?.map(|v| v != 0))
    }

    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        let v = self.int(col)?;
        DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))
    }

    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.opt_int(col)?.map(|v| DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt(col))).transpose()
    }

    fn json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<T> {
        let v = self.text(col)?;
        serde_json::from_str(&v).map_err(|_| corrupt(col))
    }

    fn opt_json<T: DeserializeOwned>(&self, col: &str) -> StoreResult<Option<T>> {
        self.opt_text(col)?.map(|v| serde_json::from_str(&v).map_err(|_| corrupt(col))).transpose()
    }

    fn opt_texts(&self, col: &str) -> StoreResult<Option<Vec<String>>> {
        self.opt_json(col)
    }
}
