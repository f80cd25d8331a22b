//! Everything the shop can refuse or fail with, mapped to the one error
//! shape in one place (`From<ShopError> for ApiError`).

use axum::http::StatusCode;
use marimo_platform::{ApiError, ErrorCode, idempotency};
use serde_json::json;

use crate::domain::{
    Invalid,
    order::{IllegalTransition, Status},
};

#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// 400: a field breaks a rule.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// 404 with the message (`no such product`, `no such order`).
    #[error("{0}")]
    NotFound(&'static str),
    /// 403 with the reason.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 422: the product does not exist (or is not for sale).
    #[error("product {product_id} is not in the catalog")]
    UnknownProduct { product_id: String },
    #[error("'{name}' ({product_id}) is no longer for sale")]
    InactiveProduct { product_id: String, name: String },
    /// 422: one order, one currency.
    #[error("the products of one order must share a currency")]
    MixedCurrencies { currencies: Vec<String> },
    /// 409: fewer units available than requested; nothing was reserved.
    #[error("not enough stock for '{name}': {requested} requested, {available} available")]
    InsufficientStock {
        product_id: String,
        name: String,
        requested: i64,
        available: i64,
    },
    /// 409: the price changed while the order was being placed (a
    /// concurrent catalog edit); nothing was placed, a retry sees the new
    /// price.
    #[error("the price of '{name}' changed while ordering; please review and order again")]
    PriceChanged { product_id: String, name: String },
    /// 409: not an edge of the order lifecycle.
    #[error("an order cannot go from {} to {}", .0.from, .0.to)]
    InvalidTransition(IllegalTransition),
    /// 422: a provider callback's amount or currency is not the order's.
    #[error("the payment's amount or currency does not match the order")]
    PaymentMismatch,
    /// 401: a payment callback that is not signed, stale or not ours.
    #[error("{0}")]
    CallbackRefused(&'static str),
    /// 422: the Idempotency-Key was used with another request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// 409: the sku belongs to another product.
    #[error("the sku {0} is already used by another product")]
    DuplicateSku(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A rule the code relies on did not hold (logged, 500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ShopError {
    pub fn illegal(from: Status, to: Status) -> Self {
        Self::InvalidTransition(IllegalTransition { from, to })
    }
}

impl From<ShopError> for ApiError {
    fn from(err: ShopError) -> Self {
        let message = err.to_string();
        match err {
            ShopError::Invalid(i) => i.into(),
            ShopError::NotFound(m) => ApiError::not_found(m),
            ShopError::Forbidden(m) => ApiError::forbidden(m),
            ShopError::UnknownProduct { product_id } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PRODUCT_UNAVAILABLE",
                message,
            )
            .with_details(json!({"product_id": product_id, "reason": "unknown"})),
            ShopError::InactiveProduct { product_id, name } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PRODUCT_UNAVAILABLE",
                message,
            )
            .with_details(json!({"product_id": product_id, "name": name, "reason": "inactive"})),
            ShopError::MixedCurrencies { currencies } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "MIXED_CURRENCIES",
                message,
            )
            .with_details(json!({"currencies": currencies})),
            ShopError::InsufficientStock {
                product_id,
                name,
                requested,
                available,
            } => ApiError::new(StatusCode::CONFLICT, "INSUFFICIENT_STOCK", message).with_details(
                json!({
                    "product_id": product_id,
                    "name": name,
                    "requested": requested,
                    "available": available,
                }),
            ),
            ShopError::PriceChanged { product_id, name } => {
                ApiError::new(StatusCode::CONFLICT, "PRICE_CHANGED", message)
                    .with_details(json!({"product_id": product_id, "name": name}))
            }
            ShopError::InvalidTransition(t) => {
                ApiError::new(StatusCode::CONFLICT, "INVALID_TRANSITION", message)
                    .with_details(json!({"from": t.from, "to": t.to}))
            }
            ShopError::PaymentMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "PAYMENT_MISMATCH",
                message,
            ),
            ShopError::CallbackRefused(m) => ApiError::unauthorized(m),
            ShopError::IdempotencyMismatch => idempotency::key_reused(),
            ShopError::DuplicateSku(sku) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::Conflict.as_str(), message)
                    .with_details(json!({"field": "sku", "sku": sku}))
            }
            ShopError::Database(e) => e.into(),
            ShopError::Internal(e) => {
                tracing::error!(error = %e, "shop invariant broken");
                ApiError::internal("internal error")
            }
        }
    }
}
