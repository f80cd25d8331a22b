//! Orders of the signed-in caller: placing (any role), reading (owner,
//! shop managers and admins; anyone else gets 404) and the lifecycle
//! actions.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use marimo_platform::{
    ApiError, ApiResult, ErrorCode,
    auth::Caller,
    http::{Json, Page, Query},
    idempotency,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdParam, views};
use crate::{
    ShopError,
    domain::{
        order::{Action, Status},
        payment,
    },
    store::orders::{self, Filter},
};

const MAX_REASON_CHARS: usize = 500;

/// `POST /orders`: 201 `{success, message, order}`. With an
/// `Idempotency-Key`, a retry of the same request by the same user gets the
/// same status and body again (header `Idempotent-Replayed: true`).
pub(super) async fn place(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let key = idempotency::key_from(&headers)?;
    let placed = st
        .place_order(&caller, &body, key.as_deref(), |order| {
            json!({
                "success": true,
                "message": "order placed",
                "order": views::order(order),
            })
        })
        .await?;
    if placed.replayed {
        return Ok(idempotency::replay(placed.status, placed.body));
    }
    let status = StatusCode::from_u16(placed.status).unwrap_or(StatusCode::CREATED);
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/json")],
        placed.body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct MineQuery {
    status: Option<String>,
}

pub(super) fn parse_status(s: Option<&str>) -> ApiResult<Option<Status>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|m: String| ApiError::validation(m).with_details(json!({"field": "status"}))),
    }
}

/// `GET /orders`: the caller's own orders, newest first.
pub(super) async fn mine(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(q): Query<MineQuery>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    let filter = Filter {
        user_id: Some(caller.user_id.clone()),
        status: parse_status(q.status.as_deref())?,
        ..Filter::default()
    };
    let (list, total) = orders::list(st.db.pool(), &filter, limit, offset).await?;
    Ok(Json(views::order_page(&list, total, page, limit)))
}

/// `GET /orders/{id}`: the order at the top level of the body (as the
/// original API), with its history and payments.
pub(super) async fn get(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<Value>> {
    let order = st.visible_order(&caller, &id).await?;
    let mut body = views::order(&order);
    body["success"] = Value::Bool(true);
    body["history"] = json!(orders::history(st.db.pool(), &order.id).await?);
    body["payments"] = json!(orders::payments(st.db.pool(), &order.id).await?);
    Ok(Json(body))
}

async fn act(
    st: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    reason: Option<&str>,
) -> ApiResult<Json<Value>> {
    let order = st.transition(caller, id, action, reason).await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("order {}", order.status),
        "order": views::order(&order),
    })))
}

#[derive(Debug, Default, Deserialize)]
struct PayBody {
    method: Option<String>,
    reference: Option<String>,
}

/// Staff record a payment received (body `{method, reference}`): pending
/// → paid, with a capture of the total. Customers are refused (403): they
/// pay through the payment provider, whose signed callback marks the
/// order paid ([`super::payments::callback`]). With an `Idempotency-Key`
/// the payment is captured once and a retry gets the first answer
/// (`Idempotent-Replayed: true`); the key is claimed in the payment's
/// transaction, so this route is named to the platform's layer as
/// in-transaction ([`super::IN_TRANSACTION`]).
pub(super) async fn pay(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    // Strangers get 404 and customers 403 before the body is looked at.
    st.visible_order(&caller, &id).await?;
    if !crate::is_staff(&caller) {
        return Err(ApiError::forbidden(
            "an order is paid through the payment provider, or recorded by a shop manager when the payment is received",
        ));
    }
    let body = body_bytes(body)?;
    let parsed: PayBody = if body.iter().all(u8::is_ascii_whitespace) {
        PayBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("malformed payment body: {e}")))?
    };
    let received = payment::received(parsed.method.as_deref(), parsed.reference.as_deref())
        .map_err(ShopError::from)?;
    // The same request: this order, this method and reference.
    let key = idempotency::key_from(&headers)?.map(|key| {
        let path = format!("/api/shop/orders/{id}/pay");
        let what = json!({"method": parsed.method, "reference": parsed.reference});
        (key, idempotency::fingerprint("POST", &path, &what))
    });
    let paid = st
        .record_payment(
            &caller,
            &id,
            &received,
            key.as_ref().map(|(k, f)| (k.as_str(), f.clone())),
            |order| {
                json!({
                    "success": true,
                    "message": format!("order {}", order.status),
                    "order": views::order(order),
                })
            },
        )
        .await?;
    Ok(answer(paid))
}

/// A use case's answer as stored (or replayed) under its key.
fn answer(a: crate::app::orders::Placement) -> Response {
    if a.replayed {
        return idempotency::replay(a.status, a.body);
    }
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, "application/json")], a.body).into_response()
}

/// A raw body in the one error shape when it cannot be read (too large).
pub(super) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::of(ErrorCode::PayloadTooLarge, "the request body is too large")
        } else {
            ApiError::validation(r.body_text())
        }
    })
}

pub(super) async fn ship(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<Value>> {
    act(&st, &caller, &id, Action::Ship, None).await
}

pub(super) async fn deliver(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<Value>> {
    act(&st, &caller, &id, Action::Deliver, None).await
}

#[derive(Debug, Default, Deserialize)]
struct CancelBody {
    reason: Option<String>,
}

/// The owner while pending; shop managers and admins until shipped. An
/// optional body `{reason}` is kept in the history and the event.
pub(super) async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    // The rejection (body too large) in the one error shape.
    let body = body_bytes(body)?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: CancelBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::validation(format!("malformed cancel body: {e}")))?;
        parsed
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
    };
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control))
    {
        return Err(ApiError::validation(format!(
            "reason must be at most {MAX_REASON_CHARS} characters without control characters"
        ))
        .with_details(json!({"field": "reason"})));
    }
    act(&st, &caller, &id, Action::Cancel, reason.as_deref()).await
}
