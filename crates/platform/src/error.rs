//! The one error type of every service and its one JSON shape:
//!
//! ```json
//! {"success": false, "message": "...", "error": {"code": "VALIDATION_ERROR", "details": ...}, "request_id": "..."}
//! ```
//!
//! Handlers return [`ApiResult`]; the mapping to a status and body happens
//! here and nowhere else.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

pub type ApiResult<T> = Result<T, ApiError>;

/// Machine-readable error codes shared by all services. Domain-specific codes
/// (e.g. `PERIOD_CLOSED`) are passed as plain strings with [`ApiError::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Validation,
    InvalidJson,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    RateLimited,
    Internal,
    BadGateway,
    Unavailable,
    GatewayTimeout,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::Validation | Self::InvalidJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validation => "VALIDATION_ERROR",
            Self::InvalidJson => "INVALID_JSON",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::Conflict => "CONFLICT",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::Unprocessable => "UNPROCESSABLE",
            Self::RateLimited => "RATE_LIMITED",
            Self::Internal => "INTERNAL_ERROR",
            Self::BadGateway => "BAD_GATEWAY",
            Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::GatewayTimeout => "GATEWAY_TIMEOUT",
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a domain-specific code, e.g. `(CONFLICT, "PERIOD_CLOSED", ..)`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code.status(), code.as_str(), message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Validation, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Conflict, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Unprocessable, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Unavailable, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::Internal, message)
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::of(ErrorCode::RateLimited, "too many requests, slow down")
            .retry_after(retry_after_secs)
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    /// The JSON body, with the current request's id when one is in scope.
    pub fn body(&self) -> Value {
        json!({
            "success": false,
            "message": self.message,
            "error": { "code": self.code, "details": self.details },
            "request_id": crate::http::request_id::current(),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(
                code = self.code,
                status = self.status.as_u16(),
                "{}",
                self.message
            );
        }
        let mut res = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            // The rate-limit fields of the IETF draft, as the OpenAPI
            // documents promise on 429: nothing left until the reset.
            if self.status == StatusCode::TOO_MANY_REQUESTS {
                let h = res.headers_mut();
                h.insert("ratelimit-remaining", HeaderValue::from(0u64));
                h.insert("ratelimit-reset", HeaderValue::from(secs));
            }
        }
        res
    }
}

/// Database failures: an unreachable database, a pool timeout and a
/// transaction that kept losing against others (deadlock, serialization
/// failure, lock timeout, SQLite busy — what [`crate::db::fault`] calls
/// transient) are a 503 with `Retry-After` the client may retry, never a
/// 500; constraint violations that a handler did not map itself are a 409
/// (unique) or 422 (foreign key, check, not null) with one fixed message
/// per rule, never the driver's text; anything else is a logged 500
/// without internals in the body.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::Error as E;
        if crate::db::is_conflict(&err) {
            tracing::warn!(error = %err, "transaction conflict outlasted its retries");
            return ApiError::unavailable("the database is busy, try again shortly").retry_after(1);
        }
        if crate::db::classify(&err) == crate::db::Fault::Transient {
            tracing::warn!(error = %err, "database unavailable");
            return ApiError::unavailable("the database is unavailable, try again shortly")
                .retry_after(1);
        }
        match &err {
            E::RowNotFound => ApiError::not_found("not found"),
            // The driver's text names tables, columns and constraints: it
            // is logged, and the client gets one fixed message per rule.
            E::Database(db) if db.is_unique_violation() => {
                tracing::info!(error = %err, "unique violation");
                ApiError::conflict("a record with the same unique value already exists")
            }
            E::Database(db) if db.is_foreign_key_violation() => {
                tracing::info!(error = %err, "foreign key violation");
                ApiError::unprocessable(
                    "the record refers to something that does not exist, or is still referred to",
                )
            }
            E::Database(db) if db.is_check_violation() => {
                tracing::info!(error = %err, "check violation");
                ApiError::unprocessable("a value breaks a rule of the data")
            }
            E::Database(db) if matches!(db.kind(), sqlx::error::ErrorKind::NotNullViolation) => {
                tracing::info!(error = %err, "not-null violation");
                ApiError::unprocessable("a required value is missing")
            }
            _ => {
                tracing::error!(error = %err, "database error");
                ApiError::internal("internal error")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_databases_and_lost_conflicts_are_503_with_retry_after() {
        use crate::db::fault::tests::db_error;
        for err in [
            db_error("08006"),
            db_error("57P01"),
            db_error("57P03"),
            db_error("53300"),
            db_error("40P01"),
            db_error("40001"),
            db_error("55P03"),
            db_error("5"),
            db_error("517"),
            sqlx::Error::PoolTimedOut,
        ] {
            let shown = err.to_string();
            let res = ApiError::from(err).into_response();
            assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{shown}");
            assert_eq!(res.headers()[header::RETRY_AFTER], "1", "{shown}");
        }
        for code in ["23505", "22P02", "42P01", "1"] {
            let err = ApiError::from(db_error(code));
            assert_ne!(err.status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
            assert_eq!(err.retry_after, None, "{code}");
        }
        assert_eq!(
            ApiError::from(db_error("42P01")).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    /// A driver error as PostgreSQL or SQLite would word it.
    #[derive(Debug)]
    struct Violation(sqlx::error::ErrorKind);

    impl std::fmt::Display for Violation {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(sqlx::error::DatabaseError::message(self))
        }
    }

    impl std::error::Error for Violation {}

    impl sqlx::error::DatabaseError for Violation {
        fn message(&self) -> &str {
            "new row for relation \"secret_payroll\" violates constraint \"salary_ck\""
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            match &self.0 {
                sqlx::error::ErrorKind::UniqueViolation => sqlx::error::ErrorKind::UniqueViolation,
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    sqlx::error::ErrorKind::ForeignKeyViolation
                }
                sqlx::error::ErrorKind::NotNullViolation => {
                    sqlx::error::ErrorKind::NotNullViolation
                }
                sqlx::error::ErrorKind::CheckViolation => sqlx::error::ErrorKind::CheckViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    #[test]
    fn constraint_text_never_reaches_the_client() {
        use sqlx::error::ErrorKind as K;
        let mut messages = std::collections::HashSet::new();
        for (kind, status) in [
            (K::UniqueViolation, 409),
            (K::ForeignKeyViolation, 422),
            (K::CheckViolation, 422),
            (K::NotNullViolation, 422),
            (K::Other, 500),
        ] {
            let err = ApiError::from(sqlx::Error::Database(Box::new(Violation(kind))));
            assert_eq!(err.status.as_u16(), status);
            let body = err.body().to_string();
            for leak in ["secret_payroll", "salary_ck", "relation"] {
                assert!(!body.contains(leak), "{body}");
            }
            messages.insert(err.message);
        }
        assert_eq!(messages.len(), 5, "one message per rule: {messages:?}");
    }

    #[test]
    fn body_has_the_one_shape() {
        let body = ApiError::validation("bad email")
            .with_details(json!({"field": "email"}))
            .body();
        assert_eq!(body["success"], false);
        assert_eq!(body["message"], "bad email");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"]["field"], "email");
        assert!(body.get("request_id").is_some());
    }

    #[test]
    fn rate_limited_carries_retry_after() {
        let res = ApiError::rate_limited(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        assert_eq!(res.headers()["ratelimit-remaining"], "0");
        assert_eq!(res.headers()["ratelimit-reset"], "7");
    }
}
