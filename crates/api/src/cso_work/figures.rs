//! Figures per touchpoint and per officer, read from the rollup counters the writes keep (never a
//! scan of feedback). Who sees what is the policy's: touchpoints by the department's officers and
//! city-wide by the Chief and auditors; an officer's figures by that officer and their CSO only
//! (the Chief and auditors see officers in aggregate), every such read audited, and a CSAT mean
//! on fewer responses than the minimum withheld.
use super::CsoWorkApi;
use crate::coordination::reports::{period, period_to_pb};
use crate::error::ApiError;
use crate::kit::{ctx, label, scope_for};
use crate::names;
use cityserve_domain::report::{MomentFigures, Period, moment_figures, moment_metric_names};
use cityserve_domain::{Action, AuditAction, Caller, DepartmentId, Role, TenantScope};
use cityserve_proto::v1 as pb;

fn figures_to_pb(subject: &str, p: &Period, f: &MomentFigures) -> pb::MomentFigures {
    pb::MomentFigures {
        subject: subject.to_owned(),
        period: period_to_pb(p.kind) as i32,
        start_date: p.start.format("%Y-%m-%d").to_string(),
        end_date: p.end.format("%Y-%m-%d").to_string(),
        contact_count: f.contacts,
        complaint_count: f.complaints,
        compliment_count: f.compliments,
        csat_response_count: f.csat_responses,
        csat_average: f.csat_average,
        csat_withheld: f.csat_withheld,
        observation_count: f.observations,
        observation_score_average: f.observation_average,
        recognition_count: f.recognitions,
    }
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    /// The counters under `prefix` of department `d` over the requested period.
    async fn moment(
        &self,
        scope: &TenantScope,
        d: &DepartmentId,
        prefix: &str,
        kind: i32,
        date: &str,
    ) -> Result<(Period, cityserve_domain::report::Metrics), ApiError> {
        let req = period("period", kind, "date", date)?;
        let zone = self.store.rollup_zone(scope).await.map_err(|e| ApiError::from_store(e, "the rollups"))?;
        let p = req.in_zone(zone);
        let names = moment_metric_names(prefix);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let rows = self
            .store
            .rollup_metrics_named(scope, Some(std::slice::from_ref(d)), p.start_day(), p.end_day(), &names)
            .await
            .map_err(|e| ApiError::from_store(e, "the rollups"))?;
        Ok((p, rows.into_iter().next().map(|(_, m)| m).unwrap_or_default()))
    }

    pub(super) async fn touchpoint_figures(
        &self,
        caller: Caller,
        r: pb::GetTouchpointFiguresRequest,
    ) -> Result<pb::MomentFigures, ApiError> {
        let (d, t) = names::touchpoint("touchpoint", &r.touchpoint)?;
        period("period", r.period, "date", &r.date)?;
        let scope = scope_for(&caller, Action::ReadTouchpointFigures, &d, &r.touchpoint)?;
        self.store
            .get_touchpoint(&scope, &d, &t)
            .await
            .map_err(|e| ApiError::from_store(e, &label("touchpoint", &r.touchpoint)))?;
        let (p, m) = self.moment(&scope, &d, &format!("tp.{t}."), r.period, &r.date).await?;
        Ok(figures_to_pb(&r.touchpoint, &p, &moment_figures(&m, &format!("tp.{t}."), None)))
    }

    pub(super) async fn officer_figures(
        &self,
        caller: Caller,
        r: pb::GetOfficerFiguresRequest,
    ) -> Result<pb::MomentFigures, ApiError> {
        let (d, o) = names::officer("officer", &r.officer)?;
        period("period", r.period, "date", &r.date)?;
        let what = label("officer", &r.officer);
        let scope = scope_for(&caller, Action::ReadOfficerFigures, &d, &r.officer)?;
        // Staff see their own figures only: another officer's do not exist for them.
        if caller.role == Role::Staff && caller.subject != o.as_str() {
            return Err(ApiError::NotFound(what));
        }
        self.store.get_officer(&scope, &d, &o).await.map_err(|e| ApiError::from_store(e, &what))?;
        // Audited before the figures leave, like an export.
        self.store
            .audit_export(&ctx(&scope, &caller, AuditAction::OfficerFiguresRead), std::slice::from_ref(&d), &r.officer)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        let prefix = format!("of.{o}.");
        let (p, m) = self.moment(&scope, &d, &prefix, r.period, &r.date).await?;
        Ok(figures_to_pb(&r.officer, &p, &moment_figures(&m, &prefix, Some(self.min_responses))))
    }
}
