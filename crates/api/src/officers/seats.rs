//! Seats: appointing CSOs and the Chief, ending appointments, the CSO network.
use super::*;

pub(super) fn seat_to_pb(s: Seat) -> pb::Seat {
    match s {
        Seat::Chief => pb::Seat::Chief,
        Seat::Cso => pb::Seat::Cso,
    }
}

pub(super) fn appointment_to_pb(a: &Appointment) -> pb::Appointment {
    pb::Appointment {
        name: names::appointment_name(&a.department_id, &a.id),
        seat: seat_to_pb(a.seat) as i32,
        officer: names::officer_name(&a.department_id, &a.officer_id),
        start_time: Some(timestamp(a.start_time)),
        end_time: a.end_time.map(timestamp),
        appointed_by: a.appointed_by.clone(),
        ended_by: a.ended_by.clone().unwrap_or_default(),
        end_reason: a.end_reason.clone(),
        active: a.end_time.is_none(),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    pub(super) async fn appoint(
        &self,
        caller: Caller,
        seat: Seat,
        parent: Option<&str>,
        officer: &str,
        replaces: &str,
        idem: cityserve_store::Idempotency,
    ) -> Result<pb::Appointment, ApiError> {
        let mut errors = ValidationError::default();
        let seat_department = parent.map(|p| errors.check(names::department("parent", p)));
        let appointee = errors.check(names::officer("officer", officer));
        let replaces = if replaces.is_empty() {
            Some(None)
        } else {
            errors.check(names::appointment("replaces", replaces)).map(Some)
        };
        errors.into_result()?;
        let (Some((d, o)), Some(replaces)) = (appointee, replaces) else { return Err(ApiError::Internal) };
        let action = if seat == Seat::Chief { Action::AppointChief } else { Action::AppointCso };
        let scope = match seat_department {
            Some(Some(seat_d)) => {
                let scope =
                    scope_for(&caller, action, &seat_d, &label("department", &names::department_name(&seat_d)))?;
                if seat_d != d {
                    return Err(ValidationError::one(
                        "officer",
                        "must be an officer of the department whose seat is filled",
                    )
                    .into());
                }
                scope
            }
            _ => {
                // The Chief's seat is city-wide: a refusal is PERMISSION_DENIED, not NOT_FOUND.
                record_tenant(d.as_str());
                authorize(&caller, action, None).map_err(|den| ApiError::from_denied(den, "the Chief's seat"))?
            }
        };
        let replaces = replaces.map(|(_, a)| a);
        let new = NewAppointment {
            department_id: d.clone(),
            id: AppointmentId::parse("id", &generated_id("ap"))?,
            seat,
            officer_id: o.clone(),
            replaces,
        };
        let action_name = if seat == Seat::Chief { AuditAction::AppointmentChief } else { AuditAction::AppointmentCso };
        let a = self
            .store
            .appoint(&ctx(&scope, &caller, action_name), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &label("officer", officer)))?;
        tracing::info!(seat = seat.as_str(), department = %d, officer = %o, appointment = %a.id, "appointed");
        Ok(appointment_to_pb(&a))
    }

    pub(super) async fn end_appointment(
        &self,
        caller: Caller,
        r: pb::EndAppointmentRequest,
    ) -> Result<pb::Appointment, ApiError> {
        let (d, a) = names::appointment("name", &r.name)?;
        let reason = required_text("reason", &r.reason, REASON_MAX)?;
        let what = label("appointment", &r.name);
        let scope = scope_for(&caller, Action::AppointCso, &d, &what)?;
        let ended = self
            .store
            .end_appointment(&ctx(&scope, &caller, AuditAction::AppointmentEnd), &d, &a, &reason)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        tracing::info!(appointment = %a, department = %d, "appointment ended");
        Ok(appointment_to_pb(&ended))
    }

    pub(super) async fn get_appointment(&self, caller: Caller, name: &str) -> Result<pb::Appointment, ApiError> {
        let (d, a) = names::appointment("name", name)?;
        let what = label("appointment", name);
        let scope = scope_for(&caller, Action::ReadOfficers, &d, &what)?;
        let found = self.store.get_appointment(&scope, &d, &a).await.map_err(|e| ApiError::from_store(e, &what))?;
        Ok(appointment_to_pb(&found))
    }

    pub(super) async fn list_appointments(
        &self,
        caller: Caller,
        r: pb::ListAppointmentsRequest,
    ) -> Result<pb::ListAppointmentsResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let seat = match pb::Seat::try_from(r.seat) {
            Ok(pb::Seat::Unspecified) => None,
            Ok(pb::Seat::Chief) => Some(Seat::Chief),
            Ok(pb::Seat::Cso) => Some(Seat::Cso),
            Err(_) => return Err(ValidationError::one("seat", "is not a known seat").into()),
        };
        let officer = if r.officer.is_empty() { None } else { Some(names::officer("officer", &r.officer)?.1) };
        let filter_key = format!(
            "appointments?parent={}&seat={}&active={}&officer={}",
            r.parent,
            seat.map_or("", |s| s.as_str()),
            r.active_only,
            r.officer
        );
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let scope = list_scope(&caller, Action::ReadOfficers, d.as_ref(), &label("department", &r.parent))?;
        let filter = AppointmentFilter { department: d, seat, active_only: r.active_only, officer };
        let p = self
            .store
            .list_appointments(&scope, &filter, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &label("department", &r.parent)))?;
        Ok(pb::ListAppointmentsResponse {
            appointments: p.items.iter().map(appointment_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }

    pub(super) async fn cso_network(
        &self,
        caller: Caller,
        r: pb::GetCsoNetworkRequest,
    ) -> Result<pb::GetCsoNetworkResponse, ApiError> {
        let year = if r.year == 0 { now_micros().year() } else { plan_year("year", r.year)? };
        let scope = authorize(&caller, Action::ReadCsoNetwork, None)
            .map_err(|d| ApiError::from_denied(d, "the CSO network"))?;
        let network =
            self.store.cso_network(&scope, year).await.map_err(|e| ApiError::from_store(e, "the CSO network"))?;
        let holder = |(a, o): &(Appointment, Officer)| pb::SeatHolder {
            appointment: Some(appointment_to_pb(a)),
            officer: Some(officer_to_pb(o)),
        };
        let departments: Vec<pb::NetworkDepartment> = network
            .departments
            .iter()
            .map(|s| pb::NetworkDepartment {
                department: names::department_name(&s.department_id),
                display_name: s.department_name.clone(),
                cso: s.cso.as_ref().map(holder),
                cso_missing: s.cso.is_none(),
                plan_status: s.plan_status.map_or(pb::PlanStatus::Unspecified, plan_status_to_pb) as i32,
            })
            .collect();
        let vacant = departments.iter().filter(|d| d.cso_missing).count();
        Ok(pb::GetCsoNetworkResponse {
            chief: network.chief.as_ref().map(holder),
            departments,
            year,
            vacant_cso_seats: i32::try_from(vacant).unwrap_or(i32::MAX),
        })
    }
}
