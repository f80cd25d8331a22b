//! Receipts, issues, adjustments, transfers; balances and the ledger.

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use marimo_platform::{
    ApiResult, Invalid, TimeRange,
    auth::{
        Caller,
        policy::{Authorized, ProductionManagers, Staff},
    },
    http::{Json, Page, Query},
    idempotency::{self, Keyed},
    invalid::required,
    money::Decimal,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{AppState, positive_qty, views, warehouse_or_default};
use crate::{
    app::posting::{Idem, Posted, Requester},
    domain::{items, money, qty},
    store::stock::{self as store, MoveFilter, MoveRecord},
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

fn sku_of(body: Option<String>) -> Result<String, Invalid> {
    items::parse_sku("sku", &required("sku", body)?)
}

/// The `Idempotency-Key` of a stock POST, scoped to the caller, with the
/// fingerprint of its request: the path and the parsed body (fields in a
/// fixed order).
fn keyed(
    headers: &HeaderMap,
    caller: &Caller,
    path: &str,
    body: &impl Serialize,
) -> ApiResult<Option<Keyed>> {
    Keyed::from_request(headers, &caller.user_id, "POST", path, body)
}

/// The 201 body of a stock POST: the move, or for a transfer the moves.
fn created_body(f: &AppState, moves: &[MoveRecord], one: bool) -> Value {
    let list: Vec<Value> = moves
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    match (one, list.first()) {
        (true, Some(m)) => json!({"success": true, "move": m}),
        _ => json!({"success": true, "moves": list}),
    }
}

/// The 201 body of a stock POST, as a use case stores it under the key.
type Respond<'a> = dyn Fn(&[MoveRecord]) -> Value + Send + Sync + 'a;

fn by<'a>(caller: &'a Caller, key: Option<&'a Keyed>, respond: &'a Respond<'a>) -> Requester<'a> {
    Requester {
        actor: &caller.user_id,
        idem: key.map(|keyed| Idem { keyed, respond }),
    }
}

/// 201 with the moves written now, or the stored first answer of a
/// replayed `Idempotency-Key` (marked `Idempotent-Replayed: true`).
fn answer(f: &AppState, posted: Posted, one: bool) -> Response {
    match posted {
        Posted::Moves(moves) => {
            (StatusCode::CREATED, Json(created_body(f, &moves, one))).into_response()
        }
        Posted::Replay { status, body } => idempotency::replay(status, body),
    }
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
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<ReceiptBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/receipts", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let qty = positive_qty("qty", b.qty)?;
    let unit_cost = money::cost(
        &f.currency,
        "unit_cost",
        &required("unit_cost", b.unit_cost)?,
    )?;
    let reference = items::parse_text("reference", b.reference.as_deref())?;
    let respond = |moves: &[MoveRecord]| created_body(&f, moves, true);
    let posted = f
        .receive(
            by(&caller, key.as_ref(), &respond),
            &sku,
            &warehouse,
            qty,
            unit_cost,
            reference,
        )
        .await?;
    Ok(answer(&f, posted, true))
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
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<IssueBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/issues", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let qty = positive_qty("qty", b.qty)?;
    let reference = items::parse_text("reference", b.reference.as_deref())?;
    let respond = |moves: &[MoveRecord]| created_body(&f, moves, true);
    let by = by(&caller, key.as_ref(), &respond);
    let posted = f.issue(by, &sku, &warehouse, qty, reference).await?;
    Ok(answer(&f, posted, true))
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
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<AdjustmentBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/adjustments", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    // Signed; zero and a missing note are refused by `Factory::adjust`.
    let qty = qty::parse("qty", &required("qty", b.qty)?)?;
    let note = items::parse_text("reason_note", b.reason_note.as_deref())?;
    let respond = |moves: &[MoveRecord]| created_body(&f, moves, true);
    let by = by(&caller, key.as_ref(), &respond);
    let posted = f.adjust(by, &sku, &warehouse, qty, note).await?;
    Ok(answer(&f, posted, true))
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
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<TransferBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/transfers", &b)?;
    let sku = sku_of(b.sku)?;
    let from = items::parse_warehouse("from", &required("from", b.from)?)?;
    let to = items::parse_warehouse("to", &required("to", b.to)?)?;
    let qty = positive_qty("qty", b.qty)?;
    let reference = items::parse_text("reference", b.reference.as_deref())?;
    let respond = |moves: &[MoveRecord]| created_body(&f, moves, false);
    let by = by(&caller, key.as_ref(), &respond);
    let posted = f.transfer(by, &sku, &from, &to, qty, reference).await?;
    Ok(answer(&f, posted, false))
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
) -> Result<String, Invalid> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        Some(v) => parse(field, v),
        None => Ok(String::new()),
    }
}

async fn levels(
    State(f): State<AppState>,
    _: Authorized<Staff>,
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
}

async fn moves(
    State(f): State<AppState>,
    _: Authorized<Staff>,
    Query(q): Query<MovesQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    let filter = MoveFilter {
        sku: filter_code("sku", q.sku.as_deref(), items::parse_sku)?,
        // Both bounds inclusive; a date as `to` is that whole day.
        made: TimeRange::parse(q.from.as_deref(), q.to.as_deref())?,
    };
    let (list, total) = store::list_moves(f.db.pool(), &filter, limit, offset).await?;
    let moves = list
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    Ok(Json(views::page("moves", moves, total, page, limit)))
}
