//! [`crate::feedback_insert!`]: submissions written set-based, one or many with the same code.

/// `insert_feedback` (one submission, also a hand-off's copy) and `insert_submissions` (many,
/// each table's rows in multi-row statements), with the residents' keys and contact details they
/// need, expanded by [`crate::feedback_store!`] in a backend's feedback module.
#[macro_export]
macro_rules! feedback_insert {
    () => {
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
                        let key =
                            r.identifiers.iter().find_map(|i| index.get(i).cloned()).unwrap_or_else(|| r.key.clone());
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
            for range in $crate::write::chunks(added.len(), crate::SPLIT) {
                let sql = $crate::feedback::INSERT_IDENTIFIERS.sql(range.len(), crate::PLACEHOLDERS);
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
            // (department, key, e-mail, phone, name, notice channel; '' keeps what was known).
            let mut merged: Vec<(&str, &str, &str, &str, &str, &str)> = Vec::new();
            let mut at = std::collections::HashMap::new();
            for (it, key) in items.iter().zip(keys) {
                let (Some(key), Some(r)) = (key, &it.new.resident) else { continue };
                let c = &r.contact;
                let d = it.new.department_id.as_str();
                let channel = c.notice_channel.map_or("", |n| n.as_str());
                match at.get(&(d, key.as_str())) {
                    Some(&n) => {
                        let m: &mut (&str, &str, &str, &str, &str, &str) = &mut merged[n];
                        for (field, given) in [
                            (&mut m.2, c.email.as_str()),
                            (&mut m.3, c.phone.as_str()),
                            (&mut m.4, c.name.as_str()),
                            (&mut m.5, channel),
                        ] {
                            if !given.is_empty() {
                                *field = given;
                            }
                        }
                    }
                    None => {
                        at.insert((d, key.as_str()), merged.len());
                        merged.push((d, key, &c.email, &c.phone, &c.name, channel));
                    }
                }
            }
            for range in $crate::write::chunks(merged.len(), crate::SPLIT) {
                let sql = $crate::feedback::UPSERT_CONTACTS.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (d, key, email, phone, name, channel) in &merged[range] {
                    q = q.bind(*d).bind(*key).bind(*email).bind(*phone).bind(crate::at(now)).bind(*name).bind(*channel);
                }
                q.execute(&mut **conn).await.map_err(crate::db_err)?;
            }
            Ok(())
        }

        /// A follow-up survey's answer: spends its invitation's token (once: a second answer is
        /// refused) and links the answer to the case, as LinkFollowUp would, while the case is
        /// still resolved or closed (a case reopened since keeps the answer as plain feedback).
        async fn link_survey_answer(
            conn: &mut crate::Tx<'_>,
            ctx: &cityserve_store::WriteCtx<'_>,
            new: &cityserve_domain::NewFeedback,
            link: &cityserve_domain::survey::SurveyLink,
            now: chrono::DateTime<chrono::Utc>,
        ) -> cityserve_store::StoreResult<()> {
            let d = &new.department_id;
            let spent = sqlx::query($crate::notices::ANSWER_SURVEY)
                .bind(d.as_str())
                .bind(&link.notice_id)
                .bind(&link.case_id)
                .bind(now.timestamp_micros())
                .execute(&mut **conn)
                .await
                .map_err(crate::db_err)?;
            if spent.rows_affected() != 1 {
                return Err(cityserve_store::StoreError::FailedPrecondition(
                    "this survey invitation was already answered (or never sent)".into(),
                ));
            }
            let row = sqlx::query(LOCK_CASE)
                .bind(d.as_str())
                .bind(&link.case_id)
                .fetch_optional(&mut **conn)
                .await
                .map_err(crate::db_err)?;
            let Some(row) = row else { return Ok(()) };
            let current = $crate::rows::case(&row)?;
            if !matches!(current.status, cityserve_domain::CaseStatus::Resolved | cityserve_domain::CaseStatus::Closed)
            {
                return Ok(());
            }
            let mut next = current.clone();
            next.follow_up = Some(new.id.clone());
            next.satisfied = link.resolved;
            let linking =
                cityserve_store::WriteCtx { action: cityserve_domain::AuditAction::CaseUpdate.as_str(), ..ctx.clone() };
            write_case(conn, &linking, &current, &next, None).await
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
            intake.admit(new)?;
            let item = $crate::feedback::ToInsert { ctx: ctx.clone(), intake, new, origin };
            let mut stored = insert_submissions(conn, std::slice::from_ref(&item), now).await?;
            stored.pop().ok_or_else(|| cityserve_store::StoreError::Internal("a submission went unwritten".into()))
        }

        /// Inserts submissions, each as [`insert_feedback`] would, with the rows of each table
        /// written together in multi-row statements ([`$crate::write::MultiRow`]); answers in
        /// the order of `items`. The caller has admitted each against its intake. Only a
        /// resident's identifiers and contact details take statements of their own.
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
            let keys = resolve_residents(conn, items, now).await?;
            // The officer a contact names as the one who served the resident must be one of the
            // department's active officers (the touchpoint was admitted with the intake).
            for it in items {
                if let Some((d, o)) = &it.new.served.officer {
                    // Another department's officer is refused in the same words as a missing one.
                    let here = &it.new.department_id;
                    if d != here {
                        return Err(cityserve_store::StoreError::FailedPrecondition(format!(
                            "{o} is not an active officer of department {here}"
                        )));
                    }
                    crate::require_active_officer(&mut **conn, here, o).await?;
                }
            }
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
            for range in chunks(items.len(), crate::SPLIT) {
                let sql = $crate::feedback::INSERT_FEEDBACK.sql(range.len(), crate::PLACEHOLDERS);
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
                        .bind(&new.client_ids.account_id)
                        .bind(new.served.touchpoint.as_ref().map(|(_, t)| t.as_str()))
                        .bind(new.served.officer.as_ref().map(|(_, o)| o.as_str()));
                }
                for row in q.fetch_all(&mut **conn).await.map_err(crate::db_err)? {
                    let f = $crate::rows::feedback(&row)?;
                    stored.insert((f.department_id.as_str().to_owned(), f.id.as_str().to_owned()), f);
                }
            }
            let with_case: Vec<usize> = (0..items.len()).filter(|&i| cases[i].is_some()).collect();
            let mut opened = std::collections::HashMap::with_capacity(with_case.len());
            for range in chunks(with_case.len(), crate::SPLIT) {
                let sql = $crate::feedback::INSERT_CASE.sql(range.len(), crate::PLACEHOLDERS);
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
                        .bind(crate::at(now))
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
            for range in chunks(on_timeline.len(), crate::SPLIT) {
                let sql = $crate::feedback::INSERT_TIMELINE_ENTRY.sql(range.len(), crate::PLACEHOLDERS);
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
                let unreturned =
                    || cityserve_store::StoreError::Internal("an insert returned fewer rows than it wrote".into());
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
            for it in items {
                if let Some(link) = &it.new.survey {
                    link_survey_answer(conn, &it.ctx, it.new, link, now).await?;
                }
            }
            Ok(out)
        }
    };
}
