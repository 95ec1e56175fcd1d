//! [`FeedbackStore`] on PostgreSQL. Row-level security scopes every table; the timeline's metadata
//! table is readable city-wide by design (see migrations/postgres/0003_feedback.sql).
use crate::{
    DEPARTMENT_COLUMNS, PgStore, WriteTx, apply_deltas, audit, claim_key, corrupt, db_err, department_from, in_scope,
    read_standards, record, scope_ids,
};
use chrono::{DateTime, Utc};
use cityserve_domain::feedback::RecoveryKind;
use cityserve_domain::report;
use cityserve_domain::{
    Case, CaseEntry, CaseId, CaseNote, CaseStatus, Channel, DepartmentId, DepartmentStatus, Feedback, FeedbackId,
    FeedbackKind, NewFeedback, Page, PageRequest, RecoveryAction, ResidentRef, ServiceCategoryId,
    ServiceCategoryStatus, ServiceStandard, ServiceTargets, TenantScope, resolve_targets,
};
use cityserve_store::feedback::{CaseFilter, CaseOrder, Erasure, FeedbackFilter, Source, Submitted, TimelineRow};
use cityserve_store::{FeedbackStore, Idempotency, StoreError, StoreResult, WriteCtx, now_micros, resource};
use sqlx::{PgConnection, Row};

pub(crate) use cityserve_store_sql::feedback::{CASE_COLUMNS, FEEDBACK_COLUMNS};
pub(crate) use cityserve_store_sql::rows::{case as case_from, feedback as feedback_from};

cityserve_store_sql::feedback_reads!();

/// Adds each case's notes and recovery actions, in one query for the whole slice.
async fn attach_entries(conn: &mut PgConnection, cases: &mut [Case]) -> StoreResult<()> {
    if cases.is_empty() {
        return Ok(());
    }
    let departments: Vec<&str> = cases.iter().map(|c| c.department_id.as_str()).collect();
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT e.department_id, e.case_id, e.kind, e.text, e.actor, e.at, e.public
         FROM case_entries e
         JOIN unnest($1::text[], $2::text[]) AS k (department_id, case_id)
           ON e.department_id = k.department_id AND e.case_id = k.case_id
         ORDER BY e.entry_no",
    )
    .bind(&departments)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    for row in rows {
        let (d, c, kind): (String, String, String) = (
            row.try_get("department_id").map_err(db_err)?,
            row.try_get("case_id").map_err(db_err)?,
            row.try_get("kind").map_err(db_err)?,
        );
        let text: String = row.try_get("text").map_err(db_err)?;
        let actor: String = row.try_get("actor").map_err(db_err)?;
        let at: DateTime<Utc> = row.try_get("at").map_err(db_err)?;
        let public: bool = row.try_get("public").map_err(db_err)?;
        let Some(case) = cases.iter_mut().find(|x| x.department_id.as_str() == d && x.id.as_str() == c) else {
            continue;
        };
        if kind == "note" {
            case.notes.push(CaseNote { text, public, actor, at });
        } else {
            let kind = RecoveryKind::parse(&kind).ok_or_else(|| corrupt("kind"))?;
            case.recovery.push(RecoveryAction { kind, note: text, actor, at });
        }
    }
    Ok(())
}

/// What every submission to a department is checked against, read once per transaction.
pub(crate) struct Intake {
    pub(crate) default_targets: ServiceTargets,
    pub(crate) standards: Vec<ServiceStandard>,
    pub(crate) active_categories: Vec<ServiceCategoryId>,
}

pub(crate) async fn intake(conn: &mut PgConnection, d: &DepartmentId) -> StoreResult<Intake> {
    intake_for(conn, d, true).await
}

/// [`intake`], reading the service standards only when `complaints` may open cases (only
/// cases use them): one round trip for surveys and comments, two for complaints.
pub(crate) async fn intake_for(conn: &mut PgConnection, d: &DepartmentId, complaints: bool) -> StoreResult<Intake> {
    let sql = format!(
        "SELECT {DEPARTMENT_COLUMNS}, ARRAY(SELECT category_id FROM service_categories
             WHERE department_id = $1 AND status = $2 ORDER BY category_id) AS active_categories
         FROM departments WHERE department_id = $1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d.as_str())
        .bind(ServiceCategoryStatus::Active.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    let department = department_from(&row)?;
    if department.status != DepartmentStatus::Active {
        return Err(StoreError::FailedPrecondition(format!("department {d} is archived")));
    }
    let categories: Vec<String> = row.try_get("active_categories").map_err(db_err)?;
    let standards = if complaints { read_standards(conn, d).await? } else { Vec::new() };
    let active_categories = categories
        .iter()
        .map(|c| ServiceCategoryId::parse("category_id", c).map_err(|_| corrupt("category_id")))
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Intake { default_targets: department.default_targets, standards, active_categories })
}

/// The key recorded for the first known identifier, if any.
async fn known_key(conn: &mut PgConnection, identifiers: &[String]) -> StoreResult<Option<String>> {
    for i in identifiers {
        let key: Option<String> =
            sqlx::query_scalar("SELECT resident_key FROM resident_identifiers WHERE identifier = $1")
                .bind(i)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
        if key.is_some() {
            return Ok(key);
        }
    }
    Ok(None)
}

/// The resident's key: the one recorded for a known identifier, else the proposed one; records
/// every identifier under it.
async fn resolve_resident(conn: &mut PgConnection, r: &ResidentRef, now: DateTime<Utc>) -> StoreResult<String> {
    let key = known_key(conn, &r.identifiers).await?.unwrap_or_else(|| r.key.clone());
    for i in &r.identifiers {
        sqlx::query(
            "INSERT INTO resident_identifiers (identifier, resident_key, create_time) VALUES ($1, $2, $3)
             ON CONFLICT (identifier) DO NOTHING",
        )
        .bind(i)
        .bind(&key)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    }
    Ok(key)
}

/// Where a complaint copied into another department by an accepted hand-off came from.
pub(crate) struct Origin<'a> {
    /// The resident's key, carried over (the copy names no contact details).
    pub resident_key: Option<&'a str>,
    /// The case's path, ending with the receiving department.
    pub path: &'a [DepartmentId],
}

/// Inserts one submission (feedback, contact details, case, timeline entry, rollups, audit,
/// event). With `origin`, it is a hand-off copy: not counted as a new contact.
pub(crate) async fn insert_feedback(
    conn: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    intake: &Intake,
    new: &NewFeedback,
    now: DateTime<Utc>,
    origin: Option<&Origin<'_>>,
) -> StoreResult<Submitted> {
    if let Some(c) = &new.category
        && !intake.active_categories.contains(c)
    {
        return Err(StoreError::FailedPrecondition(format!(
            "service category {c} is not an active category of department {}",
            new.department_id
        )));
    }
    let d = new.department_id.as_str();
    let resident_key = match (&new.resident, origin) {
        (Some(r), _) => Some(resolve_resident(conn, r, now).await?),
        (None, Some(o)) => o.resident_key.map(str::to_owned),
        (None, None) => None,
    };
    let resident_key = resident_key.as_deref();
    // RETURNING: the caller answers with what was stored, without reading it back.
    let sql = format!(
        "INSERT INTO feedback (department_id, feedback_id, channel, kind, csat, nps, text, language, category_id,
             address, latitude, longitude, occurred_at, received_at, resident_key, internal_customer, erased, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false, $17)
         RETURNING {FEEDBACK_COLUMNS}"
    );
    let stored = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(d)
        .bind(new.id.as_str())
        .bind(new.channel.as_str())
        .bind(new.kind.as_str())
        .bind(new.csat)
        .bind(new.nps)
        .bind(&new.text)
        .bind(&new.language)
        .bind(new.category.as_ref().map(|c| c.as_str()))
        .bind(&new.location.address)
        .bind(new.location.latitude)
        .bind(new.location.longitude)
        .bind(new.occurred_at)
        .bind(now)
        .bind(resident_key)
        .bind(new.internal_customer.as_ref().map(|c| c.as_str()))
        .bind(new.source.as_deref())
        .fetch_one(&mut **conn)
        .await
        .map_err(db_err)?;
    let feedback = feedback_from(&stored)?;
    if let (Some(key), Some(ResidentRef { contact, .. })) = (resident_key, &new.resident) {
        // The newest contact details win; a missing one keeps what was known.
        sqlx::query(
            "INSERT INTO resident_contact_details (department_id, resident_key, email, phone, update_time)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (department_id, resident_key) DO UPDATE SET
                 email = CASE WHEN excluded.email <> '' THEN excluded.email ELSE resident_contact_details.email END,
                 phone = CASE WHEN excluded.phone <> '' THEN excluded.phone ELSE resident_contact_details.phone END,
                 update_time = excluded.update_time",
        )
        .bind(d)
        .bind(key)
        .bind(&contact.email)
        .bind(&contact.phone)
        .bind(now)
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
    }
    let mut case_status = None;
    let mut opened = None;
    // Every counter increment of the submission, written in one statement at the end.
    let mut deltas = Vec::new();
    if new.kind == FeedbackKind::Complaint {
        let (targets, _) =
            resolve_targets(intake.default_targets, &intake.standards, new.category.as_ref(), Some(new.channel));
        let case = Case::open(new, now, targets);
        case_status = Some(case.status);
        deltas.extend(report::case_opened_deltas(&case));
        let path: Option<Vec<&str>> = origin.map(|o| o.path.iter().map(DepartmentId::as_str).collect());
        let sql = format!(
            "INSERT INTO cases (department_id, case_id, status, category_id, channel, received_at, acknowledge_due,
                 resolve_due, reopen_count, resident_key, revision, update_time, path)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, 1, $6, $10)
             RETURNING {CASE_COLUMNS}"
        );
        let stored = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d)
            .bind(case.id.as_str())
            .bind(case.status.as_str())
            .bind(case.category.as_ref().map(|c| c.as_str()))
            .bind(case.channel.as_str())
            .bind(now)
            .bind(case.acknowledge_due)
            .bind(case.resolve_due)
            .bind(resident_key)
            .bind(path)
            .fetch_one(&mut **conn)
            .await
            .map_err(db_err)?;
        opened = Some(case_from(&stored)?);
    }
    if origin.is_none() {
        deltas.extend(report::feedback_deltas(
            &new.department_id,
            now,
            new.channel,
            new.kind,
            new.csat,
            new.nps,
            new.category.is_some(),
        ));
    }
    apply_deltas(conn, &deltas).await?;
    if let Some(key) = resident_key {
        sqlx::query(
            "INSERT INTO timeline_entries (department_id, feedback_id, resident_key, channel, occurred_at, case_status)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(d)
        .bind(new.id.as_str())
        .bind(key)
        .bind(new.channel.as_str())
        .bind(new.occurred_at)
        .bind(case_status.map(|s| s.as_str()))
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
    }
    let name = resource::feedback(&new.department_id, &new.id);
    let payload = serde_json::json!({
        "feedback": new.id.as_str(),
        "kind": new.kind.as_str(),
        "channel": new.channel.as_str(),
        "case": case_status.is_some(),
    });
    record(conn, ctx, &new.department_id, &name, payload).await?;
    Ok(Submitted { feedback, case: opened })
}

/// The key of a case in a resolve-due ordered listing.
fn due_key(c: &Case) -> String {
    format!("{}:{}", c.resolve_due.timestamp_micros(), c.id)
}

fn parse_due_key(key: &str) -> StoreResult<(DateTime<Utc>, String)> {
    let bad = || StoreError::Internal("bad page position".into());
    let (t, id) = key.split_once(':').ok_or_else(bad)?;
    let t = DateTime::from_timestamp_micros(t.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((t, id.to_owned()))
}

/// Writes a case's mutable fields over `current` (whose revision the caller checked, with the row
/// locked), appends `entry`, updates the timeline status and the report-card counters, and
/// records the change.
pub(crate) async fn write_case(
    conn: &mut WriteTx,
    ctx: &WriteCtx<'_>,
    current: &Case,
    case: &Case,
    entry: Option<&CaseEntry>,
) -> StoreResult<()> {
    let d = &case.department_id;
    let now = now_micros();
    sqlx::query(
        "UPDATE cases SET status = $1, assignee = $2, acknowledged_at = $3, resolved_at = $4, closed_at = $5,
             owner_department = $6, reopen_count = $7, follow_up = $8, satisfied = $9, revision = revision + 1,
             update_time = $10
         WHERE department_id = $11 AND case_id = $12 AND revision = $13",
    )
    .bind(case.status.as_str())
    .bind(case.assignee.as_ref().map(|a| a.as_str()))
    .bind(case.acknowledged_at)
    .bind(case.resolved_at)
    .bind(case.closed_at)
    .bind(case.owner_department.as_ref().map(|o| o.as_str()))
    .bind(case.reopen_count)
    .bind(case.follow_up.as_ref().map(|f| f.as_str()))
    .bind(case.satisfied)
    .bind(now)
    .bind(d.as_str())
    .bind(case.id.as_str())
    .bind(current.revision)
    .execute(&mut **conn)
    .await
    .map_err(db_err)?;
    if let Some(entry) = entry {
        let (kind, text, actor, at, public) = match entry {
            CaseEntry::Note(n) => ("note", &n.text, &n.actor, n.at, n.public),
            CaseEntry::Recovery(r) => (r.kind.as_str(), &r.note, &r.actor, r.at, false),
        };
        sqlx::query(
            "INSERT INTO case_entries (department_id, case_id, entry_no, kind, text, actor, at, public)
             VALUES ($1, $2, (SELECT COALESCE(MAX(entry_no), 0) + 1 FROM case_entries
                              WHERE department_id = $1 AND case_id = $2), $3, $4, $5, $6, $7)",
        )
        .bind(d.as_str())
        .bind(case.id.as_str())
        .bind(kind)
        .bind(text)
        .bind(actor)
        .bind(at)
        .bind(public)
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
    }
    sqlx::query("UPDATE timeline_entries SET case_status = $1 WHERE department_id = $2 AND feedback_id = $3")
        .bind(case.status.as_str())
        .bind(d.as_str())
        .bind(case.id.as_str())
        .execute(&mut **conn)
        .await
        .map_err(db_err)?;
    let name = resource::case(d, &case.id);
    let payload = serde_json::json!({ "case": case.id.as_str(), "status": case.status.as_str() });
    record(conn, ctx, d, &name, payload).await?;
    apply_deltas(conn, &report::case_deltas(current, case, now_micros())).await
}

impl FeedbackStore for PgStore {
    async fn submit_feedback(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewFeedback,
    ) -> StoreResult<Submitted> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        // Claiming the key first makes concurrent retries wait for the first one and replay it.
        if let Some(f) = claim_key(&mut tx, &new.department_id, idem, "feedback", new.id.as_str()).await? {
            let submitted = read_submitted(&mut tx, &new.department_id, &f).await?;
            self.commit(tx).await?;
            return Ok(submitted);
        }
        let intake = intake_for(&mut tx, &new.department_id, new.kind == FeedbackKind::Complaint).await?;
        let submitted = insert_feedback(&mut tx, ctx, &intake, new, now, None).await?;
        self.commit(tx).await?;
        Ok(submitted)
    }

    async fn submit_feedback_batch(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        department: &DepartmentId,
        items: &[NewFeedback],
    ) -> Result<Vec<Submitted>, (Option<usize>, StoreError)> {
        in_scope(ctx.scope, department).map_err(|e| (None, e))?;
        let mut tx = self.write(ctx).await.map_err(|e| (None, e))?;
        let now = now_micros();
        let ids = items.iter().map(|f| f.id.as_str()).collect::<Vec<_>>().join(",");
        if let Some(ids) = claim_key(&mut tx, department, idem, "feedback_batch", &ids).await.map_err(|e| (None, e))? {
            let mut out = Vec::new();
            for f in ids.split(',').filter(|s| !s.is_empty()) {
                out.push(read_submitted(&mut tx, department, f).await.map_err(|e| (None, e))?);
            }
            self.commit(tx).await.map_err(|e| (None, e))?;
            return Ok(out);
        }
        let intake = intake(&mut tx, department).await.map_err(|e| (None, e))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.department_id != *department {
                return Err((Some(i), StoreError::FailedPrecondition("item is for another department".into())));
            }
            out.push(insert_feedback(&mut tx, ctx, &intake, item, now, None).await.map_err(|e| (Some(i), e))?);
        }
        self.commit(tx).await.map_err(|e| (None, e))?;
        Ok(out)
    }

    async fn get_feedback(&self, scope: &TenantScope, d: &DepartmentId, f: &FeedbackId) -> StoreResult<Feedback> {
        in_scope(scope, d)?;
        let mut tx = self.read(scope).await?;
        let feedback = read_feedback(&mut tx, d, f.as_str()).await?;
        tx.finish().await?;
        Ok(feedback)
    }

    async fn list_feedback(
        &self,
        scope: &TenantScope,
        filter: &FeedbackFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Feedback>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let source = match filter.source {
            Some(Source::Residents) => " AND internal_customer IS NULL",
            Some(Source::InternalCustomers) => " AND internal_customer IS NOT NULL",
            None => "",
        };
        let sql = format!(
            "SELECT {FEEDBACK_COLUMNS} FROM feedback
             WHERE ($1::text IS NULL OR feedback_id < $1)
               AND ($2::text IS NULL OR department_id = $2)
               AND ($3::text IS NULL OR kind = $3)
               AND ($4::text IS NULL OR channel = $4)
               AND ($5::text IS NULL OR category_id = $5)
               AND ($6::text[] IS NULL OR department_id = ANY($6)){source}
             ORDER BY feedback_id DESC LIMIT $7"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after.as_deref())
            .bind(filter.department.as_ref().map(|d| d.as_str()))
            .bind(filter.kind.map(|k| k.as_str()))
            .bind(filter.channel.map(|c| c.as_str()))
            .bind(filter.category.as_ref().map(|c| c.as_str()))
            .bind(scope_ids(scope))
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(feedback_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |f| f.id.to_string()))
    }

    async fn find_resident(&self, scope: &TenantScope, identifiers: &[String]) -> StoreResult<Option<String>> {
        let mut tx = self.read(scope).await?;
        let key = known_key(&mut tx, identifiers).await?;
        tx.finish().await?;
        Ok(key)
    }

    async fn resident_timeline(
        &self,
        ctx: &WriteCtx<'_>,
        audit_in: &[DepartmentId],
        resident_key: &str,
    ) -> StoreResult<Vec<TimelineRow>> {
        let mut tx = self.write(ctx).await?;
        // LEFT JOIN: row-level security hides other departments' feedback rows, not their entries.
        // One row holding the whole history as a JSON array, as on SQLite (where it matters most:
        // there every row crosses from SQLite's thread on its own).
        let history: String = sqlx::query_scalar(
            "SELECT coalesce(json_agg(json_build_array(t.department_id, t.feedback_id, t.channel,
                 (extract(epoch FROM t.occurred_at) * 1000000)::bigint, t.case_status, f.kind, f.text)
                 ORDER BY t.occurred_at, t.department_id, t.feedback_id), '[]')::text
             FROM timeline_entries t
             LEFT JOIN feedback f ON f.department_id = t.department_id AND f.feedback_id = t.feedback_id
             WHERE t.resident_key = $1",
        )
        .bind(resident_key)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        type Entry = (String, String, String, i64, Option<String>, Option<String>, Option<String>);
        let entries: Vec<Entry> = serde_json::from_str(&history).map_err(|_| corrupt("timeline"))?;
        let mut out = Vec::with_capacity(entries.len());
        for (department, feedback, channel, occurred_at, status, kind, text) in entries {
            let department_id =
                DepartmentId::parse("department_id", &department).map_err(|_| corrupt("department_id"))?;
            let details = match kind {
                Some(kind) if ctx.scope.allows(&department_id) => {
                    Some((FeedbackKind::parse(&kind).ok_or_else(|| corrupt("kind"))?, text.unwrap_or_default()))
                }
                _ => None,
            };
            out.push(TimelineRow {
                feedback_id: FeedbackId::parse("feedback_id", &feedback).map_err(|_| corrupt("feedback_id"))?,
                channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel"))?,
                occurred_at: DateTime::from_timestamp_micros(occurred_at).ok_or_else(|| corrupt("occurred_at"))?,
                case_status: status.map(|s| CaseStatus::parse(&s).ok_or_else(|| corrupt("case_status"))).transpose()?,
                details,
                department_id,
            });
        }
        let mut audited: Vec<&DepartmentId> = audit_in.iter().chain(out.iter().map(|r| &r.department_id)).collect();
        audited.sort();
        audited.dedup();
        let name = resource::resident(resident_key);
        audit(&mut tx, ctx, &audited, &name).await?;
        self.commit(tx).await?;
        Ok(out)
    }

    async fn erase_resident(&self, ctx: &WriteCtx<'_>, resident_key: &str) -> StoreResult<Erasure> {
        let mut tx = self.write(ctx).await?;
        let departments: Vec<String> = sqlx::query_scalar(
            "SELECT department_id FROM feedback WHERE resident_key = $1
             UNION SELECT department_id FROM resident_contact_details WHERE resident_key = $1",
        )
        .bind(resident_key)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut departments = departments
            .iter()
            .map(|d| DepartmentId::parse("department_id", d).map_err(|_| corrupt("department_id")))
            .collect::<StoreResult<Vec<_>>>()?;
        departments.retain(|d| ctx.scope.allows(d));
        departments.sort();
        let mut erasure = Erasure { departments: departments.clone(), ..Erasure::default() };
        for d in &departments {
            let d_str = d.as_str();
            sqlx::query(
                "UPDATE case_entries SET text = '' WHERE department_id = $1
                   AND case_id IN (SELECT case_id FROM cases WHERE department_id = $1 AND resident_key = $2)",
            )
            .bind(d_str)
            .bind(resident_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE handoffs SET reason = '', decline_reason = '', resident_key = NULL
                 WHERE department_id = $1 AND resident_key = $2",
            )
            .bind(d_str)
            .bind(resident_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("UPDATE cases SET resident_key = NULL WHERE department_id = $1 AND resident_key = $2")
                .bind(d_str)
                .bind(resident_key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query("DELETE FROM timeline_entries WHERE department_id = $1 AND resident_key = $2")
                .bind(d_str)
                .bind(resident_key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let done = sqlx::query(
                "UPDATE feedback SET text = '', address = '', latitude = NULL, longitude = NULL, resident_key = NULL,
                     erased = true
                 WHERE department_id = $1 AND resident_key = $2",
            )
            .bind(d_str)
            .bind(resident_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            erasure.feedback_erased += i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
            let done =
                sqlx::query("DELETE FROM resident_contact_details WHERE department_id = $1 AND resident_key = $2")
                    .bind(d_str)
                    .bind(resident_key)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            erasure.contacts_deleted += i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
            let name = resource::resident(resident_key);
            record(&mut tx, ctx, d, &name, serde_json::json!({ "resident": resident_key })).await?;
        }
        sqlx::query("DELETE FROM resident_identifiers WHERE resident_key = $1")
            .bind(resident_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self.commit(tx).await?;
        Ok(erasure)
    }

    async fn get_case(&self, scope: &TenantScope, d: &DepartmentId, c: &CaseId) -> StoreResult<Case> {
        in_scope(scope, d)?;
        let mut tx = self.read(scope).await?;
        let case = read_case(&mut tx, d, c.as_str()).await?;
        tx.finish().await?;
        Ok(case)
    }

    async fn list_cases(
        &self,
        scope: &TenantScope,
        filter: &CaseFilter,
        order: CaseOrder,
        page: &PageRequest,
    ) -> StoreResult<Page<Case>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let (after_time, after_id) = match (order, &page.after) {
            (CaseOrder::ResolveDue, Some(a)) => {
                let (t, id) = parse_due_key(a)?;
                (Some(t), Some(id))
            }
            (CaseOrder::Newest, Some(a)) => (None, Some(a.clone())),
            (_, None) => (None, None),
        };
        let (cursor, order_by) = match order {
            CaseOrder::Newest => ("($8::text IS NULL OR case_id < $8)", "case_id DESC"),
            CaseOrder::ResolveDue => (
                "($8::text IS NULL OR resolve_due > $9 OR (resolve_due = $9 AND case_id > $8))",
                "resolve_due, case_id",
            ),
        };
        // The overdue rule is Case::overdue's.
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases
             WHERE ($1::text IS NULL OR department_id = $1)
               AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR assignee = $3)
               AND ($4::text IS NULL OR category_id = $4)
               AND ($5::text[] IS NULL OR department_id = ANY($5))
               AND ($6::timestamptz IS NULL
                    OR (status = 'open' AND acknowledge_due < $6)
                    OR (status IN ('open', 'acknowledged', 'in_progress') AND resolve_due < $6))
               AND {cursor}
             ORDER BY {order_by} LIMIT $7"
        );
        let mut tx = self.read(scope).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(filter.department.as_ref().map(|d| d.as_str()))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(filter.assignee.as_ref().map(|a| a.as_str()))
            .bind(filter.category.as_ref().map(|c| c.as_str()))
            .bind(scope_ids(scope))
            .bind(filter.overdue_at)
            .bind(i64::from(page.size) + 1)
            .bind(after_id)
            .bind(after_time.unwrap_or_default())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(case_from).collect::<StoreResult<Vec<_>>>()?;
        let mut page = match order {
            CaseOrder::Newest => Page::from_overfetch(items, page.size, |c| c.id.to_string()),
            CaseOrder::ResolveDue => Page::from_overfetch(items, page.size, due_key),
        };
        attach_entries(&mut tx, &mut page.items).await?;
        tx.finish().await?;
        Ok(page)
    }

    async fn save_case(
        &self,
        ctx: &WriteCtx<'_>,
        case: &Case,
        expected_revision: i64,
        entry: Option<&CaseEntry>,
    ) -> StoreResult<Case> {
        let d = &case.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        // Locks the row: concurrent saves of one case serialize, and the loser sees a new revision.
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE department_id = $1 AND case_id = $2 FOR UPDATE");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.as_str())
            .bind(case.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let current = case_from(&row.ok_or(StoreError::NotFound)?)?;
        if current.revision != expected_revision {
            return Err(StoreError::Conflict);
        }
        if let Some(a) = &case.assignee
            && current.assignee.as_ref() != Some(a)
        {
            crate::require_active_officer(&mut tx, d, a).await?;
        }
        if let Some(o) = &case.owner_department
            && current.owner_department.as_ref() != Some(o)
        {
            let active: bool = sqlx::query_scalar("SELECT department_is_active($1)")
                .bind(o.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
            if !active {
                return Err(StoreError::FailedPrecondition(format!("department {o} does not exist or is archived")));
            }
        }
        if let Some(f) = &case.follow_up
            && current.follow_up.as_ref() != Some(f)
        {
            let kind: Option<String> =
                sqlx::query_scalar("SELECT kind FROM feedback WHERE department_id = $1 AND feedback_id = $2")
                    .bind(d.as_str())
                    .bind(f.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if kind.as_deref() != Some(FeedbackKind::SurveyResponse.as_str()) {
                return Err(StoreError::FailedPrecondition(format!("{f} is not a survey response of department {d}")));
            }
        }
        write_case(&mut tx, ctx, &current, case, entry).await?;
        let saved = read_case(&mut tx, d, case.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(saved)
    }
}
