//! Receipts, issues, adjustments, transfers; balances and the ledger.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use marimo_platform::{
    ApiResult, clock,
    http::{Json, Query, extract::Page},
    idempotency,
    money::Decimal,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Date, Duration, macros::format_description};

use super::{
    AppState, Manager, Reader, invalid, positive_qty, required, views, warehouse_or_default,
};
use crate::{
    app::posting::{Idem, Posted, Requester},
    domain::{Invalid, items, qty},
    store::stock::{self as store, MoveFilter},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/factory/stock", get(levels))
        .route("/api/factory/stock/moves", get(moves))
        .route("/api/factory/stock/receipts", post(receipt))
        .route("/api/factory/stock/issues", post(issue))
        .route("/api/factory/stock/adjustments", post(adjustment))
        .route("/api/factory/stock/transfers", post(transfer))
}

fn sku_of(body: Option<String>) -> ApiResult<String> {
    items::parse_sku("sku", &required("sku", body)?).map_err(invalid)
}

fn text(field: &'static str, raw: Option<&str>) -> ApiResult<Option<String>> {
    items::parse_text(field, raw).map_err(invalid)
}

/// The `Idempotency-Key` of a stock POST, with the fingerprint of its
/// request: the path and the parsed body (fields in a fixed order).
fn idem_of(headers: &HeaderMap, path: &str, body: &impl Serialize) -> ApiResult<Option<Idem>> {
    let Some(key) = idempotency::key_from(headers)? else {
        return Ok(None);
    };
    Ok(Some(Idem {
        key,
        request_hash: idempotency::fingerprint("POST", path, body),
    }))
}

fn by<'a>(caller: &'a marimo_platform::auth::Caller, idem: &'a Option<Idem>) -> Requester<'a> {
    Requester {
        actor: &caller.user_id,
        idem: idem.as_ref(),
    }
}

/// 201 with the move (or, for a transfer, the moves); a replay of an
/// `Idempotency-Key` answers the same, marked `Idempotent-Replayed`.
fn created(f: &AppState, posted: &Posted, one: bool) -> Response {
    let list: Vec<Value> = posted
        .moves
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    let body = match (one, list.first()) {
        (true, Some(m)) => json!({"success": true, "move": m}),
        _ => json!({"success": true, "moves": list}),
    };
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if posted.replayed {
        res.headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
    }
    res
}

#[derive(Deserialize, Serialize)]
pub(super) struct ReceiptBody {
    sku: Option<String>,
    warehouse: Option<String>,
    qty: Option<Decimal>,
    unit_cost: Option<Decimal>,
    reference: Option<String>,
}

async fn receipt(
    State(f): State<AppState>,
    Manager(caller): Manager,
    headers: HeaderMap,
    Json(b): Json<ReceiptBody>,
) -> ApiResult<Response> {
    let idem = idem_of(&headers, "/api/factory/stock/receipts", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let qty = positive_qty("qty", b.qty)?;
    let unit_cost = f
        .currency
        .cost("unit_cost", &required("unit_cost", b.unit_cost)?)
        .map_err(invalid)?;
    let reference = text("reference", b.reference.as_deref())?;
    let posted = f
        .receive(
            by(&caller, &idem),
            &sku,
            &warehouse,
            qty,
            unit_cost,
            reference,
        )
        .await?;
    Ok(created(&f, &posted, true))
}

#[derive(Deserialize, Serialize)]
pub(super) struct IssueBody {
    sku: Option<String>,
    warehouse: Option<String>,
    qty: Option<Decimal>,
    reference: Option<String>,
}

async fn issue(
    State(f): State<AppState>,
    Manager(caller): Manager,
    headers: HeaderMap,
    Json(b): Json<IssueBody>,
) -> ApiResult<Response> {
    let idem = idem_of(&headers, "/api/factory/stock/issues", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let qty = positive_qty("qty", b.qty)?;
    let reference = text("reference", b.reference.as_deref())?;
    let posted = f
        .issue(by(&caller, &idem), &sku, &warehouse, qty, reference)
        .await?;
    Ok(created(&f, &posted, true))
}

#[derive(Deserialize, Serialize)]
pub(super) struct AdjustmentBody {
    sku: Option<String>,
    warehouse: Option<String>,
    qty: Option<Decimal>,
    #[serde(alias = "note")]
    reason_note: Option<String>,
}

async fn adjustment(
    State(f): State<AppState>,
    Manager(caller): Manager,
    headers: HeaderMap,
    Json(b): Json<AdjustmentBody>,
) -> ApiResult<Response> {
    let idem = idem_of(&headers, "/api/factory/stock/adjustments", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    // Signed; zero and a missing note are refused by `Factory::adjust`.
    let qty = qty::parse("qty", &required("qty", b.qty)?).map_err(invalid)?;
    let note = text("reason_note", b.reason_note.as_deref())?;
    let posted = f
        .adjust(by(&caller, &idem), &sku, &warehouse, qty, note)
        .await?;
    Ok(created(&f, &posted, true))
}

#[derive(Deserialize, Serialize)]
pub(super) struct TransferBody {
    sku: Option<String>,
    from: Option<String>,
    to: Option<String>,
    qty: Option<Decimal>,
    reference: Option<String>,
}

async fn transfer(
    State(f): State<AppState>,
    Manager(caller): Manager,
    headers: HeaderMap,
    Json(b): Json<TransferBody>,
) -> ApiResult<Response> {
    let idem = idem_of(&headers, "/api/factory/stock/transfers", &b)?;
    let sku = sku_of(b.sku)?;
    let from = items::parse_warehouse("from", &required("from", b.from)?).map_err(invalid)?;
    let to = items::parse_warehouse("to", &required("to", b.to)?).map_err(invalid)?;
    let qty = positive_qty("qty", b.qty)?;
    let reference = text("reference", b.reference.as_deref())?;
    let posted = f
        .transfer(by(&caller, &idem), &sku, &from, &to, qty, reference)
        .await?;
    Ok(created(&f, &posted, false))
}

#[derive(Deserialize)]
pub(super) struct LevelsQuery {
    sku: Option<String>,
    warehouse: Option<String>,
}

fn filter_code(
    field: &'static str,
    raw: Option<&str>,
    parse: fn(&'static str, &str) -> Result<String, Invalid>,
) -> ApiResult<String> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) => parse(field, v).map_err(invalid),
        None => Ok(String::new()),
    }
}

async fn levels(
    State(f): State<AppState>,
    _: Reader,
    Query(q): Query<LevelsQuery>,
) -> ApiResult<Json<Value>> {
    let sku = filter_code("sku", q.sku.as_deref(), items::parse_sku)?;
    let warehouse = filter_code("warehouse", q.warehouse.as_deref(), items::parse_warehouse)?;
    let stock: Vec<Value> = store::list_levels(f.db.pool(), &sku, &warehouse)
        .await?
        .iter()
        .map(|l| views::level(&l.sku, &l.warehouse, &l.level, &f.currency))
        .collect();
    Ok(Json(json!({"success": true, "stock": stock})))
}

#[derive(Deserialize)]
pub(super) struct MovesQuery {
    sku: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// A bound of a time range: an RFC 3339 time, or a date (`YYYY-MM-DD`),
/// which as `to` includes that whole day.
fn time_bound(field: &'static str, raw: Option<&str>, end: bool) -> ApiResult<String> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(String::new());
    };
    if let Some(t) = clock::parse(raw) {
        return Ok(clock::format(t));
    }
    let bad = || {
        invalid(Invalid::new(
            field,
            format!("{field} must be an RFC 3339 time or a date YYYY-MM-DD"),
        ))
    };
    let date = Date::parse(raw, format_description!("[year]-[month]-[day]")).map_err(|_| bad())?;
    let date = if end {
        date.checked_add(Duration::days(1)).ok_or_else(bad)?
    } else {
        date
    };
    Ok(clock::format(date.midnight().assume_utc()))
}

async fn moves(
    State(f): State<AppState>,
    _: Reader,
    Query(q): Query<MovesQuery>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = Page {
        page: q.page,
        limit: q.limit,
    }
    .resolve()?;
    let filter = MoveFilter {
        sku: filter_code("sku", q.sku.as_deref(), items::parse_sku)?,
        from: time_bound("from", q.from.as_deref(), false)?,
        to: time_bound("to", q.to.as_deref(), true)?,
    };
    let (list, total) = store::list_moves(f.db.pool(), &filter, limit, offset).await?;
    let moves: Vec<Value> = list
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    Ok(Json(json!({
        "success": true,
        "moves": moves,
        "total": total,
        "page": page,
        "limit": limit,
    })))
}
