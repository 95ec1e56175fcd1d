//! Idempotency keys belong to the caller that used them (its tenant and subject): a caller
//! writing into another department neither collides with nor replays that department's keys.
use super::feedback::item;
use super::officers::seed_officer;
use super::{cso, ctx, dept, idem, scope, seed_department};
use crate::{FeedbackStore, OfficerStore, StoreError};
use cityserve_domain::{Action, Channel, FeedbackId, FeedbackKind, NewRecognition, OfficerId, RecognitionId};

fn recognition(id: &str, story: &str) -> NewRecognition {
    NewRecognition {
        department_id: dept("water"),
        id: RecognitionId::parse("id", id).unwrap(),
        officer_id: OfficerId::parse("id", "ann").unwrap(),
        story: story.into(),
        feedback: None,
    }
}

pub async fn idempotency_keys_are_scoped_by_calling_tenant_and_subject<S: FeedbackStore + OfficerStore>(store: &S) {
    seed_department(store, "water").await;
    seed_department(store, "streets").await;
    seed_officer(store, "water", "ann").await;

    // Water's CSO recognises its own officer with request_id "rk".
    let water = cso("water");
    let ws = scope(&water, Action::RecognizeOfficer, Some(&dept("water")));
    let body = recognition("rc-water-1", "fixed the leak");
    let theirs =
        store.create_recognition(&ctx(&ws, &water, "recognition.create"), &idem("rk", "h"), &body).await.unwrap();

    // Streets repeats that body with that request_id: its own, new recognition, not water's stored
    // response.
    let streets = cso("streets");
    let ss = scope(&streets, Action::RecognizeOfficer, Some(&dept("water")));
    let mine = store
        .create_recognition(
            &ctx(&ss, &streets, "recognition.create"),
            &idem("rk", "h"),
            &recognition("rc-streets-1", "fixed the leak"),
        )
        .await
        .unwrap();
    assert_ne!(mine.id, theirs.id, "another department's key never replays its response");
    assert_eq!(mine.recognized_by, "cso-streets");
    // Another department using water's key for a different body meets no mismatch either (that
    // would tell it the key was used): a new recognition of its own.
    let parks = cso("parks");
    let ps = scope(&parks, Action::RecognizeOfficer, Some(&dept("water")));
    let other = store
        .create_recognition(
            &ctx(&ps, &parks, "recognition.create"),
            &idem("rk", "a different body"),
            &recognition("rc-parks-1", "kept the counter open"),
        )
        .await
        .unwrap();
    assert_eq!(other.recognized_by, "cso-parks");
    // Each caller's retries still replay within its own key space.
    let again = store
        .create_recognition(
            &ctx(&ss, &streets, "recognition.create"),
            &idem("rk", "h"),
            &recognition("rc-streets-1", "fixed the leak"),
        )
        .await
        .unwrap();
    assert_eq!(again, mine);
    let again = store.create_recognition(&ctx(&ws, &water, "recognition.create"), &idem("rk", "h"), &body).await;
    assert_eq!(again.unwrap(), theirs);
    assert_eq!(
        store.create_recognition(&ctx(&ws, &water, "recognition.create"), &idem("rk", "changed"), &body).await,
        Err(StoreError::IdempotencyMismatch),
        "the same caller reusing its key for another body is still refused"
    );

    // Streets files its own feedback with request_id "fk"; water then files internal-customer
    // feedback into streets under the same request_id and a different body: a new record.
    let ssub = scope(&streets, Action::SubmitFeedback, Some(&dept("streets")));
    let own = item("streets", "fb-own", FeedbackKind::Compliment, Channel::Web);
    store.submit_feedback(&ctx(&ssub, &streets, "feedback.submit"), &idem("fk", "own"), &own).await.unwrap();
    let wsub = scope(&water, Action::SubmitInternalFeedback, Some(&dept("streets")));
    let mut internal = item("streets", "fb-internal", FeedbackKind::Suggestion, Channel::Email);
    internal.internal_customer = Some(dept("water"));
    let w = ctx(&wsub, &water, "feedback.submit_internal");
    let filed = store.submit_feedback(&w, &idem("fk", "internal"), &internal).await.unwrap();
    assert_eq!(filed.feedback.id, FeedbackId::parse("id", "fb-internal").unwrap());
    let retried = store.submit_feedback(&w, &idem("fk", "internal"), &internal).await.unwrap();
    assert_eq!(retried, filed, "water's retry replays water's feedback");
}
