//! Report cards, the city dashboard and a plan's focus progress.
use super::*;

pub(super) fn period_from_pb(field: &str, v: i32) -> Result<PeriodKind, ValidationError> {
    match pb::ReportPeriod::try_from(v) {
        Ok(pb::ReportPeriod::Unspecified | pb::ReportPeriod::Month) => Ok(PeriodKind::Month),
        Ok(pb::ReportPeriod::Day) => Ok(PeriodKind::Day),
        Ok(pb::ReportPeriod::Week) => Ok(PeriodKind::Week),
        Ok(pb::ReportPeriod::Quarter) => Ok(PeriodKind::Quarter),
        Err(_) => Err(ValidationError::one(field, "is not a known ReportPeriod")),
    }
}

pub(crate) fn period_to_pb(k: PeriodKind) -> pb::ReportPeriod {
    match k {
        PeriodKind::Day => pb::ReportPeriod::Day,
        PeriodKind::Week => pb::ReportPeriod::Week,
        PeriodKind::Month => pb::ReportPeriod::Month,
        PeriodKind::Quarter => pb::ReportPeriod::Quarter,
    }
}

/// A report period request, checked: its length, and the local date it names (`None`: today).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeriodRequest {
    kind: PeriodKind,
    date: Option<NaiveDate>,
}

impl PeriodRequest {
    /// The period in `zone` (the rollups'): the one holding the named date, or today there.
    pub(crate) fn in_zone(&self, zone: chrono_tz::Tz) -> Period {
        let date = self.date.unwrap_or_else(|| Utc::now().with_timezone(&zone).date_naive());
        Period::containing_in(self.kind, date, zone)
    }
}

pub(crate) fn period(
    period_field: &str,
    kind: i32,
    date_field: &str,
    date: &str,
) -> Result<PeriodRequest, ValidationError> {
    let mut errors = ValidationError::default();
    let kind = errors.check(period_from_pb(period_field, kind));
    let day = if date.is_empty() {
        None
    } else {
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .filter(|d| (1970..=9999).contains(&d.format("%Y").to_string().parse::<i32>().unwrap_or(0)));
        if d.is_none() {
            errors.push(date_field, "must be a date YYYY-MM-DD between 1970 and 9999");
        }
        d
    };
    errors.into_result()?;
    match kind {
        Some(kind) => Ok(PeriodRequest { kind, date: day }),
        None => Err(ValidationError::one(period_field, "is invalid")),
    }
}

pub(crate) fn duration(secs: Option<i64>) -> Option<prost_types::Duration> {
    secs.map(|s| prost_types::Duration { seconds: s, nanos: 0 })
}

pub(crate) fn focus_to_pb(f: &FocusProgress) -> pb::FocusProgress {
    pb::FocusProgress {
        area: f.area.clone(),
        metric: f.metric.clone(),
        baseline: f.baseline,
        target: f.target,
        current: f.current,
        progress: f.progress(),
    }
}

pub(crate) fn card_to_pb(department: Option<&DepartmentId>, p: &Period, c: &ReportCard) -> pb::ReportCard {
    pb::ReportCard {
        department: department.map(resource::department).unwrap_or_default(),
        period: period_to_pb(p.kind) as i32,
        start_time: Some(timestamp(p.start_time())),
        end_time: Some(timestamp(p.end_time())),
        time_zone: p.zone.name().to_owned(),
        start_date: p.start.format("%Y-%m-%d").to_string(),
        last_date: p.last().format("%Y-%m-%d").to_string(),
        volume: c.volume,
        volume_by_channel: c
            .by_channel
            .iter()
            .map(|(ch, n)| pb::ChannelCount { channel: channel_to_pb(Some(*ch)) as i32, count: *n })
            .collect(),
        volume_by_kind: c
            .by_kind
            .iter()
            .map(|(k, n)| pb::KindCount { kind: kind_to_pb(*k) as i32, count: *n })
            .collect(),
        csat_distribution: c.csat_distribution.to_vec(),
        csat_average: c.csat_average,
        nps_distribution: c.nps_distribution.to_vec(),
        nps: c.nps,
        cases_opened: c.cases_opened,
        acknowledged: c.acknowledged,
        acknowledge_p50: duration(c.acknowledge_p50_secs),
        acknowledge_p90: duration(c.acknowledge_p90_secs),
        resolved: c.resolved,
        resolve_p50: duration(c.resolve_p50_secs),
        resolve_p90: duration(c.resolve_p90_secs),
        acknowledge_sla_percent: c.acknowledge_sla_percent,
        resolve_sla_percent: c.resolve_sla_percent,
        reopens: c.reopens,
        reopen_rate: c.reopen_rate,
        handoffs_in: c.handoffs_in,
        handoffs_out: c.handoffs_out,
        ping_pongs: c.ping_pongs,
        escalations: c.escalations,
        recognitions: c.live.recognitions,
        competency_gaps: c.live.competency_gaps,
        closed_loop_share: c.closed_loop_share,
        coverage: c.coverage,
        focus: c.live.focus.as_ref().map(focus_to_pb),
        dumb_rules_retired: c.live.dumb_rules_retired,
        closed_loop_satisfied_percent: c.closed_loop_satisfied_percent,
        redirected: c.redirected,
        recovery_actions: c
            .recovery_actions
            .iter()
            .map(|(k, n)| pb::RecoveryCount { kind: crate::feedback::cases::recovery_to_pb(*k) as i32, count: *n })
            .collect(),
        residents: Some(population_to_pb(&c.residents())),
        internal_customers: Some(population_to_pb(&c.internal)),
        resident_waits: c.resident_waits,
        resident_wait_p50: duration(c.resident_wait_p50_secs),
        resident_wait_p90: duration(c.resident_wait_p90_secs),
        themes: c.themes.iter().map(|(t, n)| pb::ThemeCount { theme: resource::theme(t), count: *n }).collect(),
    }
}

/// Every active department in `scope`, by ID.
pub(crate) async fn active_departments<S: cityserve_store::DepartmentStore>(
    store: &S,
    scope: &TenantScope,
) -> Result<Vec<DepartmentId>, ApiError> {
    let mut departments = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_departments(
                scope,
                Some(DepartmentStatus::Active),
                &cityserve_domain::PageRequest { size: 500, after },
            )
            .await
            .map_err(|e| ApiError::from_store(e, "departments"))?;
        departments.extend(page.items.into_iter().map(|d| d.id));
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(departments),
        }
    }
}

/// The city's figures for a period from each department's counters: the city card, each
/// department's card and its movement against the comparison span. The dashboard and the board
/// report read the same way.
pub(crate) struct CityFigures {
    /// The city-wide card (counters summed, live figures added).
    pub(crate) city: ReportCard,
    /// Each department's card, in the order listed.
    pub(crate) cards: Vec<(DepartmentId, ReportCard)>,
    /// Each department's movement.
    pub(crate) moves: Vec<report::Movement>,
    /// The comparison span's counters summed city-wide.
    pub(crate) previous_city: Metrics,
}

impl CityFigures {
    /// Folds the period's counters (`now_rows`), the comparison span's (`prev_rows`) and the
    /// live figures (in `departments`' order).
    pub(crate) fn fold(
        departments: &[DepartmentId],
        now_rows: Vec<(DepartmentId, Metrics)>,
        prev_rows: Vec<(DepartmentId, Metrics)>,
        live: Vec<LiveFigures>,
    ) -> CityFigures {
        let now_rows: std::collections::HashMap<DepartmentId, Metrics> = now_rows.into_iter().collect();
        let mut prev_rows: std::collections::HashMap<DepartmentId, Metrics> = prev_rows.into_iter().collect();
        let mut city = Metrics::new();
        let mut previous_city = Metrics::new();
        let mut city_live = LiveFigures::default();
        let mut cards = Vec::with_capacity(departments.len());
        let mut moves = Vec::with_capacity(departments.len());
        let empty = Metrics::new();
        for (d, live) in departments.iter().zip(live) {
            let m = now_rows.get(d).unwrap_or(&empty);
            report::merge(&mut city, m);
            city_live.recognitions += live.recognitions;
            city_live.competency_gaps += live.competency_gaps;
            city_live.dumb_rules_retired += live.dumb_rules_retired;
            let card = ReportCard::from_metrics(m, live);
            let prev = prev_rows.remove(d).unwrap_or_default();
            report::merge(&mut previous_city, &prev);
            let before = ReportCard::from_metrics(&prev, LiveFigures::default());
            moves.push(report::movement(d, &card, &before));
            cards.push((d.clone(), card));
        }
        CityFigures { city: ReportCard::from_metrics(&city, city_live), cards, moves, previous_city }
    }

    /// The themes two or more departments share, at most `n`.
    pub(crate) fn shared_themes(&self, n: usize) -> Vec<report::SharedTheme> {
        report::shared_themes(self.cards.iter().map(|(d, c)| (d, c.themes.as_slice())), n)
    }
}

/// How many shared themes the dashboard lists.
const SHARED_THEMES: usize = 10;

pub(crate) fn shared_theme_to_pb(t: &report::SharedTheme) -> pb::SharedTheme {
    pb::SharedTheme {
        theme: resource::theme(&t.theme),
        department_count: i32::try_from(t.departments.len()).unwrap_or(i32::MAX),
        count: t.count,
        departments: t.departments.iter().map(|(d, _)| resource::department(d)).collect(),
    }
}

fn population_to_pb(p: &report::Population) -> pb::PopulationFigures {
    pb::PopulationFigures {
        volume: p.volume,
        complaints: p.complaints,
        csat_distribution: p.csat_distribution.to_vec(),
        csat_average: p.csat_average,
        nps_distribution: p.nps_distribution.to_vec(),
        nps: p.nps,
    }
}

pub(crate) fn movement_to_pb(m: &report::Movement) -> pb::Movement {
    pb::Movement {
        department: resource::department(&m.department),
        resolve_sla_change: m.resolve_sla_change,
        csat_change: m.csat_change,
        ping_pong_change: m.ping_pong_change,
        escalation_change: m.escalation_change,
        score: m.score,
        ping_pong_rate_change: m.ping_pong_rate_change,
        escalation_rate_change: m.escalation_rate_change,
    }
}

impl<S: CoordinationStore> CoordinationApi<S> {
    pub(super) async fn card(&self, scope: &TenantScope, d: &DepartmentId, p: &Period) -> Result<ReportCard, ApiError> {
        let what = resource::department(d);
        // The counters and the live figures are independent reads: both at once.
        let (rows, live) = tokio::try_join!(
            self.store.rollup_metrics(scope, Some(std::slice::from_ref(d)), p.start_day(), p.end_day()),
            self.store.live_figures(scope, d, p),
        )
        .map_err(|e| ApiError::from_store(e, &what))?;
        let metrics = rows.into_iter().next().map(|(_, m)| m).unwrap_or_default();
        Ok(ReportCard::from_metrics(&metrics, live))
    }

    pub(super) async fn report_card(
        &self,
        caller: Caller,
        r: pb::GetReportCardRequest,
    ) -> Result<pb::GetReportCardResponse, ApiError> {
        let mut errors = ValidationError::default();
        let d = errors.check(names::department("department", &r.department));
        let p = errors.check(period("period", r.period, "date", &r.date));
        errors.into_result()?;
        let (Some(d), Some(p)) = (d, p) else {
            return Err(ValidationError::one("department", "is invalid").into());
        };
        let scope = scope_for(&caller, Action::ReadReportCards, &d, &r.department)?;
        // The period is in the counters' time zone. The department must exist (a card of zeros
        // for a typo would mislead): the live figures' read checks that, so it costs no read of
        // its own.
        let zone = self.store.rollup_zone(&scope).await.map_err(|e| ApiError::from_store(e, "rollups"))?;
        let p = p.in_zone(zone);
        let card = self.card(&scope, &d, &p).await?;
        Ok(pb::GetReportCardResponse { report_card: Some(card_to_pb(Some(&d), &p, &card)) })
    }

    pub(super) async fn dashboard(
        &self,
        caller: Caller,
        r: pb::GetCityDashboardRequest,
    ) -> Result<pb::GetCityDashboardResponse, ApiError> {
        let p = period("period", r.period, "date", &r.date)?;
        let scope = list_scope(&caller, Action::ReadCityDashboard, None, "city dashboard")?;
        // The counters' time zone and the departments are independent reads: both at once.
        let zone = async { self.store.rollup_zone(&scope).await.map_err(|e| ApiError::from_store(e, "rollups")) };
        let listing = active_departments(&self.store, &scope);
        let (zone, departments) = tokio::try_join!(zone, listing)?;
        let p = p.in_zone(zone);
        // Movements compare like with like: a running period so far against as many days of the
        // previous one.
        let compared = p.comparison(report::local_day(Utc::now(), zone));
        // Counters of the listed departments only (their index leads with department_id), both
        // spans at once; live figures of every department in one store call.
        let (scope_ref, departments_ref) = (&scope, &departments);
        let current = async move {
            self.store
                .rollup_metrics(scope_ref, Some(departments_ref), p.start_day(), p.end_day())
                .await
                .map_err(|e| ApiError::from_store(e, "rollups"))
        };
        // The comparison span feeds only the movements: a tenth of a card's counters.
        let (from, to) = compared.previous;
        let previous = async move {
            self.store
                .rollup_metrics_named(scope_ref, Some(departments_ref), from, to, report::MOVEMENT_METRICS)
                .await
                .map_err(|e| ApiError::from_store(e, "rollups"))
        };
        let live = async {
            self.store
                .live_figures_of(&scope, &departments, &p)
                .await
                .map_err(|e| ApiError::from_store(e, "departments"))
        };
        let (now_rows, prev_rows, live) = tokio::try_join!(current, previous, live)?;
        let f = CityFigures::fold(&departments, now_rows, prev_rows, live);
        let shared = f.shared_themes(SHARED_THEMES);
        Ok(pb::GetCityDashboardResponse {
            city: Some(card_to_pb(None, &p, &f.city)),
            departments: f.cards.iter().map(|(d, c)| card_to_pb(Some(d), &p, c)).collect(),
            worst_movers: report::worst_movers(&f.moves, 3).iter().map(movement_to_pb).collect(),
            movements: f.moves.iter().map(movement_to_pb).collect(),
            partial_period: compared.partial,
            compared_end_time: Some(timestamp(report::day_start(compared.current.1, zone))),
            previous_start_time: Some(timestamp(report::day_start(compared.previous.0, zone))),
            previous_end_time: Some(timestamp(report::day_start(compared.previous.1, zone))),
            shared_themes: shared.iter().map(shared_theme_to_pb).collect(),
        })
    }

    pub(super) async fn focus(
        &self,
        caller: Caller,
        r: pb::RecordFocusProgressRequest,
    ) -> Result<pb::RecordFocusProgressResponse, ApiError> {
        let (d, year) = names::plan("plan", &r.plan)?;
        if !r.value.is_finite() {
            return Err(ValidationError::one("value", "must be a finite number").into());
        }
        let scope = scope_for(&caller, Action::DraftPlan, &d, &r.plan)?;
        let plan = self.store.get_plan(&scope, &d, year).await.map_err(|e| ApiError::from_store(e, &r.plan))?;
        self.store
            .record_focus_progress(&ctx(&scope, &caller, AuditAction::PlanDraft), &d, year, r.value)
            .await
            .map_err(|e| ApiError::from_store(e, &r.plan))?;
        let f = FocusProgress {
            area: plan.content.focus_area,
            metric: plan.content.focus_metric,
            baseline: plan.content.focus_baseline,
            target: plan.content.focus_target,
            current: Some(r.value),
        };
        Ok(pb::RecordFocusProgressResponse { focus: Some(focus_to_pb(&f)) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn periods_default_to_this_month_and_reject_bad_dates() {
        let p = period("period", 0, "date", "2026-11-26").unwrap().in_zone(chrono_tz::America::New_York);
        assert_eq!(p.kind, PeriodKind::Month);
        assert_eq!(p.start, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        // Local midnight in New York on November 1st (still daylight time: UTC-4).
        assert_eq!(p.start_time().to_rfc3339(), "2026-11-01T04:00:00+00:00");
        // December 1st is in standard time (UTC-5).
        assert_eq!(p.end_time().to_rfc3339(), "2026-12-01T05:00:00+00:00");
        let e = period("period", 0, "date", "26/11/2026").unwrap_err();
        assert_eq!(e.violations[0].field, "date");
        assert!(period("period", 99, "date", "").is_err());
    }
}
