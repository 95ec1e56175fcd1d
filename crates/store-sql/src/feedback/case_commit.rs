//! [`crate::feedback_case_commit!`]: case changes (`save_case`) alone or in shared transactions,
//! each keeping the outcome it would have alone.

/// `check_case_save` (what a case change must pass before it writes) and, for `$store`,
/// `save_case_alone` and the batch writer of the case queue that
/// [`crate::feedback_group_commit!`]'s `with_group_commit` starts; expanded by
/// [`crate::feedback_store!`] in a backend's feedback module.
#[macro_export]
macro_rules! feedback_case_commit {
    ($store:ty) => {
        /// Reads (and where the database needs it, locks) the case `case` changes and checks the
        /// change against it ([`check_case_change`]). Returns the stored case.
        async fn check_case_save(
            tx: &mut crate::Tx<'_>,
            case: &cityserve_domain::Case,
            expected_revision: i64,
        ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
            // Concurrent saves of one case serialize, and the loser sees a new revision.
            let row = sqlx::query(LOCK_CASE)
                .bind(case.department_id.as_str())
                .bind(case.id.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(crate::db_err)?;
            let current = $crate::rows::case(&row.ok_or(cityserve_store::StoreError::NotFound)?)?;
            check_case_change(tx, &current, case, expected_revision).await?;
            Ok(current)
        }

        /// Checks a change of `current` (the stored case) into `case`: the stored revision must be
        /// `expected_revision` ([`cityserve_store::StoreError::Conflict`]), a new assignee an
        /// active officer of the department, a new owner an active department, a new follow-up a
        /// survey response of the department ([`cityserve_store::StoreError::FailedPrecondition`]).
        /// Writes nothing, so a refusal leaves a shared transaction as it found it.
        async fn check_case_change(
            tx: &mut crate::Tx<'_>,
            current: &cityserve_domain::Case,
            case: &cityserve_domain::Case,
            expected_revision: i64,
        ) -> cityserve_store::StoreResult<()> {
            use cityserve_store::StoreError;
            let d = &case.department_id;
            if current.revision != expected_revision {
                return Err(StoreError::Conflict);
            }
            if let Some(a) = &case.assignee
                && current.assignee.as_ref() != Some(a)
            {
                crate::require_active_officer(&mut **tx, d, a).await?;
            }
            if let Some(o) = &case.owner_department
                && current.owner_department.as_ref() != Some(o)
            {
                let active: bool = sqlx::query_scalar(DEPARTMENT_IS_ACTIVE)
                    .bind(o.as_str())
                    .fetch_one(&mut **tx)
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
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(crate::db_err)?;
                if kind.as_deref() != Some(cityserve_domain::FeedbackKind::SurveyResponse.as_str()) {
                    return Err(StoreError::FailedPrecondition(format!(
                        "{f} is not a survey response of department {d}"
                    )));
                }
            }
            Ok(())
        }

        /// The cases named by `keys` (department, case), read with `statement` (`LOCK_CASES` to
        /// lock them, `SELECT_CASES` to read them back), in statements of at most 64 pairs; a
        /// case not there is absent.
        async fn cases_by_key(
            conn: &mut crate::Conn,
            statement: &$crate::write::MultiRow,
            keys: &[(&str, &str)],
        ) -> cityserve_store::StoreResult<Vec<cityserve_domain::Case>> {
            let mut out = Vec::with_capacity(keys.len());
            for range in $crate::write::chunks(keys.len(), crate::SPLIT) {
                let sql = statement.sql(range.len(), crate::PLACEHOLDERS);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (d, c) in &keys[range] {
                    q = q.bind(*d).bind(*c);
                }
                for row in q.fetch_all(&mut *conn).await.map_err(crate::db_err)? {
                    out.push($crate::rows::case(&row)?);
                }
            }
            Ok(out)
        }

        /// `cases` by their (department, case) key.
        fn by_key(
            cases: Vec<cityserve_domain::Case>,
        ) -> std::collections::HashMap<(String, String), cityserve_domain::Case> {
            cases.into_iter().map(|c| ((c.department_id.as_str().to_owned(), c.id.as_str().to_owned()), c)).collect()
        }

        /// Whether a refusal of [`check_case_save`] is the change's own answer (nothing written,
        /// the shared transaction still good), not a failure of the batch.
        fn refuses_only_itself(e: &cityserve_store::StoreError) -> bool {
            use cityserve_store::StoreError;
            matches!(e, StoreError::NotFound | StoreError::Conflict | StoreError::FailedPrecondition(_))
        }

        impl $store {
            /// One case change in its own transaction.
            async fn save_case_alone(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                case: &cityserve_domain::Case,
                expected_revision: i64,
                entry: Option<&cityserve_domain::CaseEntry>,
            ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
                let d = &case.department_id;
                crate::in_scope(ctx.scope, d)?;
                let mut tx = self.write(ctx).await?;
                let current = check_case_save(&mut tx, case, expected_revision).await?;
                write_case(&mut tx, ctx, &current, case, entry).await?;
                let saved = read_case(&mut tx, d, case.id.as_str()).await?;
                self.commit(tx).await?;
                Ok(saved)
            }

            /// The group's transaction: each change's answer, or the error that undid them all.
            /// The batch reads (and where the database needs it, locks) every case it changes in
            /// one statement and the rollups' zone once, then checks the changes in queue order, as
            /// one at a time would have them: a change refused by its checks writes nothing and is
            /// answered with the refusal, and a case changed earlier in the batch refuses any later
            /// change of it as a conflict without reading it again (that change was made against a
            /// committed revision, and the case has moved past it uncommitted). The changes that
            /// passed are written together ([`write_cases`]) and read back in one statement for the
            /// answers; counters, audit rows and events are written at the commit. Any other
            /// failure undoes the batch.
            async fn try_case_saves(
                &self,
                group: &[cityserve_store::group_commit::CaseSave],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_domain::Case>>> {
                use cityserve_store::StoreError;
                let first = &group[0].request.ctx;
                let mut tx = self.write_batch(&first.scope, &first.actor).await?;
                let in_scope: Vec<cityserve_store::StoreResult<()>> = group
                    .iter()
                    .map(|c| crate::in_scope(&c.request.ctx.scope, &c.request.case.department_id))
                    .collect();
                let mut keys: Vec<(&str, &str)> = group
                    .iter()
                    .zip(&in_scope)
                    .filter(|(_, ok)| ok.is_ok())
                    .map(|(c, _)| (c.request.case.department_id.as_str(), c.request.case.id.as_str()))
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                let stored = by_key(cases_by_key(&mut tx, &LOCK_CASES, &keys).await?);
                let zone = crate::rollup_zone(&mut tx).await?;
                // What each change is answered with: a refusal, or the key of the case it saved.
                let mut outcomes: Vec<cityserve_store::StoreResult<(String, String)>> = Vec::with_capacity(group.len());
                let mut changed: std::collections::HashSet<(String, String)> = std::collections::HashSet::new();
                let mut writes = Vec::new();
                for (c, scoped) in group.iter().zip(in_scope) {
                    let r = &c.request;
                    let case = &r.case;
                    if let Err(e) = scoped {
                        outcomes.push(Err(e));
                        continue;
                    }
                    let key = (case.department_id.as_str().to_owned(), case.id.as_str().to_owned());
                    let Some(current) = stored.get(&key) else {
                        outcomes.push(Err(StoreError::NotFound));
                        continue;
                    };
                    if changed.contains(&key) {
                        outcomes.push(Err(StoreError::Conflict));
                        continue;
                    }
                    match check_case_change(&mut tx, current, case, r.expected_revision).await {
                        Ok(()) => {}
                        Err(e) if refuses_only_itself(&e) => {
                            outcomes.push(Err(e));
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    writes.push($crate::feedback::CaseWrite {
                        ctx: r.ctx.ctx(),
                        current,
                        case,
                        entry: r.entry.as_ref(),
                    });
                    changed.insert(key.clone());
                    outcomes.push(Ok(key));
                }
                write_cases(&mut tx, &writes, zone).await?;
                let saved_keys: Vec<(&str, &str)> = changed.iter().map(|(d, c)| (d.as_str(), c.as_str())).collect();
                let mut saved = cases_by_key(&mut tx, &$crate::feedback::SELECT_CASES, &saved_keys).await?;
                attach_entries(&mut tx, &mut saved).await?;
                // Each case answers the one change that saved it (`changed` admits one per case).
                let mut saved = by_key(saved);
                let answers = outcomes
                    .into_iter()
                    .map(|o| {
                        o.and_then(|key| {
                            saved
                                .remove(&key)
                                .ok_or_else(|| StoreError::Internal("a saved case could not be read back".into()))
                        })
                    })
                    .collect();
                self.commit(tx).await?;
                Ok(answers)
            }
        }

        impl
            $crate::write::GroupWriter<
                cityserve_store::group_commit::SaveCase,
                cityserve_store::StoreResult<cityserve_domain::Case>,
            > for $store
        {
            /// Should a transaction fail, its changes are saved again one by one, so each meets
            /// exactly the outcome it would have alone.
            const FAILED: &'static str = "a batch of case changes failed; saving them one by one";

            fn scope(r: &cityserve_store::group_commit::SaveCase) -> &cityserve_domain::TenantScope {
                &r.ctx.scope
            }

            async fn batch(
                &self,
                group: &[cityserve_store::group_commit::CaseSave],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_domain::Case>>> {
                self.try_case_saves(group).await
            }

            async fn alone(
                &self,
                r: &cityserve_store::group_commit::SaveCase,
            ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
                self.save_case_alone(&r.ctx.ctx(), &r.case, r.expected_revision, r.entry.as_ref()).await
            }
        }
    };
}
