//! The factory's one error type, [`FactoryError`], and its mapping to the
//! platform's error shape, written once: rules answer 400/404/409/422
//! with their codes and details, the database whatever `ApiError` decides
//! for `sqlx::Error`, a broken internal rule a logged 500.

use axum::http::StatusCode;
use marimo_platform::{ApiError, Invalid, idempotency};
use serde_json::{Value, json};

use crate::domain::{self, bom::format_path, work_order::InvalidTransition};

/// One component the stock cannot cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub sku: String,
    pub warehouse: String,
    /// Thousandths.
    pub required: i64,
    pub available: i64,
}

/// Everything the factory can fail with, mapped to HTTP in one place.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    NotFound(String),
    /// 409 with a domain code (duplicates, stock changes that conflict).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    /// 422 with a domain code (references and rules: unknown unit, no BOM).
    #[error("{message}")]
    Unprocessable {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("insufficient stock for {} item(s)", .0.len())]
    InsufficientStock(Vec<Shortage>),
    #[error("{0}")]
    Transition(#[from] InvalidTransition),
    #[error("the bill of materials would form a cycle: {}", format_path(.0))]
    BomCycle(Vec<String>),
    /// 422: an `Idempotency-Key` sent again with another request.
    #[error("the Idempotency-Key was used with a different request")]
    KeyReused,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A rule the code relies on did not hold (logged, 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl FactoryError {
    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(what.into())
    }

    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub(crate) fn too_large(what: &str) -> Self {
        Self::unprocessable(
            "TOO_LARGE",
            format!("{what} exceeds what the factory can hold"),
        )
    }
}

impl From<FactoryError> for ApiError {
    fn from(err: FactoryError) -> Self {
        let with = |e: ApiError, d: Option<Value>| match d {
            Some(d) => e.with_details(d),
            None => e,
        };
        match err {
            FactoryError::Invalid(i) => i.into(),
            FactoryError::NotFound(m) => ApiError::not_found(m),
            FactoryError::Conflict {
                code,
                message,
                details,
            } => with(ApiError::new(StatusCode::CONFLICT, code, message), details),
            FactoryError::Unprocessable {
                code,
                message,
                details,
            } => with(
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message),
                details,
            ),
            FactoryError::InsufficientStock(list) => {
                let shortages: Vec<Value> = list
                    .iter()
                    .map(|s| {
                        json!({
                            "sku": s.sku,
                            "warehouse": s.warehouse,
                            "required": domain::qty::format(s.required),
                            "available": domain::qty::format(s.available),
                        })
                    })
                    .collect();
                let skus: Vec<&str> = list.iter().map(|s| s.sku.as_str()).collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    "INSUFFICIENT_STOCK",
                    format!("not enough stock available of {}", skus.join(", ")),
                )
                .with_details(json!({ "shortages": shortages }))
            }
            FactoryError::Transition(t) => {
                ApiError::new(StatusCode::CONFLICT, "INVALID_TRANSITION", t.to_string())
                    .with_details(json!({"status": t.from.as_str(), "action": t.action.as_str()}))
            }
            FactoryError::BomCycle(path) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "BOM_CYCLE",
                format!(
                    "this bill of materials would make a product need itself: {}",
                    format_path(&path)
                ),
            )
            .with_details(json!({"cycle": format_path(&path), "path": path})),
            FactoryError::KeyReused => idempotency::key_reused(),
            FactoryError::Db(e) => e.into(),
            FactoryError::Internal(why) => {
                tracing::error!(%why, "factory invariant broken");
                ApiError::internal("internal error")
            }
        }
    }
}
