//! Service accounts: the city's internal applications (a 311 CRM, a work-order system, a survey
//! vendor's uploader) registered by the Chief, with the departments each may act for. A service
//! token is honoured only for a registered, active account and only for the departments the
//! account allows: signing a token is not enough to name a department.
pub use crate::ids::ServiceAccountId;
use crate::{DepartmentId, ValidationError};
use chrono::{DateTime, Utc};

/// Whether an account's tokens are honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceAccountStatus {
    /// Its tokens act for its departments.
    Active,
    /// Its tokens are refused.
    Inactive,
}

impl ServiceAccountStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAccountStatus::Active => "active",
            ServiceAccountStatus::Inactive => "inactive",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(ServiceAccountStatus::Active),
            "inactive" => Some(ServiceAccountStatus::Inactive),
            _ => None,
        }
    }
}

/// A registered internal application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// The ID: the `sub` of its development service tokens.
    pub id: ServiceAccountId,
    /// What it is, e.g. "311 CRM (Salesforce)".
    pub display_name: String,
    /// The departments it may act for (at least one).
    pub departments: Vec<DepartmentId>,
    /// The `sub` of its OAuth client-credentials tokens at the city's identity provider (empty:
    /// none); unique city-wide.
    pub client_id: String,
    /// Active or inactive.
    pub status: ServiceAccountStatus,
    /// When registered.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Revision counter (etag).
    pub revision: i64,
}

impl ServiceAccount {
    /// Why a token naming this account with `claimed` departments is refused, if it is: an
    /// inactive account, or a department the account does not allow.
    pub fn refuses(&self, claimed: &[DepartmentId]) -> Option<String> {
        if self.status != ServiceAccountStatus::Active {
            return Some(format!("service account {} is inactive", self.id));
        }
        claimed
            .iter()
            .find(|d| !self.departments.contains(d))
            .map(|d| format!("service account {} may not act for departments/{d}", self.id))
    }
}

/// Checks an account's departments: 1 to 50, no repeats; returned sorted.
pub fn account_departments(field: &str, ids: &[DepartmentId]) -> Result<Vec<DepartmentId>, ValidationError> {
    if ids.is_empty() || ids.len() > 50 {
        return Err(ValidationError::one(field, "must name 1-50 departments"));
    }
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != ids.len() {
        return Err(ValidationError::one(field, "must not name a department twice"));
    }
    Ok(sorted)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn d(s: &str) -> DepartmentId {
        DepartmentId::parse("d", s).unwrap()
    }

    #[test]
    fn an_account_acts_only_while_active_and_only_for_its_departments() {
        let t = Utc::now();
        let mut a = ServiceAccount {
            id: ServiceAccountId::parse("id", "crm").unwrap(),
            display_name: "CRM".into(),
            departments: vec![d("streets"), d("water")],
            client_id: String::new(),
            status: ServiceAccountStatus::Active,
            create_time: t,
            update_time: t,
            revision: 1,
        };
        assert_eq!(a.refuses(&[d("water")]), None);
        assert_eq!(a.refuses(&[d("water"), d("streets")]), None);
        assert_eq!(a.refuses(&[d("parks")]), Some("service account crm may not act for departments/parks".into()));
        a.status = ServiceAccountStatus::Inactive;
        assert_eq!(a.refuses(&[d("water")]), Some("service account crm is inactive".into()));
        assert!(account_departments("d", &[]).is_err());
        assert!(account_departments("d", &[d("aa"), d("aa")]).is_err());
        assert_eq!(account_departments("d", &[d("bb"), d("aa")]).unwrap(), [d("aa"), d("bb")]);
    }
}
