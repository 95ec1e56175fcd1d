//! [`crate::feedback_store!`]: the feedback writes and the whole `FeedbackStore` implementation,
//! written once.

/// The feedback writes (`insert_feedback`, `write_case`, used by hand-offs too) and `impl
/// FeedbackStore for $store`, written once and expanded in a backend's feedback module next to
/// [`crate::feedback_reads!`].
///
/// Every write runs on the backend's one write path: `self.write(ctx)`, `crate::claim_key`, the
/// operation on `crate::Tx<'_>` (the backend's `WriteTx`), `crate::record`, `self.commit(tx)`.
/// Reads run in `self.read(scope)`, then `finish()`. The expansion site also provides `crate::Conn`,
/// `crate::db_err`, `crate::at` (an instant as the backend binds it), `crate::in_scope`,
/// `crate::apply_deltas` (report-card counters), `crate::require_active_officer`, and in the
/// module itself what is dialect:
/// - `attach_entries(conn, cases)`, the cases' notes and recovery actions in one statement;
/// - `path_value(path)`, a case's path as the `cases.path` column binds it;
/// - `LOCK_CASE`, the statement reading a case to save (locking its row where that is needed);
/// - `DEPARTMENT_IS_ACTIVE`, whether department `$1` exists and is active (a department naming
///   another as a case's owner may not see its row);
/// - `feedback_rows(conn, scope, filter, page)` and `case_rows(conn, scope, filter, order,
///   cursor, limit)`, the listings (their scope filter is dialect);
/// - `self.resident_timeline_in(ctx, audit_in, resident_key)`, the audited timeline read.
#[macro_export]
macro_rules! feedback_store {
    ($store:ty) => {
        /// The keys the identity index records for `identifiers`.
        async fn recorded_keys(
            conn: &mut crate::Conn,
            identifiers: &[&str],
        ) -> cityserve_store::StoreResult<std::collections::HashMap<String, String>> {
            use $crate::SqlRow as _;
            let mut found = std::collections::HashMap::with_capacity(identifiers.len());
            for range in $crate::write::chunks(identifiers.len()) {
                let sql = $crate::feedback::SELECT_RESIDENT_KEYS.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in &identifiers[range] {
                    q = q.bind(*id);
                }
                for row in q.fetch_all(&mut *conn).await.map_err(crate::db_err)? {
                    found.insert(row.text("identifier")?, row.text("resident_key")?);
                }
            }
            Ok(found)
        }

        /// Each submission's resident key, in submission order as one at a time would have it:
        /// the key recorded for the first of its identifiers the index (or an earlier submission)
        /// knows, else its proposed random key; every identifier not yet known is recorded under
        /// it. A hand-off copy carries its key over. Should a concurrent transaction record one of
        /// the new identifiers first (a first contact racing another, on PostgreSQL), each
        /// submission reads back the key the index then holds.
        async fn resolve_residents(
            conn: &mut crate::Tx<'_>,
            items: &[$crate::feedback::ToInsert<'_>],
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<Vec<Option<String>>> {
            use $crate::SqlRow as _;
            let mut named: Vec<&str> = items
                .iter()
                .filter_map(|it| it.new.resident.as_ref())
                .flat_map(|r| r.identifiers.iter().map(String::as_str))
                .collect();
            named.sort_unstable();
            named.dedup();
            let mut index = recorded_keys(conn, &named).await?;
            let mut added: Vec<(&str, String)> = Vec::new();
            let mut keys = Vec::with_capacity(items.len());
            for it in items {
                let key = match (&it.new.resident, it.origin) {
                    (Some(r), _) => {
                        let key = r.identifiers.iter().find_map(|i| index.get(i).cloned()).unwrap_or_else(|| r.key.clone());
                        for i in &r.identifiers {
                            if !index.contains_key(i) {
                                index.insert(i.clone(), key.clone());
                                added.push((i.as_str(), key.clone()));
                            }
                        }
                        Some(key)
                    }
                    (None, Some(o)) => o.resident_key.map(str::to_owned),
                    (None, None) => None,
                };
                keys.push(key);
            }
            let mut recorded = 0;
            for range in $crate::write::chunks(added.len()) {
                let sql = $crate::feedback::INSERT_IDENTIFIERS.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (identifier, key) in &added[range] {
                    q = q.bind(*identifier).bind(key).bind(crate::at(now));
                }
                for row in q.fetch_all(&mut **conn).await.map_err(crate::db_err)? {
                    row.text("identifier")?;
                    recorded += 1;
                }
            }
            if recorded < added.len() {
                // A concurrent first contact recorded some of them first: each submission takes
                // the key the index now holds for its first identifier, so both share it.
                let index = recorded_keys(conn, &named).await?;
                for (it, key) in items.iter().zip(keys.iter_mut()) {
                    let held = it.new.resident.as_ref().and_then(|r| r.identifiers.first()).and_then(|i| index.get(i));
                    if let Some(held) = held {
                        *key = Some(held.clone());
                    }
                }
            }
            Ok(keys)
        }

        /// Stores the submissions' contact details with their departments, one row per
        /// department and resident: details from later submissions win where they are given.
        async fn upsert_contacts(
            conn: &mut crate::Tx<'_>,
            items: &[$crate::feedback::ToInsert<'_>],
            keys: &[Option<String>],
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<()> {
            let mut merged: Vec<(&str, &str, &str, &str, &str)> = Vec::new();
            let mut at = std::collections::HashMap::new();
            for (it, key) in items.iter().zip(keys) {
                let (Some(key), Some(r)) = (key, &it.new.resident) else { continue };
                let c = &r.contact;
                let d = it.new.department_id.as_str();
                match at.get(&(d, key.as_str())) {
                    Some(&n) => {
                        let m: &mut (&str, &str, &str, &str, &str) = &mut merged[n];
                        for (field, given) in [(&mut m.2, &c.email), (&mut m.3, &c.phone), (&mut m.4, &c.name)] {
                            if !given.is_empty() {
                                *field = given.as_str();
                            }
                        }
                    }
                    None => {
                        at.insert((d, key.as_str()), merged.len());
                        merged.push((d, key, &c.email, &c.phone, &c.name));
                    }
                }
            }
            for range in $crate::write::chunks(merged.len()) {
                let sql = $crate::feedback::UPSERT_CONTACTS.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (d, key, email, phone, name) in &merged[range] {
                    q = q.bind(*d).bind(*key).bind(*email).bind(*phone).bind(crate::at(now)).bind(*name);
                }
                q.execute(&mut **conn).await.map_err(crate::db_err)?;
            }
            Ok(())
        }

        /// Inserts one submission (feedback, contact details, case, timeline entry, rollups,
        /// audit, event). With `origin`, it is a hand-off copy: not counted as a new contact.
        pub(crate) async fn insert_feedback(
            conn: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            intake: &$crate::feedback::Intake,
            new: &cityserve_domain::NewFeedback,
            now: chrono::DateTime<chrono::Utc>,
            origin: Option<&$crate::feedback::Origin<'_>>,
        ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
            let item = $crate::feedback::ToInsert { ctx: ctx.clone(), intake, new, origin };
            let mut stored = insert_submissions(conn, std::slice::from_ref(&item), now).await?;
            stored.pop().ok_or_else(|| cityserve_store::StoreError::Internal("a submission went unwritten".into()))
        }

        /// Inserts submissions, each as [`insert_feedback`] would, with the rows of each table
        /// written together in multi-row statements ([`$crate::write::MultiRow`]); answers in
        /// the order of `items`. Only a resident's identifiers and contact details take
        /// statements of their own.
        pub(crate) async fn insert_submissions(
            conn: &mut crate::Tx<'_>,
            items: &[$crate::feedback::ToInsert<'_>],
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<Vec<cityserve_store::feedback::Submitted>> {
            use cityserve_domain::report;
            use $crate::write::chunks;
            let mut cases: Vec<Option<cityserve_domain::Case>> = Vec::with_capacity(items.len());
            // Every counter increment of the submissions, written together at the end.
            let mut deltas = Vec::new();
            for it in items {
                it.intake.admit(it.new)?;
            }
            let keys = resolve_residents(conn, items, now).await?;
            upsert_contacts(conn, items, &keys, now).await?;
            for it in items {
                let (new, intake, origin) = (it.new, it.intake, it.origin);
                let case = (new.kind == cityserve_domain::FeedbackKind::Complaint).then(|| {
                    let (targets, _) = cityserve_domain::resolve_targets(
                        intake.default_targets,
                        &intake.standards,
                        new.category.as_ref(),
                        Some(new.channel),
                    );
                    cityserve_domain::Case::open(new, now, targets, &intake.calendar)
                });
                if let Some(case) = &case {
                    deltas.extend(report::case_opened_deltas(case, intake.rollup_zone));
                }
                if origin.is_none() {
                    deltas.extend(report::feedback_deltas(new, now, intake.rollup_zone));
                }
                cases.push(case);
            }
            // RETURNING: the callers are answered with what was stored, without reading it back;
            // rows come back in no promised order, so they are matched by their keys.
            let mut stored = std::collections::HashMap::with_capacity(items.len());
            for range in chunks(items.len()) {
                let sql = $crate::feedback::INSERT_FEEDBACK.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (it, key) in items[range.clone()].iter().zip(&keys[range]) {
                    let new = it.new;
                    q = q
                        .bind(new.department_id.as_str())
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
                        .bind(crate::at(new.occurred_at))
                        .bind(crate::at(now))
                        .bind(key.as_deref())
                        .bind(new.internal_customer.as_ref().map(|c| c.as_str()))
                        .bind(new.source.as_deref())
                        .bind($crate::feedback::media_column(&new.media))
                        .bind(&new.location.address_id)
                        .bind($crate::rows::json_column(&new.attributes))
                        .bind(&new.client_ids.device_id)
                        .bind(&new.client_ids.account_id);
                }
                for row in q.fetch_all(&mut **conn).await.map_err(crate::db_err)? {
                    let f = $crate::rows::feedback(&row)?;
                    stored.insert((f.department_id.as_str().to_owned(), f.id.as_str().to_owned()), f);
                }
            }
            let with_case: Vec<usize> = (0..items.len()).filter(|&i| cases[i].is_some()).collect();
            let mut opened = std::collections::HashMap::with_capacity(with_case.len());
            for range in chunks(with_case.len()) {
                let sql = $crate::feedback::INSERT_CASE.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for &i in &with_case[range] {
                    let Some(case) = &cases[i] else { continue };
                    let origin = items[i].origin;
                    q = q
                        .bind(case.department_id.as_str())
                        .bind(case.id.as_str())
                        .bind(case.status.as_str())
                        .bind(case.category.as_ref().map(|c| c.as_str()))
                        .bind(case.channel.as_str())
                        .bind(crate::at(now))
                        .bind(crate::at(case.acknowledge_due))
                        .bind(crate::at(case.resolve_due))
                        .bind(keys[i].as_deref())
                        .bind(origin.map(|o| path_value(o.path)))
                        .bind(crate::at(origin.map_or(now, |o| o.first_contact_at)));
                }
                for row in q.fetch_all(&mut **conn).await.map_err(crate::db_err)? {
                    let c = $crate::rows::case(&row)?;
                    opened.insert((c.department_id.as_str().to_owned(), c.id.as_str().to_owned()), c);
                }
            }
            crate::add_deltas(conn, deltas).await?;
            let on_timeline: Vec<usize> = (0..items.len()).filter(|&i| keys[i].is_some()).collect();
            for range in chunks(on_timeline.len()) {
                let sql = $crate::feedback::INSERT_TIMELINE_ENTRY.sql(range.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for &i in &on_timeline[range] {
                    let new = items[i].new;
                    q = q
                        .bind(new.department_id.as_str())
                        .bind(new.id.as_str())
                        .bind(keys[i].as_deref())
                        .bind(new.channel.as_str())
                        .bind(crate::at(new.occurred_at))
                        .bind(cases[i].as_ref().map(|c| c.status.as_str()));
                }
                q.execute(&mut **conn).await.map_err(crate::db_err)?;
            }
            let mut out = Vec::with_capacity(items.len());
            for (it, case) in items.iter().zip(cases) {
                let new = it.new;
                let name = cityserve_store::resource::feedback(&new.department_id, &new.id);
                let payload = $crate::feedback::submission_payload(new, case.is_some());
                crate::record(conn, &it.ctx, &new.department_id, &name, payload).await?;
                let unreturned = || cityserve_store::StoreError::Internal("an insert returned fewer rows than it wrote".into());
                let feedback = stored
                    .remove(&(new.department_id.as_str().to_owned(), new.id.as_str().to_owned()))
                    .ok_or_else(unreturned)?;
                let case = match case {
                    Some(c) => Some(
                        opened
                            .remove(&(c.department_id.as_str().to_owned(), c.id.as_str().to_owned()))
                            .ok_or_else(unreturned)?,
                    ),
                    None => None,
                };
                out.push(cityserve_store::feedback::Submitted { feedback, case });
            }
            Ok(out)
        }

        /// Writes a case's mutable fields over `current` (whose revision the caller checked, with
        /// the row locked where the database needs that), appends `entry`, updates the timeline
        /// status and the report-card counters, and records the change.
        pub(crate) async fn write_case(
            conn: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            current: &cityserve_domain::Case,
            case: &cityserve_domain::Case,
            entry: Option<&cityserve_domain::CaseEntry>,
        ) -> cityserve_store::StoreResult<()> {
            let d = &case.department_id;
            let now = cityserve_store::now_micros();
            sqlx::query($crate::feedback::UPDATE_CASE)
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
                .bind(d.as_str())
                .bind(case.id.as_str())
                .bind(current.revision)
                .bind(case.waiting_since.map(crate::at))
                .bind(case.waited_secs)
                .execute(&mut **conn)
                .await
                .map_err(crate::db_err)?;
            if current.waiting_since.is_some() && case.waiting_since.is_none() {
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
            if let Some(entry) = entry {
                let (kind, text, actor, at, public) = match entry {
                    cityserve_domain::CaseEntry::Note(n) => ("note", &n.text, &n.actor, n.at, n.public),
                    cityserve_domain::CaseEntry::Recovery(r) => (r.kind.as_str(), &r.note, &r.actor, r.at, false),
                };
                sqlx::query($crate::feedback::INSERT_CASE_ENTRY)
                    .bind(d.as_str())
                    .bind(case.id.as_str())
                    .bind(kind)
                    .bind(text)
                    .bind(actor)
                    .bind(crate::at(at))
                    .bind(public)
                    .execute(&mut **conn)
                    .await
                    .map_err(crate::db_err)?;
            }
            sqlx::query($crate::feedback::UPDATE_TIMELINE_STATUS)
                .bind(case.status.as_str())
                .bind(d.as_str())
                .bind(case.id.as_str())
                .execute(&mut **conn)
                .await
                .map_err(crate::db_err)?;
            let name = cityserve_store::resource::case(d, &case.id);
            let payload = serde_json::json!({ "case": case.id.as_str(), "status": case.status.as_str() });
            crate::record(conn, ctx, d, &name, payload).await?;
            let zone = crate::rollup_zone(conn).await?;
            let mut deltas = cityserve_domain::report::case_deltas(current, case, zone);
            if let Some(cityserve_domain::CaseEntry::Recovery(r)) = entry {
                deltas.extend(cityserve_domain::report::recovery_deltas(d, r.kind, r.at, zone));
            }
            crate::apply_deltas(conn, &deltas).await
        }

        impl $store {
            /// Turns on group commit of `SubmitFeedback`: `writers` tasks each write whatever
            /// submissions wait (at most `max_batch`) in one transaction
            /// ([`cityserve_store::group_commit`]). `max_batch` 1 writes each alone, as without it.
            pub fn with_group_commit(mut self, writers: usize, max_batch: usize) -> Self {
                let mut inner = self.clone();
                inner.submits = None;
                self.submits = Some(cityserve_store::group_commit::GroupCommit::start(writers, max_batch, move |batch| {
                    let store = inner.clone();
                    async move { store.write_submissions(batch).await }
                }));
                self
            }

            /// One submission in its own transaction.
            async fn submit_one(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                idem: &cityserve_store::Idempotency,
                new: &cityserve_domain::NewFeedback,
            ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
                crate::in_scope(ctx.scope, &new.department_id)?;
                let mut tx = self.write(ctx).await?;
                let now = cityserve_store::now_micros();
                // Claiming the key first makes concurrent retries wait for the first one and
                // replay it.
                let claimed = crate::claim_key(&mut tx, &new.department_id, idem, "feedback", new.id.as_str()).await?;
                if let Some(f) = claimed {
                    let submitted = read_submitted(&mut tx, &new.department_id, &f).await?;
                    self.commit(tx).await?;
                    return Ok(submitted);
                }
                let complaints = new.kind == cityserve_domain::FeedbackKind::Complaint;
                let intake = intake_for(&mut tx, &new.department_id, complaints).await?;
                let submitted = insert_feedback(&mut tx, ctx, &intake, new, now, None).await?;
                self.commit(tx).await?;
                Ok(submitted)
            }

            /// Writes a batch of waiting submissions and answers each: in one transaction per
            /// tenant scope where the backend needs that (`crate::SCOPED_WRITES`), else in one.
            async fn write_submissions(&self, batch: Vec<cityserve_store::group_commit::Submission>) {
                let mut groups: Vec<Vec<cityserve_store::group_commit::Submission>> = Vec::new();
                for s in batch {
                    let same = |g: &Vec<cityserve_store::group_commit::Submission>| {
                        !crate::SCOPED_WRITES || g[0].request.ctx.scope == s.request.ctx.scope
                    };
                    match groups.iter_mut().find(|g| same(g)) {
                        Some(g) => g.push(s),
                        None => groups.push(vec![s]),
                    }
                }
                for group in groups {
                    self.write_group(group).await;
                }
            }

            /// Writes one group in one transaction. Should any statement fail (or the commit),
            /// nothing of the group stands and each submission is written again alone, so every
            /// submission meets exactly the outcome it would have alone; one whose first attempt
            /// did commit replays from its idempotency key.
            async fn write_group(&self, group: Vec<cityserve_store::group_commit::Submission>) {
                if group.len() > 1 {
                    match self.try_group(&group).await {
                        Ok(answers) => {
                            for (s, answer) in group.into_iter().zip(answers) {
                                s.answer(answer);
                            }
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, submissions = group.len(), "a batch failed; writing its submissions one by one");
                        }
                    }
                }
                for s in group {
                    let r = &s.request;
                    let answer = self.submit_one(&r.ctx.ctx(), &r.idem, &r.new).await;
                    s.answer(answer);
                }
            }

            /// The group's transaction: each submission's answer, or the error that undid them all.
            /// Each submission meets the outcome it would have alone: refusals are decided
            /// before anything is written (a refused submission still replays if its key was
            /// used by an accepted request), keys are claimed in submission order (so of two
            /// submissions with one key the later replays the earlier or is refused as a
            /// mismatch), and the accepted ones are written together ([`insert_submissions`]).
            async fn try_group(
                &self,
                group: &[cityserve_store::group_commit::Submission],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_store::feedback::Submitted>>> {
                use cityserve_store::StoreError;
                let first = &group[0].request.ctx;
                let mut tx = self.write_batch(&first.scope, &first.actor).await?;
                let now = cityserve_store::now_micros();
                let mut answers: Vec<Option<cityserve_store::StoreResult<cityserve_store::feedback::Submitted>>> =
                    group.iter().map(|_| None).collect();
                let mut intakes = std::collections::HashMap::new();
                // Those admitted claim their keys; the refused only look theirs up.
                let mut admitted = Vec::new();
                let mut refused = Vec::new();
                for (i, s) in group.iter().enumerate() {
                    let s = &s.request;
                    let d = &s.new.department_id;
                    if let Err(e) = crate::in_scope(&s.ctx.scope, d) {
                        answers[i] = Some(Err(e));
                        continue;
                    }
                    if !intakes.contains_key(d) {
                        // A department that is not there (a read that failed no statement)
                        // refuses as alone; any other error undoes the batch.
                        match intake_for(&mut tx, d, true).await {
                            Ok(intake) => {
                                intakes.insert(d.clone(), intake);
                            }
                            Err(StoreError::NotFound) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    match intakes.get(d).map_or(Err(StoreError::NotFound), |intake| intake.admit(&s.new)) {
                        Ok(()) => admitted.push(i),
                        Err(e) => refused.push((i, e)),
                    }
                }
                let claims: Vec<$crate::write::KeyClaim<'_>> = admitted
                    .iter()
                    .map(|&i| {
                        let s = &group[i].request;
                        tx.act_as(&s.ctx.actor);
                        $crate::write::KeyClaim {
                            department: &s.new.department_id,
                            key_space: tx.key_space.clone(),
                            idem: &s.idem,
                            operation: "feedback",
                            resource_id: s.new.id.as_str(),
                        }
                    })
                    .collect();
                let claimed = crate::claim_keys(&mut tx, &claims).await?;
                let mut fresh = Vec::new();
                let mut retries = Vec::new();
                for (&i, claim) in admitted.iter().zip(claimed) {
                    match claim {
                        Ok(None) => fresh.push(i),
                        Ok(Some(f)) => retries.push((i, f)),
                        Err(StoreError::IdempotencyMismatch) => answers[i] = Some(Err(StoreError::IdempotencyMismatch)),
                        Err(e) => return Err(e),
                    }
                }
                for (i, refusal) in refused {
                    let s = &group[i].request;
                    tx.act_as(&s.ctx.actor);
                    match crate::existing_key(&mut tx, &s.new.department_id, &s.idem, "feedback").await {
                        Ok(Some(f)) => retries.push((i, f)),
                        Ok(None) => answers[i] = Some(Err(refusal)),
                        Err(StoreError::IdempotencyMismatch) => answers[i] = Some(Err(StoreError::IdempotencyMismatch)),
                        Err(e) => return Err(e),
                    }
                }
                let ctxs: Vec<_> = fresh.iter().map(|&i| group[i].request.ctx.ctx()).collect();
                let mut items = Vec::with_capacity(fresh.len());
                for (&i, ctx) in fresh.iter().zip(ctxs) {
                    let new = &group[i].request.new;
                    let intake = intakes.get(&new.department_id).ok_or(StoreError::NotFound)?;
                    items.push($crate::feedback::ToInsert { ctx, intake, new, origin: None });
                }
                let stored = insert_submissions(&mut tx, &items, now).await?;
                for (&i, submitted) in fresh.iter().zip(stored) {
                    answers[i] = Some(Ok(submitted));
                }
                // Replays read what they name, written by an earlier batch or by this one.
                for (i, f) in retries {
                    answers[i] = Some(Ok(read_submitted(&mut tx, &group[i].request.new.department_id, &f).await?));
                }
                self.commit(tx).await?;
                Ok(answers
                    .into_iter()
                    .map(|a| a.unwrap_or(Err(StoreError::Internal("a submission went unanswered".into()))))
                    .collect())
            }
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
                let mut tx = self.read(scope).await?;
                let feedback = read_feedback(&mut tx, d, f.as_str()).await?;
                tx.finish().await?;
                Ok(feedback)
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
                use cityserve_store::StoreError;
                let d = &case.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                // Concurrent saves of one case serialize, and the loser sees a new revision.
                let row = sqlx::query(LOCK_CASE)
                    .bind(d.as_str())
                    .bind(case.id.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(crate::db_err)?;
                let current = $crate::rows::case(&row.ok_or(StoreError::NotFound)?)?;
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
                    let active: bool = sqlx::query_scalar(DEPARTMENT_IS_ACTIVE)
                        .bind(o.as_str())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    if !active {
                        return Err(StoreError::FailedPrecondition(format!(
                            "department {o} does not exist or is archived"
                        )));
                    }
                }
                if let Some(f) = &case.follow_up
                    && current.follow_up.as_ref() != Some(f)
                {
                    let kind: Option<String> = sqlx::query_scalar($crate::feedback::SELECT_FEEDBACK_KIND)
                        .bind(d.as_str())
                        .bind(f.as_str())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(crate::db_err)?;
                    if kind.as_deref() != Some(cityserve_domain::FeedbackKind::SurveyResponse.as_str()) {
                        return Err(StoreError::FailedPrecondition(format!(
                            "{f} is not a survey response of department {d}"
                        )));
                    }
                }
                write_case(&mut tx, ctx, &current, case, entry).await?;
                let saved = read_case(&mut tx, d, case.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }
        }
    };
}
