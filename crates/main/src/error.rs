//! The main service's one error type and its mapping to the platform's
//! error shape, written once. A service that is down or slow is not an
//! error here: it makes the dashboard degraded (see `domain::Known`).

use marimo_platform::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum MainError {
    /// 401: the verified token could not be read back to forward it.
    #[error("sign in first: missing bearer token")]
    MissingBearer,
    /// At start-up: the HTTP clients to the other services.
    #[error("cannot build the service clients: {0}")]
    Client(#[from] reqwest::Error),
}

impl From<MainError> for ApiError {
    fn from(err: MainError) -> Self {
        match err {
            MainError::MissingBearer => ApiError::unauthorized(err.to_string()),
            MainError::Client(e) => {
                tracing::error!(error = %e, "main service misconfigured");
                ApiError::internal("internal error")
            }
        }
    }
}
