//! `cityserve demo`: a newcomer's living city, loaded fast and visible through every service.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;

both_backends! {
    async fn the_demo_city_is_alive(app: &TestApp) {
        let spec = cityserve::demo::DemoSpec { scale: 700, months: 6, seed: 7 };
        let report = cityserve::demo::load(&app.config, &spec).await.unwrap();
        assert_eq!(report.departments, 7);
        assert!(report.contacts >= 690, "{report:?}");
        assert!(matches!(
            cityserve::demo::load(&app.config, &spec).await,
            Err(cityserve::demo::DemoError::AlreadyLoaded)
        ));

        let dash = app
            .coordination()
            .get_city_dashboard(authed(
                pb::GetCityDashboardRequest { period: pb::ReportPeriod::Quarter as i32, date: String::new() },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        let city = dash.city.unwrap();
        assert!(dash.departments.len() >= 7);
        assert_eq!(city.ping_pongs, 2, "Streets -> Water -> Streets counts on both cards");
        assert!(city.escalations >= 1);
        assert!(city.volume > 0 && city.csat_average.is_some() && city.resolve_p50.is_some());
        let water = dash.departments.iter().find(|c| c.department == "departments/water").unwrap();
        assert_eq!(water.focus.as_ref().and_then(|f| f.current), Some(0.63));
        // Six months of history: last quarter has figures too.
        let earlier = chrono::Utc::now() - chrono::Duration::days(100);
        let before = app
            .coordination()
            .get_report_card(authed(
                pb::GetReportCardRequest {
                    department: "departments/streets".into(),
                    period: pb::ReportPeriod::Quarter as i32,
                    date: earlier.format("%Y-%m-%d").to_string(),
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .report_card
            .unwrap();
        assert!(before.volume > 0, "{before:?}");

        // The board report has something in every section the demo seeds.
        let board = cityserve_proto::v1::cso_work_service_client::CsoWorkServiceClient::new(app.channel.clone())
            .get_board_report(authed(pb::GetBoardReportRequest::default(), &chief()))
            .await
            .unwrap()
            .into_inner()
            .board_report
            .unwrap();
        assert!(report.theme_tags > 0, "{report:?}");
        assert!(!board.shared_themes.is_empty(), "themes shared across departments: {board:?}");
        assert!(board.shared_themes.iter().all(|t| t.department_count >= 2));
        assert!(board.initiatives_finished.iter().any(|i| !i.lessons.is_empty()), "the dropped initiative's lessons");
        assert!(board.initiatives_started.iter().any(|i| i.initiative.ends_with("in-demo-1")));
        assert_eq!(board.panel_findings.len(), 3);
        assert!(board.panel_findings.iter().all(|f| f.outcome != pb::FindingOutcome::Open as i32));
        assert_eq!(board.dumb_rules_retired.len(), 1);
        assert!(!board.service_heroes.is_empty() && !board.lowest_touchpoints.is_empty());
        assert!(board.previous_city.unwrap().volume > 0, "last quarter is there to compare with");

        // Water's hydrant service asks one question of every datatype, and the street-side
        // categories are public service requests; a bill is not.
        let category = |name: &str| {
            let mut d = app.departments();
            let req = authed(pb::GetServiceCategoryRequest { name: name.into() }, &chief());
            async move { d.get_service_category(req).await.unwrap().into_inner().service_category.unwrap() }
        };
        let hydrant = category("departments/water/serviceCategories/hydrant").await;
        let mut datatypes: Vec<i32> = hydrant.attributes.iter().map(|a| a.datatype).collect();
        datatypes.sort_unstable();
        datatypes.dedup();
        assert_eq!(datatypes, [1, 2, 3, 4, 5, 6], "{hydrant:?}");
        assert!(hydrant.public);
        assert!(category("departments/streets/serviceCategories/pothole").await.public);
        assert!(!category("departments/water/serviceCategories/water-bill").await.public);

        let rules = app
            .coordination()
            .list_dumb_rules(authed(pb::ListDumbRulesRequest::default(), &chief()))
            .await
            .unwrap()
            .into_inner()
            .dumb_rules;
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].state, pb::DumbRuleState::Decided as i32);
        assert_eq!(rules[0].votes.len(), 2);
        let cases = app
            .feedback()
            .list_cases(authed(
                pb::ListCasesRequest { parent: "departments/-".into(), page_size: 500, ..Default::default() },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner()
            .cases;
        for state in [pb::CaseState::Open, pb::CaseState::Acknowledged, pb::CaseState::InProgress, pb::CaseState::Resolved, pb::CaseState::Closed] {
            assert!(cases.iter().any(|c| c.state == state as i32), "a case in state {state:?}");
        }
        // The benchmark's frequent caller has exactly 1,000 contacts, whatever the scale.
        let timeline = app
            .feedback()
            .get_resident_timeline(authed(
                pb::GetResidentTimelineRequest {
                    resident: format!("residents/{}", cityserve::demo::FREQUENT_CALLER),
                    contact: None,
                },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(timeline.entries.len(), 1_000);
    }
}
