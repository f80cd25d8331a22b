//! The accounting service's one error type and its mapping to the
//! platform's error shape, written once: a broken rule ([`Rejection`],
//! from `domain`) answers 400/404/409/422 with its code and details, a
//! database failure whatever `ApiError` decides for `sqlx::Error` (503,
//! 409, 422), another service out of reach 503. Event consumers read the same type to tell permanent
//! failures (a rule) from transient ones (the database).

use axum::http::StatusCode;
use marimo_platform::ApiError;

use crate::domain::{Rejection, RejectionKind};

/// What posting can fail with: a rule (mapped to 400/404/409/422, or a
/// permanent event failure) or the database.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Another service the use case needs (the factory's valuation) did
    /// not answer usefully: 503.
    #[error("{0}")]
    Unavailable(String),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let status = match r.kind {
            RejectionKind::Invalid => StatusCode::BAD_REQUEST,
            RejectionKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            RejectionKind::Conflict => StatusCode::CONFLICT,
            RejectionKind::NotFound => StatusCode::NOT_FOUND,
        };
        let err = ApiError::new(status, r.code, r.message);
        match r.details {
            Some(d) => err.with_details(d),
            None => err,
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Rejected(r) => r.into(),
            LedgerError::Db(e) => e.into(),
            LedgerError::Unavailable(why) => ApiError::unavailable(why),
        }
    }
}

/// A posting that lost against another transaction is run again
/// (`Db::retry_conflicts`).
impl marimo_platform::db::Conflict for LedgerError {
    fn is_conflict(&self) -> bool {
        matches!(self, LedgerError::Db(e) if marimo_platform::db::is_conflict(e))
    }
}

pub type LedgerResult<T> = Result<T, LedgerError>;
