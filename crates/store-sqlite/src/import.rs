//! [`ImportStore`] on SQLite: multi-row INSERTs of up to [`ROWS_PER_STATEMENT`] rows in one
//! transaction, counters aggregated once per batch.
use crate::feedback::intake;
use crate::{SqliteStore, apply_deltas, db_err, in_scope, micros};
use cityserve_domain::report::{self, Delta};
use cityserve_domain::{Case, CaseId, DepartmentId, FeedbackKind};
use cityserve_store::import::{ImportStore, ImportedContact};
use cityserve_store::{StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::SqliteConnection;

/// Rows per INSERT statement (SQLite allows 32,766 bound values; feedback has 19 columns).
const ROWS_PER_STATEMENT: usize = 400;

/// A bound value.
enum Val<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
    Real(Option<f64>),
}

/// Inserts `rows` (each `cols.len()` values) into `table`, many rows per statement.
async fn insert_rows(
    conn: &mut SqliteConnection,
    table: &str,
    cols: &[&str],
    rows: Vec<Vec<Val<'_>>>,
) -> StoreResult<()> {
    let placeholders = format!("({})", vec!["?"; cols.len()].join(", "));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val<'_>>> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES {}",
            cols.join(", "),
            vec![placeholders.as_str(); chunk.len()].join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for row in chunk {
            for v in row {
                q = match v {
                    Val::Text(t) => q.bind(t),
                    Val::Int(i) => q.bind(i),
                    Val::Real(r) => q.bind(r),
                };
            }
        }
        q.execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(())
}

impl ImportStore for SqliteStore {
    async fn import_contacts(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        items: &[ImportedContact],
    ) -> StoreResult<u64> {
        in_scope(ctx.scope, department)?;
        let mut tx = self.write_tx().await?;
        let intake = intake(&mut tx, department).await?;
        let officers: Vec<String> = sqlx::query_scalar("SELECT officer_id FROM officers WHERE department_id = ?")
            .bind(department.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut feedback_rows = Vec::with_capacity(items.len());
        let mut case_rows = Vec::new();
        let mut timeline_rows = Vec::new();
        let mut deltas: Vec<Delta> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let f = &item.feedback;
            let bad = |why: String| StoreError::FailedPrecondition(format!("item {i}: {why}"));
            if f.department_id != *department {
                return Err(bad("is for another department".into()));
            }
            if f.resident.is_some() {
                return Err(bad("contact details cannot be bulk-loaded; name the resident by key".into()));
            }
            if let Some(c) = &f.category
                && !intake.active_categories.contains(c)
            {
                return Err(bad(format!("service category {c} is not an active category of department {department}")));
            }
            let received = micros(item.received_at);
            feedback_rows.push(vec![
                Val::Text(Some(department.as_str())),
                Val::Text(Some(f.id.as_str())),
                Val::Text(Some(f.channel.as_str())),
                Val::Text(Some(f.kind.as_str())),
                Val::Int(f.csat.map(i64::from)),
                Val::Int(f.nps.map(i64::from)),
                Val::Text(Some(&f.text)),
                Val::Text(Some(&f.language)),
                Val::Text(f.category.as_ref().map(|c| c.as_str())),
                Val::Text(Some(&f.location.address)),
                Val::Real(f.location.latitude),
                Val::Real(f.location.longitude),
                Val::Int(Some(micros(f.occurred_at))),
                Val::Int(Some(received)),
                Val::Text(item.resident_key.as_deref()),
                Val::Text(f.internal_customer.as_ref().map(|c| c.as_str())),
                Val::Int(Some(0)),
                Val::Text(f.source.as_deref()),
            ]);
            deltas.extend(report::feedback_deltas(
                department,
                item.received_at,
                f.channel,
                f.kind,
                f.csat,
                f.nps,
                f.category.is_some(),
            ));
            let mut status = None;
            if f.kind == FeedbackKind::Complaint {
                let c = item.case.as_ref().ok_or_else(|| bad("a complaint needs its case".into()))?;
                if let Some(a) = &c.assignee
                    && !officers.iter().any(|o| o == a.as_str())
                {
                    return Err(bad(format!("{a} is not an officer of department {department}")));
                }
                status = Some(c.status);
                let case = Case {
                    department_id: department.clone(),
                    id: CaseId::from_feedback(&f.id),
                    status: c.status,
                    assignee: c.assignee.clone(),
                    category: f.category.clone(),
                    channel: f.channel,
                    received_at: item.received_at,
                    acknowledge_due: c.acknowledge_due,
                    resolve_due: c.resolve_due,
                    acknowledged_at: c.acknowledged_at,
                    resolved_at: c.resolved_at,
                    closed_at: c.closed_at,
                    owner_department: None,
                    reopen_count: c.reopen_count,
                    recovery: Vec::new(),
                    notes: Vec::new(),
                    follow_up: c.follow_up.clone(),
                    satisfied: c.satisfied,
                    resident_key: item.resident_key.clone(),
                    revision: 1,
                    update_time: c.closed_at.or(c.resolved_at).or(c.acknowledged_at).unwrap_or(item.received_at),
                };
                deltas.extend(report::imported_case_deltas(&case));
                case_rows.push(case);
            }
            if let Some(key) = &item.resident_key {
                timeline_rows.push((f.id.as_str(), key.as_str(), f.channel.as_str(), micros(f.occurred_at), status));
            }
        }
        insert_rows(
            &mut tx,
            "feedback",
            &[
                "department_id",
                "feedback_id",
                "channel",
                "kind",
                "csat",
                "nps",
                "text",
                "language",
                "category_id",
                "address",
                "latitude",
                "longitude",
                "occurred_at",
                "received_at",
                "resident_key",
                "internal_customer",
                "erased",
                "source",
            ],
            feedback_rows,
        )
        .await?;
        let case_values = case_rows
            .iter()
            .map(|c| {
                vec![
                    Val::Text(Some(c.department_id.as_str())),
                    Val::Text(Some(c.id.as_str())),
                    Val::Text(Some(c.status.as_str())),
                    Val::Text(c.assignee.as_ref().map(|a| a.as_str())),
                    Val::Text(c.category.as_ref().map(|x| x.as_str())),
                    Val::Text(Some(c.channel.as_str())),
                    Val::Int(Some(micros(c.received_at))),
                    Val::Int(Some(micros(c.acknowledge_due))),
                    Val::Int(Some(micros(c.resolve_due))),
                    Val::Int(c.acknowledged_at.map(micros)),
                    Val::Int(c.resolved_at.map(micros)),
                    Val::Int(c.closed_at.map(micros)),
                    Val::Int(Some(i64::from(c.reopen_count))),
                    Val::Text(c.follow_up.as_ref().map(|x| x.as_str())),
                    Val::Int(c.satisfied.map(i64::from)),
                    Val::Text(c.resident_key.as_deref()),
                    Val::Int(Some(1)),
                    Val::Int(Some(micros(c.update_time))),
                ]
            })
            .collect();
        insert_rows(
            &mut tx,
            "cases",
            &[
                "department_id",
                "case_id",
                "status",
                "assignee",
                "category_id",
                "channel",
                "received_at",
                "acknowledge_due",
                "resolve_due",
                "acknowledged_at",
                "resolved_at",
                "closed_at",
                "reopen_count",
                "follow_up",
                "satisfied",
                "resident_key",
                "revision",
                "update_time",
            ],
            case_values,
        )
        .await?;
        let timeline_values = timeline_rows
            .iter()
            .map(|(f, key, channel, at, status)| {
                vec![
                    Val::Text(Some(department.as_str())),
                    Val::Text(Some(f)),
                    Val::Text(Some(key)),
                    Val::Text(Some(channel)),
                    Val::Int(Some(*at)),
                    Val::Text(status.map(|s| s.as_str())),
                ]
            })
            .collect();
        insert_rows(
            &mut tx,
            "timeline_entries",
            &["department_id", "feedback_id", "resident_key", "channel", "occurred_at", "case_status"],
            timeline_values,
        )
        .await?;
        apply_deltas(&mut tx, &report::aggregate(deltas)).await?;
        let now = micros(now_micros());
        let payload = serde_json::json!({ "imported": items.len() });
        crate::record(&mut tx, ctx, department, &resource::department(department), payload, now).await?;
        self.commit(tx).await?;
        Ok(u64::try_from(items.len()).unwrap_or(u64::MAX))
    }
}
