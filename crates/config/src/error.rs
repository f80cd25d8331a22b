//! The config service's one error type and its mapping to the platform's
//! error shape, written once.

use axum::http::StatusCode;
use marimo_platform::{ApiError, db::DbError};
use serde_json::json;

use crate::domain;

/// Everything the config service can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(#[from] domain::Invalid),
    #[error("no setting '{0}'")]
    NotFound(String),
    #[error("setting '{key}' is not at version {expected:?} (current: {current:?})")]
    VersionConflict {
        key: String,
        expected: Option<i64>,
        current: Option<i64>,
    },
    #[error("the config service was started without a database")]
    NoDatabase,
    #[error(transparent)]
    Migrate(#[from] DbError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<ConfigError> for ApiError {
    fn from(err: ConfigError) -> Self {
        match err {
            ConfigError::Invalid(i) => i.into(),
            ConfigError::NotFound(_) => ApiError::not_found("no such configuration key"),
            ConfigError::VersionConflict {
                key,
                expected,
                current,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "VERSION_CONFLICT",
                "the setting was changed by someone else; reload it and retry",
            )
            .with_details(json!({
                "key": key,
                "expected_version": expected,
                "current_version": current,
            })),
            ConfigError::Database(e) => e.into(),
            ConfigError::NoDatabase | ConfigError::Migrate(_) => {
                tracing::error!(error = %err, "config service misconfigured");
                ApiError::internal("internal error")
            }
        }
    }
}
