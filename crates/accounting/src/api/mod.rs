//! HTTP handlers under `/api/accounting/...`: parse, authorize, call the
//! use case (`app`), respond (`views`). Every error is an `ApiError` (the one JSON shape); no
//! handler panics on any input: garbage ids and codes are 404, bad dates
//! and periods 400.
//!
//! Roles (named policies from `platform::auth::policy`): `Bookkeepers`
//! (accountant, admin) for everything; closing, reopening and
//! locking periods is admin only; the dashboard summary is also open to
//! managers and shop managers, the inventory reconciliation to managers
//! (`StockValuers`). Everyone else gets 403, no token 401.

mod accounts;
mod compat;
mod inventory;
mod journal;
mod periods;
mod reports;
mod views;

use std::sync::Arc;

use axum::{
    extract::{FromRequestParts, Path},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::Caller,
    idempotency::{self, Keyed},
    openapi,
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    app::{
        Ledger,
        entries::{Answer, Reply},
    },
    domain::{
        accounts::is_valid_code,
        calendar::{Period, parse_date},
    },
};

#[derive(Clone)]
pub(crate) struct AppState {
    pub ledger: Arc<Ledger>,
    /// The factory, whose valuation the inventory reconciliation reads.
    pub factory: Arc<crate::app::inventory::Factory>,
}

/// Routes whose handlers claim the `Idempotency-Key` inside the
/// transaction of the posting (a journal entry must never be booked twice,
/// not even in the window the platform's layer leaves): the layer leaves
/// them alone.
pub(crate) const IN_TRANSACTION: &[(Method, &str)] = &[
    (Method::POST, "/api/v1/accounting/journal-entries"),
    (
        Method::POST,
        "/api/v1/accounting/journal-entries/{id}/reverse",
    ),
    (Method::POST, "/api/v1/accounting/transactions"),
];

/// The service's routes with their OpenAPI document (`utoipa-axum`: a
/// route and its spec entry are registered together).
pub(crate) fn routes(state: AppState) -> OpenApiRouter {
    OpenApiRouter::with_openapi(openapi::document(
        "accounting",
        "A double-entry ledger: the chart of accounts, journal entries (posted entries are immutable; corrections are reversals), monthly periods, financial reports (JSON or CSV), and the original API's `/transactions` and `/balance`. For accountants and admins.",
    ))
    .merge(accounts::routes())
    .merge(journal::routes())
    .merge(periods::routes())
    .merge(reports::routes())
    .merge(compat::routes())
    .merge(inventory::routes())
    .with_state(state)
}

// ------------------------------------------------------ path values

fn no_such_entry() -> ApiError {
    ApiError::not_found("no such journal entry")
}

/// `{id}` of an entry or transaction: anything but a UUID is a 404
/// without a database round-trip.
pub(crate) struct EntryId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EntryId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| no_such_entry())?;
        if marimo_platform::ids::is_uuid(&id) {
            Ok(Self(id.to_ascii_lowercase()))
        } else {
            Err(no_such_entry())
        }
    }
}

/// `{code}` of an account: a malformed code is an account that does not
/// exist (404).
pub(crate) struct AccountCode(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AccountCode {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let none = || ApiError::not_found("no such account");
        let Path(code) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| none())?;
        if is_valid_code(&code) {
            Ok(Self(code))
        } else {
            Err(none())
        }
    }
}

/// `{period}` as `YYYY-MM`; anything else is a 400.
pub(crate) struct PeriodParam(pub Period);

impl<S: Send + Sync> FromRequestParts<S> for PeriodParam {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(p) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::validation("a period is YYYY-MM"))?;
        Ok(Self(Period::parse(&p)?))
    }
}

// --------------------------------------------------------- helpers

/// An optional `YYYY-MM-DD` query value.
pub(crate) fn opt_date(field: &str, v: Option<&str>) -> ApiResult<Option<time::Date>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Ok(Some(parse_date(field, s)?)),
    }
}

/// Deserialises a JSON value into a request type; mismatches are 400.
/// An unknown field is refused naming it (`details.field`).
pub(crate) fn parse_body<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| {
        let message = format!("invalid request: {e}");
        match marimo_platform::http::extract::unknown_field(&message) {
            Some(field) => {
                ApiError::validation(message).with_details(serde_json::json!({ "field": field }))
            }
            None => ApiError::validation(message),
        }
    })
}

/// Report output: JSON (default) or CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Csv,
}

pub(crate) fn format(v: Option<&str>) -> ApiResult<Format> {
    match v.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(ApiError::validation(format!(
            "format must be json or csv, got '{other}'"
        ))),
    }
}

pub(crate) fn csv_response(filename: &str, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body)).into_response()
}

// ------------------------------------------------------ idempotency

/// The request's `Idempotency-Key` (see `platform::idempotency`), scoped
/// to the caller, with what identifies "the same request": method, path
/// and canonical JSON body.
pub(crate) fn idempotency_key(
    headers: &HeaderMap,
    caller: &Caller,
    method: &str,
    path: &str,
    body: &Value,
) -> ApiResult<Option<Keyed>> {
    Keyed::from_request(
        headers,
        &caller.tenant.scope(&caller.user_id),
        method,
        path,
        body,
    )
}

/// The response of a posting: the new one, or the first response to the
/// same key and request, marked `Idempotent-Replayed: true`.
pub(crate) fn answer(a: Answer) -> Response {
    match a {
        Answer::Posted(Reply { status, body }) => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            &body,
        ),
        Answer::Replay { status, body } => idempotency::replay(status, body),
    }
}

/// A reply of `201 Created`.
pub(crate) fn created(body: impl Serialize) -> Reply {
    Reply {
        status: StatusCode::CREATED.as_u16(),
        // A view of strings, numbers and lists always serialises.
        body: serde_json::to_value(body).unwrap_or(Value::Null),
    }
}

/// `format`: `json` (default) or `csv`.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FormatParam {
    Json,
    Csv,
}
