//! The board report: a quarter of the city's customer service for the executives (the Chief
//! and auditors). Figures come from the same counters and fold as the city dashboard; the
//! quarter's initiatives, retired dumb rules, service heroes, panel findings and vacant CSO seats
//! from one read of their own records.
use super::CsoWorkApi;
use crate::convert::timestamp;
use crate::coordination::dumb_rules::verdict_to_pb;
use crate::coordination::initiatives::initiative_state_to_pb;
use crate::coordination::reports::{
    CityFigures, active_departments, card_to_pb, movement_to_pb, period, shared_theme_to_pb,
};
use crate::error::ApiError;
use crate::kit::list_scope;
use chrono::Utc;
use cityserve_domain::board::{self, BoardInitiative};
use cityserve_domain::report::{self, LiveFigures, ReportCard};
use cityserve_domain::{Action, Caller};
use cityserve_proto::v1 as pb;
use cityserve_store::resource;

/// How many departments the report names as improved and as fallen back.
const MOVERS: usize = 3;
/// How many shared themes it lists.
const THEMES: usize = 5;
/// How many low-scoring touchpoints it lists.
const TOUCHPOINTS: usize = 5;

fn initiative_to_pb(i: &BoardInitiative) -> pb::BoardInitiative {
    pb::BoardInitiative {
        initiative: resource::initiative(&i.department_id, &i.id),
        title: i.title.clone(),
        state: initiative_state_to_pb(i.status) as i32,
        start_time: i.start_time.map(timestamp),
        end_time: i.end_time.map(timestamp),
        lessons: i.lessons.clone(),
    }
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    pub(super) async fn board_report(
        &self,
        caller: Caller,
        r: pb::GetBoardReportRequest,
    ) -> Result<pb::GetBoardReportResponse, ApiError> {
        let quarter = period("period", pb::ReportPeriod::Quarter as i32, "date", &r.date)?;
        let scope = list_scope(&caller, Action::ReadCityDashboard, None, "board report")?;
        let zone = async { self.store.rollup_zone(&scope).await.map_err(|e| ApiError::from_store(e, "rollups")) };
        let (zone, departments) = tokio::try_join!(zone, active_departments(&self.store, &scope))?;
        let p = quarter.in_zone(zone);
        let compared = p.comparison(report::local_day(Utc::now(), zone));
        let (scope_ref, departments_ref) = (&scope, &departments);
        // Every read is independent of the others: all at once.
        let current = async move {
            self.store
                .rollup_metrics(scope_ref, Some(departments_ref), p.start_day(), p.end_day())
                .await
                .map_err(|e| ApiError::from_store(e, "rollups"))
        };
        let (from, to) = compared.previous;
        let previous = async move {
            self.store
                .rollup_metrics(scope_ref, Some(departments_ref), from, to)
                .await
                .map_err(|e| ApiError::from_store(e, "rollups"))
        };
        let live = async {
            self.store
                .live_figures_of(scope_ref, departments_ref, &p)
                .await
                .map_err(|e| ApiError::from_store(e, "departments"))
        };
        let facts = async {
            self.store
                .board_facts(scope_ref, p.start_time(), p.end_time())
                .await
                .map_err(|e| ApiError::from_store(e, "board report"))
        };
        let (now_rows, prev_rows, live, facts) = tokio::try_join!(current, previous, live, facts)?;
        let lowest = board::lowest_touchpoints(&now_rows, TOUCHPOINTS);
        let f = CityFigures::fold(&departments, now_rows, prev_rows, live);
        let previous_card = ReportCard::from_metrics(&f.previous_city, LiveFigures::default());
        let prev_period = p.previous();
        let mut previous_city = card_to_pb(None, &prev_period, &previous_card);
        if compared.partial {
            // The previous quarter as far as it was compared: as many days as have passed.
            let end = report::day_start(compared.previous.1, zone);
            previous_city.end_time = Some(timestamp(end));
            if let Some(last) = report::date_of(compared.previous.1 - 1) {
                previous_city.last_date = last.format("%Y-%m-%d").to_string();
            }
        }
        let report = pb::BoardReport {
            city: Some(card_to_pb(None, &p, &f.city)),
            previous_city: Some(previous_city),
            partial_quarter: compared.partial,
            improved: board::most_improved(&f.moves, MOVERS).iter().map(movement_to_pb).collect(),
            fell_back: report::worst_movers(&f.moves, MOVERS).iter().map(movement_to_pb).collect(),
            shared_themes: f.shared_themes(THEMES).iter().map(shared_theme_to_pb).collect(),
            initiatives_started: facts.started.iter().map(initiative_to_pb).collect(),
            initiatives_finished: facts.finished.iter().map(initiative_to_pb).collect(),
            dumb_rules_retired: facts
                .rules_retired
                .iter()
                .map(|r| pb::RetiredDumbRule {
                    dumb_rule: resource::dumb_rule(&r.id),
                    text: r.text.clone(),
                    verdict: verdict_to_pb(r.verdict) as i32,
                    decide_time: Some(timestamp(r.decide_time)),
                })
                .collect(),
            service_heroes: facts
                .heroes
                .iter()
                .map(|h| pb::ServiceHero {
                    officer: resource::officer(&h.department_id, &h.officer_id),
                    recognitions: h.recognitions,
                })
                .collect(),
            panel_findings: facts.findings.iter().map(super::panels::finding_to_pb).collect(),
            vacant_cso_seats: facts.vacant_seats.iter().map(resource::department).collect(),
            lowest_touchpoints: lowest
                .iter()
                .map(|t| pb::TouchpointScore {
                    touchpoint: format!("{}/touchpoints/{}", resource::department(&t.department_id), t.touchpoint),
                    observation_count: t.observations,
                    observation_score_average: t.average,
                })
                .collect(),
        };
        Ok(pb::GetBoardReportResponse { board_report: Some(report) })
    }
}
