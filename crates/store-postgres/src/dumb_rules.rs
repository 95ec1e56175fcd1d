//! The dumb rules register on PostgreSQL: the shared implementation
//! ([`cityserve_store_sql::dumb_rule_store!`]), with a new rule's departments and evidence
//! written from arrays (UNNEST).
use crate::{PgStore, db_err};
use cityserve_domain::coordination::NewDumbRule;
use cityserve_store::StoreResult;
use sqlx::PgConnection;

/// Writes a new rule's affected departments and evidence, one statement each.
async fn insert_links(conn: &mut PgConnection, new: &NewDumbRule) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO dumb_rule_affected (department_id, rule_id)
         SELECT DISTINCT d, $2 FROM unnest($1::text[]) AS d",
    )
    .bind(new.affected.iter().map(|d| d.as_str()).collect::<Vec<_>>())
    .bind(new.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO dumb_rule_evidence (department_id, rule_id, feedback_id)
         SELECT d, $3, f FROM unnest($1::text[], $2::text[]) AS e (d, f)
         ON CONFLICT DO NOTHING",
    )
    .bind(new.evidence.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>())
    .bind(new.evidence.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>())
    .bind(new.id.as_str())
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

cityserve_store_sql::dumb_rule_store!(PgStore);
