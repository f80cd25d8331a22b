//! HTTP handlers under `/api/v1/shop/...`: parse, authorize, call the use
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
    extract::{FromRequestParts, Path},
    http::{HeaderValue, Method, header, request::Parts},
    response::Response,
};
use marimo_platform::{ApiError, http::cache_control, openapi};
use utoipa_axum::{
    router::{OpenApiRouter, UtoipaMethodRouter},
    routes,
};

use crate::app::Shop;

mod admin;
mod catalog;
mod orders;
pub mod payments;
mod views;

pub(crate) type AppState = Arc<Shop>;

/// The catalogue answers everyone of one shop alike, signed in or not:
/// any cache may keep it for a minute, per tenant. The tenant comes from
/// the token or the `X-Marimo-Tenant` header, so the answer varies with
/// both and a cache must key on them (`Vary`).
fn public(r: UtoipaMethodRouter<AppState>) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = r;
    (
        schemas,
        paths,
        method_router
            .layer(cache_control::policy(cache_control::PUBLIC))
            .layer(axum::middleware::map_response(vary_by_tenant)),
    )
}

async fn vary_by_tenant(mut res: Response) -> Response {
    res.headers_mut().append(
        header::VARY,
        HeaderValue::from_static("authorization, x-marimo-tenant"),
    );
    res
}

/// Routes whose handlers claim the `Idempotency-Key` inside the
/// transaction of their effect (an order's stock reservation, a payment's
/// capture): the platform's layer leaves them alone.
pub(crate) const IN_TRANSACTION: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/shop/orders"),
    (Method::POST, "/api/v1/shop/orders/{id}/pay"),
];

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "shop",
        "The online shop: the public catalog, orders with stock reservations and their lifecycle (pending → paid → shipped → delivered, or cancelled/expired), the payment provider's signed callback, and products and orders for shop managers and admins.",
    ))
    .routes(public(routes!(catalog::list)))
    .routes(public(routes!(catalog::get)))
    .routes(public(routes!(catalog::categories)))
    .routes(routes!(orders::place, orders::mine))
    .routes(routes!(orders::get))
    .routes(routes!(orders::pay))
    .routes(routes!(payments::callback))
    .routes(routes!(orders::ship))
    .routes(routes!(orders::deliver))
    .routes(routes!(orders::cancel))
    .routes(routes!(admin::summary))
    .routes(routes!(admin::products, admin::create_product))
    .routes(routes!(admin::update_product, admin::delete_product))
    .routes(routes!(admin::restock))
    .routes(routes!(admin::orders))
    .routes(routes!(admin::settings))
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
