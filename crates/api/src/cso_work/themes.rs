//! Customer themes: city-wide labels the Chief and CSOs add, the department's officers apply to
//! feedback, with suggestions from a transparent keyword match (`cityserve_domain::theme`).
use super::CsoWorkApi;
use crate::convert::timestamp;
use crate::error::ApiError;
use crate::kit::{ctx, idempotency, label, list_scope, next_page_token, page, scope_for};
use crate::names;
use cityserve_domain::theme::{Theme, ThemeId, display_name, keywords, suggest};
use cityserve_domain::{Action, AuditAction, Caller, DepartmentId, ValidationError};
use cityserve_proto::v1 as pb;
use cityserve_store::resource;

/// A theme as returned.
pub(super) fn theme_to_pb(t: &Theme) -> pb::Theme {
    pb::Theme {
        name: resource::theme(t.id.as_str()),
        display_name: t.display_name.clone(),
        keywords: t.keywords.clone(),
        create_time: Some(timestamp(t.create_time)),
    }
}

fn theme_name(field: &str, name: &str) -> Result<ThemeId, ValidationError> {
    let id =
        name.strip_prefix("themes/").ok_or_else(|| ValidationError::one(field, "must have the form themes/{theme}"))?;
    ThemeId::parse(field, id)
}

fn theme_names(field: &str, names: &[String]) -> Result<Vec<ThemeId>, ValidationError> {
    let mut errors = ValidationError::default();
    let ids: Vec<ThemeId> =
        names.iter().enumerate().filter_map(|(i, n)| errors.check(theme_name(&format!("{field}[{i}]"), n))).collect();
    if names.len() > 20 {
        errors.push(field, "must name at most 20 themes");
    }
    errors.into_result().map(|()| ids)
}

impl<S: super::CsoWorkStore> CsoWorkApi<S> {
    pub(super) async fn create_theme(
        &self,
        caller: Caller,
        home: Option<DepartmentId>,
        r: pb::CreateThemeRequest,
    ) -> Result<Theme, ApiError> {
        let idem = idempotency(&r.request_id, &pb::CreateThemeRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.theme.clone().unwrap_or_default();
        let mut errors = ValidationError::default();
        let id = errors.check(ThemeId::parse("theme_id", &r.theme_id));
        let name = errors.check(display_name("theme.display_name", &body.display_name));
        let words = errors.check(keywords("theme.keywords", &body.keywords));
        errors.into_result()?;
        let (Some(id), Some(display_name), Some(keywords)) = (id, name, words) else { return Err(ApiError::Internal) };
        let scope = list_scope(&caller, Action::ManageThemes, None, "themes")?;
        let home = home
            .or_else(|| caller.departments.first().cloned())
            .ok_or_else(|| ApiError::FailedPrecondition("the caller has no home department to audit in".into()))?;
        let theme =
            Theme { id, display_name, keywords, created_by: caller.subject.clone(), create_time: chrono::Utc::now() };
        let what = label("theme", &resource::theme(theme.id.as_str()));
        self.store
            .create_theme(&ctx(&scope, &caller, AuditAction::ThemeCreate), &idem, &home, &theme)
            .await
            .map_err(|e| ApiError::from_store(e, &what))
    }

    pub(super) async fn list_themes(
        &self,
        caller: Caller,
        r: pb::ListThemesRequest,
    ) -> Result<pb::ListThemesResponse, ApiError> {
        let page = page(r.page_size, &r.page_token, "themes")?;
        let scope = list_scope(&caller, Action::ReadThemes, None, "themes")?;
        let p = self.store.list_themes(&scope, &page).await.map_err(|e| ApiError::from_store(e, "themes"))?;
        Ok(pb::ListThemesResponse {
            themes: p.items.iter().map(theme_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, "themes"),
        })
    }

    pub(super) async fn tag_feedback(
        &self,
        caller: Caller,
        r: pb::TagFeedbackRequest,
    ) -> Result<pb::TagFeedbackResponse, ApiError> {
        let mut errors = ValidationError::default();
        let f = errors.check(names::feedback("feedback", &r.feedback));
        let add = errors.check(theme_names("add_themes", &r.add_themes));
        let remove = errors.check(theme_names("remove_themes", &r.remove_themes));
        errors.into_result()?;
        let (Some((d, f)), Some(add), Some(remove)) = (f, add, remove) else { return Err(ApiError::Internal) };
        let scope = scope_for(&caller, Action::TagFeedback, &d, &r.feedback)?;
        let now = self
            .store
            .tag_feedback(&ctx(&scope, &caller, AuditAction::FeedbackTag), &d, &f, &add, &remove)
            .await
            .map_err(|e| ApiError::from_store(e, &label("feedback", &r.feedback)))?;
        Ok(pb::TagFeedbackResponse { themes: now.iter().map(|t| resource::theme(t.as_str())).collect() })
    }

    pub(super) async fn suggest_themes(
        &self,
        caller: Caller,
        r: pb::SuggestThemesRequest,
    ) -> Result<pb::SuggestThemesResponse, ApiError> {
        let (d, f) = names::feedback("feedback", &r.feedback)?;
        let scope = scope_for(&caller, Action::TagFeedback, &d, &r.feedback)?;
        let what = label("feedback", &r.feedback);
        let feedback = self.store.get_feedback(&scope, &d, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
        let category_keywords = match &feedback.category {
            Some(c) => self.store.get_service_category(&scope, &d, c).await.map(|c| c.keywords).unwrap_or_default(),
            None => Vec::new(),
        };
        let all = list_scope(&caller, Action::ReadThemes, None, "themes")?;
        let mut themes = Vec::new();
        let mut after = None;
        loop {
            let p = self
                .store
                .list_themes(&all, &cityserve_domain::PageRequest { size: 500, after })
                .await
                .map_err(|e| ApiError::from_store(e, "themes"))?;
            themes.extend(p.items);
            match p.next_after {
                Some(a) => after = Some(a),
                None => break,
            }
        }
        let suggestions = suggest(&themes, &feedback.text, &category_keywords);
        Ok(pb::SuggestThemesResponse {
            suggestions: suggestions
                .into_iter()
                .map(|s| pb::ThemeSuggestion {
                    theme: resource::theme(s.theme.as_str()),
                    score: i32::try_from(s.score).unwrap_or(i32::MAX),
                    matched_keywords: s.matched,
                })
                .collect(),
        })
    }
}
