//! Who is calling: the identity the auth layer derives from a verified bearer token.
use crate::ids::DepartmentId;
use std::fmt;

/// The role a caller acts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The Chief Customer Service Officer: city-wide authority.
    Chief,
    /// A department's Customer Service Officer.
    Cso,
    /// Frontline staff of a department.
    Staff,
    /// Read-only auditor, city-wide.
    Auditor,
    /// An internal application bound to departments.
    Service,
}

impl Role {
    /// Every role, for exhaustive tests and CLI help.
    pub const ALL: [Role; 5] = [Role::Chief, Role::Cso, Role::Staff, Role::Auditor, Role::Service];

    /// The lowercase name used in tokens, configuration and the database session (`app.role`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Chief => "chief",
            Role::Cso => "cso",
            Role::Staff => "staff",
            Role::Auditor => "auditor",
            Role::Service => "service",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether the role acts city-wide rather than for named departments.
    pub fn is_city_wide(self) -> bool {
        matches!(self, Role::Chief | Role::Auditor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    /// The token subject: an officer ID or a service client's name. Never an e-mail address.
    pub subject: String,
    /// The role the caller acts in.
    pub role: Role,
    /// The departments the caller belongs to (empty for city-wide roles).
    pub departments: Vec<DepartmentId>,
}

impl Caller {
    /// Whether the caller belongs to `department`.
    pub fn belongs_to(&self, department: &DepartmentId) -> bool {
        self.departments.contains(department)
    }
}
