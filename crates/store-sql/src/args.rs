//! Statements assembled at run time (listings whose filters are present or not): their values,
//! numbered `$1`, `$2`, … as both databases take them, and lists of values (a scope's
//! departments) bound the way each database takes a list ([`Lists`]). Only placeholders and fixed
//! SQL are formatted into a [`Select`]; every value is bound. [`crate::fetch_rows!`] and
//! [`crate::read_rows!`] run one in a backend.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use chrono::{DateTime, Utc};
use cityserve_domain::TenantScope;

/// A value bound to a statement assembled at run time; each backend binds it as it stores that
/// kind of value (its `bind_args`).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Text.
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// An instant (`timestamptz` on PostgreSQL, microseconds on SQLite).
    Time(DateTime<Utc>),
    /// A list of texts as one array parameter (only with [`Lists::Array`]).
    Texts(Vec<String>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Self {
        Self::Time(v)
    }
}

/// How a database takes a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// One array parameter, `column = ANY ($n)` (PostgreSQL).
    Array,
    /// One parameter per value, `column IN ($n, $n+1, …)` (SQLite).
    Expanded,
}

/// A list bound into a [`Select`], to test columns against (as often as needed: its
/// parameters are numbered, so every test reuses them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    lists: Lists,
    first: usize,
    len: usize,
}

impl List {
    /// The condition that `column` is one of the list's values (never true for an empty list).
    pub fn has(&self, column: &str) -> String {
        match self.lists {
            Lists::Array => format!("{column} = ANY (${})", self.first),
            Lists::Expanded if self.len == 0 => "1 = 0".to_owned(),
            Lists::Expanded => {
                let marks: Vec<String> = (self.first..self.first + self.len).map(|n| format!("${n}")).collect();
                format!("{column} IN ({})", marks.join(", "))
            }
        }
    }
}

/// A statement assembled at run time, with its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    lists: Lists,
    sql: String,
    args: Vec<Arg>,
    filtered: bool,
}

impl Select {
    /// Starts with `sql` (e.g. `SELECT … FROM t`); [`Select::and`] adds its `WHERE` clause.
    pub fn new(lists: Lists, sql: impl Into<String>) -> Self {
        Self { lists, sql: sql.into(), args: Vec::new(), filtered: false }
    }

    /// Binds a value; returns its placeholder (`$n`).
    pub fn arg(&mut self, v: impl Into<Arg>) -> String {
        self.args.push(v.into());
        format!("${}", self.args.len())
    }

    /// Binds a list of values, for [`List::has`].
    pub fn list<'a>(&mut self, items: impl IntoIterator<Item = &'a str>) -> List {
        let first = self.args.len() + 1;
        match self.lists {
            Lists::Array => {
                self.args.push(Arg::Texts(items.into_iter().map(str::to_owned).collect()));
                List { lists: self.lists, first, len: 1 }
            }
            Lists::Expanded => {
                self.args.extend(items.into_iter().map(Arg::from));
                List { lists: self.lists, first, len: self.args.len() + 1 - first }
            }
        }
    }

    /// Appends fixed SQL.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Adds a condition to the `WHERE` clause.
    pub fn and(&mut self, condition: &str) -> &mut Self {
        self.sql.push_str(if self.filtered { " AND " } else { " WHERE " });
        self.sql.push_str(condition);
        self.filtered = true;
        self
    }

    /// Adds `column = value` when there is a value.
    pub fn and_eq<V: Into<Arg>>(&mut self, column: &str, value: Option<V>) -> &mut Self {
        if let Some(v) = value {
            let p = self.arg(v);
            self.and(&format!("{column} = {p}"));
        }
        self
    }

    /// Restricts rows to the scope's departments (nothing for a city-wide scope): one of
    /// `columns` names a department of the scope.
    pub fn and_in_scope(&mut self, scope: &TenantScope, columns: &[&str]) -> &mut Self {
        if let Some(ds) = scope.departments() {
            let list = self.list(ds.iter().map(|d| d.as_str()));
            let tests: Vec<String> = columns.iter().map(|c| list.has(c)).collect();
            self.and(&format!("({})", tests.join(" OR ")));
        }
        self
    }

    /// Adds `column < after` when there is a position (a page ordered by `column`, descending).
    pub fn and_before(&mut self, column: &str, after: Option<&str>) -> &mut Self {
        if let Some(a) = after {
            let p = self.arg(a);
            self.and(&format!("{column} < {p}"));
        }
        self
    }

    /// Ends the statement with ` ORDER BY {order} LIMIT` one row more than `size` (which tells
    /// whether another page follows).
    pub fn page(&mut self, order: &str, size: u32) -> &mut Self {
        let limit = self.arg(i64::from(size) + 1);
        self.push(&format!(" ORDER BY {order} LIMIT {limit}"))
    }

    /// The statement and its values, in placeholder order.
    pub fn finish(self) -> (String, Vec<Arg>) {
        (self.sql, self.args)
    }
}

/// Binds `args` in order to `q`: texts and integers as they are, instants through `time` and lists
/// through `list` (each the backend's form).
pub fn bind<'q, DB, T, L>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    args: Vec<Arg>,
    time: fn(DateTime<Utc>) -> T,
    list: fn(Vec<String>) -> L,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    String: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    L: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for a in args {
        q = match a {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Time(v) => q.bind(time(v)),
            Arg::Texts(v) => q.bind(list(v)),
        };
    }
    q
}

/// Runs a [`Select`] on a connection (`$conn`, e.g. `&mut *tx`) and evaluates to its rows (or
/// returns the error); expanded in a backend, which binds the values (`crate::bind_args`) and maps
/// errors (`crate::db_err`).
#[macro_export]
macro_rules! fetch_rows {
    ($conn:expr, $select:expr) => {{
        let (sql, args) = $crate::args::Select::finish($select);
        crate::bind_args(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all($conn).await.map_err(crate::db_err)?
    }};
}

/// Runs a [`Select`] in a read of the store `$store` under `$scope` (`$store.read(scope)`, then
/// `finish()`) and evaluates to its rows, like [`crate::fetch_rows!`].
#[macro_export]
macro_rules! read_rows {
    ($store:expr, $scope:expr, $select:expr) => {{
        let mut tx = $store.read($scope).await?;
        let rows = $crate::fetch_rows!(&mut *tx, $select);
        tx.finish().await?;
        rows
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_reuse_their_numbered_parameters() {
        let mut q = Select::new(Lists::Expanded, "SELECT x FROM t");
        q.and_eq("a", Some("1"));
        let l = q.list(["p", "q"]);
        q.and(&format!("({} OR {})", l.has("b"), l.has("c")));
        q.and_eq::<i64>("d", None);
        let (sql, args) = q.finish();
        assert_eq!(sql, "SELECT x FROM t WHERE a = $1 AND (b IN ($2, $3) OR c IN ($2, $3))");
        assert_eq!(args.len(), 3);

        let mut q = Select::new(Lists::Array, "SELECT x FROM t");
        let l = q.list(["p", "q"]);
        q.and(&l.has("b"));
        let e = q.list([]);
        q.and(&e.has("c"));
        assert_eq!(q.finish().0, "SELECT x FROM t WHERE b = ANY ($1) AND c = ANY ($2)");

        let mut q = Select::new(Lists::Expanded, "SELECT x FROM t");
        let e = q.list([]);
        q.and(&e.has("c"));
        assert_eq!(q.finish(), ("SELECT x FROM t WHERE 1 = 0".to_owned(), Vec::new()));
    }
}
