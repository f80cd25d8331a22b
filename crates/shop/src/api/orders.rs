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
    money::Decimal,
    openapi::{ErrorBody, IdempotencyKeyHeader},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState, IdParam,
    views::{self, OrderAnswer, OrderDetail, OrderPage},
};
use crate::{
    ShopError,
    domain::{
        order::{Action, Status},
        payment,
    },
    store::orders::{self, Filter},
};

const MAX_REASON_CHARS: usize = 500;

/// `POST /orders` (its rules are checked by `domain::request`, which names
/// the field at fault). Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"product_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "quantity": 2}]}))]
#[allow(dead_code)] // the document's view of the body `domain::request` reads
pub(super) struct OrderRequest {
    /// 1 to 100 lines; lines of the same product are merged.
    items: Vec<OrderLine>,
}

/// One line of an order request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // see OrderRequest
pub(super) struct OrderLine {
    /// A product of the catalog.
    product_id: String,
    /// 1 to 1000 units (a whole number, or its digits as a string).
    #[schema(minimum = 1, maximum = 1000)]
    quantity: i64,
    /// The original API's client-side price (a decimal string or number):
    /// accepted and **ignored**; prices come from the catalog.
    #[schema(value_type = Option<String>, deprecated)]
    price: Option<Decimal>,
}

/// Places an order for the caller: prices from the catalog, stock
/// reserved until it is paid or expires. With an `Idempotency-Key`, a
/// retry of the same request by the same user gets the same status and
/// body again (header `Idempotent-Replayed: true`).
#[utoipa::path(
    post,
    path = "/api/v1/shop/orders",
    params(IdempotencyKeyHeader),
    request_body = OrderRequest,
    responses(
        (status = 201, description = "Placed.", body = OrderAnswer),
        (status = 409, description = "Not enough stock (`INSUFFICIENT_STOCK`) or a price changed (`PRICE_CHANGED`).", body = ErrorBody),
        (status = 422, description = "An unknown or inactive product, mixed currencies, or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
pub(super) async fn place(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> ApiResult<Response> {
    let key = idempotency::key_from(&headers)?;
    let placed = st
        .place_order(&caller, &body, key.as_deref(), |order| {
            // A view of strings, numbers and lists always serialises.
            serde_json::to_value(OrderAnswer {
                success: true,
                message: "order placed".to_owned(),
                order: views::order(order),
            })
            .unwrap_or(Value::Null)
        })
        .await?;
    Ok(answer(placed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MineQuery {
    /// Only orders in this status.
    #[param(value_type = Option<crate::domain::order::Status>)]
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

/// The caller's own orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/shop/orders",
    params(Page, MineQuery),
    responses((status = 200, description = "A page of the caller's orders.", body = OrderPage)),
)]
pub(super) async fn mine(
    State(st): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(q): Query<MineQuery>,
) -> ApiResult<Json<OrderPage>> {
    let (page, limit, offset) = page.resolve()?;
    let filter = Filter {
        user_id: Some(caller.user_id.clone()),
        status: parse_status(q.status.as_deref())?,
        ..Filter::default()
    };
    let t = &caller.tenant;
    let mut tx = st.db.tenant(t).read().await.map_err(ShopError::from)?;
    let (list, total) = orders::list(&mut tx, t, &filter, limit, offset)
        .await
        .map_err(ShopError::from)?;
    Ok(Json(views::order_page(&list, total, page, limit)))
}

/// The order at the top level of the body (as the original API), with
/// its history and payments. Its owner, shop managers and admins; anyone
/// else gets 404.
#[utoipa::path(
    get,
    path = "/api/v1/shop/orders/{id}",
    params(("id" = String, Path, description = "The order's id.")),
    responses((status = 200, description = "The order.", body = OrderDetail)),
)]
pub(super) async fn get(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<OrderDetail>> {
    let (order, history, payments) = st.order_detail(&caller, &id).await?;
    Ok(Json(OrderDetail {
        success: true,
        order: views::order(&order),
        history: history.into_iter().map(views::history).collect(),
        payments: payments.into_iter().map(views::payment).collect(),
    }))
}

async fn act(
    st: &AppState,
    caller: &Caller,
    id: &str,
    action: Action,
    reason: Option<&str>,
) -> ApiResult<Json<OrderAnswer>> {
    let order = st.transition(caller, id, action, reason).await?;
    Ok(Json(OrderAnswer {
        success: true,
        message: format!("order {}", order.status),
        order: views::order(&order),
    }))
}

/// A payment received, as staff record it. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"method": "bank_transfer", "reference": "TRX-2026-0042"}))]
pub(super) struct PayBody {
    /// How it was received: `card`, `bank_transfer`, `cash`, ...
    method: Option<String>,
    /// The payment's reference (at most 200 characters).
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
#[utoipa::path(
    post,
    path = "/api/v1/shop/orders/{id}/pay",
    params(("id" = String, Path, description = "The order's id."), IdempotencyKeyHeader),
    request_body(content = Option<PayBody>, description = "Staff record the method and reference of a payment received."),
    responses(
        (status = 200, description = "Paid.", body = OrderAnswer),
        (status = 409, description = "The order is not pending (`INVALID_TRANSITION`).", body = ErrorBody),
        (status = 422, description = "The Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
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
        serde_json::from_slice(&body).map_err(|e| body_error("payment", &e))?
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
                // A view of strings, numbers and lists always serialises.
                serde_json::to_value(OrderAnswer {
                    success: true,
                    message: format!("order {}", order.status),
                    order: views::order(order),
                })
                .unwrap_or(Value::Null)
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

/// A body that does not parse: 400, naming an unknown field.
pub(super) fn body_error(what: &str, e: &serde_json::Error) -> ApiError {
    let message = format!("malformed {what} body: {e}");
    match marimo_platform::http::extract::unknown_field(&message) {
        Some(field) => ApiError::validation(message).with_details(json!({ "field": field })),
        None => ApiError::validation(message),
    }
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

/// Paid → shipped. Shop managers and admins.
#[utoipa::path(
    post,
    path = "/api/v1/shop/orders/{id}/ship",
    params(("id" = String, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "Shipped.", body = OrderAnswer),
        (status = 409, description = "The order is not paid (`INVALID_TRANSITION`).", body = ErrorBody),
    ),
)]
pub(super) async fn ship(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<OrderAnswer>> {
    act(&st, &caller, &id, Action::Ship, None).await
}

/// Shipped → delivered. Shop managers and admins.
#[utoipa::path(
    post,
    path = "/api/v1/shop/orders/{id}/deliver",
    params(("id" = String, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "Delivered.", body = OrderAnswer),
        (status = 409, description = "The order is not shipped (`INVALID_TRANSITION`).", body = ErrorBody),
    ),
)]
pub(super) async fn deliver(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
) -> ApiResult<Json<OrderAnswer>> {
    act(&st, &caller, &id, Action::Deliver, None).await
}

/// Why an order is cancelled. Unknown fields are refused.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "ordered by mistake"}))]
pub(super) struct CancelBody {
    /// Kept in the history and the event; at most 500 characters.
    reason: Option<String>,
}

/// The owner while pending; shop managers and admins until shipped. An
/// optional body `{reason}` is kept in the history and the event.
#[utoipa::path(
    post,
    path = "/api/v1/shop/orders/{id}/cancel",
    params(("id" = String, Path, description = "The order's id.")),
    request_body(content = Option<CancelBody>, description = "Optional."),
    responses(
        (status = 200, description = "Cancelled.", body = OrderAnswer),
        (status = 409, description = "The order can no longer be cancelled (`INVALID_TRANSITION`).", body = ErrorBody),
    ),
)]
pub(super) async fn cancel(
    State(st): State<AppState>,
    caller: Caller,
    IdParam(id): IdParam,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<OrderAnswer>> {
    // The rejection (body too large) in the one error shape.
    let body = body_bytes(body)?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let parsed: CancelBody =
            serde_json::from_slice(&body).map_err(|e| body_error("cancel", &e))?;
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
