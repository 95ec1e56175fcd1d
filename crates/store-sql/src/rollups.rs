//! The rollups' time zone and their rebuild from the raw rows (statements, row conversions, and
//! the rebuild itself, [`rollup_rebuild!`], written once).
//!
//! Report-card counters are keyed by local days of one time zone, kept in `rollup_zone`: every
//! write reads it in its own transaction, and a rebuild changes it in the transaction that
//! rewrites the counters, so the counters are never keyed by two zones at once. A rebuild sums
//! what every stored contact, case, recovery action, hand-off, escalation, observation, recognition
//! and theme tag counts (the domain's
//! [`cityserve_domain::report`] functions, the same the writes use), so it equals the counters
//! the writes maintained.
#![allow(clippy::crate_in_macro_def)] // `crate::` in the macros means the backend expanding them, on purpose.

use crate::{SqlRow, corrupt};
use chrono::{DateTime, Utc};
pub use chrono_tz::Tz;
use cityserve_domain::report::{self, ContactFacts, Delta};
use cityserve_domain::{Channel, DepartmentId, FeedbackKind, RecoveryKind};
use cityserve_store::StoreResult;
use std::collections::HashMap;

/// The rollups' time zone and the version of the counters' definitions they were built under.
pub const SELECT_ROLLUP_ZONE: &str = "SELECT time_zone, version FROM rollup_zone WHERE zone_id = 1";
/// Records a rebuild: its zone (`$1`), version (`$2`) and time (`$3`).
pub const SET_ROLLUP_ZONE: &str =
    "UPDATE rollup_zone SET time_zone = $1, version = $2, built_at = $3 WHERE zone_id = 1";
/// Empties the counters before a rebuild.
pub const CLEAR_ROLLUPS: [&str; 2] = ["DELETE FROM rollups", "DELETE FROM rollups_monthly"];
/// What every contact counts, except the copies of complaints that accepted hand-offs put in
/// the receiving department (the resident contacted the city once: the sender's contact counts).
pub const CONTACT_FACTS: &str =
    "SELECT department_id, kind, channel, csat, nps, category_id, internal_customer, occurred_at, received_at,
         touchpoint_id, served_by
     FROM feedback f
     WHERE NOT EXISTS (SELECT 1 FROM cases c
                       WHERE c.department_id = f.department_id AND c.case_id = f.feedback_id AND c.path IS NOT NULL)";
/// Every case.
pub const ALL_CASES: &str = concat!("SELECT ", case_columns!(), " FROM cases");
/// Every recovery action (case entries other than notes).
pub const RECOVERY_FACTS: &str = "SELECT department_id, kind, at FROM case_entries WHERE kind <> 'note'";
/// Every hand-off: sent, and accepted as a ping-pong.
pub const HANDOFF_FACTS: &str =
    "SELECT department_id, to_department, create_time, status, ping_pong, respond_time FROM handoffs";
/// Every moment-of-truth observation.
pub fn observation_facts() -> String {
    format!("SELECT {} FROM observations", crate::observations::OBSERVATION_COLUMNS)
}
/// Every recognition.
pub const RECOGNITION_FACTS: &str = "SELECT department_id, officer_id, create_time FROM recognitions";
/// Every theme on a piece of feedback, with when the contact occurred.
pub const THEME_FACTS: &str = "SELECT ft.department_id, ft.theme_id, f.occurred_at, f.received_at
     FROM feedback_themes ft
     JOIN feedback f ON f.department_id = ft.department_id AND f.feedback_id = ft.feedback_id";
/// Every escalation.
pub const ESCALATION_FACTS: &str = "SELECT department_id, create_time FROM escalations";

/// A [`SELECT_ROLLUP_ZONE`] row: the zone and the version.
pub fn zone_row(row: &impl SqlRow) -> StoreResult<(Tz, i64)> {
    let zone = row.text("time_zone")?.parse::<Tz>().map_err(|_| corrupt("rollup_zone.time_zone"))?;
    Ok((zone, row.int("version")?))
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// The zone the counters are now keyed in.
    pub zone: Tz,
    /// Counter rows written (daily keys).
    pub counters: usize,
    /// Raw rows read.
    pub rows: u64,
}

/// The counters a rebuild sums, per department, local day and metric.
#[derive(Debug)]
pub struct Sums {
    zone: Tz,
    sums: HashMap<(DepartmentId, i64, String), i64>,
    rows: u64,
}

impl Sums {
    /// Empty sums keyed by local days of `zone`.
    pub fn new(zone: Tz) -> Self {
        Sums { zone, sums: HashMap::new(), rows: 0 }
    }

    fn add(&mut self, deltas: Vec<Delta>) {
        self.rows += 1;
        for d in deltas {
            *self.sums.entry((d.department, d.day, d.metric)).or_default() += d.value;
        }
    }

    /// Adds a [`CONTACT_FACTS`] row.
    pub fn contact(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let department = row.id("department_id", DepartmentId::parse)?;
        let (touchpoint, officer) = (row.opt_text("touchpoint_id")?, row.opt_text("served_by")?);
        let facts = ContactFacts {
            department: &department,
            kind: row.word("kind", FeedbackKind::parse)?,
            channel: row.word("channel", Channel::parse)?,
            csat: row.opt_int32("csat")?,
            nps: row.opt_int32("nps")?,
            categorized: row.opt_text("category_id")?.is_some(),
            internal: row.opt_text("internal_customer")?.is_some(),
            occurred_at: row.time("occurred_at")?,
            touchpoint: touchpoint.as_deref(),
            officer: officer.as_deref(),
        };
        let deltas = report::contact_deltas(facts, row.time("received_at")?, self.zone);
        self.add(deltas);
        Ok(())
    }

    /// Adds an [`ALL_CASES`] row.
    pub fn case(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let case = crate::rows::case(row)?;
        self.add(report::case_contribution(&case, self.zone));
        Ok(())
    }

    /// Adds a [`RECOVERY_FACTS`] row.
    pub fn recovery(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let department = row.id("department_id", DepartmentId::parse)?;
        let kind = row.word("kind", RecoveryKind::parse)?;
        self.add(report::recovery_deltas(&department, kind, row.time("at")?, self.zone));
        Ok(())
    }

    /// Adds a [`HANDOFF_FACTS`] row.
    pub fn handoff(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let (from, to) = (row.id("department_id", DepartmentId::parse)?, row.id("to_department", DepartmentId::parse)?);
        let mut deltas = report::handoff_sent_deltas(&from, &to, row.time("create_time")?, self.zone);
        if row.text("status")? == "accepted" && row.flag("ping_pong")? {
            let at = row.opt_time("respond_time")?.ok_or_else(|| corrupt("handoffs.respond_time"))?;
            deltas.extend(report::ping_pong_deltas(&from, &to, at, self.zone));
        }
        self.add(deltas);
        Ok(())
    }

    /// Adds an [`observation_facts`] row.
    pub fn observation(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let o = crate::observations::observation(row)?;
        self.add(report::observation_deltas(&o, self.zone));
        Ok(())
    }

    /// Adds a [`RECOGNITION_FACTS`] row.
    pub fn recognition(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let department = row.id("department_id", DepartmentId::parse)?;
        let officer = row.text("officer_id")?;
        self.add(report::recognition_deltas(&department, &officer, row.time("create_time")?, self.zone));
        Ok(())
    }

    /// Adds a [`THEME_FACTS`] row.
    pub fn theme(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let department = row.id("department_id", DepartmentId::parse)?;
        let theme = row.text("theme_id")?;
        let (occurred, received) = (row.time("occurred_at")?, row.time("received_at")?);
        self.add(report::theme_deltas(&department, &theme, occurred, received, 1, self.zone));
        Ok(())
    }

    /// Adds an [`ESCALATION_FACTS`] row.
    pub fn escalation(&mut self, row: &impl SqlRow) -> StoreResult<()> {
        let department = row.id("department_id", DepartmentId::parse)?;
        self.add(report::escalation_deltas(&department, row.time("create_time")?, self.zone));
        Ok(())
    }

    /// The summed counters (zeros left out), in key order, and how many raw rows went in.
    pub fn into_deltas(self) -> (Vec<Delta>, u64) {
        let mut out: Vec<Delta> = self
            .sums
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|((department, day, metric), value)| Delta { department, day, metric, value })
            .collect();
        out.sort_by(|a, b| (&a.department, a.day, &a.metric).cmp(&(&b.department, b.day, &b.metric)));
        (out, self.rows)
    }
}

/// The time a rebuild records.
pub fn built_at() -> DateTime<Utc> {
    cityserve_store::now_micros()
}

/// The rollups' helpers, expanded at a backend's crate root: `rollup_zone` (what every write
/// keys its counters by) and `rebuild_rollups` (in the caller's transaction, which must see every
/// department: the Chief's; `read` counts the raw rows read). They run on `crate::Conn` and write with `crate::apply_deltas`.
#[macro_export]
macro_rules! rollup_rebuild {
    () => {
        /// The time zone the rollups are keyed in, read in the caller's transaction.
        pub(crate) async fn rollup_zone(conn: &mut crate::Conn) -> cityserve_store::StoreResult<$crate::rollups::Tz> {
            let row =
                sqlx::query($crate::rollups::SELECT_ROLLUP_ZONE).fetch_one(&mut *conn).await.map_err(crate::db_err)?;
            Ok($crate::rollups::zone_row(&row)?.0)
        }

        /// The rollups' zone and version, read in the caller's transaction.
        pub(crate) async fn rollup_state(
            conn: &mut crate::Conn,
        ) -> cityserve_store::StoreResult<($crate::rollups::Tz, i64)> {
            let row =
                sqlx::query($crate::rollups::SELECT_ROLLUP_ZONE).fetch_one(&mut *conn).await.map_err(crate::db_err)?;
            $crate::rollups::zone_row(&row)
        }

        /// Rewrites every counter from the raw rows, keyed by local days of `zone`, and records
        /// `zone` and the code's version, in the caller's transaction.
        pub(crate) async fn rebuild_rollups(
            conn: &mut crate::Conn,
            zone: $crate::rollups::Tz,
            read: &std::sync::atomic::AtomicU64,
        ) -> cityserve_store::StoreResult<$crate::rollups::Rebuilt> {
            use $crate::futures::TryStreamExt;
            for sql in $crate::rollups::CLEAR_ROLLUPS {
                sqlx::query(sql).execute(&mut *conn).await.map_err(crate::db_err)?;
            }
            let mut sums = $crate::rollups::Sums::new(zone);
            {
                let mut rows = sqlx::query($crate::rollups::CONTACT_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.contact(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::ALL_CASES).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.case(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::RECOVERY_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.recovery(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::HANDOFF_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.handoff(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::ESCALATION_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.escalation(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::RECOGNITION_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.recognition(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let sql = $crate::rollups::observation_facts();
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.observation(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            {
                let mut rows = sqlx::query($crate::rollups::THEME_FACTS).fetch(&mut *conn);
                while let Some(row) = rows.try_next().await.map_err(crate::db_err)? {
                    sums.theme(&row)?;
                    read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let (deltas, rows) = sums.into_deltas();
            // Written in slices: one statement's parameters stay bounded.
            for chunk in deltas.chunks(2_000) {
                crate::apply_deltas(conn, chunk).await?;
            }
            sqlx::query($crate::rollups::SET_ROLLUP_ZONE)
                .bind(zone.name())
                .bind(cityserve_domain::report::ROLLUP_VERSION)
                .bind(crate::at($crate::rollups::built_at()))
                .execute(&mut *conn)
                .await
                .map_err(crate::db_err)?;
            Ok($crate::rollups::Rebuilt { zone, counters: deltas.len(), rows })
        }
    };
}
