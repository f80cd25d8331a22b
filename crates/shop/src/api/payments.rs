//! `POST /api/shop/payments/callback`: the payment provider tells the shop
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
use serde_json::{Value, json};

use super::{AppState, orders::body_bytes, views};
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

#[derive(Debug, Deserialize)]
struct Callback {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    order_id: String,
    amount: Decimal,
    currency: String,
    #[serde(default)]
    reference: Option<String>,
}

fn refused(message: &'static str) -> ApiError {
    ShopError::CallbackRefused(message).into()
}

pub(super) async fn callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
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
        return Ok(Json(json!({"success": true, "ignored": true})));
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
        Some(order) => Ok(Json(json!({
            "success": true,
            "message": format!("order {}", order.status),
            "order": views::order(&order),
        }))),
        None => Ok(Json(json!({"success": true, "duplicate": true}))),
    }
}
