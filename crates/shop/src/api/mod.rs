//! HTTP handlers under `/api/shop/...`: parse, authorize, call the use
//! cases or the store, respond. Every error is an `ApiError` (the one JSON
//! shape); no handler panics on any input: garbage ids are 404, bad
//! decimals and numbers 400.
//!
//! - [`catalog`]: the public catalog (products, categories).
//! - [`orders`]: placing, reading and moving the caller's orders.
//! - [`payments`]: the payment provider's signed callback.
//! - [`admin`]: products and orders for shop managers and admins, and the
//!   dashboard summary.

use std::sync::Arc;

use axum::{
    Router,
    extract::{FromRequestParts, Path},
    handler::Handler,
    http::{Method, request::Parts},
    routing::{get, post, put},
};
use marimo_platform::{ApiError, http::cache_control};

use crate::app::Shop;

mod admin;
mod catalog;
mod orders;
pub mod payments;
mod views;

pub(crate) type AppState = Arc<Shop>;

fn public() -> cache_control::Policy {
    cache_control::policy(cache_control::PUBLIC)
}

/// Routes whose handlers claim the `Idempotency-Key` inside the
/// transaction of their effect (an order's stock reservation, a payment's
/// capture): the platform's layer leaves them alone.
pub(crate) const IN_TRANSACTION: &[(Method, &str)] = &[
    (Method::POST, "/api/shop/orders"),
    (Method::POST, "/api/shop/orders/{id}/pay"),
];

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        // The catalogue answers everyone alike, signed in or not.
        .route("/api/shop/products", get(catalog::list.layer(public())))
        .route("/api/shop/products/{id}", get(catalog::get.layer(public())))
        .route(
            "/api/shop/categories",
            get(catalog::categories.layer(public())),
        )
        .route("/api/shop/orders", post(orders::place).get(orders::mine))
        .route("/api/shop/orders/{id}", get(orders::get))
        .route("/api/shop/orders/{id}/pay", post(orders::pay))
        .route("/api/shop/payments/callback", post(payments::callback))
        .route("/api/shop/orders/{id}/ship", post(orders::ship))
        .route("/api/shop/orders/{id}/deliver", post(orders::deliver))
        .route("/api/shop/orders/{id}/cancel", post(orders::cancel))
        .route("/api/shop/summary", get(admin::summary))
        .route(
            "/api/shop/admin/products",
            get(admin::products).post(admin::create_product),
        )
        .route(
            "/api/shop/admin/products/{id}",
            put(admin::update_product).delete(admin::delete_product),
        )
        .route(
            "/api/shop/admin/products/{id}/restock",
            post(admin::restock),
        )
        .route("/api/shop/admin/orders", get(admin::orders))
        .route("/api/shop/admin/settings", get(admin::settings))
        .with_state(state)
}

/// The `{id}` of a path. Whether it names anything is for the use case to
/// say (404); a segment axum cannot even decode is a 404 too, in the one
/// error shape rather than axum's plain-text rejection.
struct IdParam(String);

impl<S: Send + Sync> FromRequestParts<S> for IdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::not_found("not found"))
    }
}
