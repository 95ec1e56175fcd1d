//! Generated contacts: feedback and cases with their own times, made on a blocking thread per
//! department and handed to its import in batches.
use crate::city::{CHANNELS, Dept, KINDS, pick};
use crate::{IMPORT_BATCH, did};
use chrono::{DateTime, Duration, Utc};
use cityserve_domain::{
    CaseStatus, Channel, FeedbackId, FeedbackKind, Location, NewFeedback, OfficerId, ServiceCategoryId,
};
use cityserve_store::import::{ImportedCase, ImportedContact};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Generates the `count` contacts of `d` (serial numbers from `first`, random stream `seed`) and
/// sends them in batches of [`IMPORT_BATCH`]; stops early when the import hangs up. Adds each
/// batch's contacts to `sent` once the import has taken it in hand (the channel holds at most
/// `PREFETCH` batches, so `sent` runs at most that far ahead of the database).
#[allow(clippy::too_many_arguments)] // One department's generation job, spelled out.
pub(crate) fn generate(
    d: &'static Dept,
    first: u64,
    count: u64,
    seed: u64,
    now: DateTime<Utc>,
    span_secs: i64,
    tx: &mpsc::Sender<Vec<ImportedContact>>,
    sent: &AtomicU64,
) -> Result<(), cityserve_domain::ValidationError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut batch = Vec::with_capacity(IMPORT_BATCH + 1);
    let mut serials = 0;
    for serial in first..first + count {
        for c in contact(&mut rng, d, serial, now, span_secs) {
            // The same guarantees as the API's intake (CSAT, NPS, language, coordinates).
            c.feedback.check_measures()?;
            batch.push(c);
        }
        serials += 1;
        if batch.len() >= IMPORT_BATCH {
            if tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH + 1))).is_err() {
                return Ok(());
            }
            sent.fetch_add(std::mem::take(&mut serials), Ordering::Relaxed);
        }
    }
    if !batch.is_empty() && tx.blocking_send(batch).is_ok() {
        sent.fetch_add(serials, Ordering::Relaxed);
    }
    Ok(())
}

/// One contact (two when a closed complaint gets a follow-up survey).
pub(crate) fn contact(
    rng: &mut StdRng,
    d: &Dept,
    serial: u64,
    now: DateTime<Utc>,
    span_secs: i64,
) -> Vec<ImportedContact> {
    let id = did(d.id);
    let received = now - Duration::seconds(rng.random_range(3_600..span_secs.max(3_601)));
    let channel = pick(rng, CHANNELS);
    let kind = pick(rng, KINDS);
    let (cat, _, _, complaint_text) = d.categories[rng.random_range(0..d.categories.len())];
    // A quarter of contacts name a resident, drawn from a pool that grows with the city (about
    // one resident per ten contacts so far) so repeat callers stay realistic at any scale; key 1
    // is the benchmark's frequent caller and no one else.
    let pool = (serial / 10).max(2_000);
    let resident_key = (rng.random_range(0..4) == 0).then(|| format!("r-{:032x}", 2 + rng.random_range(0..pool)));
    let (csat, nps) = match kind {
        FeedbackKind::SurveyResponse => (Some(rng.random_range(1..=5)), Some(rng.random_range(0..=10))),
        FeedbackKind::Compliment => (Some(rng.random_range(4..=5)), None),
        FeedbackKind::Complaint => ((rng.random_range(0..3) == 0).then(|| rng.random_range(1..=3)), None),
        _ => (None, None),
    };
    let text = match kind {
        FeedbackKind::Complaint => complaint_text.to_owned(),
        FeedbackKind::Compliment => "The crew was quick and polite. Thank you!".to_owned(),
        FeedbackKind::Question => "How long does this usually take?".to_owned(),
        FeedbackKind::Suggestion => "An online status page would save everyone a phone call.".to_owned(),
        FeedbackKind::SurveyResponse => "Survey answer".to_owned(),
    };
    // One contact in 25 that is no complaint is another department rating this one's service
    // (an internal customer), reported apart from residents.
    let internal = (kind != FeedbackKind::Complaint && rng.random_range(0..25) == 0)
        .then(|| crate::city::CITY[rng.random_range(0..crate::city::CITY.len())].id)
        .filter(|other| *other != d.id)
        .map(did);
    let resident_key = if internal.is_some() { None } else { resident_key };
    let feedback = |fid: String, kind: FeedbackKind, text: String, csat, nps| NewFeedback {
        media: Vec::new(),
        attributes: Vec::new(),
        client_ids: Default::default(),
        department_id: id.clone(),
        id: FeedbackId::parse("id", &fid).unwrap_or_else(|_| unreachable!("demo feedback IDs are slugs")),
        channel,
        kind,
        csat,
        nps,
        text,
        language: "en".into(),
        category: ServiceCategoryId::parse("category", cat).ok(),
        location: Location { address: String::new(), latitude: None, longitude: None, address_id: String::new() },
        occurred_at: received,
        resident: None,
        internal_customer: internal.clone(),
        survey: None,
        served: Default::default(),
        source: None,
    };
    let fid = format!("fb-demo-{serial:09}");
    let mut out = Vec::with_capacity(2);
    let mut case = None;
    let mut follow_up = None;
    if kind == FeedbackKind::Complaint {
        let ack = Duration::seconds(d.targets.0 * 3600);
        let res = Duration::seconds(d.targets.1 * 3600);
        let age = now - received;
        let ack_at = received + Duration::seconds((ack.num_seconds() as f64 * rng.random_range(0.05..1.6)) as i64);
        let res_at = received + Duration::seconds((res.num_seconds() as f64 * rng.random_range(0.1..1.5)) as i64);
        let roll: u32 = rng.random_range(0..100);
        let (status, acknowledged_at, resolved_at, closed_at) = if res_at < now && roll < 85 {
            let closed = res_at + Duration::hours(rng.random_range(1..72));
            if closed < now && roll < 70 {
                (CaseStatus::Closed, Some(ack_at.min(res_at)), Some(res_at), Some(closed))
            } else {
                (CaseStatus::Resolved, Some(ack_at.min(res_at)), Some(res_at), None)
            }
        } else if ack_at < now && roll < 95 {
            (
                if roll.is_multiple_of(2) { CaseStatus::InProgress } else { CaseStatus::Acknowledged },
                Some(ack_at),
                None,
                None,
            )
        } else {
            (CaseStatus::Open, None, None, None)
        };
        let _ = age;
        if status == CaseStatus::Closed && rng.random_range(0..3) == 0 {
            follow_up = Some(format!("fb-demo-{serial:09}-fu"));
        }
        case = Some(ImportedCase {
            status,
            acknowledge_due: received + ack,
            resolve_due: received + res,
            acknowledged_at,
            resolved_at,
            closed_at,
            reopen_count: i32::from(status == CaseStatus::InProgress && rng.random_range(0..10) == 0),
            first_contact_at: None,
            assignee: (status != CaseStatus::Open).then(|| {
                OfficerId::parse("officer", &format!("staff-{}-{}", d.id, rng.random_range(1..=2)))
                    .unwrap_or_else(|_| unreachable!("demo officer IDs are slugs"))
            }),
            follow_up: follow_up
                .as_ref()
                .map(|f| FeedbackId::parse("id", f).unwrap_or_else(|_| unreachable!("demo feedback IDs are slugs"))),
            satisfied: follow_up.as_ref().map(|_| rng.random_range(0..4) != 0),
        });
    }
    out.push(ImportedContact {
        feedback: feedback(fid, kind, text, csat, nps),
        resident_key: resident_key.clone(),
        received_at: received,
        case: case.clone(),
    });
    if let (Some(fu), Some(c)) = (follow_up, case) {
        let at = c.closed_at.unwrap_or(received) + Duration::hours(1);
        if at < now {
            out.push(ImportedContact {
                feedback: NewFeedback {
                    channel: Channel::Survey,
                    occurred_at: at,
                    ..feedback(
                        fu,
                        FeedbackKind::SurveyResponse,
                        "Follow-up survey".into(),
                        Some(rng.random_range(2..=5)),
                        None,
                    )
                },
                resident_key,
                received_at: at,
                case: None,
            });
        } else if let Some(first) = out.first_mut()
            && let Some(case) = first.case.as_mut()
        {
            case.follow_up = None;
            case.satisfied = None;
        }
    }
    out
}
