//! Touchpoints: create, read, list and change the places and channels where residents meet a
//! department. A department's CSO (or the Chief) manages them; its officers, the Chief and
//! auditors read them.
use super::CsoWorkApi;
use crate::calendar::{hours_from_pb, hours_to_pb};
use crate::convert::{channel_from_pb, channel_to_pb, timestamp};
use crate::error::ApiError;
use crate::kit::{ctx, expected_revision, idempotency, label, mask_paths, next_page_token, page, scope_for};
use crate::names;
use cityserve_domain::touchpoint::{display_name, location};
use cityserve_domain::{
    Action, AuditAction, Caller, Touchpoint, TouchpointId, TouchpointKind, TouchpointStatus, ValidationError, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_store::resource;

fn kind_from_pb(field: &str, v: i32) -> Result<Option<TouchpointKind>, ValidationError> {
    use pb::TouchpointKind as P;
    Ok(Some(match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known TouchpointKind"))? {
        P::Unspecified => return Ok(None),
        P::Counter => TouchpointKind::Counter,
        P::PhoneLine => TouchpointKind::PhoneLine,
        P::WebForm => TouchpointKind::WebForm,
        P::FieldCrew => TouchpointKind::FieldCrew,
        P::Mailbox => TouchpointKind::Mailbox,
        P::Other => TouchpointKind::Other,
    }))
}

fn kind_to_pb(k: TouchpointKind) -> pb::TouchpointKind {
    match k {
        TouchpointKind::Counter => pb::TouchpointKind::Counter,
        TouchpointKind::PhoneLine => pb::TouchpointKind::PhoneLine,
        TouchpointKind::WebForm => pb::TouchpointKind::WebForm,
        TouchpointKind::FieldCrew => pb::TouchpointKind::FieldCrew,
        TouchpointKind::Mailbox => pb::TouchpointKind::Mailbox,
        TouchpointKind::Other => pb::TouchpointKind::Other,
    }
}

fn state_from_pb(field: &str, v: i32) -> Result<Option<TouchpointStatus>, ValidationError> {
    use pb::TouchpointState as P;
    Ok(match P::try_from(v).map_err(|_| ValidationError::one(field, "is not a known TouchpointState"))? {
        P::Unspecified => None,
        P::Active => Some(TouchpointStatus::Active),
        P::Retired => Some(TouchpointStatus::Retired),
    })
}

/// A touchpoint as returned.
pub(super) fn touchpoint_to_pb(t: &Touchpoint) -> pb::Touchpoint {
    pb::Touchpoint {
        name: resource::touchpoint(&t.department_id, &t.id),
        display_name: t.display_name.clone(),
        kind: kind_to_pb(t.kind) as i32,
        channel: channel_to_pb(Some(t.channel)) as i32,
        location: t.location.clone(),
        opening_hours: hours_to_pb(&t.hours),
        state: match t.status {
            TouchpointStatus::Active => pb::TouchpointState::Active,
            TouchpointStatus::Retired => pb::TouchpointState::Retired,
        } as i32,
        create_time: Some(timestamp(t.create_time)),
        update_time: Some(timestamp(t.update_time)),
        etag: etag_for(t.revision),
    }
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    pub(super) async fn create_touchpoint(
        &self,
        caller: Caller,
        r: pb::CreateTouchpointRequest,
    ) -> Result<Touchpoint, ApiError> {
        let d = names::department("parent", &r.parent)?;
        let idem = idempotency(&r.request_id, &pb::CreateTouchpointRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.touchpoint.unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(TouchpointId::parse("touchpoint_id", &r.touchpoint_id));
        let name = errors.check(display_name("touchpoint.display_name", &body.display_name));
        let kind = errors.check(kind_from_pb("touchpoint.kind", body.kind)).flatten();
        if kind.is_none() && body.kind == 0 {
            errors.push("touchpoint.kind", "is required");
        }
        let channel = errors.check(channel_from_pb("touchpoint.channel", body.channel)).flatten();
        if channel.is_none() && body.channel == 0 {
            errors.push("touchpoint.channel", "is required");
        }
        let place = errors.check(location("touchpoint.location", &body.location));
        let hours = errors.check(hours_from_pb("touchpoint.opening_hours", &body.opening_hours, false));
        let status = errors.check(state_from_pb("touchpoint.state", body.state)).flatten();
        errors.into_result()?;
        let scope = scope_for(&caller, Action::ManageTouchpoints, &d, &r.parent)?;
        let (Some(id), Some(display_name), Some(kind), Some(channel), Some(location), Some(hours)) =
            (id, name, kind, channel, place, hours)
        else {
            return Err(ApiError::Internal);
        };
        let now = cityserve_store::now_micros();
        let t = Touchpoint {
            department_id: d,
            id,
            display_name,
            kind,
            channel,
            location,
            hours,
            status: status.unwrap_or(TouchpointStatus::Active),
            revision: 1,
            create_time: now,
            update_time: now,
        };
        let what = resource::touchpoint(&t.department_id, &t.id);
        self.store
            .create_touchpoint(&ctx(&scope, &caller, AuditAction::TouchpointManage), &idem, &t)
            .await
            .map_err(|e| ApiError::from_store(e, &label("touchpoint", &what)))
    }

    pub(super) async fn get_touchpoint(&self, caller: Caller, name: &str) -> Result<Touchpoint, ApiError> {
        let (d, id) = names::touchpoint("name", name)?;
        let scope = scope_for(&caller, Action::ReadTouchpoints, &d, name)?;
        self.store
            .get_touchpoint(&scope, &d, &id)
            .await
            .map_err(|e| ApiError::from_store(e, &label("touchpoint", name)))
    }

    pub(super) async fn list_touchpoints(
        &self,
        caller: Caller,
        r: pb::ListTouchpointsRequest,
    ) -> Result<pb::ListTouchpointsResponse, ApiError> {
        let mut errors = ValidationError::default();
        let d = errors.check(names::department("parent", &r.parent));
        let status = errors.check(state_from_pb("state", r.state)).flatten();
        let filter = format!("{}|{}", r.parent, r.state);
        let page = errors.check(page(r.page_size, &r.page_token, &filter));
        errors.into_result()?;
        let (Some(d), Some(page)) = (d, page) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::ReadTouchpoints, &d, &r.parent)?;
        let p = self
            .store
            .list_touchpoints(&scope, &d, status, &page)
            .await
            .map_err(|e| ApiError::from_store(e, &r.parent))?;
        Ok(pb::ListTouchpointsResponse {
            touchpoints: p.items.iter().map(touchpoint_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter),
        })
    }

    pub(super) async fn update_touchpoint(
        &self,
        caller: Caller,
        r: pb::UpdateTouchpointRequest,
    ) -> Result<Touchpoint, ApiError> {
        let body = r.touchpoint.ok_or_else(|| ValidationError::one("touchpoint", "is required"))?;
        let (d, id) = names::touchpoint("touchpoint.name", &body.name)?;
        let all = ["display_name", "kind", "channel", "location", "opening_hours", "state"];
        let paths = mask_paths(r.update_mask.as_ref(), &all, &all)?;
        let scope = scope_for(&caller, Action::ManageTouchpoints, &d, &body.name)?;
        let what = label("touchpoint", &body.name);
        let current = self.store.get_touchpoint(&scope, &d, &id).await.map_err(|e| ApiError::from_store(e, &what))?;
        let expected = expected_revision("touchpoint.etag", &body.etag, current.revision)?;
        let mut next = current.clone();
        let mut errors = ValidationError::default();
        for p in &paths {
            match p.as_str() {
                "display_name" => {
                    if let Some(v) = errors.check(display_name("touchpoint.display_name", &body.display_name)) {
                        next.display_name = v;
                    }
                }
                "kind" => match errors.check(kind_from_pb("touchpoint.kind", body.kind)) {
                    Some(Some(k)) => next.kind = k,
                    Some(None) => errors.push("touchpoint.kind", "is required"),
                    None => {}
                },
                "channel" => match errors.check(channel_from_pb("touchpoint.channel", body.channel)) {
                    Some(Some(c)) => next.channel = c,
                    Some(None) => errors.push("touchpoint.channel", "is required"),
                    None => {}
                },
                "location" => {
                    if let Some(v) = errors.check(location("touchpoint.location", &body.location)) {
                        next.location = v;
                    }
                }
                "opening_hours" => {
                    if let Some(h) = errors.check(hours_from_pb("touchpoint.opening_hours", &body.opening_hours, false))
                    {
                        next.hours = h;
                    }
                }
                "state" => match errors.check(state_from_pb("touchpoint.state", body.state)) {
                    Some(Some(s)) => next.status = s,
                    Some(None) => errors.push("touchpoint.state", "is required"),
                    None => {}
                },
                _ => {}
            }
        }
        errors.into_result()?;
        self.store
            .update_touchpoint(&ctx(&scope, &caller, AuditAction::TouchpointManage), &next, expected)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }
}
