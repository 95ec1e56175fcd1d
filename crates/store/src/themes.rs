//! Storage for customer themes: city-wide labels and the feedback carrying them.
use crate::{Idempotency, StoreResult, WriteCtx};
use cityserve_domain::theme::{Theme, ThemeId};
use cityserve_domain::{DepartmentId, FeedbackId, Page, PageRequest, TenantScope};
use std::future::Future;

/// Storage for themes.
pub trait ThemeStore: Clone + Send + Sync + 'static {
    /// Adds `theme` (city-wide), audited in `home`. Idempotent on `idem`; a taken ID is
    /// [`crate::StoreError::AlreadyExists`].
    fn create_theme(
        &self,
        ctx: &WriteCtx<'_>,
        idem: &Idempotency,
        home: &DepartmentId,
        theme: &Theme,
    ) -> impl Future<Output = StoreResult<Theme>> + Send;

    /// Every theme, by ID.
    fn list_themes(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Theme>>> + Send;

    /// Adds the themes `add` to feedback `feedback` of `department` and takes `remove` off,
    /// answering the themes it carries now. Missing feedback is [`crate::StoreError::NotFound`], a
    /// theme that does not exist [`crate::StoreError::FailedPrecondition`].
    fn tag_feedback(
        &self,
        ctx: &WriteCtx<'_>,
        department: &DepartmentId,
        feedback: &FeedbackId,
        add: &[ThemeId],
        remove: &[ThemeId],
    ) -> impl Future<Output = StoreResult<Vec<ThemeId>>> + Send;
}
