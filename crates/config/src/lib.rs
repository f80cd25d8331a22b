//! The config service: typed settings with history and optimistic
//! concurrency, and reference data (currencies, units, tax rates).
//!
//! - [`domain`]: pure rules (key syntax, scopes, value types and the check
//!   of a value against its type, reference codes), unit-tested.
//! - `store`: the SQL for this service's tables (`migrations/`), and the
//!   triggers that make `config_history` append-only in the database.
//! - `ops`: the writes; each changes the row, appends history and
//!   publishes its event in one transaction.
//! - `api`: the HTTP handlers under `/api/config/...`.
//! - [`events`]: `config.setting.changed`, `config.reference.changed`.
//! - [`consul_mirror`]: with `CONSUL_ADDR`, the settings mirrored into
//!   Consul KV under `marimo/config/` (the database stays the source of
//!   truth).

use axum::{Router, http::StatusCode};
use marimo_platform::{
    ApiError,
    db::DbError,
    discovery::consul::ConsulClient,
    http::ServiceApp,
    service::{ServiceContext, StartError},
};
use serde_json::json;

mod api;
pub mod consul_mirror;
pub mod domain;
pub mod events;
mod ops;
mod store;

/// Everything the config service can fail with, mapped to HTTP in one
/// place (`From<ConfigError> for ApiError`).
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
            ConfigError::Invalid(i) => {
                ApiError::validation(i.message).with_details(json!({"field": i.field}))
            }
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

/// Runs migrations (and the history triggers), seeds the default settings
/// and reference data, starts the Consul KV mirror when `CONSUL_ADDR` is
/// set, and returns the service's router.
pub async fn router(ctx: ServiceContext) -> Result<Router, StartError> {
    let db = ctx.db.clone().ok_or(ConfigError::NoDatabase)?;
    store::prepare(&db).await?;
    ops::seed(&db, &ctx.outbox).await?;
    if let Some(client) = ConsulClient::from_settings(&ctx.settings) {
        let client = client.map_err(|e| format!("CONSUL_ADDR: {e}"))?;
        consul_mirror::start(db.clone(), &ctx, client).await?;
    }
    let api = api::routes(api::AppState {
        db,
        outbox: ctx.outbox.clone(),
    });
    Ok(ServiceApp::new(&ctx).router(api))
}
