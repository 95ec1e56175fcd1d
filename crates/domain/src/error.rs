//! The domain's error type.
use crate::validation::ValidationError;

/// Why a domain rule rejected an operation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    /// The input broke one or more field rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The operation is not allowed in the resource's current state.
    #[error("{0}")]
    FailedPrecondition(String),
}
