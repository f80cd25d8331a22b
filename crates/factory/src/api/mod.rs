//! HTTP handlers under `/api/factory/...`: parse, authorize, call the
//! use case (`app`) or the store, respond (`views`). Every error is an `ApiError` (the one JSON
//! shape); no handler panics on any input: malformed SKUs and ids in paths
//! are 404, malformed bodies and queries 400.
//!
//! Roles: managers and admins do everything; accountants and shop
//! managers may also read items, units, warehouses, stock and moves, and
//! the dashboard summary. Everyone else gets 403, no token 401.

mod boms;
mod compat;
mod items;
mod stock;
mod summary;
mod views;
mod work_orders;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{StatusCode, request::Parts},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::{Caller, Role},
    http::Json,
    ids,
    money::Decimal,
};
use serde::de::DeserializeOwned;

use crate::{
    Factory,
    domain::{
        Invalid,
        items::{parse_sku, parse_warehouse},
        qty,
    },
};

pub(crate) type AppState = Arc<Factory>;

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .merge(items::routes())
        .merge(stock::routes())
        .merge(boms::routes())
        .merge(work_orders::routes())
        .merge(compat::routes())
        .merge(summary::routes())
        .with_state(state)
}

// ------------------------------------------------------------ roles

const MANAGERS: &[Role] = &[Role::Admin, Role::Manager];
const READERS: &[Role] = &[
    Role::Admin,
    Role::Manager,
    Role::Accountant,
    Role::ShopManager,
];

async fn caller_with<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    roles: &[Role],
) -> Result<Caller, ApiError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    caller.require(roles)?;
    Ok(caller)
}

/// A manager or an admin: runs production and changes stock. Checked
/// before the body is read, so a forbidden caller learns nothing from
/// validation.
pub(crate) struct Manager(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Manager {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, MANAGERS).await.map(Self)
    }
}

/// Anyone who may see items and stock: managers, admins, accountants
/// (valuation) and shop managers (availability).
pub(crate) struct Reader;

impl<S: Send + Sync> FromRequestParts<S> for Reader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, READERS).await.map(|_| Self)
    }
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

fn invalid(i: Invalid) -> ApiError {
    crate::FactoryError::Invalid(i).into()
}

/// A required field that was absent or null.
fn required<T>(field: &'static str, v: Option<T>) -> ApiResult<T> {
    v.ok_or_else(|| invalid(Invalid::new(field, format!("{field} is required"))))
}

fn positive_qty(field: &'static str, d: Option<Decimal>) -> ApiResult<i64> {
    qty::positive(field, &required(field, d)?).map_err(invalid)
}

/// A warehouse code, or the default warehouse when none is given.
fn warehouse_or_default(field: &'static str, raw: Option<&str>) -> ApiResult<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(code) => parse_warehouse(field, code).map_err(invalid),
        None => Ok(crate::DEFAULT_WAREHOUSE.to_owned()),
    }
}

/// A JSON body that may also be absent: an empty body is `T::default()`;
/// a non-empty one follows the platform's JSON rules (415 without a JSON
/// content type, 400 when malformed, 413 when too large).
async fn optional_json<T: DeserializeOwned + Default>(req: Request) -> ApiResult<T> {
    let (parts, body) = req.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
            } else {
                ApiError::validation(r.body_text())
            }
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let Json(value) =
        Json::<T>::from_request(Request::from_parts(parts, bytes.into()), &()).await?;
    Ok(value)
}
