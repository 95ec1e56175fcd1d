//! Resident notices: delivery of case notices by e-mail and SMS.
pub mod send;
mod worker;

pub use worker::{LEASE, Notifier, Settings, SurveySettings};
