//! [`crate::officer_store!`]: the whole `OfficerStore` implementation, written once.

/// `impl OfficerStore for $store`, written once and expanded in a backend's officers module (see
/// [`crate::department_store!`] for what the expansion site provides; also `crate::json_value`,
/// how a plan's content is bound, `self.snapshot(scope)`, a read transaction over several statements,
/// and `crate::LISTS` and `crate::bind_args` for the listings assembled at run time).
#[macro_export]
macro_rules! officer_store {
    ($store:ty) => {
impl OfficerStore for $store {
    async fn create_officer(&self, ctx: &WriteCtx<'_>, idem: &Idempotency, new: &NewOfficer) -> StoreResult<Officer> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(o) = claim_key(&mut tx, &new.department_id, idem, "officer", new.id.as_str()).await? {
            let officer = read_officer(&mut tx, &new.department_id, &o).await?;
            self.commit(tx).await?;
            return Ok(officer);
        }
        require_active_department(&mut tx, &new.department_id).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO officers (department_id, officer_id, display_name, email, title, kind, status, revision,
                 create_time, update_time, identity_subject)
             VALUES ($1, $2, $3, $4, $5, $6, 'active', 1, $7, $8, $9)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(&new.display_name)
        .bind(&new.email)
        .bind(&new.title)
        .bind(new.kind.as_str())
        .bind(crate::at(now))
        .bind(crate::at(now))
        .bind(&new.identity_subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::officer(&new.department_id, &new.id);
        record(&mut tx, ctx, &new.department_id, &name, serde_json::json!({ "officer": new.id.as_str() })).await?;
        let officer = read_officer(&mut tx, &new.department_id, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(officer)
    }

    async fn get_officer(&self, scope: &TenantScope, d: &DepartmentId, o: &OfficerId) -> StoreResult<Officer> {
        in_scope(scope, d)?;
        read_officer(&mut *self.read(scope).await?, d, o.as_str()).await
    }


    async fn update_officer(&self, ctx: &WriteCtx<'_>, o: &Officer, expected_revision: i64) -> StoreResult<Officer> {
        in_scope(ctx.scope, &o.department_id)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE officers SET display_name = $1, email = $2, title = $3, revision = revision + 1, update_time = $4,
                 identity_subject = $8
             WHERE department_id = $5 AND officer_id = $6 AND revision = $7",
        )
        .bind(&o.display_name)
        .bind(&o.email)
        .bind(&o.title)
        .bind(crate::at(now))
        .bind(o.department_id.as_str())
        .bind(o.id.as_str())
        .bind(expected_revision)
        .bind(&o.identity_subject)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            read_officer(&mut tx, &o.department_id, o.id.as_str()).await?;
            return Err(StoreError::Conflict);
        }
        let name = resource::officer(&o.department_id, &o.id);
        record(&mut tx, ctx, &o.department_id, &name, serde_json::json!({ "officer": o.id.as_str() })).await?;
        let updated = read_officer(&mut tx, &o.department_id, o.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn deactivate_officer(
        &self,
        ctx: &WriteCtx<'_>,
        d: &DepartmentId,
        o: &OfficerId,
        expected_revision: Option<i64>,
    ) -> StoreResult<Officer> {
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let current = read_officer(&mut tx, d, o.as_str()).await?;
        if expected_revision.is_some_and(|r| r != current.revision) {
            return Err(StoreError::Conflict);
        }
        if current.status == OfficerStatus::Inactive {
            self.commit(tx).await?;
            return Ok(current);
        }
        if current.seat == Some(Seat::Chief) {
            return Err(StoreError::FailedPrecondition(
                "the Chief cannot be deactivated: appoint a successor first".into(),
            ));
        }
        let now = now_micros();
        sqlx::query(
            "UPDATE appointments SET end_time = $1, ended_by = $2, end_reason = 'officer deactivated'
             WHERE department_id = $3 AND officer_id = $4 AND end_time IS NULL",
        )
        .bind(crate::at(now))
        .bind(&ctx.actor.subject)
        .bind(d.as_str())
        .bind(o.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE officers SET status = 'inactive', revision = revision + 1, update_time = $1
             WHERE department_id = $2 AND officer_id = $3",
        )
        .bind(crate::at(now))
        .bind(d.as_str())
        .bind(o.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "officer": o.as_str(), "status": "inactive" });
        record(&mut tx, ctx, d, &resource::officer(d, o), payload).await?;
        let updated = read_officer(&mut tx, d, o.as_str()).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn appoint(&self, ctx: &WriteCtx<'_>, idem: &Idempotency, new: &NewAppointment) -> StoreResult<Appointment> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(a) = claim_key(&mut tx, &new.department_id, idem, "appointment", new.id.as_str()).await? {
            let appointment = read_appointment(&mut tx, &new.department_id, &a).await?;
            self.commit(tx).await?;
            return Ok(appointment);
        }
        let officer = read_officer(&mut tx, &new.department_id, new.officer_id.as_str()).await?;
        if officer.status != OfficerStatus::Active {
            return Err(StoreError::FailedPrecondition(format!("officer {} is inactive", officer.id)));
        }
        if new.seat == Seat::Cso {
            require_active_department(&mut tx, &new.department_id).await?;
        }
        // The seat's current holder: the Chief's seat is city-wide, a CSO seat is per department.
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments
             WHERE seat = $1 AND end_time IS NULL AND (seat = 'chief' OR department_id = $2)"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.seat.as_str())
            .bind(new.department_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let current = row.as_ref().map(appointment_from).transpose()?;
        if current.as_ref().map(|a| &a.id) != new.replaces.as_ref() {
            let seen = current.as_ref().map_or("vacant".to_owned(), |a| resource::appointment(&a.department_id, &a.id));
            return Err(StoreError::Contended(format!(
                "the seat's current appointment is {seen}, not the one this request replaces: read the seat again"
            )));
        }
        if current.as_ref().is_some_and(|a| a.officer_id == new.officer_id) {
            return Err(StoreError::FailedPrecondition(format!("officer {} already holds this seat", new.officer_id)));
        }
        let now = now_micros();
        if let Some(cur) = &current {
            let ended = sqlx::query(
                "UPDATE appointments SET end_time = $1, ended_by = $2, end_reason = $3
                 WHERE department_id = $4 AND appointment_id = $5 AND end_time IS NULL",
            )
            .bind(crate::at(now))
            .bind(&ctx.actor.subject)
            .bind(format!("replaced by {}", new.id))
            .bind(cur.department_id.as_str())
            .bind(cur.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if ended.rows_affected() != 1 {
                return Err(StoreError::Contended("the seat changed concurrently: read it again".into()));
            }
            let payload = serde_json::json!({ "appointment": cur.id.as_str(), "ended": true });
            record(&mut tx, ctx, &cur.department_id, &resource::appointment(&cur.department_id, &cur.id), payload)
                .await?;
        }
        sqlx::query(
            "INSERT INTO appointments (department_id, appointment_id, seat, officer_id, start_time, appointed_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(new.seat.as_str())
        .bind(new.officer_id.as_str())
        .bind(crate::at(now))
        .bind(&ctx.actor.subject)
        .execute(&mut *tx)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::AlreadyExists => StoreError::Contended("the seat changed concurrently: read it again".into()),
            other => other,
        })?;
        let payload = serde_json::json!({
            "appointment": new.id.as_str(), "seat": new.seat.as_str(), "officer": new.officer_id.as_str()
        });
        record(&mut tx, ctx, &new.department_id, &resource::appointment(&new.department_id, &new.id), payload).await?;
        let appointment = read_appointment(&mut tx, &new.department_id, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(appointment)
    }

    async fn end_appointment(
        &self,
        ctx: &WriteCtx<'_>,
        d: &DepartmentId,
        a: &AppointmentId,
        reason: &str,
    ) -> StoreResult<Appointment> {
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let current = read_appointment(&mut tx, d, a.as_str()).await?;
        if current.seat == Seat::Chief {
            return Err(StoreError::FailedPrecondition(
                "the Chief's appointment ends only when a successor is appointed".into(),
            ));
        }
        if current.end_time.is_some() {
            return Err(StoreError::FailedPrecondition(format!("appointment {a} has already ended")));
        }
        let now = now_micros();
        sqlx::query(
            "UPDATE appointments SET end_time = $1, ended_by = $2, end_reason = $3
             WHERE department_id = $4 AND appointment_id = $5 AND end_time IS NULL",
        )
        .bind(crate::at(now))
        .bind(&ctx.actor.subject)
        .bind(reason)
        .bind(d.as_str())
        .bind(a.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let payload = serde_json::json!({ "appointment": a.as_str(), "ended": true });
        record(&mut tx, ctx, d, &resource::appointment(d, a), payload).await?;
        let ended = read_appointment(&mut tx, d, a.as_str()).await?;
        self.commit(tx).await?;
        Ok(ended)
    }

    async fn get_appointment(
        &self,
        scope: &TenantScope,
        d: &DepartmentId,
        a: &AppointmentId,
    ) -> StoreResult<Appointment> {
        in_scope(scope, d)?;
        read_appointment(&mut *self.read(scope).await?, d, a.as_str()).await
    }


    async fn cso_network(&self, scope: &TenantScope, year: i32) -> StoreResult<CsoNetwork> {
        if scope.departments().is_some() {
            return Err(StoreError::NotFound);
        }
        // One read transaction: a consistent snapshot of seats, officers and plans.
        let mut tx = self.snapshot(scope).await?;
        let sql =
            format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE end_time IS NULL ORDER BY department_id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *tx).await.map_err(db_err)?;
        let mut chief = None;
        let mut csos = std::collections::HashMap::new();
        for row in &rows {
            let a = appointment_from(row)?;
            let o = read_officer(&mut tx, &a.department_id, a.officer_id.as_str()).await?;
            match a.seat {
                Seat::Chief => chief = Some((a, o)),
                Seat::Cso => {
                    csos.insert(a.department_id.clone(), (a, o));
                }
            }
        }
        let plans: Vec<(String, String)> = sqlx::query_as("SELECT department_id, status FROM plans WHERE year = $1")
            .bind(year)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let plans: std::collections::HashMap<String, String> = plans.into_iter().collect();
        let departments: Vec<(String, String)> = sqlx::query_as(
            "SELECT department_id, display_name FROM departments WHERE status = 'active' ORDER BY department_id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.finish().await?;
        let mut seats = Vec::with_capacity(departments.len());
        for (d, name) in departments {
            let department_id = DepartmentId::parse("department_id", &d).map_err(|_| corrupt("department_id"))?;
            let plan_status =
                plans.get(&d).map(|s| PlanStatus::parse(s).ok_or_else(|| corrupt("plan status"))).transpose()?;
            let cso = csos.remove(&department_id);
            seats.push(NetworkSeat { department_id, department_name: name, cso, plan_status });
        }
        Ok(CsoNetwork { chief, departments: seats })
    }

    async fn signing_in(&self, scope: &TenantScope, who: &SignIn) -> StoreResult<Option<OfficerId>> {
        // An empty subject is every officer without one: it names no one. A client is no officer.
        if matches!(who, SignIn::Subject(s) | SignIn::Email(s) if s.is_empty()) || matches!(who, SignIn::Client(_)) {
            return Ok(None);
        }
        let mut conn = self.read(scope).await?;
        // Only active officers sign in; an e-mail shared by two active officers names no one.
        let found: Vec<(String, String)> = match who {
            SignIn::Subject(s) => sqlx::query_as(
                "SELECT department_id, officer_id FROM officers WHERE identity_subject = $1 AND status = 'active' LIMIT 2",
            )
            .bind(s),
            SignIn::Client(_) => return Ok(None),
            SignIn::Email(e) => sqlx::query_as(
                "SELECT department_id, officer_id FROM officers WHERE email = $1 AND status = 'active' LIMIT 2",
            )
            .bind(e.to_lowercase()),
        }
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let [(d, o)] = found.as_slice() else { return Ok(None) };
        let department = DepartmentId::parse("department_id", d).map_err(|_| corrupt("department_id"))?;
        if !scope.allows(&department) {
            return Ok(None);
        }
        Ok(Some(OfficerId::parse("officer_id", o).map_err(|_| corrupt("officer_id"))?))
    }

    async fn standing(&self, scope: &TenantScope, subject: &str) -> StoreResult<Standing> {
        let mut conn = self.read(scope).await?;
        let officer: Option<(String, String, String)> =
            sqlx::query_as("SELECT department_id, kind, status FROM officers WHERE officer_id = $1")
                .bind(subject)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_err)?;
        let Some((d, kind, status)) = officer else { return Ok(Standing::default()) };
        let department = DepartmentId::parse("department_id", &d).map_err(|_| corrupt("department_id"))?;
        if !scope.allows(&department) {
            return Ok(Standing::default());
        }
        let seats: Vec<(String, String)> =
            sqlx::query_as("SELECT seat, department_id FROM appointments WHERE officer_id = $1 AND end_time IS NULL")
                .bind(subject)
                .fetch_all(&mut *conn)
                .await
                .map_err(db_err)?;
        Ok(Standing {
            officer: Some((
                department,
                OfficerKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
                OfficerStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
            )),
            seats: seats
                .into_iter()
                .map(|(s, d)| {
                    Ok((
                        Seat::parse(&s).ok_or_else(|| corrupt("seat"))?,
                        DepartmentId::parse("department_id", &d).map_err(|_| corrupt("department_id"))?,
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?,
        })
    }

    async fn create_competency(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewCompetency,
    ) -> StoreResult<Competency> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(c) = claim_key(&mut tx, &new.department_id, idem, "competency", new.id.as_str()).await? {
            let competency = read_competency(&mut tx, &new.department_id, &c).await?;
            self.commit(tx).await?;
            return Ok(competency);
        }
        require_active_department(&mut tx, &new.department_id).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO competencies (department_id, competency_id, display_name, description, required_for, revision,
                 create_time, update_time)
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(&new.display_name)
        .bind(&new.description)
        .bind(roles_to_string(&new.required_for))
        .bind(crate::at(now))
        .bind(crate::at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::competency(&new.department_id, &new.id);
        record(&mut tx, ctx, &new.department_id, &name, serde_json::json!({ "competency": new.id.as_str() })).await?;
        let competency = read_competency(&mut tx, &new.department_id, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(competency)
    }

    async fn get_competency(&self, scope: &TenantScope, d: &DepartmentId, c: &CompetencyId) -> StoreResult<Competency> {
        in_scope(scope, d)?;
        read_competency(&mut *self.read(scope).await?, d, c.as_str()).await
    }

    async fn list_competencies(
        &self,
        scope: &TenantScope,
        d: &DepartmentId,
        page: &PageRequest,
    ) -> StoreResult<Page<Competency>> {
        in_scope(scope, d)?;
        let mut tx = self.read(scope).await?;
        let sql = format!(
            "SELECT {COMPETENCY_COLUMNS} FROM competencies WHERE department_id = $1 AND competency_id > $2
             ORDER BY competency_id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.as_str())
            .bind(page.after.clone().unwrap_or_default())
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(competency_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |c| c.id.to_string()))
    }

    async fn update_competency(
        &self,
        ctx: &WriteCtx<'_>,
        c: &Competency,
        expected_revision: i64,
    ) -> StoreResult<Competency> {
        in_scope(ctx.scope, &c.department_id)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE competencies SET display_name = $1, description = $2, required_for = $3, revision = revision + 1,
                 update_time = $4
             WHERE department_id = $5 AND competency_id = $6 AND revision = $7",
        )
        .bind(&c.display_name)
        .bind(&c.description)
        .bind(roles_to_string(&c.required_for))
        .bind(crate::at(now))
        .bind(c.department_id.as_str())
        .bind(c.id.as_str())
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            read_competency(&mut tx, &c.department_id, c.id.as_str()).await?;
            return Err(StoreError::Conflict);
        }
        let name = resource::competency(&c.department_id, &c.id);
        record(&mut tx, ctx, &c.department_id, &name, serde_json::json!({ "competency": c.id.as_str() })).await?;
        let updated = read_competency(&mut tx, &c.department_id, c.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(updated)
    }

    async fn create_training_record(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewTrainingRecord,
    ) -> StoreResult<TrainingRecord> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(t) = claim_key(&mut tx, &new.department_id, idem, "training_record", new.id.as_str()).await? {
            let r = read_training(&mut tx, &new.department_id, &t).await?;
            self.commit(tx).await?;
            return Ok(r);
        }
        read_officer(&mut tx, &new.department_id, new.officer_id.as_str()).await?;
        read_competency(&mut tx, &new.department_id, new.competency_id.as_str()).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO training_records (department_id, record_id, officer_id, competency_id, complete_time,
                 expire_time, notes, recorded_by, create_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(new.officer_id.as_str())
        .bind(new.competency_id.as_str())
        .bind(crate::at(new.complete_time))
        .bind(new.expire_time.map(crate::at))
        .bind(&new.notes)
        .bind(&ctx.actor.subject)
        .bind(crate::at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::training_record(&new.department_id, &new.officer_id, &new.id);
        let payload = serde_json::json!({
            "officer": new.officer_id.as_str(), "competency": new.competency_id.as_str(), "training_record": new.id.as_str()
        });
        record(&mut tx, ctx, &new.department_id, &name, payload).await?;
        let r = read_training(&mut tx, &new.department_id, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(r)
    }

    async fn list_training_records(
        &self,
        scope: &TenantScope,
        d: &DepartmentId,
        o: &OfficerId,
        page: &PageRequest,
    ) -> StoreResult<Page<TrainingRecord>> {
        in_scope(scope, d)?;
        let mut conn = self.read(scope).await?;
        read_officer(&mut conn, d, o.as_str()).await?;
        let sql = format!(
            "SELECT {TRAINING_COLUMNS} FROM training_records
             WHERE department_id = $1 AND officer_id = $2 AND ($3 = '' OR record_id < $4)
             ORDER BY record_id DESC LIMIT $5"
        );
        let after = page.after.clone().unwrap_or_default();
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.as_str())
            .bind(o.as_str())
            .bind(after.clone())
            .bind(after)
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(training_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |t| t.id.to_string()))
    }

    async fn competency_snapshot(&self, scope: &TenantScope, d: &DepartmentId) -> StoreResult<CompetencySnapshot> {
        in_scope(scope, d)?;
        let mut tx = self.snapshot(scope).await?;
        read_department(&mut tx, d).await?;
        let sql = format!("{OFFICER_SELECT} WHERE o.department_id = $1 AND o.status = 'active' ORDER BY o.officer_id");
        let officers =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_all(&mut *tx).await.map_err(db_err)?;
        let sql =
            format!("SELECT {COMPETENCY_COLUMNS} FROM competencies WHERE department_id = $1 ORDER BY competency_id");
        let competencies =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_all(&mut *tx).await.map_err(db_err)?;
        let sql = format!("SELECT {TRAINING_COLUMNS} FROM training_records WHERE department_id = $1");
        let records =
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(d.as_str()).fetch_all(&mut *tx).await.map_err(db_err)?;
        tx.finish().await?;
        Ok(CompetencySnapshot {
            officers: officers.iter().map(officer_from).collect::<StoreResult<_>>()?,
            competencies: competencies.iter().map(competency_from).collect::<StoreResult<_>>()?,
            records: records.iter().map(training_from).collect::<StoreResult<_>>()?,
        })
    }

    async fn create_recognition(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        new: &NewRecognition,
    ) -> StoreResult<Recognition> {
        in_scope(ctx.scope, &new.department_id)?;
        let mut tx = self.write(ctx).await?;
        if let Some(r) = claim_key(&mut tx, &new.department_id, idem, "recognition", new.id.as_str()).await? {
            let recognition = read_recognition(&mut tx, &new.department_id, &r).await?;
            self.commit(tx).await?;
            return Ok(recognition);
        }
        let officer = read_officer(&mut tx, &new.department_id, new.officer_id.as_str()).await?;
        // Anyone in the city may thank any officer: a former officer answers like one who never
        // was, so recognitions cannot be used to read another department's staff list.
        if officer.status != OfficerStatus::Active {
            return Err(StoreError::NotFound);
        }
        let now = now_micros();
        sqlx::query(
            "INSERT INTO recognitions (department_id, recognition_id, officer_id, recognized_by, story, feedback,
                 create_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(new.department_id.as_str())
        .bind(new.id.as_str())
        .bind(new.officer_id.as_str())
        .bind(&ctx.actor.subject)
        .bind(&new.story)
        .bind(new.feedback.as_deref())
        .bind(crate::at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let name = resource::recognition(&new.department_id, &new.id);
        let payload = serde_json::json!({ "recognition": new.id.as_str(), "officer": new.officer_id.as_str() });
        record(&mut tx, ctx, &new.department_id, &name, payload).await?;
        let zone = crate::rollup_zone(&mut tx).await?;
        let deltas = cityserve_domain::report::recognition_deltas(&new.department_id, new.officer_id.as_str(), now, zone);
        crate::apply_deltas(&mut tx, &deltas).await?;
        let recognition = read_recognition(&mut tx, &new.department_id, new.id.as_str()).await?;
        self.commit(tx).await?;
        Ok(recognition)
    }


    async fn create_plan(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        d: &DepartmentId,
        year: i32,
        content: &PlanContent,
    ) -> StoreResult<Plan> {
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        if claim_key(&mut tx, d, idem, "plan", &year.to_string()).await?.is_some() {
            let plan = read_plan(&mut tx, d, year).await?;
            self.commit(tx).await?;
            return Ok(plan);
        }
        require_active_department(&mut tx, d).await?;
        let now = now_micros();
        sqlx::query(
            "INSERT INTO plans (department_id, year, content, status, review_comment, revision, create_time, update_time)
             VALUES ($1, $2, $3, 'draft', '', 1, $4, $5)",
        )
        .bind(d.as_str())
        .bind(year)
        .bind(crate::json_value(content)?)
        .bind(crate::at(now))
        .bind(crate::at(now))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let plan = read_plan(&mut tx, d, year).await?;
        append_revision(&mut tx, &plan, PlanChange::Create, "", &ctx.actor.subject).await?;
        let payload = serde_json::json!({ "plan": year, "status": "draft" });
        record(&mut tx, ctx, d, &resource::plan(d, year), payload).await?;
        self.commit(tx).await?;
        Ok(plan)
    }

    async fn get_plan(&self, scope: &TenantScope, d: &DepartmentId, year: i32) -> StoreResult<Plan> {
        in_scope(scope, d)?;
        read_plan(&mut *self.read(scope).await?, d, year).await
    }

    async fn list_plans(&self, scope: &TenantScope, d: &DepartmentId, page: &PageRequest) -> StoreResult<Page<Plan>> {
        in_scope(scope, d)?;
        let before: i32 = match &page.after {
            None => i32::MAX,
            Some(y) => y.parse().map_err(|_| StoreError::Internal("bad plan cursor".into()))?,
        };
        let mut tx = self.read(scope).await?;
        let sql = format!(
            "SELECT {PLAN_COLUMNS} FROM plans WHERE department_id = $1 AND year < $2 ORDER BY year DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.as_str())
            .bind(before)
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.finish().await?;
        let items = rows.iter().map(plan_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |p| p.year.to_string()))
    }

    async fn save_plan(
        &self,
        ctx: &WriteCtx<'_>,
        plan: &Plan,
        expected_revision: i64,
        change: PlanChange,
        comment: &str,
    ) -> StoreResult<Plan> {
        let d = &plan.department_id;
        in_scope(ctx.scope, d)?;
        let mut tx = self.write(ctx).await?;
        let now = now_micros();
        let done = sqlx::query(
            "UPDATE plans SET content = $1, status = $2, review_comment = $3, revision = revision + 1, update_time = $4
             WHERE department_id = $5 AND year = $6 AND revision = $7",
        )
        .bind(crate::json_value(&plan.content)?)
        .bind(plan.status.as_str())
        .bind(&plan.review_comment)
        .bind(crate::at(now))
        .bind(d.as_str())
        .bind(plan.year)
        .bind(expected_revision)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            read_plan(&mut tx, d, plan.year).await?;
            return Err(StoreError::Conflict);
        }
        let saved = read_plan(&mut tx, d, plan.year).await?;
        append_revision(&mut tx, &saved, change, comment, &ctx.actor.subject).await?;
        let payload =
            serde_json::json!({ "plan": plan.year, "status": saved.status.as_str(), "change": change.as_str() });
        record(&mut tx, ctx, d, &resource::plan(d, plan.year), payload).await?;
        self.commit(tx).await?;
        Ok(saved)
    }

    async fn list_plan_revisions(
        &self,
        scope: &TenantScope,
        d: &DepartmentId,
        year: i32,
        page: &PageRequest,
    ) -> StoreResult<Page<PlanRevision>> {
        in_scope(scope, d)?;
        let mut conn = self.read(scope).await?;
        read_plan(&mut conn, d, year).await?;
        let after: i64 = match &page.after {
            None => 0,
            Some(r) => r.parse().map_err(|_| StoreError::Internal("bad revision cursor".into()))?,
        };
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM plan_revisions WHERE department_id = $1 AND year = $2 AND revision > $3
             ORDER BY revision LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.as_str())
            .bind(year)
            .bind(after)
            .bind(i64::from(page.size) + 1)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err)?;
        let items = rows.iter().map(revision_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |r| r.revision.to_string()))
    }

    async fn list_officers(
        &self,
        scope: &TenantScope,
        filter: &OfficerFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Officer>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let rows = $crate::read_rows!(self, scope, $crate::officers::list_officers(crate::LISTS, scope, filter, page));
        let items = rows.iter().map(officer_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |o| o.id.to_string()))
    }

    async fn list_appointments(
        &self,
        scope: &TenantScope,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Appointment>> {
        if let Some(d) = &filter.department {
            in_scope(scope, d)?;
        }
        let q = $crate::officers::list_appointments(crate::LISTS, scope, filter, page);
        let items = $crate::read_rows!(self, scope, q).iter().map(appointment_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |a| a.id.to_string()))
    }

    async fn list_recognitions(
        &self,
        scope: &TenantScope,
        department: Option<&DepartmentId>,
        page: &PageRequest,
    ) -> StoreResult<Page<Recognition>> {
        if let Some(d) = department {
            in_scope(scope, d)?;
        }
        let q = $crate::officers::list_recognitions(crate::LISTS, scope, department, page);
        let items = $crate::read_rows!(self, scope, q).iter().map(recognition_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, page.size, |r| r.id.to_string()))
    }
}
    };
}
