//! Recognitions: service heroes.
use super::*;

pub(super) fn recognition_to_pb(r: &cityserve_domain::Recognition) -> pb::Recognition {
    pb::Recognition {
        name: names::recognition_name(&r.department_id, &r.id),
        officer: names::officer_name(&r.department_id, &r.officer_id),
        recognized_by: r.recognized_by.clone(),
        story: r.story.clone(),
        feedback: r.feedback.clone().unwrap_or_default(),
        create_time: Some(timestamp(r.create_time)),
    }
}

impl<S: OfficerStore> OfficersApi<S> {
    pub(super) async fn create_recognition(
        &self,
        caller: Caller,
        r: pb::CreateRecognitionRequest,
    ) -> Result<pb::Recognition, ApiError> {
        let idem =
            idempotency(&r.request_id, &pb::CreateRecognitionRequest { request_id: String::new(), ..r.clone() })?;
        let body = r.recognition.unwrap_or_default();
        let mut errors = ValidationError::default();
        let officer = errors.check(names::officer("recognition.officer", &body.officer));
        let text = errors.check(story("recognition.story", &body.story));
        let feedback = if body.feedback.is_empty() {
            Some(None)
        } else {
            errors.check(optional_text("recognition.feedback", &body.feedback, 300).map(Some))
        };
        if let Some((_, o)) = &officer
            && o.as_str() == caller.subject
        {
            errors.push("recognition.officer", "must be someone else: officers cannot recognise themselves");
        }
        errors.into_result()?;
        let (Some((d, o)), Some(story), Some(feedback)) = (officer, text, feedback) else {
            return Err(ApiError::Internal);
        };
        let what = label("officer", &body.officer);
        let scope = scope_for(&caller, Action::RecognizeOfficer, &d, &what)?;
        let new = NewRecognition {
            department_id: d.clone(),
            id: RecognitionId::parse("id", &generated_id("rc"))?,
            officer_id: o,
            story,
            feedback,
        };
        let rec = self
            .store
            .create_recognition(&ctx(&scope, &caller, AuditAction::RecognitionCreate), &idem, &new)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(recognition_to_pb(&rec))
    }

    pub(super) async fn list_recognitions(
        &self,
        caller: Caller,
        r: pb::ListRecognitionsRequest,
    ) -> Result<pb::ListRecognitionsResponse, ApiError> {
        let d = names::department_or_all("parent", &r.parent)?;
        let filter_key = format!("recognitions?parent={}", r.parent);
        let page = page(r.page_size, &r.page_token, &filter_key)?;
        let what = label("department", &r.parent);
        let scope = list_scope(&caller, Action::ReadRecognitions, d.as_ref(), &what)?;
        let p = self
            .store
            .list_recognitions(&scope, d.as_ref(), &page)
            .await
            .map_err(|e| ApiError::from_store(e, &what))?;
        Ok(pb::ListRecognitionsResponse {
            recognitions: p.items.iter().map(recognition_to_pb).collect(),
            next_page_token: next_page_token(p.next_after, &filter_key),
        })
    }
}
