//! [`crate::feedback_store!`]: the feedback writes and the whole `FeedbackStore` implementation,
//! written once.

/// The feedback writes (`insert_feedback` of [`crate::feedback_insert!`] and `write_case`, used by
/// hand-offs too), group commit ([`crate::feedback_group_commit!`], and for case changes
/// [`crate::feedback_case_commit!`]) and `impl FeedbackStore for
/// $store`, written once and expanded in a backend's feedback module next to
/// [`crate::feedback_reads!`].
///
/// Every write runs on the backend's one write path: `self.write(ctx)`, `crate::claim_key`, the
/// operation on `crate::Tx<'_>` (the backend's `WriteTx`), `crate::record`, `self.commit(tx)`.
/// Reads run in `self.read(scope)`, then `finish()`. The expansion site also provides `crate::Conn`,
/// `crate::db_err`, `crate::at` (an instant as the backend binds it), `crate::in_scope`,
/// `crate::add_deltas` (report-card counters; a batch's wait for its commit), `crate::require_active_officer`, and in the
/// module itself what is dialect:
/// - `attach_entries(conn, cases)`, the cases' notes and recovery actions in one statement;
/// - `path_value(path)`, a case's path as the `cases.path` column binds it;
/// - `LOCK_CASE`, the statement reading a case to save (locking its row where that is needed);
/// - `UPDATE_CASES`, a [`crate::write::MultiRow`] writing many cases' mutable fields at once
///   (PostgreSQL types its `VALUES`);
/// - `LOCK_CASES`, the same for many cases at once (a [`crate::write::MultiRow`] of
///   `(department, case)` pairs; PostgreSQL locks in key order);
/// - `DEPARTMENT_IS_ACTIVE`, whether department `$1` exists and is active (a department naming
///   another as a case's owner may not see its row);
/// - `feedback_rows(conn, scope, filter, page)` and `case_rows(conn, scope, filter, order,
///   cursor, limit)`, the listings (their scope filter is dialect);
/// - `self.resident_timeline_in(ctx, audit_in, resident_key)`, the audited timeline read.
#[macro_export]
macro_rules! feedback_store {
    ($store:ty) => {
        $crate::feedback_insert!();
        $crate::feedback_group_commit!($store);
        $crate::feedback_case_commit!($store);

        /// Writes a case's mutable fields over `current` (whose revision the caller checked, with
        /// the row locked where the database needs that), appends `entry`, updates the timeline
        /// status and the report-card counters, and records the change: [`write_cases`] with one.
        pub(crate) async fn write_case(
            conn: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            current: &cityserve_domain::Case,
            case: &cityserve_domain::Case,
            entry: Option<&cityserve_domain::CaseEntry>,
        ) -> cityserve_store::StoreResult<()> {
            let zone = crate::rollup_zone(conn).await?;
            let change = $crate::feedback::CaseWrite { ctx: ctx.clone(), current, case, entry };
            write_cases(conn, std::slice::from_ref(&change), zone).await
        }

        /// Writes changes of distinct cases, each as [`write_case`] would, the rows of each table
        /// in multi-row statements (`UPDATE_CASES`, dialect; entries and timeline statuses), the
        /// counters keyed in `zone`. Only a case whose wait on the resident ends (its due times
        /// move) and a resident's notices take statements of their own.
        async fn write_cases(
            conn: &mut crate::Tx<'_>,
            changes: &[$crate::feedback::CaseWrite<'_>],
            zone: $crate::rollups::Tz,
        ) -> cityserve_store::StoreResult<()> {
            use $crate::write::chunks;
            let now = cityserve_store::now_micros();
            for range in chunks(changes.len(), crate::SPLIT) {
                let sql = UPDATE_CASES.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for w in &changes[range.clone()] {
                    let case = w.case;
                    q = q
                        .bind(case.status.as_str())
                        .bind(case.assignee.as_ref().map(|a| a.as_str()))
                        .bind(case.acknowledged_at.map(crate::at))
                        .bind(case.resolved_at.map(crate::at))
                        .bind(case.closed_at.map(crate::at))
                        .bind(case.owner_department.as_ref().map(|o| o.as_str()))
                        .bind(case.reopen_count)
                        .bind(case.follow_up.as_ref().map(|f| f.as_str()))
                        .bind(case.satisfied)
                        .bind(crate::at(now))
                        .bind(case.department_id.as_str())
                        .bind(case.id.as_str())
                        .bind(w.current.revision)
                        .bind(case.waiting_since.map(crate::at))
                        .bind(case.waited_secs);
                }
                let updated = q.execute(&mut **conn).await.map_err(crate::db_err)?;
                if updated.rows_affected() != range.len() as u64 {
                    // Each row was read at this revision in this transaction (locked where the
                    // database needs it), so this is a bug, not a race: undo everything.
                    return Err(cityserve_store::StoreError::Internal("a case changed under its lock".into()));
                }
            }
            for w in changes {
                let (current, case) = (w.current, w.case);
                if current.waiting_since.is_some() && case.waiting_since.is_none() {
                    let d = &case.department_id;
                    // The wait on the resident is over: the due times count from the receipt plus
                    // every wait, on the department's calendar and the case's current targets.
                    let intake = intake_for(conn, d, true).await?;
                    let computed = cityserve_domain::feedback::due_times_under(
                        case.clock_start(),
                        case.category.as_ref(),
                        case.channel,
                        intake.default_targets,
                        &intake.standards,
                        &intake.calendar,
                    );
                    let (ack, res) = cityserve_domain::feedback::settled_due_times(
                        (case.acknowledge_due, case.resolve_due),
                        computed,
                        case.acknowledged_at.is_some(),
                        case.resolved_at.is_some(),
                    );
                    sqlx::query($crate::feedback::SET_DUE_TIMES)
                        .bind(d.as_str())
                        .bind(case.id.as_str())
                        .bind(crate::at(ack))
                        .bind(crate::at(res))
                        .execute(&mut **conn)
                        .await
                        .map_err(crate::db_err)?;
                }
            }
            let entries: Vec<_> = changes.iter().filter_map(|w| w.entry.map(|e| (w.case, e))).collect();
            for range in chunks(entries.len(), crate::SPLIT) {
                let sql = $crate::feedback::INSERT_CASE_ENTRIES.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (case, entry) in &entries[range] {
                    let (kind, text, actor, at, public) = match entry {
                        cityserve_domain::CaseEntry::Note(n) => ("note", &n.text, &n.actor, n.at, n.public),
                        cityserve_domain::CaseEntry::Recovery(r) => (r.kind.as_str(), &r.note, &r.actor, r.at, false),
                    };
                    let (d, c) = (case.department_id.as_str(), case.id.as_str());
                    q = q.bind(d).bind(c).bind(d).bind(c).bind(kind).bind(text).bind(actor).bind(crate::at(at)).bind(public);
                }
                q.execute(&mut **conn).await.map_err(crate::db_err)?;
            }
            for range in chunks(changes.len(), crate::SPLIT) {
                let sql = $crate::feedback::UPDATE_TIMELINE_STATUSES.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for w in &changes[range] {
                    q = q.bind(w.case.status.as_str()).bind(w.case.department_id.as_str()).bind(w.case.id.as_str());
                }
                q.execute(&mut **conn).await.map_err(crate::db_err)?;
            }
            let mut deltas = Vec::new();
            for w in changes {
                let (current, case, d) = (w.current, w.case, &w.case.department_id);
                $crate::queue_notice!(&mut **conn, current, case, now)?;
                let name = cityserve_store::resource::case(d, &case.id);
                let payload = serde_json::json!({ "case": case.id.as_str(), "status": case.status.as_str() });
                crate::record(conn, &w.ctx, d, &name, payload).await?;
                deltas.extend(cityserve_domain::report::case_deltas(current, case, zone));
                if let Some(cityserve_domain::CaseEntry::Recovery(r)) = w.entry {
                    deltas.extend(cityserve_domain::report::recovery_deltas(d, r.kind, r.at, zone));
                }
            }
            crate::add_deltas(conn, deltas).await
        }

        impl cityserve_store::FeedbackStore for $store {
            async fn submit_feedback(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::NewFeedback,
            ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
                match &self.submits {
                    Some(queue) => queue.submit(ctx, idem, new).await,
                    None => self.submit_one(ctx, idem, new).await,
                }
            }

            async fn submit_feedback_batch(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                department: &cityserve_domain::DepartmentId,
                items: &[cityserve_domain::NewFeedback],
                mode: cityserve_store::feedback::BatchMode,
            ) -> Result<
                Vec<cityserve_store::StoreResult<cityserve_store::feedback::Submitted>>,
                (Option<usize>, cityserve_store::StoreError),
            > {
                use cityserve_store::feedback::BatchMode;
                crate::in_scope(ctx.scope, department).map_err(|e| (None, e))?;
                // As a group commit's batch: audit rows, events and counters in one statement each.
                let mut tx = self.write_batch(ctx.scope, ctx.actor).await.map_err(|e| (None, e))?;
                let now = cityserve_store::now_micros();
                let ids = items.iter().map(|f| f.id.as_str()).collect::<Vec<_>>().join(",");
                let operation = match mode {
                    BatchMode::AllOrNothing => "feedback_batch",
                    BatchMode::EachItem => "feedback_batch_each",
                };
                let claimed = crate::claim_key(&mut tx, department, idem, operation, &ids).await;
                if let Some(record) = claimed.map_err(|e| (None, e))? {
                    let replay = $crate::feedback::batch_replay(&record);
                    if replay.len() != items.len() {
                        // The same key and hash, but other items reached the store this time.
                        return Err((None, cityserve_store::StoreError::IdempotencyMismatch));
                    }
                    let mut out = Vec::new();
                    for item in replay {
                        out.push(match item {
                            Ok(f) => Ok(read_submitted(&mut tx, department, f).await.map_err(|e| (None, e))?),
                            Err(refusal) => Err(refusal),
                        });
                    }
                    self.commit(tx).await.map_err(|e| (None, e))?;
                    return Ok(out);
                }
                let intake = intake(&mut tx, department).await.map_err(|e| (None, e))?;
                // The refusals an item can meet, checked before anything is written; the
                // admitted items are then written together.
                let mut out = Vec::with_capacity(items.len());
                let mut admitted = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let admit = if item.department_id == *department {
                        intake.admit(item)
                    } else {
                        Err(cityserve_store::StoreError::FailedPrecondition("item is for another department".into()))
                    };
                    match (admit, mode) {
                        (Ok(()), _) => {
                            admitted.push(i);
                            out.push(None);
                        }
                        (Err(e), BatchMode::AllOrNothing) => return Err((Some(i), e)),
                        (Err(e), BatchMode::EachItem) => out.push(Some(Err(e))),
                    }
                }
                let to_insert: Vec<_> = admitted
                    .iter()
                    .map(|&i| $crate::feedback::ToInsert { ctx: ctx.clone(), intake: &intake, new: &items[i], origin: None })
                    .collect();
                // Item IDs are the server's own, so no item of a batch collides with another.
                let stored = insert_submissions(&mut tx, &to_insert, now).await.map_err(|e| (None, e))?;
                for (&i, submitted) in admitted.iter().zip(stored) {
                    out[i] = Some(Ok(submitted));
                }
                let out: Vec<_> = out
                    .into_iter()
                    .map(|o| o.unwrap_or(Err(cityserve_store::StoreError::Internal("an item went unanswered".into()))))
                    .collect();
                if mode == BatchMode::EachItem {
                    let record = $crate::feedback::batch_record(&out);
                    crate::record_key(&mut tx, department, idem, &record).await.map_err(|e| (None, e))?;
                }
                self.commit(tx).await.map_err(|e| (None, e))?;
                Ok(out)
            }

            async fn get_feedback(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                f: &cityserve_domain::FeedbackId,
            ) -> cityserve_store::StoreResult<cityserve_domain::Feedback> {
                crate::in_scope(scope, d)?;
                let rows = self.read_rows(scope, $crate::feedback::SELECT_FEEDBACK, &[d.as_str(), f.as_str()]).await?;
                $crate::rows::feedback(rows.first().ok_or(cityserve_store::StoreError::NotFound)?)
            }

            async fn list_feedback(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::feedback::FeedbackFilter,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::Feedback>> {
                if let Some(d) = &filter.department {
                    crate::in_scope(scope, d)?;
                }
                let mut tx = self.read(scope).await?;
                let rows = feedback_rows(&mut tx, scope, filter, page).await?;
                tx.finish().await?;
                let items = rows.iter().map($crate::rows::feedback).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                Ok(cityserve_domain::Page::from_overfetch(items, page.size, |f| f.id.to_string()))
            }

            async fn find_resident(
                &self,
                scope: &cityserve_domain::TenantScope,
                identifiers: &[String],
            ) -> cityserve_store::StoreResult<Option<String>> {
                let mut tx = self.read(scope).await?;
                let key = known_key(&mut tx, identifiers).await?;
                tx.finish().await?;
                Ok(key)
            }

            async fn resident_timeline(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                audit_in: &[cityserve_domain::DepartmentId],
                resident_key: &str,
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::feedback::TimelineRow>> {
                self.resident_timeline_in(ctx, audit_in, resident_key).await
            }

            async fn erase_resident(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                resident_key: &str,
            ) -> cityserve_store::StoreResult<cityserve_store::feedback::Erasure> {
                let mut tx = self.write(ctx).await?;
                let departments: Vec<String> = sqlx::query_scalar($crate::feedback::SELECT_RESIDENT_DEPARTMENTS)
                    .bind(resident_key)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let departments = $crate::feedback::departments_in(&departments, ctx.scope)?;
                let mut erasure =
                    cityserve_store::feedback::Erasure { departments: departments.clone(), ..Default::default() };
                let name = cityserve_store::resource::resident(resident_key);
                for d in &departments {
                    let erase = |sql: &'static str| sqlx::query(sql).bind(d.as_str()).bind(resident_key);
                    for sql in $crate::feedback::ERASE_RESIDENT_TRACES {
                        erase(sql).execute(&mut *tx).await.map_err(crate::db_err)?;
                    }
                    // Panel memberships: details go, attendance stays.
                    erase($crate::panels::ERASE_RESIDENT_MEMBERS)
                        .bind(crate::at(cityserve_store::now_micros()))
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    let done = erase($crate::feedback::ERASE_FEEDBACK).execute(&mut *tx).await.map_err(crate::db_err)?;
                    erasure.feedback_erased += i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
                    let done = erase($crate::feedback::ERASE_CONTACT).execute(&mut *tx).await.map_err(crate::db_err)?;
                    erasure.contacts_deleted += i64::try_from(done.rows_affected()).unwrap_or(i64::MAX);
                    crate::record(&mut tx, ctx, d, &name, serde_json::json!({ "resident": resident_key })).await?;
                }
                sqlx::query($crate::feedback::ERASE_IDENTIFIERS)
                    .bind(resident_key)
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                self.commit(tx).await?;
                Ok(erasure)
            }

            async fn contact_values(
                &self,
                scope: &cityserve_domain::TenantScope,
                department: &cityserve_domain::DepartmentId,
                keys: &[&str],
            ) -> cityserve_store::StoreResult<Vec<(String, Vec<String>)>> {
                crate::in_scope(scope, department)?;
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let q = $crate::feedback::contact_values(crate::LISTS, department, keys);
                $crate::read_rows!(self, scope, q).iter().map($crate::feedback::contact_row).collect()
            }

            async fn audit_export(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                departments: &[cityserve_domain::DepartmentId],
                resource: &str,
            ) -> cityserve_store::StoreResult<()> {
                for d in departments {
                    crate::in_scope(ctx.scope, d)?;
                }
                let mut tx = self.write(ctx).await?;
                crate::audit_now(&mut tx, ctx, &departments.iter().collect::<Vec<_>>(), resource).await?;
                self.commit(tx).await
            }

            async fn get_case(
                &self,
                scope: &cityserve_domain::TenantScope,
                d: &cityserve_domain::DepartmentId,
                c: &cityserve_domain::CaseId,
            ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
                crate::in_scope(scope, d)?;
                let mut tx = self.read(scope).await?;
                let case = read_case(&mut tx, d, c.as_str()).await?;
                tx.finish().await?;
                Ok(case)
            }

            async fn list_cases(
                &self,
                scope: &cityserve_domain::TenantScope,
                filter: &cityserve_store::feedback::CaseFilter,
                order: cityserve_store::feedback::CaseOrder,
                page: &cityserve_domain::PageRequest,
            ) -> cityserve_store::StoreResult<cityserve_domain::Page<cityserve_domain::Case>> {
                if let Some(d) = &filter.department {
                    crate::in_scope(scope, d)?;
                }
                let cursor = $crate::feedback::case_cursor(order, page.after.as_deref())?;
                let mut tx = self.read(scope).await?;
                let rows = case_rows(&mut tx, scope, filter, order, cursor.as_ref(), i64::from(page.size) + 1).await?;
                let items = rows.iter().map($crate::rows::case).collect::<cityserve_store::StoreResult<Vec<_>>>()?;
                let mut page = $crate::feedback::case_page(items, order, page.size);
                attach_entries(&mut tx, &mut page.items).await?;
                tx.finish().await?;
                Ok(page)
            }

            async fn save_case(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                case: &cityserve_domain::Case,
                expected_revision: i64,
                entry: Option<&cityserve_domain::CaseEntry>,
            ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
                match &self.cases {
                    Some(queue) => queue.save(ctx, case, expected_revision, entry).await,
                    None => self.save_case_alone(ctx, case, expected_revision, entry).await,
                }
            }
        }
    };
}
