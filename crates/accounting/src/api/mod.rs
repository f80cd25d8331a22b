//! HTTP handlers under `/api/accounting/...`: parse, authorize, call the
//! use case (`app`), respond (`views`). Every error is an `ApiError` (the one JSON shape); no
//! handler panics on any input: garbage ids and codes are 404, bad dates
//! and periods 400.
//!
//! Roles: accountant and admin for everything; closing, reopening and
//! locking periods is admin only; the dashboard summary is also open to
//! managers and shop managers. Everyone else gets 403, no token 401.

mod accounts;
mod compat;
mod journal;
mod periods;
mod reports;
mod views;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{FromRequestParts, Path},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::{Caller, Role},
    idempotency,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    app::{
        Ledger,
        entries::{Answer, IdempotencyKey, Reply},
    },
    domain::{
        accounts::is_valid_code,
        calendar::{Period, parse_date},
    },
};

#[derive(Clone)]
pub(crate) struct AppState {
    pub ledger: Arc<Ledger>,
}

pub(crate) fn routes(state: AppState) -> Router {
    Router::new()
        .merge(accounts::routes())
        .merge(journal::routes())
        .merge(periods::routes())
        .merge(reports::routes())
        .merge(compat::routes())
        .with_state(state)
}

// ------------------------------------------------------------ roles

async fn caller_with<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    roles: &[Role],
) -> Result<Caller, ApiError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    caller.require(roles)?;
    Ok(caller)
}

/// An accountant or an admin: reads and writes the books. Checked before
/// the body is read, so a forbidden caller learns nothing from validation.
pub(crate) struct Bookkeeper(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Bookkeeper {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, &[Role::Accountant, Role::Admin])
            .await
            .map(Self)
    }
}

/// An admin (period close, reopen, lock).
pub(crate) struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(parts, state, &[Role::Admin]).await.map(Self)
    }
}

/// The dashboard's readers: admins, managers, accountants, shop managers.
pub(crate) struct DashboardReader;

impl<S: Send + Sync> FromRequestParts<S> for DashboardReader {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        caller_with(
            parts,
            state,
            &[
                Role::Admin,
                Role::Manager,
                Role::Accountant,
                Role::ShopManager,
            ],
        )
        .await
        .map(|_| Self)
    }
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

/// `(page, limit, offset)` from optional values: 1-based pages, limit
/// 1..=`max`.
pub(crate) fn page(
    page: Option<u32>,
    limit: Option<u32>,
    default: u32,
    max: u32,
) -> ApiResult<(u32, u32, i64)> {
    let page = page.unwrap_or(1);
    let limit = limit.unwrap_or(default);
    if page == 0 {
        return Err(ApiError::validation("page starts at 1"));
    }
    if limit == 0 || limit > max {
        return Err(ApiError::validation(format!("limit must be 1..={max}")));
    }
    Ok((page, limit, i64::from(page - 1) * i64::from(limit)))
}

/// Deserialises a JSON value into a request type; mismatches are 400.
pub(crate) fn parse_body<T: DeserializeOwned>(v: Value) -> ApiResult<T> {
    serde_json::from_value(v).map_err(|e| ApiError::validation(format!("invalid request: {e}")))
}

/// A JSON body that may be empty (then `null`). A non-empty body must be
/// JSON; the content type is not insisted on, since the body is optional.
pub(crate) fn optional_json(body: &Bytes) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::of(ErrorCode::InvalidJson, format!("malformed JSON: {e}")))
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
) -> ApiResult<Option<IdempotencyKey>> {
    Ok(idempotency::key_from(headers)?.map(|key| IdempotencyKey {
        scope: caller.user_id.clone(),
        key,
        fingerprint: idempotency::fingerprint(method, path, body),
    }))
}

/// The response of a posting: the new one, or the first response to the
/// same key and request, marked `Idempotent-Replayed: true`.
pub(crate) fn answer(a: Answer) -> Response {
    match a {
        Answer::Posted(Reply { status, body }) => json_response(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            &body,
        ),
        Answer::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut res = (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response();
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            res
        }
    }
}

/// A reply of `201 Created`.
pub(crate) fn created(body: Value) -> Reply {
    Reply {
        status: StatusCode::CREATED.as_u16(),
        body,
    }
}
