//! [`ImportStore`] on PostgreSQL: every batch is validated on a blocking thread while the previous
//! one is written, all in one transaction (acting under the caller's row-level-security settings,
//! which rule out `COPY`) with `INSERT ... SELECT FROM unnest(...)` of column arrays,
//! [`ROWS_PER_STATEMENT`] rows per statement; the report-card counters are aggregated in memory
//! and added once per import. Several departments load in parallel on separate connections (the
//! caller's choice, e.g. `cityserve demo`).
use crate::{PgStore, db_err, in_scope};
use chrono::{DateTime, Utc};
use cityserve_domain::{Case, DepartmentId};
use cityserve_store::import::{
    ImportCounters, ImportRules, ImportStore, ImportedContact, ValidatedBatch, validate_batch,
};
use cityserve_store::{StoreResult, WriteCtx};
use cityserve_store_sql::import::{Pipeline, batches};
use sqlx::PgConnection;
use tokio::sync::mpsc;

/// Rows per INSERT statement: large enough that round trips and planning vanish in the cost of
/// the rows, small enough to keep each statement's arrays a few megabytes.
const ROWS_PER_STATEMENT: usize = 10_000;

/// A contact of a validated batch and, for a complaint, its case.
struct Row<'a> {
    item: &'a ImportedContact,
    case: Option<&'a Case>,
}

/// Writes one validated chunk: its feedback, then its cases and timeline entries (which refer to
/// the feedback).
async fn insert_chunk(conn: &mut PgConnection, department: &DepartmentId, rows: &[Row<'_>]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    insert_feedback(conn, department, rows).await?;
    let cases: Vec<&Case> = rows.iter().filter_map(|r| r.case).collect();
    insert_cases(conn, department, &cases).await?;
    insert_timeline(conn, department, rows).await
}

async fn insert_feedback(conn: &mut PgConnection, department: &DepartmentId, rows: &[Row<'_>]) -> StoreResult<()> {
    let n = rows.len();
    let mut ids = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut csats = Vec::with_capacity(n);
    let mut npss = Vec::with_capacity(n);
    let mut texts = Vec::with_capacity(n);
    let mut languages = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    let mut addresses = Vec::with_capacity(n);
    let mut latitudes = Vec::with_capacity(n);
    let mut longitudes = Vec::with_capacity(n);
    let mut occurred: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut received: Vec<DateTime<Utc>> = Vec::with_capacity(n);
    let mut resident_keys = Vec::with_capacity(n);
    let mut internal_customers = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut media = Vec::with_capacity(n);
    let mut address_ids = Vec::with_capacity(n);
    let mut answers = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut accounts = Vec::with_capacity(n);
    for Row { item, .. } in rows {
        let f = &item.feedback;
        ids.push(f.id.as_str());
        channels.push(f.channel.as_str());
        kinds.push(f.kind.as_str());
        csats.push(f.csat);
        npss.push(f.nps);
        texts.push(f.text.as_str());
        languages.push(f.language.as_str());
        categories.push(f.category.as_ref().map(|c| c.as_str()));
        addresses.push(f.location.address.as_str());
        latitudes.push(f.location.latitude);
        longitudes.push(f.location.longitude);
        occurred.push(f.occurred_at);
        received.push(item.received_at);
        resident_keys.push(item.resident_key.as_deref());
        internal_customers.push(f.internal_customer.as_ref().map(|c| c.as_str()));
        sources.push(f.source.as_deref());
        media.push(cityserve_store_sql::feedback::media_column(&f.media));
        address_ids.push(f.location.address_id.as_str());
        answers.push(cityserve_store_sql::rows::json_column(&f.attributes));
        devices.push(f.client_ids.device_id.as_str());
        accounts.push(f.client_ids.account_id.as_str());
    }
    sqlx::query(
        "INSERT INTO feedback (department_id, feedback_id, channel, kind, csat, nps, text, language, category_id,
             address, latitude, longitude, occurred_at, received_at, resident_key, internal_customer, erased, source,
             media_urls, address_id, attributes, device_id, account_id)
         SELECT $1, u.i, u.ch, u.k, u.cs, u.n, u.t, u.l, u.cat, u.a, u.lat, u.lon, u.o, u.r, u.rk, u.ic, false, u.s,
             u.m, u.ai, u.at, u.dv, u.ac
         FROM unnest($2::text[], $3::text[], $4::text[], $5::int4[], $6::int4[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::float8[], $12::float8[], $13::timestamptz[], $14::timestamptz[],
             $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[])
             AS u (i, ch, k, cs, n, t, l, cat, a, lat, lon, o, r, rk, ic, s, m, ai, at, dv, ac)",
    )
    .bind(department.as_str())
    .bind(&ids)
    .bind(&channels)
    .bind(&kinds)
    .bind(&csats)
    .bind(&npss)
    .bind(&texts)
    .bind(&languages)
    .bind(&categories)
    .bind(&addresses)
    .bind(&latitudes)
    .bind(&longitudes)
    .bind(&occurred)
    .bind(&received)
    .bind(&resident_keys)
    .bind(&internal_customers)
    .bind(&sources)
    .bind(&media)
    .bind(&address_ids)
    .bind(&answers)
    .bind(&devices)
    .bind(&accounts)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_cases(conn: &mut PgConnection, department: &DepartmentId, cases: &[&Case]) -> StoreResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let n = cases.len();
    let mut ids = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut assignees = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut received = Vec::with_capacity(n);
    let mut ack_due = Vec::with_capacity(n);
    let mut resolve_due = Vec::with_capacity(n);
    let mut acknowledged = Vec::with_capacity(n);
    let mut resolved = Vec::with_capacity(n);
    let mut closed = Vec::with_capacity(n);
    let mut reopens = Vec::with_capacity(n);
    let mut follow_ups = Vec::with_capacity(n);
    let mut satisfied = Vec::with_capacity(n);
    let mut resident_keys = Vec::with_capacity(n);
    let mut updated = Vec::with_capacity(n);
    let mut first_contacts = Vec::with_capacity(n);
    for c in cases {
        ids.push(c.id.as_str());
        statuses.push(c.status.as_str());
        assignees.push(c.assignee.as_ref().map(|a| a.as_str()));
        categories.push(c.category.as_ref().map(|x| x.as_str()));
        channels.push(c.channel.as_str());
        received.push(c.received_at);
        ack_due.push(c.acknowledge_due);
        resolve_due.push(c.resolve_due);
        acknowledged.push(c.acknowledged_at);
        resolved.push(c.resolved_at);
        closed.push(c.closed_at);
        reopens.push(c.reopen_count);
        follow_ups.push(c.follow_up.as_ref().map(|x| x.as_str()));
        satisfied.push(c.satisfied);
        resident_keys.push(c.resident_key.as_deref());
        updated.push(c.update_time);
        first_contacts.push(c.first_contact_at);
    }
    sqlx::query(
        "INSERT INTO cases (department_id, case_id, status, assignee, category_id, channel, received_at,
             acknowledge_due, resolve_due, acknowledged_at, resolved_at, closed_at, reopen_count, follow_up,
             satisfied, resident_key, revision, update_time, first_contact_at)
         SELECT $1, u.i, u.s, u.a, u.cat, u.ch, u.r, u.ad, u.rd, u.at, u.rt, u.ct, u.n, u.f, u.sat, u.k, 1, u.ut, u.fc
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
             $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[],
             $13::int4[], $14::text[], $15::bool[], $16::text[], $17::timestamptz[], $18::timestamptz[])
             AS u (i, s, a, cat, ch, r, ad, rd, at, rt, ct, n, f, sat, k, ut, fc)",
    )
    .bind(department.as_str())
    .bind(&ids)
    .bind(&statuses)
    .bind(&assignees)
    .bind(&categories)
    .bind(&channels)
    .bind(&received)
    .bind(&ack_due)
    .bind(&resolve_due)
    .bind(&acknowledged)
    .bind(&resolved)
    .bind(&closed)
    .bind(&reopens)
    .bind(&follow_ups)
    .bind(&satisfied)
    .bind(&resident_keys)
    .bind(&updated)
    .bind(&first_contacts)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_timeline(conn: &mut PgConnection, department: &DepartmentId, rows: &[Row<'_>]) -> StoreResult<()> {
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    let mut channels = Vec::new();
    let mut occurred: Vec<DateTime<Utc>> = Vec::new();
    let mut statuses = Vec::new();
    for Row { item, case } in rows {
        let Some(key) = &item.resident_key else { continue };
        let f = &item.feedback;
        ids.push(f.id.as_str());
        keys.push(key.as_str());
        channels.push(f.channel.as_str());
        occurred.push(f.occurred_at);
        statuses.push(case.map(|c| c.status.as_str()));
    }
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO timeline_entries (department_id, feedback_id, resident_key, channel, occurred_at, case_status)
         SELECT $1, u.* FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS u",
    )
    .bind(department.as_str())
    .bind(&ids)
    .bind(&keys)
    .bind(&channels)
    .bind(&occurred)
    .bind(&statuses)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Writes a validated batch, [`ROWS_PER_STATEMENT`] rows per statement.
async fn insert_batch(conn: &mut PgConnection, department: &DepartmentId, batch: &ValidatedBatch) -> StoreResult<()> {
    let rows: Vec<Row<'_>> =
        batch.items.iter().zip(&batch.cases).map(|(item, case)| Row { item, case: case.as_ref() }).collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        insert_chunk(conn, department, chunk).await?;
    }
    Ok(())
}

/// Validates a batch: all the preparation there is (the column arrays are bound as it is
/// written).
fn validate(
    rules: &ImportRules,
    first: usize,
    items: Vec<ImportedContact>,
) -> StoreResult<(ValidatedBatch, ImportCounters)> {
    let mut batch = validate_batch(rules, first, items)?;
    let counters = std::mem::take(&mut batch.counters);
    Ok((batch, counters))
}

cityserve_store_sql::import_steps!();

impl ImportStore for PgStore {
    async fn import_contacts(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        items: &[ImportedContact],
    ) -> StoreResult<u64> {
        self.import_stream(ctx, department, batches(items, ROWS_PER_STATEMENT)?).await
    }

    async fn import_stream(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        mut batches: mpsc::Receiver<Vec<ImportedContact>>,
    ) -> StoreResult<u64> {
        in_scope(ctx.scope, department)?;
        let mut tx = self.write(ctx).await?;
        let rules = import_rules(&mut tx, department).await?;
        // On any error the transaction is rolled back (dropped).
        let mut pipeline = Pipeline::start(rules, validate, &mut batches).await;
        while let Some(batch) = pipeline.next().await? {
            pipeline.write_while_receiving(&mut batches, insert_batch(&mut tx, department, &batch)).await?;
        }
        let imported = import_done(&mut tx, ctx, department, pipeline.finish()).await?;
        self.commit(tx).await?;
        Ok(imported)
    }
}
