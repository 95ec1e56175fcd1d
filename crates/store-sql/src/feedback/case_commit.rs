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
        /// change against it: the stored revision must be `expected_revision`
        /// ([`cityserve_store::StoreError::Conflict`]), a new assignee an active officer of the
        /// department, a new owner an active department, a new follow-up a survey response of the
        /// department ([`cityserve_store::StoreError::FailedPrecondition`]). Writes nothing, so a
        /// refusal leaves a shared transaction as it found it. Returns the stored case.
        async fn check_case_save(
            tx: &mut crate::Tx<'_>,
            case: &cityserve_domain::Case,
            expected_revision: i64,
        ) -> cityserve_store::StoreResult<cityserve_domain::Case> {
            use cityserve_store::StoreError;
            let d = &case.department_id;
            // Concurrent saves of one case serialize, and the loser sees a new revision.
            let row = sqlx::query(LOCK_CASE)
                .bind(d.as_str())
                .bind(case.id.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(crate::db_err)?;
            let current = $crate::rows::case(&row.ok_or(StoreError::NotFound)?)?;
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
            Ok(current)
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

            /// Writes a batch of waiting case changes and answers each: in one transaction per
            /// tenant scope where the backend needs that (`crate::SCOPED_WRITES`), else in one.
            /// Should a transaction fail, its changes are saved again one by one, so each meets
            /// exactly the outcome it would have alone.
            async fn write_case_saves(&self, batch: Vec<cityserve_store::group_commit::CaseSave>) {
                for group in $crate::write::scope_groups(batch, crate::SCOPED_WRITES, |c| &c.request.ctx.scope) {
                    if group.len() > 1 {
                        match self.try_case_saves(&group).await {
                            Ok(answers) => {
                                for (c, answer) in group.into_iter().zip(answers) {
                                    c.answer(answer);
                                }
                                continue;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, changes = group.len(), "a batch of case changes failed; saving them one by one");
                            }
                        }
                    }
                    for c in group {
                        let r = &c.request;
                        let answer =
                            self.save_case_alone(&r.ctx.ctx(), &r.case, r.expected_revision, r.entry.as_ref()).await;
                        c.answer(answer);
                    }
                }
            }

            /// The group's transaction: each change's answer, or the error that undid them all.
            /// Changes run in queue order, each against what the ones before it wrote, as one at a
            /// time would have them: of two changes made against one revision of a case, the
            /// later one meets a conflict. A change refused by its checks writes nothing and is
            /// answered with the refusal; any other failure undoes the batch. Counters, audit rows
            /// and events are written together at the commit.
            async fn try_case_saves(
                &self,
                group: &[cityserve_store::group_commit::CaseSave],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_domain::Case>>> {
                let first = &group[0].request.ctx;
                let mut tx = self.write_batch(&first.scope, &first.actor).await?;
                let mut answers = Vec::with_capacity(group.len());
                for c in group {
                    let r = &c.request;
                    let ctx = r.ctx.ctx();
                    let case = &r.case;
                    if let Err(e) = crate::in_scope(ctx.scope, &case.department_id) {
                        answers.push(Err(e));
                        continue;
                    }
                    let current = match check_case_save(&mut tx, case, r.expected_revision).await {
                        Ok(current) => current,
                        Err(e) if refuses_only_itself(&e) => {
                            answers.push(Err(e));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    write_case(&mut tx, &ctx, &current, case, r.entry.as_ref()).await?;
                    answers.push(Ok(read_case(&mut tx, &case.department_id, case.id.as_str()).await?));
                }
                self.commit(tx).await?;
                Ok(answers)
            }
        }
    };
}
