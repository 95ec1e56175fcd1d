//! The dumb rules register on SQLite: the shared implementation
//! ([`cityserve_store_sql::dumb_rule_store!`]).
use crate::{SqliteStore, db_err};
use cityserve_domain::coordination::NewDumbRule;
use cityserve_store::StoreResult;
use sqlx::SqliteConnection;

/// Writes a new rule's affected departments and evidence, one statement per row.
async fn insert_links(conn: &mut SqliteConnection, new: &NewDumbRule) -> StoreResult<()> {
    for d in &new.affected {
        sqlx::query("INSERT INTO dumb_rule_affected (department_id, rule_id) VALUES ($1, $2)")
            .bind(d.as_str())
            .bind(new.id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    for (d, f) in &new.evidence {
        sqlx::query(
            "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(d.as_str())
        .bind(new.id.as_str())
        .bind(f.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

cityserve_store_sql::dumb_rule_store!(SqliteStore);
