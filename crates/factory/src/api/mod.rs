//! HTTP handlers under `/api/v1/factory/...`: parse, authorize, call the
//! use case (`app`) or the store, respond (`views`). Every error is an `ApiError` (the one JSON
//! shape); no handler panics on any input: malformed SKUs and ids in paths
//! are 404, malformed bodies and queries 400.
//!
//! Roles, as the platform's named policies (`marimo_platform::auth::policy`):
//! `ProductionManagers` (managers and admins) do everything; `Staff`
//! (accountants and shop managers too) may also read items, units,
//! warehouses, stock and moves, and the dashboard summary; `StockValuers`
//! (admins, managers, accountants) read the inventory valuation. Everyone else
//! gets 403, no token 401. The check runs before the body is read, so a
//! forbidden caller learns nothing from validation.

mod boms;
mod compat;
mod items;
mod reservations;
mod stock;
mod summary;
mod valuation;
mod views;
mod work_orders;

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use marimo_platform::{ApiError, Invalid, ids, invalid::required, money::Decimal, openapi};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    Factory,
    domain::{
        items::{parse_sku, parse_warehouse},
        qty,
    },
};

pub(crate) type AppState = Arc<Factory>;

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "factory",
        "Production: items, units and warehouses, the stock ledger (receipts, issues, adjustments, transfers; moves are immutable, valued at moving average cost), bills of materials, and work orders (planned → released → started → completed, or cancelled), plus the original API's `/products` and `/orders`. Managers and admins do everything; accountants and shop managers may also read items, units, warehouses, stock and moves, and the summary. Quantities are decimal strings with up to three places; money is a decimal string in the base currency.",
    ))
    .merge(items::routes())
        .merge(stock::routes())
        .merge(reservations::routes())
        .merge(boms::routes())
        .merge(work_orders::routes())
        .merge(compat::routes())
        .merge(summary::routes())
        .merge(valuation::routes())
        .with_state(state)
}

// ------------------------------------------------------ path values

/// `{sku}` of a path: a malformed SKU is an item that does not exist.
pub(crate) struct SkuPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SkuPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let none = || ApiError::not_found("no such item");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| none())?;
        parse_sku("sku", &raw).map(Self).map_err(|_| none())
    }
}

/// `{id}` of a path: anything but a UUID is a 404 without a database
/// round-trip.
pub(crate) struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let none = || ApiError::not_found("not found");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| none())?;
        if ids::is_uuid(&raw) {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(none())
        }
    }
}

// ------------------------------------------------------------ input

/// A required quantity, strictly positive.
fn positive_qty(field: &'static str, d: Option<Decimal>) -> Result<i64, Invalid> {
    qty::positive(field, &required(field, d)?)
}

/// A warehouse code, or the default warehouse when none is given.
fn warehouse_or_default(field: &'static str, raw: Option<&str>) -> Result<String, Invalid> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(code) => parse_warehouse(field, code),
        None => Ok(crate::DEFAULT_WAREHOUSE.to_owned()),
    }
}
