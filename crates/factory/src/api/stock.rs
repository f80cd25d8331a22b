//! Receipts, issues, adjustments, transfers; balances and the ledger.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
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
    money::{Currency, Decimal},
    openapi::{ErrorBody, IdempotencyKeyHeader, PageFields},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    AppState, positive_qty,
    views::{self, LevelList, MovePage, MovePosted, MovesPosted},
    warehouse_or_default,
};
use crate::{
    app::{
        posting::{Idem, Posted, Requester},
        stock::{InCost, StockOp},
    },
    domain::{
        items::{self, Reason},
        money, qty,
    },
    store::stock::{self as store, MoveFilter, MoveRecord},
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(levels))
        .routes(routes!(moves))
        .routes(routes!(receipt))
        .routes(routes!(issue))
        .routes(routes!(adjustment))
        .routes(routes!(transfer))
        .routes(routes!(scrap))
        .routes(routes!(customer_return))
        .routes(routes!(opening))
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
    // Keys are scoped to the tenant and the caller, as the platform's
    // idempotency layer scopes them (`TenantId::scope`).
    let scope = caller.tenant.scope(&caller.user_id);
    Keyed::from_request(headers, &scope, "POST", path, body)
}

/// The 201 body of a stock POST: the move ([`MovePosted`]), or for a
/// transfer the moves ([`MovesPosted`]). A `Value` because a use case
/// stores it under the `Idempotency-Key` for replays.
fn created_body(currency: &Currency, moves: &[MoveRecord], one: bool) -> Value {
    let mut list: Vec<_> = moves
        .iter()
        .map(|m| views::stock_move(m, currency))
        .collect();
    // A view of strings and numbers always serialises.
    if one && !list.is_empty() {
        serde_json::to_value(MovePosted {
            success: true,
            stock_move: list.swap_remove(0),
        })
        .unwrap_or(Value::Null)
    } else {
        serde_json::to_value(MovesPosted {
            success: true,
            moves: list,
        })
        .unwrap_or(Value::Null)
    }
}

/// The 201 body of a stock POST, as a use case stores it under the key.
type Respond<'a> = dyn Fn(&[MoveRecord]) -> Value + Send + Sync + 'a;

fn by<'a>(caller: &'a Caller, key: Option<&'a Keyed>, respond: &'a Respond<'a>) -> Requester<'a> {
    Requester {
        tenant: &caller.tenant,
        actor: &caller.user_id,
        idem: key.map(|keyed| Idem { keyed, respond }),
    }
}

/// Posts `op` for `caller` under its `Idempotency-Key` and answers: the
/// one way every stock POST but adjustments reaches the use case.
/// `op` is built in the tenant's currency (a receipt's unit cost is read
/// at its precision).
async fn post(
    f: &AppState,
    caller: &Caller,
    key: Option<Keyed>,
    one: bool,
    op: impl FnOnce(&Currency) -> Result<StockOp, Invalid>,
) -> ApiResult<Response> {
    let currency = f.currency(&caller.tenant).await?;
    let op = op(&currency)?;
    let respond = |moves: &[MoveRecord]| created_body(&currency, moves, one);
    let posted = f
        .post(by(caller, key.as_ref(), &respond), &op, None)
        .await?;
    Ok(answer(&currency, posted, one))
}

/// 201 with the moves written now, or the stored first answer of a
/// replayed `Idempotency-Key` (marked `Idempotent-Replayed: true`).
fn answer(currency: &Currency, posted: Posted, one: bool) -> Response {
    match posted {
        Posted::Moves(moves) => (
            StatusCode::CREATED,
            Json(created_body(currency, &moves, one)),
        )
            .into_response(),
        Posted::Replay { status, body } => idempotency::replay(status, body),
    }
}

/// A receipt or an opening balance (`reason`), validated.
fn stock_in(currency: &Currency, reason: Reason, b: ReceiptBody) -> Result<StockOp, Invalid> {
    Ok(StockOp::In {
        reason,
        sku: sku_of(b.sku)?,
        warehouse: warehouse_or_default("warehouse", b.warehouse.as_deref())?,
        qty: positive_qty("qty", b.qty)?,
        cost: InCost::Given(money::cost(
            currency,
            "unit_cost",
            &required("unit_cost", b.unit_cost)?,
        )?),
        reference: items::parse_text("reference", b.reference.as_deref())?,
        note: None,
    })
}

/// Stock received (bought, or on hand when the books start), at its unit
/// cost.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "warehouse": "MAIN", "qty": "100", "unit_cost": "2.50", "reference": "PO-17"}))]
pub(super) struct ReceiptBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    warehouse: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "100")]
    qty: Option<Decimal>,
    /// Per unit, base currency, not negative, up to 4 places more than
    /// the currency has (6 for USD: `0.0035` is fine), decimal string or
    /// number. Required.
    #[schema(example = "2.50")]
    unit_cost: Option<Decimal>,
    /// Up to 500 characters, e.g. the purchase order.
    reference: Option<String>,
}

/// Receives stock into a warehouse: a move in, valued at its unit cost
/// (the moving average cost is updated).
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/receipts",
    params(IdempotencyKeyHeader),
    request_body = ReceiptBody,
    responses(
        (status = 201, description = "Received.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "The balance changed meanwhile (`CONCURRENT_UPDATE`): try again.", body = ErrorBody),
        (status = 422, description = "The item is inactive (`ITEM_INACTIVE`), the value is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn receipt(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<ReceiptBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/receipts", &b)?;
    post(&f, &caller, key, true, |c| stock_in(c, Reason::Receipt, b)).await
}

/// Stock taken out (used, sold or lost), at the moving average cost.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "warehouse": "MAIN", "qty": "5", "reference": "maintenance"}))]
pub(super) struct IssueBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    warehouse: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "5")]
    qty: Option<Decimal>,
    /// Up to 500 characters.
    reference: Option<String>,
}

/// Issues stock out of a warehouse: a move out at the moving average
/// cost; never more than is available (on hand minus reserved).
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/issues",
    params(IdempotencyKeyHeader),
    request_body = IssueBody,
    responses(
        (status = 201, description = "Issued.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "Not enough stock available (`INSUFFICIENT_STOCK`).", body = ErrorBody),
        (status = 422, description = "The item is inactive (`ITEM_INACTIVE`), a figure is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn issue(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<IssueBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/issues", &b)?;
    let op = StockOp::Out {
        reason: Reason::Issue,
        sku: sku_of(b.sku)?,
        warehouse: warehouse_or_default("warehouse", b.warehouse.as_deref())?,
        qty: positive_qty("qty", b.qty)?,
        from_reserved: false,
        reference: items::parse_text("reference", b.reference.as_deref())?,
        note: None,
    };
    post(&f, &caller, key, true, |_| Ok(op)).await
}

/// A count correction, with why.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "warehouse": "MAIN", "qty": "-2", "reason_note": "damaged in storage"}))]
pub(super) struct AdjustmentBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    warehouse: Option<String>,
    /// Signed, not zero, up to three places: positive adds, negative
    /// removes (decimal string or number). Required.
    #[schema(example = "-2")]
    qty: Option<Decimal>,
    /// Why, 1 to 500 characters. Required. `note` is accepted as another
    /// name of this field.
    #[serde(alias = "note")]
    reason_note: Option<String>,
}

/// Adjusts the stock of a warehouse by a signed quantity, with a note;
/// never below zero.
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/adjustments",
    params(IdempotencyKeyHeader),
    request_body = AdjustmentBody,
    responses(
        (status = 201, description = "Adjusted.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "Not enough stock available to remove (`INSUFFICIENT_STOCK`).", body = ErrorBody),
        (status = 422, description = "The item is inactive (`ITEM_INACTIVE`), a figure is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn adjustment(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<AdjustmentBody>,
) -> ApiResult<Response> {
    let currency = f.currency(&caller.tenant).await?;
    let key = keyed(&headers, &caller, "/api/factory/stock/adjustments", &b)?;
    let sku = sku_of(b.sku)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    // Signed; zero and a missing note are refused by `Factory::adjust`.
    let qty = qty::parse("qty", &required("qty", b.qty)?)?;
    let note = items::parse_text("reason_note", b.reason_note.as_deref())?;
    let respond = |moves: &[MoveRecord]| created_body(&currency, moves, true);
    let by = by(&caller, key.as_ref(), &respond);
    let posted = f.adjust(by, &sku, &warehouse, qty, note).await?;
    Ok(answer(&currency, posted, true))
}

/// Stock moved between two warehouses.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "from": "MAIN", "to": "EAST", "qty": "10"}))]
pub(super) struct TransferBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// The warehouse it leaves. Required.
    from: Option<String>,
    /// The warehouse it enters (not `from`). Required.
    to: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "10")]
    qty: Option<Decimal>,
    /// Up to 500 characters.
    reference: Option<String>,
}

/// Transfers stock between warehouses: a move out and a move in, at the
/// moving average cost of the source.
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/transfers",
    params(IdempotencyKeyHeader),
    request_body = TransferBody,
    responses(
        (status = 201, description = "Transferred: the move out, then the move in.", body = MovesPosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "Not enough stock available (`INSUFFICIENT_STOCK`).", body = ErrorBody),
        (status = 422, description = "The item is inactive (`ITEM_INACTIVE`), a figure is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn transfer(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<TransferBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/transfers", &b)?;
    let op = StockOp::Transfer {
        sku: sku_of(b.sku)?,
        from: items::parse_warehouse("from", &required("from", b.from)?)?,
        to: items::parse_warehouse("to", &required("to", b.to)?)?,
        qty: positive_qty("qty", b.qty)?,
        reference: items::parse_text("reference", b.reference.as_deref())?,
    };
    post(&f, &caller, key, false, |_| Ok(op)).await
}

/// Stock destroyed or spoilt, with why.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "STEEL", "warehouse": "MAIN", "qty": "2", "reason_note": "rusted"}))]
pub(super) struct ScrapBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    warehouse: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "2")]
    qty: Option<Decimal>,
    /// Why, 1 to 500 characters. Required. `note` is accepted as another
    /// name of this field.
    #[serde(alias = "note")]
    reason_note: Option<String>,
}

/// Scraps stock: a move out at the moving average cost (booked to the
/// inventory adjustment expense); never more than is available.
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/scrap",
    params(IdempotencyKeyHeader),
    request_body = ScrapBody,
    responses(
        (status = 201, description = "Scrapped.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 409, description = "Not enough stock available (`INSUFFICIENT_STOCK`).", body = ErrorBody),
        (status = 422, description = "A figure is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn scrap(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<ScrapBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/scrap", &b)?;
    let op = StockOp::Out {
        reason: Reason::Scrap,
        sku: sku_of(b.sku)?,
        warehouse: warehouse_or_default("warehouse", b.warehouse.as_deref())?,
        qty: positive_qty("qty", b.qty)?,
        from_reserved: false,
        reference: None,
        note: Some(required(
            "reason_note",
            items::parse_text("reason_note", b.reason_note.as_deref())?,
        )?),
    };
    post(&f, &caller, key, true, |_| Ok(op)).await
}

/// Goods a customer sent back.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "TABLE", "warehouse": "MAIN", "qty": "1", "shipment": "order-1042", "reference": "RMA-7"}))]
pub(super) struct ReturnBody {
    /// The item's SKU. Required.
    sku: Option<String>,
    /// A warehouse code; default the default warehouse (`MAIN`).
    warehouse: Option<String>,
    /// Positive, up to three places (decimal string or number). Required.
    #[schema(example = "1")]
    qty: Option<Decimal>,
    /// The reference of the shipment the goods left with (up to 500
    /// characters): they come back at the cost they were shipped at.
    /// Without it (or when no shipment of the item has it), at the
    /// warehouse's moving average.
    shipment: Option<String>,
    /// Up to 500 characters, e.g. the return authorisation.
    reference: Option<String>,
}

/// Takes back goods a customer returned: a move in at the cost they were
/// shipped at (or the moving average).
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/returns",
    params(IdempotencyKeyHeader),
    request_body = ReturnBody,
    responses(
        (status = 201, description = "Returned to stock.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 422, description = "A figure is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn customer_return(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<ReturnBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/returns", &b)?;
    let cost = match items::parse_text("shipment", b.shipment.as_deref())? {
        Some(shipment) => InCost::Shipped(shipment),
        None => InCost::Average,
    };
    let op = StockOp::In {
        reason: Reason::CustomerReturn,
        sku: sku_of(b.sku)?,
        warehouse: warehouse_or_default("warehouse", b.warehouse.as_deref())?,
        qty: positive_qty("qty", b.qty)?,
        cost,
        reference: items::parse_text("reference", b.reference.as_deref())?,
        note: None,
    };
    post(&f, &caller, key, true, |_| Ok(op)).await
}

/// Books stock on hand when the books start (booked against opening
/// balance equity), at its unit cost.
#[utoipa::path(
    post,
    path = "/api/v1/factory/stock/openings",
    params(IdempotencyKeyHeader),
    request_body = ReceiptBody,
    responses(
        (status = 201, description = "Booked.", body = MovePosted),
        (status = 404, description = "No such item or warehouse.", body = ErrorBody),
        (status = 422, description = "The item is inactive (`ITEM_INACTIVE`), the value is too large (`TOO_LARGE`), or the Idempotency-Key was used with another request.", body = ErrorBody),
    ),
)]
async fn opening(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    headers: HeaderMap,
    Json(b): Json<ReceiptBody>,
) -> ApiResult<Response> {
    let key = keyed(&headers, &caller, "/api/factory/stock/openings", &b)?;
    post(&f, &caller, key, true, |c| stock_in(c, Reason::Opening, b)).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LevelsQuery {
    /// Only this item (empty: every item).
    #[param(example = "STEEL")]
    sku: Option<String>,
    /// Only this warehouse (empty: every warehouse).
    #[param(example = "MAIN")]
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

/// Stock levels per item and warehouse: on hand, reserved, available and
/// value.
#[utoipa::path(
    get,
    path = "/api/v1/factory/stock",
    params(LevelsQuery),
    responses((status = 200, description = "The levels.", body = LevelList)),
)]
async fn levels(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
    Query(q): Query<LevelsQuery>,
) -> ApiResult<Json<LevelList>> {
    let sku = filter_code("sku", q.sku.as_deref(), items::parse_sku)?;
    let warehouse = filter_code("warehouse", q.warehouse.as_deref(), items::parse_warehouse)?;
    let currency = f.currency(&caller.tenant).await?;
    let mut tx = f.db.tenant(&caller.tenant).read().await?;
    let stock = store::list_levels(&mut *tx, &caller.tenant, &sku, &warehouse)
        .await?
        .iter()
        .map(|l| views::level(&l.sku, &l.warehouse, &l.level, &currency))
        .collect();
    Ok(Json(LevelList {
        success: true,
        stock,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct MovesQuery {
    /// Only this item's moves.
    #[param(example = "STEEL")]
    sku: Option<String>,
    /// Made at or after: RFC 3339, or a date (`YYYY-MM-DD`, from its
    /// start).
    #[param(example = "2026-12-01")]
    from: Option<String>,
    /// Made at or before: RFC 3339, or a date (that whole day).
    #[param(example = "2026-12-31")]
    to: Option<String>,
}

/// The stock ledger, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/factory/stock/moves",
    params(MovesQuery, Page),
    responses((status = 200, description = "A page of moves.", body = MovePage)),
)]
async fn moves(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<Staff>,
    Query(q): Query<MovesQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<MovePage>> {
    let (page, limit, offset) = page.resolve()?;
    let filter = MoveFilter {
        sku: filter_code("sku", q.sku.as_deref(), items::parse_sku)?,
        // Both bounds inclusive; a date as `to` is that whole day.
        made: TimeRange::parse(q.from.as_deref(), q.to.as_deref())?,
    };
    let currency = f.currency(&caller.tenant).await?;
    let mut tx = f.db.tenant(&caller.tenant).snapshot().await?;
    let (list, total) = store::list_moves(&mut tx, &caller.tenant, &filter, limit, offset).await?;
    Ok(Json(MovePage {
        success: true,
        moves: list
            .iter()
            .map(|m| views::stock_move(m, &currency))
            .collect(),
        page: PageFields { total, page, limit },
    }))
}
