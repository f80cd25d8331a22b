//! The worker's one error type and its mapping to the platform's error
//! shape, written once. (Consumers answer the bus with its
//! `HandlerError`; start-up problems are the platform's `StartError`.)

use marimo_platform::ApiError;
use serde_json::json;

use crate::domain::webhook;

/// What the worker's API can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// 400 naming the field (a webhook registration, a filter).
    #[error("{}", .0.message)]
    Invalid(webhook::Invalid),
    /// 404 with what is missing (`no such webhook`, `no such notification`).
    #[error("{0}")]
    NotFound(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The broker (or a consuming service's database) could not be asked.
    #[error("{0}")]
    Bus(#[from] marimo_platform::bus::BusError),
}

// By hand: `#[from]` would make the rule a `source`, which needs
// `std::error::Error` on a plain domain value.
impl From<webhook::Invalid> for WorkerError {
    fn from(i: webhook::Invalid) -> Self {
        Self::Invalid(i)
    }
}

impl From<WorkerError> for ApiError {
    fn from(err: WorkerError) -> Self {
        match err {
            WorkerError::Invalid(i) => {
                ApiError::validation(i.message).with_details(json!({"field": i.field}))
            }
            WorkerError::NotFound(what) => ApiError::not_found(what),
            WorkerError::Database(e) => e.into(),
            WorkerError::Bus(e) => bus_error(e),
        }
    }
}

/// A dead-letter operation the broker could not do: a bad queue name is
/// the client's (400); a broker or database away, or a replay it refused,
/// is a 503 to retry.
fn bus_error(e: marimo_platform::bus::BusError) -> ApiError {
    use marimo_platform::bus::BusError;
    match e {
        BusError::Invalid(why) => ApiError::validation(why),
        BusError::Db(e) => e.into(),
        BusError::Unavailable(why) | BusError::Refused(why) => {
            tracing::warn!(error = %why, "dead letters unavailable");
            ApiError::unavailable("the broker is unavailable, try again shortly").retry_after(1)
        }
    }
}
