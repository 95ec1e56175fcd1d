//! The notifier: sends the notices case changes queued, and records each attempt.
//!
//! - **One sender at a time.** Every replica runs [`Notifier::run`]; only the holder of the
//!   `resident-notifier` lease sends, so a second replica never sends a notice twice. A replica
//!   that dies stops renewing and another takes over once the lease expires.
//! - **At least once, idempotent.** A notice is marked sent only after the relay or gateway
//!   accepted it; if the notifier dies in between, the next holder sends it again with the same
//!   message ID (e-mail `Message-ID`, the gateway's `Idempotency-Key`), so the relay can drop it.
//! - **Retries with backoff.** A transient failure is retried after `retry_base × 2^(attempt-1)`
//!   (capped at an hour); after `max_attempts`, or at once on a permanent refusal, the notice is
//!   a dead letter for the department's CSO (`ListNotices`).
//! - **Nothing for the erased.** The address is read when sending, from the resident's contact
//!   details; an erased resident has none (and erasure cancels their pending notices), so the
//!   notice is cancelled, never sent.
//! - **No contact data in logs.** Logs and recorded errors name the notice, never the address.
use crate::send::{Message, SendError, SmtpSender, WebhookSender};
use chrono::Utc;
use cityserve_domain::notice::{NoticeChannel, NoticeEvent, NoticeFacts, NoticeTemplate, choose, compose};
use cityserve_domain::survey::{SurveyClaims, SurveyKey};
use cityserve_domain::{BusinessCalendar, CaseStatus, DepartmentId, TenantScope};
use cityserve_store::notices::{Delivery, DueNotice};
use cityserve_store::{CalendarStore, CoordinationStore, LeaseStore, NoticeStore};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

/// The lease's name.
pub const LEASE: &str = "resident-notifier";
/// Notices read per round.
const BATCH: u32 = 100;
/// The shortest time between two rounds woken by writes.
const PACE: Duration = Duration::from_millis(100);

/// How to deliver, and how hard to try.
#[derive(Clone)]
pub struct Settings {
    /// The SMTP relay for e-mail notices; without it they fail (and end as dead letters).
    pub smtp: Option<SmtpSender>,
    /// The SMS gateway's webhook; without it SMS notices fail likewise.
    pub sms: Option<WebhookSender>,
    /// Attempts before a notice is a dead letter.
    pub max_attempts: i32,
    /// The wait after the first failed attempt; it doubles with each further one.
    pub retry_base: Duration,
    /// How long the lease lasts without renewal.
    pub lease_ttl: Duration,
    /// Who this replica is, as lease holder.
    pub holder: String,
    /// How often to look for due notices when nothing wakes the notifier.
    pub poll: Duration,
    /// Follow-up survey invitations; without, they are cancelled (there is nowhere to answer).
    pub survey: Option<SurveySettings>,
}

/// How follow-up survey invitations are sent.
#[derive(Clone, Debug)]
pub struct SurveySettings {
    /// Signs each invitation's token.
    pub key: SurveyKey,
    /// The public answer page: the link is `{link_base}/{token}`.
    pub link_base: String,
    /// How long after the resolution the invitation waits (then also for opening hours).
    pub delay: Duration,
    /// How long a token links answers.
    pub token_ttl: Duration,
}

/// Sends queued resident notices.
pub struct Notifier<S> {
    store: S,
    settings: Settings,
}

impl<S> Notifier<S> {
    /// A survey invitation's signed link, or why it does not go out now: cancelled (no survey
    /// page configured, or the case reopened), or held back (the delay after the resolution, then
    /// the department's next opening).
    fn survey_link(&self, d: &DueNotice, calendar: Option<&BusinessCalendar>) -> Result<String, Delivery> {
        let n = &d.notice;
        let Some(sv) = &self.settings.survey else { return Err(Delivery::Cancelled) };
        if !matches!(d.case_status, CaseStatus::Resolved | CaseStatus::Closed) {
            return Err(Delivery::Cancelled);
        }
        let now = Utc::now();
        let delay = chrono::Duration::from_std(sv.delay).unwrap_or(chrono::Duration::days(1));
        let earliest = (n.create_time + delay).max(now);
        let at = calendar.map_or(earliest, |c| c.open_at_or_after(earliest));
        if at > now {
            return Err(Delivery::Defer(at));
        }
        let ttl = chrono::Duration::from_std(sv.token_ttl).unwrap_or(chrono::Duration::days(30));
        let token = sv.key.sign(&SurveyClaims {
            department: n.department_id.clone(),
            case_id: n.case_id.clone(),
            notice_id: n.id.clone(),
            expires_at: now + ttl,
        });
        Ok(format!("{}/{token}", sv.link_base.trim_end_matches('/')))
    }
}

/// What one attempt came to.
fn outcome(result: Result<(), SendError>, attempts_before: i32, s: &Settings) -> Delivery {
    match result {
        Ok(()) => Delivery::Sent(Utc::now()),
        Err(SendError::Permanent(e)) => Delivery::Dead(e),
        Err(SendError::Transient(e)) if attempts_before + 1 >= s.max_attempts => Delivery::Dead(e),
        Err(SendError::Transient(e)) => {
            let exp = u32::try_from(attempts_before.clamp(0, 20)).unwrap_or(20);
            let wait = s.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(Duration::from_secs(3600));
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
            Delivery::Retry { at, error: e }
        }
    }
}

impl<S: NoticeStore + LeaseStore + CalendarStore + CoordinationStore> Notifier<S> {
    /// A notifier over `store`.
    pub fn new(store: S, settings: Settings) -> Self {
        Self { store, settings }
    }

    /// Sends until `shutdown` turns true, taking the lease first and re-taking it when lost.
    /// Releases the lease on the way out.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let (_, system) = cityserve_domain::policy::system_scope(LEASE);
        let s = &self.settings;
        let mut signal = self.store.event_signal();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let held = match self.store.acquire_lease(&system, LEASE, &s.holder, s.lease_ttl).await {
                Ok(l) => l.is_some(),
                Err(e) => {
                    tracing::warn!(error = %e, "notifier: cannot take its lease; retrying");
                    false
                }
            };
            let started = tokio::time::Instant::now();
            if held && let Err(e) = self.round(&system).await {
                tracing::warn!(error = %e, "notifier: a round failed; retrying");
            }
            // A case change is also an event: wake on it, else poll (retries come due on time).
            let wait = if held { s.poll } else { s.lease_ttl / 3 };
            tokio::select! {
                // Under a stream of writes, at most one round per PACE: the events coalesce.
                _ = signal.changed() => tokio::time::sleep_until(started + PACE).await,
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
        if let Err(e) = self.store.release_lease(&system, LEASE, &s.holder).await {
            tracing::warn!(error = %e, "notifier: could not release its lease");
        }
    }

    /// Sends every due notice, batch after batch, while holding the lease.
    async fn round(&self, system: &TenantScope) -> Result<(), cityserve_store::StoreError> {
        let s = &self.settings;
        let city = self.store.get_city_calendar(system).await?;
        let zone = city.time_zone;
        let mut templates: HashMap<Option<DepartmentId>, Vec<NoticeTemplate>> = HashMap::new();
        let mut calendars: HashMap<DepartmentId, BusinessCalendar> = HashMap::new();
        let mut renewed = std::time::Instant::now();
        loop {
            let due = self.store.due_notices(system, Utc::now(), BATCH).await?;
            for d in &due {
                let dept = Some(d.notice.department_id.clone());
                for owner in [None, dept.clone()] {
                    if let std::collections::hash_map::Entry::Vacant(slot) = templates.entry(owner) {
                        let list = self.store.notice_templates(system, slot.key().as_ref()).await?;
                        slot.insert(list);
                    }
                }
                let mut all = templates.get(&dept).cloned().unwrap_or_default();
                all.extend(templates.get(&None).cloned().unwrap_or_default());
                let department = &d.notice.department_id;
                if d.notice.event == NoticeEvent::SurveyInvitation && !calendars.contains_key(department) {
                    let own = self.store.get_department_calendar(system, department).await?;
                    calendars.insert(department.clone(), BusinessCalendar::effective(&city, Some(&own)));
                }
                let result = self.deliver(d, &all, zone, calendars.get(department)).await;
                let n = &d.notice;
                match &result {
                    Delivery::Sent(_) => tracing::info!(notice = %n.id, department = %n.department_id, "notice sent"),
                    Delivery::Retry { error, .. } => {
                        tracing::info!(notice = %n.id, attempt = n.attempts + 1, error = %error, "notice attempt failed");
                    }
                    Delivery::Dead(error) => {
                        tracing::warn!(notice = %n.id, department = %n.department_id, error = %error, "notice dead-lettered");
                    }
                    Delivery::Cancelled => {
                        tracing::info!(notice = %n.id, "notice cancelled: no address or no longer due")
                    }
                    Delivery::Defer(at) => tracing::debug!(notice = %n.id, until = %at, "notice held back"),
                }
                self.store.record_delivery(system, &n.department_id, &n.id, &result).await?;
                // Renew well before the lease runs out, so no other replica starts sending what
                // this one is still working through; stop at once if it was lost.
                if renewed.elapsed() >= s.lease_ttl / 3 {
                    if !self.store.advance_lease(system, LEASE, &s.holder, 0, s.lease_ttl).await? {
                        return Ok(());
                    }
                    renewed = std::time::Instant::now();
                }
            }
            if due.len() < BATCH as usize {
                return Ok(());
            }
        }
    }

    /// One attempt at `d`.
    async fn deliver(
        &self,
        d: &DueNotice,
        templates: &[NoticeTemplate],
        zone: chrono_tz::Tz,
        calendar: Option<&BusinessCalendar>,
    ) -> Delivery {
        let n = &d.notice;
        if d.address.is_empty() {
            return Delivery::Cancelled;
        }
        let mut facts =
            NoticeFacts::of_case(&n.case_id, &d.department_name, d.resolve_due, zone, &d.owner_department_name);
        if n.event == NoticeEvent::SurveyInvitation {
            match self.survey_link(d, calendar) {
                Ok(link) => facts.survey_link = link,
                Err(held) => return held,
            }
        }
        let chosen = choose(templates, &n.department_id, n.event, &n.language);
        let (subject, body) = compose(chosen, n.event, &facts);
        let message = Message {
            message_id: format!("{}@{}.cityserve", n.id, n.department_id),
            department: n.department_id.to_string(),
            language: n.language.clone(),
            subject,
            body,
        };
        let s = &self.settings;
        let result = match n.channel {
            NoticeChannel::Email => match &s.smtp {
                Some(smtp) => smtp.send(&d.address, &message).await,
                None => Err(SendError::Transient("no SMTP relay is configured".into())),
            },
            NoticeChannel::Sms => match &s.sms {
                Some(sms) => sms.send(&d.address, &message).await,
                None => Err(SendError::Transient("no SMS gateway is configured".into())),
            },
            NoticeChannel::None => return Delivery::Cancelled,
        };
        outcome(result, n.attempts, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            smtp: None,
            sms: None,
            max_attempts: 3,
            retry_base: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(10),
            holder: "t".into(),
            poll: Duration::from_secs(1),
            survey: None,
        }
    }

    #[test]
    fn transient_failures_back_off_then_dead_letter() {
        let s = settings();
        let first = outcome(Err(SendError::Transient("x".into())), 0, &s);
        let Delivery::Retry { at, .. } = first else { panic!("{first:?}") };
        let wait = (at - Utc::now()).num_seconds();
        assert!((8..=10).contains(&wait), "{wait}");
        let second = outcome(Err(SendError::Transient("x".into())), 1, &s);
        let Delivery::Retry { at, .. } = second else { panic!("{second:?}") };
        assert!((18..=20).contains(&(at - Utc::now()).num_seconds()));
        assert_eq!(outcome(Err(SendError::Transient("x".into())), 2, &s), Delivery::Dead("x".into()));
        assert_eq!(outcome(Err(SendError::Permanent("p".into())), 0, &s), Delivery::Dead("p".into()));
    }
}
