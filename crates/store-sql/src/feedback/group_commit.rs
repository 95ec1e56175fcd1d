//! [`crate::feedback_group_commit!`]: concurrent `SubmitFeedback` calls written in shared
//! transactions, each keeping the outcome it would have alone; and, where the backend batches
//! them, the audit rows of concurrent timeline reads.

/// `with_group_commit` and the batch writer behind it for `$store`, expanded by
/// [`crate::feedback_store!`] in a backend's feedback module.
#[macro_export]
macro_rules! feedback_group_commit {
    ($store:ty) => {
        impl $store {
            /// Turns on group commit of `SubmitFeedback`: `writers` tasks each write whatever
            /// submissions wait (at most `max_batch`) in one transaction
            /// ([`cityserve_store::group_commit`]). `max_batch` 1 writes each alone, as without it.
            ///
            /// Case changes (`save_case`) share batches the same way
            /// ([`crate::feedback_case_commit!`]).
            ///
            /// Where the backend wants it (`crate::GROUPED_READ_AUDITS`), audited reads (a
            /// resident's timeline) share batches the same way: their audit rows are written
            /// together, each read answered once its rows are committed.
            pub fn with_group_commit(mut self, writers: usize, max_batch: usize) -> Self {
                let mut inner = self.clone();
                inner.submits = None;
                inner.audits = None;
                inner.cases = None;
                // Each queue's batches are written in one transaction per tenant scope where the
                // backend needs that (`crate::SCOPED_WRITES`), else in one.
                use $crate::write::start_writers;
                let scoped = crate::SCOPED_WRITES;
                self.cases = Some(start_writers("save_case", writers, max_batch, scoped, inner.clone()));
                self.submits = Some(start_writers("submit_feedback", writers, max_batch, scoped, inner.clone()));
                if crate::GROUPED_READ_AUDITS {
                    self.audits = Some(start_writers("read_audit", writers, max_batch, scoped, inner));
                }
                self
            }

            /// Audits a read (a resident's timeline) in each of `departments`, returning once the
            /// rows are committed: with group commit in a batch's transaction, else in one of its
            /// own. (Unused where `crate::GROUPED_READ_AUDITS` is false: that backend audits a
            /// read in the read's own transaction.)
            #[allow(dead_code)]
            pub(crate) async fn audit_read(
                &self,
                ctx: &cityserve_store::WriteCtx<'_>,
                departments: &[&cityserve_domain::DepartmentId],
                resource: &str,
            ) -> cityserve_store::StoreResult<()> {
                if let Some(queue) = &self.audits {
                    return queue.audit(ctx, departments, resource).await;
                }
                let mut tx = self.write(ctx).await?;
                crate::audit_now(&mut tx, ctx, departments, resource).await?;
                self.commit(tx).await
            }

            /// The audit rows of `group` (reads under one scope) in one transaction, written at
            /// its commit in one statement.
            async fn try_read_audits(
                &self,
                group: &[&cityserve_store::group_commit::ReadAudit],
            ) -> cityserve_store::StoreResult<()> {
                let first = &group[0].ctx;
                let mut tx = self.write_batch(&first.scope, &first.actor).await?;
                for read in group {
                    let departments: Vec<_> = read.departments.iter().collect();
                    crate::audit_now(&mut tx, &read.ctx.ctx(), &departments, &read.resource).await?;
                }
                self.commit(tx).await
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

            /// The group's transaction: each submission's answer, or the error that undid them all.
            /// Each submission meets the outcome it would have alone: refusals are decided
            /// before anything is written (a refused submission still replays if its key was
            /// used by an accepted request), keys are claimed in submission order (so of two
            /// submissions with one key the later replays the earlier or is refused as a
            /// mismatch), and the accepted ones are written together ([`insert_submissions`]).
            async fn try_group(
                &self,
                group: &[cityserve_store::group_commit::Submission],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_store::feedback::Submitted>>>
            {
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

        impl
            $crate::write::GroupWriter<
                cityserve_store::group_commit::SubmitFeedback,
                cityserve_store::StoreResult<cityserve_store::feedback::Submitted>,
            > for $store
        {
            /// Should any statement of a group fail (or the commit), nothing of the group stands
            /// and each submission is written again alone, so every submission meets exactly the
            /// outcome it would have alone; one whose first attempt did commit replays from its
            /// idempotency key.
            const FAILED: &'static str = "a batch failed; writing its submissions one by one";

            fn scope(s: &cityserve_store::group_commit::SubmitFeedback) -> &cityserve_domain::TenantScope {
                &s.ctx.scope
            }

            async fn batch(
                &self,
                group: &[cityserve_store::group_commit::Submission],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<cityserve_store::feedback::Submitted>>>
            {
                self.try_group(group).await
            }

            async fn alone(
                &self,
                s: &cityserve_store::group_commit::SubmitFeedback,
            ) -> cityserve_store::StoreResult<cityserve_store::feedback::Submitted> {
                self.submit_one(&s.ctx.ctx(), &s.idem, &s.new).await
            }
        }

        impl $crate::write::GroupWriter<cityserve_store::group_commit::ReadAudit, cityserve_store::StoreResult<()>>
            for $store
        {
            /// Should a transaction fail, its reads' rows are written again read by read, so a
            /// read fails only for a reason of its own.
            const FAILED: &'static str = "a batch of audit rows failed; writing them read by read";

            fn scope(read: &cityserve_store::group_commit::ReadAudit) -> &cityserve_domain::TenantScope {
                &read.ctx.scope
            }

            async fn batch(
                &self,
                group: &[cityserve_store::group_commit::AuditedRead],
            ) -> cityserve_store::StoreResult<Vec<cityserve_store::StoreResult<()>>> {
                let reads: Vec<_> = group.iter().map(|a| &a.request).collect();
                self.try_read_audits(&reads).await?;
                Ok(group.iter().map(|_| Ok(())).collect())
            }

            async fn alone(&self, read: &cityserve_store::group_commit::ReadAudit) -> cityserve_store::StoreResult<()> {
                self.try_read_audits(&[read]).await
            }
        }
    };
}
