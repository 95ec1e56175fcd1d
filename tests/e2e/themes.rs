//! Customer themes through the real server, on both backends: the Chief and CSOs add city-wide
//! themes, suggestions come from keywords, a department's staff apply them to its feedback, and
//! the counts reach the report card and, where several departments share a theme, the city
//! dashboard; which feedback carries a theme stays with its department.
use crate::both_backends;
use crate::harness::*;
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::cso_work_service_client::CsoWorkServiceClient;
use tonic::Code;

fn theme(id: &str, name: &str, keywords: &[&str]) -> pb::CreateThemeRequest {
    pb::CreateThemeRequest {
        theme_id: id.into(),
        theme: Some(pb::Theme {
            display_name: name.into(),
            keywords: keywords.iter().map(|k| (*k).into()).collect(),
            ..Default::default()
        }),
        request_id: format!("th-{id}"),
    }
}

fn tag(feedback: &str, add: &[&str], remove: &[&str]) -> pb::TagFeedbackRequest {
    pb::TagFeedbackRequest {
        feedback: feedback.into(),
        add_themes: add.iter().map(|t| format!("themes/{t}")).collect(),
        remove_themes: remove.iter().map(|t| format!("themes/{t}")).collect(),
    }
}

/// Submits a complaint to `d` as `token`; its resource name.
async fn complaint(app: &TestApp, d: &str, id: &str, text: &str, token: &str) -> String {
    let r = pb::SubmitFeedbackRequest {
        parent: format!("departments/{d}"),
        feedback: Some(pb::Feedback {
            channel: pb::Channel::Phone as i32,
            kind: pb::FeedbackKind::Complaint as i32,
            text: text.into(),
            ..Default::default()
        }),
        request_id: id.into(),
        ..Default::default()
    };
    app.feedback().submit_feedback(authed(r, token)).await.unwrap().into_inner().feedback.unwrap().name
}

both_backends! {
    async fn themes_are_suggested_from_keywords_and_applied_by_the_department(app: &TestApp) {
        create_department(app, "water").await;
        create_department(app, "streets").await;
        let cso = app.cso("water").await;
        let staff = app.staff("water").await;
        let streets_cso = app.cso("streets").await;
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());
        // CSOs and the Chief add city-wide themes; staff may not; bad keywords are named.
        cw.create_theme(authed(theme("billing-confusion", "Billing confusion", &["bill", "charged twice"]), &cso)).await.unwrap();
        cw.create_theme(authed(theme("no-call-back", "No call back", &["call back", "never called"]), &chief())).await.unwrap();
        let e = cw.create_theme(authed(theme("other", "Other", &["other"]), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
        let e = cw.create_theme(authed(theme("bad", "Bad", &["a,b"]), &cso)).await.unwrap_err();
        assert_eq!(bad_fields(&e), ["theme.keywords[0]"]);
        let listed = cw.list_themes(authed(pb::ListThemesRequest::default(), &staff)).await.unwrap().into_inner();
        assert_eq!(listed.themes.len(), 2);

        // A complaint's text suggests both themes, best first, with the keywords that matched.
        let fb = complaint(app, "water", "th-fb", "I was charged twice on my water bill and nobody will call back", &staff).await;
        let s = cw.suggest_themes(authed(pb::SuggestThemesRequest { feedback: fb.clone() }, &staff)).await.unwrap().into_inner();
        let got: Vec<(String, i32)> = s.suggestions.iter().map(|x| (x.theme.clone(), x.score)).collect();
        assert_eq!(got, [("themes/billing-confusion".to_owned(), 2), ("themes/no-call-back".to_owned(), 1)]);
        assert_eq!(s.suggestions[0].matched_keywords, ["bill", "charged twice"]);

        // Staff apply them; another department's CSO cannot reach the feedback; an unknown theme
        // is refused.
        let now = cw.tag_feedback(authed(tag(&fb, &["billing-confusion", "no-call-back"], &[]), &staff)).await.unwrap().into_inner();
        assert_eq!(now.themes, ["themes/billing-confusion", "themes/no-call-back"]);
        let now = cw.tag_feedback(authed(tag(&fb, &[], &["no-call-back"]), &cso)).await.unwrap().into_inner();
        assert_eq!(now.themes, ["themes/billing-confusion"]);
        let e = cw.tag_feedback(authed(tag(&fb, &["billing-confusion"], &[]), &streets_cso)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        let e = cw.tag_feedback(authed(tag(&fb, &["nothing-like-it"], &[]), &staff)).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
    }
}

both_backends! {
    async fn theme_counts_reach_the_report_card_and_shared_ones_the_dashboard(app: &TestApp) {
        for d in ["water", "streets", "parks"] {
            create_department(app, d).await;
        }
        let (water, streets, parks) = (app.staff("water").await, app.staff("streets").await, app.cso("parks").await);
        let mut cw = CsoWorkServiceClient::new(app.channel.clone());
        for (id, name) in [("billing-confusion", "Billing confusion"), ("no-call-back", "No call back"), ("potholes", "Potholes")] {
            cw.create_theme(authed(theme(id, name, &[id]), &chief())).await.unwrap();
        }
        // Water: two complaints about bills, one also about a call back; Streets: one about a
        // bill and one pothole; Parks: a call back. Tagging twice counts once; a removed tag
        // stops counting.
        let w1 = complaint(app, "water", "w1", "Billed twice", &water).await;
        let w2 = complaint(app, "water", "w2", "Bill wrong, nobody called", &water).await;
        let s1 = complaint(app, "streets", "s1", "Permit fee bill unclear", &streets).await;
        let s2 = complaint(app, "streets", "s2", "Pothole on Main St", &streets).await;
        let p1 = complaint(app, "parks", "p1", "Said they would call back", &parks).await;
        cw.tag_feedback(authed(tag(&w1, &["billing-confusion"], &[]), &water)).await.unwrap();
        cw.tag_feedback(authed(tag(&w1, &["billing-confusion"], &[]), &water)).await.unwrap();
        cw.tag_feedback(authed(tag(&w2, &["billing-confusion", "no-call-back", "potholes"], &[]), &water)).await.unwrap();
        cw.tag_feedback(authed(tag(&w2, &[], &["potholes"]), &water)).await.unwrap();
        cw.tag_feedback(authed(tag(&s1, &["billing-confusion"], &[]), &streets)).await.unwrap();
        cw.tag_feedback(authed(tag(&s2, &["potholes"], &[]), &streets)).await.unwrap();
        cw.tag_feedback(authed(tag(&p1, &["no-call-back"], &[]), &parks)).await.unwrap();

        let today = |d: &str| pb::GetReportCardRequest {
            department: format!("departments/{d}"),
            period: pb::ReportPeriod::Day as i32,
            date: String::new(),
        };
        let counts = |c: pb::ReportCard| c.themes.into_iter().map(|t| (t.theme, t.count)).collect::<Vec<_>>();
        let card = app.coordination().get_report_card(authed(today("water"), &water)).await.unwrap().into_inner();
        assert_eq!(
            counts(card.report_card.unwrap()),
            [("themes/billing-confusion".to_owned(), 2), ("themes/no-call-back".to_owned(), 1)]
        );
        // Which Water feedback carries a theme stays with Water: Streets' staff cannot retag it.
        let e = cw.tag_feedback(authed(tag(&w1, &[], &["billing-confusion"]), &streets)).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound);

        let dash = app
            .coordination()
            .get_city_dashboard(authed(
                pb::GetCityDashboardRequest { period: pb::ReportPeriod::Day as i32, date: String::new() },
                &chief(),
            ))
            .await
            .unwrap()
            .into_inner();
        let city = counts(dash.city.clone().unwrap());
        assert_eq!(
            city,
            [
                ("themes/billing-confusion".to_owned(), 3),
                ("themes/no-call-back".to_owned(), 2),
                ("themes/potholes".to_owned(), 1)
            ]
        );
        // Shared: billing (Water 2, Streets 1) and call backs (Water, Parks); potholes is
        // Streets' alone.
        let shared: Vec<(String, i32, i64, Vec<String>)> = dash
            .shared_themes
            .into_iter()
            .map(|t| (t.theme, t.department_count, t.count, t.departments))
            .collect();
        assert_eq!(
            shared,
            [
                (
                    "themes/billing-confusion".to_owned(),
                    2,
                    3,
                    vec!["departments/water".to_owned(), "departments/streets".to_owned()]
                ),
                (
                    "themes/no-call-back".to_owned(),
                    2,
                    2,
                    vec!["departments/parks".to_owned(), "departments/water".to_owned()]
                ),
            ]
        );
    }
}
