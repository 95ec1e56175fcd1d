//! `cityserve.v1.FeedbackService`: intake from every channel, complaint cases with their recovery
//! clock, the cross-department resident timeline, and erasure on request.
//!
//! Residents' e-mail addresses and phone numbers arrive in requests and go no further than the
//! store's contact-details table: they are never logged, traced, echoed in errors or hashed
//! without the server's secret (idempotency fingerprints use the resident key instead).
use crate::convert::{channel_from_pb, channel_to_pb, timestamp};
use crate::error::ApiError;
use crate::kit::{
    ctx, expected_revision, generated_id, idempotency, label, list_scope, next_page_token, page, record_tenant,
    scope_for, time_from_pb,
};
use crate::layers::standing::HomeDepartment;
use crate::names;
use chrono::{Duration, Utc};
use cityserve_domain::feedback::{
    CaseTransition, normalise_email, normalise_phone_in, summary_of, transition, visible_entry,
};
use cityserve_domain::validation::{optional_text, required_text, single_line};
use cityserve_domain::{
    Action, AuditAction, Caller, Case, CaseEntry, CaseNote, CaseStatus, Contact, DepartmentId, Feedback, FeedbackId,
    FeedbackKind, Location, NewFeedback, OfficerId, RecoveryAction, RecoveryKind, ResidentKeyer, ResidentRef,
    ServiceCategoryId, TenantScope, TimelineEntry, ValidationError, authorize, etag_for,
};
use cityserve_proto::v1 as pb;
use cityserve_proto::v1::feedback_service_server::FeedbackService;
use cityserve_store::feedback::{CaseFilter, CaseOrder, FeedbackFilter, Source, Submitted};
use cityserve_store::{FeedbackStore, now_micros, resource};
use tonic::{Request, Response, Status};

pub(crate) mod cases;
mod export;
pub(crate) mod intake;
mod notices;
mod residents;

pub(crate) use cases::case_to_pb;
use cases::*;
pub(crate) use intake::kind_to_pb;

pub(super) const TEXT_MAX: usize = 10_000;
pub(super) const NOTE_MAX: usize = 4_000;
pub(super) const ADDRESS_MAX: usize = 500;
/// The longest resident name kept with their contact details.
pub(super) const NAME_MAX: usize = 200;
/// The longest address identifier (an address register's key).
pub(super) const ADDRESS_ID_MAX: usize = 100;
/// The longest 311 app identifier of a device or an account.
pub(super) const CLIENT_ID_MAX: usize = 200;
/// The most items one BatchSubmitFeedback may carry.
pub const BATCH_MAX: usize = 1_000;
/// Clock skew tolerated on `occur_time` before it counts as "in the future".
pub(super) const FUTURE_SKEW_SECS: i64 = 300;

/// The FeedbackService implementation, generic over the storage backend.
#[derive(Clone)]
pub struct FeedbackApi<S> {
    store: S,
    keyer: ResidentKeyer,
    country_code: String,
    survey_key: Option<cityserve_domain::survey::SurveyKey>,
}

impl<S: FeedbackStore> FeedbackApi<S> {
    /// A service backed by `store`, deriving resident keys with `keyer`.
    pub fn new(store: S, keyer: ResidentKeyer) -> Self {
        Self { store, keyer, country_code: String::new(), survey_key: None }
    }

    /// Accepts follow-up survey tokens signed with `key` (without one, every token is refused).
    pub fn with_survey_key(mut self, key: cityserve_domain::survey::SurveyKey) -> Self {
        self.survey_key = Some(key);
        self
    }

    /// What a survey token says, for the public answer page: its department and invitation, and
    /// whether it still links answers (`false`: expired, the answer is kept as plain feedback).
    /// `None` for a token this city did not sign.
    pub fn survey_token(&self, token: &str) -> Option<(DepartmentId, String, bool)> {
        use cityserve_domain::survey::TokenError;
        match self.survey_key.as_ref()?.verify(token, Utc::now()) {
            Ok(c) => Some((c.department, c.notice_id, true)),
            Err(TokenError::Expired(c)) => Some((c.department, c.notice_id, false)),
            Err(TokenError::Forged) => None,
        }
    }

    /// Reads phone numbers written without `+` as numbers of this calling code (e.g. `1`), so
    /// national and international spellings of one number link to one resident.
    pub fn with_phone_country_code(mut self, code: &str) -> Self {
        code.clone_into(&mut self.country_code);
        self
    }

    /// The tonic server for this service, ready to add to a router.
    pub fn into_server(self) -> pb::feedback_service_server::FeedbackServiceServer<Self> {
        pb::feedback_service_server::FeedbackServiceServer::new(self)
    }
}
#[tonic::async_trait]
impl<S: FeedbackStore + cityserve_store::NoticeStore + cityserve_store::CalendarStore> FeedbackService
    for FeedbackApi<S>
{
    async fn submit_feedback(
        &self,
        req: Request<pb::SubmitFeedbackRequest>,
    ) -> Result<Response<pb::SubmitFeedbackResponse>, Status> {
        handle!(req, |c, r| self.submit(c, r), |x| x)
    }

    async fn batch_submit_feedback(
        &self,
        req: Request<pb::BatchSubmitFeedbackRequest>,
    ) -> Result<Response<pb::BatchSubmitFeedbackResponse>, Status> {
        handle!(req, |c, r| self.submit_batch(c, r), |x| x)
    }

    async fn get_feedback(
        &self,
        req: Request<pb::GetFeedbackRequest>,
    ) -> Result<Response<pb::GetFeedbackResponse>, Status> {
        handle!(req, |c, r| self.get_feedback(c, &r.name), |x| pb::GetFeedbackResponse { feedback: Some(x) })
    }

    async fn list_feedback(
        &self,
        req: Request<pb::ListFeedbackRequest>,
    ) -> Result<Response<pb::ListFeedbackResponse>, Status> {
        handle!(req, |c, r| self.list_feedback(c, r), |x| x)
    }

    async fn get_resident_timeline(
        &self,
        req: Request<pb::GetResidentTimelineRequest>,
    ) -> Result<Response<pb::GetResidentTimelineResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.timeline(c, home, r), |x| x)
    }

    async fn erase_resident(
        &self,
        req: Request<pb::EraseResidentRequest>,
    ) -> Result<Response<pb::EraseResidentResponse>, Status> {
        handle!(req, |c, r| self.erase(c, r), |x| x)
    }

    async fn get_case(&self, req: Request<pb::GetCaseRequest>) -> Result<Response<pb::GetCaseResponse>, Status> {
        handle!(req, |c, r| self.get_case(c, &r.name), |x| pb::GetCaseResponse { case: Some(x) })
    }

    async fn list_cases(&self, req: Request<pb::ListCasesRequest>) -> Result<Response<pb::ListCasesResponse>, Status> {
        handle!(req, |c, r| self.list_cases(c, r), |x| x)
    }

    async fn acknowledge_case(
        &self,
        req: Request<pb::AcknowledgeCaseRequest>,
    ) -> Result<Response<pb::AcknowledgeCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Acknowledge), |x| {
            pb::AcknowledgeCaseResponse { case: Some(x) }
        })
    }

    async fn start_case(&self, req: Request<pb::StartCaseRequest>) -> Result<Response<pb::StartCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Start), |x| {
            pb::StartCaseResponse { case: Some(x) }
        })
    }

    async fn resolve_case(
        &self,
        req: Request<pb::ResolveCaseRequest>,
    ) -> Result<Response<pb::ResolveCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Resolve), |x| {
            pb::ResolveCaseResponse { case: Some(x) }
        })
    }

    async fn close_case(&self, req: Request<pb::CloseCaseRequest>) -> Result<Response<pb::CloseCaseResponse>, Status> {
        handle!(
            req,
            |caller, r| async {
                if r.owner_department.is_empty() {
                    return self.move_case(caller, &r.name, &r.etag, &r.note, false, CaseTransition::Close).await;
                }
                let owner = names::department("owner_department", &r.owner_department)?;
                self.move_case(caller, &r.name, &r.etag, &r.note, true, CaseTransition::CloseNotOurs(owner)).await
            },
            |x| pb::CloseCaseResponse { case: Some(x) }
        )
    }

    async fn reopen_case(
        &self,
        req: Request<pb::ReopenCaseRequest>,
    ) -> Result<Response<pb::ReopenCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, true, CaseTransition::Reopen), |x| {
            pb::ReopenCaseResponse { case: Some(x) }
        })
    }

    async fn hold_case(&self, req: Request<pb::HoldCaseRequest>) -> Result<Response<pb::HoldCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, true, CaseTransition::WaitOnResident), |x| {
            pb::HoldCaseResponse { case: Some(x) }
        })
    }

    async fn resume_case(
        &self,
        req: Request<pb::ResumeCaseRequest>,
    ) -> Result<Response<pb::ResumeCaseResponse>, Status> {
        handle!(req, |c, r| self.move_case(c, &r.name, &r.etag, &r.note, false, CaseTransition::Resume), |x| {
            pb::ResumeCaseResponse { case: Some(x) }
        })
    }

    async fn assign_case(
        &self,
        req: Request<pb::AssignCaseRequest>,
    ) -> Result<Response<pb::AssignCaseResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let assignee = OfficerId::parse("assignee", &r.assignee)?;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    Ok((Case { assignee: Some(assignee), ..case.clone() }, None))
                })
                .await
            },
            |x| pb::AssignCaseResponse { case: Some(x) }
        )
    }

    async fn add_case_note(
        &self,
        req: Request<pb::AddCaseNoteRequest>,
    ) -> Result<Response<pb::AddCaseNoteResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let text = required_text("text", &r.text, NOTE_MAX)?;
                let actor = c.subject.clone();
                let public = r.public;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    Ok((case.clone(), Some(CaseEntry::Note(CaseNote { text, public, actor, at: now_micros() }))))
                })
                .await
            },
            |x| pb::AddCaseNoteResponse { case: Some(x) }
        )
    }

    async fn record_recovery_action(
        &self,
        req: Request<pb::RecordRecoveryActionRequest>,
    ) -> Result<Response<pb::RecordRecoveryActionResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let mut errors = ValidationError::default();
                let kind = errors.check(recovery_from_pb("kind", r.kind));
                let note = errors.check(optional_text("note", &r.note, NOTE_MAX));
                errors.into_result()?;
                let (Some(kind), Some(note)) = (kind, note) else { return Err(ApiError::Internal) };
                let actor = c.subject.clone();
                self.change_case(&c, &r.name, &r.etag, |case| {
                    if case.status == CaseStatus::Closed {
                        return Err(ApiError::FailedPrecondition(
                            "a closed case takes no recovery actions; reopen it first".into(),
                        ));
                    }
                    let action = RecoveryAction { kind, note, actor, at: now_micros() };
                    Ok((case.clone(), Some(CaseEntry::Recovery(action))))
                })
                .await
            },
            |x| pb::RecordRecoveryActionResponse { case: Some(x) }
        )
    }

    async fn update_notice_template(
        &self,
        req: Request<pb::UpdateNoticeTemplateRequest>,
    ) -> Result<Response<pb::UpdateNoticeTemplateResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.update_notice_template(c, home, r), |t| pb::UpdateNoticeTemplateResponse {
            notice_template: Some(notices::template_response(&t))
        })
    }

    async fn delete_notice_template(
        &self,
        req: Request<pb::DeleteNoticeTemplateRequest>,
    ) -> Result<Response<pb::DeleteNoticeTemplateResponse>, Status> {
        let home = req.extensions().get::<HomeDepartment>().map(|h| h.0.clone());
        handle!(req, |c, r| self.delete_notice_template(c, home, r), |()| pb::DeleteNoticeTemplateResponse {})
    }

    async fn list_notice_templates(
        &self,
        req: Request<pb::ListNoticeTemplatesRequest>,
    ) -> Result<Response<pb::ListNoticeTemplatesResponse>, Status> {
        handle!(req, |c, r| self.list_notice_templates(c, r), |x| x)
    }

    async fn preview_notice(
        &self,
        req: Request<pb::PreviewNoticeRequest>,
    ) -> Result<Response<pb::PreviewNoticeResponse>, Status> {
        handle!(req, |c, r| self.preview_notice(c, r), |x| x)
    }

    async fn list_notices(
        &self,
        req: Request<pb::ListNoticesRequest>,
    ) -> Result<Response<pb::ListNoticesResponse>, Status> {
        handle!(req, |c, r| self.list_notices(c, r), |x| x)
    }

    type ExportFeedbackStream = export::ExportStream;

    async fn export_feedback(
        &self,
        req: Request<pb::ExportFeedbackRequest>,
    ) -> Result<Response<Self::ExportFeedbackStream>, Status> {
        let guard = crate::kit::stream_guard(&req);
        handle!(req, |c, r| self.export(c, r), |x| crate::kit::guard_stream(guard, x))
    }

    async fn link_follow_up(
        &self,
        req: Request<pb::LinkFollowUpRequest>,
    ) -> Result<Response<pb::LinkFollowUpResponse>, Status> {
        handle!(
            req,
            |c, r| async {
                let (case_dept, _) = names::case("name", &r.name)?;
                let (d, f) = names::feedback("follow_up", &r.follow_up)?;
                if d != case_dept {
                    return Err(ValidationError::one("follow_up", "must be feedback of the case's department").into());
                }
                let what = label("feedback", &r.follow_up);
                let scope = scope_for(&c, Action::ReadFeedback, &d, &what)?;
                let survey =
                    self.store.get_feedback(&scope, &d, &f).await.map_err(|e| ApiError::from_store(e, &what))?;
                let satisfied = r.resident_satisfied;
                self.change_case(&c, &r.name, &r.etag, |case| {
                    if !matches!(case.status, CaseStatus::Resolved | CaseStatus::Closed) {
                        return Err(ApiError::FailedPrecondition(format!(
                            "a follow-up is linked after resolution; the case is {}",
                            case.status.as_str()
                        )));
                    }
                    if let (Some(a), Some(b)) = (&case.resident_key, &survey.resident_key)
                        && a != b
                    {
                        return Err(ApiError::FailedPrecondition("the follow-up is from another resident".into()));
                    }
                    Ok((Case { follow_up: Some(survey.id.clone()), satisfied: Some(satisfied), ..case.clone() }, None))
                })
                .await
            },
            |x| pb::LinkFollowUpResponse { case: Some(x) }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::intake::*;
    use super::*;

    #[test]
    fn language_tags_are_checked_loosely() {
        assert_eq!(language("l", "").unwrap(), "en");
        assert_eq!(language("l", "es-US").unwrap(), "es-US");
        assert!(language("l", "english please").is_err());
        assert!(language("l", "e").is_err());
    }

    #[test]
    fn locations_need_both_coordinates_in_range() {
        let l = |lat, lon| pb::Location {
            address: String::new(),
            latitude: lat,
            longitude: lon,
            address_id: String::new(),
        };
        assert!(location("loc", Some(&l(Some(39.9), Some(-75.1)))).is_ok());
        let err = location("loc", Some(&l(Some(91.0), None))).unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["loc.longitude"]);
        assert!(location("loc", Some(&l(Some(91.0), Some(0.0)))).is_err());
    }

    #[test]
    fn fingerprints_never_carry_contact_details() {
        let r = pb::SubmitFeedbackRequest {
            parent: "departments/water".into(),
            feedback: None,
            resident: Some(pb::ResidentContact {
                email: "ann@example.org".into(),
                phone: "2155550100".into(),
                name: "Ann Example".into(),
                notice_channel: 0,
            }),
            request_id: "r1".into(),
            survey_token: String::new(),
            resolved: None,
        };
        let keyer = cityserve_domain::ResidentKeyer::new(b"0123456789abcdef");
        let contact = cityserve_domain::Contact {
            email: "ann@example.org".into(),
            phone: "2155550100".into(),
            name: "Ann Example".into(),
            notice_channel: None,
        };
        let resident = keyer.resident(contact.clone()).unwrap();
        let print = fingerprint(&r, Some(&resident));
        let again = fingerprint(&r, keyer.resident(contact).as_ref());
        assert_eq!(print, again, "a retry has the same fingerprint whatever fresh key it drew");
        let bytes = prost::Message::encode_to_vec(&print);
        assert!(!String::from_utf8_lossy(&bytes).contains("ann@"));
        assert!(!String::from_utf8_lossy(&bytes).contains("2155550100"));
        assert!(!String::from_utf8_lossy(&bytes).contains("Ann Example"));
    }
}
