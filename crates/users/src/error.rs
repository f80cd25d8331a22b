//! The users service's one error type and its mapping to the platform's
//! error shape, written once. Printable for the CLI too
//! (`marimo admin create-user`).

use axum::http::StatusCode;
use marimo_platform::{ApiError, ErrorCode, auth::password, db::DbError};
use serde_json::json;

use crate::domain;

/// Everything the users service can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// 400: a field breaks a rule (details: `field`, `rule`).
    #[error("{0}")]
    Invalid(#[from] domain::Invalid),
    /// 409 on `email`.
    #[error("an account with the email {0} already exists")]
    DuplicateEmail(String),
    /// 401 on sign-in: never says whether the email exists.
    #[error("invalid email or password")]
    BadCredentials,
    /// 429 with `Retry-After`: sign-in is closed by the brute-force delay.
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// 403 `ACCOUNT_DEACTIVATED`: the right password of a deactivated
    /// account (only its owner learns that).
    #[error("this account is deactivated; contact an administrator")]
    AccountDeactivated,
    /// 401: a token that no longer grants access (its account is gone or
    /// deactivated, a refresh token that is unknown, expired, revoked or
    /// reused), or no identity where one is needed. The message says which.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// 403: the account's role, as stored now, does not allow the action.
    #[error("your role does not allow this action")]
    Forbidden,
    /// 403 on `current_password` (change-password).
    #[error("the current password is incorrect")]
    WrongCurrentPassword,
    /// 404.
    #[error("no such user")]
    NoSuchUser,
    /// 404: the tenant named does not exist, or the caller is not a
    /// member of it (the same answer, so tenants cannot be enumerated).
    #[error("no such tenant")]
    NoSuchTenant,
    /// 409 on sign-up: the slug or the email is in use. One answer for
    /// both, so sign-up does not tell which emails have accounts.
    #[error("this business slug or email is already in use")]
    Taken,
    /// 404: self-service sign-up is turned off (`MARIMO_SIGNUP=off`).
    #[error("self-service sign-up is not available")]
    SignupOff,
    /// 409 with the reason.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("the users service was started without a database")]
    NoDatabase,
    #[error(transparent)]
    Migrate(#[from] DbError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] password::PasswordError),
}

impl From<UsersError> for ApiError {
    fn from(err: UsersError) -> Self {
        match err {
            UsersError::Invalid(i) => i.into(),
            UsersError::DuplicateEmail(_) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict.as_str(),
                "an account with this email already exists",
            )
            .with_details(json!({"field": "email"})),
            UsersError::BadCredentials | UsersError::Unauthenticated(_) => {
                ApiError::unauthorized(err.to_string())
            }
            UsersError::TooManyAttempts { retry_after_secs } => {
                let mut e = ApiError::rate_limited(retry_after_secs);
                e.message = err.to_string();
                e
            }
            UsersError::AccountDeactivated => ApiError::new(
                StatusCode::FORBIDDEN,
                "ACCOUNT_DEACTIVATED",
                err.to_string(),
            ),
            UsersError::Forbidden => ApiError::forbidden(err.to_string()),
            UsersError::WrongCurrentPassword => ApiError::forbidden(err.to_string())
                .with_details(json!({"field": "current_password"})),
            UsersError::NoSuchUser | UsersError::NoSuchTenant | UsersError::SignupOff => {
                ApiError::not_found(err.to_string())
            }
            UsersError::Taken => ApiError::conflict(err.to_string()),
            UsersError::Conflict(why) => ApiError::conflict(why),
            UsersError::Database(e) => e.into(),
            UsersError::Password(e) => {
                tracing::error!(error = %e, "password hashing failed");
                ApiError::internal("internal error")
            }
            UsersError::NoDatabase | UsersError::Migrate(_) => {
                tracing::error!(error = %err, "users service misconfigured");
                ApiError::internal("internal error")
            }
        }
    }
}
