//! Several statements sent to SQLite's thread as one.
//!
//! sqlx runs every query on its connection's own thread: each is a crossing there and back, and
//! the one writer waits for every crossing of a batch (docs/write-path-benchmarks.md, "Where a
//! batch's time goes"). Statements whose results nobody reads (a batch's counters, audit rows and
//! events at its commit) can go in one crossing instead: sqlx runs a query's statements one after
//! another on that thread, binding each statement's parameters from where the previous one's
//! ended.
//!
//! sqlx calls several statements in one query a SQLite-only behaviour it has deprecated (sqlx-core
//! 0.9's documentation of `query`, launchbadge/sqlx#3108), though 0.9 keeps it. So only this
//! module relies on it, only through `execute` (no rows read back), and the test below is the
//! first thing to fail should an upgrade drop it (the statements would then go back to a query
//! each, as before this module).

use crate::db_err;
use cityserve_store::{StoreError, StoreResult};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, Encode, Sqlite, SqliteConnection, Type};

/// Statements run in order in one crossing to SQLite's thread: their texts joined, their
/// parameters (anonymous `?`s only, so that each statement's are bound in order of appearance)
/// bound in the order given. The first statement that fails stops the rest, and its error is the
/// script's; the caller's transaction then holds the earlier ones' changes until it is rolled back,
/// as with statements run one by one.
#[derive(Debug, Default)]
pub(crate) struct Script {
    sql: String,
    args: SqliteArguments,
    /// The first value that could not be bound: the script fails with it instead of running.
    unbound: Option<String>,
}

impl Script {
    /// Appends a statement (without its `;`) whose parameters the next [`Script::bind`]s give.
    pub(crate) fn statement(&mut self, sql: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(sql);
    }

    /// Binds the next parameter.
    pub(crate) fn bind<'t, T: Encode<'t, Sqlite> + Type<Sqlite> + 't>(&mut self, value: T) -> &mut Self {
        if let Err(e) = self.args.add(value)
            && self.unbound.is_none()
        {
            self.unbound = Some(e.to_string());
        }
        self
    }

    /// Runs the statements on `conn`: nothing when there are none. Texts that recur are prepared
    /// once and kept with the connection's other statements.
    pub(crate) async fn run(self, conn: &mut SqliteConnection) -> StoreResult<()> {
        if let Some(e) = self.unbound {
            return Err(StoreError::Internal(format!("a value could not be bound: {e}")));
        }
        if self.sql.is_empty() {
            return Ok(());
        }
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args).execute(conn).await.map_err(db_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection as _;

    #[tokio::test]
    async fn runs_every_statement_with_its_own_parameters_and_stops_at_the_first_failure() {
        let mut conn = SqliteConnection::connect("sqlite::memory:").await.expect("in-memory database");
        let mut setup = Script::default();
        setup.statement("CREATE TABLE a (x INTEGER PRIMARY KEY, y TEXT NOT NULL)");
        setup.statement("CREATE TABLE b (z TEXT NOT NULL)");
        setup.run(&mut conn).await.expect("tables");

        let mut s = Script::default();
        s.statement("INSERT INTO a (x, y) VALUES (?, ?), (?, ?)");
        s.bind(1_i64).bind("one").bind(2_i64).bind("two");
        s.statement("INSERT INTO b (z) VALUES (?)");
        s.bind("three");
        s.run(&mut conn).await.expect("script");
        let a: Vec<(i64, String)> =
            sqlx::query_as("SELECT x, y FROM a ORDER BY x").fetch_all(&mut conn).await.expect("a");
        assert_eq!(a, [(1, "one".to_owned()), (2, "two".to_owned())]);
        let b: Vec<(String,)> = sqlx::query_as("SELECT z FROM b").fetch_all(&mut conn).await.expect("b");
        assert_eq!(b, [("three".to_owned(),)]);

        // The second statement breaks the key: the third does not run, and the error is the
        // script's.
        let mut s = Script::default();
        s.statement("INSERT INTO b (z) VALUES (?)");
        s.bind("four");
        s.statement("INSERT INTO a (x, y) VALUES (?, ?)");
        s.bind(1_i64).bind("again");
        s.statement("INSERT INTO b (z) VALUES (?)");
        s.bind("five");
        assert_eq!(s.run(&mut conn).await, Err(StoreError::AlreadyExists));
        let b: Vec<(String,)> = sqlx::query_as("SELECT z FROM b ORDER BY z").fetch_all(&mut conn).await.expect("b");
        assert_eq!(b, [("four".to_owned(),), ("three".to_owned(),)]);

        // An empty script runs nothing.
        Script::default().run(&mut conn).await.expect("empty");
    }
}
