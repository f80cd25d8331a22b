//! `POST /api/v1/shop/payments/callback`: the payment provider tells the shop
//! that an order was paid. Public (the provider has no user token), so
//! believed only when signed with `PAYMENT_WEBHOOK_SECRET` over the raw
//! body and a fresh timestamp ([`crate::domain::payment`]); applied once
//! per provider event id.
//!
//! Body: `{"event_id", "type": "payment.succeeded", "order_id", "amount":
//! "25.00", "currency": "USD", "reference"}`. Other types are acknowledged
//! and ignored, so the provider stops retrying them.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::HeaderMap,
};
use marimo_platform::{ApiError, ApiResult, clock, http::Json, money::Decimal};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    AppState,
    orders::body_bytes,
    views::{self, CallbackAnswer},
};
use crate::{
    ShopError,
    domain::{
        Invalid,
        payment::{self, CallbackRefusal, MAX_EVENT_ID_CHARS, MAX_REFERENCE_CHARS},
        pricing,
    },
};

pub const TIMESTAMP_HEADER: &str = "x-payment-timestamp";
pub const SIGNATURE_HEADER: &str = "x-payment-signature";

/// The provider's event. Fields this service does not know are **ignored**:
/// the provider's payload is its own contract and may grow, and a refused
/// callback would be retried for ever.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"event_id": "evt_0001", "type": "payment.succeeded", "order_id": "0192f1c4-7c3e-7d2a-9c1e-2b9d2b7e4a10", "amount": "64.93", "currency": "USD", "reference": "ch_123"}))]
pub(super) struct Callback {
    /// The provider's event id: each is applied once.
    event_id: String,
    /// `payment.succeeded`; other types are acknowledged and ignored.
    #[serde(rename = "type")]
    kind: String,
    order_id: String,
    /// The amount paid; must equal the order's total.
    amount: Decimal,
    currency: String,
    /// Default: the event id.
    #[serde(default)]
    reference: Option<String>,
}

fn refused(message: &'static str) -> ApiError {
    ShopError::CallbackRefused(message).into()
}

/// The payment provider says an order was paid. Public, but believed only
/// with a valid signature: `X-Payment-Signature: sha256=<hex HMAC-SHA256
/// of "<timestamp>.<raw body>" with PAYMENT_WEBHOOK_SECRET>` and a fresh
/// `X-Payment-Timestamp`; refused with 401 otherwise.
#[utoipa::path(
    post,
    path = "/api/v1/shop/payments/callback",
    security(()),
    params(
        ("X-Payment-Timestamp" = String, Header, description = "Unix seconds when the provider signed."),
        ("X-Payment-Signature" = String, Header, description = "The HMAC-SHA256 signature."),
    ),
    request_body = Callback,
    responses(
        (status = 200, description = "Applied, a duplicate, or an ignored event type.", body = CallbackAnswer),
        (status = 422, description = "The amount or currency does not match the order.", body = marimo_platform::openapi::ErrorBody),
    ),
)]
pub(super) async fn callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CallbackAnswer>> {
    let body = body_bytes(body)?;
    let Some(secret) = st.payment_secret.as_deref() else {
        tracing::warn!("payment callback refused: PAYMENT_WEBHOOK_SECRET is not set");
        return Err(refused("payment callbacks are not configured"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    payment::verify_callback(
        secret,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        clock::unix_now(),
    )
    .map_err(|r| {
        tracing::warn!(refusal = ?r, "payment callback refused");
        refused(match r {
            CallbackRefusal::Malformed => {
                "the callback must carry X-Payment-Timestamp and X-Payment-Signature"
            }
            CallbackRefusal::Stale => "the callback's timestamp is too far from now",
            CallbackRefusal::BadSignature => "the callback's signature does not verify",
        })
    })?;
    let cb: Callback = serde_json::from_slice(&body)
        .map_err(|e| ApiError::validation(format!("malformed callback: {e}")))?;
    let event_id = cb.event_id.trim();
    if event_id.is_empty() || event_id.chars().count() > MAX_EVENT_ID_CHARS {
        return Err(ShopError::from(Invalid::new(
            "event_id",
            format!("event_id must be 1..={MAX_EVENT_ID_CHARS} characters"),
        ))
        .into());
    }
    if cb.kind != "payment.succeeded" {
        return Ok(Json(CallbackAnswer {
            success: true,
            ignored: Some(true),
            ..CallbackAnswer::default()
        }));
    }
    let currency = pricing::parse_currency("currency", &cb.currency).map_err(ShopError::from)?;
    let amount = pricing::parse_price("amount", &cb.amount, &currency).map_err(ShopError::from)?;
    let reference = cb
        .reference
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(event_id);
    if reference.chars().count() > MAX_REFERENCE_CHARS || reference.chars().any(char::is_control) {
        return Err(ShopError::from(Invalid::new(
            "reference",
            format!("reference must be at most {MAX_REFERENCE_CHARS} characters"),
        ))
        .into());
    }
    match st
        .provider_paid(event_id, &cb.order_id, amount, &currency, reference)
        .await?
    {
        Some(order) => Ok(Json(CallbackAnswer {
            success: true,
            message: Some(format!("order {}", order.status)),
            order: Some(views::order(&order)),
            ..CallbackAnswer::default()
        })),
        None => Ok(Json(CallbackAnswer {
            success: true,
            duplicate: Some(true),
            ..CallbackAnswer::default()
        })),
    }
}
