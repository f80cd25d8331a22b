//! Work orders and their state machine.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use marimo_platform::{
    ApiError, ApiResult,
    auth::policy::{Authorized, ProductionManagers},
    http::{Json, OptionalJson, Page, Query},
    invalid::required,
    money::Decimal,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, IdPath, positive_qty, views, warehouse_or_default};
use crate::{
    Completion,
    domain::{items, qty, work_order::Status},
    store::{stock as stock_store, work_orders as store},
};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/factory/work-orders", get(list).post(create))
        .route("/api/factory/work-orders/{id}", get(show))
        .route("/api/factory/work-orders/{id}/release", post(release))
        .route("/api/factory/work-orders/{id}/start", post(start))
        .route("/api/factory/work-orders/{id}/complete", post(complete))
        .route("/api/factory/work-orders/{id}/cancel", post(cancel))
}

fn one(f: &AppState, wo: &crate::WorkOrderRecord) -> Json<Value> {
    Json(json!({"success": true, "work_order": views::work_order(wo, &f.currency)}))
}

#[derive(Deserialize)]
pub(super) struct CreateBody {
    product_sku: Option<String>,
    qty: Option<Decimal>,
    warehouse: Option<String>,
}

async fn create(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    Json(b): Json<CreateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let sku = items::parse_sku("product_sku", &required("product_sku", b.product_sku)?)?;
    let qty = positive_qty("qty", b.qty)?;
    let warehouse = warehouse_or_default("warehouse", b.warehouse.as_deref())?;
    let wo = f
        .create_work_order(&caller.user_id, &sku, qty, &warehouse, false)
        .await?;
    Ok((StatusCode::CREATED, one(&f, &wo)))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
}

async fn list(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    Query(q): Query<ListQuery>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    let (page, limit, offset) = page.resolve()?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<Status>().map_err(|msg| {
            let allowed: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::validation(msg).with_details(json!({"field": "status", "allowed": allowed}))
        })?),
        None => None,
    };
    let (list, total) = store::list(f.db.pool(), status, limit, offset).await?;
    let orders = list
        .iter()
        .map(|w| views::work_order(w, &f.currency))
        .collect();
    Ok(Json(views::page("work_orders", orders, total, page, limit)))
}

/// The order with what it reserved and every move it made.
async fn show(
    State(f): State<AppState>,
    _: Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let wo = f.work_order(&id).await?;
    let pool = f.db.pool();
    let reservations: Vec<Value> = store::reservations(pool, &id)
        .await?
        .iter()
        .map(views::reservation)
        .collect();
    let moves: Vec<Value> = stock_store::moves_of_work_order(pool, &id)
        .await?
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    let mut body = views::work_order(&wo, &f.currency);
    body["reservations"] = json!(reservations);
    body["moves"] = json!(moves);
    Ok(Json(json!({"success": true, "work_order": body})))
}

async fn release(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let wo = f.release(&caller.user_id, &id).await?;
    Ok(one(&f, &wo))
}

async fn start(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let wo = f.start(&caller.user_id, &id).await?;
    Ok(one(&f, &wo))
}

async fn cancel(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
) -> ApiResult<Json<Value>> {
    let wo = f.cancel(&caller.user_id, &id).await?;
    Ok(one(&f, &wo))
}

#[derive(Deserialize, Default)]
pub(super) struct CompleteBody {
    produced_qty: Option<Decimal>,
    scrap_qty: Option<Decimal>,
}

async fn complete(
    State(f): State<AppState>,
    Authorized(caller, _): Authorized<ProductionManagers>,
    IdPath(id): IdPath,
    OptionalJson(b): OptionalJson<CompleteBody>,
) -> ApiResult<Json<Value>> {
    let completion = Completion {
        produced_qty: b
            .produced_qty
            .map(|d| qty::positive("produced_qty", &d))
            .transpose()?,
        scrap_qty: b
            .scrap_qty
            .map(|d| qty::non_negative("scrap_qty", &d))
            .transpose()?,
    };
    let (wo, moves) = f.complete(&caller.user_id, &id, completion).await?;
    let moves: Vec<Value> = moves
        .iter()
        .map(|m| views::stock_move(m, &f.currency))
        .collect();
    Ok(Json(json!({
        "success": true,
        "work_order": views::work_order(&wo, &f.currency),
        "moves": moves,
    })))
}
